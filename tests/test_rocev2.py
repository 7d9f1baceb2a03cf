"""RoCEv2 transport header decoding (decoders.rocev2), against hand-written bytes.

Expected values come from the protocol notes (section 9: BTH layout, opcode table, extension
header sizes, AETH syndrome, credit and RNR tables), written out here independently of the
tables in the module under test.
"""

from __future__ import annotations

from typing import Any

import pytest

from decoders import frames as F
from decoders.packet_types import Aeth, Bth, Reth
from decoders.rocev2 import (
    CNP_OPCODE,
    CREDIT_TABLE,
    EXTENSION_HEADERS,
    OPCODES,
    ROCEV2_UDP_PORT,
    decode_aeth,
    operation_label,
    operation_name,
    parse_aeth,
    parse_bth,
    parse_reth,
    parse_rocev2,
    transport_name,
)


def h(text: str) -> bytes:
    """Hex with spaces/newlines allowed."""
    return bytes.fromhex("".join(text.split()))


# Distinctive filler headers: a wrong offset reads a different, recognisable value.
RDETH = "00 ab cd ef"  # EE-context 0xabcdef
DETH = "11 11 11 11  00 22 22 22"  # Q_Key 0x11111111, source QP 0x222222
XRCETH = "00 33 33 33"  # XRC SRQ 0x333333
RETH = "00 00 7f 00 00 00 10 00  00 00 12 34  00 01 00 00"  # VA, R_Key 0x1234, len 65536
RETH_VALUE = Reth(virtual_address=0x7F0000001000, r_key=0x1234, dma_length=0x10000)
IMMDT = "de ad be ef"
IMM = 0xDEADBEEF
AETH_ACK = "0e 00 00 2a"  # ACK, credit code 14 -> 128 credits, MSN 42
AETH_ACK_VALUE = Aeth(
    syndrome=0x0E, kind="ACK", value=14, credits=128, rnr_timer_ms=None, nak_code=None, msn=42
)
ATOMIC_ACK = "01 02 03 04 05 06 07 08"
ATOMIC_ETH = (
    "00 00 00 00 aa aa 00 00  00 00 55 55  00 00 00 00 00 00 00 01  00 00 00 00 00 00 00 02"
)
IETH = "00 00 77 77"
FETH = "00 00 00 11"


def bth_hex(opcode: int, rest: str = "00 ff ff 00 00 01 23 00 00 00 07") -> str:
    """BTH with the given opcode; default: no flags, P_Key 0xffff, QP 0x123, PSN 7."""
    return f"{opcode:02x} {rest}"


# --------------------------------------------------------------------------------------------
# BTH fields


def test_bth_fields_all_set() -> None:
    # opcode 0x0a; byte1 = SE|M|PadCnt 3|TVer 5 = 0x80|0x40|0x30|0x05 = 0xf5; P_Key 0x8001;
    # FECN|BECN + QP 0xabcdef; AckReq + PSN 0xfedcba.
    buf = h("0a f5 80 01  c0 ab cd ef  80 fe dc ba" + RETH)
    info = parse_bth(buf, 0)
    assert info is not None
    assert info.bth == Bth(
        opcode=0x0A,
        transport="RC",
        operation="RDMA_WRITE_ONLY",
        solicited_event=True,
        mig_req=True,
        pad_count=3,
        tver=5,
        pkey=0x8001,
        fecn=True,
        becn=True,
        dest_qp=0xABCDEF,
        ack_req=True,
        psn=0xFEDCBA,
    )
    assert info.reth == RETH_VALUE
    assert info.aeth is None and info.immediate is None
    assert info.complete is True and info.is_cnp is False


def test_bth_fields_all_clear_reserved_bits_ignored() -> None:
    # Reserved bits (byte 4 bits 5-0, byte 8 bits 6-0) set: must not leak into QP/PSN/flags.
    buf = h("00 00 00 00  3f 00 00 00  7f 00 00 00")
    info = parse_bth(buf, 0)
    assert info is not None
    b = info.bth
    assert (b.opcode, b.transport, b.operation) == (0, "RC", "SEND_FIRST")
    assert not (b.solicited_event or b.mig_req or b.fecn or b.becn or b.ack_req)
    assert (b.pad_count, b.tver, b.pkey, b.dest_qp, b.psn) == (0, 0, 0, 0, 0)
    assert info.complete is True


def test_parse_bth_at_offset_and_short_input() -> None:
    buf = b"\x99" * 5 + h(bth_hex(0x04))
    info = parse_bth(buf, 5)
    assert info is not None and info.bth.operation == "SEND_ONLY" and info.bth.psn == 7
    assert parse_bth(buf, 6) is None  # 11 bytes left
    assert parse_bth(b"", 0) is None
    assert parse_rocev2(h(bth_hex(0x04))[:11], 0) == (None, "bth")


def test_capture_style_bth() -> None:
    # The shape of the hsflowd capture samples: RC RDMA WRITE ONLY, P_Key 0xffff, QP 0x123,
    # AckReq, PSN 1000, RETH all zero.
    buf = h("0a 40 ff ff 00 00 01 23 80 00 03 e8" + "00" * 16)
    info = parse_bth(buf, 0)
    assert info is not None
    assert (info.bth.opcode, info.bth.pkey, info.bth.dest_qp) == (0x0A, 0xFFFF, 0x123)
    assert info.bth.ack_req and info.bth.mig_req and info.bth.psn == 1000
    assert info.reth == Reth(0, 0, 0)
    assert operation_label(info.bth) == "RC:RDMA_WRITE_ONLY"


# --------------------------------------------------------------------------------------------
# Opcode classes and where RETH / AETH / ImmDt land


CASES = [
    # (opcode, bytes after BTH, transport, operation, reth?, aeth?, immediate)
    (0x00, "", "RC", "SEND_FIRST", False, False, None),
    (0x01, "", "RC", "SEND_MIDDLE", False, False, None),
    (0x02, "", "RC", "SEND_LAST", False, False, None),
    (0x03, IMMDT, "RC", "SEND_LAST_WITH_IMMEDIATE", False, False, IMM),
    (0x04, "", "RC", "SEND_ONLY", False, False, None),
    (0x05, IMMDT, "RC", "SEND_ONLY_WITH_IMMEDIATE", False, False, IMM),
    (0x06, RETH, "RC", "RDMA_WRITE_FIRST", True, False, None),
    (0x07, "", "RC", "RDMA_WRITE_MIDDLE", False, False, None),
    (0x08, "", "RC", "RDMA_WRITE_LAST", False, False, None),
    (0x09, IMMDT, "RC", "RDMA_WRITE_LAST_WITH_IMMEDIATE", False, False, IMM),
    (0x0A, RETH, "RC", "RDMA_WRITE_ONLY", True, False, None),
    (0x0B, RETH + IMMDT, "RC", "RDMA_WRITE_ONLY_WITH_IMMEDIATE", True, False, IMM),
    (0x0C, RETH, "RC", "RDMA_READ_REQUEST", True, False, None),
    (0x0D, AETH_ACK, "RC", "RDMA_READ_RESPONSE_FIRST", False, True, None),
    (0x0E, "", "RC", "RDMA_READ_RESPONSE_MIDDLE", False, False, None),
    (0x0F, AETH_ACK, "RC", "RDMA_READ_RESPONSE_LAST", False, True, None),
    (0x10, AETH_ACK, "RC", "RDMA_READ_RESPONSE_ONLY", False, True, None),
    (0x11, AETH_ACK, "RC", "ACKNOWLEDGE", False, True, None),
    (0x12, AETH_ACK + ATOMIC_ACK, "RC", "ATOMIC_ACKNOWLEDGE", False, True, None),
    (0x13, ATOMIC_ETH, "RC", "COMPARE_SWAP", False, False, None),
    (0x14, ATOMIC_ETH, "RC", "FETCH_ADD", False, False, None),
    (0x16, IETH, "RC", "SEND_LAST_WITH_INVALIDATE", False, False, None),
    (0x17, IETH, "RC", "SEND_ONLY_WITH_INVALIDATE", False, False, None),
    (0x1C, FETH + RETH, "RC", "FLUSH", True, False, None),
    (0x1D, RETH, "RC", "ATOMIC_WRITE", True, False, None),
    # UC: sends and RDMA writes only
    (0x20, "", "UC", "SEND_FIRST", False, False, None),
    (0x23, IMMDT, "UC", "SEND_LAST_WITH_IMMEDIATE", False, False, IMM),
    (0x26, RETH, "UC", "RDMA_WRITE_FIRST", True, False, None),
    (0x2A, RETH, "UC", "RDMA_WRITE_ONLY", True, False, None),
    (0x2B, RETH + IMMDT, "UC", "RDMA_WRITE_ONLY_WITH_IMMEDIATE", True, False, IMM),
    # RD requests: RDETH + DETH first; RD responses: RDETH only
    (0x40, RDETH + DETH, "RD", "SEND_FIRST", False, False, None),
    (0x43, RDETH + DETH + IMMDT, "RD", "SEND_LAST_WITH_IMMEDIATE", False, False, IMM),
    (0x46, RDETH + DETH + RETH, "RD", "RDMA_WRITE_FIRST", True, False, None),
    (
        0x4B,
        RDETH + DETH + RETH + IMMDT,
        "RD",
        "RDMA_WRITE_ONLY_WITH_IMMEDIATE",
        True,
        False,
        IMM,
    ),
    (0x4C, RDETH + DETH + RETH, "RD", "RDMA_READ_REQUEST", True, False, None),
    (0x4D, RDETH + AETH_ACK, "RD", "RDMA_READ_RESPONSE_FIRST", False, True, None),
    (0x4E, RDETH, "RD", "RDMA_READ_RESPONSE_MIDDLE", False, False, None),
    (0x4F, RDETH + AETH_ACK, "RD", "RDMA_READ_RESPONSE_LAST", False, True, None),
    (0x50, RDETH + AETH_ACK, "RD", "RDMA_READ_RESPONSE_ONLY", False, True, None),
    (0x51, RDETH + AETH_ACK, "RD", "ACKNOWLEDGE", False, True, None),
    (0x52, RDETH + AETH_ACK + ATOMIC_ACK, "RD", "ATOMIC_ACKNOWLEDGE", False, True, None),
    (0x53, RDETH + DETH + ATOMIC_ETH, "RD", "COMPARE_SWAP", False, False, None),
    (0x55, RDETH + DETH, "RD", "RESYNC", False, False, None),
    (0x5C, RDETH + DETH + FETH + RETH, "RD", "FLUSH", True, False, None),
    # UD: DETH
    (0x64, DETH, "UD", "SEND_ONLY", False, False, None),
    (0x65, DETH + IMMDT, "UD", "SEND_ONLY_WITH_IMMEDIATE", False, False, IMM),
    # XRC requests: XRCETH first; XRC responses: none
    (0xA0, XRCETH, "XRC", "SEND_FIRST", False, False, None),
    (0xA5, XRCETH + IMMDT, "XRC", "SEND_ONLY_WITH_IMMEDIATE", False, False, IMM),
    (0xAA, XRCETH + RETH, "XRC", "RDMA_WRITE_ONLY", True, False, None),
    (
        0xAB,
        XRCETH + RETH + IMMDT,
        "XRC",
        "RDMA_WRITE_ONLY_WITH_IMMEDIATE",
        True,
        False,
        IMM,
    ),
    (0xAC, XRCETH + RETH, "XRC", "RDMA_READ_REQUEST", True, False, None),
    (0xAD, AETH_ACK, "XRC", "RDMA_READ_RESPONSE_FIRST", False, True, None),
    (0xB1, AETH_ACK, "XRC", "ACKNOWLEDGE", False, True, None),
    (0xB2, AETH_ACK + ATOMIC_ACK, "XRC", "ATOMIC_ACKNOWLEDGE", False, True, None),
    (0xB4, XRCETH + ATOMIC_ETH, "XRC", "FETCH_ADD", False, False, None),
    (0xB7, XRCETH + IETH, "XRC", "SEND_ONLY_WITH_INVALIDATE", False, False, None),
]


@pytest.mark.parametrize(
    ("opcode", "ext", "transport", "operation", "has_reth", "has_aeth", "immediate"),
    CASES,
    ids=[f"0x{c[0]:02x}" for c in CASES],
)
def test_opcode_layouts(
    opcode: int,
    ext: str,
    transport: str,
    operation: str,
    has_reth: bool,
    has_aeth: bool,
    immediate: int | None,
) -> None:
    buf = h(bth_hex(opcode) + ext)
    info, stopped = parse_rocev2(buf, 0)
    assert info is not None
    assert (info.bth.transport, info.bth.operation) == (transport, operation)
    assert info.reth == (RETH_VALUE if has_reth else None)
    assert info.aeth == (AETH_ACK_VALUE if has_aeth else None)
    assert info.immediate == immediate
    assert info.complete is True and stopped is None
    assert info.is_cnp is False
    # Every header the opcode carries is needed: one byte less is incomplete.
    if ext:
        short, short_stopped = parse_rocev2(buf[:-1], 0)
        assert short is not None and short.complete is False and short_stopped is not None
    # Trailing payload bytes change nothing.
    assert parse_rocev2(buf + b"\x5a" * 40, 0) == (info, None)


def test_cnp() -> None:
    # CNP: opcode 0x81, BECN set, QP to throttle 0x000456, 16 reserved bytes.
    buf = h("81 00 ff ff 40 00 04 56 00 00 00 00" + "00" * 16)
    info, stopped = parse_rocev2(buf, 0)
    assert info is not None and stopped is None
    assert info.is_cnp is True and info.complete is True
    assert (info.bth.transport, info.bth.operation) == ("CNP", "CNP")
    assert info.bth.becn is True and info.bth.dest_qp == 0x456
    assert operation_label(info.bth) == "CNP:CNP"
    cut, cut_stopped = parse_rocev2(buf[:12], 0)
    assert cut is not None and cut.is_cnp and cut.complete is False
    assert cut_stopped == "cnp_reserved"


@pytest.mark.parametrize(
    ("opcode", "transport", "operation"),
    [
        (0x15, "RC", "UNKNOWN_0x15"),  # reserved in RC
        (0x18, "RC", "UNKNOWN_0x18"),
        (0x2C, "UC", "UNKNOWN_0x2C"),  # UC has no RDMA READ
        (0x60, "UD", "UNKNOWN_0x60"),  # UD has SEND ONLY (+imm) only
        (0x5D, "RD", "UNKNOWN_0x5D"),
        (0x80, "CNP", "UNKNOWN_0x80"),
        (0xB5, "XRC", "UNKNOWN_0xB5"),
        (0xC0, "RESERVED", "UNKNOWN_0xC0"),
        (0xDF, "RESERVED", "UNKNOWN_0xDF"),
        (0xE0, "MANUFACTURER", "UNKNOWN_0xE0"),
        (0xFF, "MANUFACTURER", "UNKNOWN_0xFF"),
    ],
)
def test_unassigned_opcodes(opcode: int, transport: str, operation: str) -> None:
    info, stopped = parse_rocev2(h(bth_hex(opcode)), 0)
    assert info is not None and stopped is None and info.complete is True
    assert (info.bth.transport, info.bth.operation) == (transport, operation)
    assert transport_name(opcode) == transport and operation_name(opcode) == operation
    assert info.reth is None and info.aeth is None and info.is_cnp is False
    assert operation_label(info.bth) == f"{transport}:{operation}"


def test_operation_label() -> None:
    info = parse_bth(h(bth_hex(0x06) + RETH), 0)
    assert info is not None and operation_label(info.bth) == "RC:RDMA_WRITE_FIRST"
    info = parse_bth(h(bth_hex(0xA4) + XRCETH), 0)
    assert info is not None and operation_label(info.bth) == "XRC:SEND_ONLY"
    info = parse_bth(h(bth_hex(0x64) + DETH), 0)
    assert info is not None and operation_label(info.bth) == "UD:SEND_ONLY"


def test_public_tables() -> None:
    assert ROCEV2_UDP_PORT == 4791 and CNP_OPCODE == 0x81
    # 25 RC + 12 UC + 23 RD (incl. RESYNC, FLUSH) + 2 UD + 23 XRC + CNP
    assert len(OPCODES) == 86
    assert set(OPCODES) == set(EXTENSION_HEADERS)
    assert OPCODES[0x0A] == ("RC", "RDMA_WRITE_ONLY")
    assert OPCODES[0x81] == ("CNP", "CNP")
    assert EXTENSION_HEADERS[0x0B] == ("RETH", "ImmDt")
    assert EXTENSION_HEADERS[0x12] == ("AETH", "AtomicAckETH")
    assert EXTENSION_HEADERS[0x50] == ("RDETH", "AETH")
    assert EXTENSION_HEADERS[0x4B] == ("RDETH", "DETH", "RETH", "ImmDt")
    assert EXTENSION_HEADERS[0x65] == ("DETH", "ImmDt")
    assert EXTENSION_HEADERS[0xAB] == ("XRCETH", "RETH", "ImmDt")
    assert EXTENSION_HEADERS[0xB1] == ("AETH",)
    assert EXTENSION_HEADERS[0x1C] == ("FETH", "RETH")
    assert EXTENSION_HEADERS[0x13] == ("AtomicETH",)


# --------------------------------------------------------------------------------------------
# Truncation: required lengths (BTH 12 + extension headers) and the layer named


FULL_LENGTHS = {
    0x00: 12, 0x03: 16, 0x06: 28, 0x0B: 32, 0x0D: 16, 0x0E: 12, 0x12: 24, 0x13: 40,
    0x16: 16, 0x1C: 32, 0x1D: 28, 0x2B: 32, 0x40: 24, 0x4B: 44, 0x4D: 20, 0x4E: 16,
    0x52: 28, 0x53: 52, 0x55: 24, 0x5C: 44, 0x64: 20, 0x65: 24, 0xA0: 16, 0xAB: 36,
    0xAD: 16, 0xB2: 24, 0xB3: 44, 0x81: 28, 0x15: 12, 0xE0: 12,
}  # fmt: skip


@pytest.mark.parametrize("opcode", sorted(FULL_LENGTHS), ids=lambda o: f"0x{o:02x}")
def test_truncation_every_length(opcode: int) -> None:
    full = FULL_LENGTHS[opcode]
    buf = h(bth_hex(opcode)) + bytes(range(1, full - 11))
    for cut in range(full + 1):
        info, stopped = parse_rocev2(buf[:cut], 0)
        if cut < 12:
            assert info is None and stopped == "bth"
        else:
            assert info is not None
            assert info.complete is (cut == full)
            assert (stopped is None) is (cut == full)


@pytest.mark.parametrize(
    ("opcode", "cut", "stopped"),
    [
        (0x0B, 20, "reth"),
        (0x0B, 28, "immdt"),
        (0x0B, 31, "immdt"),
        (0x4B, 14, "rdeth"),
        (0x4B, 16, "deth"),
        (0x4B, 39, "reth"),
        (0x4B, 43, "immdt"),
        (0x50, 17, "aeth"),
        (0x12, 20, "atomicacketh"),
        (0x13, 39, "atomiceth"),
        (0x17, 15, "ieth"),
        (0x1C, 14, "feth"),
        (0x1C, 30, "reth"),
        (0xAA, 15, "xrceth"),
        (0xAA, 20, "reth"),
    ],
)
def test_truncation_names_layer(opcode: int, cut: int, stopped: str) -> None:
    buf = h(bth_hex(opcode)) + bytes(60)
    info, got = parse_rocev2(buf[:cut], 0)
    assert info is not None and info.complete is False and got == stopped


def test_truncated_reth_and_aeth_are_none_but_earlier_headers_kept() -> None:
    # RDMA WRITE ONLY with IMMEDIATE cut inside ImmDt: RETH decoded, immediate missing.
    info = parse_bth(h(bth_hex(0x0B) + RETH + "de ad"), 0)
    assert info is not None and info.reth == RETH_VALUE and info.immediate is None
    assert info.complete is False
    # RD ACK cut inside the AETH.
    info = parse_bth(h(bth_hex(0x51) + RDETH + "0e 00"), 0)
    assert info is not None and info.aeth is None and info.complete is False


# --------------------------------------------------------------------------------------------
# AETH


# ACK credit code -> credits, typed from the protocol notes' credit table.
CREDITS = {
    0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 6, 6: 8, 7: 12,
    8: 16, 9: 24, 10: 32, 11: 48, 12: 64, 13: 96, 14: 128, 15: 192,
    16: 256, 17: 384, 18: 512, 19: 768, 20: 1024, 21: 1536, 22: 2048, 23: 3072,
    24: 4096, 25: 6144, 26: 8192, 27: 12288, 28: 16384, 29: 24576, 30: 32768, 31: None,
}  # fmt: skip

# RNR NAK timer code -> ms.
RNR_MS = {
    0: 655.36, 1: 0.01, 2: 0.02, 3: 0.03, 4: 0.04, 5: 0.06, 6: 0.08, 7: 0.12,
    8: 0.16, 9: 0.24, 10: 0.32, 11: 0.48, 12: 0.64, 13: 0.96, 14: 1.28, 15: 1.92,
    16: 2.56, 17: 3.84, 18: 5.12, 19: 7.68, 20: 10.24, 21: 15.36, 22: 20.48, 23: 30.72,
    24: 40.96, 25: 61.44, 26: 81.92, 27: 122.88, 28: 163.84, 29: 245.76, 30: 327.68, 31: 491.52,
}  # fmt: skip


@pytest.mark.parametrize("code", range(32))
def test_aeth_ack_credits(code: int) -> None:
    aeth = decode_aeth((code << 24) | 0x000102)
    assert aeth == Aeth(
        syndrome=code,
        kind="ACK",
        value=code,
        credits=CREDITS[code],
        rnr_timer_ms=None,
        nak_code=None,
        msn=0x102,
    )


def test_credit_table_shape() -> None:
    assert len(CREDIT_TABLE) == 32 and CREDIT_TABLE[31] is None
    assert CREDIT_TABLE[11] == 48 and CREDIT_TABLE[30] == 32768


@pytest.mark.parametrize("code", range(32))
def test_aeth_rnr_nak_timer(code: int) -> None:
    aeth = decode_aeth(((0x20 | code) << 24) | 0xFFFFFF)
    assert aeth.kind == "RNR_NAK" and aeth.value == code and aeth.syndrome == 0x20 | code
    assert aeth.rnr_timer_ms == RNR_MS[code]
    assert aeth.credits is None and aeth.nak_code is None and aeth.msn == 0xFFFFFF


@pytest.mark.parametrize(
    ("syndrome", "name"),
    [
        (0x60, "PSN_SEQUENCE_ERROR"),
        (0x61, "INVALID_REQUEST"),
        (0x62, "REMOTE_ACCESS_ERROR"),
        (0x63, "REMOTE_OPERATIONAL_ERROR"),
        (0x64, "INVALID_RD_REQUEST"),
        (0x65, "RESERVED_5"),
        (0x7F, "RESERVED_31"),
    ],
)
def test_aeth_nak_codes(syndrome: int, name: str) -> None:
    aeth = decode_aeth(syndrome << 24 | 7)
    assert aeth.kind == "NAK" and aeth.nak_code == name and aeth.value == syndrome & 0x1F
    assert aeth.credits is None and aeth.rnr_timer_ms is None and aeth.msn == 7


@pytest.mark.parametrize("syndrome", [0x40, 0x45, 0x5F, 0x80, 0x9F, 0xA1, 0xE0, 0xFF])
def test_aeth_reserved_syndromes(syndrome: int) -> None:
    aeth = decode_aeth(syndrome << 24)
    assert aeth.kind == "RESERVED" and aeth.value == syndrome & 0x1F
    assert aeth.credits is None and aeth.rnr_timer_ms is None and aeth.nak_code is None


def test_aeth_in_packets() -> None:
    # RC ACKNOWLEDGE carrying an RNR NAK, timer code 14 (1.28 ms), MSN 0x010203.
    info = parse_bth(h(bth_hex(0x11) + "2e 01 02 03"), 0)
    assert info is not None and info.aeth is not None
    assert (info.aeth.kind, info.aeth.rnr_timer_ms, info.aeth.msn) == ("RNR_NAK", 1.28, 0x010203)
    # RC ACKNOWLEDGE with NAK PSN sequence error.
    info = parse_bth(h(bth_hex(0x11) + "60 00 00 09"), 0)
    assert info is not None and info.aeth is not None
    assert info.aeth.nak_code == "PSN_SEQUENCE_ERROR" and info.aeth.msn == 9
    # RC ATOMIC ACKNOWLEDGE: AETH directly after the BTH, before AtomicAckETH.
    info = parse_bth(h(bth_hex(0x12) + "1f 00 00 05" + ATOMIC_ACK), 0)
    assert info is not None and info.aeth is not None
    assert info.aeth.kind == "ACK" and info.aeth.credits is None and info.aeth.msn == 5


def test_parse_aeth_and_reth_helpers() -> None:
    assert parse_aeth(h("00 0e 00 00 2a"), 1) == AETH_ACK_VALUE
    assert parse_aeth(h("0e 00 00"), 0) is None
    assert parse_reth(h("ff" + RETH), 1) == RETH_VALUE
    assert parse_reth(h(RETH)[:15], 0) is None


# --------------------------------------------------------------------------------------------
# IB header builders (decoders.frames) against hand-written bytes


def test_bth_builder() -> None:
    got = F.bth(
        0x0A,
        dest_qp=0xABCDEF,
        psn=0xFEDCBA,
        pkey=0x8001,
        solicited_event=True,
        mig_req=True,
        pad_count=3,
        tver=5,
        fecn=True,
        becn=True,
        ack_req=True,
    )
    assert got == h("0a f5 80 01  c0 ab cd ef  80 fe dc ba")
    assert F.bth(0x81, dest_qp=0x118, psn=0, becn=True) == h("81 00 ff ff 40 00 01 18 00 00 00 00")


def test_ext_header_builders() -> None:
    assert F.reth(0x7F0000001000, 0x1234, 0x10000) == h(RETH)
    assert F.immdt(0xDEADBEEF) == h(IMMDT)
    assert F.rdeth(0xABCDEF) == h(RDETH)
    assert F.deth(0x11111111, 0x222222) == h(DETH)
    assert F.xrceth(0x333333) == h(XRCETH)
    assert F.ieth(0x7777) == h(IETH)
    assert F.atomic_eth(0xAAAA0000, 0x5555, 1, 2) == h(ATOMIC_ETH)
    assert F.atomic_ack_eth(0x0102030405060708) == h(ATOMIC_ACK)
    assert F.feth(placement_type=1, selectivity_level=1) == h(FETH)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, "1f 00 00 00"),  # ACK, no credits given: code 31
        ({"credits": 128, "msn": 42}, AETH_ACK),
        ({"credits": 100}, "0d 00 00 00"),  # rounded down to 96 (code 13)
        ({"credits": 0}, "00 00 00 00"),
        ({"credits": 10**6}, "1e 00 00 00"),  # capped at 32768 (code 30)
        ({"kind": "ACK", "value": 5}, "05 00 00 00"),
        ({"kind": "RNR_NAK", "value": 14, "msn": 1}, "2e 00 00 01"),
        ({"kind": "NAK", "value": "REMOTE_ACCESS_ERROR", "msn": 3}, "62 00 00 03"),
        ({"kind": "NAK", "value": 4}, "64 00 00 00"),
    ],
)
def test_aeth_builder(kwargs: dict[str, Any], expected: str) -> None:
    assert F.aeth(**kwargs) == h(expected)


# A CNP captured on a ConnectX-4 Lx NIC (published as a test vector in Scapy's RoCE tests):
# DSCP 48 ECN 2, UDP 0 -> 4791, BECN, dest QP 0x118, ICRC 82 fd 00 2a.
CNP_CAPTURE = h(
    "e4 1d 2d ab 2b c2  7c fe 90 64 3b 32  08 00"
    "45 c2 00 3c 71 8c 40 00 40 11 91 61 0a 00 11 01 0a 00 12 01"
    "00 00 12 b7 00 28 00 00"
    "81 00 ff ff 40 00 01 18 00 00 00 00" + "00" * 16 + "82 fd 00 2a"
)


def test_builders_reproduce_hardware_cnp_including_icrc() -> None:
    ib = F.bth(0x81, dest_qp=0x118, psn=0, becn=True) + bytes(16)
    ip = F.ipv4(
        "10.0.17.1",
        "10.0.18.1",
        F.IPPROTO_UDP,
        F.udp(0, ROCEV2_UDP_PORT, ib + bytes(4)),
        dscp=48,
        ecn=2,
        ttl=64,
        ident=0x718C,
    )
    ip = ip[:-4] + F.icrc(ip[:-4], 4)
    frame = F.ethernet("e4:1d:2d:ab:2b:c2", "7c:fe:90:64:3b:32", F.ETHERTYPE_IPV4, ip)
    assert frame == CNP_CAPTURE  # incl. IPv4 header checksum 0x9161 and the ICRC


def test_rocev2_frame_layout() -> None:
    frame = F.rocev2_frame(
        0x0A,
        dest_qp=0x123,
        psn=1000,
        ext=F.reth(0x1000, 0x42, 5),
        payload=b"hello",
        vlans=(100,),
        ack_req=True,
    )
    # 14 Ethernet + 4 tag + 20 IPv4 + 8 UDP + 12 BTH + 16 RETH + 5 payload + 3 pad + 4 ICRC
    assert len(frame) == 86
    assert frame[12:18] == h("81 00 60 64 08 00")  # PCP 3, VID 100
    assert frame[19] == 0x6A  # TOS: DSCP 26, ECN ECT(0)
    assert frame[40:42] == h("12 b7")
    assert frame[46:58] == h("0a 30 ff ff 00 00 01 23 80 00 03 e8")  # PadCnt 3
    assert frame[74:82] == b"hello\x00\x00\x00"
    assert frame[82:] == F.icrc(frame[18:82], 4)
    assert F.rocev2_frame(0x11, dest_qp=1, psn=2, with_icrc=False, ip_version=6)[12:14] == h(
        "86 dd"
    )

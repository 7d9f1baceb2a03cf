"""RoCEv2 transport headers: BTH plus the extension headers each opcode carries.

RoCEv2 puts the InfiniBand Base Transport Header (BTH, 12 bytes) directly after a UDP header
whose destination port is 4791; the extension headers that follow depend on the opcode. Nothing
here raises on short input: a sampled header that ends early yields ``complete=False``.

References (facts only; wording and code are ours):

* BTH layout and masks: Linux ``drivers/infiniband/sw/rxe/rxe_hdr.h``; ``IB_BTH_BYTES = 12`` in
  ``include/rdma/ib_pack.h``.
* Opcode values and names: Linux ``include/rdma/ib_pack.h`` (``IB_OPCODE_*``; CNP base 0x80,
  manufacturer-specific base 0xE0). XRC (base 0xA0) and RD RESYNC (0x55) are not in ib_pack.h;
  they come from the InfiniBand Architecture spec (XRC: Annex A14; RESYNC: vol 1 ch. 9) as also
  listed by Wireshark's InfiniBand dissector.
* Extension headers per opcode: IBA vol 1 §9.2-9.3 / Table 38, as implemented by Linux
  ``drivers/infiniband/sw/rxe/rxe_opcode.c`` (RC/UC/UD, FLUSH = FETH + RETH, ATOMIC_WRITE =
  RETH), the rxe XRC patch series (XRCETH on XRC requests only) and Wireshark's header-order
  table (RD requests: RDETH + DETH; RD responses: RDETH only).
* AETH syndrome: ``enum aeth_syndrome`` in rxe_hdr.h; credit table: ``credit_table`` in
  ``drivers/infiniband/sw/rdmavt/rc.c``; RNR timer table: ``ib_rvt_rnr_table`` in
  ``drivers/infiniband/sw/rdmavt/qp.c``.
* CNP: IBTA RoCEv2 Annex A17 — opcode 0x81, 16 reserved bytes after the BTH.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from types import MappingProxyType

from decoders.packet_types import Aeth, Bth, Reth, RoceInfo

__all__ = [
    "AETH_KINDS",
    "CNP_OPCODE",
    "CREDIT_TABLE",
    "EXTENSION_HEADERS",
    "EXTENSION_HEADER_SIZES",
    "IBTA_OPERATION_TEXT",
    "NAK_CODES",
    "OPCODES",
    "OPERATION_NAMES",
    "RNR_TIMER_MS",
    "ROCEV2_UDP_PORT",
    "TRANSPORT_BASES",
    "decode_aeth",
    "ibta_operation_label",
    "operation_label",
    "operation_name",
    "parse_aeth",
    "parse_bth",
    "parse_reth",
    "parse_rocev2",
    "transport_name",
]

ROCEV2_UDP_PORT = 4791
"""IANA-assigned UDP destination port of RoCEv2."""

CNP_OPCODE = 0x81
"""RoCEv2 Congestion Notification Packet (CNP transport base 0x80 + 1)."""

BTH_BYTES = 12

# ---------------------------------------------------------------------------------------------
# Transports (top 3 bits of the opcode)

TRANSPORT_BASES: Mapping[str, int] = MappingProxyType(
    {
        "RC": 0x00,  # reliable connection
        "UC": 0x20,  # unreliable connection
        "RD": 0x40,  # reliable datagram
        "UD": 0x60,  # unreliable datagram
        "CNP": 0x80,  # congestion notification (IBTA 1.3 vol 1 Table 38, A10.3.2)
        "XRC": 0xA0,  # extended reliable connection (IBA Annex A14)
        "MANUFACTURER": 0xE0,  # manufacturer specific, 0xE0-0xFF
    }
)

# Index = opcode >> 5. 0xC0-0xDF has no assignment.
_TRANSPORT_BY_TOP3 = ("RC", "UC", "RD", "UD", "CNP", "XRC", "RESERVED", "MANUFACTURER")


def transport_name(opcode: int) -> str:
    """Transport class of a BTH opcode: RC UC RD UD CNP XRC MANUFACTURER or RESERVED."""
    return _TRANSPORT_BY_TOP3[(opcode >> 5) & 7]


# ---------------------------------------------------------------------------------------------
# Operations (low 5 bits) — names follow Linux ib_pack.h IB_OPCODE_<op>

OPERATION_NAMES: Mapping[int, str] = MappingProxyType(
    {
        0x00: "SEND_FIRST",
        0x01: "SEND_MIDDLE",
        0x02: "SEND_LAST",
        0x03: "SEND_LAST_WITH_IMMEDIATE",
        0x04: "SEND_ONLY",
        0x05: "SEND_ONLY_WITH_IMMEDIATE",
        0x06: "RDMA_WRITE_FIRST",
        0x07: "RDMA_WRITE_MIDDLE",
        0x08: "RDMA_WRITE_LAST",
        0x09: "RDMA_WRITE_LAST_WITH_IMMEDIATE",
        0x0A: "RDMA_WRITE_ONLY",
        0x0B: "RDMA_WRITE_ONLY_WITH_IMMEDIATE",
        0x0C: "RDMA_READ_REQUEST",
        0x0D: "RDMA_READ_RESPONSE_FIRST",
        0x0E: "RDMA_READ_RESPONSE_MIDDLE",
        0x0F: "RDMA_READ_RESPONSE_LAST",
        0x10: "RDMA_READ_RESPONSE_ONLY",
        0x11: "ACKNOWLEDGE",
        0x12: "ATOMIC_ACKNOWLEDGE",
        0x13: "COMPARE_SWAP",
        0x14: "FETCH_ADD",
        0x15: "RESYNC",  # RD only (IBA); ib_pack.h marks 0x15 reserved
        0x16: "SEND_LAST_WITH_INVALIDATE",
        0x17: "SEND_ONLY_WITH_INVALIDATE",
        0x1C: "FLUSH",
        0x1D: "ATOMIC_WRITE",
    }
)

# The same operations as the IBTA specification's opcode table writes them (vol. 1, "OpCode
# field"): sFlow-RT's own spelling is not published, so the compatible face offers this one as
# an alternative to the Linux names (docs/compat.md, --operation-names ibta).
IBTA_OPERATION_TEXT: Mapping[str, str] = MappingProxyType(
    {
        "SEND_FIRST": "SEND First",
        "SEND_MIDDLE": "SEND Middle",
        "SEND_LAST": "SEND Last",
        "SEND_LAST_WITH_IMMEDIATE": "SEND Last with Immediate",
        "SEND_ONLY": "SEND Only",
        "SEND_ONLY_WITH_IMMEDIATE": "SEND Only with Immediate",
        "RDMA_WRITE_FIRST": "RDMA WRITE First",
        "RDMA_WRITE_MIDDLE": "RDMA WRITE Middle",
        "RDMA_WRITE_LAST": "RDMA WRITE Last",
        "RDMA_WRITE_LAST_WITH_IMMEDIATE": "RDMA WRITE Last with Immediate",
        "RDMA_WRITE_ONLY": "RDMA WRITE Only",
        "RDMA_WRITE_ONLY_WITH_IMMEDIATE": "RDMA WRITE Only with Immediate",
        "RDMA_READ_REQUEST": "RDMA READ Request",
        "RDMA_READ_RESPONSE_FIRST": "RDMA READ response First",
        "RDMA_READ_RESPONSE_MIDDLE": "RDMA READ response Middle",
        "RDMA_READ_RESPONSE_LAST": "RDMA READ response Last",
        "RDMA_READ_RESPONSE_ONLY": "RDMA READ response Only",
        "ACKNOWLEDGE": "Acknowledge",
        "ATOMIC_ACKNOWLEDGE": "ATOMIC Acknowledge",
        "COMPARE_SWAP": "CmpSwap",
        "FETCH_ADD": "FetchAdd",
        "RESYNC": "RESYNC",
        "SEND_LAST_WITH_INVALIDATE": "SEND Last with Invalidate",
        "SEND_ONLY_WITH_INVALIDATE": "SEND Only with Invalidate",
        "FLUSH": "FLUSH",
        "ATOMIC_WRITE": "ATOMIC WRITE",
        "CNP": "CNP",
    }
)


def ibta_operation_label(label: str) -> str:
    """``RC:RDMA_WRITE_MIDDLE`` → ``RC:RDMA WRITE Middle``; unknown operations unchanged."""
    transport, sep, operation = label.partition(":")
    text = IBTA_OPERATION_TEXT.get(operation)
    return f"{transport}{sep}{text}" if sep and text is not None else label


# Which operations each transport defines.
_RC_OPS = (*range(0x00, 0x15), 0x16, 0x17, 0x1C, 0x1D)  # ib_pack.h RC list
_UC_OPS = tuple(range(0x00, 0x0C))  # sends and RDMA writes only
_RD_OPS = (*range(0x00, 0x16), 0x1C)  # ib_pack.h RD list + RESYNC (IBA)
_UD_OPS = (0x04, 0x05)  # SEND_ONLY, SEND_ONLY_WITH_IMMEDIATE
_XRC_OPS = (*range(0x00, 0x15), 0x16, 0x17)  # IBA Annex A14 (as RC, without FLUSH/ATOMIC_WRITE)

_RESPONSE_OPS = frozenset(range(0x0D, 0x13))  # read responses, ACKNOWLEDGE, ATOMIC_ACKNOWLEDGE

# Extension headers after the BTH for an RC/UC packet of each operation (rxe_opcode.c).
_BASE_HEADERS: Mapping[int, tuple[str, ...]] = MappingProxyType(
    {
        0x00: (),
        0x01: (),
        0x02: (),
        0x03: ("ImmDt",),
        0x04: (),
        0x05: ("ImmDt",),
        0x06: ("RETH",),
        0x07: (),
        0x08: (),
        0x09: ("ImmDt",),
        0x0A: ("RETH",),
        0x0B: ("RETH", "ImmDt"),
        0x0C: ("RETH",),
        0x0D: ("AETH",),
        0x0E: (),
        0x0F: ("AETH",),
        0x10: ("AETH",),
        0x11: ("AETH",),
        0x12: ("AETH", "AtomicAckETH"),
        0x13: ("AtomicETH",),
        0x14: ("AtomicETH",),
        0x15: (),  # RD RESYNC: RDETH + DETH only
        0x16: ("IETH",),
        0x17: ("IETH",),
        0x1C: ("FETH", "RETH"),
        0x1D: ("RETH",),
    }
)

EXTENSION_HEADER_SIZES: Mapping[str, int] = MappingProxyType(
    {
        "RDETH": 4,  # reserved 8 + EE-context 24 (RD)
        "DETH": 8,  # Q_Key 32, reserved 8 + source QP 24 (UD, RD requests)
        "XRCETH": 4,  # reserved 8 + XRC SRQ 24 (XRC requests)
        "RETH": 16,  # VA 64, R_Key 32, DMA length 32
        "AETH": 4,  # syndrome 8, MSN 24
        "ImmDt": 4,  # immediate data 32
        "IETH": 4,  # R_Key to invalidate 32
        "AtomicETH": 28,  # VA 64, R_Key 32, swap/add 64, compare 64
        "AtomicAckETH": 8,  # original remote data 64
        "FETH": 4,  # flush: reserved + placement type + selectivity level
        "CNP_RESERVED": 16,  # CNP body after the BTH (RoCEv2 Annex A17)
    }
)


def _build_opcode_tables() -> tuple[dict[int, tuple[str, str]], dict[int, tuple[str, ...]]]:
    names: dict[int, tuple[str, str]] = {}
    headers: dict[int, tuple[str, ...]] = {}
    for transport, ops in (("RC", _RC_OPS), ("UC", _UC_OPS)):
        base = TRANSPORT_BASES[transport]
        for op in ops:
            names[base | op] = (transport, OPERATION_NAMES[op])
            headers[base | op] = _BASE_HEADERS[op]
    for op in _RD_OPS:
        prefix: tuple[str, ...] = ("RDETH",) if op in _RESPONSE_OPS else ("RDETH", "DETH")
        names[0x40 | op] = ("RD", OPERATION_NAMES[op])
        headers[0x40 | op] = prefix + _BASE_HEADERS[op]
    for op in _UD_OPS:
        names[0x60 | op] = ("UD", OPERATION_NAMES[op])
        headers[0x60 | op] = ("DETH", *_BASE_HEADERS[op])
    for op in _XRC_OPS:
        xprefix: tuple[str, ...] = () if op in _RESPONSE_OPS else ("XRCETH",)
        names[0xA0 | op] = ("XRC", OPERATION_NAMES[op])
        headers[0xA0 | op] = xprefix + _BASE_HEADERS[op]
    names[CNP_OPCODE] = ("CNP", "CNP")
    headers[CNP_OPCODE] = ("CNP_RESERVED",)
    return dict(sorted(names.items())), dict(sorted(headers.items()))


_names, _headers = _build_opcode_tables()

OPCODES: Mapping[int, tuple[str, str]] = MappingProxyType(_names)
"""Every assigned opcode → (transport, operation), e.g. 0x0A → ("RC", "RDMA_WRITE_ONLY")."""

EXTENSION_HEADERS: Mapping[int, tuple[str, ...]] = MappingProxyType(_headers)
"""Every assigned opcode → extension headers following the BTH, in wire order."""


def operation_name(opcode: int) -> str:
    """Operation name of an opcode, e.g. ``RDMA_WRITE_FIRST``; ``UNKNOWN_0xNN`` if unassigned."""
    entry = OPCODES.get(opcode)
    return entry[1] if entry is not None else f"UNKNOWN_0x{opcode & 0xFF:02X}"


def operation_label(bth: Bth) -> str:
    """Bounded metric label ``TRANSPORT:OPERATION``, e.g. ``RC:RDMA_WRITE_FIRST``."""
    return f"{bth.transport}:{bth.operation}"


# ---------------------------------------------------------------------------------------------
# AETH

AETH_KINDS: Mapping[int, str] = MappingProxyType(
    {0x00: "ACK", 0x20: "RNR_NAK", 0x40: "RESERVED", 0x60: "NAK"}
)
"""Syndrome bits 6-5 (mask 0x60) → kind; bit 7 is reserved and must be 0 (else RESERVED)."""

# ACK credit code → receive WQEs available; code 31 = invalid ("unlimited"). rdmavt rc.c.
CREDIT_TABLE: tuple[int | None, ...] = (
    0, 1, 2, 3, 4, 6, 8, 12,
    16, 24, 32, 48, 64, 96, 128, 192,
    256, 384, 512, 768, 1024, 1536, 2048, 3072,
    4096, 6144, 8192, 12288, 16384, 24576, 32768, None,
)  # fmt: skip

# RNR NAK timer code → minimum wait in milliseconds. rdmavt qp.c (table in µs).
RNR_TIMER_MS: tuple[float, ...] = (
    655.36, 0.01, 0.02, 0.03, 0.04, 0.06, 0.08, 0.12,
    0.16, 0.24, 0.32, 0.48, 0.64, 0.96, 1.28, 1.92,
    2.56, 3.84, 5.12, 7.68, 10.24, 15.36, 20.48, 30.72,
    40.96, 61.44, 81.92, 122.88, 163.84, 245.76, 327.68, 491.52,
)  # fmt: skip

NAK_CODES: Mapping[int, str] = MappingProxyType(
    {
        0: "PSN_SEQUENCE_ERROR",
        1: "INVALID_REQUEST",
        2: "REMOTE_ACCESS_ERROR",
        3: "REMOTE_OPERATIONAL_ERROR",
        4: "INVALID_RD_REQUEST",
    }
)


def _syndrome_fields(syndrome: int) -> tuple[str, int, int | None, float | None, str | None]:
    kind = "RESERVED" if syndrome & 0x80 else AETH_KINDS[syndrome & 0x60]
    value = syndrome & 0x1F
    credits = CREDIT_TABLE[value] if kind == "ACK" else None
    rnr = RNR_TIMER_MS[value] if kind == "RNR_NAK" else None
    nak = NAK_CODES.get(value, f"RESERVED_{value}") if kind == "NAK" else None
    return kind, value, credits, rnr, nak


_SYNDROMES = tuple(_syndrome_fields(s) for s in range(256))


def decode_aeth(word: int) -> Aeth:
    """Decode the 32-bit AETH word (syndrome in the top byte, MSN in the low 24 bits)."""
    syndrome = (word >> 24) & 0xFF
    kind, value, credits, rnr, nak = _SYNDROMES[syndrome]
    return Aeth(syndrome, kind, value, credits, rnr, nak, word & 0xFFFFFF)


_U32 = struct.Struct(">I")
_RETH = struct.Struct(">QII")
_BTH = struct.Struct(">BBHII")


def parse_aeth(buf: bytes, off: int) -> Aeth | None:
    """AETH at ``off``, or None when fewer than 4 bytes remain."""
    if off < 0 or len(buf) - off < 4:
        return None
    return decode_aeth(_U32.unpack_from(buf, off)[0])


def parse_reth(buf: bytes, off: int) -> Reth | None:
    """RETH at ``off``, or None when fewer than 16 bytes remain."""
    if off < 0 or len(buf) - off < 16:
        return None
    return Reth(*_RETH.unpack_from(buf, off))


# ---------------------------------------------------------------------------------------------
# Per-opcode layout, precomputed for all 256 opcodes:
# (transport, operation, reth_off, aeth_off, immdt_off, ends) with offsets relative to the
# start of the BTH (-1 = absent) and ends = ((end_offset, layer name), ...) for each header.

_Layout = tuple[str, str, int, int, int, tuple[tuple[int, str], ...]]


def _layout(opcode: int) -> _Layout:
    offsets: dict[str, int] = {}
    ends: list[tuple[int, str]] = []
    pos = BTH_BYTES
    for name in EXTENSION_HEADERS.get(opcode, ()):
        offsets[name] = pos
        pos += EXTENSION_HEADER_SIZES[name]
        ends.append((pos, name.lower()))
    return (
        transport_name(opcode),
        operation_name(opcode),
        offsets.get("RETH", -1),
        offsets.get("AETH", -1),
        offsets.get("ImmDt", -1),
        tuple(ends),
    )


_LAYOUTS: tuple[_Layout, ...] = tuple(_layout(op) for op in range(256))


def parse_rocev2(buf: bytes, off: int) -> tuple[RoceInfo | None, str | None]:
    """Parse the BTH at ``off`` and the extension headers its opcode carries.

    Returns ``(info, stopped_at)``: ``info`` is None when the 12-byte BTH itself is cut
    (``stopped_at == "bth"``); otherwise ``stopped_at`` names the first extension header that
    did not fit (lower-case, e.g. ``"reth"``, ``"aeth"``, ``"immdt"``) or is None when every
    header the opcode carries is present. Unassigned opcodes are taken as BTH-only.
    """
    avail = len(buf) - off
    if off < 0 or avail < BTH_BYTES:
        return None, "bth"
    opcode, b1, pkey, w2, w3 = _BTH.unpack_from(buf, off)
    transport, operation, reth_off, aeth_off, imm_off, ends = _LAYOUTS[opcode]
    bth = Bth(
        opcode,
        transport,
        operation,
        bool(b1 & 0x80),
        bool(b1 & 0x40),
        (b1 >> 4) & 0x3,
        b1 & 0x0F,
        pkey,
        bool(w2 & 0x80000000),
        bool(w2 & 0x40000000),
        w2 & 0xFFFFFF,
        bool(w3 & 0x80000000),
        w3 & 0xFFFFFF,
    )
    stopped: str | None = None
    for end, name in ends:
        if end > avail:
            stopped = name
            break
    reth = None
    if reth_off >= 0 and reth_off + 16 <= avail:
        reth = Reth(*_RETH.unpack_from(buf, off + reth_off))
    aeth = None
    if aeth_off >= 0 and aeth_off + 4 <= avail:
        aeth = decode_aeth(_U32.unpack_from(buf, off + aeth_off)[0])
    immediate = None
    if imm_off >= 0 and imm_off + 4 <= avail:
        immediate = _U32.unpack_from(buf, off + imm_off)[0]
    info = RoceInfo(bth, reth, aeth, immediate, opcode == CNP_OPCODE, stopped is None)
    return info, stopped


def parse_bth(buf: bytes, off: int) -> RoceInfo | None:
    """RoCEv2 headers starting with the BTH at ``off``; None when the BTH is cut short."""
    return parse_rocev2(buf, off)[0]

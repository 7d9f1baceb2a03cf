"""The fast path (decoders/fastpath.py, plain and compiled) agrees with decode_datagram.

The oracle is the full decoder: for every input, both builds must raise the same DecodeError
(reason, offset, path) exactly when ``decode_datagram`` does, and otherwise produce the rows that
``expected_rows`` derives from the decoded records — an independent implementation of each column.
Inputs: the shared captures and vectors, every RoCEv2 opcode (whole and cut at every byte),
generated datagrams and byte-level mutations of them.
"""

from __future__ import annotations

import contextlib
import os
import random
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders import fast
from decoders import fastpath as pure
from decoders.errors import DecodeError
from decoders.parse import decode_datagram, decode_sample
from decoders.records import (
    RECORD_TYPES,
    Datagram,
    ExtendedEgressQueue,
    ExtendedQueue,
    ExtendedSwitch,
    ExtendedTransit,
    FlowSample,
    RawRecord,
    SampledHeader,
)
from decoders.rocev2 import EXTENSION_HEADER_SIZES, EXTENSION_HEADERS, OPCODES, parse_rocev2
from tests.row_oracle import check_counter_and_drop_rows, text_at
from tests.shared_data import shared_dir

# ---------------------------------------------------------------------------------------------
# The two builds


def _pure_only() -> bool:
    return os.environ.get(fast.PURE_ENV, "").strip() not in ("", "0")


def _compiled() -> ModuleType:
    if _pure_only():
        pytest.skip(f"{fast.PURE_ENV} is set: plain-Python fast path only")
    module, why_not = fast.compiled_module()
    if module is None:
        pytest.skip(f"compiled fast path not usable: {why_not} (pip install -e . builds it)")
    return module


@pytest.fixture(params=["pure", "compiled"])
def impl(request: pytest.FixtureRequest) -> ModuleType:
    return pure if request.param == "pure" else _compiled()


def _builds() -> list[ModuleType]:
    """Both builds when the compiled one is usable (for hypothesis tests: no fixtures)."""
    module, _ = fast.compiled_module()
    return [pure] if module is None or _pure_only() else [pure, module]


# ---------------------------------------------------------------------------------------------
# Oracle: what the rows must be, from the full decoder's records

_REC_BITS = {
    1: pure.REC_SAMPLED_HEADER,
    2: pure.REC_SAMPLED_ETHERNET,
    3: pure.REC_SAMPLED_IPV4,
    4: pure.REC_SAMPLED_IPV6,
    1001: pure.REC_EXTENDED_SWITCH,
    1036: pure.REC_EGRESS_QUEUE,
    1039: pure.REC_TRANSIT,
    1040: pure.REC_QUEUE,
}
_READ_BY_SCAN = {1, 1001, 1036, 1039, 1040}
# Offsets into the datagram: checked through what they point at, not compared as numbers.
_OFFSET_COLUMNS = {"sample_offset", "sample_length", "header_offset", "l3_offset", "bth_offset"}


def expected_row(sample: FlowSample, index: int) -> dict[str, int]:
    """The row for one decoded flow sample, offsets left out."""
    row = dict.fromkeys(pure.COLUMNS, -1)
    row.update(
        sample_format=3 if sample.expanded else 1,
        sample_index=index,
        sequence=sample.sequence,
        source_type=sample.source.type,
        source_index=sample.source.index,
        sampling_rate=sample.sampling_rate,
        sample_pool=sample.sample_pool,
        drops=sample.drops,
        input_format=sample.input.format,
        input_value=sample.input.value,
        output_format=sample.output.format,
        output_value=sample.output.value,
    )
    bits = 0
    for record in sample.records:
        if isinstance(record, RawRecord):
            fmt = record.format if record.enterprise == 0 else -1
            if record.error is not None and fmt in _READ_BY_SCAN:
                bits |= pure.REC_MALFORMED
        else:
            fmt = record.FORMAT
        bits |= _REC_BITS.get(fmt, pure.REC_OTHER)
    row["records"] = bits

    header = next((r for r in sample.records if isinstance(r, SampledHeader)), None)
    if header is not None:
        p = header.packet
        row.update(
            header_protocol=header.protocol,
            frame_length=header.frame_length,
            stripped=header.stripped,
            header_length=len(header.header),
        )
        for column, value in (
            ("ethertype", p.ethertype),
            ("vlan", p.vlans[0] if p.vlans else None),
            ("ip_version", p.ip_version),
            ("ip_protocol", p.ip_protocol),
            ("dscp", p.dscp),
            ("ecn", p.ecn),
            ("src_port", p.src_port),
            ("dst_port", p.dst_port),
            ("tcp_flags", p.tcp_flags),
        ):
            if value is not None:
                row[column] = value
        if p.roce is not None:
            bth = p.roce.bth
            flags = (bth.pad_count << pure.BTH_PAD_SHIFT) | (bth.tver << pure.BTH_TVER_SHIFT)
            for on, bit in (
                (bth.solicited_event, pure.BTH_SE),
                (bth.mig_req, pure.BTH_M),
                (bth.fecn, pure.BTH_FECN),
                (bth.becn, pure.BTH_BECN),
                (bth.ack_req, pure.BTH_ACKREQ),
                (p.roce.complete, pure.BTH_COMPLETE),
            ):
                if on:
                    flags |= bit
            row.update(
                bth_opcode=bth.opcode,
                bth_flags=flags,
                bth_pkey=bth.pkey,
                bth_dest_qp=bth.dest_qp,
                bth_psn=bth.psn,
            )
            if p.roce.reth is not None:
                row["reth_dma_length"] = p.roce.reth.dma_length
            if p.roce.aeth is not None:
                row["aeth_syndrome"] = p.roce.aeth.syndrome
                row["aeth_msn"] = p.roce.aeth.msn
    switch = next((r for r in sample.records if isinstance(r, ExtendedSwitch)), None)
    if switch is not None:
        row["src_vlan"] = switch.src_vlan
        row["dst_vlan"] = switch.dst_vlan
    for kind, column, field in (
        (ExtendedEgressQueue, "egress_queue", "queue"),
        (ExtendedTransit, "transit_delay", "delay_ns"),
        (ExtendedQueue, "queue_depth", "depth_bytes"),
    ):
        found = next((r for r in sample.records if isinstance(r, kind)), None)
        if found is not None:
            row[column] = getattr(found, field)
    return row


def _check_offsets(data: bytes, rows: Any, i: int, sample: FlowSample, index: int) -> None:
    """The offset columns point at the sample, the header bytes, the IP header and the BTH."""
    got = dict(zip(pure.COLUMNS, rows.row(i), strict=True))
    fmt = 3 if sample.expanded else 1
    assert decode_sample(data, got["sample_offset"], got["sample_length"], fmt, index) == sample
    header = next((r for r in sample.records if isinstance(r, SampledHeader)), None)
    if header is None:
        assert got["header_offset"] == got["l3_offset"] == got["bth_offset"] == -1
        return
    start = got["header_offset"]
    assert data[start : start + got["header_length"]] == header.header
    p = header.packet
    src_mac, dst_mac, src_ip, dst_ip = pure.addresses(data, rows, i)
    assert (src_mac, dst_mac) == ((p.src_mac, p.dst_mac) if header.protocol == 1 else (None, None))
    assert (src_ip, dst_ip) == (p.src_ip, p.dst_ip)
    assert (got["l3_offset"] >= 0) == (p.ip_version is not None)
    if p.roce is None:
        assert got["bth_offset"] == -1
    else:
        assert parse_rocev2(header.header, got["bth_offset"] - start)[0] == p.roce


def check(impl: ModuleType, data: bytes) -> None:
    """``impl`` agrees with decode_datagram on ``data`` (error, rows, header, other samples)."""
    rows = impl.FlowRows(capacity=1)
    rows.reserve(3)
    sentinel = impl.scan_datagram(_SENTINEL, rows)  # earlier rows must survive
    try:
        datagram: Datagram | None = decode_datagram(data)
        error = None
    except DecodeError as exc:
        datagram, error = None, exc
    try:
        added = impl.scan_datagram(data, rows)
        got_error = None
    except DecodeError as exc:
        added, got_error = 0, exc
    if error is not None:
        assert got_error is not None, f"fast path accepted what the decoder rejects: {error}"
        assert (got_error.reason, got_error.offset, got_error.path) == (
            error.reason,
            error.offset,
            error.path,
        )
        assert rows.count == sentinel, "a rejected datagram must not leave rows"
        return
    assert got_error is None, f"fast path rejected what the decoder accepts: {got_error}"
    assert datagram is not None
    assert rows.agent == datagram.agent
    assert rows.agent_address_type == datagram.agent_address_type
    assert (rows.sub_agent, rows.sequence, rows.uptime_ms, rows.num_samples) == (
        datagram.sub_agent,
        datagram.sequence,
        datagram.uptime_ms,
        len(datagram.samples),
    )
    flows = [(i, s) for i, s in enumerate(datagram.samples) if isinstance(s, FlowSample)]
    assert added == len(flows) and rows.count == sentinel + added
    as_dicts = rows.as_dicts()
    for k, (index, sample) in enumerate(flows):
        got = {c: v for c, v in as_dicts[sentinel + k].items() if c not in _OFFSET_COLUMNS}
        want = {c: v for c, v in expected_row(sample, index).items() if c not in _OFFSET_COLUMNS}
        assert got == want, f"sample[{index}]"
        _check_offsets(data, rows, sentinel + k, sample, index)
    check_counter_and_drop_rows(data, datagram, rows)


# ---------------------------------------------------------------------------------------------
# Datagram builders (plain struct: independent of the encoder under test elsewhere)


def _opaque(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data + bytes(-len(data) % 4)


def record(data_format: int, body: bytes) -> bytes:
    return struct.pack(">I", data_format) + _opaque(body)


def sampled_header_record(
    frame: bytes, protocol: int = 1, frame_length: int | None = None
) -> bytes:
    length = len(frame) + 4 if frame_length is None else frame_length
    return record(1, struct.pack(">III", protocol, length, 4) + _opaque(frame))


def flow_sample(records: list[bytes], *, expanded: bool = False, seq: int = 1) -> bytes:
    if expanded:
        head = struct.pack(">11I", seq, 0, 7, 1000, 123456, 0, 0, 7, 0, 9, len(records))
        return record(3, head + b"".join(records))
    head = struct.pack(">8I", seq, 7, 1000, 123456, 0, 7, 9, len(records))
    return record(1, head + b"".join(records))


def counter_sample(*, expanded: bool = False) -> bytes:
    port_name = record(1005, _opaque(b"Ethernet7"))
    if expanded:
        return record(4, struct.pack(">4I", 3, 0, 7, 1) + port_name)
    return record(2, struct.pack(">3I", 3, 7, 1) + port_name)


def drop_sample() -> bytes:
    return record(5, struct.pack(">8I", 1, 0, 7, 0, 7, 0, 259, 1) + record(1036, b"\0\0\0\4"))


def datagram(samples: list[bytes], *, agent: bytes = bytes((10, 0, 0, 1)), seq: int = 1) -> bytes:
    kind = {0: 0, 4: 1, 16: 2}[len(agent)]
    return (
        struct.pack(">II", 5, kind)
        + agent
        + struct.pack(">IIII", 0, seq, 1000, len(samples))
        + b"".join(samples)
    )


_SENTINEL = datagram([flow_sample([record(1039, b"\0\0\1\0")])])


def ethernet(ethertype: int, payload: bytes, vlans: tuple[int, ...] = ()) -> bytes:
    tags = b"".join(struct.pack(">HH", 0x8100, v) for v in vlans)
    return bytes.fromhex("020000000002020000000001") + tags + struct.pack(">H", ethertype) + payload


def ipv4(protocol: int, payload: bytes, tos: int = 0x68, frag: int = 0, ihl: int = 5) -> bytes:
    options = bytes(4 * max(ihl - 5, 0))
    return (
        struct.pack(
            ">BBHHHBBH4s4s",
            0x40 | ihl,
            tos,
            20 + len(options) + len(payload),
            1,
            frag,
            64,
            protocol,
            0,
            bytes((192, 0, 2, 1)),
            bytes((192, 0, 2, 2)),
        )
        + options
        + payload
    )


def ipv6(next_header: int, payload: bytes, tclass: int = 0x6B) -> bytes:
    return (
        struct.pack(">IHBB", 0x60000000 | tclass << 20, len(payload), next_header, 64)
        + bytes.fromhex("20010db8000000000000000000000001")
        + bytes.fromhex("20010db8000000000000000000000002")
        + payload
    )


def udp(dport: int, payload: bytes, sport: int = 49152) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def bth(opcode: int, b1: int = 0x40, dest_qp: int = 0x1234, psn: int = 77, flags: int = 0) -> bytes:
    return struct.pack(">BBHII", opcode, b1, 0xFFFF, flags << 24 | dest_qp, psn)


def extension_headers(opcode: int) -> bytes:
    """The extension headers the opcode carries, with recognisable contents."""
    out = b""
    for name in EXTENSION_HEADERS.get(opcode, ()):
        size = EXTENSION_HEADER_SIZES[name]
        if name == "RETH":
            out += struct.pack(">QII", 0x1000, 0xABCD, 4096 + opcode)
        elif name == "AETH":
            out += struct.pack(">I", (opcode & 0x7F) << 24 | 0x00BEEF)
        else:
            out += bytes((opcode,)) * size
    return out


def roce_frame(opcode: int, ip_version: int = 4, vlans: tuple[int, ...] = (100,)) -> bytes:
    ib = bth(opcode) + extension_headers(opcode) + b"\xee" * 32
    if ip_version == 4:
        return ethernet(0x0800, ipv4(17, udp(4791, ib), tos=0x6B), vlans)
    return ethernet(0x86DD, ipv6(17, udp(4791, ib)), vlans)


# ---------------------------------------------------------------------------------------------
# Fixed inputs


def test_basic_rows(impl: ModuleType) -> None:
    frame = roce_frame(0x0A)
    data = datagram(
        [
            flow_sample(
                [
                    sampled_header_record(frame[:128], frame_length=1086),
                    record(1001, struct.pack(">4I", 100, 3, 200, 3)),
                    record(1036, struct.pack(">I", 5)),
                    record(1039, struct.pack(">I", 800)),
                    record(1040, struct.pack(">I", 65536)),
                ]
            ),
            counter_sample(),
            drop_sample(),
        ]
    )
    check(impl, data)
    rows = impl.FlowRows()
    assert impl.scan_datagram(data, rows) == 1
    row = rows.row(0)
    assert row[pure.COL_SAMPLING_RATE] == 1000
    assert row[pure.COL_FRAME_LENGTH] == 1086
    assert row[pure.COL_BTH_OPCODE] == 0x0A
    assert row[pure.COL_RETH_DMA_LENGTH] == 4096 + 0x0A
    assert row[pure.COL_ECN] == 3 and row[pure.COL_VLAN] == 100
    assert row[pure.COL_TRANSIT_DELAY] == 800 and row[pure.COL_QUEUE_DEPTH] == 65536
    assert row[pure.COL_BTH_FLAGS] & pure.BTH_M and row[pure.COL_BTH_FLAGS] & pure.BTH_COMPLETE
    # the counter sample (port name only) and the drop sample (egress queue) are rows
    assert rows.others == [] and (rows.counter_count, rows.drop_count) == (1, 1)
    counter_row, drop_row = rows.counter_row(0), rows.drop_row(0)
    assert counter_row[pure.CTR_FLAGS] == pure.CTR_HAS_PORT_NAME
    assert text_at(data, counter_row[pure.CTR_NAME_OFFSET], counter_row[pure.CTR_NAME_LENGTH]) == (
        "Ethernet7"
    )
    assert drop_row[pure.DRP_REASON] == 259 and drop_row[pure.DRP_SOURCE_INDEX] == 7
    decoded = decode_datagram(data).samples
    assert fast.row_samples(data, rows) == [decoded[1], decoded[2]]
    assert rows.agent == "10.0.0.1"
    assert rows.column(pure.COL_BTH_DEST_QP) == [0x1234]
    rows.clear()
    assert rows.count == 0 and len(rows) == 0


def test_rows_accumulate_and_grow(impl: ModuleType) -> None:
    data = datagram([flow_sample([sampled_header_record(roce_frame(0x11))])] * 7)
    rows = impl.FlowRows(capacity=2)
    for _ in range(50):
        assert impl.scan_datagram(data, rows) == 7
    assert rows.count == 350 and rows.capacity >= 350
    assert set(rows.column(pure.COL_BTH_OPCODE)) == {0x11}
    assert len(rows.storage) >= 350 * pure.NUM_COLUMNS


def test_accepts_any_bytes_like(impl: ModuleType) -> None:
    data = datagram([flow_sample([sampled_header_record(roce_frame(0x81, ip_version=6))])])
    for view in (bytearray(data), memoryview(data)):
        rows = impl.FlowRows()
        assert impl.scan_datagram(view, rows) == 1
        assert rows.get(0, pure.COL_BTH_OPCODE) == 0x81


def test_column_names_and_switch() -> None:
    assert len(pure.COLUMNS) == pure.NUM_COLUMNS
    assert pure.COLUMNS[pure.COL_SAMPLING_RATE] == "sampling_rate"
    assert fast.IMPLEMENTATION in ("compiled", "pure") and fast.REASON
    assert not pure.is_compiled()
    if _pure_only():
        assert fast.IMPLEMENTATION == "pure"


def test_runs_without_cython() -> None:
    """Cython is a build-time requirement only: the plain module falls back to its shim."""
    data = datagram([flow_sample([sampled_header_record(roce_frame(0x0C))]), counter_sample()])
    script = (
        "import sys; sys.modules['cython'] = None\n"  # makes `import cython` fail
        "from decoders import fastpath\n"
        "assert fastpath.cython.__name__ == 'decoders._cython_shim', fastpath.cython\n"
        "rows = fastpath.FlowRows()\n"
        f"assert fastpath.scan_datagram(bytes.fromhex('{data.hex()}'), rows) == 1\n"
        "print(rows.row(0))\n"
    )
    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    rows = pure.FlowRows()
    pure.scan_datagram(data, rows)
    assert result.stdout.strip() == str(rows.row(0))


def test_compiled_is_compiled() -> None:
    module = _compiled()
    assert module.is_compiled()
    assert module.COLUMNS == pure.COLUMNS
    assert module.NUM_COLUMNS == pure.NUM_COLUMNS


def test_framing_errors(impl: ModuleType) -> None:
    good = datagram([flow_sample([sampled_header_record(roce_frame(0x06))]), counter_sample()])
    cases = [
        b"",
        good[:7],
        struct.pack(">I", 4) + good[4:],  # bad version
        struct.pack(">I", 0x00050001) + good[4:],  # NetFlow v5 on the sFlow port
        good[:4] + struct.pack(">I", 3) + good[8:],  # bad agent address type
        good[:27],
        good[:24] + struct.pack(">I", 5000) + good[28:],  # too many samples
        good[:24] + struct.pack(">I", 3) + good[28:],  # more samples than data
        good[:-1],
        datagram([record(1, b"\0" * 8)]),  # flow sample shorter than its fixed part
        datagram([record(3, b"\0" * 40)]),
        datagram([record(2, b"\0" * 8)]),
        datagram([record(4, b"\0" * 12)]),
        datagram([record(5, b"\0" * 28)]),
        datagram([record(1, struct.pack(">8I", 1, 7, 1, 1, 0, 0, 0, 2000))]),  # record count
        datagram([record(1, struct.pack(">8I", 1, 7, 1, 1, 0, 0, 0, 1) + b"\0\0\0\1")]),
        datagram(
            [record(1, struct.pack(">8I", 1, 7, 1, 1, 0, 0, 0, 1) + struct.pack(">II", 1, 9))]
        ),
        datagram([record(2, struct.pack(">3I", 1, 7, 1) + struct.pack(">II", 1, 99))]),
        datagram([record(5, struct.pack(">8I", 1, 0, 7, 0, 0, 0, 1, 9))]),
        datagram([], agent=b""),
        datagram([], agent=bytes(16))[:39],
        datagram([record(7, b"")] * 4096),  # the most samples allowed
        datagram([record(7, b"")] * 4097),
        datagram([flow_sample([record(1039, b"")] * 1024)]),  # the most records allowed
        datagram([flow_sample([record(1039, b"")] * 1025)]),
        datagram([record(4, struct.pack(">4I", 1, 0, 7, 1025) + record(1, b"") * 1025)]),
    ]
    for data in cases:
        check(impl, data)


def test_records_first_wins_and_malformed(impl: ModuleType) -> None:
    frame = roce_frame(0x11)
    data = datagram(
        [
            flow_sample(
                [
                    record(1, b"\0" * 12),  # malformed sampled header (too short)
                    record(1039, b"\0\0"),  # malformed transit
                    sampled_header_record(frame),
                    sampled_header_record(roce_frame(0x06)),
                    record(1039, struct.pack(">I", 1)),
                    record(1039, struct.pack(">I", 2)),
                    record(1001, b"\0" * 8),  # malformed extended switch
                    record(0x1000 | 1, b"\0" * 4),  # enterprise 1, format 1: other
                    record(1003, b"\0" * 4),  # known to the decoder, not read by the scan
                    record(2, b"\0" * 24),
                    record(3, b"\0" * 8),
                    record(4, b"\0" * 8),
                ],
                expanded=True,
            ),
            record(0x10CC << 12 | 1002, b"custom"),  # unknown sample format
        ]
    )
    check(impl, data)
    rows = impl.FlowRows()
    impl.scan_datagram(data, rows)
    assert rows.get(0, pure.COL_BTH_OPCODE) == 0x11
    assert rows.get(0, pure.COL_TRANSIT_DELAY) == 1
    assert rows.get(0, pure.COL_RECORDS) & pure.REC_MALFORMED
    assert rows.others[0][0] == 0x10CC << 12 | 1002


# ---------------------------------------------------------------------------------------------
# Every RoCEv2 opcode, whole and cut at every byte of its headers


def test_every_opcode(impl: ModuleType) -> None:
    for opcode in range(256):
        ext = len(extension_headers(opcode))
        for ip_version, vlans in ((4, (100,)), (6, ())):
            frame = roce_frame(opcode, ip_version, vlans)
            bth_at = len(frame) - 32 - ext - 12
            cuts = [*range(bth_at - 1, bth_at + 12 + ext + 2), len(frame)]
            check(impl, datagram([flow_sample([sampled_header_record(frame[:c])]) for c in cuts]))
        if opcode in OPCODES:
            rows = impl.FlowRows()
            impl.scan_datagram(datagram([flow_sample([sampled_header_record(frame)])]), rows)
            assert rows.get(0, pure.COL_BTH_FLAGS) & pure.BTH_COMPLETE


# ---------------------------------------------------------------------------------------------
# Packet walk corner cases: VLAN stacks, IPv4 options/fragments, IPv6 extension headers,
# TCP, raw IPv4/IPv6 headers, odd protocols


def _packet_variants() -> Iterator[tuple[int, bytes]]:
    tcp = struct.pack(">HHIIBBHHH", 443, 50000, 1, 2, 0x50, 0x12, 100, 0, 0)
    ib = bth(0x0C) + struct.pack(">QII", 1, 2, 65536)
    yield 1, ethernet(0x0800, ipv4(6, tcp))
    yield 1, ethernet(0x0800, ipv4(6, tcp, ihl=7))
    yield 1, ethernet(0x0800, ipv4(6, tcp, ihl=3))
    yield 1, ethernet(0x0800, ipv4(17, udp(4791, ib), frag=0x2000))  # MF, offset 0: walked
    yield 1, ethernet(0x0800, ipv4(17, udp(4791, ib), frag=0x0010))  # later fragment
    yield 1, ethernet(0x0800, b"\x55" + ipv4(17, udp(4791, ib))[1:])  # version 5
    yield 1, ethernet(0x86DD, b"\x40" + ipv6(17, udp(4791, ib))[1:])  # version 4 in IPv6
    yield 1, ethernet(0x0800, ipv4(17, udp(4791, ib)), vlans=(10, 20))
    yield 1, ethernet(0x0806, b"\0" * 28)  # ARP
    yield 1, ethernet(0x88A8, struct.pack(">HH", 5, 0x8100) + struct.pack(">HH", 6, 0x0800))
    yield 1, ethernet(0x9100, struct.pack(">HH", 0xF00D, 0x0800) + ipv4(17, udp(4791, ib)))
    yield 11, ipv4(17, udp(4791, ib))
    yield 12, ipv6(17, udp(4791, ib))
    yield 12, ipv6(6, tcp)
    yield 18, bytes(range(64))  # native InfiniBand: not walked
    yield 99, bytes(64)
    # IPv6 extension headers: hop-by-hop, routing, destination options, AH, fragments
    hop = struct.pack(">BB6x", 43, 0)
    routing = struct.pack(">BB14x", 60, 1)
    dest = struct.pack(">BB6x", 51, 0)
    ah = struct.pack(">BB10x", 17, 1)
    yield 1, ethernet(0x86DD, ipv6(0, hop + routing + dest + ah + udp(4791, ib)))
    yield 1, ethernet(0x86DD, ipv6(44, struct.pack(">BBHI", 17, 0, 0x0001, 9) + udp(4791, ib)))
    yield 1, ethernet(0x86DD, ipv6(44, struct.pack(">BBHI", 17, 0, 0x0100, 9) + udp(4791, ib)))
    loop = b"".join(struct.pack(">BB6x", 0, 0) for _ in range(17))
    yield 1, ethernet(0x86DD, ipv6(0, loop + udp(4791, ib)))
    sixteen = b"".join(struct.pack(">BB6x", 0, 0) for _ in range(15)) + struct.pack(">BB6x", 6, 0)
    yield 1, ethernet(0x86DD, ipv6(0, sixteen + tcp))
    yield 1, ethernet(0x86DD, ipv6(0, struct.pack(">BB6x", 17, 40) + udp(4791, ib)))  # too long
    yield 1, ethernet(0x0800, ipv4(17, udp(4792, ib)))  # other UDP port
    yield 1, ethernet(0x0800, ipv4(1, b"\x08\x00\0\0" + bytes(8)))  # ICMP


@pytest.mark.parametrize("case", list(enumerate(_packet_variants())), ids=lambda c: str(c[0]))
def test_packet_variants(impl: ModuleType, case: tuple[int, tuple[int, bytes]]) -> None:
    _, (protocol, frame) = case
    samples = [
        flow_sample([sampled_header_record(frame[:cut], protocol=protocol)], expanded=cut % 2 == 0)
        for cut in range(len(frame) + 1)
    ]
    for start in range(0, len(samples), 16):
        check(impl, datagram(samples[start : start + 16]))


# ---------------------------------------------------------------------------------------------
# Shared captures and vectors


def _shared_dir() -> Path:
    return shared_dir()


def _udp_payloads(path: Path) -> list[bytes]:
    import dpkt

    out = []
    with path.open("rb") as handle:
        reader = dpkt.pcap.Reader(handle)
        link = reader.datalink()
        for _, frame in reader:
            if link == dpkt.pcap.DLT_LINUX_SLL:
                packet: Any = dpkt.sll.SLL(frame).data
            elif link == dpkt.pcap.DLT_EN10MB:
                packet = dpkt.ethernet.Ethernet(frame).data
            else:
                continue
            if isinstance(packet, dpkt.ip.IP | dpkt.ip6.IP6) and isinstance(
                packet.data, dpkt.udp.UDP
            ):
                out.append(bytes(packet.data.data))
    return out


def shared_inputs() -> list[tuple[str, bytes]]:
    captures = _shared_dir() / "captures"
    if not captures.is_dir():
        pytest.skip(f"shared captures not found at {captures} (set FABRICSCOPE_SHARED)")
    inputs = [(p.name, p.read_bytes()) for p in sorted((captures / "vectors").glob("*.bin"))]
    for pcap in sorted(captures.glob("*.pcap")):
        inputs += [(f"{pcap.name}#{i}", d) for i, d in enumerate(_udp_payloads(pcap))]
    return inputs


def test_shared_captures(impl: ModuleType) -> None:
    inputs = shared_inputs()
    assert len(inputs) > 100
    flows = 0
    for name, data in inputs:
        try:
            check(impl, data)
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from exc
        rows = impl.FlowRows()
        with contextlib.suppress(DecodeError):
            flows += impl.scan_datagram(data, rows)
    assert flows > 200


def test_shared_captures_mutated(impl: ModuleType) -> None:
    rng = random.Random(4791)
    inputs = shared_inputs()
    for _ in range(400):
        name, data = rng.choice(inputs)
        mutated = mutate(rng, data)
        try:
            check(impl, mutated)
        except AssertionError as exc:
            raise AssertionError(f"{name} mutated to {mutated.hex()}: {exc}") from exc


# ---------------------------------------------------------------------------------------------
# Generated datagrams and byte-level mutations


def mutate(rng: random.Random, data: bytes) -> bytes:
    """One random structural or byte-level change (the fuzz target does many more)."""
    buf = bytearray(data)
    choice = rng.randrange(6)
    if not buf or choice == 0:
        return bytes(buf[: rng.randrange(len(buf) + 1)])
    if choice == 1:
        i = rng.randrange(len(buf))
        buf[i] ^= 1 << rng.randrange(8)
    elif choice == 2:
        i = rng.randrange(len(buf))
        buf[i] = rng.choice((0, 1, 3, 4, 0x7F, 0x80, 0xFF))
    elif choice == 3 and len(buf) >= 4:  # a length/count word nudged
        i = rng.randrange(len(buf) // 4) * 4
        (word,) = struct.unpack_from(">I", buf, i)
        delta = rng.choice((-8, -4, -1, 1, 4, 8, 1 << 16, -(1 << 31)))
        struct.pack_into(">I", buf, i, (word + delta) & 0xFFFFFFFF)
    elif choice == 4:
        i = rng.randrange(len(buf) + 1)
        buf[i:i] = rng.randbytes(rng.randrange(1, 9))
    else:
        i = rng.randrange(len(buf))
        del buf[i : i + rng.randrange(1, 9)]
    return bytes(buf)


@st.composite
def frames(draw: st.DrawFn) -> tuple[int, bytes]:
    """(header_protocol, sampled header bytes): mostly RoCEv2, sometimes other or random."""
    kind = draw(st.sampled_from(["roce", "roce", "roce", "tcp", "random"]))
    if kind == "random":
        return draw(st.sampled_from([1, 11, 12, 18])), draw(st.binary(max_size=140))
    opcode = draw(st.one_of(st.sampled_from(sorted(OPCODES)), st.integers(0, 255)))
    ip_version = draw(st.sampled_from([4, 6]))
    vlans = tuple(draw(st.lists(st.integers(0, 0xFFFF), max_size=2)))
    if kind == "tcp":
        tcp = struct.pack(">HHIIBBHHH", 1, 2, 3, 4, 0x50, draw(st.integers(0, 255)), 0, 0, 0)
        payload = ipv4(6, tcp) if ip_version == 4 else ipv6(6, tcp)
        frame = ethernet(0x0800 if ip_version == 4 else 0x86DD, payload, vlans)
    else:
        frame = roce_frame(opcode, ip_version, vlans)
    protocol = 1
    if draw(st.booleans()) and not vlans:  # raw IP header (header_protocol 11/12)
        frame, protocol = frame[14:], 11 if ip_version == 4 else 12
    return protocol, frame[: draw(st.integers(0, min(len(frame), 160)))]


@st.composite
def generated_datagrams(draw: st.DrawFn) -> bytes:
    samples = []
    for _ in range(draw(st.integers(0, 7))):
        kind = draw(st.sampled_from(["flow", "flow", "flow", "counter", "drop", "raw"]))
        if kind == "flow":
            records = []
            for _ in range(draw(st.integers(0, 4))):
                fmt = draw(st.sampled_from([1, 1, 1001, 1036, 1039, 1040, 2, 1003, 0x1001]))
                if fmt == 1:
                    protocol, frame = draw(frames())
                    records.append(sampled_header_record(frame, protocol))
                else:
                    records.append(record(fmt, draw(st.binary(max_size=20))))
            samples.append(flow_sample(records, expanded=draw(st.booleans())))
        elif kind == "counter":
            samples.append(counter_sample(expanded=draw(st.booleans())))
        elif kind == "drop":
            samples.append(drop_sample())
        else:
            samples.append(record(draw(st.integers(0, 1 << 20)), draw(st.binary(max_size=16))))
    agent = draw(st.sampled_from([b"", bytes((10, 1, 2, 3)), bytes(range(16))]))
    return datagram(samples, agent=agent, seq=draw(st.integers(0, 0xFFFFFFFF)))


@settings(max_examples=150)
@given(generated_datagrams())
def test_generated(data: bytes) -> None:
    for module in _builds():
        check(module, data)


@settings(max_examples=200)
@given(generated_datagrams(), st.randoms(use_true_random=False))
def test_generated_mutated(data: bytes, rng: random.Random) -> None:
    for _ in range(rng.randrange(1, 4)):
        data = mutate(rng, data)
    for module in _builds():
        check(module, data)


@settings(max_examples=100)
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    for module in _builds():
        check(module, data)
        check(module, datagram([])[:8] + data)


def test_strategies_datagrams() -> None:
    """The shared round-trip strategies (every record type the encoder knows), when present."""
    strategies = pytest.importorskip("tests.strategies")
    encode = pytest.importorskip("decoders.encode")

    @settings(max_examples=100)
    @given(strategies.datagrams())
    def run(d: Datagram) -> None:
        data = encode.encode_datagram(d)
        for module in _builds():
            check(module, data)

    run()


def test_known_counter_formats_are_the_registrys() -> None:
    """The scan's list of counter formats a parser knows is the registry's (anything else is an
    unknown record, counted by the accounting)."""
    registry = {t.format for t in RECORD_TYPES if t.kind == "counter" and t.enterprise == 0}
    assert set(pure.KNOWN_COUNTER_FORMATS) == registry
    assert len(pure.KNOWN_COUNTER_FORMATS) == len(registry)

"""Ground truth from the shared captures: our reader + decoder against ``expected.json``.

Every capture with an entry in ``expected.json`` is checked (parametrized by file name): frame and
datagram counts, NetFlow frames on 6343 rejected as ``bad_version``, sample counts by kind and
encoding, record formats, per-datagram spot values, discarded-packet details and the facts
recorded about the live hsflowd capture. The same captures also go through the CLI (in-process
and once as ``python -m collector``), and tshark cross-checks what it can decode reliably.

Every key of a capture's entry must be checked here or listed as informational, so new ground
truth in ``expected.json`` cannot be skipped silently.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from collector.cli.capture import CaptureStats, UdpFrame, open_source
from collector.cli.main import main
from decoders import DecodeError, decode_datagram
from decoders.json_view import datagram_to_dict, record_format
from decoders.records import (
    CounterSample,
    Datagram,
    DropSample,
    ExtendedTimestamp,
    FlowSample,
    GenericInterfaceCounters,
    HostDescription,
    Interface,
    PortName,
    RawRecord,
    RawSample,
    Sample,
    SampledHeader,
)
from tests.shared_data import REPO, captures_dir, expected_or_empty

pytestmark = pytest.mark.captures

EXPECTED = expected_or_empty()
ENTRIES: dict[str, dict[str, Any]] = EXPECTED.get("captures", {})
FIELD_MEANING: dict[str, str] = EXPECTED.get("_meta", {}).get("field_meaning", {})
NO_DATA = pytest.param(
    None, marks=pytest.mark.skip(reason="shared captures/expected.json not found")
)


def _params(*, having: str | None = None) -> list[Any]:
    names = [n for n, e in sorted(ENTRIES.items()) if having is None or having in e]
    return [pytest.param(n, id=n) for n in names] or [NO_DATA]


ALL = _params()


# ---------------------------------------------------------------------------------------------
# Reading and decoding a capture once per test process


def capture_port(entry: dict[str, Any]) -> int:
    """The UDP port the capture's sFlow goes to: 6343 unless tshark needed a Decode-As."""
    match = re.search(r"udp\.port==(\d+)", entry.get("tshark_decode_as", ""))
    return int(match.group(1)) if match else 6343


@dataclass
class Decoded:
    frames: list[UdpFrame]
    stats: CaptureStats
    datagrams: dict[int, Datagram]  # frame number → datagram, in frame order
    errors: dict[int, DecodeError]


@cache
def decode_capture(name: str) -> Decoded:
    path = captures_dir() / name
    with open_source(str(path), port=capture_port(ENTRIES[name])) as source:
        frames = list(source)
    datagrams: dict[int, Datagram] = {}
    errors: dict[int, DecodeError] = {}
    for frame in frames:
        try:
            datagrams[frame.frame] = decode_datagram(frame.payload)
        except DecodeError as exc:
            errors[frame.frame] = exc
    return Decoded(frames, source.stats, datagrams, errors)


def samples(d: Decoded) -> list[Sample]:
    return [s for dg in d.datagrams.values() for s in dg.samples]


def flows(x: Decoded | Datagram) -> list[FlowSample]:
    found = samples(x) if isinstance(x, Decoded) else list(x.samples)
    return [s for s in found if isinstance(s, FlowSample)]


def counters(x: Decoded | Datagram) -> list[CounterSample]:
    found = samples(x) if isinstance(x, Decoded) else list(x.samples)
    return [s for s in found if isinstance(s, CounterSample)]


def sample_format(s: Sample) -> tuple[int, int]:
    """(enterprise, format) of the sample_record the sample came from."""
    if isinstance(s, RawSample):
        return s.enterprise, s.format
    if isinstance(s, FlowSample):
        return 0, 3 if s.expanded else 1
    if isinstance(s, CounterSample):
        return 0, 4 if s.expanded else 2
    return 0, 5


def word(i: Interface) -> int:
    """The compact 32-bit interface word (format in the top 2 bits)."""
    return (i.format << 30) | i.value


def records_of(s: Sample) -> tuple[Any, ...]:
    return () if isinstance(s, RawSample) else s.records


# ---------------------------------------------------------------------------------------------
# An independent minimal XDR walk: (data_format, length) of every record of every sample.

_RECORD_ARRAY_AT = {1: 28, 2: 8, 3: 40, 4: 12, 5: 28}  # byte offset of the record count


def walk_record_headers(payload: bytes) -> list[list[tuple[int, int]]]:
    """Per sample, the (record data_format, record length) pairs, read straight off the wire."""
    (addr_type,) = struct.unpack_from(">I", payload, 4)
    off = 8 + {1: 4, 2: 16}.get(addr_type, 0) + 12
    (n_samples,) = struct.unpack_from(">I", payload, off)
    off += 4
    out = []
    for _ in range(n_samples):
        sample_format_word, sample_len = struct.unpack_from(">II", payload, off)
        body = off + 8
        recs: list[tuple[int, int]] = []
        if sample_format_word in _RECORD_ARRAY_AT:
            at = body + _RECORD_ARRAY_AT[sample_format_word]
            (n_records,) = struct.unpack_from(">I", payload, at)
            at += 4
            for _ in range(n_records):
                rec_format, rec_len = struct.unpack_from(">II", payload, at)
                recs.append((rec_format, rec_len))
                at += 8 + (rec_len + 3) // 4 * 4
        out.append(recs)
        off = body + (sample_len + 3) // 4 * 4
    return out


# ---------------------------------------------------------------------------------------------
# Keys of a capture entry: checked by a test below, or informational only.

CHECKED_KEYS = {
    "frames",
    "sflow_datagrams_tshark",
    "sflow_v5_datagrams",
    "non_sflow_frames",
    "flow_samples",
    "flow_samples_compact",
    "flow_samples_expanded",
    "counter_samples",
    "counter_samples_compact",
    "counter_samples_expanded",
    "discarded_packet_events",
    "sample_formats_by_walker",
    "record_formats_by_walker",
    "datagrams",
    "discarded_packet_details",
    "hsflowd_details",
    "sflowtool_cross_check",
    "tshark_decode_as",  # used to pick the UDP port
    "tshark_malformed_frames",  # used to scope the tshark cross-check
    "walker_issues",
}
INFORMATIONAL_KEYS = {
    "tshark_sampletype_counts",  # how far tshark 4.0 gets, not the truth
    "notes",
}


@pytest.mark.parametrize("name", ALL)
def test_every_expected_field_is_checked(name: str) -> None:
    unknown = set(ENTRIES[name]) - CHECKED_KEYS - INFORMATIONAL_KEYS
    hints = {k: FIELD_MEANING.get(k, "(no _meta.field_meaning)") for k in sorted(unknown)}
    assert not unknown, f"expected.json has fields no test checks: {hints}"


def test_field_meanings_cover_the_checked_fields() -> None:
    """The fields whose meaning we rely on are the ones _meta.field_meaning documents."""
    if not ENTRIES:
        pytest.skip("shared captures/expected.json not found")
    documented = {
        "sflow_v5_datagrams",
        "flow_samples",
        "counter_samples",
        "discarded_packet_events",
        "record_formats_by_walker",
        "discarded_packet_details",
        "hsflowd_details",
    }
    assert documented <= set(FIELD_MEANING)


# ---------------------------------------------------------------------------------------------
# Counts


@pytest.mark.parametrize("name", ALL)
def test_frames_and_datagrams(name: str) -> None:
    entry, d = ENTRIES[name], decode_capture(name)
    assert d.stats.frames == entry["frames"]
    # Every frame of these captures is an sFlow-port UDP datagram (sFlow or NetFlow).
    assert len(d.frames) == entry["frames"]
    v5 = [f.frame for f in d.frames if f.payload[:4] == b"\0\0\0\5"]
    assert len(v5) == entry["sflow_v5_datagrams"]
    assert sorted(d.datagrams) == v5
    assert len(d.datagrams) == entry["sflow_datagrams_tshark"]


@pytest.mark.parametrize("name", ALL)
def test_non_sflow_frames_are_bad_version_errors(name: str) -> None:
    entry, d = ENTRIES[name], decode_capture(name)
    assert sorted(d.errors) == entry.get("non_sflow_frames", [])
    for frame, exc in d.errors.items():
        assert exc.reason == "bad_version", frame
        payload = d.frames[frame - 1].payload
        assert struct.unpack_from(">H", payload)[0] == 5  # NetFlow v5 header: version 5 (16 bits)


@pytest.mark.parametrize("name", ALL)
def test_sample_counts(name: str) -> None:
    entry, d = ENTRIES[name], decode_capture(name)
    all_samples = samples(d)
    f, c = flows(d), counters(d)
    assert len(f) == entry["flow_samples"]
    assert sum(not s.expanded for s in f) == entry["flow_samples_compact"]
    assert sum(s.expanded for s in f) == entry["flow_samples_expanded"]
    assert len(c) == entry["counter_samples"]
    assert sum(not s.expanded for s in c) == entry["counter_samples_compact"]
    assert sum(s.expanded for s in c) == entry["counter_samples_expanded"]
    assert sum(isinstance(s, DropSample) for s in all_samples) == entry["discarded_packet_events"]
    formats = Counter("{}:{}".format(*sample_format(s)) for s in all_samples)
    assert dict(formats) == entry["sample_formats_by_walker"]


@pytest.mark.parametrize("name", ALL)
def test_record_formats(name: str) -> None:
    entry, d = ENTRIES[name], decode_capture(name)
    found: Counter[str] = Counter()
    for s in samples(d):
        for r in records_of(s):
            found["sample{}/{}:{}".format(sample_format(s)[1], *record_format(r))] += 1
    assert dict(found) == entry["record_formats_by_walker"]
    # No known record failed to decode in these captures.
    bad = [r for s in samples(d) for r in records_of(s) if isinstance(r, RawRecord) and r.error]
    assert bad == []


@pytest.mark.parametrize("name", ALL)
def test_record_order_matches_an_independent_walk(name: str) -> None:
    d = decode_capture(name)
    for frame in d.frames:
        if frame.frame not in d.datagrams:
            continue
        walked = walk_record_headers(frame.payload)
        ours = [
            [(e << 12) | f for e, f in map(record_format, records_of(s))]
            for s in d.datagrams[frame.frame].samples
        ]
        assert ours == [[fmt for fmt, _ in recs] for recs in walked], frame.frame


@pytest.mark.parametrize("name", ALL)
def test_walker_issues(name: str) -> None:
    """Trailing bytes after num_samples are ignored, and nothing else was odd."""
    entry, d = ENTRIES[name], decode_capture(name)
    for issue in entry["walker_issues"]:
        assert set(issue) == {"frame", "trailing_bytes_after_declared_samples"}, issue
        frame = d.frames[issue["frame"] - 1]
        datagram = d.datagrams[issue["frame"]]
        # The walk stops at the end of the declared samples; the rest of the payload is extra.
        walked_end = len(frame.payload) - issue["trailing_bytes_after_declared_samples"]
        assert len(datagram.samples) == len(walk_record_headers(frame.payload[:walked_end]))


# ---------------------------------------------------------------------------------------------
# Per-datagram spot values


def _compact(d: Datagram) -> list[FlowSample]:
    return [s for s in flows(d) if not s.expanded]


def _expanded(d: Datagram) -> list[FlowSample]:
    return [s for s in flows(d) if s.expanded]


SPOT: dict[str, Callable[[Datagram], Any]] = {
    "agent": lambda d: d.agent,
    "sub_agent_id": lambda d: d.sub_agent,
    "sequence_number": lambda d: d.sequence,
    "uptime_ms": lambda d: d.uptime_ms,
    "num_samples": lambda d: len(d.samples),
    "sample_types": lambda d: [sample_format(s)[1] for s in d.samples],
    "flow_sample_seq": lambda d: [s.sequence for s in flows(d)],
    "counter_sample_seq": lambda d: [s.sequence for s in counters(d)],
    "sampling_rate": lambda d: [s.sampling_rate for s in flows(d)],
    "sample_pool": lambda d: [s.sample_pool for s in flows(d)],
    # tshark's interface fields: compact samples print the whole word, expanded ones the value.
    "input_ifindex_compact": lambda d: [word(s.input) for s in _compact(d)],
    "output_raw_compact": lambda d: [word(s.output) for s in _compact(d)],
    "input_value_expanded": lambda d: [s.input.value for s in _expanded(d)],
    "output_value_expanded": lambda d: [s.output.value for s in flows(d)],
    "header_protocol": lambda d: [
        r.protocol for s in flows(d) for r in s.records if isinstance(r, SampledHeader)
    ],
}


@pytest.mark.parametrize("name", ALL)
def test_datagram_spot_values(name: str) -> None:
    entry, d = ENTRIES[name], decode_capture(name)
    spots = entry["datagrams"]
    assert [s["frame"] for s in spots] == sorted(d.datagrams)  # every datagram is listed
    for spot in spots:
        datagram = d.datagrams[spot["frame"]]
        unknown = set(spot) - set(SPOT) - {"frame"}
        assert not unknown, f"datagrams[] fields no test checks: {unknown}"
        ours = {key: SPOT[key](datagram) for key in spot if key != "frame"}
        assert ours == {k: v for k, v in spot.items() if k != "frame"}, spot["frame"]


# ---------------------------------------------------------------------------------------------
# Discarded packets (0:5)

DROP_FIELDS: dict[str, Callable[[DropSample], int]] = {
    "seq": lambda s: s.sequence,
    "source_id_type": lambda s: s.source.type,
    "source_id_index": lambda s: s.source.index,
    "drops": lambda s: s.drops,
    "input_ifindex": lambda s: s.input_ifindex,
    "output_ifindex": lambda s: s.output_ifindex,
    "reason": lambda s: s.reason,
}
DROP_RECORD_FIELDS = {  # expected.json key → (record NAME, attribute)
    "queue": ("extended_egress_queue", "queue"),
    "acl_number": ("extended_acl", "number"),
    "acl_name": ("extended_acl", "name"),
    "acl_direction": ("extended_acl", "direction"),
}


@pytest.mark.parametrize("name", _params(having="discarded_packet_details"))
def test_discarded_packet_details(name: str) -> None:
    entry, d = ENTRIES[name], decode_capture(name)
    by_frame: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for detail in entry["discarded_packet_details"]:
        by_frame[detail["frame"]].append(detail)
    total = 0
    for frame in d.frames:
        if frame.frame not in d.datagrams:
            continue
        drops = [
            (s, walked)
            for s, walked in zip(
                d.datagrams[frame.frame].samples, walk_record_headers(frame.payload), strict=True
            )
            if isinstance(s, DropSample)
        ]
        details = by_frame.get(frame.frame, [])
        assert len(drops) == len(details), frame.frame
        for (sample, walked), detail in zip(drops, details, strict=True):
            total += 1
            for key, get in DROP_FIELDS.items():
                assert get(sample) == detail[key], (frame.frame, key)
            assert len(sample.records) == len(detail["records"])
            for record, (wire_format, wire_len), want in zip(
                sample.records, walked, detail["records"], strict=True
            ):
                assert record_format(record) == (0, want["format"])
                assert wire_format == want["format"] and wire_len == want["len"]
                for key, value in want.items():
                    if key in ("format", "len"):
                        continue
                    record_name, attribute = DROP_RECORD_FIELDS[key]
                    assert record_name == record.NAME
                    assert getattr(record, attribute) == value, (frame.frame, key)
            unknown = set(detail) - set(DROP_FIELDS) - {"frame", "records"}
            assert not unknown
    assert total == len(entry["discarded_packet_details"])


# ---------------------------------------------------------------------------------------------
# Facts about the live hsflowd recording


def _range(text: str) -> list[int]:
    low, high = text.split("..")
    return list(range(int(low), int(high) + 1))


def _headers(d: Decoded) -> list[SampledHeader]:
    return [r for s in flows(d) for r in s.records if isinstance(r, SampledHeader)]


def _classify_ipv6(header: bytes) -> str:
    """Test-side walk of a raw-IPv6 sampled header (header_protocol 12): the traffic class."""
    assert header[0] >> 4 == 6
    next_header, l4 = header[6], header[40:]
    if next_header == 58:
        return f"ipv6/icmpv6 type {l4[0]}"
    sport, dport = struct.unpack_from(">HH", l4)
    if next_header == 17:
        return f"ipv6/udp dport {dport}"
    assert next_header == 6
    return f"ipv6/tcp dport {dport}" if dport <= sport else f"ipv6/tcp sport {sport}"


def _classify_packet(r: SampledHeader) -> str:
    """The same classes from the decoder's own sampled-header parse."""
    p = r.packet
    if p.ip_protocol == 58:
        return f"ipv6/icmpv6 type {p.icmp_type}"
    assert p.src_port is not None and p.dst_port is not None
    if p.ip_protocol == 17:
        return f"ipv6/udp dport {p.dst_port}"
    if p.dst_port <= p.src_port:
        return f"ipv6/tcp dport {p.dst_port}"
    return f"ipv6/tcp sport {p.src_port}"


def _hs_udp(v: dict[str, int], d: Decoded) -> None:
    assert {(f.sport, f.dport) for f in d.frames} == {(v["src_port"], v["dst_port"])}
    assert {(f.src, f.dst) for f in d.frames} == {("::1", "::1")}


def _hs_payload_bytes(v: dict[str, int], d: Decoded) -> None:
    sizes = [len(f.payload) for f in d.frames]
    assert (min(sizes), max(sizes)) == (v["min"], v["max"])


def _hs_sequence(v: str, d: Decoded) -> None:
    assert [dg.sequence for dg in d.datagrams.values()] == _range(v)


def _hs_flow_sources(v: dict[str, int], d: Decoded) -> None:
    assert dict(Counter(f"{s.source.type}:{s.source.index}" for s in flows(d))) == v


def _hs_flow_fixed(v: dict[str, Any], d: Decoded) -> None:
    getters: dict[str, Callable[[FlowSample], Any]] = {
        "sampling_rate": lambda s: s.sampling_rate,
        "drops": lambda s: s.drops,
        "input_format": lambda s: s.input.format,
        "input_value": lambda s: s.input.value,
        "output_format": lambda s: s.output.format,
        "output_value": lambda s: s.output.value,
        "sample_pool_equals_seq_times_rate": lambda s: (
            s.sample_pool == s.sequence * s.sampling_rate
        ),
    }
    for key, want in v.items():
        if key == "flow_sample_seq_contiguous":
            assert [s.sequence for s in flows(d)] == _range(want)
        else:
            assert {getters[key](s) for s in flows(d)} == {want}, key


def _hs_flow_record_order(v: list[int], d: Decoded) -> None:
    orders = {tuple(record_format(r)[1] for r in s.records) for s in flows(d)}
    assert orders == {tuple(v)}


def _hs_sampled_header(v: dict[str, Any], d: Decoded) -> None:
    headers = _headers(d)
    assert len(headers) == len(flows(d))
    assert {r.protocol for r in headers} == {v["header_protocol"]}
    assert dict(Counter(str(r.stripped) for r in headers)) == v["stripped"]
    assert dict(Counter(str(len(r.header)) for r in headers)) == v["header_length_counts"]
    lengths = [r.frame_length for r in headers]
    assert (min(lengths), max(lengths)) == (v["frame_length_min"], v["frame_length_max"])
    assert set(v) == {
        "header_protocol",
        "stripped",
        "header_length_counts",
        "frame_length_min",
        "frame_length_max",
    }


def _hs_timestamp_offsets(v: dict[str, float], d: Decoded) -> None:
    offsets = []
    for frame in d.frames:
        capture_us = round((frame.timestamp or 0.0) * 1e6)
        for s in flows(d.datagrams[frame.frame]):
            for r in s.records:
                if isinstance(r, ExtendedTimestamp):
                    offsets.append(round((r.nanoseconds - capture_us * 1000) / 1e6, 1))
    assert len(offsets) == len(flows(d))
    assert (min(offsets), max(offsets)) == (v["min"], v["max"])


def _hs_traffic(v: dict[str, int], d: Decoded) -> None:
    headers = _headers(d)
    assert dict(Counter(_classify_ipv6(r.header) for r in headers)) == v
    assert dict(Counter(_classify_packet(r) for r in headers)) == v


def _hs_bth(v: dict[str, int], d: Decoded) -> None:
    roce = [r for r in _headers(d) if _classify_ipv6(r.header) == "ipv6/udp dport 4791"]
    wire = Counter(
        f"opcode=0x{r.header[48]:02x} qp=0x{int.from_bytes(r.header[53:56], 'big'):06x}"
        for r in roce
        if len(r.header) >= 40 + 8 + 12
    )
    assert dict(wire) == v
    parsed: Counter[str] = Counter()
    for r in roce:
        info = r.packet.roce
        assert info is not None
        parsed[f"opcode=0x{info.bth.opcode:02x} qp=0x{info.bth.dest_qp:06x}"] += 1
    assert dict(parsed) == v


def _hs_counter_sources(v: dict[str, int], d: Decoded) -> None:
    assert dict(Counter(f"{s.source.type}:{s.source.index}" for s in counters(d))) == v


def _hs_counter_order(v: dict[str, list[int]], d: Decoded) -> None:
    for label, order in v.items():
        source = label.split()[0]
        orders = {
            tuple(record_format(r)[1] for r in s.records)
            for s in counters(d)
            if f"{s.source.type}:{s.source.index}" == source
        }
        assert orders == {tuple(order)}, label


GENERIC_FIELDS = {
    "ifIndex": "if_index",
    "ifType": "if_type",
    "ifSpeed": "if_speed",
    "ifDirection": "if_direction",
    "ifStatus": "if_status",
    "ifInMulticastPkts": "in_multicast_pkts",
    "ifInBroadcastPkts": "in_broadcast_pkts",
    "ifInUnknownProtos": "in_unknown_protos",
    "ifOutMulticastPkts": "out_multicast_pkts",
    "ifOutBroadcastPkts": "out_broadcast_pkts",
    "ifPromiscuousMode": "promiscuous_mode",
}


def _hs_counter_spots(v: dict[str, Any], d: Decoded) -> None:
    records = [r for s in counters(d) for r in s.records]
    assert {r.name for r in records if isinstance(r, PortName)} == {v["port_name_1005"]}
    generic = [r for r in records if isinstance(r, GenericInterfaceCounters)]
    assert generic
    for key, want in v["generic_1"].items():
        if key == "ifInOctets_equals_ifOutOctets":
            assert {r.in_octets == r.out_octets for r in generic} == {want}
        else:
            assert {getattr(r, GENERIC_FIELDS[key]) for r in generic} == {want}, key
    descriptions = [r for r in records if isinstance(r, HostDescription)]
    assert descriptions
    for key, want in v["host_descr_2000"].items():
        assert {getattr(r, key) for r in descriptions} == {want}, key
    # host_cpu (0:2003) is kept raw: float load ×3, proc_run, proc_total, cpu_num, …
    cpu = [r for r in records if record_format(r) == (0, 2003)]
    assert cpu
    for r in cpu:
        got = struct.unpack_from(">I", r.data, 20)[0] if isinstance(r, RawRecord) else r.cpu_num
        assert got == v["host_cpu_2003_cpu_num"]
    assert set(v) == {"port_name_1005", "generic_1", "host_descr_2000", "host_cpu_2003_cpu_num"}


def _hs_no_drops(v: str, d: Decoded) -> None:
    assert "no discarded_packet" in v
    assert not any(isinstance(s, DropSample) for s in samples(d))


HSFLOWD_CHECKS: dict[str, Callable[[Any, Decoded], None]] = {
    "udp": _hs_udp,
    "datagram_payload_bytes": _hs_payload_bytes,
    "datagram_sequence_contiguous": _hs_sequence,
    "flow_sample_source_id": _hs_flow_sources,
    "flow_sample_fixed_values": _hs_flow_fixed,
    "flow_record_order": _hs_flow_record_order,
    "sampled_header": _hs_sampled_header,
    "extended_timestamp_1043_minus_capture_time_ms": _hs_timestamp_offsets,
    "sampled_traffic_by_walker": _hs_traffic,
    "sampled_bth_udp4791": _hs_bth,
    "counter_sample_sources": _hs_counter_sources,
    "counter_record_order": _hs_counter_order,
    "counter_spot_values": _hs_counter_spots,
    "drop_monitor": _hs_no_drops,
}
HSFLOWD_INFORMATIONAL = {"agent_software", "sflowtool_version"}

HSFLOWD_PARAMS = [
    pytest.param(name, key, id=f"{name}-{key}")
    for name, entry in sorted(ENTRIES.items())
    for key in sorted(entry.get("hsflowd_details", {}))
] or [pytest.param(None, None, marks=NO_DATA.marks)]


@pytest.mark.parametrize(("name", "key"), HSFLOWD_PARAMS)
def test_hsflowd_details(name: str, key: str) -> None:
    value = ENTRIES[name]["hsflowd_details"][key]
    if key in HSFLOWD_INFORMATIONAL:
        assert isinstance(value, str) and value
        return
    assert key in HSFLOWD_CHECKS, f"hsflowd_details.{key} is not checked by any test"
    HSFLOWD_CHECKS[key](value, decode_capture(name))


@pytest.mark.parametrize("name", _params(having="sflowtool_cross_check"))
def test_sflowtool_cross_check(name: str) -> None:
    check, d = ENTRIES[name]["sflowtool_cross_check"], decode_capture(name)
    formats = Counter("{}:{}".format(*sample_format(s)) for s in samples(d))
    for key, want in check.items():
        if key == "datagrams":
            assert len(d.datagrams) == want
        elif key.startswith("samples_"):
            assert formats[key.removeprefix("samples_")] == want, key
        else:
            assert key == "agrees_with_walker" and want is True


# ---------------------------------------------------------------------------------------------
# Through the CLI


def _cli_lines(capsys: pytest.CaptureFixture[str], argv: list[str]) -> list[dict[str, Any]]:
    assert main(argv) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, id=n)
        for n in (
            "tcpdump_sflow_multiple_counter_30_pdus.pcap",
            "goflow2_drop_events.pcap",
            "hsflowd_ipv6_lo.pcap",
        )
        if n in ENTRIES
    ]
    or [NO_DATA],
)
def test_cli_decode_matches_library(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    entry, d = ENTRIES[name], decode_capture(name)
    path = str(captures_dir() / name)
    lines = _cli_lines(capsys, ["decode", path, "--port", str(capture_port(entry))])
    assert [line["frame"] for line in lines] == [f.frame for f in d.frames]
    for line in lines:
        frame = line["frame"]
        if frame in d.errors:
            exc = d.errors[frame]
            assert line == {
                "frame": frame,
                "error": str(exc),
                "reason": "bad_version",
                "offset": exc.offset,
                "path": exc.path,
            }
        else:
            want = json.loads(json.dumps({"frame": frame, **datagram_to_dict(d.datagrams[frame])}))
            assert line == want
    spots = {s["frame"]: s for s in entry["datagrams"]}
    for line in lines:
        if "error" not in line:
            spot = spots[line["frame"]]
            assert (line["agent"], line["sequence"]) == (spot["agent"], spot["sequence_number"])
            assert len(line["samples"]) == spot["num_samples"]


def test_cli_default_port_misses_the_hsflowd_capture(capsys: pytest.CaptureFixture[str]) -> None:
    """hsflowd sent to udp/16344: the default 6343 filter finds nothing, ``any`` finds it all."""
    path = str(captures_dir() / "hsflowd_ipv6_lo.pcap")
    if not Path(path).exists():
        pytest.skip("hsflowd_ipv6_lo.pcap not in the shared captures")
    assert _cli_lines(capsys, ["decode", path]) == []
    every = _cli_lines(capsys, ["decode", "--port", "any", path])
    assert len(every) == ENTRIES["hsflowd_ipv6_lo.pcap"]["sflow_v5_datagrams"]


def test_cli_summary_subprocess_over_all_captures() -> None:
    """``python -m collector decode --summary --port any`` over every capture = expected.json."""
    if not ENTRIES:
        pytest.skip("shared captures/expected.json not found")
    names = sorted(ENTRIES)
    paths = [str(captures_dir() / n) for n in names]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    run = subprocess.run(
        [sys.executable, "-m", "collector", "decode", "--summary", "--port", "any", *paths],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    summary = json.loads(run.stdout)
    entries = [ENTRIES[n] for n in names]

    def total(key: str) -> int:
        return sum(e[key] for e in entries)

    assert summary["files"] == len(names)
    assert summary["capture"]["frames"] == total("frames")
    assert summary["datagrams"] == total("sflow_v5_datagrams")
    non_sflow = sum(len(e.get("non_sflow_frames", [])) for e in entries)
    assert summary["decode_errors"] == non_sflow
    assert summary["errors"] == ({"bad_version": non_sflow} if non_sflow else {})
    for kind in ("flow", "counter"):
        assert summary["samples"][kind] == {
            "total": total(f"{kind}_samples"),
            "compact": total(f"{kind}_samples_compact"),
            "expanded": total(f"{kind}_samples_expanded"),
        }
    drops = total("discarded_packet_events")
    assert summary["samples"]["drop"] == {"total": drops, "compact": 0, "expanded": drops}
    assert summary["samples"]["unknown"] == {"total": 0, "formats": {}}
    kind_of_sample = {"1": "flow", "3": "flow", "2": "counter", "4": "counter", "5": "drop"}
    records: dict[str, Counter[str]] = defaultdict(Counter)
    for e in entries:
        for key, count in e["record_formats_by_walker"].items():
            sample, record = key.removeprefix("sample").split("/")
            records[kind_of_sample[sample]][record] += count
    assert summary["records"] == {kind: dict(c) for kind, c in records.items()}
    agents: Counter[str] = Counter(s["agent"] for e in entries for s in e["datagrams"])
    assert summary["agents"] == dict(agents)


# ---------------------------------------------------------------------------------------------
# tshark, where it is reliable: per-datagram agent / sequence / sample types


TSHARK = shutil.which("tshark")
MERGECAP = shutil.which("mergecap")
TSHARK_FIELDS = (
    "frame.number",
    "sflow_245.agent",
    "sflow_245.agent.v6",
    "sflow_245.sequence_number",
    "sflow_245.sampletype",
    "_ws.malformed",
)


def _tshark(path: Path, decode_as: list[str]) -> list[list[str]]:
    assert TSHARK is not None
    cmd = [TSHARK, "-n", "-r", str(path), *decode_as, "-Y", "sflow", "-T", "fields"]
    cmd += ["-E", "occurrence=a", "-E", "aggregator=;"]
    for f in TSHARK_FIELDS:
        cmd += ["-e", f]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)
    return [line.split("\t") for line in run.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tshark_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list[str]]]:
    """tshark's rows per capture, frame numbers relative to the capture.

    tshark takes ~0.5 s to start, so every capture is concatenated (mergecap -a) into one file
    in a tmp dir and dissected once, with every capture's Decode-As option applied (harmless
    for the others: no other capture uses those ports); rows are split back by frame counts.
    """
    names = sorted(ENTRIES)
    decode_as = sorted({ENTRIES[n].get("tshark_decode_as", "") for n in names} - {""})
    options = [part for option in decode_as for part in option.split()]
    paths = [captures_dir() / n for n in names]
    if MERGECAP is None:
        return {n: _tshark(p, options) for n, p in zip(names, paths, strict=True)}
    merged = tmp_path_factory.mktemp("tshark") / "all.pcap"
    cmd = [MERGECAP, "-a", "-F", "pcap", "-w", str(merged), *map(str, paths)]
    subprocess.run(cmd, capture_output=True, timeout=120, check=True)
    rows = _tshark(merged, options)
    out: dict[str, list[list[str]]] = {}
    first = 1
    for name in names:
        last = first + ENTRIES[name]["frames"]
        out[name] = [
            [str(int(r[0]) - first + 1), *r[1:]] for r in rows if first <= int(r[0]) < last
        ]
        first = last
    return out


@pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")
@pytest.mark.parametrize("name", ALL)
def test_tshark_cross_check(name: str, tshark_rows: dict[str, list[list[str]]]) -> None:
    """Where tshark 4.0 is reliable: agent, sequence and sample types of each datagram."""
    entry, d = ENTRIES[name], decode_capture(name)
    rows = tshark_rows[name]
    malformed = {int(r[0]) for r in rows if r[5]}
    assert malformed == set(entry["tshark_malformed_frames"])
    compared = 0
    for frame, agent_v4, agent_v6, seq, types, flag in rows:
        if flag:  # tshark gave up inside this datagram: its sample list is incomplete
            continue
        datagram = d.datagrams[int(frame)]
        assert datagram.agent == (agent_v4 or agent_v6), frame
        assert datagram.sequence == int(seq), frame
        want_types = [int(t) for t in types.split(";")] if types else []
        assert [sample_format(s)[1] for s in datagram.samples] == want_types, frame
        compared += 1
    assert compared == len(d.datagrams) - len(malformed)

"""sFlow v5 encoder: frozen records from ``decoders.records`` → XDR datagram bytes.

The mirror of ``decoders.parse``: ``decode_datagram(encode_datagram(d)) == d`` for every datagram
the decoder can produce (``SampledHeader.packet`` is derived from the header bytes and not encoded).
Values that cannot be represented on the wire (u32 overflow, negative counters, compact-form
limits, strings longer than the spec allows, bad addresses) raise ``ValueError``; a record or
sample of an unknown type raises ``TypeError``.

The hot path (flow samples for the traffic simulator) appends to one ``bytearray`` with
precompiled ``struct.Struct`` objects and back-patches the sample length once.
"""

from __future__ import annotations

import socket
import struct
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from decoders import records as rec
from decoders.packet import parse_packet
from decoders.parse import (
    MAX_ARRAY_ITEMS,
    MAX_RECORDS_PER_SAMPLE,
    MAX_SAMPLES_PER_DATAGRAM,
    MAX_STRING,
)
from decoders.records import (
    CounterRecord,
    CounterSample,
    Datagram,
    DropSample,
    FlowRecord,
    FlowSample,
    RawRecord,
    RawSample,
    Sample,
    registered,
)

__all__ = [
    "XdrWriter",
    "data_format",
    "encode_counter_record",
    "encode_datagram",
    "encode_flow_record",
    "encode_sample",
    "sampled_header",
]

# Spec string limits (bytes of UTF-8): port name ≤ 255, hostname ≤ 64, os_release ≤ 32.
MAX_PORT_NAME = 255
MAX_HOSTNAME = 64
MAX_OS_RELEASE = 32

# Compact forms (samples 0:1, 0:2): source id = type<<24 | index; interface = format<<30 | value.
_COMPACT_SOURCE_INDEX_LIMIT = 1 << 24
_COMPACT_SOURCE_TYPE_LIMIT = 1 << 8
_COMPACT_IF_VALUE_LIMIT = 1 << 30
_COMPACT_IF_FORMAT_LIMIT = 1 << 2

_PADS = (b"", b"\x00\x00\x00", b"\x00\x00", b"\x00")  # indexed by length & 3

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_U64 = struct.Struct(">Q")
_U32X2 = struct.Struct(">II")
_U32X3 = struct.Struct(">III")
_U32X4 = struct.Struct(">IIII")

# Tagged records: data_format, length, then the body (fixed bodies packed in one go).
_TAG_U32 = struct.Struct(">III")
_TAG_U64 = struct.Struct(">IIQ")
_SAMPLED_HEADER_HEAD = struct.Struct(">6I")  # tag, length, protocol, frame_length, stripped, n
_SAMPLED_ETHERNET = struct.Struct(">III6s2x6s2xI")
_SAMPLED_IPV4 = struct.Struct(">IIII4s4sIIII")
_SAMPLED_IPV6 = struct.Struct(">IIII16s16sIIII")
_EXTENDED_SWITCH = struct.Struct(">6I")
_IF_GENERIC = struct.Struct(">IIIIQIIQIIIIIIQIIIIII")
_ETHERNET = struct.Struct(">15I")
_VLAN = struct.Struct(">IIIQIIII")
_LAG = struct.Struct(">II6s2x6s2xIBBBB8I")
_SFP_HEAD = struct.Struct(">IIIIIiI")
_SFP_LANE = struct.Struct(">10I")
_PFC = struct.Struct(">7I")
_PROCESSOR = struct.Struct(">IIiiiQQ")

# Sample heads up to and including the record count, with the sample tag and a length placeholder.
_FLOW_COMPACT = struct.Struct(">10I")
_FLOW_EXPANDED = struct.Struct(">13I")
_COUNTER_COMPACT = struct.Struct(">5I")
_COUNTER_EXPANDED = struct.Struct(">6I")
_DROP = struct.Struct(">10I")

# Fixed body sizes (bytes after the tag and length words).
_LEN_SAMPLED_ETHERNET = _SAMPLED_ETHERNET.size - 8
_LEN_SAMPLED_IPV4 = _SAMPLED_IPV4.size - 8
_LEN_SAMPLED_IPV6 = _SAMPLED_IPV6.size - 8
_LEN_IF_GENERIC = _IF_GENERIC.size - 8
_LEN_ETHERNET = _ETHERNET.size - 8
_LEN_VLAN = _VLAN.size - 8
_LEN_LAG = _LAG.size - 8
_LEN_PFC = _PFC.size - 8
_LEN_PROCESSOR = _PROCESSOR.size - 8

_Writer = Callable[[bytearray, Any], None]  # appends one encoded record/sample to the buffer

_ADDRESS_UNKNOWN = b"\x00\x00\x00\x00"
_ADDRESS_IPV4 = b"\x00\x00\x00\x01"
_ADDRESS_IPV6 = b"\x00\x00\x00\x02"


def data_format(enterprise: int, fmt: int) -> int:
    """The u32 data_format tag: enterprise (20 bits) << 12 | format (12 bits)."""
    if not 0 <= enterprise < 1 << 20:
        raise ValueError(f"enterprise {enterprise} does not fit 20 bits")
    if not 0 <= fmt < 1 << 12:
        raise ValueError(f"format {fmt} does not fit 12 bits")
    return (enterprise << 12) | fmt


# ---------------------------------------------------------------------------------------------
# Small field encoders (return bytes; used by the record encoders below)


def _opaque(data: bytes) -> bytes:
    n = len(data)
    return _U32.pack(n) + data + _PADS[n & 3]


def _string(text: str, limit: int = MAX_STRING) -> bytes:
    raw = text.encode("utf-8")
    n = len(raw)
    if n > limit:
        raise ValueError(f"string of {n} bytes exceeds the limit of {limit}")
    return _U32.pack(n) + raw + _PADS[n & 3]


def _ipv4(text: str) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET, text)
    except OSError as exc:
        raise ValueError(f"not an IPv4 address: {text!r}") from exc


def _ipv6(text: str) -> bytes:
    try:
        return socket.inet_pton(socket.AF_INET6, text)
    except OSError as exc:
        raise ValueError(f"not an IPv6 address: {text!r}") from exc


def _address(text: str | None) -> bytes:
    """XDR ``address`` union: 0 unknown (None), 1 IPv4, 2 IPv6 (chosen by the text form)."""
    if text is None:
        return _ADDRESS_UNKNOWN
    if ":" in text:
        return _ADDRESS_IPV6 + _ipv6(text)
    return _ADDRESS_IPV4 + _ipv4(text)


def _mac(text: str) -> bytes:
    try:
        raw = bytes.fromhex(text.replace(":", "").replace("-", ""))
    except ValueError as exc:
        raise ValueError(f"not a MAC address: {text!r}") from exc
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    return raw


def _check_count(n: int, what: str, limit: int = MAX_ARRAY_ITEMS) -> None:
    if n > limit:
        raise ValueError(f"{n} {what} exceed the limit of {limit}")


def _count(n: int, what: str) -> bytes:
    _check_count(n, what)
    return _U32.pack(n)


def _tagged(buf: bytearray, tag: int, body: bytes) -> None:
    """Append data_format, length and body (padded; the pad is not counted)."""
    n = len(body)
    buf += _U32X2.pack(tag, n)
    buf += body
    buf += _PADS[n & 3]


# ---------------------------------------------------------------------------------------------
# Flow records: each appends its whole tagged record (data_format, length, body) to ``buf``.


def _w_sampled_header(buf: bytearray, r: rec.SampledHeader) -> None:
    header = r.header
    n = len(header)
    buf += _SAMPLED_HEADER_HEAD.pack(
        1, 16 + ((n + 3) & ~3), r.protocol, r.frame_length, r.stripped, n
    )
    buf += header
    buf += _PADS[n & 3]


def _w_sampled_ethernet(buf: bytearray, r: rec.SampledEthernet) -> None:
    buf += _SAMPLED_ETHERNET.pack(
        2, _LEN_SAMPLED_ETHERNET, r.length, _mac(r.src_mac), _mac(r.dst_mac), r.eth_type
    )


def _w_sampled_ipv4(buf: bytearray, r: rec.SampledIPv4) -> None:
    buf += _SAMPLED_IPV4.pack(
        3,
        _LEN_SAMPLED_IPV4,
        r.length,
        r.protocol,
        _ipv4(r.src_ip),
        _ipv4(r.dst_ip),
        r.src_port,
        r.dst_port,
        r.tcp_flags,
        r.tos,
    )


def _w_sampled_ipv6(buf: bytearray, r: rec.SampledIPv6) -> None:
    buf += _SAMPLED_IPV6.pack(
        4,
        _LEN_SAMPLED_IPV6,
        r.length,
        r.protocol,
        _ipv6(r.src_ip),
        _ipv6(r.dst_ip),
        r.src_port,
        r.dst_port,
        r.tcp_flags,
        r.priority,
    )


def _w_extended_switch(buf: bytearray, r: rec.ExtendedSwitch) -> None:
    buf += _EXTENDED_SWITCH.pack(1001, 16, r.src_vlan, r.src_priority, r.dst_vlan, r.dst_priority)


def _w_extended_router(buf: bytearray, r: rec.ExtendedRouter) -> None:
    _tagged(buf, 1002, _address(r.next_hop) + _U32X2.pack(r.src_mask_len, r.dst_mask_len))


def _w_extended_gateway(buf: bytearray, r: rec.ExtendedGateway) -> None:
    parts = [
        _address(r.next_hop),
        _U32X3.pack(r.as_number, r.src_as, r.src_peer_as),
        _count(len(r.as_path), "AS path segments"),
    ]
    for segment in r.as_path:
        n = len(segment.asns)
        parts.append(_U32.pack(segment.type) + _count(n, "ASNs"))
        parts.append(struct.pack(f">{n}I", *segment.asns))
    n = len(r.communities)
    parts.append(_count(n, "communities"))
    parts.append(struct.pack(f">{n}I", *r.communities))
    parts.append(_U32.pack(r.local_pref))
    _tagged(buf, 1003, b"".join(parts))


def _w_extended_egress_queue(buf: bytearray, r: rec.ExtendedEgressQueue) -> None:
    buf += _TAG_U32.pack(1036, 4, r.queue)


def _w_extended_acl(buf: bytearray, r: rec.ExtendedAcl) -> None:
    _tagged(buf, 1037, _U32.pack(r.number) + _string(r.name) + _U32.pack(r.direction))


def _w_extended_function(buf: bytearray, r: rec.ExtendedFunction) -> None:
    _tagged(buf, 1038, _string(r.symbol))


def _w_extended_transit(buf: bytearray, r: rec.ExtendedTransit) -> None:
    buf += _TAG_U32.pack(1039, 4, r.delay_ns)


def _w_extended_queue(buf: bytearray, r: rec.ExtendedQueue) -> None:
    buf += _TAG_U32.pack(1040, 4, r.depth_bytes)


def _w_extended_hw_trap(buf: bytearray, r: rec.ExtendedHwTrap) -> None:
    _tagged(buf, 1041, _string(r.group) + _string(r.trap))


def _w_extended_linux_drop_reason(buf: bytearray, r: rec.ExtendedLinuxDropReason) -> None:
    _tagged(buf, 1042, _string(r.reason))


def _w_extended_timestamp(buf: bytearray, r: rec.ExtendedTimestamp) -> None:
    buf += _TAG_U64.pack(1043, 8, r.nanoseconds)


def _w_raw_record(buf: bytearray, r: RawRecord) -> None:
    _tagged(buf, data_format(r.enterprise, r.format), r.data)


# ---------------------------------------------------------------------------------------------
# Counter records


def _w_generic_interface(buf: bytearray, r: rec.GenericInterfaceCounters) -> None:
    buf += _IF_GENERIC.pack(
        1,
        _LEN_IF_GENERIC,
        r.if_index,
        r.if_type,
        r.if_speed,
        r.if_direction,
        r.if_status,
        r.in_octets,
        r.in_ucast_pkts,
        r.in_multicast_pkts,
        r.in_broadcast_pkts,
        r.in_discards,
        r.in_errors,
        r.in_unknown_protos,
        r.out_octets,
        r.out_ucast_pkts,
        r.out_multicast_pkts,
        r.out_broadcast_pkts,
        r.out_discards,
        r.out_errors,
        r.promiscuous_mode,
    )


def _w_ethernet(buf: bytearray, r: rec.EthernetCounters) -> None:
    buf += _ETHERNET.pack(
        2,
        _LEN_ETHERNET,
        r.alignment_errors,
        r.fcs_errors,
        r.single_collision_frames,
        r.multiple_collision_frames,
        r.sqe_test_errors,
        r.deferred_transmissions,
        r.late_collisions,
        r.excessive_collisions,
        r.internal_mac_transmit_errors,
        r.carrier_sense_errors,
        r.frame_too_longs,
        r.internal_mac_receive_errors,
        r.symbol_errors,
    )


def _w_vlan(buf: bytearray, r: rec.VlanCounters) -> None:
    buf += _VLAN.pack(
        5,
        _LEN_VLAN,
        r.vlan_id,
        r.octets,
        r.ucast_pkts,
        r.multicast_pkts,
        r.broadcast_pkts,
        r.discards,
    )


def _w_lag(buf: bytearray, r: rec.LagPortStats) -> None:
    buf += _LAG.pack(
        7,
        _LEN_LAG,
        _mac(r.actor_system_id),
        _mac(r.partner_system_id),
        r.attached_agg_id,
        r.actor_admin_state,
        r.actor_oper_state,
        r.partner_admin_state,
        r.partner_oper_state,
        r.lacpdus_rx,
        r.marker_pdus_rx,
        r.marker_response_pdus_rx,
        r.unknown_rx,
        r.illegal_rx,
        r.lacpdus_tx,
        r.marker_pdus_tx,
        r.marker_response_pdus_tx,
    )


def _w_sfp(buf: bytearray, r: rec.SfpCounters) -> None:
    lanes = r.lanes
    n = len(lanes)
    _check_count(n, "SFP lanes")
    buf += _SFP_HEAD.pack(
        10,
        _SFP_HEAD.size - 8 + n * _SFP_LANE.size,
        r.module_id,
        r.module_total_lanes,
        r.supply_voltage_mv,
        r.temperature_mc,
        n,
    )
    for lane in lanes:
        buf += _SFP_LANE.pack(
            lane.index,
            lane.tx_bias_current_ua,
            lane.tx_power_uw,
            lane.tx_power_min_uw,
            lane.tx_power_max_uw,
            lane.tx_wavelength_nm,
            lane.rx_power_uw,
            lane.rx_power_min_uw,
            lane.rx_power_max_uw,
            lane.rx_wavelength_nm,
        )


def _w_pfc(buf: bytearray, r: rec.PfcCounters) -> None:
    buf += _PFC.pack(
        11,
        _LEN_PFC,
        r.requests,
        r.indications,
        r.pause_duration_us,
        r.storm_detected,
        r.storm_restored,
    )


def _w_processor(buf: bytearray, r: rec.ProcessorCounters) -> None:
    buf += _PROCESSOR.pack(
        1001,
        _LEN_PROCESSOR,
        r.cpu_5s,
        r.cpu_1m,
        r.cpu_5m,
        r.total_memory,
        r.free_memory,
    )


def _w_port_name(buf: bytearray, r: rec.PortName) -> None:
    _tagged(buf, 1005, _string(r.name, MAX_PORT_NAME))


def _w_host_description(buf: bytearray, r: rec.HostDescription) -> None:
    # uuid: 16 fixed bytes, no length word (what agents and sflowtool do; see decoders.parse).
    _tagged(
        buf,
        2000,
        _string(r.hostname, MAX_HOSTNAME)
        + uuid.UUID(r.uuid).bytes
        + _U32X2.pack(r.machine_type, r.os_name)
        + _string(r.os_release, MAX_OS_RELEASE),
    )


def _w_host_adapters(buf: bytearray, r: rec.HostAdapters) -> None:
    parts = [_count(len(r.adapters), "adapters")]
    for adapter in r.adapters:
        parts.append(_U32.pack(adapter.if_index) + _count(len(adapter.macs), "MACs"))
        parts.extend(_mac(mac) + b"\x00\x00" for mac in adapter.macs)
    _tagged(buf, 2001, b"".join(parts))


# Each table covers exactly its kind of the registry in decoders.records (checked at import);
# RawRecord is never registered: it re-encodes under its own enterprise:format.
_FLOW_WRITERS: dict[type[Any], _Writer] = {
    **registered(
        "flow",
        {
            rec.SampledHeader: _w_sampled_header,
            rec.SampledEthernet: _w_sampled_ethernet,
            rec.SampledIPv4: _w_sampled_ipv4,
            rec.SampledIPv6: _w_sampled_ipv6,
            rec.ExtendedSwitch: _w_extended_switch,
            rec.ExtendedRouter: _w_extended_router,
            rec.ExtendedGateway: _w_extended_gateway,
            rec.ExtendedEgressQueue: _w_extended_egress_queue,
            rec.ExtendedAcl: _w_extended_acl,
            rec.ExtendedFunction: _w_extended_function,
            rec.ExtendedTransit: _w_extended_transit,
            rec.ExtendedQueue: _w_extended_queue,
            rec.ExtendedHwTrap: _w_extended_hw_trap,
            rec.ExtendedLinuxDropReason: _w_extended_linux_drop_reason,
            rec.ExtendedTimestamp: _w_extended_timestamp,
        },
    ),
    RawRecord: _w_raw_record,
}

_COUNTER_WRITERS: dict[type[Any], _Writer] = {
    **registered(
        "counter",
        {
            rec.GenericInterfaceCounters: _w_generic_interface,
            rec.EthernetCounters: _w_ethernet,
            rec.VlanCounters: _w_vlan,
            rec.LagPortStats: _w_lag,
            rec.SfpCounters: _w_sfp,
            rec.PfcCounters: _w_pfc,
            rec.ProcessorCounters: _w_processor,
            rec.PortName: _w_port_name,
            rec.HostDescription: _w_host_description,
            rec.HostAdapters: _w_host_adapters,
        },
    ),
    RawRecord: _w_raw_record,
}


def _writer(table: dict[type[Any], _Writer], r: object, kind: str) -> _Writer:
    try:
        return table[type(r)]
    except KeyError:
        raise TypeError(f"cannot encode {type(r).__name__} as a {kind} record") from None


# ---------------------------------------------------------------------------------------------
# Samples: each appends sample tag, length (back-patched), head, record count and records.


def _w_records(
    buf: bytearray,
    records: tuple[Any, ...],
    table: dict[type[Any], _Writer],
    kind: str,
) -> None:
    for r in records:
        writer = table.get(type(r))
        if writer is None:
            writer = _writer(table, r, kind)
        writer(buf, r)


def _check_records(n: int) -> None:
    _check_count(n, "records in one sample", MAX_RECORDS_PER_SAMPLE)


def _compact_source(type_: int, index: int) -> int:
    if not 0 <= index < _COMPACT_SOURCE_INDEX_LIMIT:
        raise ValueError(f"source index {index} needs the expanded form (compact: < 2^24)")
    if not 0 <= type_ < _COMPACT_SOURCE_TYPE_LIMIT:
        raise ValueError(f"source type {type_} does not fit the compact form (< 256)")
    return (type_ << 24) | index


def _compact_interface(format_: int, value: int) -> int:
    if not 0 <= value < _COMPACT_IF_VALUE_LIMIT:
        raise ValueError(f"interface value {value} needs the expanded form (compact: < 2^30)")
    if not 0 <= format_ < _COMPACT_IF_FORMAT_LIMIT:
        raise ValueError(f"interface format {format_} does not fit the compact form (< 4)")
    return (format_ << 30) | value


def _w_flow_sample(buf: bytearray, s: FlowSample) -> None:
    mark = len(buf)
    records = s.records
    n = len(records)
    if n > MAX_RECORDS_PER_SAMPLE:
        _check_records(n)
    source, inp, out = s.source, s.input, s.output
    if s.expanded:
        buf += _FLOW_EXPANDED.pack(
            3,
            0,
            s.sequence,
            source.type,
            source.index,
            s.sampling_rate,
            s.sample_pool,
            s.drops,
            inp.format,
            inp.value,
            out.format,
            out.value,
            n,
        )
    else:
        buf += _FLOW_COMPACT.pack(
            1,
            0,
            s.sequence,
            _compact_source(source.type, source.index),
            s.sampling_rate,
            s.sample_pool,
            s.drops,
            _compact_interface(inp.format, inp.value),
            _compact_interface(out.format, out.value),
            n,
        )
    flow_writers = _FLOW_WRITERS
    for r in records:
        writer = flow_writers.get(type(r))
        if writer is None:
            writer = _writer(flow_writers, r, "flow")
        writer(buf, r)
    _U32.pack_into(buf, mark + 4, len(buf) - mark - 8)


def _w_counter_sample(buf: bytearray, s: CounterSample) -> None:
    mark = len(buf)
    n = len(s.records)
    _check_records(n)
    source = s.source
    if s.expanded:
        buf += _COUNTER_EXPANDED.pack(4, 0, s.sequence, source.type, source.index, n)
    else:
        buf += _COUNTER_COMPACT.pack(
            2, 0, s.sequence, _compact_source(source.type, source.index), n
        )
    _w_records(buf, s.records, _COUNTER_WRITERS, "counter")
    _U32.pack_into(buf, mark + 4, len(buf) - mark - 8)


def _w_drop_sample(buf: bytearray, s: DropSample) -> None:
    if not s.expanded:
        raise ValueError("drop samples (0:5) exist only in the expanded form")
    mark = len(buf)
    n = len(s.records)
    _check_records(n)
    buf += _DROP.pack(
        5,
        0,
        s.sequence,
        s.source.type,
        s.source.index,
        s.drops,
        s.input_ifindex,
        s.output_ifindex,
        s.reason,
        n,
    )
    _w_records(buf, s.records, _FLOW_WRITERS, "flow")
    _U32.pack_into(buf, mark + 4, len(buf) - mark - 8)


def _w_raw_sample(buf: bytearray, s: RawSample) -> None:
    _tagged(buf, data_format(s.enterprise, s.format), s.data)


_SAMPLE_WRITERS: dict[type[Any], _Writer] = {
    FlowSample: _w_flow_sample,
    CounterSample: _w_counter_sample,
    DropSample: _w_drop_sample,
    RawSample: _w_raw_sample,
}


def _w_sample(buf: bytearray, s: object) -> None:
    writer = _SAMPLE_WRITERS.get(type(s))
    if writer is None:
        raise TypeError(f"cannot encode {type(s).__name__} as a sample")
    writer(buf, s)


def _w_datagram_header(
    buf: bytearray,
    agent: str | None,
    agent_address_type: int,
    sub_agent: int,
    sequence: int,
    uptime_ms: int,
    num_samples: int,
) -> None:
    if num_samples > MAX_SAMPLES_PER_DATAGRAM:
        raise ValueError(f"{num_samples} samples exceed the limit of {MAX_SAMPLES_PER_DATAGRAM}")
    if agent_address_type == 1 and agent is not None:
        address = _ADDRESS_IPV4 + _ipv4(agent)
    elif agent_address_type == 2 and agent is not None:
        address = _ADDRESS_IPV6 + _ipv6(agent)
    elif agent_address_type == 0 and agent is None:
        address = _ADDRESS_UNKNOWN
    else:
        raise ValueError(f"agent {agent!r} does not match address type {agent_address_type}")
    buf += b"\x00\x00\x00\x05"
    buf += address
    buf += _U32X4.pack(sub_agent, sequence, uptime_ms, num_samples)


# ---------------------------------------------------------------------------------------------
# Public API


class XdrWriter:
    """Append-only XDR writer over one ``bytearray`` (big-endian, 4-byte aligned)."""

    __slots__ = ("buf",)

    def __init__(self) -> None:
        """Start with an empty buffer."""
        self.buf = bytearray()

    def __len__(self) -> int:
        """Bytes written so far."""
        return len(self.buf)

    def getvalue(self) -> bytes:
        """The bytes written so far."""
        return bytes(self.buf)

    def clear(self) -> None:
        """Forget everything written (reuse the writer)."""
        self.buf.clear()

    def u32(self, value: int) -> None:
        """Append an unsigned 32-bit integer."""
        try:
            self.buf += _U32.pack(value)
        except struct.error as exc:
            raise ValueError(f"u32 out of range: {value}") from exc

    def i32(self, value: int) -> None:
        """Append a signed 32-bit integer."""
        try:
            self.buf += _I32.pack(value)
        except struct.error as exc:
            raise ValueError(f"i32 out of range: {value}") from exc

    def u64(self, value: int) -> None:
        """Append an unsigned 64-bit integer (XDR unsigned hyper)."""
        try:
            self.buf += _U64.pack(value)
        except struct.error as exc:
            raise ValueError(f"u64 out of range: {value}") from exc

    def opaque(self, data: bytes) -> None:
        """Append a variable opaque: length, bytes, zero pad (pad not counted in the length)."""
        self.buf += _opaque(data)

    def string(self, text: str, limit: int = MAX_STRING) -> None:
        """Append a UTF-8 string like an opaque; ``ValueError`` when longer than ``limit`` bytes."""
        self.buf += _string(text, limit)

    def fixed(self, data: bytes) -> None:
        """Append a fixed-size opaque: the bytes then zero pad to 4 (no length word)."""
        self.buf += data
        self.buf += _PADS[len(data) & 3]

    def address(self, text: str | None) -> None:
        """Append an XDR address union: None → unknown, dotted quad → IPv4, else IPv6."""
        self.buf += _address(text)

    def begin_tagged(self, tag: int) -> int:
        """Start a tagged container (data_format, length placeholder); returns its mark."""
        mark = len(self.buf)
        try:
            self.buf += _U32X2.pack(tag, 0)
        except struct.error as exc:
            raise ValueError(f"data_format out of range: {tag}") from exc
        return mark

    def end_tagged(self, mark: int) -> None:
        """Pad the container started at ``mark`` to 4 bytes and back-patch its length."""
        n = len(self.buf) - mark - 8
        self.buf += _PADS[n & 3]
        _U32.pack_into(self.buf, mark + 4, n)

    @contextmanager
    def tagged(self, tag: int) -> Iterator[None]:
        """Context manager around ``begin_tagged``/``end_tagged`` for one tagged container."""
        mark = self.begin_tagged(tag)
        yield
        self.end_tagged(mark)

    def datagram_header(
        self,
        agent: str | None,
        agent_address_type: int,
        sub_agent: int,
        sequence: int,
        uptime_ms: int,
        num_samples: int,
    ) -> None:
        """Append a v5 datagram header; ``num_samples`` sample records must follow."""
        try:
            _w_datagram_header(
                self.buf, agent, agent_address_type, sub_agent, sequence, uptime_ms, num_samples
            )
        except struct.error as exc:
            raise ValueError(f"datagram header: {exc}") from exc

    def sample(self, s: Sample) -> None:
        """Append one encoded sample record (tag, length, body)."""
        mark = len(self.buf)
        try:
            _w_sample(self.buf, s)
        except struct.error as exc:
            del self.buf[mark:]
            raise ValueError(f"{type(s).__name__}: {exc}") from exc
        except Exception:
            del self.buf[mark:]
            raise

    def flow_record(self, r: FlowRecord) -> None:
        """Append one encoded flow record (tag, length, body)."""
        self._record(_FLOW_WRITERS, r, "flow")

    def counter_record(self, r: CounterRecord) -> None:
        """Append one encoded counter record (tag, length, body)."""
        self._record(_COUNTER_WRITERS, r, "counter")

    def _record(self, table: dict[type[Any], _Writer], r: object, kind: str) -> None:
        mark = len(self.buf)
        try:
            _writer(table, r, kind)(self.buf, r)
        except struct.error as exc:
            del self.buf[mark:]
            raise ValueError(f"{type(r).__name__}: {exc}") from exc
        except Exception:
            del self.buf[mark:]
            raise


def encode_flow_record(r: FlowRecord) -> bytes:
    """One flow record as XDR: data_format, length, body (padded)."""
    w = XdrWriter()
    w.flow_record(r)
    return bytes(w.buf)


def encode_counter_record(r: CounterRecord) -> bytes:
    """One counter record as XDR: data_format, length, body (padded)."""
    w = XdrWriter()
    w.counter_record(r)
    return bytes(w.buf)


def encode_sample(s: Sample) -> bytes:
    """One sample record as XDR: data_format, length, body (compact/expanded per ``expanded``)."""
    buf = bytearray()
    try:
        _w_sample(buf, s)
    except struct.error as exc:
        raise ValueError(f"{type(s).__name__}: {exc}") from exc
    return bytes(buf)


def encode_datagram(d: Datagram) -> bytes:
    """A whole sFlow v5 datagram; ``decode_datagram`` of the result gives back ``d``."""
    if d.version != 5:
        raise ValueError(f"only sFlow version 5 can be encoded, not {d.version}")
    buf = bytearray()
    try:
        _w_datagram_header(
            buf,
            d.agent,
            d.agent_address_type,
            d.sub_agent,
            d.sequence,
            d.uptime_ms,
            len(d.samples),
        )
        for s in d.samples:
            _w_sample(buf, s)
    except struct.error as exc:
        raise ValueError(f"datagram: {exc}") from exc
    return bytes(buf)


def sampled_header(
    protocol: int, frame_length: int, stripped: int, header: bytes
) -> rec.SampledHeader:
    """A SampledHeader record with ``packet`` filled by ``parse_packet`` (as the decoder does)."""
    header = bytes(header)
    return rec.SampledHeader(
        protocol, frame_length, stripped, header, parse_packet(protocol, header)
    )

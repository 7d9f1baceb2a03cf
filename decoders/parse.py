"""sFlow v5 datagram decoder: bytes → frozen records from ``decoders.records``.

Strict framing, tolerant contents: every length is checked against the enclosing bound before
anything is read or allocated, and a framing violation raises ``DecodeError`` for the whole
datagram. Unknown samples and records are kept raw; a known record whose body does not fit its
layout is kept as a ``RawRecord`` carrying the error, so good records around it survive.
Layouts: sflow_version_5.txt §5, sflow_drops.txt, sflow_transit.txt, sflow_host.txt.
"""

from __future__ import annotations

import socket
import struct
import uuid
from collections.abc import Callable
from typing import TypeVar

from decoders.errors import DecodeError
from decoders.packet import parse_packet
from decoders.records import (
    AsPathSegment,
    CounterRecord,
    CounterSample,
    Datagram,
    DataSource,
    DropSample,
    EthernetCounters,
    ExtendedAcl,
    ExtendedEgressQueue,
    ExtendedFunction,
    ExtendedGateway,
    ExtendedHwTrap,
    ExtendedLinuxDropReason,
    ExtendedQueue,
    ExtendedRouter,
    ExtendedSwitch,
    ExtendedTimestamp,
    ExtendedTransit,
    FlowRecord,
    FlowSample,
    GenericInterfaceCounters,
    HostAdapter,
    HostAdapters,
    HostDescription,
    Interface,
    LagPortStats,
    PfcCounters,
    PortName,
    ProcessorCounters,
    RawRecord,
    RawSample,
    Sample,
    SampledEthernet,
    SampledHeader,
    SampledIPv4,
    SampledIPv6,
    SfpCounters,
    SfpLane,
    VlanCounters,
    by_data_format,
)

SFLOW_VERSION = 5
# sflow_version_5.txt: address type 0 unknown, 1 IPv4, 2 IPv6.
ADDRESS_UNKNOWN, ADDRESS_IPV4, ADDRESS_IPV6 = 0, 1, 2

# Hard caps, checked before allocating; the per-item minimum sizes below already bound counts by
# the bytes present, these catch absurd-but-fitting values in huge (jumbo/loopback) datagrams.
MAX_SAMPLES_PER_DATAGRAM = 4096
MAX_RECORDS_PER_SAMPLE = 1024
MAX_ARRAY_ITEMS = 4096
# String limits from the specs (port name ≤ 255, hostname ≤ 64, os_release ≤ 32, …); others 1024.
MAX_STRING = 1024

_U32 = struct.Struct(">I")
_I32 = struct.Struct(">i")
_U64 = struct.Struct(">Q")
_U32X2 = struct.Struct(">II")
_U32X3 = struct.Struct(">III")
_U32X4 = struct.Struct(">IIII")
_HDR_V4 = struct.Struct(">II4sIII")  # addr type, addr, sub-agent, seq, uptime (after version)
_FLOW_COMPACT = struct.Struct(">IIIIIIII")
_FLOW_EXPANDED = struct.Struct(">IIIIIIIIIII")
_DROP = struct.Struct(">IIIIIIII")
_IF_GENERIC = struct.Struct(">IIQIIQIIIIIIQIIIIII")
_ETHERNET = struct.Struct(">13I")
_VLAN = struct.Struct(">IQIIII")
_LAG = struct.Struct(">6s2x6s2xIBBBB8I")
_SFP_HEAD = struct.Struct(">IIIiI")
_SFP_LANE = struct.Struct(">10I")
_PFC = struct.Struct(">5I")
_PROCESSOR = struct.Struct(">iiiQQ")
_SAMPLED_ETHERNET = struct.Struct(">I6s2x6s2xI")
_SAMPLED_IPV4 = struct.Struct(">II4s4sIIII")
_SAMPLED_IPV6 = struct.Struct(">II16s16sIIII")


R = TypeVar("R")


class _BadRecord(Exception):
    """A known record whose body does not fit its layout (kept raw, never escapes)."""


def _ipv4(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET, raw)


def _ipv6(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, raw)


def _mac(raw: bytes) -> str:
    return raw.hex(":")


def _padded(n: int) -> int:
    return (n + 3) & ~3


# ---------------------------------------------------------------------------------------------
# Record body helpers: (buf, off, end) → value, new offset; raise _BadRecord on overrun.


def _need(off: int, n: int, end: int) -> None:
    if off + n > end:
        raise _BadRecord("record_truncated")


def _u32(buf: bytes, off: int, end: int) -> int:
    _need(off, 4, end)
    return int(_U32.unpack_from(buf, off)[0])


def _string(buf: bytes, off: int, end: int, limit: int = MAX_STRING) -> tuple[str, int]:
    """XDR string<>: length, bytes, zero pad (pad tolerated when the record ends first)."""
    n = _u32(buf, off, end)
    off += 4
    if n > limit:
        raise _BadRecord("string_too_long")
    _need(off, n, end)
    text = buf[off : off + n].decode("utf-8", "replace")
    return text, min(off + _padded(n), end)


def _address(buf: bytes, off: int, end: int) -> tuple[str | None, int]:
    kind = _u32(buf, off, end)
    off += 4
    if kind == ADDRESS_IPV4:
        _need(off, 4, end)
        return _ipv4(buf[off : off + 4]), off + 4
    if kind == ADDRESS_IPV6:
        _need(off, 16, end)
        return _ipv6(buf[off : off + 16]), off + 16
    if kind == ADDRESS_UNKNOWN:
        return None, off
    raise _BadRecord("bad_address_type")


def _array_count(buf: bytes, off: int, end: int, item_size: int) -> int:
    n = _u32(buf, off, end)
    if n > MAX_ARRAY_ITEMS or n * item_size > end - off - 4:
        raise _BadRecord("array_too_long")
    return n


# ---------------------------------------------------------------------------------------------
# Flow records


def _sampled_header(buf: bytes, off: int, end: int) -> SampledHeader:
    _need(off, 16, end)
    protocol, frame_length, stripped, n = _U32X4.unpack_from(buf, off)
    off += 16
    _need(off, n, end)
    header = buf[off : off + n]
    return SampledHeader(protocol, frame_length, stripped, header, parse_packet(protocol, header))


def _sampled_ethernet(buf: bytes, off: int, end: int) -> SampledEthernet:
    _need(off, _SAMPLED_ETHERNET.size, end)
    length, src, dst, eth_type = _SAMPLED_ETHERNET.unpack_from(buf, off)
    return SampledEthernet(length, _mac(src), _mac(dst), eth_type)


def _sampled_ipv4(buf: bytes, off: int, end: int) -> SampledIPv4:
    _need(off, _SAMPLED_IPV4.size, end)
    length, proto, src, dst, sport, dport, flags, tos = _SAMPLED_IPV4.unpack_from(buf, off)
    return SampledIPv4(length, proto, _ipv4(src), _ipv4(dst), sport, dport, flags, tos)


def _sampled_ipv6(buf: bytes, off: int, end: int) -> SampledIPv6:
    _need(off, _SAMPLED_IPV6.size, end)
    length, proto, src, dst, sport, dport, flags, prio = _SAMPLED_IPV6.unpack_from(buf, off)
    return SampledIPv6(length, proto, _ipv6(src), _ipv6(dst), sport, dport, flags, prio)


def _extended_switch(buf: bytes, off: int, end: int) -> ExtendedSwitch:
    _need(off, 16, end)
    return ExtendedSwitch(*_U32X4.unpack_from(buf, off))


def _extended_router(buf: bytes, off: int, end: int) -> ExtendedRouter:
    next_hop, off = _address(buf, off, end)
    _need(off, 8, end)
    src_mask, dst_mask = _U32X2.unpack_from(buf, off)
    return ExtendedRouter(next_hop, src_mask, dst_mask)


def _extended_gateway(buf: bytes, off: int, end: int) -> ExtendedGateway:
    next_hop, off = _address(buf, off, end)
    _need(off, 12, end)
    as_number, src_as, src_peer_as = _U32X3.unpack_from(buf, off)
    off += 12
    segments = []
    for _ in range(_array_count(buf, off, end, 8)):
        off += 4
        seg_type = _u32(buf, off, end)
        n = _array_count(buf, off + 4, end, 4)
        off += 8
        segments.append(AsPathSegment(seg_type, struct.unpack_from(f">{n}I", buf, off)))
        off += 4 * n - 4
    off += 4
    n = _array_count(buf, off, end, 4)
    off += 4
    communities = struct.unpack_from(f">{n}I", buf, off)
    off += 4 * n
    local_pref = _u32(buf, off, end)
    return ExtendedGateway(
        next_hop, as_number, src_as, src_peer_as, tuple(segments), communities, local_pref
    )


def _extended_egress_queue(buf: bytes, off: int, end: int) -> ExtendedEgressQueue:
    return ExtendedEgressQueue(_u32(buf, off, end))


def _extended_acl(buf: bytes, off: int, end: int) -> ExtendedAcl:
    number = _u32(buf, off, end)
    name, off = _string(buf, off + 4, end)
    return ExtendedAcl(number, name, _u32(buf, off, end))


def _extended_function(buf: bytes, off: int, end: int) -> ExtendedFunction:
    return ExtendedFunction(_string(buf, off, end)[0])


def _extended_transit(buf: bytes, off: int, end: int) -> ExtendedTransit:
    return ExtendedTransit(_u32(buf, off, end))


def _extended_queue(buf: bytes, off: int, end: int) -> ExtendedQueue:
    return ExtendedQueue(_u32(buf, off, end))


def _extended_hw_trap(buf: bytes, off: int, end: int) -> ExtendedHwTrap:
    group, off = _string(buf, off, end)
    return ExtendedHwTrap(group, _string(buf, off, end)[0])


def _extended_linux_drop_reason(buf: bytes, off: int, end: int) -> ExtendedLinuxDropReason:
    return ExtendedLinuxDropReason(_string(buf, off, end)[0])


def _extended_timestamp(buf: bytes, off: int, end: int) -> ExtendedTimestamp:
    _need(off, 8, end)
    return ExtendedTimestamp(int(_U64.unpack_from(buf, off)[0]))


# Keyed by the data_format word (enterprise << 12 | format) that the registry in
# decoders.records gives each class; by_data_format fails at import if one is missing.
FLOW_RECORD_PARSERS: dict[int, Callable[[bytes, int, int], FlowRecord]] = by_data_format(
    "flow",
    {
        SampledHeader: _sampled_header,
        SampledEthernet: _sampled_ethernet,
        SampledIPv4: _sampled_ipv4,
        SampledIPv6: _sampled_ipv6,
        ExtendedSwitch: _extended_switch,
        ExtendedRouter: _extended_router,
        ExtendedGateway: _extended_gateway,
        ExtendedEgressQueue: _extended_egress_queue,
        ExtendedAcl: _extended_acl,
        ExtendedFunction: _extended_function,
        ExtendedTransit: _extended_transit,
        ExtendedQueue: _extended_queue,
        ExtendedHwTrap: _extended_hw_trap,
        ExtendedLinuxDropReason: _extended_linux_drop_reason,
        ExtendedTimestamp: _extended_timestamp,
    },
)


# ---------------------------------------------------------------------------------------------
# Counter records


def _generic_interface(buf: bytes, off: int, end: int) -> GenericInterfaceCounters:
    _need(off, _IF_GENERIC.size, end)
    return GenericInterfaceCounters(*_IF_GENERIC.unpack_from(buf, off))


def _ethernet(buf: bytes, off: int, end: int) -> EthernetCounters:
    _need(off, _ETHERNET.size, end)
    return EthernetCounters(*_ETHERNET.unpack_from(buf, off))


def _vlan(buf: bytes, off: int, end: int) -> VlanCounters:
    _need(off, _VLAN.size, end)
    return VlanCounters(*_VLAN.unpack_from(buf, off))


def _lag(buf: bytes, off: int, end: int) -> LagPortStats:
    _need(off, _LAG.size, end)
    actor, partner, *rest = _LAG.unpack_from(buf, off)
    return LagPortStats(_mac(actor), _mac(partner), *rest)


def _sfp(buf: bytes, off: int, end: int) -> SfpCounters:
    _need(off, _SFP_HEAD.size, end)
    module_id, total_lanes, voltage, temperature, _ = _SFP_HEAD.unpack_from(buf, off)
    off += _SFP_HEAD.size - 4
    n = _array_count(buf, off, end, _SFP_LANE.size)
    off += 4
    lanes = tuple(SfpLane(*_SFP_LANE.unpack_from(buf, off + i * _SFP_LANE.size)) for i in range(n))
    return SfpCounters(module_id, total_lanes, voltage, temperature, lanes)


def _pfc(buf: bytes, off: int, end: int) -> PfcCounters:
    _need(off, _PFC.size, end)
    return PfcCounters(*_PFC.unpack_from(buf, off))


def _processor(buf: bytes, off: int, end: int) -> ProcessorCounters:
    _need(off, _PROCESSOR.size, end)
    return ProcessorCounters(*_PROCESSOR.unpack_from(buf, off))


def _port_name(buf: bytes, off: int, end: int) -> PortName:
    return PortName(_string(buf, off, end, 255)[0])


def _host_description(buf: bytes, off: int, end: int) -> HostDescription:
    hostname, off = _string(buf, off, end, 64)
    # The spec text says uuid<16>, but agents and sflowtool send 16 fixed bytes, no length word.
    _need(off, 16 + 8, end)
    host_uuid = str(uuid.UUID(bytes=buf[off : off + 16]))
    machine_type, os_name = _U32X2.unpack_from(buf, off + 16)
    os_release, _ = _string(buf, off + 24, end, 32)
    return HostDescription(hostname, host_uuid, machine_type, os_name, os_release)


def _host_adapters(buf: bytes, off: int, end: int) -> HostAdapters:
    adapters = []
    for _ in range(_array_count(buf, off, end, 8)):
        off += 4
        if_index = _u32(buf, off, end)
        n = _array_count(buf, off + 4, end, 8)
        off += 8
        macs = tuple(_mac(buf[off + 8 * i : off + 8 * i + 6]) for i in range(n))
        adapters.append(HostAdapter(if_index, macs))
        off += 8 * n - 4
    return HostAdapters(tuple(adapters))


# Keyed like FLOW_RECORD_PARSERS, from the counter half of the registry.
COUNTER_RECORD_PARSERS: dict[int, Callable[[bytes, int, int], CounterRecord]] = by_data_format(
    "counter",
    {
        GenericInterfaceCounters: _generic_interface,
        EthernetCounters: _ethernet,
        VlanCounters: _vlan,
        LagPortStats: _lag,
        SfpCounters: _sfp,
        PfcCounters: _pfc,
        ProcessorCounters: _processor,
        PortName: _port_name,
        HostDescription: _host_description,
        HostAdapters: _host_adapters,
    },
)


# ---------------------------------------------------------------------------------------------
# Framing: records, samples, datagram


def _records(
    buf: bytes,
    off: int,
    end: int,
    parsers: dict[int, Callable[[bytes, int, int], R]],
    path: str,
) -> tuple[R | RawRecord, ...]:
    """Walk ``count`` tagged records (data_format, opaque body) that must fit before ``end``."""
    if off + 4 > end:
        raise DecodeError("truncated", off, f"{path}/record_count")
    count = _U32.unpack_from(buf, off)[0]
    off += 4
    if count > MAX_RECORDS_PER_SAMPLE or count * 8 > end - off:
        raise DecodeError("record_count_exceeds_data", off - 4, path)
    out: list[R | RawRecord] = []
    for i in range(count):
        if off + 8 > end:
            raise DecodeError("truncated", off, f"{path}/record[{i}]")
        data_format, length = _U32X2.unpack_from(buf, off)
        body = off + 8
        if length > end - body:
            raise DecodeError("record_length_overrun", off, f"{path}/record[{i}]")
        body_end = body + length
        parser = parsers.get(data_format)
        if parser is None:
            out.append(RawRecord(data_format >> 12, data_format & 0xFFF, buf[body:body_end]))
        else:
            try:
                out.append(parser(buf, body, body_end))
            except (_BadRecord, struct.error, ValueError) as exc:
                reason = str(exc) if isinstance(exc, _BadRecord) else "record_malformed"
                raw = buf[body:body_end]
                out.append(RawRecord(data_format >> 12, data_format & 0xFFF, raw, reason))
        # Bodies are XDR opaques: skip the pad, tolerating agents that leave it out at the end.
        off = min(body + _padded(length), end)
    return tuple(out)


def _flow_sample(buf: bytes, off: int, end: int, expanded: bool, path: str) -> FlowSample:
    layout = _FLOW_EXPANDED if expanded else _FLOW_COMPACT
    if off + layout.size > end:
        raise DecodeError("truncated", off, path)
    if expanded:
        (seq, src_type, src_index, rate, pool, drops, in_fmt, in_val, out_fmt, out_val, _) = (
            _FLOW_EXPANDED.unpack_from(buf, off)
        )
    else:
        seq, source_id, rate, pool, drops, in_word, out_word, _ = _FLOW_COMPACT.unpack_from(
            buf, off
        )
        src_type, src_index = source_id >> 24, source_id & 0xFFFFFF
        in_fmt, in_val = in_word >> 30, in_word & 0x3FFFFFFF
        out_fmt, out_val = out_word >> 30, out_word & 0x3FFFFFFF
    records = _records(buf, off + layout.size - 4, end, FLOW_RECORD_PARSERS, path)
    return FlowSample(
        expanded,
        seq,
        DataSource(src_type, src_index),
        rate,
        pool,
        drops,
        Interface(in_fmt, in_val),
        Interface(out_fmt, out_val),
        records,
    )


def _counter_sample(buf: bytes, off: int, end: int, expanded: bool, path: str) -> CounterSample:
    size = 16 if expanded else 12
    if off + size > end:
        raise DecodeError("truncated", off, path)
    if expanded:
        seq, src_type, src_index = _U32X3.unpack_from(buf, off)
    else:
        seq, source_id = _U32X2.unpack_from(buf, off)
        src_type, src_index = source_id >> 24, source_id & 0xFFFFFF
    records = _records(buf, off + size - 4, end, COUNTER_RECORD_PARSERS, path)
    return CounterSample(expanded, seq, DataSource(src_type, src_index), records)


def _drop_sample(buf: bytes, off: int, end: int, path: str) -> DropSample:
    if off + _DROP.size > end:
        raise DecodeError("truncated", off, path)
    seq, src_type, src_index, drops, in_if, out_if, reason, _ = _DROP.unpack_from(buf, off)
    records = _records(buf, off + _DROP.size - 4, end, FLOW_RECORD_PARSERS, path)
    return DropSample(
        True, seq, DataSource(src_type, src_index), drops, in_if, out_if, reason, records
    )


def _sample(buf: bytes, body: int, body_end: int, data_format: int, path: str) -> Sample:
    enterprise, fmt = data_format >> 12, data_format & 0xFFF
    if enterprise != 0 or fmt not in (1, 2, 3, 4, 5):
        return RawSample(enterprise, fmt, buf[body:body_end])
    if fmt == 1 or fmt == 3:
        return _flow_sample(buf, body, body_end, fmt == 3, path)
    if fmt == 2 or fmt == 4:
        return _counter_sample(buf, body, body_end, fmt == 4, path)
    return _drop_sample(buf, body, body_end, path)


def decode_sample(buf: bytes, offset: int, length: int, data_format: int, index: int = 0) -> Sample:
    """Decode one sample body found by a scan of ``buf`` (e.g. the fast path); same errors."""
    if offset < 0 or length < 0 or offset + length > len(buf):
        raise DecodeError("sample_length_overrun", offset, f"sample[{index}]")
    try:
        return _sample(buf, offset, offset + length, data_format, f"sample[{index}]")
    except DecodeError:
        raise
    except Exception as exc:  # a bug, never expected: still only DecodeError leaves the package
        raise DecodeError("internal_error", offset, type(exc).__name__) from exc


def decode_datagram(data: bytes | bytearray | memoryview) -> Datagram:
    """Decode one sFlow v5 datagram; raises ``DecodeError`` (and nothing else) when it cannot."""
    buf = bytes(data)
    try:
        return _decode(buf)
    except DecodeError:
        raise
    except Exception as exc:  # a bug, never expected: still only DecodeError leaves the package
        raise DecodeError("internal_error", 0, type(exc).__name__) from exc


def _decode(buf: bytes) -> Datagram:
    end = len(buf)
    if end < 8:
        raise DecodeError("truncated", 0, "header")
    version, address_type = _U32X2.unpack_from(buf, 0)
    if version != SFLOW_VERSION:
        raise DecodeError("bad_version", 0, "header/version")
    off = 8
    agent: str | None
    if address_type == ADDRESS_IPV4:
        if end < 28:
            raise DecodeError("truncated", off, "header")
        agent = _ipv4(buf[8:12])
        off = 12
    elif address_type == ADDRESS_IPV6:
        if end < 40:
            raise DecodeError("truncated", off, "header")
        agent = _ipv6(buf[8:24])
        off = 24
    elif address_type == ADDRESS_UNKNOWN:
        if end < 24:
            raise DecodeError("truncated", off, "header")
        agent = None
    else:
        raise DecodeError("bad_agent_address_type", 4, "header/agent_address")
    sub_agent, sequence, uptime, count = _U32X4.unpack_from(buf, off)
    off += 16
    if count > MAX_SAMPLES_PER_DATAGRAM or count * 8 > end - off:
        raise DecodeError("sample_count_exceeds_data", off - 4, "header/num_samples")
    samples: list[Sample] = []
    for i in range(count):
        if off + 8 > end:
            raise DecodeError("truncated", off, f"sample[{i}]")
        data_format, length = _U32X2.unpack_from(buf, off)
        body = off + 8
        if length > end - body:
            raise DecodeError("sample_length_overrun", off, f"sample[{i}]")
        samples.append(_sample(buf, body, body + length, data_format, f"sample[{i}]"))
        off = min(body + _padded(length), end)
    # Bytes after the declared samples are ignored (seen in real captures).
    return Datagram(agent, address_type, sub_agent, sequence, uptime, tuple(samples))

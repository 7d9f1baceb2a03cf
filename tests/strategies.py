"""Hypothesis strategies for every sFlow v5 record, sample and datagram type in decoders.records.

Everything generated here is in the decoder's image: ``decode_datagram(encode_datagram(d)) == d``
(addresses in canonical text form, valid UTF-8 within the spec string limits, SampledHeader built
with ``packet=parse_packet(...)``, RawRecord/RawSample only for formats the decoder keeps raw).
Shared by the round-trip and hostile-input tests; other test modules may import it too.
"""

from __future__ import annotations

import socket
import struct
import uuid

from hypothesis import strategies as st

from decoders import records as rec
from decoders.encode import encode_datagram, sampled_header
from decoders.parse import MAX_STRING
from decoders.records import (
    CounterRecord,
    CounterSample,
    Datagram,
    DataSource,
    DropSample,
    FlowRecord,
    FlowSample,
    Interface,
    RawRecord,
    RawSample,
    RecordKind,
    Sample,
    record_types,
    registered,
)

# ---------------------------------------------------------------------------------------------
# Scalars

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
u30 = st.integers(0, 0x3FFFFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
i32 = st.integers(-(2**31), 2**31 - 1)
u64 = st.integers(0, 2**64 - 1)

ipv4_addresses = st.binary(min_size=4, max_size=4).map(
    lambda b: socket.inet_ntop(socket.AF_INET, b)
)
ipv6_addresses = st.binary(min_size=16, max_size=16).map(
    lambda b: socket.inet_ntop(socket.AF_INET6, b)
)
addresses = st.one_of(st.none(), ipv4_addresses, ipv6_addresses)
macs = st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":"))
uuids = st.binary(min_size=16, max_size=16).map(lambda b: str(uuid.UUID(bytes=b)))


def _fit_utf8(text: str, limit: int) -> str:
    """Cut ``text`` to at most ``limit`` UTF-8 bytes without splitting a character."""
    return text.encode("utf-8")[:limit].decode("utf-8", "ignore")


def xdr_strings(limit: int = MAX_STRING) -> st.SearchStrategy[str]:
    """Valid UTF-8 strings of at most ``limit`` encoded bytes, sometimes right at the limit."""
    short = st.text(max_size=min(limit, 40)).map(lambda s: _fit_utf8(s, limit))
    at_limit = st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        min_size=max(limit - 3, 0),
        max_size=limit,
    )
    return st.one_of(short, short, short, at_limit)


# ---------------------------------------------------------------------------------------------
# Sampled packet headers: random bytes or plausible Ethernet/VLAN/IP/UDP(/RoCEv2 BTH) frames


@st.composite
def ethernet_frames(draw: st.DrawFn) -> bytes:
    """An Ethernet frame start: optional 802.1Q tags, IPv4/IPv6, UDP (often 4791 + BTH) or TCP."""
    frame = draw(st.binary(min_size=12, max_size=12))  # dst + src MAC
    for _ in range(draw(st.integers(0, 2))):
        frame += struct.pack(">HH", draw(st.sampled_from([0x8100, 0x88A8])), draw(u16))
    ip_version = draw(st.sampled_from([4, 6]))
    l4 = draw(st.sampled_from([17, 6, 1, 58]))
    if l4 == 17:
        dport = draw(st.one_of(st.sampled_from([4791, 4789, 53]), st.just(4791), u16))
        payload = struct.pack(">HHHH", draw(u16), dport, draw(u16), 0)
        if dport == 4791:
            opcode = draw(st.one_of(st.integers(0, 0x1D), st.sampled_from([0x64, 0x81]), u8))
            payload += struct.pack(">BBHII", opcode, draw(u8), draw(u16), draw(u32), draw(u32))
    elif l4 == 6:
        payload = struct.pack(
            ">HHIIHHHH", draw(u16), draw(u16), draw(u32), draw(u32), 0x5000, 0, 0, 0
        )
    else:
        payload = struct.pack(">BBH", draw(u8), draw(u8), 0)
    payload += draw(st.binary(max_size=48))
    if ip_version == 4:
        frame += b"\x08\x00" + struct.pack(
            ">BBHHHBBH4s4s",
            0x45,
            draw(u8),
            20 + len(payload),
            draw(u16),
            0,
            draw(u8),
            l4,
            0,
            draw(st.binary(min_size=4, max_size=4)),
            draw(st.binary(min_size=4, max_size=4)),
        )
    else:
        frame += b"\x86\xdd" + struct.pack(
            ">IHBB16s16s",
            0x60000000 | (draw(u8) << 20),
            len(payload),
            l4,
            draw(u8),
            draw(st.binary(min_size=16, max_size=16)),
            draw(st.binary(min_size=16, max_size=16)),
        )
    frame += payload
    return frame[: draw(st.integers(0, len(frame)))] if draw(st.booleans()) else frame


packet_headers = st.one_of(st.binary(max_size=160), ethernet_frames())


# ---------------------------------------------------------------------------------------------
# Flow records


@st.composite
def sampled_headers(draw: st.DrawFn) -> rec.SampledHeader:
    """Flow record 0:1 with ``packet`` from parse_packet, protocol mostly Ethernet/IPv4/IPv6."""
    protocol = draw(st.one_of(st.sampled_from([1, 1, 11, 12, 18]), u32))
    return sampled_header(protocol, draw(u32), draw(u32), draw(packet_headers))


sampled_ethernets = st.builds(rec.SampledEthernet, u32, macs, macs, u32)
sampled_ipv4s = st.builds(
    rec.SampledIPv4, u32, u32, ipv4_addresses, ipv4_addresses, u32, u32, u32, u32
)
sampled_ipv6s = st.builds(
    rec.SampledIPv6, u32, u32, ipv6_addresses, ipv6_addresses, u32, u32, u32, u32
)
extended_switches = st.builds(rec.ExtendedSwitch, u32, u32, u32, u32)
extended_routers = st.builds(rec.ExtendedRouter, addresses, u32, u32)
as_path_segments = st.builds(
    rec.AsPathSegment, st.one_of(st.sampled_from([1, 2]), u32), st.lists(u32, max_size=6).map(tuple)
)
extended_gateways = st.builds(
    rec.ExtendedGateway,
    addresses,
    u32,
    u32,
    u32,
    st.lists(as_path_segments, max_size=4).map(tuple),
    st.lists(u32, max_size=6).map(tuple),
    u32,
)
extended_egress_queues = st.builds(rec.ExtendedEgressQueue, u32)
extended_acls = st.builds(rec.ExtendedAcl, u32, xdr_strings(), st.one_of(st.integers(0, 2), u32))
extended_functions = st.builds(rec.ExtendedFunction, xdr_strings())
extended_transits = st.builds(rec.ExtendedTransit, st.one_of(st.just(0xFFFFFFFF), u32))
extended_queues = st.builds(rec.ExtendedQueue, u32)
extended_hw_traps = st.builds(rec.ExtendedHwTrap, xdr_strings(), xdr_strings())
extended_linux_drop_reasons = st.builds(rec.ExtendedLinuxDropReason, xdr_strings())
extended_timestamps = st.builds(rec.ExtendedTimestamp, u64)

# One strategy per registered flow record type, in registry order; ``registered`` fails at import
# when a record type is added to decoders.records without a strategy here.
FLOW_RECORD_STRATEGIES: dict[type[rec.RecordBase], st.SearchStrategy[FlowRecord]] = registered(
    "flow",
    {
        rec.SampledHeader: sampled_headers(),
        rec.SampledEthernet: sampled_ethernets,
        rec.SampledIPv4: sampled_ipv4s,
        rec.SampledIPv6: sampled_ipv6s,
        rec.ExtendedSwitch: extended_switches,
        rec.ExtendedRouter: extended_routers,
        rec.ExtendedGateway: extended_gateways,
        rec.ExtendedEgressQueue: extended_egress_queues,
        rec.ExtendedAcl: extended_acls,
        rec.ExtendedFunction: extended_functions,
        rec.ExtendedTransit: extended_transits,
        rec.ExtendedQueue: extended_queues,
        rec.ExtendedHwTrap: extended_hw_traps,
        rec.ExtendedLinuxDropReason: extended_linux_drop_reasons,
        rec.ExtendedTimestamp: extended_timestamps,
    },
)


def _raw_records(kind: RecordKind) -> st.SearchStrategy[RawRecord]:
    """RawRecords of (enterprise, format) pairs the registry does not know for ``kind``."""
    known = {(t.enterprise, t.format) for t in record_types(kind)}
    return st.builds(
        lambda ef, data: RawRecord(ef[0], ef[1], data),
        _data_formats.filter(lambda ef: ef not in known),
        st.binary(max_size=40),
    )


_data_formats = st.tuples(st.integers(0, 2**20 - 1), st.integers(0, 0xFFF))
raw_flow_records = _raw_records("flow")
flow_records: st.SearchStrategy[FlowRecord] = st.one_of(
    *FLOW_RECORD_STRATEGIES.values(), raw_flow_records
)

# ---------------------------------------------------------------------------------------------
# Counter records

generic_interface_counters = st.builds(
    rec.GenericInterfaceCounters,
    u32,
    u32,
    u64,
    st.one_of(st.integers(0, 4), u32),
    st.one_of(st.integers(0, 3), u32),
    u64,
    u32,
    u32,
    u32,
    u32,
    u32,
    u32,
    u64,
    u32,
    u32,
    u32,
    u32,
    u32,
    u32,
)
ethernet_counters = st.builds(rec.EthernetCounters, *[u32] * 13)
vlan_counters = st.builds(rec.VlanCounters, u32, u64, u32, u32, u32, u32)
lag_port_stats = st.builds(rec.LagPortStats, macs, macs, u32, u8, u8, u8, u8, *[u32] * 8)
sfp_lanes = st.builds(rec.SfpLane, *[u32] * 10)
sfp_counters = st.builds(
    rec.SfpCounters, u32, u32, u32, i32, st.lists(sfp_lanes, max_size=4).map(tuple)
)
pfc_counters = st.builds(rec.PfcCounters, u32, u32, u32, u32, u32)
processor_counters = st.builds(
    rec.ProcessorCounters, st.one_of(st.just(-1), i32), i32, i32, u64, u64
)
port_names = st.builds(rec.PortName, xdr_strings(255))
host_descriptions = st.builds(
    rec.HostDescription, xdr_strings(64), uuids, u32, u32, xdr_strings(32)
)
host_adapters = st.builds(
    rec.HostAdapters,
    st.lists(
        st.builds(rec.HostAdapter, u32, st.lists(macs, max_size=4).map(tuple)), max_size=4
    ).map(tuple),
)
# Like FLOW_RECORD_STRATEGIES, for the counter half of the registry.
COUNTER_RECORD_STRATEGIES: dict[type[rec.RecordBase], st.SearchStrategy[CounterRecord]] = (
    registered(
        "counter",
        {
            rec.GenericInterfaceCounters: generic_interface_counters,
            rec.EthernetCounters: ethernet_counters,
            rec.VlanCounters: vlan_counters,
            rec.LagPortStats: lag_port_stats,
            rec.SfpCounters: sfp_counters,
            rec.PfcCounters: pfc_counters,
            rec.ProcessorCounters: processor_counters,
            rec.PortName: port_names,
            rec.HostDescription: host_descriptions,
            rec.HostAdapters: host_adapters,
        },
    )
)
raw_counter_records = _raw_records("counter")
counter_records: st.SearchStrategy[CounterRecord] = st.one_of(
    *COUNTER_RECORD_STRATEGIES.values(), raw_counter_records
)

# ---------------------------------------------------------------------------------------------
# Samples and datagrams

interface_formats = st.one_of(st.integers(0, 2), u32)
compact_sources = st.builds(DataSource, st.one_of(st.integers(0, 3), u8), u24)
expanded_sources = st.builds(DataSource, st.one_of(st.integers(0, 3), u32), u32)
compact_interfaces = st.builds(
    Interface, st.integers(0, 3), st.one_of(st.just(0x3FFFFFFF), st.integers(0, 64), u30)
)
expanded_interfaces = st.builds(Interface, interface_formats, st.one_of(st.integers(0, 64), u32))


flow_record_tuples = st.lists(flow_records, max_size=5).map(tuple)
counter_record_tuples = st.lists(counter_records, max_size=5).map(tuple)


@st.composite
def flow_samples(draw: st.DrawFn, expanded: bool | None = None) -> FlowSample:
    """A compact (0:1) or expanded (0:3) flow sample whose values fit its form."""
    if expanded is None:
        expanded = draw(st.booleans())
    source = draw(expanded_sources if expanded else compact_sources)
    interfaces = expanded_interfaces if expanded else compact_interfaces
    return FlowSample(
        expanded,
        draw(u32),
        source,
        draw(u32),
        draw(u32),
        draw(u32),
        draw(interfaces),
        draw(interfaces),
        draw(flow_record_tuples),
    )


@st.composite
def counter_samples(draw: st.DrawFn, expanded: bool | None = None) -> CounterSample:
    """A compact (0:2) or expanded (0:4) counter sample whose values fit its form."""
    if expanded is None:
        expanded = draw(st.booleans())
    source = draw(expanded_sources if expanded else compact_sources)
    return CounterSample(expanded, draw(u32), source, draw(counter_record_tuples))


drop_samples = st.builds(
    DropSample,
    st.just(True),
    u32,
    expanded_sources,
    u32,
    u32,
    u32,
    st.one_of(st.integers(0, 372), u32),
    flow_record_tuples,
)
raw_samples = st.builds(
    lambda ef, data: RawSample(ef[0], ef[1], data),
    _data_formats.filter(lambda ef: ef[0] != 0 or ef[1] not in (1, 2, 3, 4, 5)),
    st.binary(max_size=40),
)
samples: st.SearchStrategy[Sample] = st.one_of(
    flow_samples(), counter_samples(), drop_samples, raw_samples
)


@st.composite
def datagrams(draw: st.DrawFn, max_samples: int = 4) -> Datagram:
    """A v5 datagram with an unknown, IPv4 or IPv6 agent and up to ``max_samples`` samples."""
    address_type = draw(st.integers(0, 2))
    agent = (None, draw(ipv4_addresses), draw(ipv6_addresses))[address_type]
    return Datagram(
        agent,
        address_type,
        draw(u32),
        draw(u32),
        draw(u32),
        tuple(draw(st.lists(samples, max_size=max_samples))),
    )


datagram_bytes = datagrams().map(encode_datagram)

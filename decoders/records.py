"""Frozen, typed records for sFlow v5 datagrams, samples, flow and counter records.

Layouts: sflow_version_5.txt, sflow_drops.txt, sflow_transit.txt, sflow_host.txt, sflow_optics.txt,
sflow_lag.txt and Host sFlow's sflow.h (records 1041–1043). Parsing lives in ``decoders.parse``.

Each flow and counter record type states its (enterprise, format, name) once, in its
``@flow_record``/``@counter_record`` decorator; ``RECORD_TYPES`` is the registry that
``decoders.parse``, ``decoders.encode`` and the tests build their per-record tables from.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeVar

from decoders.packet_types import PacketInfo

# Interface word formats (sflow_version_5.txt "Input/output port information").
IF_FORMAT_IFINDEX = 0
IF_FORMAT_DISCARDED = 1
IF_FORMAT_MULTIPLE = 2
IFINDEX_INTERNAL = 0x3FFFFFFF


@dataclass(frozen=True, slots=True)
class Interface:
    """An input/output interface word: (format, value) whatever the encoding."""

    format: int
    value: int

    @property
    def ifindex(self) -> int | None:
        """The ifIndex, or None when unknown (0), internal, discarded or multiple."""
        if self.format == IF_FORMAT_IFINDEX and 0 < self.value != IFINDEX_INTERNAL:
            return self.value
        return None

    @property
    def internal(self) -> bool:
        """True when the packet came from or went to the device itself."""
        return self.format == IF_FORMAT_IFINDEX and self.value == IFINDEX_INTERNAL

    @property
    def discard_reason(self) -> int | None:
        """The drop reason code when the output word says the packet was discarded."""
        return self.value if self.format == IF_FORMAT_DISCARDED else None

    @property
    def multiple(self) -> int | None:
        """The number of output ports (0 = unknown, > 1) when sent to several."""
        return self.value if self.format == IF_FORMAT_MULTIPLE else None


@dataclass(frozen=True, slots=True)
class DataSource:
    """A sample's data source: type (0 ifIndex, 1 VLAN, 2 entPhysical, 3 logical) and index."""

    type: int
    index: int


# ---------------------------------------------------------------------------------------------
# The record registry: each flow/counter record class states its (enterprise, format, name) once,
# in its ``@flow_record``/``@counter_record`` decorator. ``RECORD_TYPES`` is the one table the
# decoder, the encoder, the JSON view and the tests are built from; each of them keeps only a
# class → function map, checked against it by ``registered``/``by_data_format`` at import.
# Formats are unique per kind, not across kinds (flow 0:1 and counter 0:1 are different records).

RecordKind = Literal["flow", "counter"]


class RecordBase:
    """Base of every registered record: the ClassVars its decorator sets (no instance state)."""

    __slots__ = ()
    ENTERPRISE: ClassVar[int]
    FORMAT: ClassVar[int]
    NAME: ClassVar[str]


@dataclass(frozen=True, slots=True)
class RecordType:
    """One registry entry: a record class and the kind, enterprise, format and name it declares."""

    kind: RecordKind
    enterprise: int
    format: int
    name: str
    cls: type[RecordBase]

    @property
    def data_format(self) -> int:
        """The u32 tag on the wire: enterprise (20 bits) << 12 | format (12 bits)."""
        return (self.enterprise << 12) | self.format


RECORD_TYPES: list[RecordType] = []  # in declaration order, appended to by the decorators

_C = TypeVar("_C", bound=type[RecordBase])
_F = TypeVar("_F")


def _register(kind: RecordKind, enterprise: int, fmt: int, name: str) -> Callable[[_C], _C]:
    if not (0 <= enterprise < 1 << 20 and 0 <= fmt < 1 << 12):
        raise ValueError(f"{kind} record {enterprise}:{fmt} does not fit the data_format word")

    def register(cls: _C) -> _C:
        # A clash is a programming error in this module: fail at import, not at decode time.
        key = (kind, enterprise, fmt)
        for t in RECORD_TYPES:
            if t.cls is cls or t.name == name or (t.kind, t.enterprise, t.format) == key:
                raise ValueError(f"{cls.__name__} ({kind} {enterprise}:{fmt} {name}) clashes: {t}")
        cls.ENTERPRISE, cls.FORMAT, cls.NAME = enterprise, fmt, name
        RECORD_TYPES.append(RecordType(kind, enterprise, fmt, name, cls))
        return cls

    return register


def flow_record(enterprise: int, fmt: int, name: str) -> Callable[[_C], _C]:
    """Class decorator: register a flow record type as ``enterprise:fmt`` named ``name``."""
    return _register("flow", enterprise, fmt, name)


def counter_record(enterprise: int, fmt: int, name: str) -> Callable[[_C], _C]:
    """Class decorator: register a counter record type as ``enterprise:fmt`` named ``name``."""
    return _register("counter", enterprise, fmt, name)


def record_types(kind: RecordKind) -> list[RecordType]:
    """The registered record types of one kind, in declaration order."""
    return [t for t in RECORD_TYPES if t.kind == kind]


def registered(kind: RecordKind, table: Mapping[type[Any], _F]) -> dict[type[Any], _F]:
    """``table`` as a dict, checked to cover exactly the ``kind`` records (else LookupError)."""
    want = {t.cls for t in record_types(kind)}
    missing = sorted(c.__name__ for c in want - table.keys())
    extra = sorted(c.__name__ for c in table.keys() - want)
    if missing or extra:
        raise LookupError(f"{kind} table: missing {missing}, not registered {extra}")
    return dict(table)


def by_data_format(kind: RecordKind, table: Mapping[type[Any], _F]) -> dict[int, _F]:
    """``registered(kind, table)`` re-keyed by each class's data_format word (for decoding)."""
    checked = registered(kind, table)
    return {t.data_format: checked[t.cls] for t in record_types(kind)}


# ---------------------------------------------------------------------------------------------
# Flow records (flow_data, enterprise 0)


@flow_record(0, 1, "sampled_header")
@dataclass(frozen=True, slots=True)
class SampledHeader(RecordBase):
    """Flow record 0:1: the first bytes of the sampled packet, parsed best-effort."""

    protocol: int
    frame_length: int
    stripped: int
    header: bytes
    packet: PacketInfo


@flow_record(0, 2, "sampled_ethernet")
@dataclass(frozen=True, slots=True)
class SampledEthernet(RecordBase):
    """Flow record 0:2."""

    length: int
    src_mac: str
    dst_mac: str
    eth_type: int


@flow_record(0, 3, "sampled_ipv4")
@dataclass(frozen=True, slots=True)
class SampledIPv4(RecordBase):
    """Flow record 0:3."""

    length: int
    protocol: int
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    tcp_flags: int
    tos: int


@flow_record(0, 4, "sampled_ipv6")
@dataclass(frozen=True, slots=True)
class SampledIPv6(RecordBase):
    """Flow record 0:4."""

    length: int
    protocol: int
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    tcp_flags: int
    priority: int


@flow_record(0, 1001, "extended_switch")
@dataclass(frozen=True, slots=True)
class ExtendedSwitch(RecordBase):
    """Flow record 0:1001."""

    src_vlan: int
    src_priority: int
    dst_vlan: int
    dst_priority: int


@flow_record(0, 1002, "extended_router")
@dataclass(frozen=True, slots=True)
class ExtendedRouter(RecordBase):
    """Flow record 0:1002."""

    next_hop: str | None
    src_mask_len: int
    dst_mask_len: int


@dataclass(frozen=True, slots=True)
class AsPathSegment:
    """One AS path segment: type 1 AS_SET, 2 AS_SEQUENCE."""

    type: int
    asns: tuple[int, ...]


@flow_record(0, 1003, "extended_gateway")
@dataclass(frozen=True, slots=True)
class ExtendedGateway(RecordBase):
    """Flow record 0:1003."""

    next_hop: str | None
    as_number: int
    src_as: int
    src_peer_as: int
    as_path: tuple[AsPathSegment, ...]
    communities: tuple[int, ...]
    local_pref: int


@flow_record(0, 1036, "extended_egress_queue")
@dataclass(frozen=True, slots=True)
class ExtendedEgressQueue(RecordBase):
    """Flow record 0:1036 (sflow_drops.txt)."""

    queue: int


@flow_record(0, 1037, "extended_acl")
@dataclass(frozen=True, slots=True)
class ExtendedAcl(RecordBase):
    """Flow record 0:1037 (sflow_drops.txt); direction 0 unknown, 1 ingress, 2 egress."""

    number: int
    name: str
    direction: int


@flow_record(0, 1038, "extended_function")
@dataclass(frozen=True, slots=True)
class ExtendedFunction(RecordBase):
    """Flow record 0:1038: the kernel function where the packet was dropped."""

    symbol: str


@flow_record(0, 1039, "extended_transit")
@dataclass(frozen=True, slots=True)
class ExtendedTransit(RecordBase):
    """Flow record 0:1039: ns the packet spent in the device (0xFFFFFFFF = saturated)."""

    delay_ns: int


@flow_record(0, 1040, "extended_queue")
@dataclass(frozen=True, slots=True)
class ExtendedQueue(RecordBase):
    """Flow record 0:1040: bytes already queued in the egress queue at enqueue."""

    depth_bytes: int


@flow_record(0, 1041, "extended_hw_trap")
@dataclass(frozen=True, slots=True)
class ExtendedHwTrap(RecordBase):
    """Flow record 0:1041: devlink trap group and name."""

    group: str
    trap: str


@flow_record(0, 1042, "extended_linux_drop_reason")
@dataclass(frozen=True, slots=True)
class ExtendedLinuxDropReason(RecordBase):
    """Flow record 0:1042: the kernel's SKB_DROP_REASON_* suffix."""

    reason: str


@flow_record(0, 1043, "extended_timestamp")
@dataclass(frozen=True, slots=True)
class ExtendedTimestamp(RecordBase):
    """Flow record 0:1043: nanoseconds since the Unix epoch."""

    nanoseconds: int


# ---------------------------------------------------------------------------------------------
# Counter records (counter_data, enterprise 0)


@counter_record(0, 1, "generic_interface")
@dataclass(frozen=True, slots=True)
class GenericInterfaceCounters(RecordBase):
    """Counter record 0:1 (if_counters)."""

    if_index: int
    if_type: int
    if_speed: int
    if_direction: int
    if_status: int
    in_octets: int
    in_ucast_pkts: int
    in_multicast_pkts: int
    in_broadcast_pkts: int
    in_discards: int
    in_errors: int
    in_unknown_protos: int
    out_octets: int
    out_ucast_pkts: int
    out_multicast_pkts: int
    out_broadcast_pkts: int
    out_discards: int
    out_errors: int
    promiscuous_mode: int

    @property
    def admin_up(self) -> bool:
        """ifAdminStatus up (bit 0 of ifStatus)."""
        return bool(self.if_status & 1)

    @property
    def oper_up(self) -> bool:
        """ifOperStatus up (bit 1 of ifStatus)."""
        return bool(self.if_status & 2)


@counter_record(0, 2, "ethernet")
@dataclass(frozen=True, slots=True)
class EthernetCounters(RecordBase):
    """Counter record 0:2 (dot3Stats)."""

    alignment_errors: int
    fcs_errors: int
    single_collision_frames: int
    multiple_collision_frames: int
    sqe_test_errors: int
    deferred_transmissions: int
    late_collisions: int
    excessive_collisions: int
    internal_mac_transmit_errors: int
    carrier_sense_errors: int
    frame_too_longs: int
    internal_mac_receive_errors: int
    symbol_errors: int


@counter_record(0, 5, "vlan")
@dataclass(frozen=True, slots=True)
class VlanCounters(RecordBase):
    """Counter record 0:5."""

    vlan_id: int
    octets: int
    ucast_pkts: int
    multicast_pkts: int
    broadcast_pkts: int
    discards: int


@counter_record(0, 7, "lag_port_stats")
@dataclass(frozen=True, slots=True)
class LagPortStats(RecordBase):
    """Counter record 0:7 (sflow_lag.txt)."""

    actor_system_id: str
    partner_system_id: str
    attached_agg_id: int
    actor_admin_state: int
    actor_oper_state: int
    partner_admin_state: int
    partner_oper_state: int
    lacpdus_rx: int
    marker_pdus_rx: int
    marker_response_pdus_rx: int
    unknown_rx: int
    illegal_rx: int
    lacpdus_tx: int
    marker_pdus_tx: int
    marker_response_pdus_tx: int


@dataclass(frozen=True, slots=True)
class SfpLane:
    """One optical lane of counter record 0:10 (powers in µW, current in µA, wavelength in nm)."""

    index: int
    tx_bias_current_ua: int
    tx_power_uw: int
    tx_power_min_uw: int
    tx_power_max_uw: int
    tx_wavelength_nm: int
    rx_power_uw: int
    rx_power_min_uw: int
    rx_power_max_uw: int
    rx_wavelength_nm: int


@counter_record(0, 10, "sfp")
@dataclass(frozen=True, slots=True)
class SfpCounters(RecordBase):
    """Counter record 0:10 (sflow_optics.txt)."""

    module_id: int
    module_total_lanes: int
    supply_voltage_mv: int
    temperature_mc: int  # signed, milli-degrees Celsius
    lanes: tuple[SfpLane, ...]


@counter_record(0, 11, "pfc")
@dataclass(frozen=True, slots=True)
class PfcCounters(RecordBase):
    """Counter record 0:11 (priority flow control; sflowtool's SFLCOUNTERS_PFC)."""

    requests: int
    indications: int
    pause_duration_us: int
    storm_detected: int
    storm_restored: int


@counter_record(0, 1001, "processor")
@dataclass(frozen=True, slots=True)
class ProcessorCounters(RecordBase):
    """Counter record 0:1001; CPU in 1/100 % (−1 unknown), memory in bytes."""

    cpu_5s: int
    cpu_1m: int
    cpu_5m: int
    total_memory: int
    free_memory: int


@counter_record(0, 1005, "port_name")
@dataclass(frozen=True, slots=True)
class PortName(RecordBase):
    """Counter record 0:1005: the port's ifName, e.g. "Ethernet4"."""

    name: str


@counter_record(0, 2000, "host_description")
@dataclass(frozen=True, slots=True)
class HostDescription(RecordBase):
    """Counter record 0:2000 (sflow_host.txt); uuid is 16 fixed bytes on the wire."""

    hostname: str
    uuid: str
    machine_type: int
    os_name: int
    os_release: str


@dataclass(frozen=True, slots=True)
class HostAdapter:
    """One adapter of counter record 0:2001."""

    if_index: int
    macs: tuple[str, ...]


@counter_record(0, 2001, "host_adapters")
@dataclass(frozen=True, slots=True)
class HostAdapters(RecordBase):
    """Counter record 0:2001."""

    adapters: tuple[HostAdapter, ...]


@dataclass(frozen=True, slots=True)
class RawRecord:
    """A flow or counter record we do not decode (or whose body did not fit its layout)."""

    enterprise: int
    format: int
    data: bytes
    error: str | None = None  # set when a known format's body was malformed

    @property
    def NAME(self) -> str:
        """``unknown_<enterprise>_<format>`` or ``malformed_…`` for a bad known record."""
        prefix = "malformed" if self.error else "unknown"
        return f"{prefix}_{self.enterprise}_{self.format}"


FlowRecord = (
    SampledHeader
    | SampledEthernet
    | SampledIPv4
    | SampledIPv6
    | ExtendedSwitch
    | ExtendedRouter
    | ExtendedGateway
    | ExtendedEgressQueue
    | ExtendedAcl
    | ExtendedFunction
    | ExtendedTransit
    | ExtendedQueue
    | ExtendedHwTrap
    | ExtendedLinuxDropReason
    | ExtendedTimestamp
    | RawRecord
)

CounterRecord = (
    GenericInterfaceCounters
    | EthernetCounters
    | VlanCounters
    | LagPortStats
    | SfpCounters
    | PfcCounters
    | ProcessorCounters
    | PortName
    | HostDescription
    | HostAdapters
    | RawRecord
)


# ---------------------------------------------------------------------------------------------
# Samples and the datagram


@dataclass(frozen=True, slots=True)
class FlowSample:
    """Sample 0:1 (compact) or 0:3 (expanded): one packet in ``sampling_rate``."""

    KIND: ClassVar[str] = "flow"
    expanded: bool
    sequence: int
    source: DataSource
    sampling_rate: int
    sample_pool: int
    drops: int
    input: Interface
    output: Interface
    records: tuple[FlowRecord, ...]


@dataclass(frozen=True, slots=True)
class CounterSample:
    """Sample 0:2 (compact) or 0:4 (expanded): periodic interface/host counters."""

    KIND: ClassVar[str] = "counter"
    expanded: bool
    sequence: int
    source: DataSource
    records: tuple[CounterRecord, ...]


@dataclass(frozen=True, slots=True)
class DropSample:
    """Sample 0:5 (discarded_packet, sflow_drops.txt): one dropped packet, not sampled."""

    KIND: ClassVar[str] = "drop"
    expanded: bool  # always True: 0:5 uses the expanded source id
    sequence: int
    source: DataSource
    drops: int  # notifications lost to rate limits, cumulative
    input_ifindex: int  # plain ifIndex, 0 = unknown
    output_ifindex: int
    reason: int
    records: tuple[FlowRecord, ...]


@dataclass(frozen=True, slots=True)
class RawSample:
    """A sample of a format we do not decode, kept with its (enterprise, format)."""

    KIND: ClassVar[str] = "unknown"
    enterprise: int
    format: int
    data: bytes


Sample = FlowSample | CounterSample | DropSample | RawSample


@dataclass(frozen=True, slots=True)
class Datagram:
    """One sFlow v5 datagram."""

    agent: str | None  # text form of the agent address; None when its type is "unknown"
    agent_address_type: int  # 0 unknown, 1 IPv4, 2 IPv6
    sub_agent: int
    sequence: int
    uptime_ms: int
    samples: tuple[Sample, ...]
    version: int = 5

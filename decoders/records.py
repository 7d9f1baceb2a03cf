"""Frozen, typed records for sFlow v5 datagrams, samples, flow and counter records.

Layouts: sflow_version_5.txt, sflow_drops.txt, sflow_transit.txt, sflow_host.txt, sflow_optics.txt,
sflow_lag.txt and Host sFlow's sflow.h (records 1041–1043). Parsing lives in ``decoders.parse``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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
# Flow records (flow_data, enterprise 0)


@dataclass(frozen=True, slots=True)
class SampledHeader:
    """Flow record 0:1: the first bytes of the sampled packet, parsed best-effort."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1
    NAME: ClassVar[str] = "sampled_header"
    protocol: int
    frame_length: int
    stripped: int
    header: bytes
    packet: PacketInfo


@dataclass(frozen=True, slots=True)
class SampledEthernet:
    """Flow record 0:2."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 2
    NAME: ClassVar[str] = "sampled_ethernet"
    length: int
    src_mac: str
    dst_mac: str
    eth_type: int


@dataclass(frozen=True, slots=True)
class SampledIPv4:
    """Flow record 0:3."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 3
    NAME: ClassVar[str] = "sampled_ipv4"
    length: int
    protocol: int
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    tcp_flags: int
    tos: int


@dataclass(frozen=True, slots=True)
class SampledIPv6:
    """Flow record 0:4."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 4
    NAME: ClassVar[str] = "sampled_ipv6"
    length: int
    protocol: int
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    tcp_flags: int
    priority: int


@dataclass(frozen=True, slots=True)
class ExtendedSwitch:
    """Flow record 0:1001."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1001
    NAME: ClassVar[str] = "extended_switch"
    src_vlan: int
    src_priority: int
    dst_vlan: int
    dst_priority: int


@dataclass(frozen=True, slots=True)
class ExtendedRouter:
    """Flow record 0:1002."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1002
    NAME: ClassVar[str] = "extended_router"
    next_hop: str | None
    src_mask_len: int
    dst_mask_len: int


@dataclass(frozen=True, slots=True)
class AsPathSegment:
    """One AS path segment: type 1 AS_SET, 2 AS_SEQUENCE."""

    type: int
    asns: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class ExtendedGateway:
    """Flow record 0:1003."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1003
    NAME: ClassVar[str] = "extended_gateway"
    next_hop: str | None
    as_number: int
    src_as: int
    src_peer_as: int
    as_path: tuple[AsPathSegment, ...]
    communities: tuple[int, ...]
    local_pref: int


@dataclass(frozen=True, slots=True)
class ExtendedEgressQueue:
    """Flow record 0:1036 (sflow_drops.txt)."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1036
    NAME: ClassVar[str] = "extended_egress_queue"
    queue: int


@dataclass(frozen=True, slots=True)
class ExtendedAcl:
    """Flow record 0:1037 (sflow_drops.txt); direction 0 unknown, 1 ingress, 2 egress."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1037
    NAME: ClassVar[str] = "extended_acl"
    number: int
    name: str
    direction: int


@dataclass(frozen=True, slots=True)
class ExtendedFunction:
    """Flow record 0:1038: the kernel function where the packet was dropped."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1038
    NAME: ClassVar[str] = "extended_function"
    symbol: str


@dataclass(frozen=True, slots=True)
class ExtendedTransit:
    """Flow record 0:1039: ns the packet spent in the device (0xFFFFFFFF = saturated)."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1039
    NAME: ClassVar[str] = "extended_transit"
    delay_ns: int


@dataclass(frozen=True, slots=True)
class ExtendedQueue:
    """Flow record 0:1040: bytes already queued in the egress queue at enqueue."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1040
    NAME: ClassVar[str] = "extended_queue"
    depth_bytes: int


@dataclass(frozen=True, slots=True)
class ExtendedHwTrap:
    """Flow record 0:1041: devlink trap group and name."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1041
    NAME: ClassVar[str] = "extended_hw_trap"
    group: str
    trap: str


@dataclass(frozen=True, slots=True)
class ExtendedLinuxDropReason:
    """Flow record 0:1042: the kernel's SKB_DROP_REASON_* suffix."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1042
    NAME: ClassVar[str] = "extended_linux_drop_reason"
    reason: str


@dataclass(frozen=True, slots=True)
class ExtendedTimestamp:
    """Flow record 0:1043: nanoseconds since the Unix epoch."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1043
    NAME: ClassVar[str] = "extended_timestamp"
    nanoseconds: int


# ---------------------------------------------------------------------------------------------
# Counter records (counter_data, enterprise 0)


@dataclass(frozen=True, slots=True)
class GenericInterfaceCounters:
    """Counter record 0:1 (if_counters)."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1
    NAME: ClassVar[str] = "generic_interface"
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


@dataclass(frozen=True, slots=True)
class EthernetCounters:
    """Counter record 0:2 (dot3Stats)."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 2
    NAME: ClassVar[str] = "ethernet"
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


@dataclass(frozen=True, slots=True)
class VlanCounters:
    """Counter record 0:5."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 5
    NAME: ClassVar[str] = "vlan"
    vlan_id: int
    octets: int
    ucast_pkts: int
    multicast_pkts: int
    broadcast_pkts: int
    discards: int


@dataclass(frozen=True, slots=True)
class LagPortStats:
    """Counter record 0:7 (sflow_lag.txt)."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 7
    NAME: ClassVar[str] = "lag_port_stats"
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


@dataclass(frozen=True, slots=True)
class SfpCounters:
    """Counter record 0:10 (sflow_optics.txt)."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 10
    NAME: ClassVar[str] = "sfp"
    module_id: int
    module_total_lanes: int
    supply_voltage_mv: int
    temperature_mc: int  # signed, milli-degrees Celsius
    lanes: tuple[SfpLane, ...]


@dataclass(frozen=True, slots=True)
class PfcCounters:
    """Counter record 0:11 (priority flow control; sflowtool's SFLCOUNTERS_PFC)."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 11
    NAME: ClassVar[str] = "pfc"
    requests: int
    indications: int
    pause_duration_us: int
    storm_detected: int
    storm_restored: int


@dataclass(frozen=True, slots=True)
class ProcessorCounters:
    """Counter record 0:1001; CPU in 1/100 % (−1 unknown), memory in bytes."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1001
    NAME: ClassVar[str] = "processor"
    cpu_5s: int
    cpu_1m: int
    cpu_5m: int
    total_memory: int
    free_memory: int


@dataclass(frozen=True, slots=True)
class PortName:
    """Counter record 0:1005: the port's ifName, e.g. "Ethernet4"."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 1005
    NAME: ClassVar[str] = "port_name"
    name: str


@dataclass(frozen=True, slots=True)
class HostDescription:
    """Counter record 0:2000 (sflow_host.txt); uuid is 16 fixed bytes on the wire."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 2000
    NAME: ClassVar[str] = "host_description"
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


@dataclass(frozen=True, slots=True)
class HostAdapters:
    """Counter record 0:2001."""

    ENTERPRISE: ClassVar[int] = 0
    FORMAT: ClassVar[int] = 2001
    NAME: ClassVar[str] = "host_adapters"
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

"""The native metric families: name, type, labels, help — one table shared by state and exposition.

State and the aggregator key their numbers by these family names (without the ``fabricscope_``
prefix and, for counters, without ``_total``); ``collector.prometheus`` renders them; the tests hold
``docs/metrics.md`` to this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from topology.index import ROLES

PREFIX: Final = "fabricscope_"

COUNTER: Final = "counter"
GAUGE: Final = "gauge"
HISTOGRAM: Final = "histogram"
# The kinds of the per-agent sample families (agent_samples{kind}), in the order receivers keep
# their pending counts; the web UI's agent table uses the same order.
SAMPLE_KINDS: Final = ("flow", "counter", "drop")
# The types of the fabric-health event stream (collector.aggregate.health), events_total{type}.
EVENT_TYPES: Final = (
    "incast_congestion",
    "ecmp_collision",
    "link_down",
    "link_up",
    "agent_silent",
    "agent_back",
    "drop_surge",
)


@dataclass(frozen=True, slots=True)
class Family:
    """One exported metric family (``name`` is without prefix and ``_total`` suffix)."""

    name: str
    type: str
    labels: tuple[str, ...]
    help: str
    per_port: bool = False  # only exported with --per-port-metrics
    smoothed: bool = False  # counter also exported as a smoothed per-second gauge

    @property
    def exported_name(self) -> str:
        """The full name as written in the exposition (``_total`` added by the client)."""
        return PREFIX + self.name


# Utilisation buckets are ratios of ifSpeed (Prometheus base unit; 0.5 = 50 %).
UTILIZATION_BUCKETS: Final = (0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)
# Transit delay: 100 ns … 10 ms.
TRANSIT_DELAY_BUCKETS: Final = (
    1e-7, 2.5e-7, 5e-7, 1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 1e-2,
)  # fmt: skip
# Egress queue depth: 1 KiB … 64 MiB.
QUEUE_DEPTH_BUCKETS: Final = tuple(float(1024 * 4**i) for i in range(9))

BUCKETS: Final[dict[str, tuple[float, ...]]] = {
    "port_utilization_ratio": UTILIZATION_BUCKETS,
    "transit_delay_seconds": TRANSIT_DELAY_BUCKETS,
    "egress_queue_depth_bytes": QUEUE_DEPTH_BUCKETS,
}

_R = ("role",)
_DR = ("direction", "role")
_AGENT = ("agent", "sub_agent")
_PORT = ("node", "port", "role")

FAMILIES: Final[tuple[Family, ...]] = (
    # --- traffic from flow samples (estimated: each sample counts sampling_rate packets)
    Family(
        "fabric_ingress_bytes",
        COUNTER,
        (),
        "Bytes entering the fabric: flow samples taken at ingress on edge ports, "
        "frame length x sampling rate.",
        smoothed=True,
    ),
    Family(
        "fabric_ingress_frames",
        COUNTER,
        (),
        "Frames entering the fabric (edge-port ingress samples x sampling rate).",
        smoothed=True,
    ),
    Family(
        "ingress_bytes",
        COUNTER,
        _R,
        "Bytes sampled at ingress, by the role of the input port (edge, core, unmapped).",
        smoothed=True,
    ),
    Family(
        "ingress_frames",
        COUNTER,
        _R,
        "Frames sampled at ingress, by the role of the input port.",
    ),
    Family(
        "rocev2_operations",
        COUNTER,
        ("role", "operation"),
        "RoCEv2 packets by BTH operation (TRANSPORT:OPERATION), ingress samples x rate.",
        smoothed=True,
    ),
    Family(
        "rdma_operations",
        COUNTER,
        _R,
        "RDMA operations: RoCEv2 packets carrying a RETH (write first/only, read request).",
        smoothed=True,
    ),
    Family(
        "rdma_bytes",
        COUNTER,
        _R,
        "RDMA bytes requested: RETH DMA length of each RDMA operation.",
        smoothed=True,
    ),
    Family(
        "ecn_ce_packets",
        COUNTER,
        _R,
        "RoCEv2 packets marked ECN congestion experienced (CE), sampled at ingress.",
        smoothed=True,
    ),
    Family(
        "cnp_packets",
        COUNTER,
        _R,
        "RoCEv2 congestion notification packets (opcode 0x81, SE=0, M=0), sampled at ingress.",
        smoothed=True,
    ),
    Family(
        "trimmed_packets",
        COUNTER,
        _R,
        "Trimmed packets (IP DSCP = the configured trim DSCP, default 11), sampled at ingress.",
        smoothed=True,
    ),
    Family(
        "aeth_acks",
        COUNTER,
        _R,
        "RoCEv2 packets whose AETH syndrome is an ACK.",
    ),
    Family(
        "aeth_naks",
        COUNTER,
        ("role", "code"),
        "RoCEv2 packets whose AETH syndrome is a NAK, by NAK code.",
        smoothed=True,
    ),
    Family(
        "aeth_rnr_naks",
        COUNTER,
        _R,
        "RoCEv2 packets whose AETH syndrome is a receiver-not-ready NAK.",
        smoothed=True,
    ),
    Family(
        "aeth_credits_avg",
        GAUGE,
        _R,
        "Mean decoded AETH credit count of ACKs over the last credit window.",
    ),
    Family(
        "aeth_credits_min",
        GAUGE,
        _R,
        "Smallest decoded AETH credit count of ACKs over the last credit window.",
    ),
    Family(
        "aeth_credits_max",
        GAUGE,
        _R,
        "Largest decoded AETH credit count of ACKs over the last credit window.",
    ),
    Family(
        "transit_delay_seconds",
        HISTOGRAM,
        _R,
        "Switch transit delay from extended_transit (1039), weighted by sampling rate; "
        "role of the output port.",
    ),
    Family(
        "egress_queue_depth_bytes",
        HISTOGRAM,
        _R,
        "Egress queue depth at enqueue from extended_queue (1040), weighted by sampling rate; "
        "role of the output port.",
    ),
    # --- drops (discarded_packet notifications: one per dropped packet, not sampled)
    Family(
        "dropped_packets",
        COUNTER,
        ("reason",),
        "Dropped packets reported by discard notifications, by sFlow drop reason name.",
        smoothed=True,
    ),
    Family(
        "dropped_packets_by_linux_reason",
        COUNTER,
        ("linux_reason",),
        "Dropped packets by Linux drop reason (extended_linux_drop_reason 1042).",
    ),
    Family(
        "dropped_packets_by_function",
        COUNTER,
        ("function",),
        "Dropped packets by kernel function that freed them (extended_function 1038).",
    ),
    Family(
        "drop_notifications_lost",
        COUNTER,
        (),
        "Discard notifications the agents could not send (the samples' drops field).",
    ),
    # --- period detection (collector.aggregate.period; method "compatible" = ai-metrics' algorithm,
    # "fine" = raw 100 ms buckets with interpolated crossings)
    Family(
        "period_seconds",
        GAUGE,
        ("method",),
        "Detected compute/exchange period of the RoCEv2 traffic entering the fabric; "
        "0 while learning or when not valid.",
    ),
    Family(
        "period_valid",
        GAUGE,
        ("method",),
        "1 when the period estimate is valid (learned, CV below the limit, not stale).",
    ),
    Family(
        "period_cv",
        GAUGE,
        ("method",),
        "Coefficient of variation (sdev / mean) of the intervals between threshold crossings.",
    ),
    Family(
        "period_cycles",
        COUNTER,
        ("method",),
        "Intervals between threshold crossings measured (cycles seen).",
    ),
    # --- interface counters (counter samples, per-second deltas; wraps and resets handled)
    Family(
        "interface_bytes",
        COUNTER,
        _DR,
        "Interface octets from counter samples, by direction (in, out) and port role.",
        smoothed=True,
    ),
    Family(
        "interface_packets",
        COUNTER,
        _DR,
        "Interface unicast+multicast+broadcast packets from counter samples.",
        smoothed=True,
    ),
    Family(
        "interface_errors",
        COUNTER,
        _DR,
        "Interface errors (ifInErrors / ifOutErrors) from counter samples.",
        smoothed=True,
    ),
    Family(
        "interface_discards",
        COUNTER,
        _DR,
        "Interface discards (ifInDiscards / ifOutDiscards) from counter samples.",
        smoothed=True,
    ),
    Family(
        "port_utilization_ratio",
        HISTOGRAM,
        _DR,
        "Port utilisation per counter interval: bits/s divided by ifSpeed (1.0 = 100 %).",
    ),
    Family(
        "ports",
        GAUGE,
        ("role", "status"),
        "Ports reporting counters, by role and operational status (up, down).",
    ),
    Family(
        "links",
        GAUGE,
        ("status",),
        "Topology links: up (both ends oper up), down (an end down), unmonitored.",
    ),
    # --- per-port series (only with --per-port-metrics)
    Family(
        "port_ingress_bytes",
        COUNTER,
        _PORT,
        "Per port: bytes sampled at ingress (flow samples x rate).",
        per_port=True,
    ),
    Family(
        "port_bytes",
        COUNTER,
        ("node", "port", "role", "direction"),
        "Per port: interface octets from counter samples.",
        per_port=True,
    ),
    Family(
        "port_errors",
        COUNTER,
        ("node", "port", "role", "direction"),
        "Per port: interface errors from counter samples.",
        per_port=True,
    ),
    Family(
        "port_discards",
        COUNTER,
        ("node", "port", "role", "direction"),
        "Per port: interface discards from counter samples.",
        per_port=True,
    ),
    Family(
        "port_utilization",
        GAUGE,
        ("node", "port", "role", "direction"),
        "Per port: utilisation over the last counter interval (ratio of ifSpeed).",
        per_port=True,
    ),
    Family(
        "port_speed_bytes_per_second",
        GAUGE,
        _PORT,
        "Per port: ifSpeed in bytes per second (ifSpeed bits / 8).",
        per_port=True,
    ),
    Family(
        "port_oper_up",
        GAUGE,
        _PORT,
        "Per port: 1 when ifOperStatus is up.",
        per_port=True,
    ),
    # --- per agent
    Family(
        "agent_datagrams",
        COUNTER,
        _AGENT,
        "Datagrams received from an agent (agent address, sub-agent id).",
    ),
    Family(
        "agent_lost_datagrams",
        COUNTER,
        _AGENT,
        "Datagrams missing from an agent's sequence numbers.",
    ),
    Family(
        "agent_restarts",
        COUNTER,
        _AGENT,
        "Agent restarts detected (sequence number or uptime went back).",
    ),
    Family(
        "agent_last_seen_timestamp_seconds",
        GAUGE,
        _AGENT,
        "Unix time of the last datagram from an agent.",
    ),
    Family(
        "agent_uptime_seconds",
        GAUGE,
        _AGENT,
        "Agent uptime reported in its last datagram.",
    ),
    Family(
        "agent_sampling_rate",
        GAUGE,
        _AGENT,
        "Configured sampling rate (1 in N) of an agent's last flow sample.",
    ),
    Family(
        "agent_effective_sampling_rate",
        GAUGE,
        _AGENT,
        "Effective sampling rate: sample_pool increase / samples generated, last interval.",
    ),
    Family(
        "agent_info",
        GAUGE,
        ("agent", "sub_agent", "node"),
        "Always 1: maps an agent to its topology node (empty when not in the topology).",
    ),
    # --- collector health
    Family("datagrams", COUNTER, (), "sFlow datagrams received."),
    Family(
        "samples",
        COUNTER,
        ("kind",),
        "Samples decoded, by kind (flow, counter, drop, unknown).",
    ),
    Family(
        "decode_errors",
        COUNTER,
        ("reason",),
        "Datagrams rejected by the decoder, by reason (the datagram is skipped).",
    ),
    Family(
        "rejected_datagrams",
        COUNTER,
        ("reason",),
        "Datagrams refused before decoding, by reason (agent_not_allowed: the agent is outside "
        "allowed_agents); they create no agent, port or locate state.",
    ),
    Family(
        "unknown_records",
        COUNTER,
        ("kind", "format"),
        "Samples and records of formats not decoded, by kind and enterprise:format.",
    ),
    Family(
        "malformed_records",
        COUNTER,
        ("kind", "reason"),
        "Known records whose body did not fit their layout (skipped), by reason.",
    ),
    Family(
        "flow_samples_skipped",
        COUNTER,
        ("reason",),
        "Flow samples not counted as traffic (not_ingress, zero_sampling_rate, no_header).",
    ),
    Family("lost_datagrams", COUNTER, (), "Datagrams missing from sequence numbers, all agents."),
    Family(
        "lost_samples",
        COUNTER,
        ("kind",),
        "Samples missing from per-source sequence numbers, by kind.",
    ),
    Family(
        "out_of_order_datagrams",
        COUNTER,
        (),
        "Datagrams that arrived after a later one from the same agent.",
    ),
    Family(
        "replayed_datagrams",
        COUNTER,
        (),
        "Datagrams whose sequence number had already arrived from the agent: not counted again.",
    ),
    Family("restarts_detected", COUNTER, (), "Agent restarts detected, all agents."),
    Family(
        "interface_discontinuities",
        COUNTER,
        ("reason",),
        "Interface counter intervals skipped (reset, implausible) or wrapped (wrap).",
    ),
    Family(
        "topology_misses",
        COUNTER,
        ("kind",),
        "Samples whose (agent, ifIndex) is not in the loaded topology, by kind.",
    ),
    Family("agents", GAUGE, (), "Agents currently tracked (seen within the agent timeout)."),
    Family(
        "agents_expired",
        COUNTER,
        (),
        "Agents dropped after the agent timeout without a datagram.",
    ),
    Family(
        "agents_untracked_datagrams",
        COUNTER,
        (),
        "Datagrams from agents not tracked because the agent table was full.",
    ),
    Family(
        "kernel_receive_drops",
        COUNTER,
        (),
        "Datagrams the kernel dropped on the sFlow sockets (receive buffer full).",
    ),
    Family(
        "receive_buffer_bytes",
        GAUGE,
        (),
        "SO_RCVBUF granted by the kernel, summed over the sFlow sockets.",
    ),
    Family(
        "receive_ring_bytes",
        GAUGE,
        (),
        "Capacity of the socket readers' rings (0: the receive loops read the sockets), summed.",
    ),
    Family(
        "receive_ring_peak_bytes",
        GAUGE,
        (),
        "Most bytes the socket readers' rings held during the last tick, summed over them.",
    ),
    Family(
        "receive_ring_full",
        COUNTER,
        (),
        "Times a socket reader found its ring full and waited (the socket buffer then fills).",
    ),
    Family("workers", GAUGE, (), "Receiving worker processes (1 = single process)."),
    Family(
        "worker_datagrams",
        COUNTER,
        ("worker",),
        "Datagrams each receiver handled, by worker (0 alone with --workers 1).",
    ),
    Family(
        "worker_restarts",
        COUNTER,
        ("worker",),
        "Worker processes replaced after they exited or sent nothing for 10 ticks (at least 10 s).",
    ),
    Family(
        "worker_deltas_coalesced",
        COUNTER,
        (),
        "Ticks whose delta a worker folded into the one still waiting for its aggregator.",
    ),
    Family("internal_errors", COUNTER, (), "Unexpected exceptions while handling a datagram."),
    # --- flow definitions (collector.flows, docs/flows.md)
    Family("flow_definitions", GAUGE, (), "Flow definitions active (PUT /flow/{name}/json)."),
    Family("flow_keys", GAUGE, ("flow",), "Keys a flow definition's table holds."),
    Family(
        "flow_keys_dropped",
        COUNTER,
        ("flow", "where"),
        "Flow keys not kept because a bound was reached: where=receiver (keys per definition "
        "and tick), aggregator (the table's max keys).",
    ),
    Family(
        "events",
        COUNTER,
        ("type",),
        "Fabric-health events raised, by type (docs/fabric-health.md).",
    ),
    Family("topology_loaded", GAUGE, (), "1 when a topology is loaded, else 0."),
    Family("topology_version", GAUGE, (), "Version of the topology in use (bumped per load)."),
    Family("topology_nodes", GAUGE, (), "Nodes in the topology."),
    Family("topology_reloads", COUNTER, ("result",), "Topology loads, by result (ok, error)."),
    # --- scale-out over NATS JetStream (collector.bus; only with --publish or in aggregate)
    Family(
        "bus_deltas_published", COUNTER, (), "Deltas this shard published that JetStream stored."
    ),
    Family(
        "bus_deltas_coalesced",
        COUNTER,
        (),
        "Deltas this shard folded into the one waiting for the bus (it lagged or was away).",
    ),
    Family(
        "bus_publish_failures",
        COUNTER,
        (),
        "Publish attempts JetStream did not acknowledge (retried unchanged, never lost).",
    ),
    Family(
        "bus_deltas_too_large",
        COUNTER,
        (),
        "Deltas larger than the server's max_payload, given up (raise max_payload).",
    ),
    Family("bus_deltas_merged", COUNTER, ("shard",), "Deltas the aggregator merged, by shard."),
    Family(
        "bus_deltas_replayed",
        COUNTER,
        ("shard",),
        "Deltas skipped because their id was merged already (a redelivery or a retried publish).",
    ),
    Family(
        "bus_deltas_refused",
        COUNTER,
        (),
        "Bus messages that were not a delta of this version or had no shard or id header.",
    ),
    Family("bus_checkpoints", COUNTER, (), "Checkpoints of the aggregator's totals written."),
    # --- direct InfluxDB push (collector.influx.push; only with --influx-url)
    Family(
        "influx_points_generated",
        COUNTER,
        (),
        "Points put in the InfluxDB push buffer (one per series per push interval).",
    ),
    Family("influx_points_sent", COUNTER, (), "Points InfluxDB accepted."),
    Family(
        "influx_points_dropped",
        COUNTER,
        ("reason",),
        "Points given up: buffer_full (oldest dropped), "
        "rejected (a 3xx or 4xx answer other than 429).",
    ),
    Family(
        "influx_requests_failed",
        COUNTER,
        ("reason",),
        "InfluxDB write requests that failed: connection, timeout, http_429, http_5xx, http_4xx, "
        "http_3xx (redirects are not followed).",
    ),
    Family("influx_buffer_points", GAUGE, (), "Points waiting to be sent to InfluxDB."),
    Family("influx_buffer_bytes", GAUGE, (), "Line protocol bytes waiting to be sent to InfluxDB."),
    Family(
        "influx_last_success_timestamp_seconds",
        GAUGE,
        (),
        "Unix time of the last write InfluxDB accepted.",
    ),
)

FAMILY_BY_NAME: Final = {f.name: f for f in FAMILIES}


# Label values that are a closed vocabulary: their counters are exported as 0 from the first
# scrape (client_python does the same for the label sets it is told about), so a rate() or an
# alert over them has a series before the first event. Labels taken from the wire (reasons,
# operations, agents, ports) are not: their values are only known once seen.
_CLOSED_LABELS: Final[dict[tuple[str, ...], tuple[tuple[str, ...], ...]]] = {
    ("role",): tuple((role,) for role in ROLES),
    ("direction", "role"): tuple((d, role) for d in ("in", "out") for role in ROLES),
}
_CLOSED_FAMILY_LABELS: Final[dict[str, tuple[tuple[str, ...], ...]]] = {
    "samples": tuple((kind,) for kind in (*SAMPLE_KINDS, "unknown")),
    "lost_samples": tuple((kind,) for kind in SAMPLE_KINDS),
    "topology_misses": (("flow",), ("counter",)),
    "interface_discontinuities": (("reset",), ("wrap",), ("implausible",)),
    "topology_reloads": (("ok",), ("error",)),
    "rejected_datagrams": (("agent_not_allowed",),),
    "events": tuple((kind,) for kind in EVENT_TYPES),
}


def initial_counters() -> dict[str, dict[tuple[str, ...], float]]:
    """The counter series that exist from the start, at 0: every unlabelled counter and every
    counter whose labels are a closed vocabulary (roles, directions, sample kinds, …); the
    per-port families, the InfluxDB push's and the bus's (absent unless configured) left out."""
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for family in FAMILIES:
        if family.type != COUNTER or family.per_port or family.name.startswith(("influx_", "bus_")):
            continue
        if not family.labels:
            known: tuple[tuple[str, ...], ...] = ((),)
        else:
            known = _CLOSED_FAMILY_LABELS.get(family.name) or _CLOSED_LABELS.get(family.labels, ())
        if known:
            out[family.name] = dict.fromkeys(known, 0.0)
    return out

"""Collector state of one receiver: per-agent sequence tracking, port counters, traffic totals.

``apply(datagram, now)`` folds one decoded datagram in; ``expire(now)`` forgets silent agents;
``drain(now)`` hands over everything additive accumulated since the last drain as a ``Delta``
(and starts a new period). Time is always passed in, never read here. Plain numbers in dicts keyed
by small tuples; no locks: one receiver thread or process owns one ``FabricState``.

Semantics (see docs/metrics.md):

* A flow sample is *ingress* when its data source is its input ifIndex; only ingress samples count
  as traffic, each standing for ``sampling_rate`` frames of ``frame_length`` bytes. The role of
  the input port (edge / core / unmapped) labels the traffic; edge ingress = entering the fabric.
* Sequence numbers: per (agent, sub-agent) for datagrams, per data source for samples. A gap
  counts lost datagrams/samples; the sequence or the uptime going back is a restart, which drops
  every baseline of that agent so no delta spans it. A datagram up to ``REORDER_WINDOW`` behind
  is late: its flow and drop samples count, its counter samples (older readings than the
  baselines) are skipped. The sequence number and a fingerprint (CRC-32 of the first 256
  bytes) of each of the last ``REORDER_WINDOW`` datagrams are kept per agent, so the same
  datagram arriving again is a replay: counted, nothing else (a restarted agent's new datagram
  1 has other contents).
* Interface counters become deltas between successive counter samples of a port. 32-bit counters
  may wrap once per interval when the wrapped delta is plausible for ifSpeed; a decrease that is
  not a plausible wrap, or a rate above 1.5 x ifSpeed, is a reset: the interval is skipped.
"""

from __future__ import annotations

import logging
import math
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any
from zlib import crc32

from collector.delta import (
    AgentKey,
    AgentStatus,
    CreditStats,
    Delta,
    HistogramValue,
    Labels,
    PortKey,
    PortStatusBlock,
    PortUpdates,
)
from collector.families import BUCKETS, SAMPLE_KINDS
from collector.flows.definition import FlowDefinition
from collector.flows.engine import FlowEngine
from collector.receive._accounting import FlowAccounting as FlowAccountingType
from collector.receive.accounting import FlowAccounting, FlowSource
from collector.receive.observe import FabricObserver
from decoders.drop_reasons import drop_reason_name
from decoders.fast import (
    COL_OUTPUT_FORMAT,
    COL_OUTPUT_VALUE,
    COL_QUEUE_DEPTH,
    COL_SAMPLING_RATE,
    COL_TRANSIT_DELAY,
    NUM_COLUMNS,
    agent_text,
)
from decoders.parse import decode_datagram, decode_sample
from decoders.records import (
    IFINDEX_INTERNAL,
    CounterSample,
    Datagram,
    DropSample,
    ExtendedFunction,
    ExtendedLinuxDropReason,
    ExtendedQueue,
    ExtendedTransit,
    FlowSample,
    GenericInterfaceCounters,
    HostDescription,
    PortName,
    RawRecord,
    RawSample,
    SampledEthernet,
    SampledHeader,
    SampledIPv4,
    SampledIPv6,
)
from decoders.rocev2 import CNP_OPCODE, CREDIT_TABLE, NAK_CODES, OPCODES
from topology.index import UNMAPPED
from topology.resolver import PortResolver

if TYPE_CHECKING:  # either build's FlowSource has this shape
    from collector.receive._accounting import FlowSource as FlowSourceState

log = logging.getLogger(__name__)

M32 = 0xFFFFFFFF
MAX_SEQUENCE_GAP = 1_000_000  # a larger jump is a resync, not a million lost datagrams
REORDER_WINDOW = 64  # a datagram this far behind is late, not a restart
SLOT = REORDER_WINDOW - 1  # a power of two less one: sequence & SLOT is a datagram's slot
# what _sequence made of a datagram's sequence number
IN_ORDER, LATE, REPLAYED = 0, 1, 2
# A replay is told by the CRC-32 of a datagram's first bytes: its header (uptime), the first
# sample's sequence numbers and the start of its records (a flow sample's packet headers). A
# restarted agent's new datagram with an old sequence number differs there; hashing the whole
# datagram cost 0.5 µs per 1.1 KB on the fast path, this a quarter of it.
FINGERPRINT_BYTES = 256
UPTIME_REORDER_MS = 2_000  # a late datagram's uptime is at most this much behind
UPTIME_WRAP_SLACK_MS = 600_000  # uptime (u32 ms) wraps after 49.7 days
TRANSIT_SATURATED = 0xFFFFFFFF
PROMOTE_AFTER = 3  # datagrams before an agent gets its own series (spoofed floods never do)
LABEL_CAP = 256  # distinct values of a label taken from the wire; more become "other"
AGENT_NAME_CACHE = 65_536  # raw agent addresses whose text form is cached (fast path)
MAX_SAMPLING_RATES = 8  # distinct sampling rates remembered per agent
# The flow samples of an agent's first datagram and of every 16th after it are looked at for
# their sampling rates: every datagram would cost the fast path a column scan.
RATES_EVERY = 16

# generic_interface (0:1) fields in record order: the accounting reads them by position
_GENERIC_FIELDS = tuple(f.name for f in fields(GenericInterfaceCounters))
_ROLE_LABELS: dict[str, Labels] = {r: (r,) for r in ("edge", "core", UNMAPPED)}
_OPERATION_LABELS: dict[int, str] = {op: f"{t}:{name}" for op, (t, name) in OPCODES.items()}


def operation_label_of(opcode: int) -> str:
    """``TRANSPORT:OPERATION`` for any opcode (unassigned ones as ``UNKNOWN:0xNN``)."""
    label = _OPERATION_LABELS.get(opcode)
    return label if label is not None else f"UNKNOWN:0x{opcode & 0xFF:02X}"


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Tunables of the collector state (defaults documented in docs/metrics.md)."""

    agent_timeout: float = 180.0
    max_agents: int = 10_000
    probation_agents: int = 4_096
    max_ports_per_agent: int = 4_096
    trim_dscp: int = 11  # -1 disables trimmed-packet counting
    per_port: bool = False


@dataclass(slots=True)
class AgentTrack:
    """Everything known about one (agent, sub-agent)."""

    agent: str
    sub_agent: int
    first_seen: float
    last_seen: float
    sequence: int
    uptime_ms: int
    datagrams: int = 0  # lifetime, for promotion
    pending_datagrams: int = 0
    pending_lost: int = 0
    pending_restarts: int = 0
    pending_out_of_order: int = 0
    # by SLOT, the sequence number and fingerprint of the last datagram there (4 bytes each, no
    # int object each): the same datagram again is a replay
    seqs: array[int] = field(default_factory=lambda: array("I", bytes(4 * REORDER_WINDOW)))
    prints: array[int] = field(default_factory=lambda: array("I", bytes(4 * REORDER_WINDOW)))
    pending_samples: list[int] = field(default_factory=lambda: [0, 0, 0])  # SAMPLE_KINDS
    pending_decode_errors: dict[str, int] = field(default_factory=dict)  # by reason
    dirty: bool = True
    sampling_rate: int | None = None
    sampling_rates: list[int] = field(default_factory=list)  # distinct, MAX_SAMPLING_RATES
    effective_rate: float | None = None
    pool_delta: int = 0
    generated_delta: int = 0
    flow_sources: dict[int, FlowSourceState] = field(default_factory=dict)  # src → its last numbers
    counter_sources: dict[int, int] = field(default_factory=dict)
    drop_sources: dict[int, list[int]] = field(default_factory=dict)  # src → [seq, drops]
    ports: Any = None  # the accounting's PortTable: counter baselines and statuses by ifIndex

    def reset_baselines(self) -> None:
        """After a restart nothing before it may be compared with anything after it."""
        self.flow_sources.clear()
        self.counter_sources.clear()
        self.drop_sources.clear()
        self.ports.clear()


def fingerprint_of(data: bytes | memoryview) -> int:
    """What tells a replay from another datagram with the same sequence number (see
    ``FINGERPRINT_BYTES``)."""
    return crc32(data[:FINGERPRINT_BYTES])


def _keep(track: AgentTrack, sequence: int, fingerprint: int) -> None:
    """Remember a datagram in its slot (what tells a replay)."""
    slot = sequence & SLOT
    track.seqs[slot] = sequence
    track.prints[slot] = fingerprint


def _note_sampling_rate(track: AgentTrack, rate: int) -> None:
    """Remember a sampling rate an agent uses (bounded: a spoofed flood cannot grow it)."""
    rates = track.sampling_rates
    if rate > 0 and rate not in rates and len(rates) < MAX_SAMPLING_RATES:
        rates.append(rate)


def _bucket_index(bounds: tuple[float, ...], value: float) -> int:
    for i, bound in enumerate(bounds):
        if value <= bound:
            return i
    return len(bounds)


class FabricState:
    """Per-receiver state; see the module docstring for the semantics."""

    def __init__(
        self,
        resolver: PortResolver,
        settings: StateSettings | None = None,
        accounting: FlowAccountingType | None = None,
    ) -> None:
        self.resolver = resolver
        self.settings = settings or StateSettings()
        self._agents: dict[AgentKey, AgentTrack] = {}
        self._probation: OrderedDict[AgentKey, AgentTrack] = OrderedDict()
        self._label_values: dict[str, set[str]] = {}
        self._agent_names: dict[bytes, str] = {}  # raw agent address → text (fast path)
        self._roce_key = 0  # 100 ms bucket of the datagram being applied: floor(now x 10)
        self.order = IN_ORDER  # what _sequence made of the datagram being applied
        self.fingerprint = 0  # of the datagram being applied: its CRC-32 (or its uptime)
        self.observer = FabricObserver()  # locate, flow activity, drop events
        self._accounting = (
            accounting
            if accounting is not None
            else FlowAccounting(
                self.settings.trim_dscp, self.settings.per_port, self.settings.max_ports_per_agent
            )
        )
        self.pending_tables: list[Any] = []  # port tables with statuses for the next drain
        # flow definitions (collector.flows.engine): called only while one is active or the
        # flow keys seen are being probed (a few rows a tick)
        self.flows = FlowEngine()
        self._new_period()

    def set_flows(self, definitions: list[tuple[FlowDefinition, int]]) -> None:
        """Install the active flow definitions (with their generations): the sums not yet
        drained of a definition still active (same name and generation) are kept, the others'
        dropped with them."""
        self.flows = FlowEngine(definitions, self.flows)

    # -----------------------------------------------------------------------------------------
    # Period bookkeeping

    def _new_period(self) -> None:
        self._counters: dict[str, dict[Labels, float]] = {}
        self._histograms: dict[str, dict[Labels, HistogramValue]] = {}
        self._credits: dict[str, CreditStats] = {}
        self._port_updates = PortUpdates()
        self._expired_agents: list[AgentKey] = []
        self._expired_ports: list[PortKey] = []
        self._roce_buckets: dict[int, float] = {}

    def count(self, family: str, labels: Labels = (), value: float = 1.0) -> None:
        """Add to a counter series (used by the pipeline for errors it catches)."""
        series = self._counters.get(family)
        if series is None:
            series = self._counters[family] = {}
        series[labels] = series.get(labels, 0.0) + value

    def _add_credits(self, role: str, count: int, total: float, low: float, high: float) -> None:
        stats = self._credits.get(role)
        if stats is None:
            stats = self._credits[role] = CreditStats()
        stats.add(CreditStats(count, total, low, high))

    def _observe(self, family: str, labels: Labels, value: float, weight: float) -> None:
        series = self._histograms.get(family)
        if series is None:
            series = self._histograms[family] = {}
        bounds = BUCKETS[family]
        hist = series.get(labels)
        if hist is None:
            hist = series[labels] = HistogramValue([0.0] * (len(bounds) + 1))
        hist.counts[_bucket_index(bounds, value)] += weight
        hist.total += value * weight

    def _bounded(self, family: str, value: str) -> str:
        """A label value from the wire, capped at ``LABEL_CAP`` distinct values per family."""
        seen = self._label_values.get(family)
        if seen is None:
            seen = self._label_values[family] = set()
        if value in seen:
            return value
        if len(seen) >= LABEL_CAP:
            return "other"
        seen.add(value)
        return value

    @property
    def agent_count(self) -> int:
        """Agents with their own series (past probation)."""
        return len(self._agents)

    def resume(self, baselines: dict[AgentKey, tuple[int, int]], now: float) -> None:
        """Take over agents another receiver of the same socket counted up to (sequence,
        uptime): their next datagram's gap is counted as lost, as if no receiver had been
        replaced. Tracked at once (they passed probation there); counter baselines are not
        carried over, so each port's first counter sample here is a new baseline."""
        for (agent, sub_agent), (sequence, uptime_ms) in baselines.items():
            if len(self._agents) >= self.settings.max_agents:
                break
            track = AgentTrack(agent, sub_agent, now, now, sequence, uptime_ms)
            track.ports = self._accounting.port_table(agent)
            track.datagrams = PROMOTE_AFTER
            track.dirty = False
            self._agents[(agent, sub_agent)] = track

    def agent(self, agent: str, sub_agent: int = 0) -> AgentTrack | None:
        """The tracking record of an agent, if tracked."""
        key = (agent, sub_agent)
        return self._agents.get(key) or self._probation.get(key)

    # -----------------------------------------------------------------------------------------
    # Datagrams

    def apply(self, datagram: Datagram, now: float, fingerprint: int | None = None) -> None:
        """Fold one decoded datagram into the state; ``fingerprint``: the CRC-32 of its bytes
        (replays are told by it; without it, by the uptime)."""
        self.fingerprint = datagram.uptime_ms if fingerprint is None else fingerprint
        agent = datagram.agent if datagram.agent is not None else "unknown"
        self._roce_key = math.floor(now * 10)
        self.count("datagrams")
        track = self._track(agent, datagram.sub_agent, datagram.sequence, datagram.uptime_ms, now)
        if self.order != IN_ORDER:
            self._out_of_order(track, agent, datagram, now)
            return
        if track is not None and track.datagrams % RATES_EVERY == 1:
            for sample in datagram.samples:
                if type(sample) is FlowSample:
                    _note_sampling_rate(track, sample.sampling_rate)
        for sample in datagram.samples:
            self._sample(track, agent, sample, now)

    def _out_of_order(
        self, track: AgentTrack | None, agent: str, datagram: Datagram, now: float
    ) -> None:
        """A late datagram's flow and drop samples (its counters are older than the
        baselines); nothing of a replayed one."""
        if self.order == REPLAYED:
            return
        for sample in datagram.samples:
            if type(sample) is not CounterSample:
                self._sample(track, agent, sample, now)

    def _sample(self, track: AgentTrack | None, agent: str, sample: object, now: float) -> None:
        """One decoded sample of either path, by its kind."""
        kind = type(sample)
        if kind is FlowSample:
            self._flow_sample(track, agent, sample, now)  # type: ignore[arg-type]
        elif kind is CounterSample:
            self._counter_sample(track, agent, sample, now)  # type: ignore[arg-type]
        elif kind is DropSample:
            self._drop_sample(track, agent, sample, now)  # type: ignore[arg-type]
        else:
            self._raw_sample(sample)  # type: ignore[arg-type]

    def _track(
        self, agent: str, sub_agent: int, sequence: int, uptime_ms: int, now: float
    ) -> AgentTrack | None:
        key = (agent, sub_agent)
        self.order = IN_ORDER
        track = self._agents.get(key)
        if track is None:
            track = self._probation.get(key)
            if track is None:
                track = AgentTrack(agent, sub_agent, now, now, sequence, uptime_ms)
                _keep(track, sequence, self.fingerprint)
                track.ports = self._accounting.port_table(agent)
                self._probation[key] = track
                if len(self._probation) > self.settings.probation_agents:
                    self._probation.popitem(last=False)  # oldest newcomer goes
                track.datagrams = track.pending_datagrams = 1
                track.last_seen = now
                return track
            self._probation.move_to_end(key)
            if track.datagrams + 1 >= PROMOTE_AFTER:
                if len(self._agents) < self.settings.max_agents:
                    del self._probation[key]
                    self._agents[key] = track
                else:
                    self.count("agents_untracked_datagrams")
        track.datagrams += 1
        track.pending_datagrams += 1
        track.last_seen = now
        track.dirty = True
        self._sequence(track, sequence, uptime_ms)
        return track

    def _sequence(self, track: AgentTrack, sequence: int, uptime_ms: int) -> None:
        gap = (sequence - track.sequence) & M32
        if gap == 0 or gap > 0x7FFFFFFF:
            # Back: the very datagram again (its number and fingerprint in its slot) is a
            # replay, whatever its uptime says; a restart starting again at 1 sends other bytes.
            slot = sequence & SLOT
            if track.seqs[slot] == sequence and track.prints[slot] == self.fingerprint:
                self.count("replayed_datagrams")
                self.order = REPLAYED
                return
        last_uptime = track.uptime_ms
        # Late datagrams carry a slightly older uptime; only a real step back is a restart.
        uptime_back = uptime_ms + UPTIME_REORDER_MS < last_uptime and not (
            last_uptime > M32 - UPTIME_WRAP_SLACK_MS and uptime_ms < UPTIME_WRAP_SLACK_MS
        )
        if uptime_back or (gap > 0x7FFFFFFF and (M32 + 1 - gap) > REORDER_WINDOW):
            track.pending_restarts += 1
            self.count("restarts_detected")
            track.reset_baselines()
            track.sequence, track.uptime_ms = sequence, uptime_ms
            _keep(track, sequence, self.fingerprint)
            return
        if gap == 0 or gap > 0x7FFFFFFF:
            _keep(track, sequence, self.fingerprint)
            self.count("out_of_order_datagrams")
            track.pending_out_of_order += 1
            self.order = LATE
            return
        if gap <= MAX_SEQUENCE_GAP and gap > 1:
            track.pending_lost += gap - 1
            self.count("lost_datagrams", (), gap - 1)
        _keep(track, sequence, self.fingerprint)
        track.sequence, track.uptime_ms = sequence, uptime_ms

    def _sample_gap(self, kind: str, last: int, sequence: int) -> None:
        gap = (sequence - last) & M32
        if 1 < gap <= MAX_SEQUENCE_GAP:
            self.count("lost_samples", (kind,), gap - 1)

    def _raw_sample(self, sample: RawSample) -> None:
        self.count("samples", ("unknown",))
        label = self._bounded("unknown_records", f"{sample.enterprise}:{sample.format}")
        self.count("unknown_records", ("sample", label))

    def _raw_record(self, kind: str, record: RawRecord) -> None:
        if record.error is None:
            label = self._bounded("unknown_records", f"{record.enterprise}:{record.format}")
            self.count("unknown_records", (kind, label))
        else:
            self.count("malformed_records", (kind, record.error))

    # -----------------------------------------------------------------------------------------
    # Flow samples

    def _flow_sample(
        self, track: AgentTrack | None, agent: str, sample: FlowSample, now: float
    ) -> None:
        frame_length = -1
        packet = None
        transit = depth = -1
        for record in sample.records:
            kind = type(record)
            if kind is SampledHeader:
                if packet is None:
                    packet = record.packet  # type: ignore[union-attr]
                    frame_length = record.frame_length  # type: ignore[union-attr]
            elif kind is ExtendedTransit:
                transit = record.delay_ns  # type: ignore[union-attr]
            elif kind is ExtendedQueue:
                depth = record.depth_bytes  # type: ignore[union-attr]
            elif kind is SampledIPv4 or kind is SampledIPv6 or kind is SampledEthernet:
                if frame_length < 0:
                    frame_length = record.length  # type: ignore[union-attr]
            elif kind is RawRecord:
                self._raw_record("flow", record)  # type: ignore[arg-type]
        dscp = ecn = opcode = reth_length = syndrome = -1
        se_or_m = False
        if packet is not None:
            dscp = packet.dscp if packet.dscp is not None else -1
            ecn = packet.ecn if packet.ecn is not None else -1
            roce = packet.roce
            if roce is not None:
                opcode = roce.bth.opcode
                se_or_m = roce.bth.solicited_event or roce.bth.mig_req
                if roce.reth is not None:
                    reth_length = roce.reth.dma_length
                if roce.aeth is not None:
                    syndrome = roce.aeth.syndrome
        self.observer.observe_packet(agent, sample.input.ifindex, packet, self.resolver, now)
        if self.flows.busy_rows:
            self.flows.account_flow_sample(sample, agent, self.resolver)
        self._count_flow(
            track,
            agent,
            sample.source.type,
            sample.source.index,
            sample.sequence,
            sample.sampling_rate,
            sample.sample_pool,
            sample.drops,
            sample.input.ifindex,
            sample.output.ifindex,
            frame_length,
            dscp,
            ecn,
            opcode,
            se_or_m,
            reth_length,
            syndrome,
            transit,
            depth,
        )

    def _flow_histograms(
        self, agent: str, out_if: int | None, rate: int, transit: int, depth: int
    ) -> None:
        out_info = self.resolver.resolve(agent, out_if) if out_if is not None else None
        out_labels = _ROLE_LABELS[out_info.role if out_info is not None else UNMAPPED]
        if transit >= 0:
            seconds = (transit if transit != TRANSIT_SATURATED else 2**32) * 1e-9
            self._observe("transit_delay_seconds", out_labels, seconds, rate)
        if depth >= 0:
            self._observe("egress_queue_depth_bytes", out_labels, float(depth), rate)

    def _count_flow(
        self,
        track: AgentTrack | None,
        agent: str,
        source_type: int,
        source_index: int,
        sequence: int,
        rate: int,
        sample_pool: int,
        drops: int,
        in_if: int | None,
        out_if: int | None,
        frame_length: int,
        dscp: int,
        ecn: int,
        opcode: int,
        se_or_m: bool,
        reth_length: int,
        syndrome: int,
        transit: int,
        depth: int,
    ) -> None:
        """One flow sample reduced to numbers (-1 = absent), whichever decoder produced them."""
        self.count("samples", ("flow",))
        if track is not None:
            source = (source_type << 32) | source_index
            track.sampling_rate = rate
            track.pending_samples[0] += 1
            state = track.flow_sources.get(source)
            if state is None:
                track.flow_sources[source] = FlowSource(sequence, sample_pool, drops)
            else:
                self._sample_gap("flow", state.sequence, sequence)
                generated = (sequence - state.sequence) & M32
                pool = (sample_pool - state.pool) & M32
                dropped = (drops - state.drops) & M32
                if 0 < generated <= MAX_SEQUENCE_GAP and dropped <= MAX_SEQUENCE_GAP:
                    track.pool_delta += pool
                    track.generated_delta += generated + dropped
                state.sequence, state.pool, state.drops = sequence, sample_pool, drops
        if rate <= 0:
            self.count("flow_samples_skipped", ("zero_sampling_rate",))
            return
        if transit >= 0 or depth >= 0:
            self._flow_histograms(agent, out_if, rate, transit, depth)
        if in_if is None or source_type != 0 or source_index != in_if:
            self.count("flow_samples_skipped", ("not_ingress",))
            return
        if frame_length < 0:
            self.count("flow_samples_skipped", ("no_header",))
            return
        info = self.resolver.resolve(agent, in_if)
        if info is None:
            role = UNMAPPED
            if self.resolver.index is not None:
                self.count("topology_misses", ("flow",))
        else:
            role = info.role
            if self.settings.per_port:
                self.count("port_ingress_bytes", (info.node, info.port, role), frame_length * rate)
        role_labels = _ROLE_LABELS[role]
        self.count("ingress_bytes", role_labels, frame_length * rate)
        self.count("ingress_frames", role_labels, rate)
        if role == "edge":
            self.count("fabric_ingress_bytes", (), frame_length * rate)
            self.count("fabric_ingress_frames", (), rate)
        if self.settings.trim_dscp >= 0 and dscp == self.settings.trim_dscp:
            self.count("trimmed_packets", role_labels, rate)
        if opcode < 0:
            return
        self.count("rocev2_operations", (role, operation_label_of(opcode)), rate)
        if role == "edge":
            buckets, key = self._roce_buckets, self._roce_key
            buckets[key] = buckets.get(key, 0.0) + rate
        if ecn == 3:
            self.count("ecn_ce_packets", role_labels, rate)
        if opcode == CNP_OPCODE and not se_or_m:
            self.count("cnp_packets", role_labels, rate)
        if reth_length >= 0:
            self.count("rdma_operations", role_labels, rate)
            self.count("rdma_bytes", role_labels, reth_length * rate)
        if syndrome >= 0:
            self._aeth(role, syndrome, rate)

    # -----------------------------------------------------------------------------------------
    # Fast path: flow samples as int64 rows, other samples decoded one by one

    def apply_rows(self, rows: Any, data: bytes | memoryview, now: float) -> None:
        """Fold one datagram scanned by ``decoders.fast.scan_datagram`` (a ``FlowRows``) in.

        The flow rows go to the flow accounting (``collector.receive._accounting``: numeric
        arrays, the state's dicts touched once per drain), which calls back ``row_histograms``
        and ``port_ingress`` for what the arrays do not hold.
        """
        raw = rows.agent_address  # the address bytes alone give the text (4, 16 or 0 bytes)
        agent = self._agent_names.get(raw)
        if agent is None:
            agent = agent_text(rows.agent_address_type, raw) or "unknown"
            if len(self._agent_names) >= AGENT_NAME_CACHE:
                self._agent_names.clear()  # bounded; cheap to recompute
            self._agent_names[raw] = agent
        sequence = rows.sequence
        uptime_ms = rows.uptime_ms
        self.fingerprint = fingerprint = crc32(data[:FINGERPRINT_BYTES])  # fingerprint_of, inline
        track = self._agents.get((agent, rows.sub_agent))
        if (
            track is not None
            and (sequence - track.sequence) & M32 == 1
            and uptime_ms >= track.uptime_ms
        ):
            # The common case of _track + _sequence: a known agent's next datagram.
            track.datagrams += 1
            track.pending_datagrams += 1
            track.last_seen = now
            track.dirty = True
            track.sequence, track.uptime_ms = sequence, uptime_ms
            slot = sequence & SLOT
            track.seqs[slot] = sequence
            track.prints[slot] = fingerprint
        else:
            track = self._track(agent, rows.sub_agent, sequence, uptime_ms, now)
            if self.order != IN_ORDER:  # rare: the full decoder, as apply() would
                self.count("datagrams")
                self._roce_key = math.floor(now * 10)
                self._out_of_order(track, agent, decode_datagram(bytes(data)), now)
                return
        self._roce_key = key = math.floor(now * 10)
        accounting = self._accounting
        if rows.count:
            accounting.account(rows.storage, rows.count, track, agent, self.resolver, self)
            frames = accounting.roce_edge_frames
            if frames:
                accounting.roce_edge_frames = 0.0
                self._roce_buckets[key] = self._roce_buckets.get(key, 0.0) + frames
        else:  # counters and drops only: the datagram alone (``account`` costs more)
            accounting.count_datagram()
        flows = self.flows
        if rows.count and flows.busy_rows:
            flows.account_rows(rows, data, agent, self.resolver)
        if rows.drop_count and flows.busy_drops:
            for k in range(rows.drop_count):
                flows.account_drop_row(rows.drop_row(k), data, agent, self.resolver)
        if rows.count:
            self.observer.observe_rows(rows, data, agent, self.resolver, now)
            if track is not None:
                track.pending_samples[0] += rows.count
                if track.datagrams % RATES_EVERY == 1:
                    end = rows.count * NUM_COLUMNS
                    for rate in set(rows.storage[COL_SAMPLING_RATE:end:NUM_COLUMNS]):
                        _note_sampling_rate(track, rate)
        if (rows.counter_count or rows.drop_count) and track is not None:
            recorder = self.observer.drops
            skipped = accounting.account_samples(
                rows, data, track, agent, self.resolver, self, now, recorder.room()
            )
            recorder.skipped += skipped
            track.pending_samples[1] += rows.counter_count
            track.pending_samples[2] += rows.drop_count
        if not rows.others:
            return
        buf = bytes(data)
        for data_format, offset, length, index in rows.others:
            self._sample(track, agent, decode_sample(buf, offset, length, data_format, index), now)

    def row_histograms(self, values: Any, i: int, agent: str) -> None:
        """Transit delay and queue depth of flow row ``i`` (a hook of the flow accounting)."""
        b = i * NUM_COLUMNS
        out_if = values[b + COL_OUTPUT_VALUE]
        self._flow_histograms(
            agent,
            out_if
            if values[b + COL_OUTPUT_FORMAT] == 0 and 0 < out_if != IFINDEX_INTERNAL
            else None,
            values[b + COL_SAMPLING_RATE],
            values[b + COL_TRANSIT_DELAY],
            values[b + COL_QUEUE_DEPTH],
        )

    def port_ingress(self, agent: str, in_if: int, frame_length: int, rate: int) -> None:
        """Per-port ingress bytes of a mapped port (a hook of the flow accounting)."""
        info = self.resolver.resolve(agent, in_if)
        if info is not None:
            self.count("port_ingress_bytes", (info.node, info.port, info.role), frame_length * rate)

    def _aeth(self, role: str, syndrome: int, rate: int) -> None:
        if syndrome & 0x80:
            return  # reserved bit set: not a syndrome we can read
        kind = syndrome & 0x60
        if kind == 0x00:
            self.count("aeth_acks", _ROLE_LABELS[role], rate)
            credits = CREDIT_TABLE[syndrome & 0x1F]
            if credits is not None:
                stats = self._credits.get(role)
                if stats is None:
                    stats = self._credits[role] = CreditStats()
                stats.observe(credits)
        elif kind == 0x20:
            self.count("aeth_rnr_naks", _ROLE_LABELS[role], rate)
        elif kind == 0x60:
            code = NAK_CODES.get(syndrome & 0x1F, f"CODE_{syndrome & 0x1F}")
            self.count("aeth_naks", (role, code), rate)

    # -----------------------------------------------------------------------------------------
    # Counter samples

    def _counter_sample(
        self, track: AgentTrack | None, agent: str, sample: CounterSample, now: float
    ) -> None:
        self.count("samples", ("counter",))
        source = (sample.source.type << 32) | sample.source.index
        if track is not None:
            track.pending_samples[1] += 1
            last = track.counter_sources.get(source)
            if last is not None:
                self._sample_gap("counter", last, sample.sequence)
            track.counter_sources[source] = sample.sequence
        # Names first: a port_name in the same sample names the interface counted below.
        interfaces: list[GenericInterfaceCounters] = []
        for record in sample.records:
            kind = type(record)
            if kind is GenericInterfaceCounters:
                interfaces.append(record)  # type: ignore[arg-type]
            elif kind is PortName:
                if sample.source.type == 0 and track is not None:
                    name = record.name  # type: ignore[union-attr]
                    track.ports.forget_name(sample.source.index)
                    if self.resolver.port_name(agent, sample.source.index) != name:
                        self.resolver.learn_port_name(agent, sample.source.index, name)
                        self._accounting.forget(agent)  # its cached roles may change
            elif kind is HostDescription:
                hostname = record.hostname  # type: ignore[union-attr]
                if track is not None:
                    track.ports.raw_host = None  # compare the next fast-path record again
                if track is not None and hostname and self.resolver.hostname(agent) != hostname:
                    self.resolver.learn_hostname(agent, hostname)
                    self._accounting.forget(agent)  # its cached roles may change
            elif kind is RawRecord:
                self._raw_record("counter", record)  # type: ignore[arg-type]
        for counters in interfaces:
            self._interface(track, agent, counters, now)

    def _interface(
        self, track: AgentTrack | None, agent: str, c: GenericInterfaceCounters, now: float
    ) -> None:
        if track is None:
            return  # no baseline to compare with, and no port to report it on
        values = array("Q", [getattr(c, name) for name in _GENERIC_FIELDS])
        self._accounting.interface(
            track.ports, agent, self.resolver, self, now, track.uptime_ms, values
        )

    # -----------------------------------------------------------------------------------------
    # Hooks of the accounting (counter and drop rows): what its arrays do not hold

    def learn_port_name(self, agent: str, ifindex: int, raw: bytes) -> None:
        """A port_name record (raw bytes) that differs from the last one of that port."""
        name = raw.decode("utf-8", "replace")  # as decoders.parse decodes strings
        if self.resolver.port_name(agent, ifindex) != name:
            self.resolver.learn_port_name(agent, ifindex, name)
            self._accounting.forget(agent)  # its cached roles may change

    def learn_hostname(self, agent: str, raw: bytes) -> None:
        """A host_descr hostname (raw bytes) that differs from the agent's last one."""
        hostname = raw.decode("utf-8", "replace")
        if hostname and self.resolver.hostname(agent) != hostname:
            self.resolver.learn_hostname(agent, hostname)
            self._accounting.forget(agent)  # its cached roles may change

    def unknown_label(self, data_format: int) -> str:
        """The bounded ``unknown_records`` label of a counter record format no parser knows."""
        return self._bounded("unknown_records", f"{data_format >> 12}:{data_format & 0xFFF}")

    def drop_event(
        self, rows: Any, k: int, data: bytes | memoryview, agent: str, now: float
    ) -> None:
        """The drop log event of drop row ``k`` (a bounded few a tick)."""
        self.observer.drops.record_row(agent, rows.drop_row(k), data, self.resolver, now)

    def bounded_text(self, family: str, raw: bytes) -> str:
        """The label of a text record (Linux drop reason, kernel function) from the wire."""
        return self._bounded(family, raw.decode("utf-8", "replace"))

    def port_counters(
        self,
        info: Any,
        role: str,
        in_bytes: int,
        in_errors: int,
        in_discards: int,
        out_bytes: int,
        out_errors: int,
        out_discards: int,
    ) -> None:
        """The opt-in per-port series of one interval of a mapped port's counters."""
        for direction, b, e, d in (
            ("in", in_bytes, in_errors, in_discards),
            ("out", out_bytes, out_errors, out_discards),
        ):
            labels = (info.node, info.port, role, direction)
            self.count("port_bytes", labels, b)
            self.count("port_errors", labels, e)
            self.count("port_discards", labels, d)

    def _merge_histogram(
        self, family: str, labels: Labels, buckets: list[float], total: float
    ) -> None:
        series = self._histograms.get(family)
        if series is None:
            series = self._histograms[family] = {}
        hist = series.get(labels)
        if hist is None:
            series[labels] = HistogramValue(buckets, total)
            return
        for i, n in enumerate(buckets):
            hist.counts[i] += n
        hist.total += total

    # -----------------------------------------------------------------------------------------
    # Drop notifications

    def _drop_sample(
        self, track: AgentTrack | None, agent: str, sample: DropSample, now: float
    ) -> None:
        self.count("samples", ("drop",))
        self.observer.record_drop(agent, sample, self.resolver, now)
        if self.flows.busy_drops:
            self.flows.account_drop_sample(sample, agent, self.resolver)
        source = (sample.source.type << 32) | sample.source.index
        if track is not None:
            track.pending_samples[2] += 1
            state = track.drop_sources.get(source)
            if state is None:
                track.drop_sources[source] = [sample.sequence, sample.drops]
            else:
                self._sample_gap("drop", state[0], sample.sequence)
                lost = (sample.drops - state[1]) & M32
                if 0 < lost <= MAX_SEQUENCE_GAP:
                    self.count("drop_notifications_lost", (), lost)
                state[0], state[1] = sample.sequence, sample.drops
        reason = drop_reason_name(sample.reason)
        self.count("dropped_packets", (reason,))
        if self.resolver.counts_for_topology(agent):
            self.count("topology_dropped_packets", (reason,))  # what the compatible face reads
        for record in sample.records:
            kind = type(record)
            if kind is ExtendedLinuxDropReason:
                value = self._bounded("linux_reason", record.reason)  # type: ignore[union-attr]
                self.count("dropped_packets_by_linux_reason", (value,))
            elif kind is ExtendedFunction:
                value = self._bounded("function", record.symbol)  # type: ignore[union-attr]
                self.count("dropped_packets_by_function", (value,))
            elif kind is RawRecord:
                self._raw_record("drop", record)  # type: ignore[arg-type]

    # -----------------------------------------------------------------------------------------
    # Expiry and hand-over

    def count_decode_error(self, agent: str, sub_agent: int, reason: str) -> None:
        """A rejected datagram or sample whose header names a tracked agent (the pipeline
        counts the collector-wide ``decode_errors`` itself)."""
        track = self.agent(agent, sub_agent)
        if track is None:
            return  # an unknown sender's garbage never creates an agent
        errors = track.pending_decode_errors
        errors[reason] = errors.get(reason, 0) + 1
        track.dirty = True

    def expire(self, now: float) -> None:
        """Forget agents silent for longer than the agent timeout."""
        deadline = now - self.settings.agent_timeout
        for table in (self._agents, self._probation):
            stale = [key for key, track in table.items() if track.last_seen < deadline]
            for key in stale:
                track = table.pop(key)
                if table is self._agents:
                    self._expired_agents.append(key)
                    self.count("agents_expired")
                self._expired_ports.extend((key[0], ifindex) for ifindex in track.ports)
                if not any(k[0] == key[0] for k in self._agents):
                    self.resolver.forget(key[0])
                    self._accounting.forget(key[0])

    def drain(self, now: float) -> Delta:
        """Everything accumulated since the last drain; starts a new period."""
        self._accounting.flush(self.count, self._add_credits, self._merge_histogram)
        block = self._accounting.port_block(self.pending_tables, self.resolver, PortStatusBlock)
        if block is not None:
            self._port_updates.add_block(block)
        self.pending_tables = []
        for key, track in self._agents.items():
            if not track.dirty:
                continue
            labels = (key[0], str(key[1]))
            if track.pending_datagrams:
                self.count("agent_datagrams", labels, track.pending_datagrams)
            if track.pending_lost:
                self.count("agent_lost_datagrams", labels, track.pending_lost)
            if track.pending_restarts:
                self.count("agent_restarts", labels, track.pending_restarts)
            if track.pending_out_of_order:
                self.count("agent_out_of_order_datagrams", labels, track.pending_out_of_order)
            for kind, n in zip(SAMPLE_KINDS, track.pending_samples, strict=True):
                if n:
                    self.count("agent_samples", (*labels, kind), n)
            for reason, n in track.pending_decode_errors.items():
                self.count("agent_decode_errors", (*labels, reason), n)
            track.pending_datagrams = track.pending_lost = track.pending_restarts = 0
            track.pending_out_of_order = 0
            track.pending_samples = [0, 0, 0]
            track.pending_decode_errors = {}
        agents: dict[AgentKey, AgentStatus] = {}
        for key, track in self._agents.items():
            if not track.dirty:
                continue
            if track.generated_delta > 0:
                track.effective_rate = track.pool_delta / track.generated_delta
            track.pool_delta = track.generated_delta = 0
            agents[key] = AgentStatus(
                self.resolver.node_of(key[0]) or "",
                track.last_seen,
                track.uptime_ms,
                track.sampling_rate,
                track.effective_rate,
                self.resolver.hostname(key[0]),
                tuple(sorted(track.sampling_rates)),
                track.sequence,
            )
            track.dirty = False
        delta = Delta(
            counters={name: series for name, series in self._counters.items() if series},
            histograms=self._histograms,
            credits=self._credits,
            gauges={"agents": float(len(self._agents))},
            agents=agents,
            expired_agents=self._expired_agents,
            ports=self._port_updates,
            expired_ports=self._expired_ports,
            roce_buckets=self._roce_buckets,
        )
        delta.observed = self.observer.drain()
        delta.flows, seen = self.flows.drain()
        delta.flow_keys = dict.fromkeys(seen, now)
        self._new_period()
        return delta

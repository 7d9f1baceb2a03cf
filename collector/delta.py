"""Additive deltas: what one receiver (thread or worker process) hands the aggregator each tick.

Counters and histogram buckets add; agent and port statuses are latest-wins (the kernel pins an
agent to one worker, so there is one writer per key). Everything is plain data; across a process
boundary a delta travels in ``collector.delta_codec``'s versioned encoding. Flow definitions'
partial sums add per key. A worker whose aggregator lags folds the deltas of later ticks into the
one still waiting (``Delta.absorb``): the aggregator then sees the same totals and latest
statuses as if it had merged each.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from collector.drop_events import Event

Labels = tuple[str, ...]
AgentKey = tuple[str, int]  # (agent address, sub-agent id)
PortKey = tuple[str, int]  # (agent address, ifIndex)


UNKNOWN_SPEED = 2**64 - 1  # ifSpeed all ones: the agent does not know its port's speed
# What a worker's coalesced delta keeps at most while its aggregator lags (the aggregator's drop
# ring holds 10,000 events; a receiver ships at most 2,048 locations a tick).
MAX_HELD_EVENTS = 10_000
MAX_HELD_LOCATIONS = 100_000
MAX_HELD_FLOW_AGENTS = 200_000
MAX_HELD_FLOW_KEYS = 100_000  # per flow definition
# Port status rows a delta holds in columns before it settles them into one status per port
# (bounded like the ports themselves while a lagging aggregator lets ticks pile up).
MAX_HELD_BLOCK_ROWS = 262_144


@dataclass(slots=True)
class HistogramValue:
    """Histogram state: per-bucket (not cumulative) counts, the last one +Inf, and the sum."""

    counts: list[float]
    total: float = 0.0

    def add(self, other: HistogramValue) -> None:
        """Add another histogram of the same buckets into this one."""
        for i, n in enumerate(other.counts):
            self.counts[i] += n
        self.total += other.total


@dataclass(frozen=True, slots=True)
class AgentStatus:
    """Latest per-agent gauges."""

    node: str
    last_seen: float
    uptime_ms: int
    sampling_rate: int | None
    effective_sampling_rate: float | None
    hostname: str | None = None  # what it says in host_descr (counter record 2000)
    sampling_rates: tuple[int, ...] = ()  # distinct rates seen in its flow samples, ascending
    # the last datagram sequence number counted: a replacement worker resumes from it, so what
    # a killed one had received and not handed over shows as lost datagrams
    sequence: int = 0


# Not frozen: receivers build one per port and tick, and a frozen dataclass costs five times as
# much to construct. Nothing mutates a status once it is made; the aggregator replaces it whole.
@dataclass(slots=True)
class PortStatus:
    """Latest state of one interface, from its last counter sample."""

    node: str | None
    port: str | None
    role: str
    oper_up: bool
    admin_up: bool
    speed_bps: int
    in_utilization: float | None
    out_utilization: float | None
    last_seen: float
    sflow_name: str | None = None  # the ifName it reports in port_name (counter record 1005)


OPER_UP, ADMIN_UP = 1, 2  # the bits of a PortStatusBlock's ``up`` column


@dataclass(slots=True)
class PortStatusBlock:
    """A receiver's port statuses of one tick, column by column: what its accounting fills in
    compiled code in one pass over the port tables (numbers in arrays, no object per port),
    instead of one ``PortStatus`` and key per port.

    Row ``i`` is the status of port ``(agent[i], ifindex[i])``: ``up`` holds ``OPER_UP | ADMIN_UP``
    bits, a utilisation is NaN when none was measured this time; the other columns are
    ``PortStatus``'s fields of the same names."""

    agent: Sequence[str]
    ifindex: Sequence[int]
    node: Sequence[str | None]
    port: Sequence[str | None]
    role: Sequence[str]
    up: Sequence[int]
    speed_bps: Sequence[int]
    in_utilization: Sequence[float]
    out_utilization: Sequence[float]
    last_seen: Sequence[float]
    sflow_name: Sequence[str | None]

    def __len__(self) -> int:
        return len(self.ifindex)

    def columns(self) -> tuple[Sequence[Any], ...]:
        """Every column, in declaration order."""
        return (
            self.agent, self.ifindex, self.node, self.port, self.role, self.up, self.speed_bps,
            self.in_utilization, self.out_utilization, self.last_seen, self.sflow_name,
        )  # fmt: skip

    def settle_into(self, statuses: dict[PortKey, PortStatus]) -> None:
        """Put each row's ``PortStatus`` in ``statuses``, unless one seen later is there."""
        get = statuses.get
        for agent, ifindex, node, port, role, up, speed, i, o, seen, name in zip(
            *self.columns(), strict=True
        ):
            key = (agent, ifindex)
            held = get(key)
            if held is None or held.last_seen <= seen:
                statuses[key] = PortStatus(
                    node, port, role, bool(up & OPER_UP), bool(up & ADMIN_UP), speed,
                    None if i != i else i, None if o != o else o, seen, name,
                )  # fmt: skip


class PortUpdates(MutableMapping[PortKey, PortStatus]):
    """A delta's port statuses by (agent, ifIndex), latest-wins: a mapping whose rows may still
    be in the receivers' columnar blocks. Blocks are settled into statuses when the mapping is
    first read (by the aggregator), so a receiver's drain and the codec never build one object
    per port; a status seen later (``last_seen``) wins over an earlier one of the same port."""

    __slots__ = ("_blocks", "_held_rows", "_statuses")

    def __init__(self, statuses: Mapping[PortKey, PortStatus] | None = None) -> None:
        self._statuses: dict[PortKey, PortStatus] = dict(statuses or {})
        self._blocks: list[PortStatusBlock] = []
        self._held_rows = 0

    def add_block(self, block: PortStatusBlock) -> None:
        """Append one block of rows (settled at once past ``MAX_HELD_BLOCK_ROWS``)."""
        self._blocks.append(block)
        self._held_rows += len(block)
        if self._held_rows > MAX_HELD_BLOCK_ROWS:
            self._settled()

    def parts(self) -> tuple[dict[PortKey, PortStatus], list[PortStatusBlock]]:
        """The settled statuses and the blocks not yet settled (applied after them, in order)."""
        return self._statuses, self._blocks

    def _settled(self) -> dict[PortKey, PortStatus]:
        if self._blocks:
            statuses = self._statuses
            for block in self._blocks:
                block.settle_into(statuses)
            self._blocks = []
            self._held_rows = 0
        return self._statuses

    def update(self, other: Any = (), /, **kwargs: Any) -> None:
        """Later statuses over these: another ``PortUpdates`` keeps its blocks unsettled."""
        if isinstance(other, PortUpdates) and not kwargs:
            if other._statuses:
                self._settled().update(other._statuses)
            for block in other._blocks:
                self.add_block(block)
            return
        self._settled().update(other, **kwargs)

    def __getitem__(self, key: PortKey) -> PortStatus:
        return self._settled()[key]

    def __setitem__(self, key: PortKey, status: PortStatus) -> None:
        self._settled()[key] = status

    def __delitem__(self, key: PortKey) -> None:
        del self._settled()[key]

    def __iter__(self) -> Iterator[PortKey]:
        return iter(self._settled())

    def __len__(self) -> int:
        return len(self._settled())

    def __bool__(self) -> bool:
        return bool(self._statuses) or any(len(block) for block in self._blocks)

    def __repr__(self) -> str:
        return f"PortUpdates({self._settled()!r})"


@dataclass(slots=True)
class CreditStats:
    """count / sum / min / max of decoded AETH credits."""

    count: int = 0
    total: float = 0.0
    low: float = float("inf")
    high: float = float("-inf")

    def observe(self, value: float) -> None:
        """Add one ACK's credits."""
        self.count += 1
        self.total += value
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value

    def add(self, other: CreditStats) -> None:
        """Merge another window into this one."""
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)


# Where an address was seen entering the fabric: (src MAC, src IP, agent, ifIndex, node, port,
# seen); produced by the receivers' locate learning, kept by the aggregator's locate table.
Location = tuple[str | None, str | None, str, int, str, str, float]


@dataclass(slots=True)
class Observations:
    """One receiver's observations of one tick beyond the counts (plain data)."""

    locations: list[Location] = field(default_factory=list)
    drop_events: list[Event] = field(default_factory=list)
    drops_skipped: int = 0
    flow_agents: dict[str, float] = field(default_factory=dict)  # agent → last flow sample

    def absorb(self, later: Observations) -> None:
        """Fold a later tick's observations in, bounded: drop events beyond
        ``MAX_HELD_EVENTS`` are counted as skipped, the oldest locations beyond
        ``MAX_HELD_LOCATIONS`` are left out (a known address is shipped again every 10 s)."""
        room = max(0, MAX_HELD_EVENTS - len(self.drop_events))
        self.drop_events.extend(later.drop_events[:room])
        self.drops_skipped += later.drops_skipped + max(0, len(later.drop_events) - room)
        self.locations.extend(later.locations)
        if len(self.locations) > MAX_HELD_LOCATIONS:
            del self.locations[: len(self.locations) - MAX_HELD_LOCATIONS]
        flow_agents = self.flow_agents
        if len(flow_agents) + len(later.flow_agents) <= MAX_HELD_FLOW_AGENTS:
            flow_agents.update(later.flow_agents)
        else:  # a flood of spoofed agents: the ones already held get their newer times
            for agent, seen in later.flow_agents.items():
                if agent in flow_agents or len(flow_agents) < MAX_HELD_FLOW_AGENTS:
                    flow_agents[agent] = seen


FlowKey = tuple[str, ...]  # (agent, data source, its role, node, key texts…)


@dataclass(slots=True)
class FlowPartial:
    """One flow definition's sums of one tick (``collector.flows.engine``): key → one sum per
    value of ``definition.sums``, scaled by each sample's sampling rate."""

    generation: int  # which version of the definition produced them
    sums: dict[FlowKey, list[float]] = field(default_factory=dict)
    dropped: int = 0  # keys not kept (the per-tick bound)

    def absorb(self, later: FlowPartial) -> None:
        """Add a later tick's sums of the same definition (a newer generation replaces)."""
        if later.generation != self.generation:
            if later.generation > self.generation:
                self.generation, self.sums, self.dropped = (
                    later.generation,
                    later.sums,
                    later.dropped,
                )
            return
        mine = self.sums
        for key, sums in later.sums.items():
            current = mine.get(key)
            if current is None:
                if len(mine) >= MAX_HELD_FLOW_KEYS:
                    self.dropped += 1
                    continue
                mine[key] = list(sums)
            else:
                for i, value in enumerate(sums):
                    current[i] += value
        self.dropped += later.dropped


@dataclass(slots=True)
class Delta:
    """Everything that changed since the previous drain of one receiver."""

    counters: dict[str, dict[Labels, float]] = field(default_factory=dict)
    histograms: dict[str, dict[Labels, HistogramValue]] = field(default_factory=dict)
    credits: dict[str, CreditStats] = field(default_factory=dict)  # by role
    gauges: dict[str, float] = field(default_factory=dict)  # per receiver, summed across them
    agents: dict[AgentKey, AgentStatus] = field(default_factory=dict)
    expired_agents: list[AgentKey] = field(default_factory=list)
    ports: MutableMapping[PortKey, PortStatus] = field(default_factory=PortUpdates)
    expired_ports: list[PortKey] = field(default_factory=list)
    # period detection: edge-ingress RoCEv2 frames x rate by 100 ms bucket (floor(now x 10))
    roce_buckets: dict[int, float] = field(default_factory=dict)
    # locate learning, flow activity per agent, drop events (collector.receive.observe), bounded
    observed: Observations | None = None
    # flow definitions' partial sums by definition name, and the flow keys seen (name → time)
    flows: dict[str, FlowPartial] = field(default_factory=dict)
    flow_keys: dict[str, float] = field(default_factory=dict)

    def add_counter(self, family: str, labels: Labels, value: float) -> None:
        """Add ``value`` to one counter series."""
        series = self.counters.setdefault(family, {})
        series[labels] = series.get(labels, 0.0) + value

    def can_absorb(self, later: Delta) -> bool:
        """False when ``later`` brings back an agent or port this delta expired: merged into one
        delta, the expiry (applied after the statuses) would wrongly remove it again."""
        if self.expired_agents and not set(self.expired_agents).isdisjoint(later.agents):
            return False
        return not (self.expired_ports and not set(self.expired_ports).isdisjoint(later.ports))

    def absorb(self, later: Delta) -> None:
        """Fold the next tick's delta of the same receiver into this one (see ``can_absorb``):
        counters, histograms, credits, RoCE buckets and drops add; gauges and statuses are the
        later ones; observations are kept within the bounds one tick has."""
        for family, series in later.counters.items():
            mine = self.counters.setdefault(family, {})
            for labels, value in series.items():
                mine[labels] = mine.get(labels, 0.0) + value
        for family, hseries in later.histograms.items():
            hmine = self.histograms.setdefault(family, {})
            for labels, hist in hseries.items():
                current = hmine.get(labels)
                if current is None:
                    hmine[labels] = HistogramValue(list(hist.counts), hist.total)
                else:
                    current.add(hist)
        for role, stats in later.credits.items():
            cmine = self.credits.get(role)
            if cmine is None:
                cmine = self.credits[role] = CreditStats()
            cmine.add(stats)
        self.gauges.update(later.gauges)
        self.agents.update(later.agents)
        self.expired_agents.extend(later.expired_agents)
        self.ports.update(later.ports)
        self.expired_ports.extend(later.expired_ports)
        for bucket, frames in later.roce_buckets.items():
            self.roce_buckets[bucket] = self.roce_buckets.get(bucket, 0.0) + frames
        if later.observed is not None:
            if self.observed is None:
                self.observed = Observations()
            self.observed.absorb(later.observed)
        for name, partial in later.flows.items():
            held = self.flows.get(name)
            if held is None:
                self.flows[name] = partial
            else:
                held.absorb(partial)
        self.flow_keys.update(later.flow_keys)

    def is_empty(self) -> bool:
        """True when the delta carries nothing."""
        return not (
            self.counters
            or self.histograms
            or self.credits
            or self.gauges
            or self.agents
            or self.expired_agents
            or self.ports
            or self.expired_ports
            or self.roce_buckets
            or self.observed is not None
            or self.flows
            or self.flow_keys
        )

"""The aggregator: merges receivers' deltas, smooths rates, and produces snapshots to render.

One ``Aggregator`` per collector, owned by the event-loop thread: receivers (a thread, or worker
processes over pipes) hand it ``Delta``s; ``tick(now)`` runs once a second to update the
smoothed per-second gauges and the AETH credit window; ``snapshot(now)`` is an immutable view
for the exposition. Nothing here decodes or reads the clock.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from collector.aggregate.fabric_view import FabricView
from collector.aggregate.flow_table import FlowTables
from collector.aggregate.health import HEALTH_PREFIX, FabricHealth, HealthEvent, HealthSettings
from collector.aggregate.period import PeriodDetector, PeriodParams, PeriodState
from collector.aggregate.port_book import PortBook
from collector.delta import (
    AgentKey,
    AgentStatus,
    CreditStats,
    Delta,
    HistogramValue,
    Labels,
)
from collector.families import FAMILIES, initial_counters
from topology.index import TopologyIndex

# port_ingress_bytes (present with --per-port-metrics) is smoothed for the compatible face's
# quartiles, topology_dropped_packets (the drop reasons of topology nodes' agents, not exported
# natively) for its drops, the per-agent datagrams and samples for /agents/json; none has an
# exported per-second gauge.
SMOOTHED_FAMILIES = (
    *(f.name for f in FAMILIES if f.smoothed),
    "port_ingress_bytes",
    "topology_dropped_packets",
    "agent_datagrams",
    "agent_samples",
)
ROCE_LATENESS_BUCKETS = 10  # 100 ms RoCE buckets are fed to the period detector 1 s late
ROCE_MAX_GAP_BUCKETS = 600  # a longer gap (clock jump) is skipped, not replayed


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything to render, by family name: counters and gauges as label → value,
    histograms as label → (per-bucket counts, sum)."""

    counters: Mapping[str, Mapping[Labels, float]]
    gauges: Mapping[str, Mapping[Labels, float]]
    histograms: Mapping[str, Mapping[Labels, tuple[tuple[float, ...], float]]]
    smoothed: Mapping[str, Mapping[Labels, float]]
    period: PeriodState | None = None
    # each port's ingress bit/s by role (edge, core), for the compatible quartiles
    port_ingress_bps: Mapping[str, tuple[float, ...]] | None = None


@dataclass(frozen=True, slots=True)
class AggregatorSettings:
    """The aggregator's tunables (defaults documented in docs/metrics.md and docs/compat.md)."""

    smoothing_seconds: float = 2.0  # time constant of the per-second gauges
    credit_window_seconds: float = 10.0  # AETH credit statistics window
    status_timeout: float = 180.0  # an agent or port status older than this is dropped
    per_port: bool = False  # --per-port-metrics: keep the per-port families
    max_flow_keys: int = 10_000  # keys one flow definition's table holds at most
    period: PeriodParams = field(default_factory=PeriodParams)
    health: HealthSettings = field(default_factory=HealthSettings)
    # how late a RoCE bucket may arrive and still be fed to the period detector (``aggregate``
    # allows for a shard's tick and the bus's transit on top)
    roce_lateness_buckets: int = ROCE_LATENESS_BUCKETS


class Aggregator:
    """Cumulative totals over every receiver, plus smoothing and latest statuses."""

    def __init__(self, settings: AggregatorSettings | None = None) -> None:
        settings = settings or AggregatorSettings()
        self.settings = settings
        self.smoothing_seconds = settings.smoothing_seconds
        self.credit_window_seconds = settings.credit_window_seconds
        self.status_timeout = settings.status_timeout
        self.per_port = settings.per_port
        # every fixed series from the first scrape, at 0 (collector.families.initial_counters)
        self.counters: dict[str, dict[Labels, float]] = initial_counters()
        self.histograms: dict[str, dict[Labels, HistogramValue]] = {}
        self.agents: dict[AgentKey, AgentStatus] = {}
        self.port_book = PortBook()
        self.ports = self.port_book.ports  # changed through port_book only
        self.receiver_gauges: dict[int, dict[str, float]] = {}
        self.gauges: dict[str, float] = {}
        self.index: TopologyIndex | None = None
        self._smoothed: dict[str, dict[Labels, float]] = {}
        self._previous: dict[str, dict[Labels, float]] = {}
        self._last_tick: float | None = None
        self._credits_now: dict[str, CreditStats] = {}
        self._credit_window: deque[tuple[float, dict[str, CreditStats]]] = deque()
        self.period = PeriodDetector(settings.period)
        self._roce_pending: dict[int, float] = {}
        self._roce_next: int | None = None  # next 100 ms bucket to feed the detector
        self._last_now = 0.0
        self._last_period_tick: float | None = None  # the detector ticks once a second
        self.view = (
            FabricView()
        )  # locate table, drop log, flow activity (collector.aggregate.fabric_view)
        self.flows = FlowTables(settings.max_flow_keys)  # flow definitions' smoothed rates
        self.health = FabricHealth(settings.health, settings.max_flow_keys)  # the event stream

    # -----------------------------------------------------------------------------------------
    # Input

    def merge(self, delta: Delta, receiver: int = 0) -> None:
        """Add one receiver's delta (``receiver`` < 0: a collector-level count)."""
        if receiver >= 0:
            handled = delta.counters.get("datagrams", {}).get(())
            if handled:
                per_worker = self.counters.setdefault("worker_datagrams", {})
                worker = (str(receiver),)
                per_worker[worker] = per_worker.get(worker, 0.0) + handled
        for family, series in delta.counters.items():
            totals = self.counters.get(family)
            if totals is None:
                totals = self.counters[family] = {}
            for labels, value in series.items():
                totals[labels] = totals.get(labels, 0.0) + value
        for family, hseries in delta.histograms.items():
            htotals = self.histograms.get(family)
            if htotals is None:
                htotals = self.histograms[family] = {}
            for labels, hist in hseries.items():
                current = htotals.get(labels)
                if current is None:
                    htotals[labels] = HistogramValue(list(hist.counts), hist.total)
                else:
                    current.add(hist)
        for role, stats in delta.credits.items():
            mine = self._credits_now.get(role)
            if mine is None:
                mine = self._credits_now[role] = CreditStats()
            mine.add(stats)
        if delta.gauges:
            self.receiver_gauges.setdefault(receiver, {}).update(delta.gauges)
        self.agents.update(delta.agents)
        for key in delta.expired_agents:
            self.agents.pop(key, None)
        if delta.expired_agents:
            self._forget_agent_series({(a, str(sub)) for a, sub in delta.expired_agents})
        book = self.port_book
        for port_key, port_status in delta.ports.items():
            book.put(port_key, port_status)
        for port_key in delta.expired_ports:
            book.remove(port_key)
        if delta.observed is not None:
            self.view.merge(delta.observed)
        if delta.flows or delta.flow_keys:
            flows = delta.flows
            if any(name.startswith(HEALTH_PREFIX) for name in flows):
                # the health analysis' own definitions: its tables, not the user's
                self.health.merge({n: p for n, p in flows.items() if n.startswith(HEALTH_PREFIX)})
                flows = {n: p for n, p in flows.items() if not n.startswith(HEALTH_PREFIX)}
            self.flows.merge(flows, delta.flow_keys)
        if delta.roce_buckets:
            pending, first = self._roce_pending, self._roce_next
            for bucket, frames in delta.roce_buckets.items():
                if first is None or bucket >= first:  # else later than the allowance: dropped
                    pending[bucket] = pending.get(bucket, 0.0) + frames

    def restore(self, totals: Delta) -> None:
        """Add a checkpoint's cumulative totals (a restarted aggregate): the counters continue
        from them, and the smoothed rates do not see them as one tick's increase."""
        self.merge(totals, receiver=-1)
        for family in SMOOTHED_FAMILIES:
            restored = totals.counters.get(family)
            if restored:
                previous = self._previous.setdefault(family, {})
                for labels, value in restored.items():
                    previous[labels] = previous.get(labels, 0.0) + value

    def _forget_agent_series(self, gone: set[Labels]) -> None:
        """Drop the per-agent series of expired agents, so that agents coming and going (or a
        spoofer passing probation under ever new addresses) cannot grow memory without end.
        Their counters end; should an agent return, its counters start again from 0, which
        Prometheus' rate() reads as a reset."""
        for table in (self.counters, self._smoothed, self._previous):
            for family, series in table.items():
                if family.startswith("agent_"):
                    for labels in [k for k in series if k[:2] in gone]:
                        del series[labels]

    def forget_receiver(self, receiver: int) -> None:
        """A receiver stopped: its per-receiver gauges no longer count."""
        self.receiver_gauges.pop(receiver, None)

    def set_gauge(self, name: str, value: float) -> None:
        """Set a collector-level gauge (workers, topology_loaded, …)."""
        self.gauges[name] = value

    def set_topology(self, index: TopologyIndex | None) -> None:
        """The topology whose links are reported."""
        self.index = index
        self.gauges["topology_loaded"] = 1.0 if index is not None else 0.0
        self.gauges["topology_nodes"] = float(len(index.node_names)) if index else 0.0
        self.gauges["topology_version"] = float(index.version) if index else 0.0
        self.port_book.set_links(index.topology.links if index is not None else {})

    # -----------------------------------------------------------------------------------------
    # Time

    def tick(self, now: float) -> None:
        """Once a second: update smoothed rates, rotate the credit window, expire statuses."""
        last = self._last_tick
        self._last_tick = now
        if last is not None and now > last:
            elapsed = now - last
            alpha = 1.0 - math.exp(-elapsed / self.smoothing_seconds)
            for family in SMOOTHED_FAMILIES:
                totals = self.counters.get(family)
                if not totals:
                    continue
                previous = self._previous.setdefault(family, {})
                smoothed = self._smoothed.setdefault(family, {})
                for labels, total in totals.items():
                    rate = (total - previous.get(labels, 0.0)) / elapsed
                    old = smoothed.get(labels)
                    smoothed[labels] = rate if old is None else old + alpha * (rate - old)
                    previous[labels] = total
        elif last is None:
            for family in SMOOTHED_FAMILIES:
                self._previous[family] = dict(self.counters.get(family, {}))
        self._tick_period(now, last)
        self.flows.tick(now)
        self._tick_health(now)
        self._credit_window.append((now, self._credits_now))
        self._credits_now = {}
        while self._credit_window and self._credit_window[0][0] <= now - self.credit_window_seconds:
            self._credit_window.popleft()
        deadline = now - self.status_timeout
        for key in [k for k, s in self.ports.items() if s.last_seen < deadline]:
            self.port_book.remove(key)
        for akey in [k for k, s in self.agents.items() if s.last_seen < deadline]:
            del self.agents[akey]

    def _tick_health(self, now: float) -> list[HealthEvent]:
        """Run the health analysis over the merged state; count the events it raised."""
        links = self.index.topology.links if self.index is not None else {}
        raised = self.health.tick(now, self.ports, self.agents, links, self.view.drops)
        if raised:
            counts = self.counters.setdefault("events", {})
            for event in raised:
                counts[(event.type,)] = counts.get((event.type,), 0.0) + 1.0
        return raised

    def _tick_period(self, now: float, last: float | None) -> None:
        """Feed the RoCE buckets older than the lateness allowance in order (gaps as 0), then
        the once-a-second load: the smoothed edge RoCEv2 frame rate."""
        self._last_now = now
        pending = self._roce_pending
        limit = math.floor(now * 10) - self.settings.roce_lateness_buckets
        key = self._roce_next
        if key is None and pending:
            key = min(pending)
        if key is not None:
            if limit - key > ROCE_MAX_GAP_BUCKETS:
                key = limit - ROCE_MAX_GAP_BUCKETS
                for old in [k for k in pending if k < key]:
                    del pending[old]
            while key < limit:
                self.period.observe(key / 10, pending.pop(key, 0.0))
                key += 1
            self._roce_next = key
        previous = self._last_period_tick
        if last is not None and (previous is None or now - previous >= 0.999):
            self._last_period_tick = now
            operations = self._smoothed.get("rocev2_operations", {})
            load = sum(v for labels, v in operations.items() if labels[0] == "edge")
            self.period.tick(now, load)

    def _port_ingress_bps(self) -> dict[str, tuple[float, ...]]:
        """Each edge/core port's ingress bit/s: the smoothed sampled bytes with
        --per-port-metrics, else the last interface counter interval."""
        sampled = self._smoothed.get("port_ingress_bytes")
        if not sampled:  # the port book keeps them (in no particular order: they are sorted)
            return {
                role: tuple(by_port.values())
                for role, by_port in self.port_book.ingress_bps.items()
            }
        rates: dict[str, list[float]] = {"edge": [], "core": []}
        for (_node, _port, role), value in sampled.items():
            if role in rates:
                rates[role].append(8.0 * value)
        return {role: tuple(values) for role, values in rates.items()}

    # -----------------------------------------------------------------------------------------
    # Output

    def rates(self, family: str) -> Mapping[Labels, float]:
        """Smoothed per-second rates of one family of ``SMOOTHED_FAMILIES`` by labels."""
        return self._smoothed.get(family, {})

    def _credit_gauges(self, gauges: dict[str, dict[Labels, float]]) -> None:
        merged: dict[str, CreditStats] = {}
        for _, window in self._credit_window:
            for role, stats in window.items():
                merged.setdefault(role, CreditStats()).add(stats)
        for role, stats in merged.items():
            if stats.count:
                gauges.setdefault("aeth_credits_avg", {})[(role,)] = stats.total / stats.count
                gauges.setdefault("aeth_credits_min", {})[(role,)] = stats.low
                gauges.setdefault("aeth_credits_max", {})[(role,)] = stats.high

    def _port_gauges(self, gauges: dict[str, dict[Labels, float]]) -> None:
        book = self.port_book
        gauges["ports"] = {labels: float(n) for labels, n in book.port_counts.items()}
        if self.per_port:
            utilisation: dict[Labels, float] = {}
            speed: dict[Labels, float] = {}
            oper_up: dict[Labels, float] = {}
            for status in self.ports.values():
                if status.node is None or status.port is None:
                    continue
                labels = (status.node, status.port, status.role)
                speed[labels] = status.speed_bps / 8.0
                oper_up[labels] = 1.0 if status.oper_up else 0.0
                if status.in_utilization is not None:
                    utilisation[(*labels, "in")] = status.in_utilization
                if status.out_utilization is not None:
                    utilisation[(*labels, "out")] = status.out_utilization
            gauges["port_utilization"] = utilisation
            gauges["port_speed_bytes_per_second"] = speed
            gauges["port_oper_up"] = oper_up
        gauges["links"] = {(state,): float(n) for state, n in book.link_oper_counts().items()}

    def _agent_gauges(self, gauges: dict[str, dict[Labels, float]]) -> None:
        last_seen: dict[Labels, float] = {}
        uptime: dict[Labels, float] = {}
        rate: dict[Labels, float] = {}
        effective: dict[Labels, float] = {}
        info: dict[Labels, float] = {}
        for (agent, sub_agent), status in self.agents.items():
            labels = (agent, str(sub_agent))
            last_seen[labels] = status.last_seen
            uptime[labels] = status.uptime_ms / 1000.0
            if status.sampling_rate is not None:
                rate[labels] = float(status.sampling_rate)
            if status.effective_sampling_rate is not None:
                effective[labels] = status.effective_sampling_rate
            info[(*labels, status.node)] = 1.0
        gauges["agent_last_seen_timestamp_seconds"] = last_seen
        gauges["agent_uptime_seconds"] = uptime
        gauges["agent_sampling_rate"] = rate
        gauges["agent_effective_sampling_rate"] = effective
        gauges["agent_info"] = info

    def compat_snapshot(self) -> Snapshot:
        """The part of a snapshot the compatible face reads (smoothed rates, credit gauges,
        period, per-port ingress rates), without copying every counter and status."""
        gauges: dict[str, dict[Labels, float]] = {}
        self._credit_gauges(gauges)
        return Snapshot(
            counters={},
            gauges=gauges,
            histograms={},
            smoothed={family: dict(series) for family, series in self._smoothed.items()},
            period=self.period.state(self._last_now),
            port_ingress_bps=self._port_ingress_bps(),
        )

    def snapshot(self) -> Snapshot:
        """An immutable view of everything to render."""
        gauges: dict[str, dict[Labels, float]] = {
            name: {(): value} for name, value in self.gauges.items()
        }
        summed: dict[str, float] = {}
        for receiver in self.receiver_gauges.values():
            for name, value in receiver.items():
                summed[name] = summed.get(name, 0.0) + value
        for name, value in summed.items():
            gauges[name] = {(): value}
        self._credit_gauges(gauges)
        period = self.period.state(self._last_now)
        counters = {family: dict(series) for family, series in self.counters.items()}
        for method, estimate in (("compatible", period.compatible), ("fine", period.fine)):
            gauges.setdefault("period_seconds", {})[(method,)] = estimate.period
            gauges.setdefault("period_valid", {})[(method,)] = 1.0 if estimate.valid else 0.0
            gauges.setdefault("period_cv", {})[(method,)] = estimate.cv
            counters.setdefault("period_cycles", {})[(method,)] = float(estimate.cycles)
        self._port_gauges(gauges)
        self._agent_gauges(gauges)
        counters["flow_keys_dropped"], gauges["flow_keys"] = self.flows.counts()
        gauges["flow_definitions"] = {(): float(len(self.flows.tables))}
        histograms = {
            family: {labels: (tuple(h.counts), h.total) for labels, h in series.items()}
            for family, series in self.histograms.items()
        }
        return Snapshot(
            counters=counters,
            gauges=gauges,
            histograms=histograms,
            smoothed={family: dict(series) for family, series in self._smoothed.items()},
            period=period,
            port_ingress_bps=self._port_ingress_bps(),
        )

"""The aggregator: merges receivers' deltas, smooths rates, and produces snapshots to render.

One ``Aggregator`` per collector, owned by the event-loop thread: receivers (a thread, or worker
processes over pipes) hand it ``Delta``s; ``tick(now)`` runs once a second to update the
smoothed per-second gauges and the AETH credit window; ``snapshot(now)`` is an immutable view
for the exposition. Nothing here decodes or reads the clock.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from collector.delta import (
    AgentKey,
    AgentStatus,
    CreditStats,
    Delta,
    HistogramValue,
    Labels,
    PortKey,
    PortStatus,
)
from collector.families import FAMILIES
from collector.locate import FabricView
from collector.period import PeriodDetector, PeriodParams, PeriodState
from topology.index import CORE, EDGE, ROLES, TopologyIndex
from topology.model import LinkSpec
from topology.status import LinkSummary

# port_ingress_bytes (present with --per-port-metrics) is smoothed for the compatible face's
# quartiles, the per-agent datagrams and samples for /agents/json; none has an exported
# per-second gauge.
SMOOTHED_FAMILIES = (
    *(f.name for f in FAMILIES if f.smoothed),
    "port_ingress_bytes",
    "agent_datagrams",
    "agent_samples",
)
ROCE_LATENESS_BUCKETS = 10  # 100 ms RoCE buckets are fed to the period detector 1 s late
ROCE_MAX_GAP_BUCKETS = 600  # a longer gap (clock jump) is skipped, not replayed
LINK_STATES = ("up", "down", "unmonitored")  # the links gauge's series, in this order
UP_DOWN = ("up", "down")
Endpoint = tuple[str, str]  # (topology node, port)
# (name, link, status, end 1's latest status, end 2's) → one entry of a links document
LinkEntryBuilder = Callable[[str, LinkSpec, str, PortStatus | None, PortStatus | None], Any]


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


class PortBook:
    """The latest port statuses with their tallies and each link's state, kept up to date as
    statuses arrive and expire and as the topology changes, so that a scrape or a status
    document reads them instead of recounting every port and link.

    Two rules decide a link end, as the from-scratch passes always did: for a link's status, the
    status inserted last among those naming the end (iteration order of ``ports``); for a
    link's load, the one seen last (``last_seen``, ties to the later inserted)."""

    def __init__(self) -> None:
        self.ports: dict[PortKey, PortStatus] = {}
        self.port_counts: dict[Labels, int] = {(r, s): 0 for r in ROLES for s in UP_DOWN}
        self.edge_speed_up = 0  # summed ifSpeed of edge ports admin and oper up
        # bit/s received by each edge and core port in its last counter interval
        self.ingress_bps: dict[str, dict[PortKey, float]] = {EDGE: {}, CORE: {}}
        self._order: dict[PortKey, int] = {}  # insertion rank, mirroring the dict's order
        self._next_rank = 0
        # the ports naming each end (a tuple: one port, almost always)
        self._claims: dict[Endpoint, tuple[PortKey, ...]] = {}
        self._links: Mapping[str, LinkSpec] = {}
        self._names: list[str] = []  # sorted link names
        self._links_of: dict[Endpoint, tuple[str, ...]] = {}
        # ends whose deciding status may have changed its states, or anything (load, time)
        self._dirty_states: set[Endpoint] = set()
        self._dirty_loads: set[Endpoint] = set()
        self._restate_all = False
        # per link: (oper status for /metrics, admin+oper status for the status documents)
        self._state: dict[str, tuple[str, str]] = {}
        self._oper_counts: dict[str, int] = dict.fromkeys(LINK_STATES, 0)
        self._status_counts: dict[str, int] = dict.fromkeys(LINK_STATES, 0)
        self._not_up: dict[str, set[str]] = {"down": set(), "unmonitored": set()}
        self._summary: LinkSummary | None = None
        self._position: dict[str, int] = {}  # link name → its place in ``_names``
        # per builder of ``link_entries``: the memoised entries in name order, and the places
        # of those to build again
        self._entries: dict[LinkEntryBuilder, tuple[list[Any], set[int]]] = {}

    # Changes

    def put(self, key: PortKey, status: PortStatus) -> None:
        """Record the latest status of one port."""
        ports = self.ports
        old = ports.get(key)
        node, port = status.node, status.port
        if old is not None and old.node == node and old.port == port:
            # The common case, a port's next counter sample: same end, usually same states.
            ports[key] = status
            self._set_ingress(key, old, status)
            if (
                old.oper_up != status.oper_up
                or old.admin_up != status.admin_up
                or old.role != status.role
                or old.speed_bps != status.speed_bps
            ):
                self._untally(old)
                self._tally(status)
                if node is not None and port is not None:
                    self._dirty_states.add((node, port))
            if node is not None and port is not None:
                self._dirty_loads.add((node, port))
            return
        if old is None:
            self._order[key] = self._next_rank
            self._next_rank += 1
        else:
            self._untally(old)
            if old.node is not None and old.port is not None:
                self._unclaim((old.node, old.port), key)
        ports[key] = status
        self._tally(status)
        self._set_ingress(key, old, status)
        if node is not None and port is not None:
            end = (node, port)
            # a new port, or one that named another end: not among this end's yet
            self._claims[end] = (*self._claims.get(end, ()), key)
            self._dirty_states.add(end)
            self._dirty_loads.add(end)

    def remove(self, key: PortKey) -> None:
        """Forget one port (expired, or its agent gone)."""
        old = self.ports.pop(key, None)
        if old is None:
            return
        del self._order[key]
        self._untally(old)
        self._set_ingress(key, old, None)
        if old.node is not None and old.port is not None:
            self._unclaim((old.node, old.port), key)

    def set_links(self, links: Mapping[str, LinkSpec]) -> None:
        """The topology's links (empty without a topology)."""
        self._links = links
        self._names = sorted(links)
        self._position = {name: i for i, name in enumerate(self._names)}
        links_of: dict[Endpoint, tuple[str, ...]] = {}
        for name, link in links.items():
            for end in ((link.node1, link.port1), (link.node2, link.port2)):
                links_of[end] = (*links_of.get(end, ()), name)
        self._links_of = links_of
        self._restate_all = True

    def _tally(self, status: PortStatus) -> None:
        counts = self.port_counts
        labels = (status.role, "up" if status.oper_up else "down")
        counts[labels] = counts.get(labels, 0) + 1
        if status.role == EDGE and status.oper_up and status.admin_up:
            self.edge_speed_up += status.speed_bps

    def _untally(self, status: PortStatus) -> None:
        self.port_counts[(status.role, "up" if status.oper_up else "down")] -= 1
        if status.role == EDGE and status.oper_up and status.admin_up:
            self.edge_speed_up -= status.speed_bps

    def _set_ingress(self, key: PortKey, old: PortStatus | None, new: PortStatus | None) -> None:
        """Keep ``ingress_bps`` (edge and core ports with an input utilisation) in step."""
        ingress = self.ingress_bps
        if old is not None and (new is None or old.role != new.role):
            table = ingress.get(old.role)
            if table is not None:
                table.pop(key, None)
        if new is not None:
            table = ingress.get(new.role)
            if table is not None:
                if new.in_utilization is None:
                    table.pop(key, None)
                else:
                    table[key] = new.in_utilization * new.speed_bps

    def _unclaim(self, end: Endpoint, key: PortKey) -> None:
        rest = tuple(k for k in self._claims[end] if k != key)
        if rest:
            self._claims[end] = rest
        else:
            del self._claims[end]
        self._dirty_states.add(end)
        self._dirty_loads.add(end)

    # Link states, brought up to date when read

    def _refresh(self) -> None:
        """Restate the links whose ends' deciding statuses changed, and drop their memoised
        entries (all of them after a topology change)."""
        if self._restate_all:
            self._restate_all = False
            self._dirty_states.clear()
            self._dirty_loads.clear()
            self._state.clear()
            self._entries.clear()
            self._oper_counts = dict.fromkeys(LINK_STATES, 0)
            self._status_counts = dict.fromkeys(LINK_STATES, 0)
            self._not_up = {"down": set(), "unmonitored": set()}
            self._summary = None
            for name in self._names:
                self._restate(name)
            return
        links_of = self._links_of
        if self._dirty_states:
            for end in self._dirty_states:
                for name in links_of.get(end, ()):
                    self._restate(name)
            self._dirty_states.clear()
        if self._dirty_loads:
            memos = self._entries.values()
            position = self._position
            for end in self._dirty_loads:
                for name in links_of.get(end, ()):
                    for _, stale in memos:
                        stale.add(position[name])
            self._dirty_loads.clear()

    def _restate(self, name: str) -> None:
        link = self._links[name]
        end1 = self._by_order((link.node1, link.port1))
        end2 = self._by_order((link.node2, link.port2))
        if end1 is None or end2 is None:
            state = ("unmonitored", "unmonitored")
        else:
            oper = "up" if end1.oper_up and end2.oper_up else "down"
            both = end1.oper_up and end1.admin_up and end2.oper_up and end2.admin_up
            state = (oper, "up" if both else "down")
        old = self._state.get(name)
        if old == state:
            return
        if old is not None:
            self._oper_counts[old[0]] -= 1
            self._status_counts[old[1]] -= 1
            if old[1] != "up":
                self._not_up[old[1]].discard(name)
        self._state[name] = state
        self._oper_counts[state[0]] += 1
        self._status_counts[state[1]] += 1
        if state[1] != "up":
            self._not_up[state[1]].add(name)
        self._summary = None

    def _by_order(self, end: Endpoint) -> PortStatus | None:
        """The status inserted last among those naming ``end``."""
        claims = self._claims.get(end)
        if not claims:
            return None
        if len(claims) == 1:
            return self.ports[claims[0]]
        return self.ports[max(claims, key=self._order.__getitem__)]

    def _by_time(self, end: Endpoint) -> PortStatus | None:
        """The status seen last among those naming ``end`` (ties: the one inserted last)."""
        claims = self._claims.get(end)
        if not claims:
            return None
        ports = self.ports
        if len(claims) == 1:
            return ports[claims[0]]
        order = self._order
        return ports[max(claims, key=lambda k: (ports[k].last_seen, order[k]))]

    def link_oper_counts(self) -> dict[str, int]:
        """Links by status from oper status alone (the ``links`` gauge)."""
        self._refresh()
        return self._oper_counts

    def link_summary(self) -> LinkSummary:
        """Links by status from admin and oper status (the status document)."""
        self._refresh()
        if self._summary is None:
            self._summary = LinkSummary(
                total=len(self._names),
                up=self._status_counts["up"],
                unmonitored=sorted(self._not_up["unmonitored"]),
                down=sorted(self._not_up["down"]),
            )
        return self._summary

    def link_entries(self, build: LinkEntryBuilder) -> list[Any]:
        """``build(name, link, status, end1, end2)`` of every link, sorted by name, each
        memoised until a status naming one of its ends changes (ends by time, status by order)."""
        self._refresh()
        names = self._names
        memo = self._entries.get(build)
        if memo is None:
            memo = self._entries[build] = ([None] * len(names), set(range(len(names))))
        entries, stale = memo
        for i in stale:
            name = names[i]
            link = self._links[name]
            entries[i] = build(
                name,
                link,
                self._state[name][1],
                self._by_time((link.node1, link.port1)),
                self._by_time((link.node2, link.port2)),
            )
        stale.clear()
        return list(entries)


class Aggregator:
    """Cumulative totals over every receiver, plus smoothing and latest statuses."""

    def __init__(
        self,
        *,
        smoothing_seconds: float = 2.0,
        credit_window_seconds: float = 10.0,
        status_timeout: float = 180.0,
        per_port: bool = False,
        period: PeriodParams | None = None,
    ) -> None:
        self.smoothing_seconds = smoothing_seconds
        self.credit_window_seconds = credit_window_seconds
        self.status_timeout = status_timeout
        self.per_port = per_port
        self.counters: dict[str, dict[Labels, float]] = {}
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
        self.period = PeriodDetector(period)
        self._roce_pending: dict[int, float] = {}
        self._roce_next: int | None = None  # next 100 ms bucket to feed the detector
        self._last_now = 0.0
        self._last_period_tick: float | None = None  # the detector ticks once a second
        self.view = FabricView()  # locate table, drop log, flow activity (collector.locate)

    # -----------------------------------------------------------------------------------------
    # Input

    def merge(self, delta: Delta, receiver: int = 0) -> None:
        """Add one receiver's delta."""
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
        if delta.roce_buckets:
            pending, first = self._roce_pending, self._roce_next
            for bucket, frames in delta.roce_buckets.items():
                if first is None or bucket >= first:  # else later than the allowance: dropped
                    pending[bucket] = pending.get(bucket, 0.0) + frames

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
        self._credit_window.append((now, self._credits_now))
        self._credits_now = {}
        while self._credit_window and self._credit_window[0][0] <= now - self.credit_window_seconds:
            self._credit_window.popleft()
        deadline = now - self.status_timeout
        for key in [k for k, s in self.ports.items() if s.last_seen < deadline]:
            self.port_book.remove(key)
        for akey in [k for k, s in self.agents.items() if s.last_seen < deadline]:
            del self.agents[akey]

    def _tick_period(self, now: float, last: float | None) -> None:
        """Feed the RoCE buckets older than the lateness allowance in order (gaps as 0), then
        the once-a-second load: the smoothed edge RoCEv2 frame rate."""
        self._last_now = now
        pending = self._roce_pending
        limit = math.floor(now * 10) - ROCE_LATENESS_BUCKETS
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

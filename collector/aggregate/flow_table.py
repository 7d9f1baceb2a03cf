"""Aggregator side of the flows: per definition, each key's smoothed per-second rates.

``FlowTables.set_definitions`` installs the active definitions (a table per definition and
generation; a changed definition starts empty). ``merge`` adds a receiver's ``FlowPartial``s
(partials of another generation are stale and ignored); ``tick(now)`` turns the sums since the
last tick into per-second rates smoothed with each definition's time constant ``t`` (an
exponential moving average, from 0 for a new key) and forgets keys idle for longer than
``idle_seconds(t)``. A table holds at most ``max_keys`` keys; partials for more are counted
(``dropped``), never kept.

``active(…)`` answers ``/activeflows``: the entries of the selected agents, each data source's
top ``n``, combined per key by ``aggMode`` (``max``: the largest data source; ``sum``: all of
them; ``edge`` / ``core``: the sum over the data sources of that role), at least ``min_value``,
largest first, at most ``max_flows``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from collector.delta import FlowKey, FlowPartial
from collector.flows.definition import FlowDefinition
from collector.flows.keys import KEYS

AGG_MODES = ("max", "sum", "edge", "core")
SOURCE_FIELDS = 4  # agent, data source, role, node lead every key
MIN_IDLE_SECONDS = 10.0


def idle_seconds(t: float) -> float:
    """How long a key may go without a sample before it is forgotten (its rate has decayed
    below 1 % of what it was by then)."""
    return max(5.0 * t, MIN_IDLE_SECONDS)


@dataclass(frozen=True, slots=True)
class ActiveFlow:
    """One line of ``/activeflows``: the joined key, its value (and further values), and the
    data source it was largest at."""

    key: str
    value: float
    values: tuple[float, ...]
    agent: str
    data_source: str
    parts: tuple[str, ...]  # the key texts, in the definition's key order


@dataclass(slots=True)
class FlowTable:
    """One definition's keys: pending sums, smoothed rates, when each was last seen."""

    definition: FlowDefinition
    generation: int
    max_keys: int
    pending: dict[FlowKey, list[float]] = field(default_factory=dict)
    rates: dict[FlowKey, list[float]] = field(default_factory=dict)
    seen: dict[FlowKey, float] = field(default_factory=dict)
    dropped: int = 0  # keys refused by the max_keys bound (the receivers count theirs apart)

    def add(self, partial: FlowPartial) -> None:
        """Fold one receiver's sums in."""
        pending, rates = self.pending, self.rates
        width = len(self.definition.sums)
        for key, sums in partial.sums.items():
            if len(sums) != width:
                continue  # not of this definition: a bug or a stale sender, never an error
            current = pending.get(key)
            if current is None:
                if key not in rates and len(rates) + len(pending) >= self.max_keys:
                    self.dropped += 1
                    continue
                pending[key] = list(sums)
            else:
                for i, value in enumerate(sums):
                    current[i] += value

    def tick(self, now: float, elapsed: float) -> None:
        """Pending sums → smoothed per-second rates; idle keys forgotten."""
        alpha = 1.0 - math.exp(-elapsed / self.definition.t)
        rates, pending, seen = self.rates, self.pending, self.seen
        for key in pending:
            seen[key] = now
        for key, old in rates.items():
            sums = pending.pop(key, None)
            if sums is None:
                for i, value in enumerate(old):
                    old[i] = value - alpha * value
            else:
                for i, value in enumerate(old):
                    old[i] = value + alpha * (sums[i] / elapsed - value)
        for key, sums in pending.items():
            rates[key] = [alpha * s / elapsed for s in sums]
        self.pending = {}
        deadline = now - idle_seconds(self.definition.t)
        for key in [k for k, last in seen.items() if last < deadline]:
            del seen[key]
            rates.pop(key, None)

    def active(
        self,
        agents: AgentSelector,
        max_flows: int,
        min_value: float,
        agg_mode: str,
    ) -> list[ActiveFlow]:
        """The top flows (module docstring)."""
        n = self.definition.n
        by_source: dict[tuple[str, str], list[tuple[float, FlowKey]]] = {}
        for key, rates in self.rates.items():
            if agents.admits(key) and (agg_mode not in ("edge", "core") or key[2] == agg_mode):
                by_source.setdefault((key[0], key[1]), []).append((rates[0], key))
        fs = self.definition.fs
        combined: dict[tuple[str, ...], list[float]] = {}
        best: dict[tuple[str, ...], tuple[float, str, str]] = {}
        for entries in by_source.values():
            top = heapq.nlargest(n, entries, key=lambda e: e[0]) if len(entries) > n else entries
            for value, key in top:
                flow = key[SOURCE_FIELDS:]
                rates = self.rates[key]
                held = combined.get(flow)
                if held is None:
                    combined[flow] = list(rates)
                elif agg_mode == "max":
                    if value > held[0]:
                        combined[flow] = list(rates)
                else:
                    for i, r in enumerate(rates):
                        held[i] += r
                if flow not in best or value > best[flow][0]:
                    best[flow] = (value, key[0], key[1])
        found = [
            ActiveFlow(fs.join(flow), sums[0], tuple(sums[1:]), best[flow][1], best[flow][2], flow)
            for flow, sums in combined.items()
            if sums[0] >= min_value
        ]
        found.sort(key=lambda f: (-f.value, f.key))
        return found[:max_flows]


@dataclass(frozen=True, slots=True)
class AgentSelector:
    """Which entries ``/activeflows/{agent}`` takes: ``ALL``, ``TOPOLOGY`` (agents of topology
    nodes), ``EDGE`` / ``CORE`` (data sources of that role), node names and agent addresses,
    any of them (``;``-separated)."""

    everything: bool = False
    topology: bool = False
    roles: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, text: str) -> AgentSelector:
        """The selector of a path segment."""
        parts = [p.strip() for p in text.split(";") if p.strip()]
        return cls(
            everything="ALL" in parts,
            topology="TOPOLOGY" in parts,
            roles=frozenset(p.lower() for p in parts if p in ("EDGE", "CORE")),
            names=frozenset(p for p in parts if p not in ("ALL", "TOPOLOGY", "EDGE", "CORE")),
        )

    def admits(self, key: FlowKey) -> bool:
        """True when the entry of ``key`` (agent, data source, role, node, …) is selected."""
        if self.everything:
            return True
        if self.topology and key[3]:
            return True
        return key[2] in self.roles or key[0] in self.names or key[3] in self.names


class FlowTables:
    """Every active definition's table (module docstring)."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self.max_keys = max_keys
        self.tables: dict[str, FlowTable] = {}
        self.keys_seen: dict[str, float] = {}
        self.stale = 0  # partials of a definition version no longer active
        self.receiver_dropped: dict[str, float] = {}
        self._last_tick: float | None = None

    def set_definitions(self, definitions: Iterable[tuple[FlowDefinition, int]]) -> None:
        """Install the active definitions (name → (definition, generation))."""
        tables: dict[str, FlowTable] = {}
        for definition, generation in definitions:
            held = self.tables.get(definition.name)
            if held is not None and held.generation == generation:
                tables[definition.name] = held
            else:
                tables[definition.name] = FlowTable(definition, generation, self.max_keys)
        self.tables = tables

    def merge(self, partials: Mapping[str, FlowPartial], keys_seen: Mapping[str, float]) -> None:
        """One receiver's partial sums and the flow keys it saw."""
        for name, partial in partials.items():
            table = self.tables.get(name)
            if table is None or table.generation != partial.generation:
                self.stale += 1
                continue
            if partial.dropped:
                self.receiver_dropped[name] = self.receiver_dropped.get(name, 0.0) + partial.dropped
            table.add(partial)
        for key, seen in keys_seen.items():
            if key in KEYS and seen > self.keys_seen.get(key, float("-inf")):
                self.keys_seen[key] = seen

    def counts(self) -> tuple[dict[tuple[str, ...], float], dict[tuple[str, ...], float]]:
        """(``flow_keys_dropped`` by (flow, where), ``flow_keys`` by flow) for the snapshot."""
        dropped: dict[tuple[str, ...], float] = {}
        keys: dict[tuple[str, ...], float] = {}
        for name, table in self.tables.items():
            dropped[(name, "aggregator")] = float(table.dropped)
            dropped[(name, "receiver")] = self.receiver_dropped.get(name, 0.0)
            keys[(name,)] = float(len(table.rates))
        return dropped, keys

    def tick(self, now: float) -> None:
        """Smooth every table (see ``FlowTable.tick``)."""
        last = self._last_tick
        self._last_tick = now
        if last is None or now <= last:
            return
        for table in self.tables.values():
            table.tick(now, now - last)

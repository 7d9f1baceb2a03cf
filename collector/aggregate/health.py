"""Fabric health: typed events from the merged state (docs/fabric-health.md).

``FabricHealth`` looks at what the aggregator already holds, once a tick, and raises an event
when a condition starts (incast and collisions once they have held ``confirm_seconds``), never
again while it lasts:

* ``incast_congestion``: an edge port sending towards its host above ``incast_fraction`` of its
  speed, fed by two or more elephants (GPU pairs above ``elephant_fraction`` of that threshold);
  the event names the culprit pairs with their bit rates and the port's ECN-marked and CNP
  packet rates.
* ``ecmp_collision``: an uplink above its speed's busy threshold carrying two or more elephants
  while a parallel uplink of the same switch towards the same tier carries none.
* ``link_down`` / ``link_up``: a topology link's operational state from its ends' counters.
* ``agent_silent`` / ``agent_back``: an agent not heard from for ``silent_seconds``, and its
  return.
* ``drop_surge``: a port whose agent reports more than ``drop_surge_per_second`` dropped
  packets a second over ``drop_window_seconds``: the notifications it sent plus those its rate
  limit suppressed (the cumulative ``drops`` field of each notification), from the drop log.

The pairs, ECN and CNP rates come from the receivers' flow engine: ``FabricHealth`` installs
its own flow definitions (``definitions()``, names beginning ``HEALTH_PREFIX``, which users
cannot take), the receivers sum them with the others, and their partials, routed here by name,
fold into tables of their own (``collector.aggregate.flow_table``): the user's flow tables and
gauges never see them. Events are numbered from 1 and kept in a bounded ring for
``GET /events/json?after=``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from collector.aggregate.drop_log import DropLog
from collector.aggregate.flow_table import SOURCE_FIELDS, FlowTables
from collector.delta import AgentKey, FlowKey, FlowPartial, PortKey, PortStatus
from collector.families import EVENT_TYPES
from collector.flows.definition import FlowDefinition, parse_definition
from topology.index import CORE, EDGE
from topology.model import LinkSpec

HEALTH_PREFIX = "_health_"
HEALTH_GENERATION = 0  # the health definitions never change: one generation for good
PAIR_DEFINITIONS = (
    (f"{HEALTH_PREFIX}pairs", "ipsource,ipdestination"),
    (f"{HEALTH_PREFIX}pairs6", "ip6source,ip6destination"),
)
ECN_DEFINITION = f"{HEALTH_PREFIX}ecn"
CNP_DEFINITION = f"{HEALTH_PREFIX}cnp"
# Link speeds (Gb/s) with their default busy fraction (a setting: per speed, as fabric-metrics)
DEFAULT_BUSY = ((10, 0.7), (25, 0.7), (40, 0.7), (50, 0.7), (100, 0.7), (200, 0.7),
                (400, 0.7), (800, 0.7))  # fmt: skip

Endpoint = tuple[str, str]


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """The health analysis' tunables (docs/fabric-health.md)."""

    incast_fraction: float = 0.8  # of an edge port's speed
    elephant_fraction: float = 0.2  # of the incast threshold of the port a pair crosses
    busy: tuple[tuple[int, float], ...] = DEFAULT_BUSY  # (Gb/s, fraction of speed)
    silent_seconds: float = 30.0  # an agent unheard for this long is silent
    smoothing_seconds: float = 1.0  # time constant of the pair, ECN and CNP rates
    # incast and collisions: how long a condition holds before its event, so that the culprit
    # list has every elephant risen above the floor, not the first two
    confirm_seconds: float = 2.0
    max_events: int = 10_000  # the ring ``GET /events/json`` reads
    drop_surge_per_second: float = 100.0  # dropped packets/s at one port, notified or not
    drop_window_seconds: float = 2.0
    enabled: bool = False  # on: definitions for the receivers, events (serve --health)

    def busy_fraction(self, speed_bps: int) -> float:
        """The busy threshold of a link speed: that of the nearest configured speed."""
        nearest = min(self.busy, key=lambda entry: abs(entry[0] * 1e9 - speed_bps))
        return nearest[1]


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """One event: its number, collector time, type and what it is about."""

    id: int
    time: float
    type: str
    detail: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The event as ``GET /events/json`` lists it."""
        return {"id": self.id, "time": self.time, "type": self.type, **self.detail}


@dataclass(slots=True)
class _Pair:
    source: str
    destination: str
    bps: float


@dataclass(slots=True)
class _PortRates:
    """Per (node, port): pairs leaving by it, ECN-marked frames/s out, CNPs/s in."""

    pairs: dict[Endpoint, dict[tuple[str, str], float]] = field(default_factory=dict)
    ecn: dict[Endpoint, float] = field(default_factory=dict)
    cnp: dict[Endpoint, float] = field(default_factory=dict)


def health_definitions(settings: HealthSettings) -> list[FlowDefinition]:
    """The flow definitions the analysis needs the receivers to sum."""
    t = settings.smoothing_seconds
    found = [
        parse_definition(name, {"keys": f"egressnode,egressport,{pair}", "value": "bytes", "t": t})
        for name, pair in PAIR_DEFINITIONS
    ]
    found.append(
        parse_definition(
            ECN_DEFINITION,
            {"keys": "egressnode,egressport", "value": "frames", "filter": "ipecn=3", "t": t},
        )
    )
    found.append(
        parse_definition(
            CNP_DEFINITION,
            {
                "keys": "ingressnode,ingressport",
                "value": "frames",
                "filter": "ibbtoptransport=CNP",
                "t": t,
            },
        )
    )
    return found


class FabricHealth:
    """Events from the merged state (module docstring)."""

    def __init__(self, settings: HealthSettings | None = None, max_keys: int = 10_000) -> None:
        self.settings = settings or HealthSettings()
        self.tables = FlowTables(max_keys)
        self._definitions = health_definitions(self.settings)
        self.tables.set_definitions((d, HEALTH_GENERATION) for d in self._definitions)
        self.events: deque[HealthEvent] = deque(maxlen=self.settings.max_events)
        self.counts: dict[str, int] = dict.fromkeys(EVENT_TYPES, 0)
        self._next_id = 1
        # per condition: since when it holds, and whether its event was raised
        self._incast: dict[Endpoint, tuple[float, bool]] = {}
        self._collisions: dict[Endpoint, tuple[float, bool]] = {}
        self._links: dict[str, bool] = {}  # link name → up, once both ends reported
        self._silent: set[AgentKey] = set()
        # drop notifications per (agent, data source): (read at, suppressed so far, reason),
        # within the window; the ports surging; the drop log's last id read
        self._drops: dict[tuple[str, int], deque[tuple[float, float, str]]] = {}
        self._surging: set[tuple[str, int]] = set()
        self._drop_where: dict[tuple[str, int], tuple[Any, Any]] = {}  # → (node, port)
        self._drop_cursor = 0

    def definitions(self) -> list[tuple[FlowDefinition, int]]:
        """The health definitions with their generation, for the receivers."""
        if not self.settings.enabled:
            return []
        return [(d, HEALTH_GENERATION) for d in self._definitions]

    # Input

    def merge(self, partials: Mapping[str, FlowPartial]) -> None:
        """The health definitions' partials of one receiver's delta."""
        self.tables.merge(partials, {})

    # Time

    def tick(
        self,
        now: float,
        ports: Mapping[PortKey, PortStatus],
        agents: Mapping[AgentKey, Any],
        links: Mapping[str, LinkSpec],
        drops: DropLog | None = None,
    ) -> list[HealthEvent]:
        """Once a tick: smooth the rates, look at every condition; the events raised."""
        if not self.settings.enabled:
            return []
        self.tables.tick(now)
        raised: list[HealthEvent] = []
        latest = _latest_by_end(ports)
        rates = self._port_rates()
        raised += self._check_incast(now, latest, rates)
        raised += self._check_collisions(now, latest, rates, links)
        raised += self._check_links(now, latest, links)
        raised += self._check_agents(now, agents)
        if drops is not None:
            raised += self._check_drops(now, drops)
        return raised

    def after(self, event_id: int, limit: int = 1000) -> list[HealthEvent]:
        """The kept events numbered above ``event_id``, oldest first, at most ``limit``."""
        found = [e for e in self.events if e.id > event_id]
        return found[:limit]

    @property
    def last_id(self) -> int:
        """The number of the latest event (0 before the first)."""
        return self._next_id - 1

    # Conditions

    def _raise(self, now: float, kind: str, detail: dict[str, Any]) -> HealthEvent:
        event = HealthEvent(self._next_id, now, kind, detail)
        self._next_id += 1
        self.events.append(event)
        self.counts[kind] += 1
        return event

    def _port_rates(self) -> _PortRates:
        """The smoothed health tables summed over the data sources that sampled them."""
        rates = _PortRates()
        tables = self.tables.tables
        for name, _ in PAIR_DEFINITIONS:
            table = tables.get(name)
            if table is None:
                continue
            for key, values in table.rates.items():
                node, port, source, destination = _fields(key, 4)
                by_pair = rates.pairs.setdefault((node, port), {})
                pair = (source, destination)
                by_pair[pair] = by_pair.get(pair, 0.0) + 8.0 * values[0]
        for name, into in ((ECN_DEFINITION, rates.ecn), (CNP_DEFINITION, rates.cnp)):
            table = tables.get(name)
            if table is None:
                continue
            for key, values in table.rates.items():
                node, port = _fields(key, 2)
                into[(node, port)] = into.get((node, port), 0.0) + values[0]
        return rates

    def _elephants(self, rates: _PortRates, end: Endpoint, speed_bps: int) -> list[_Pair]:
        floor = self.settings.elephant_fraction * self.settings.incast_fraction * speed_bps
        pairs = [
            _Pair(s, d, bps) for (s, d), bps in rates.pairs.get(end, {}).items() if bps >= floor
        ]
        pairs.sort(key=lambda p: (-p.bps, p.source, p.destination))
        return pairs

    def _check_incast(
        self, now: float, latest: Mapping[Endpoint, PortStatus], rates: _PortRates
    ) -> list[HealthEvent]:
        raised: list[HealthEvent] = []
        now_on: dict[Endpoint, tuple[float, bool]] = {}
        threshold = self.settings.incast_fraction
        for end, status in latest.items():
            utilisation = status.out_utilization
            if status.role != EDGE or utilisation is None or utilisation < threshold:
                continue
            elephants = self._elephants(rates, end, status.speed_bps)
            if len(elephants) < 2:
                continue
            since, done = now_on[end] = self._incast.get(end, (now, False))
            if done or now - since < self.settings.confirm_seconds:
                continue
            now_on[end] = (since, True)
            raised.append(
                self._raise(
                    now,
                    "incast_congestion",
                    {
                        "node": end[0],
                        "port": end[1],
                        "utilisation": utilisation,
                        "speed": status.speed_bps,
                        "pairs": [_pair_json(p) for p in elephants],
                        "ecn_marked_per_second": rates.ecn.get(end, 0.0),
                        "cnp_per_second": rates.cnp.get(end, 0.0),
                    },
                )
            )
        self._incast = now_on
        return raised

    def _check_collisions(
        self,
        now: float,
        latest: Mapping[Endpoint, PortStatus],
        rates: _PortRates,
        links: Mapping[str, LinkSpec],
    ) -> list[HealthEvent]:
        raised: list[HealthEvent] = []
        now_on: dict[Endpoint, tuple[float, bool]] = {}
        for node, uplinks in _uplink_groups(latest, links).items():
            counts = {
                port: self._elephants(rates, (node, port), latest[(node, port)].speed_bps)
                for port in uplinks
            }
            idle = sorted(p for p, e in counts.items() if not e and latest[(node, p)].oper_up)
            for port, elephants in counts.items():
                status = latest[(node, port)]
                utilisation = status.out_utilization
                busy = self.settings.busy_fraction(status.speed_bps)
                if len(elephants) < 2 or not idle or utilisation is None or utilisation < busy:
                    continue
                since, done = now_on[(node, port)] = self._collisions.get(
                    (node, port), (now, False)
                )
                if done or now - since < self.settings.confirm_seconds:
                    continue
                now_on[(node, port)] = (since, True)
                raised.append(
                    self._raise(
                        now,
                        "ecmp_collision",
                        {
                            "node": node,
                            "port": port,
                            "utilisation": utilisation,
                            "speed": status.speed_bps,
                            "pairs": [_pair_json(p) for p in elephants],
                            "idle_uplinks": idle,
                        },
                    )
                )
        self._collisions = now_on
        return raised

    def _check_links(
        self, now: float, latest: Mapping[Endpoint, PortStatus], links: Mapping[str, LinkSpec]
    ) -> list[HealthEvent]:
        raised: list[HealthEvent] = []
        for name in sorted(links):
            link = links[name]
            end1 = latest.get((link.node1, link.port1))
            end2 = latest.get((link.node2, link.port2))
            if end1 is None and end2 is None:
                continue  # unmonitored: no word on its state
            up = all(e.oper_up for e in (end1, end2) if e is not None)
            was = self._links.get(name)
            self._links[name] = up
            if was == up or (was is None and up):
                continue
            down_end = next(
                (e for e in (end1, end2) if e is not None and not e.oper_up), end1 or end2
            )
            assert down_end is not None
            raised.append(
                self._raise(
                    now,
                    "link_up" if up else "link_down",
                    {
                        "link": name,
                        "node": link.node1,
                        "port": link.port1,
                        "peer_node": link.node2,
                        "peer_port": link.port2,
                        "reported_by": down_end.node if not up else None,
                    },
                )
            )
        for name in [n for n in self._links if n not in links]:
            del self._links[name]
        return raised

    def _check_agents(self, now: float, agents: Mapping[AgentKey, Any]) -> list[HealthEvent]:
        raised: list[HealthEvent] = []
        deadline = now - self.settings.silent_seconds
        for key, status in agents.items():
            silent = status.last_seen < deadline
            if silent == (key in self._silent):
                continue
            detail = {"agent": key[0], "sub_agent": key[1], "node": status.node}
            if silent:
                self._silent.add(key)
                detail["last_seen"] = status.last_seen
                raised.append(self._raise(now, "agent_silent", detail))
            else:
                self._silent.discard(key)
                raised.append(self._raise(now, "agent_back", detail))
        # an agent the aggregator forgot (status timeout) stays silent: no event, no memory
        self._silent &= set(agents)
        return raised

    def _check_drops(self, now: float, drops: DropLog) -> list[HealthEvent]:
        cursor = self._drop_cursor
        if cursor > drops.last_id:
            cursor = 0  # the log started again
        where = self._drop_where
        while True:
            page = drops.after(cursor)
            for event in page["events"]:
                key = (str(event.get("agent")), int(event.get("source_ifindex") or 0))
                held = self._drops.setdefault(key, deque())
                held.append((now, float(event.get("drops") or 0), str(event.get("reason_name"))))
                where[key] = (event.get("node"), event.get("port"))
            if page["last"] <= cursor or not page["events"]:
                cursor = max(cursor, page["last"])
                break
            cursor = page["last"]
        self._drop_cursor = cursor
        window = self.settings.drop_window_seconds
        threshold = self.settings.drop_surge_per_second
        raised: list[HealthEvent] = []
        for key in list(self._drops):
            held = self._drops[key]
            while held and held[0][0] <= now - window:
                held.popleft()
            if not held:
                del self._drops[key]
                del where[key]
                self._surging.discard(key)
                continue
            suppressed = max(0.0, held[-1][1] - held[0][1])
            rate = (len(held) + suppressed) / window
            if rate < threshold / 2:
                self._surging.discard(key)  # hysteresis: a surge ends well below its start
            if rate < threshold or key in self._surging:
                continue
            self._surging.add(key)
            node, port = where.get(key, (None, None))
            reasons: dict[str, int] = {}
            for _, _, reason in held:
                reasons[reason] = reasons.get(reason, 0) + 1
            raised.append(
                self._raise(
                    now,
                    "drop_surge",
                    {
                        "node": node,
                        "port": port,
                        "agent": key[0],
                        "ifindex": key[1],
                        "drops_per_second": rate,
                        "notified_per_second": len(held) / window,
                        "reasons": reasons,
                    },
                )
            )
        return raised


def _fields(key: FlowKey, count: int) -> tuple[str, ...]:
    parts = key[SOURCE_FIELDS : SOURCE_FIELDS + count]
    return tuple(p or "" for p in parts)


def _pair_json(pair: _Pair) -> dict[str, Any]:
    return {"source": pair.source, "destination": pair.destination, "bps": pair.bps}


def _latest_by_end(ports: Mapping[PortKey, PortStatus]) -> dict[Endpoint, PortStatus]:
    """Each topology end's latest status (the one seen last when two ports name it)."""
    latest: dict[Endpoint, PortStatus] = {}
    for status in ports.values():
        if status.node is None or status.port is None:
            continue
        end = (status.node, status.port)
        held = latest.get(end)
        if held is None or status.last_seen >= held.last_seen:
            latest[end] = status
    return latest


def _tiers(latest: Iterable[PortStatus], links: Mapping[str, LinkSpec]) -> dict[str, int]:
    """Each node's distance from the edge: 0 for a node with an edge port (a leaf), then one
    more per link away from the nearest leaf."""
    neighbours: dict[str, set[str]] = {}
    for link in links.values():
        neighbours.setdefault(link.node1, set()).add(link.node2)
        neighbours.setdefault(link.node2, set()).add(link.node1)
    tier = {s.node: 0 for s in latest if s.role == EDGE and s.node is not None}
    frontier = list(tier)
    while frontier:
        following: list[str] = []
        for node in frontier:
            for other in neighbours.get(node, ()):
                if other not in tier:
                    tier[other] = tier[node] + 1
                    following.append(other)
        frontier = following
    return tier


def _uplink_groups(
    latest: Mapping[Endpoint, PortStatus], links: Mapping[str, LinkSpec]
) -> dict[str, list[str]]:
    """Per node, its reporting core ports towards the next tier up (the ECMP choices)."""
    tier = _tiers(latest.values(), links)
    groups: dict[str, list[str]] = {}
    for link in links.values():
        for node, port, peer in (
            (link.node1, link.port1, link.node2),
            (link.node2, link.port2, link.node1),
        ):
            status = latest.get((node, port))
            if status is None or status.role != CORE or node not in tier or peer not in tier:
                continue
            if tier[peer] == tier[node] + 1:
                groups.setdefault(node, []).append(port)
    return {node: sorted(ports) for node, ports in groups.items() if len(ports) >= 2}

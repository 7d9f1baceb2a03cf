"""Fabric-health analysis in the aggregator: conditions from hand-built statuses and partials.

A two-leaf, two-spine fabric (each leaf two uplinks, one per spine; 100G everywhere) goes
through ``Aggregator.merge`` / ``tick`` as receivers would feed it. The pair rates are what the
partials say they are (bytes per tick, scaled), so every threshold below is arithmetic.
"""

from __future__ import annotations

from typing import Any

import pytest

from collector.aggregate.aggregator import Aggregator, AggregatorSettings
from collector.aggregate.health import (
    CNP_DEFINITION,
    ECN_DEFINITION,
    HEALTH_GENERATION,
    PAIR_DEFINITIONS,
    HealthSettings,
)
from collector.delta import AgentStatus, Delta, FlowPartial, PortStatus
from collector.families import EVENT_TYPES
from topology.index import build_index
from topology.model import parse_topology

SPEED = 100_000_000_000
LINKS = {
    "leaf1-spine1": ("leaf1", "swp9", "spine1", "swp1"),
    "leaf1-spine2": ("leaf1", "swp10", "spine2", "swp1"),
    "leaf2-spine1": ("leaf2", "swp9", "spine1", "swp2"),
    "leaf2-spine2": ("leaf2", "swp10", "spine2", "swp2"),
}
AGENTS = {"leaf1": "10.0.0.1", "leaf2": "10.0.0.2", "spine1": "10.0.0.3", "spine2": "10.0.0.4"}
PAIRS = PAIR_DEFINITIONS[0][0]


def _aggregator(**settings: Any) -> Aggregator:
    settings.setdefault("enabled", True)
    aggregator = Aggregator(AggregatorSettings(health=HealthSettings(**settings)))
    document = {
        "links": {
            name: {"node1": a, "port1": p, "node2": b, "port2": q}
            for name, (a, p, b, q) in LINKS.items()
        }
    }
    aggregator.set_topology(build_index(parse_topology(document), 1))
    return aggregator


def _port(node: str, port: str, now: float, out: float = 0.1, up: bool = True) -> PortStatus:
    role = (
        "core" if any((node, port) in ((a, p), (b, q)) for a, p, b, q in LINKS.values()) else "edge"
    )
    return PortStatus(node, port, role, up, True, SPEED, 0.1, out, now)


def _statuses(now: float, **overrides: Any) -> Delta:
    """Every port of the fabric (leaf host ports swp1-swp2), with overrides by 'node:port'."""
    delta = Delta()
    index = 0
    for node in ("leaf1", "leaf2", "spine1", "spine2"):
        ports = ["swp1", "swp2", "swp9", "swp10"] if node.startswith("leaf") else ["swp1", "swp2"]
        for port in ports:
            index += 1
            kw = overrides.get(f"{node}:{port}", {})
            delta.ports[(AGENTS[node], index)] = _port(node, port, now, **kw)
        delta.agents[(AGENTS[node], 0)] = AgentStatus(node, now, 1000, 20000, 20000.0)
    return delta


def _pairs(egress: tuple[str, str], bps: dict[tuple[str, str], float], tick: float) -> Delta:
    """One receiver's pair partial: each pair's bytes over ``tick`` seconds at ``bps``."""
    delta = Delta()
    node, port = egress
    sums = {
        (AGENTS[node], "7", "edge", node, node, port, src, dst): [b / 8.0 * tick]
        for (src, dst), b in bps.items()
    }
    delta.flows[PAIRS] = FlowPartial(HEALTH_GENERATION, sums)
    delta.flows[ECN_DEFINITION] = FlowPartial(
        HEALTH_GENERATION, {(AGENTS[node], "7", "edge", node, node, port): [500.0 * tick]}
    )
    delta.flows[CNP_DEFINITION] = FlowPartial(
        HEALTH_GENERATION, {(AGENTS[node], "1", "edge", node, node, port): [50.0 * tick]}
    )
    return delta


def _run(aggregator: Aggregator, seconds: int, feed: Any) -> list[dict[str, Any]]:
    aggregator.tick(999.0)  # the flow tables' first tick only starts their clock
    for k in range(seconds):
        now = 1000.0 + k
        for delta in feed(now):
            aggregator.merge(delta)
        aggregator.tick(now)
    return [e.to_json() for e in aggregator.health.after(0)]


def test_incast_names_the_port_and_every_elephant_with_its_rate() -> None:
    aggregator = _aggregator()
    elephants = {("10.1.0.2", "10.1.0.1"): 40e9, ("10.1.0.3", "10.1.0.1"): 35e9}
    mouse = {("10.1.0.4", "10.1.0.1"): 0.5 * 0.2 * 0.8 * SPEED}  # half the elephant floor
    events = _run(
        aggregator,
        12,
        lambda now: [
            _statuses(now, **{"leaf1:swp1": {"out": 0.9}}),
            _pairs(("leaf1", "swp1"), {**elephants, **mouse}, 1.0),
        ],
    )
    assert [e["type"] for e in events] == ["incast_congestion"]  # once, however long it lasts
    event = events[0]
    assert (event["node"], event["port"], event["utilisation"]) == ("leaf1", "swp1", 0.9)
    got = {(p["source"], p["destination"]): p["bps"] for p in event["pairs"]}
    assert set(got) == set(elephants)
    for pair, bps in elephants.items():
        assert 0.8 * bps < got[pair] <= bps  # rising towards it (smoothing t = 1 s)
    assert 0 < event["ecn_marked_per_second"] <= 500.0
    assert 0 < event["cnp_per_second"] <= 50.0
    # raised only after the condition held confirm_seconds (2 s) of ticks
    assert event["time"] >= 1002.0
    counters = aggregator.snapshot().counters["events"]
    assert counters == {(t,): float(t == "incast_congestion") for t in EVENT_TYPES}


@pytest.mark.parametrize(
    ("utilisation", "elephants"),
    [(0.79, 2), (0.9, 1)],
    ids=["below-threshold", "one-elephant"],
)
def test_no_incast_below_the_threshold_or_with_one_elephant(
    utilisation: float, elephants: int
) -> None:
    aggregator = _aggregator()
    pairs = {(f"10.1.0.{2 + i}", "10.1.0.1"): 45e9 for i in range(elephants)}
    events = _run(
        aggregator,
        10,
        lambda now: [
            _statuses(now, **{"leaf1:swp1": {"out": utilisation}}),
            _pairs(("leaf1", "swp1"), pairs, 1.0),
        ],
    )
    assert events == []


def test_ecmp_collision_needs_an_idle_parallel_uplink() -> None:
    pairs = {("10.1.0.1", "10.2.0.1"): 40e9, ("10.1.0.2", "10.2.0.2"): 38e9}
    busy = {"leaf1:swp9": {"out": 0.85}}
    aggregator = _aggregator()
    events = _run(
        aggregator,
        8,
        lambda now: [_statuses(now, **busy), _pairs(("leaf1", "swp9"), pairs, 1.0)],
    )
    assert [e["type"] for e in events] == ["ecmp_collision"]
    assert (events[0]["node"], events[0]["port"]) == ("leaf1", "swp9")
    assert events[0]["idle_uplinks"] == ["swp10"]
    assert {(p["source"], p["destination"]) for p in events[0]["pairs"]} == set(pairs)
    # the sibling carries an elephant of its own: hashing spread them, no collision
    other = {("10.1.0.3", "10.2.0.3"): 40e9}
    aggregator = _aggregator()
    events = _run(
        aggregator,
        8,
        lambda now: [
            _statuses(now, **busy),
            _pairs(("leaf1", "swp9"), pairs, 1.0),
            _pairs(("leaf1", "swp10"), other, 1.0),
        ],
    )
    assert events == []


def test_link_down_and_up_and_agent_silent_and_back() -> None:
    aggregator = _aggregator(silent_seconds=3.0)

    def feed(now: float) -> list[Delta]:
        k = int(now - 1000.0)
        if 4 <= k < 9:  # spine2 says nothing for five seconds
            delta = _statuses(now, **{"leaf1:swp10": {"up": k < 6}})
            for key in [key for key in delta.ports if key[0] == AGENTS["spine2"]]:
                del delta.ports[key]
            del delta.agents[(AGENTS["spine2"], 0)]
            return [delta]
        return [_statuses(now)]

    events = _run(aggregator, 12, feed)
    kinds = [(e["type"], e.get("link") or e.get("node")) for e in events]
    # links are looked at before agents within a tick: spine2 speaks again as the link rises
    assert kinds == [
        ("link_down", "leaf1-spine2"),
        ("agent_silent", "spine2"),
        ("link_up", "leaf1-spine2"),
        ("agent_back", "spine2"),
    ]
    assert [e["time"] for e in events] == [1006.0, 1007.0, 1009.0, 1009.0]
    down = events[0]
    assert down["time"] == 1006.0 and down["reported_by"] == "leaf1"
    silent = next(e for e in events if e["type"] == "agent_silent")
    assert silent["time"] - silent["last_seen"] > 3.0
    assert [e["id"] for e in events] == [1, 2, 3, 4]
    assert [e.id for e in aggregator.health.after(2)] == [3, 4]


def test_drop_surge_counts_notified_and_suppressed_drops_per_port() -> None:
    aggregator = _aggregator()
    log = aggregator.view.drops

    def feed(now: float) -> list[Delta]:
        k = int(now - 1000.0)
        # leaf1:swp1 from k = 3: ten notifications a second, each saying 4 more suppressed
        # (50 drops/s), then from k = 6 each 14 more (150 drops/s); leaf2:swp2 one a second
        if k >= 3:
            base = 40 * min(k - 3, 3) + 140 * max(0, k - 6)
            step = 4 if k < 6 else 14
            log.extend(
                {"agent": AGENTS["leaf1"], "source_ifindex": 1, "node": "leaf1", "port": "swp1",
                 "reason_name": "no_buffer_space", "drops": base + step * (i + 1)}
                for i in range(10)
            )  # fmt: skip
        log.extend([{"agent": AGENTS["leaf2"], "source_ifindex": 5, "node": "leaf2",
                     "port": "swp2", "reason_name": "acl", "drops": 0}])  # fmt: skip
        return [_statuses(now)]

    events = _run(aggregator, 11, feed)
    assert [e["type"] for e in events] == ["drop_surge"]  # once, while it lasts
    event = events[0]
    assert (event["node"], event["port"], event["ifindex"]) == ("leaf1", "swp1", 1)
    # the 2 s window holds 20 notifications, the suppressed count grew by 19 x 14 across them
    assert event["drops_per_second"] == (20 + 19 * 14) / 2
    assert event["notified_per_second"] == 10.0
    assert event["reasons"] == {"no_buffer_space": 20}
    # 50 drops/s raised nothing, nor the window straddling the change ((20 + 176) / 2 = 98)
    assert event["time"] == 1007.0


def test_users_cannot_take_the_health_names() -> None:
    from collector.flows.filter import FlowSpecError
    from collector.serve.flow_store import FlowStore

    store = FlowStore(None, lambda active: None)
    with pytest.raises(FlowSpecError, match="reserved"):
        store.put(PAIRS, {"keys": "ipsource"})


def test_health_partials_stay_out_of_the_user_flow_tables() -> None:
    aggregator = _aggregator()
    aggregator.merge(_pairs(("leaf1", "swp1"), {("a", "b"): 1e9}, 1.0))
    assert aggregator.flows.stale == 0 and aggregator.flows.tables == {}
    assert PAIRS in aggregator.health.tables.tables
    assert aggregator.health.tables.tables[PAIRS].pending


def test_event_route_pages_filters_and_refuses_bad_parameters() -> None:
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from collector.http.events import add_event_routes

    health = _aggregator().health
    for k in range(5):  # link_down, link_up, link_down, … : ids 1 … 5
        health._raise(1000.0 + k, "link_down" if k % 2 == 0 else "link_up", {"link": "x"})

    async def scenario() -> None:
        app = web.Application()
        add_event_routes(app, health)
        async with TestClient(TestServer(app)) as client:
            page = await (await client.get("/events/json?after=1&limit=2")).json()
            assert [e["id"] for e in page["events"]] == [2, 3]
            assert (page["next"], page["last"]) == (3, 5)
            page = await (await client.get("/events/json?after=3")).json()
            assert [e["id"] for e in page["events"]] == [4, 5] and page["next"] == 5
            page = await (await client.get("/events/json?type=link_up")).json()
            assert [e["id"] for e in page["events"]] == [2, 4] and page["next"] == 5
            page = await (await client.get("/events/json?type=link_up&limit=1")).json()
            assert [e["id"] for e in page["events"]] == [2] and page["next"] == 3  # 3 looked at
            page = await (await client.get("/events/json?type=agent_back")).json()
            assert page["events"] == [] and page["next"] == 5
            for bad in ("after=x", "after=-1", "limit=0", "limit=1001", "type=meltdown"):
                response = await client.get(f"/events/json?{bad}")
                assert response.status == 400, bad
                assert bad.split("=")[0] in await response.text()

    asyncio.run(scenario())


def test_health_off_sums_nothing_and_raises_nothing() -> None:
    aggregator = _aggregator(enabled=False)
    assert aggregator.health.definitions() == []
    events = _run(
        aggregator,
        8,
        lambda now: [
            _statuses(now, **{"leaf1:swp1": {"out": 0.95}, "leaf1:swp9": {"up": False}}),
            _pairs(("leaf1", "swp1"), {("a", "b"): 40e9, ("c", "b"): 40e9}, 1.0),
        ],
    )
    assert events == [] and aggregator.snapshot().counters["events"] == {
        (t,): 0.0 for t in EVENT_TYPES
    }
    from collector.serve.settings import Settings, serve_parts

    assert serve_parts(Settings(health=True)).aggregator.health.enabled is True
    assert serve_parts(Settings()).aggregator.health.enabled is False

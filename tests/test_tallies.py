"""The aggregator's incrementally kept port tallies and link states equal a from-scratch count.

A seeded random walk over a small fabric (ports reported up and down, renamed, claimed twice,
expiring by delta and by age, the topology replaced and removed, links unmonitored) compares,
after every step, the ``ports`` and ``links`` gauges, the per-port gauges, the status document
and ``/links/json`` (as bytes) with a count over every port status written here from the rules
in ``topology/status.py`` and ``docs/api.md``.
"""

from __future__ import annotations

import dataclasses
import random
from types import SimpleNamespace
from typing import Any

import pytest

from collector.aggregate.aggregator import Aggregator, AggregatorSettings
from collector.delta import UNKNOWN_SPEED, AgentStatus, Delta, PortStatus
from collector.http.access import json_bytes
from collector.http.fabric import status_document
from collector.http.ui import links_document, links_json
from topology import TopologyIndex, parse_topology
from topology.index import ROLES

NODES = ("n0", "n1", "n2", "n3")
PORTS = ("p0", "p1", "p2", "p3")
AGENTS = ("10.0.0.1", "10.0.0.2", "10.0.0.3")
STEPS = 300


def _random_index(rng: random.Random, version: int) -> TopologyIndex:
    """Links between distinct random (node, port) ends, each end used once."""
    ends = [(n, p) for n in NODES for p in PORTS]
    rng.shuffle(ends)
    links = {}
    for i in range(rng.randint(0, len(ends) // 2)):
        (n1, p1), (n2, p2) = ends[2 * i], ends[2 * i + 1]
        links[f"L{rng.randint(0, 99):02d}-{i}"] = {
            "node1": n1,
            "port1": p1,
            "node2": n2,
            "port2": p2,
        }
    nodes = {n: {"agent": AGENTS[i]} for i, n in enumerate(NODES[: len(AGENTS)])}
    return TopologyIndex(parse_topology({"links": links, "nodes": nodes}), version)


def _random_status(rng: random.Random, now: float) -> PortStatus:
    named = rng.random() < 0.85
    return PortStatus(
        rng.choice(NODES) if named else None,
        rng.choice(PORTS) if named or rng.random() < 0.5 else None,
        rng.choice(ROLES),
        rng.random() < 0.8,
        rng.random() < 0.7,
        rng.choice((0, 10**9, 4 * 10**11, UNKNOWN_SPEED)),
        rng.choice((None, 0.0, 0.25, rng.random())),
        rng.choice((None, 0.5, rng.random())),
        float(int(now - rng.choice((0, 0, 1, 5)))),  # whole seconds: ties between claimers
    )


# ---------------------------------------------------------------------------------------------
# References: one pass over every port status, in the dict's order


def _reference_port_gauges(ports: dict[Any, PortStatus]) -> dict[tuple[str, ...], float]:
    counts = {(r, s): 0.0 for r in ROLES for s in ("up", "down")}
    for status in ports.values():
        counts[(status.role, "up" if status.oper_up else "down")] += 1
    return counts


def _last_named(ports: dict[Any, PortStatus]) -> dict[tuple[str, str], PortStatus]:
    """Each end's status inserted last (iteration order)."""
    return {
        (s.node, s.port): s for s in ports.values() if s.node is not None and s.port is not None
    }


def _reference_link_gauges(
    index: TopologyIndex | None, ports: dict[Any, PortStatus]
) -> dict[tuple[str, ...], float]:
    out = {("up",): 0.0, ("down",): 0.0, ("unmonitored",): 0.0}
    ends = _last_named(ports)
    for link in (index.topology.links if index else {}).values():
        end1, end2 = ends.get((link.node1, link.port1)), ends.get((link.node2, link.port2))
        if end1 is None or end2 is None:
            out[("unmonitored",)] += 1
        else:
            out[("up",) if end1.oper_up and end2.oper_up else ("down",)] += 1
    return out


def _reference_per_port(ports: dict[Any, PortStatus]) -> dict[str, dict[tuple[str, ...], float]]:
    speed, oper, use = {}, {}, {}
    for s in ports.values():
        if s.node is None or s.port is None:
            continue
        labels = (s.node, s.port, s.role)
        speed[labels] = s.speed_bps / 8.0
        oper[labels] = 1.0 if s.oper_up else 0.0
        for direction, value in (("in", s.in_utilization), ("out", s.out_utilization)):
            if value is not None:
                use[(*labels, direction)] = value
    return {
        "port_utilization": use,
        "port_speed_bytes_per_second": speed,
        "port_oper_up": oper,
    }


def _reference_links(
    index: TopologyIndex | None, ports: dict[Any, PortStatus]
) -> list[dict[str, Any]]:
    """``/links/json`` entries: status from the last inserted status of each end (admin and
    oper up), load from the most recently seen one."""
    by_order = _last_named(ports)
    by_time: dict[tuple[str, str], PortStatus] = {}
    for s in ports.values():
        if s.node is not None and s.port is not None:
            old = by_time.get((s.node, s.port))
            if old is None or old.last_seen <= s.last_seen:
                by_time[(s.node, s.port)] = s

    def speed_of(s: PortStatus | None) -> float | None:
        return float(s.speed_bps) if s is not None and 0 < s.speed_bps < UNKNOWN_SPEED else None

    def bps(s: PortStatus | None, ratio: float | None) -> float | None:
        speed = speed_of(s)
        return None if speed is None or ratio is None else ratio * speed

    out = []
    links = index.topology.links if index else {}
    for name in sorted(links):
        link = links[name]
        o1, o2 = by_order.get((link.node1, link.port1)), by_order.get((link.node2, link.port2))
        if o1 is None or o2 is None:
            status = "unmonitored"
        else:
            status = "up" if o1.oper_up and o1.admin_up and o2.oper_up and o2.admin_up else "down"
        e1, e2 = by_time.get((link.node1, link.port1)), by_time.get((link.node2, link.port2))
        speeds = [v for v in (speed_of(e1), speed_of(e2)) if v is not None]
        speed = min(speeds) if speeds else None
        u1, u2 = (e1.out_utilization, e1.in_utilization) if e1 else (None, None)
        v1, v2 = (e2.out_utilization, e2.in_utilization) if e2 else (None, None)
        a = bps(e1, u1) if bps(e1, u1) is not None else bps(e2, v2)
        b = bps(e2, v1) if bps(e2, v1) is not None else bps(e1, u2)
        known = [v for v in (a, b) if v is not None]
        out.append(
            {
                "name": name,
                "node1": link.node1,
                "port1": link.port1,
                "node2": link.node2,
                "port2": link.port2,
                "status": status,
                "speed_bps": speed,
                "bps_1to2": a,
                "bps_2to1": b,
                "utilization": max(known) / speed if speed and known else None,
            }
        )
    return out


def _plain_view(aggregator: Aggregator) -> SimpleNamespace:
    """The same statuses without the aggregator's book: the documents count from scratch."""
    return SimpleNamespace(
        index=aggregator.index,
        agents=dict(aggregator.agents),
        ports=dict(aggregator.ports),
        view=aggregator.view,
        rates=aggregator.rates,
    )


def _check(aggregator: Aggregator, now: float) -> None:
    ports = dict(aggregator.ports)
    snapshot = aggregator.snapshot()
    gauges = snapshot.gauges
    assert snapshot.port_ingress_bps is not None
    for role in ("edge", "core"):  # the compatible face's quartiles sort them
        assert sorted(snapshot.port_ingress_bps[role]) == sorted(
            s.in_utilization * s.speed_bps
            for s in ports.values()
            if s.role == role and s.in_utilization is not None
        )
    assert gauges["ports"] == _reference_port_gauges(ports)
    assert gauges["links"] == _reference_link_gauges(aggregator.index, ports)
    if aggregator.per_port:
        for family, series in _reference_per_port(ports).items():
            assert gauges[family] == series
    plain = _plain_view(aggregator)
    status = status_document(aggregator, now)
    assert json_bytes(status) == json_bytes(status_document(plain, now))
    links = links_document(aggregator, now)
    assert links["links"] == _reference_links(aggregator.index, ports)
    assert json_bytes(links) == json_bytes(links_document(plain, now))
    assert links_json(aggregator, now) == json_bytes(links)  # what the route serves


@pytest.mark.parametrize(("seed", "per_port"), [(s, s % 2 == 0) for s in range(1, 9)])
def test_incremental_tallies_match_a_recount(seed: int, per_port: bool) -> None:
    rng = random.Random(seed)
    aggregator = Aggregator(AggregatorSettings(per_port=per_port, status_timeout=30.0))
    aggregator.agents.update({(a, 0): AgentStatus("", 0.0, 0, None, None) for a in AGENTS})
    version = 1
    aggregator.set_topology(_random_index(rng, version))
    keys = [(a, i) for a in AGENTS for i in range(1, 7)]
    now = 100.0
    seen = {"down": 0, "unmonitored": 0, "up": 0, "renamed": 0, "expired": 0}
    for _ in range(STEPS):
        now += rng.choice((1.0, 2.0, 15.0))
        action = rng.random()
        if action < 0.6:
            delta = Delta()
            for key in rng.sample(keys, rng.randint(1, 8)):
                old = aggregator.ports.get(key)
                new = _random_status(rng, now)
                if old is not None and rng.random() < 0.5:  # next sample, same end
                    new = dataclasses.replace(new, node=old.node, port=old.port)
                elif old is not None:
                    seen["renamed"] += 1
                delta.ports[key] = new
            if rng.random() < 0.3:
                delta.expired_ports = rng.sample(keys, 2)
            aggregator.merge(delta)
        elif action < 0.85:
            before = len(aggregator.ports)
            aggregator.tick(now)
            seen["expired"] += before - len(aggregator.ports)
        elif action < 0.95:
            version += 1
            aggregator.set_topology(_random_index(rng, version))
        else:
            aggregator.set_topology(None)
        _check(aggregator, now)
        for state, n in aggregator.snapshot().gauges["links"].items():
            seen[state[0]] += n > 0
    # the walk went through every kind of change and link state
    assert all(n > 0 for n in seen.values()), seen


def test_two_claimers_of_one_end() -> None:
    """Two agents claim the same link end: the status last inserted decides the link's status,
    the one seen last its load (hand-derived values)."""
    topology = {"links": {"L1": {"node1": "a", "port1": "x", "node2": "b", "port2": "y"}}}
    aggregator = Aggregator()
    aggregator.set_topology(TopologyIndex(parse_topology(topology)))
    gbps = 10**9
    delta = Delta()
    delta.ports[("10.0.0.9", 1)] = PortStatus("b", "y", "core", True, True, gbps, 0.5, 0.5, 9.0)
    # seen later (load), inserted earlier; then a second claimer inserted later, down, seen earlier
    delta.ports[("10.0.0.1", 1)] = PortStatus("a", "x", "core", True, True, gbps, 0.1, 0.2, 8.0)
    delta.ports[("10.0.0.2", 1)] = PortStatus("a", "x", "core", False, True, gbps, 0.3, 0.4, 7.0)
    aggregator.merge(delta)
    assert aggregator.snapshot().gauges["links"] == {("up",): 0, ("down",): 1, ("unmonitored",): 0}
    (entry,) = links_document(aggregator, 10.0)["links"]
    assert entry["status"] == "down"
    assert entry["bps_1to2"] == pytest.approx(0.2e9)  # a's out from 10.0.0.1 (seen at 8 s)
    assert entry["bps_2to1"] == pytest.approx(0.5e9)
    assert status_document(aggregator, 10.0)["down_links"] == ["L1"]
    # the later claimer comes back up: the link is up; the first one expires: still up
    delta = Delta()
    delta.ports[("10.0.0.2", 1)] = PortStatus("a", "x", "core", True, True, gbps, 0.3, 0.4, 7.0)
    aggregator.merge(delta)
    assert status_document(aggregator, 10.0)["links"]["up"] == 1
    delta = Delta(expired_ports=[("10.0.0.1", 1)])
    aggregator.merge(delta)
    (entry,) = links_document(aggregator, 10.0)["links"]
    assert entry["bps_1to2"] == pytest.approx(0.4e9)  # now from 10.0.0.2
    # a document handed out cannot alter the next one
    entry["status"] = "changed"
    assert links_document(aggregator, 10.0)["links"][0]["status"] == "up"
    assert aggregator.snapshot().gauges["ports"][("core", "up")] == 2

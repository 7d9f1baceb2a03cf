"""The compatible face counts topology nodes only, as the reference's TOPOLOGY/EDGE/CORE groups.

An agent outside the topology sends every kind of figure the face reads (RoCEv2 traffic with
ECN, CNP, trimmed packets, RDMA writes, ACKs, interface errors and discards, drop notifications);
the face's points must be exactly the ones of the topology agent alone, every entry, on every
decode path, while the native families keep the outsider's figures. The expected points are
worked out from how the datagrams were built (rates x sampling rate, counter steps a second).
With no topology loaded, drop reasons of every agent count (the port-based series are 0 then,
no port having a role). Then the same over UDP and HTTP against a real ``serve``.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from collector.aggregate.aggregator import Aggregator, AggregatorSettings
from collector.compat.face import CompatFace
from collector.receive.pipeline import Pipeline
from collector.receive.state import FabricState, StateSettings
from decoders.records import Sample
from tests import fabric_builders as fb
from tests.e2e_support import start_serve
from tests.test_admission import PATHS  # full decoder, fast path with either accounting
from topology import PortResolver, TopologyIndex, parse_topology

OUTSIDER = "192.0.2.50"
LEAF2 = "10.0.0.2"  # a topology agent (fabric_builders.TOPOLOGY)
LEARNER = "192.0.2.1"  # outside the nodes block until its host_descr names a topology node
RATE = 1000
SECONDS = 200  # ~100 smoothing time constants: the smoothed rates equal the constant ones
FRAME = 1086  # fabric_builders.roce_header's frame length
AI = "/app/ai-metrics/scripts/metrics.js"


def _second(agent: str, t: int, scale: int, reasons: tuple[int, ...]) -> bytes:
    """One second of an agent on ifIndex 5 (LEAF1's edge port): four RoCEv2 flow samples at
    ingress (a WRITE FIRST with ECN CE, a CNP, a trimmed packet, an ACK of 12 credits), each
    for ``scale`` x RATE frames; an interface counter sample whose errors and discards grow by
    ``scale`` x (4, 3, 2, 1) a second; a drop notification per entry of ``reasons``."""
    rate = scale * RATE
    headers = (fb.write_first(ecn=3), fb.cnp(), fb.roce_header(dscp=11), fb.ack(12))
    seq = 4 * t
    flows: tuple[Sample, ...] = tuple(
        fb.flow(seq + i, fb.LEAF1_EDGE, (h,), rate=rate) for i, h in enumerate(headers)
    )
    step = scale * t
    interface = fb.if_counters(
        fb.LEAF1_EDGE,
        in_octets=step * 10**6,
        out_octets=step * 10**6,
        in_errors=4 * step,
        in_discards=3 * step,
        out_errors=2 * step,
        out_discards=step,
    )
    counter = fb.counters(t, fb.LEAF1_EDGE, (interface,))
    drops = tuple(fb.drop(len(reasons) * t + i, r) for i, r in enumerate(reasons))
    return fb.wire(fb.datagram(agent, t, (*flows, counter, *drops), uptime_ms=1000 * t))


INSIDER_REASONS = (259, 259)  # no_buffer_space, twice a second
OUTSIDER_REASONS = (265, 259, 259, 259)  # ingress_vlan_filter once, no_buffer_space thrice


def _run(
    agents: tuple[tuple[str, int, tuple[int, ...]], ...],
    fast: bool,
    accounting_class: Any,
    topology: dict[str, Any] | None = fb.TOPOLOGY,
) -> tuple[dict[str, Any], Aggregator]:
    """Every agent's seconds through one receiver, the aggregator and the face; the points."""
    index = TopologyIndex(parse_topology(topology)) if topology is not None else None
    settings = StateSettings(trim_dscp=11)
    accounting = (
        accounting_class(settings.trim_dscp, settings.per_port, settings.max_ports_per_agent)
        if accounting_class is not None
        else None
    )
    state = FabricState(PortResolver(index), settings, accounting)
    pipeline = Pipeline(state, fast=fast)
    aggregator = Aggregator(AggregatorSettings(smoothing_seconds=2.0))
    aggregator.set_topology(index)
    aggregator.tick(0.0)
    for t in range(1, SECONDS + 1):
        for agent, scale, reasons in agents:
            pipeline.handle(memoryview(_second(agent, t, scale, reasons)), t - 0.5)
        aggregator.merge(state.drain(float(t)))
        aggregator.tick(float(t))
    face = CompatFace()
    face.update(float(SECONDS), aggregator.compat_snapshot())
    return face.points(), aggregator


INSIDER = (fb.LEAF1, 1, INSIDER_REASONS)


@pytest.mark.parametrize(("fast", "accounting_class"), PATHS)
def test_an_agent_outside_the_topology_changes_no_compatible_point(
    fast: bool, accounting_class: Any
) -> None:
    alone, _ = _run((INSIDER,), fast, accounting_class)
    both, aggregator = _run((INSIDER, (OUTSIDER, 5, OUTSIDER_REASONS)), fast, accounting_class)
    assert both == alone  # every numeric point and both top-5 maps, to the bit
    # ... and they are the insider's figures (so the comparison above compares something)
    expect = {
        "bps": 8.0 * 4 * RATE * FRAME,
        "rdma_ops": RATE,
        "rdma_bytes": 32768,
        "ecn_pps": RATE,
        "cnp_pps": RATE,
        "trim_pps": RATE,
        "errors_in": 4,
        "discards_in": 3,
        "errors_out": 2,
        "discards_out": 1,
        "aeth_credits_avg": 12,
        "aeth_credits_min": 12,
        "aeth_credits_max": 12,
    }
    for name, value in expect.items():
        assert both[name] == pytest.approx(value, rel=1e-9), name
    assert both["top-5-drop-reasons"] == pytest.approx({"no_buffer_space": 2.0}, rel=1e-9)
    assert set(both["top-5-operations"]) == {
        "RC:RDMA_WRITE_FIRST",
        "CNP:CNP",
        "RC:RDMA_WRITE_MIDDLE",
        "RC:ACKNOWLEDGE",
    }
    # the native families keep the outsider: its drops by reason, its port's figures unmapped
    counters = aggregator.counters
    assert counters["dropped_packets"][("ingress_vlan_filter",)] == SECONDS
    assert counters["dropped_packets"][("no_buffer_space",)] == (2 + 3) * SECONDS
    assert counters["ecn_ce_packets"][("unmapped",)] == 5 * RATE * SECONDS
    assert counters["ecn_ce_packets"][("edge",)] == RATE * SECONDS
    assert counters["interface_errors"][("in", "unmapped")] == 5 * 4 * (SECONDS - 1)
    assert aggregator.agents[(OUTSIDER, 0)].node == ""  # listed as not in the topology


@pytest.mark.parametrize(("fast", "accounting_class"), PATHS)
def test_without_a_topology_every_agents_drops_count(fast: bool, accounting_class: Any) -> None:
    points, _ = _run((INSIDER, (OUTSIDER, 5, OUTSIDER_REASONS)), fast, accounting_class, None)
    assert points["top-5-drop-reasons"] == pytest.approx(
        {"no_buffer_space": 2.0 + 3.0, "ingress_vlan_filter": 1.0}, rel=1e-9
    )
    for name in ("bps", "ecn_pps", "cnp_pps", "trim_pps", "errors_in", "discards_out"):
        assert points[name] == 0, name  # no port has a role without a topology


def _learner_datagram(t: int) -> bytes:
    """A drop before and one after a host_descr that makes the agent topology node leaf2."""
    samples: tuple[Sample, ...] = (
        fb.drop(3 * t, 260),  # red: not yet a topology node in the first datagram
        fb.names(t, 9, "swp9", host="leaf2"),
        fb.drop(3 * t + 1, 261),  # traffic_shaping: a topology node from here on
        fb.drop(3 * t + 2, 260),
    )
    return fb.wire(fb.datagram(LEARNER, t, samples, uptime_ms=1000 * t))


@pytest.mark.parametrize(("fast", "accounting_class"), PATHS)
def test_topology_drops_follow_learned_hostnames_and_swaps(
    fast: bool, accounting_class: Any
) -> None:
    """The split of drop reasons on every path: the same deltas, and the numbers expected."""
    index = TopologyIndex(parse_topology(fb.TOPOLOGY))
    accounting = accounting_class(11, False, 4096) if accounting_class is not None else None
    state = FabricState(PortResolver(index), None, accounting)
    pipeline = Pipeline(state, fast=fast)
    pipeline.handle(memoryview(_learner_datagram(1)), 1.0)
    pipeline.handle(memoryview(_learner_datagram(2)), 1.5)
    first = state.drain(2.0).counters
    assert first["dropped_packets"] == {("red",): 4.0, ("traffic_shaping",): 2.0}
    assert first["topology_dropped_packets"] == {("red",): 3.0, ("traffic_shaping",): 2.0}
    # a topology without leaf2: the learned hostname names no node any more
    moved = json.loads(json.dumps(fb.TOPOLOGY))
    del moved["nodes"]["leaf2"]
    moved["links"].pop("L2")
    state.resolver.set_index(TopologyIndex(parse_topology(moved), 2))
    pipeline.handle(memoryview(_learner_datagram(3)), 3.0)
    second = state.drain(4.0).counters
    assert second["dropped_packets"] == {("red",): 2.0, ("traffic_shaping",): 1.0}
    assert "topology_dropped_packets" not in second
    # no topology at all: every agent counts
    state.resolver.set_index(None)
    pipeline.handle(memoryview(_learner_datagram(4)), 5.0)
    third = state.drain(6.0).counters
    assert third["topology_dropped_packets"] == third["dropped_packets"]


# ---------------------------------------------------------------------------------------------
# Over UDP and HTTP


def test_serve_keeps_an_outsider_out_of_every_compatible_series(tmp_path: Path) -> None:
    """The outsider sends everything, the topology agent only drops of another reason: every
    port-based compatible series stays 0 and its drop reason never shows, while the native
    face counts all it sent and the status page lists it as not in the topology."""
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(fb.TOPOLOGY))
    served = start_serve(path, 1)
    seconds = 12
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for t in range(1, seconds + 1):
                for data in (
                    _second(OUTSIDER, t, 5, (265,)),
                    _second(LEAF2, t, 0, (262,)),  # scale 0: no traffic, counters flat
                ):
                    sock.sendto(data, ("127.0.0.1", served.sflow_port))
                time.sleep(0.25)
        metrics = served.wait_settled(2 * seconds)
        assert metrics.one("fabricscope_datagrams_total") == 2 * seconds
        assert metrics.one("fabricscope_dropped_packets_total", reason="ingress_vlan_filter") == (
            seconds
        )
        assert metrics.one("fabricscope_dropped_packets_total", reason="pkt_too_big") == seconds
        assert metrics.one("fabricscope_ecn_ce_packets_total", role="unmapped") == (
            5 * RATE * seconds
        )
        _, text = served.get(f"{AI}/prometheus/txt")
        lines = dict(line.rsplit(" ", 1) for line in text.splitlines())
        assert float(lines['sflow_ai_drops{reason="pkt_too_big"}']) > 0.5
        assert not any("ingress_vlan_filter" in name for name in lines)
        for name, value in lines.items():
            if not name.startswith("sflow_ai_drops"):
                assert value == "0", name
        _, body = served.get("/topology/unknown/json")
        assert OUTSIDER in body
    finally:
        served.stop()

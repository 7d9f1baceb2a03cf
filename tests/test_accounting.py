"""Flow accounting (``collector.receive._accounting``, plain and compiled): the same deltas as
the full decoder, whatever the settings, topology swaps and learned names; role cache invalidation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collector.delta import Delta
from collector.receive import _accounting
from collector.receive import accounting as _accounting_select
from collector.receive.pipeline import Pipeline
from collector.receive.state import FabricState, StateSettings
from decoders.encode import sampled_header
from decoders.records import (
    DataSource,
    ExtendedQueue,
    ExtendedTransit,
    FlowSample,
    Interface,
    RawRecord,
    Sample,
)
from decoders.rocev2 import CNP_OPCODE
from tests.fabric_builders import (
    LEAF1,
    LEAF1_CORE,
    LEAF1_EDGE,
    RC_ACK,
    RC_SEND_ONLY,
    TOPOLOGY,
    ack,
    cnp,
    counters,
    datagram,
    drop,
    flow,
    if_counters,
    names,
    roce_header,
    wire,
    write_first,
)
from topology import PortResolver, TopologyIndex, parse_topology

LEARNER = "192.0.2.1"  # no explicit mapping: its ports resolve only once it names them

IMPLEMENTATIONS: list[Any] = [pytest.param(_accounting.FlowAccounting, id="pure")]
_compiled, _why_not = _accounting_select.compiled_module()
IMPLEMENTATIONS.append(
    pytest.param(
        _compiled.FlowAccounting if _compiled is not None else None,
        id="compiled",
        marks=pytest.mark.skipif(_compiled is None, reason=f"compiled build: {_why_not}"),
    )
)


def _flows(seq: int, agent: str) -> tuple[Sample, ...]:
    """Every branch of the per-sample accounting, with sample sequence numbers that jump."""
    base = seq * 20
    edge, core = (LEAF1_EDGE, LEAF1_CORE) if agent == LEAF1 else (12, 11)
    return (
        flow(base + 1, edge, (write_first(65536),), rate=100),
        flow(base + 2, edge, (roce_header(RC_SEND_ONLY, ecn=3, dscp=11),), rate=7),
        flow(base + 3, edge, (cnp(),), rate=100),
        flow(base + 4, edge, (roce_header(CNP_OPCODE, ext=b"\x00" * 16, solicited_event=True),)),
        flow(base + 5, core, (ack(48),), rate=100),
        flow(base + 6, core, (ack(None),), rate=9),  # code 31: no credits
        flow(base + 7, edge, (ack(kind="RNR_NAK", value=3),), rate=5),
        flow(base + 8, edge, (ack(kind="NAK", value="PSN_SEQUENCE_ERROR"),), rate=3),
        flow(base + 9, edge, (ack(kind="NAK", value=17),), rate=3),  # unnamed NAK code
        flow(base + 10, edge, (ack(kind="RESERVED", value=1),), rate=3),
        flow(base + 11, edge, (roce_header(RC_ACK, ext=b"\x9f\x00\x00\x00"),), rate=3),
        flow(base + 12, edge, (roce_header(0xFE),), rate=11),  # unassigned opcode
        flow(base + 13, edge, (sampled_header(1, 500, 4, b"\x00" * 60),), rate=13),  # not RoCE
        flow(base + 14, edge, (roce_header(),), source=9),  # not ingress
        flow(base + 15, edge, (roce_header(),), rate=0),
        flow(base + 16, edge, (), rate=17),  # no header
        flow(base + 17, edge, (RawRecord(0, 1, b"\x00\x00\x00\x01"), roce_header())),
        # transit delay / queue depth: handed back to Python (kept off the ingress series)
        flow(base + 18, edge, (roce_header(), ExtendedTransit(2_000)), rate=50, source=9),
        flow(base + 19, edge, (roce_header(), ExtendedQueue(4_000)), rate=5, output=3),
        # the largest values: u32 x u32 products, rounded once, summed in sample order
        flow(
            base + 20 + seq % 2,  # every other datagram skips one: lost samples
            core,
            (roce_header(frame_length=0xFFFFFFFF), ExtendedTransit(5)),
            rate=0xFFFFFFFF,
            pool=seq * 7,
        ),
    )


def _stream() -> list[tuple[str, Any]]:
    """Datagrams and events: names learned mid-stream, topology swaps, an expiry."""
    links_only = TopologyIndex(parse_topology({"links": TOPOLOGY["links"]}))
    full = TopologyIndex(parse_topology(TOPOLOGY))
    events: list[tuple[str, Any]] = []
    for seq in range(1, 9):
        if seq == 3:
            events.append(("index", links_only))
        if seq == 5:
            events.append(("index", None))
        if seq == 6:
            events.append(("index", full))
        # two streams of leaf1 (sub-agents 0 and 1: the same bytes twice from one sub-agent
        # would be a replay, counted once)
        for agent, sub_agent in ((LEAF1, 0), (LEAF1, 1), (LEARNER, 0)):
            samples = _flows(seq, agent)
            if agent == LEARNER and seq == 2:
                samples += (names(1, 11, "swp1", host="leaf1"), names(1, 12, "swp12"))
            if agent == LEARNER and seq == 7:
                samples += (names(2, 11, "swp2", host="spine1"),)  # renamed: roles change
            if agent == LEAF1:
                samples += (
                    counters(seq, LEAF1_EDGE, (if_counters(LEAF1_EDGE, in_octets=seq * 5),)),
                    drop(seq, 258),
                )
            events.append(("datagram", wire(datagram(agent, seq, samples, sub_agent=sub_agent))))
        events.append(("drain", None))
    events.append(("datagram", b"\x00\x00\x00\x05junk"))
    events.append(("expire", 10_000.0))  # everyone expires: names forgotten
    events.append(("datagram", wire(datagram(LEARNER, 1, _flows(9, LEARNER)))))
    events.append(("drain", None))
    return events


def _run(fast: bool, accounting_class: Any, **settings: Any) -> list[tuple[Any, ...]]:
    index = TopologyIndex(parse_topology(TOPOLOGY))
    resolver = PortResolver(index)
    state_settings = StateSettings(**settings)
    accounting = (
        accounting_class(state_settings.trim_dscp, state_settings.per_port)
        if accounting_class is not None
        else None
    )
    state = FabricState(resolver, state_settings, accounting)
    pipeline = Pipeline(state, fast=fast)
    out: list[tuple[Any, ...]] = []
    now = 0.0
    for kind, value in _stream():
        now += 1.0
        if kind == "datagram":
            pipeline.handle(memoryview(value), now)
        elif kind == "index":
            resolver.set_index(value)
        elif kind == "expire":
            state.expire(value)
            now = value
        else:
            delta: Delta = state.drain(now)
            out.append((delta.counters, delta.histograms, delta.credits, delta.agents, delta.ports))
    return out


@pytest.mark.parametrize("accounting_class", IMPLEMENTATIONS)
@pytest.mark.parametrize(
    "settings",
    [{}, {"per_port": True}, {"trim_dscp": -1}, {"trim_dscp": 26}],
    ids=["default", "per-port", "no-trim", "trim-26"],
)
def test_fast_path_accounting_gives_the_same_deltas_as_the_full_decoder(
    accounting_class: Any, settings: dict[str, Any]
) -> None:
    full = _run(False, None, **settings)
    fast = _run(True, accounting_class, **settings)
    assert len(full) == 9
    for period, (expected, got) in enumerate(zip(full, fast, strict=True)):
        assert got[0] == expected[0], f"counters differ in period {period}"
        assert got[1:] == expected[1:], f"histograms/credits/agents/ports differ in {period}"
    # the stream did exercise what it is meant to
    counters = full[0][0]
    assert counters["aeth_naks"][("edge", "PSN_SEQUENCE_ERROR")] == 6  # two from leaf1
    assert counters["aeth_naks"][("edge", "CODE_17")] == 6
    assert counters["rocev2_operations"][("edge", "UNKNOWN:0xFE")] == 22
    assert counters["topology_misses"][("flow",)] > 0
    assert counters["lost_samples"][("flow",)] > 0
    assert counters["ingress_bytes"][("core",)] > 2**64
    assert ("unmapped",) in full[4][0]["ingress_bytes"]  # no topology in period 5
    assert "topology_misses" not in full[4][0]


def _learner_datagram(seq: int, extra: tuple[Sample, ...] = ()) -> bytes:
    sample = FlowSample(
        False, seq, DataSource(0, 11), 10, seq * 10, 0, Interface(0, 11), Interface(0, 7),
        (roce_header(frame_length=100),),
    )  # fmt: skip
    return wire(datagram(LEARNER, seq, (*extra, sample)))


@pytest.mark.parametrize("accounting_class", IMPLEMENTATIONS)
def test_role_cache_follows_learned_names_topology_swaps_and_expiry(
    accounting_class: Any,
) -> None:
    resolver = PortResolver(TopologyIndex(parse_topology({"links": TOPOLOGY["links"]})))
    accounting = accounting_class(11, False)
    state = FabricState(resolver, StateSettings(), accounting)
    pipeline = Pipeline(state, fast=True)

    def ingress(seq: int, extra: tuple[Sample, ...] = (), now: float = 1.0) -> dict[Any, float]:
        pipeline.handle(_learner_datagram(seq, extra), now)
        return state.drain(now).counters.get("ingress_bytes", {})

    assert ingress(1) == {("unmapped",): 1000.0}
    # the fast path accounts a datagram's flow rows before its counter samples: names count
    # from the next datagram on
    assert ingress(2, (names(1, 11, "swp1", host="leaf1"),)) == {("unmapped",): 1000.0}
    assert ingress(3) == {("core",): 1000.0}
    assert accounting.cached_agents() == 1
    resolver.set_index(None)
    assert ingress(4) == {("unmapped",): 1000.0}
    resolver.set_index(TopologyIndex(parse_topology(TOPOLOGY)))
    assert ingress(5) == {("core",): 1000.0}  # learned names kept across a swap
    state.expire(1_000.0)  # the agent expired: its names and cached roles go
    assert accounting.cached_agents() == 0
    assert ingress(6, now=1_001.0) == {("unmapped",): 1000.0}


@pytest.mark.parametrize("accounting_class", IMPLEMENTATIONS)
def test_port_statuses_follow_topology_swaps_and_renames(accounting_class: Any) -> None:
    """A port's place is resolved once and kept per slot: another topology or a learned name
    must place it again (the statuses say where, from the topology document by hand)."""
    full = TopologyIndex(parse_topology(TOPOLOGY))
    resolver = PortResolver(full)
    state = FabricState(resolver, StateSettings(), accounting_class(11, False))
    pipeline = Pipeline(state, fast=True)
    sequence = {LEAF1: 0, LEARNER: 0}

    def place(agent: str, ifindex: int, *first: Sample) -> tuple[str | None, str | None, str]:
        sequence[agent] += 1
        n = sequence[agent]
        sample = counters(n, ifindex, (if_counters(ifindex, in_octets=n * 1000),))
        pipeline.handle(memoryview(wire(datagram(agent, n, (*first, sample)))), float(n))
        status = dict(state.drain(float(n)).ports)[(agent, ifindex)]
        return status.node, status.port, status.role

    assert place(LEAF1, LEAF1_EDGE) == ("leaf1", "swp3", "edge")
    assert place(LEAF1, LEAF1_EDGE) == ("leaf1", "swp3", "edge")  # from the slot this time
    resolver.set_index(None)
    assert place(LEAF1, LEAF1_EDGE) == (None, None, "unmapped")
    resolver.set_index(TopologyIndex(parse_topology(TOPOLOGY)))
    assert place(LEAF1, LEAF1_EDGE) == ("leaf1", "swp3", "edge")
    # an agent the topology knows by the names it reports: learned, then renamed
    assert place(LEARNER, 11, names(100, 11, "swp1", host="leaf1")) == ("leaf1", "swp1", "core")
    assert place(LEARNER, 11) == ("leaf1", "swp1", "core")
    assert place(LEARNER, 11, names(101, 11, "swp3")) == ("leaf1", "swp3", "edge")
    assert place(LEARNER, 11) == ("leaf1", "swp3", "edge")


def test_fabricscope_pure_selects_the_plain_accounting() -> None:
    root = Path(__file__).resolve().parent.parent
    code = "from collector.receive import accounting as s; print(s.IMPLEMENTATION, s.REASON)"
    env = {**os.environ, "PYTHONPATH": str(root), "FABRICSCOPE_PURE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=root, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("pure FABRICSCOPE_PURE is set")

"""100 ms RoCE-frame buckets for period detection: made by the state (full decoder, pure and
compiled accounting alike), carried in the Delta, merged by key across receivers and fed to the
detector in order by the aggregator."""

from __future__ import annotations

import math
from typing import Any

import pytest

from collector.aggregate.aggregator import ROCE_LATENESS_BUCKETS, Aggregator, AggregatorSettings
from collector.delta import Delta
from collector.receive import _accounting
from collector.receive import accounting as _accounting_select
from collector.receive.pipeline import Pipeline
from collector.receive.state import FabricState, StateSettings
from tests.fabric_builders import (
    LEAF1,
    LEAF1_CORE,
    LEAF1_EDGE,
    TOPOLOGY,
    ack,
    cnp,
    datagram,
    flow,
    roce_header,
    wire,
    write_first,
)
from topology import PortResolver, TopologyIndex, parse_topology

IMPLEMENTATIONS: list[Any] = [pytest.param(_accounting.FlowAccounting, id="pure")]
_compiled, _why_not = _accounting_select.compiled_module()
IMPLEMENTATIONS.append(
    pytest.param(
        _compiled.FlowAccounting if _compiled is not None else None,
        id="compiled",
        marks=pytest.mark.skipif(_compiled is None, reason=f"compiled build: {_why_not}"),
    )
)


def _datagrams() -> list[tuple[float, bytes]]:
    out = []
    now = 1000.0
    for seq in range(1, 30):
        now += 0.037 * (seq % 5)  # several datagrams per bucket, some buckets skipped
        base = seq * 10
        samples = (
            flow(base + 1, LEAF1_EDGE, (write_first(4096),), rate=100),
            flow(base + 2, LEAF1_EDGE, (roce_header(),), rate=7),
            flow(base + 3, LEAF1_EDGE, (cnp(),), rate=3),
            flow(base + 4, LEAF1_CORE, (ack(8),), rate=1000),  # core: not counted
            flow(base + 5, LEAF1_EDGE, (roce_header(),), rate=50, source=9),  # not ingress
        )
        out.append((now, wire(datagram(LEAF1, seq, samples))))
    return out


def _buckets(fast: bool, accounting_class: Any) -> tuple[dict[int, float], float]:
    resolver = PortResolver(TopologyIndex(parse_topology(TOPOLOGY)))
    accounting = accounting_class(11, False) if accounting_class is not None else None
    state = FabricState(resolver, StateSettings(), accounting)
    pipeline = Pipeline(state, fast=fast)
    buckets: dict[int, float] = {}
    edge_ops = 0.0
    for i, (now, data) in enumerate(_datagrams()):
        pipeline.handle(memoryview(data), now)
        if i % 7 == 6:
            delta = state.drain(now)
            for key, frames in delta.roce_buckets.items():
                buckets[key] = buckets.get(key, 0.0) + frames
            for (role, _), value in delta.counters.get("rocev2_operations", {}).items():
                edge_ops += value if role == "edge" else 0.0
    delta = state.drain(2000.0)
    for key, frames in delta.roce_buckets.items():
        buckets[key] = buckets.get(key, 0.0) + frames
    for (role, _), value in delta.counters.get("rocev2_operations", {}).items():
        edge_ops += value if role == "edge" else 0.0
    return buckets, edge_ops


@pytest.mark.parametrize("accounting_class", IMPLEMENTATIONS)
def test_buckets_are_the_same_on_every_path(accounting_class: Any) -> None:
    full, full_ops = _buckets(False, None)
    fast, _fast_ops = _buckets(True, accounting_class)
    assert fast == full
    assert sum(full.values()) == full_ops == 29 * (100 + 7 + 3)
    expected_keys = {math.floor(now * 10) for now, _ in _datagrams()}
    assert set(full) == expected_keys


def test_delta_with_buckets_is_not_empty() -> None:
    assert not Delta(roce_buckets={1: 2.0}).is_empty()


class _Recorder:
    def __init__(self) -> None:
        self.observed: list[tuple[float, float]] = []
        self.ticks: list[tuple[float, float]] = []

    def observe(self, t: float, frames: float) -> None:
        self.observed.append((round(t, 6), frames))

    def tick(self, now: float, load: float) -> None:
        self.ticks.append((now, load))


def test_aggregator_merges_receivers_by_key_and_feeds_in_order_with_lateness() -> None:
    aggregator = Aggregator()
    recorder = _Recorder()
    aggregator.period = recorder  # type: ignore[assignment]
    aggregator.tick(100.0)
    aggregator.merge(Delta(roce_buckets={1000: 5.0, 1002: 1.0}), receiver=0)
    aggregator.merge(Delta(roce_buckets={1000: 2.0, 1003: 4.0}), receiver=1)
    aggregator.tick(101.0)  # feeds buckets before floor(101.0 x 10) - 10 = 1000: none yet
    assert recorder.observed == []
    aggregator.merge(Delta(roce_buckets={1001: 3.0}), receiver=1)  # late but within 1 s
    aggregator.tick(101.35)  # feeds 1000..1002
    assert recorder.observed == [(100.0, 7.0), (100.1, 3.0), (100.2, 1.0)]
    aggregator.merge(Delta(roce_buckets={1001: 9.0}), receiver=0)  # too late: dropped
    aggregator.tick(101.6)
    assert recorder.observed[3:] == [(100.3, 4.0), (100.4, 0.0), (100.5, 0.0)]
    aggregator.tick(102.0)
    # the detector ticks once a second, whatever the aggregator's tick
    assert [t for t, _ in recorder.ticks] == [101.0, 102.0]
    assert ROCE_LATENESS_BUCKETS == 10


def test_aggregator_period_load_is_the_smoothed_edge_roce_rate() -> None:
    aggregator = Aggregator(AggregatorSettings(smoothing_seconds=2.0))
    recorder = _Recorder()
    aggregator.period = recorder  # type: ignore[assignment]
    aggregator.tick(0.0)
    delta = Delta()
    delta.add_counter("rocev2_operations", ("edge", "RC:SEND_ONLY"), 100.0)
    delta.add_counter("rocev2_operations", ("edge", "RC:ACKNOWLEDGE"), 50.0)
    delta.add_counter("rocev2_operations", ("core", "RC:SEND_ONLY"), 1000.0)
    aggregator.merge(delta)
    aggregator.tick(1.0)
    assert recorder.ticks == [(1.0, 150.0)]


def test_snapshot_carries_the_period_state() -> None:
    aggregator = Aggregator()
    aggregator.tick(0.0)
    snapshot = aggregator.snapshot()
    assert snapshot.period is not None
    assert snapshot.period.compatible.period == 0.0
    assert snapshot.port_ingress_bps == {"edge": (), "core": ()}
    # native families beside it
    assert snapshot.gauges["period_seconds"] == {("compatible",): 0.0, ("fine",): 0.0}
    assert snapshot.gauges["period_valid"] == {("compatible",): 0.0, ("fine",): 0.0}
    assert snapshot.counters["period_cycles"] == {("compatible",): 0.0, ("fine",): 0.0}

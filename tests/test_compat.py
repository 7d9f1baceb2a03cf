"""The compatible face: JavaScript number formatting, the golden ai-metrics text from a
hand-built aggregator state (names, order, labels, TYPE switch, prefix), the JSON views and the
HTTP routes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from collector.aggregate.aggregator import Aggregator, AggregatorSettings
from collector.aggregate.period import PeriodDetector
from collector.compat.face import (
    DROPS_KEY,
    NUMERIC_POINTS,
    OPERATIONS_KEY,
    CompatFace,
    CompatSettings,
    Trend,
    build_points,
    five_numbers,
    js_number,
    period_json,
    render_prometheus,
)
from collector.delta import CreditStats, Delta, PortStatus
from collector.http.ai_metrics import AI_METRICS_BASE
from collector.http.app import create_app
from collector.serve.settings import SettingsError, load_settings, period_params
from decoders.rocev2 import IBTA_OPERATION_TEXT, OPERATION_NAMES, ibta_operation_label

# ---------------------------------------------------------------------------------------------
# Numbers


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0"),
        (-0.0, "0"),
        (0.0, "0"),
        (float("nan"), "0"),
        (None, "0"),
        (7, "7"),
        (7.0, "7"),
        (2150000.0, "2150000"),
        (32768.0, "32768"),
        (12.5, "12.5"),
        (0.512, "0.512"),
        (1.84e12, "1840000000000"),  # JS: integers up to 21 digits are written out
        (9.1e6, "9100000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1e21, "1e+21"),
        (3.2e22, "3.2e+22"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0.000001, "0.000001"),
        (0.00001234, "0.00001234"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (5e-324, "5e-324"),
        (-3.5, "-3.5"),
        (-1e21, "-1e+21"),
        (float("inf"), "Infinity"),
        (1 / 3, "0.3333333333333333"),
        (100.0, "100"),
    ],
)
def test_js_number(value: Any, text: str) -> None:
    assert js_number(value) == text


def test_five_numbers() -> None:
    assert five_numbers([]) == (0.0, 0.0, 0.0, 0.0, 0.0)
    assert five_numbers([5.0]) == (5.0, 5.0, 5.0, 5.0, 5.0)
    assert five_numbers([4.0, 1.0, 3.0, 2.0, 5.0]) == (1.0, 2.0, 3.0, 4.0, 5.0)
    assert five_numbers([0.0, 10.0]) == (0.0, 2.5, 5.0, 7.5, 10.0)


# ---------------------------------------------------------------------------------------------
# The golden text from a hand-built aggregator


def _port(role: str, utilisation: float, speed: int = 400_000_000_000) -> PortStatus:
    return PortStatus("n", "p", role, True, True, speed, utilisation, 0.0, 199.0)


def _aggregator() -> Aggregator:
    """Counters growing at known constant rates for long enough that the smoothed rates equal
    them (to the last bit after ~80 time constants)."""
    aggregator = Aggregator(AggregatorSettings(smoothing_seconds=2.0))
    rates: dict[str, dict[tuple[str, ...], float]] = {
        "fabric_ingress_bytes": {(): 230e9},
        "rdma_operations": {("edge",): 2150000.0, ("core",): 99.0},
        "rdma_bytes": {("edge",): 2150000.0 * 32768, ("core",): 1.0},
        "interface_discards": {("in", "edge"): 0.0, ("out", "core"): 12.5, ("out", "unmapped"): 7},
        "interface_errors": {("in", "core"): 0.25, ("in", "unmapped"): 1000.0},
        "ecn_ce_packets": {("edge",): 1200.0, ("core",): 3000.0, ("unmapped",): 5.0},
        "cnp_packets": {("edge",): 610.0},
        "rocev2_operations": {
            ("edge", "RC:RDMA_WRITE_MIDDLE"): 9.1e6,
            ("edge", "RC:ACKNOWLEDGE"): 2.3e6,
            ("edge", "RC:RDMA_WRITE_FIRST"): 2150000.0,
            ("edge", "RC:RDMA_WRITE_LAST"): 2150000.0,
            ("edge", "CNP:CNP"): 610.0,
            ("edge", "RC:SEND_ONLY"): 0.5,  # below minValue 1
            ("core", "RC:RDMA_WRITE_MIDDLE"): 5e7,  # core: not counted
            ("edge", "UD:SEND_ONLY"): 12.0,
        },
        "topology_dropped_packets": {  # what agents of topology nodes report
            ("ingress_vlan_filter",): 3.25,
            ("acl",): 0.5,
            ("ttl_exceeded",): 0.00005,  # below minValue 0.0001
        },
        "dropped_packets": {  # every agent's: the native face's, not the compatible one's
            ("ingress_vlan_filter",): 3.25,
            ("acl",): 0.5,
            ("ttl_exceeded",): 0.00005,
            ("blackhole_route",): 90.0,  # from an agent outside the topology
        },
    }
    aggregator.tick(0.0)
    for second in range(1, 201):
        delta = Delta()
        for family, series in rates.items():
            for labels, rate in series.items():
                delta.add_counter(family, labels, rate)
        if second == 200:
            delta.credits["edge"] = CreditStats()
            for credits in (7, 7, 12):
                delta.credits["edge"].observe(credits)
            delta.credits["core"] = CreditStats(1, 48.0, 48.0, 48.0)
            delta.ports = {
                ("10.0.0.1", 1): _port("core", 0.25),
                ("10.0.0.1", 2): _port("core", 0.5),
                ("10.0.0.1", 3): _port("core", 0.75),
                ("10.0.0.1", 4): _port("edge", 0.0),
                ("10.0.0.1", 5): _port("edge", 0.125),
                ("10.0.0.1", 6): _port("unmapped", 1.0),
            }
        aggregator.merge(delta)
        aggregator.tick(float(second))
    return aggregator


GOLDEN = """\
sflow_ai_bps 1840000000000
sflow_ai_rdma_ops 2150000
sflow_ai_rdma_bytes 32768
sflow_ai_aeth_credits_avg 8.666666666666666
sflow_ai_aeth_credits_min 7
sflow_ai_aeth_credits_max 12
sflow_ai_core_min_bps 100000000000
sflow_ai_core_q1_bps 150000000000
sflow_ai_core_med_bps 200000000000
sflow_ai_core_q3_bps 250000000000
sflow_ai_core_max_bps 300000000000
sflow_ai_edge_min_bps 0
sflow_ai_edge_q1_bps 12500000000
sflow_ai_edge_med_bps 25000000000
sflow_ai_edge_q3_bps 37500000000
sflow_ai_edge_max_bps 50000000000
sflow_ai_discards_in 0
sflow_ai_errors_in 0.25
sflow_ai_discards_out 12.5
sflow_ai_errors_out 0
sflow_ai_ecn_pps 4200
sflow_ai_cnp_pps 610
sflow_ai_trim_pps 0
sflow_ai_period 0
sflow_ai_operations{name="RC:RDMA_WRITE_MIDDLE"} 9100000
sflow_ai_operations{name="RC:ACKNOWLEDGE"} 2300000
sflow_ai_operations{name="RC:RDMA_WRITE_FIRST"} 2150000
sflow_ai_operations{name="RC:RDMA_WRITE_LAST"} 2150000
sflow_ai_operations{name="CNP:CNP"} 610
sflow_ai_drops{reason="ingress_vlan_filter"} 3.25
sflow_ai_drops{reason="acl"} 0.5
"""


def _points() -> dict[str, Any]:
    snapshot = _aggregator().snapshot()
    assert snapshot.port_ingress_bps is not None
    return build_points(snapshot.smoothed, snapshot.gauges, snapshot.port_ingress_bps, 0.0)


def test_golden_text() -> None:
    assert render_prometheus(_points()) == GOLDEN


def test_compat_snapshot_gives_the_same_text() -> None:
    aggregator = _aggregator()
    full, light = CompatFace(), CompatFace()
    full.update(200.0, aggregator.snapshot())
    light.update(200.0, aggregator.compat_snapshot())
    assert light.prometheus() == full.prometheus() == GOLDEN.encode()
    assert light.points() == full.points()
    assert light.period() == full.period()


def test_points_order_and_top_maps() -> None:
    points = _points()
    assert tuple(points) == (*NUMERIC_POINTS, OPERATIONS_KEY, DROPS_KEY)
    assert list(points[OPERATIONS_KEY]) == [
        "RC:RDMA_WRITE_MIDDLE",
        "RC:ACKNOWLEDGE",
        "RC:RDMA_WRITE_FIRST",
        "RC:RDMA_WRITE_LAST",
        "CNP:CNP",
    ]  # top 5: UD:SEND_ONLY (12/s) is sixth; ties by name
    assert points[DROPS_KEY] == {"ingress_vlan_filter": 3.25, "acl": 0.5}


def test_ibta_operation_names() -> None:
    snapshot = _aggregator().snapshot()
    points = build_points(snapshot.smoothed, snapshot.gauges, {}, 0.0, operation_names="ibta")
    assert list(points[OPERATIONS_KEY]) == [
        "RC:RDMA WRITE Middle",
        "RC:Acknowledge",
        "RC:RDMA WRITE First",
        "RC:RDMA WRITE Last",
        "CNP:CNP",
    ]
    linux = build_points(snapshot.smoothed, snapshot.gauges, {}, 0.0)
    assert list(points[OPERATIONS_KEY].values()) == list(linux[OPERATIONS_KEY].values())
    text = render_prometheus(points)
    assert 'sflow_ai_operations{name="RC:RDMA WRITE Middle"} ' in text
    # every operation the decoder names has a spelling; unknown opcodes pass through
    assert set(OPERATION_NAMES.values()) | {"CNP"} == set(IBTA_OPERATION_TEXT)
    assert ibta_operation_label("RC:RDMA_READ_RESPONSE_ONLY") == "RC:RDMA READ response Only"
    assert ibta_operation_label("UNKNOWN:0x1F") == "UNKNOWN:0x1F"
    settings = load_settings({}, env={"FABRICSCOPE_OPERATION_NAMES": "ibta"})
    assert settings.operation_names == "ibta"
    with pytest.raises(SettingsError, match="operation_names"):
        load_settings({"operation_names": "wireshark"}, env={})


def test_type_switch_and_prefix() -> None:
    points = _points()
    typed = render_prometheus(points, "acme_", types=True).splitlines()
    assert typed[0] == "# TYPE acme_ai_bps gauge"
    assert typed[1] == "acme_ai_bps 1840000000000"
    assert typed.count("# TYPE acme_ai_operations gauge") == 1
    assert typed.count("# TYPE acme_ai_drops gauge") == 1
    index = typed.index("# TYPE acme_ai_operations gauge")
    assert typed[index + 1].startswith('acme_ai_operations{name="RC:RDMA_WRITE_MIDDLE"}')
    assert sum(line.startswith("# TYPE") for line in typed) == len(NUMERIC_POINTS) + 2
    assert not any(line.startswith("# HELP") for line in typed)
    untyped = render_prometheus(points, "").splitlines()
    assert untyped[0] == "ai_bps 1840000000000"
    assert not any(line.startswith("#") for line in untyped)


def test_empty_families_write_nothing_and_labels_are_raw() -> None:
    points = build_points({}, {}, {}, 0.0)
    text = render_prometheus(points, types=True)
    assert "operations" not in text and "drops" not in text
    assert text.count("\n") == 2 * len(NUMERIC_POINTS)
    assert all(line.endswith(" 0") for line in text.splitlines() if not line.startswith("#"))
    raw = render_prometheus({OPERATIONS_KEY: {'a"b\\c': 2.0}})
    assert raw == 'sflow_ai_operations{name="a"b\\c"} 2\n'  # written raw, like the reference


def test_period_in_points() -> None:
    snapshot = _aggregator().snapshot()
    points = build_points(snapshot.smoothed, snapshot.gauges, {}, 0.512)
    assert "sflow_ai_period 0.512\n" in render_prometheus(points)
    assert points["core_med_bps"] == 0.0  # no ports: zeros


def test_quartiles_from_sampled_per_port_rates_when_present() -> None:
    aggregator = Aggregator(AggregatorSettings(per_port=True))
    aggregator.tick(0.0)
    for second in range(1, 101):
        delta = Delta()
        delta.add_counter("port_ingress_bytes", ("leaf1", "swp1", "core"), 1e9)
        delta.add_counter("port_ingress_bytes", ("leaf1", "swp2", "core"), 3e9)
        delta.add_counter("port_ingress_bytes", ("leaf1", "swp3", "edge"), 5e9)
        if second == 1:
            delta.ports = {("10.0.0.1", 1): _port("core", 1.0)}  # counters are not used
        aggregator.merge(delta)
        aggregator.tick(float(second))
    snapshot = aggregator.snapshot()
    assert snapshot.port_ingress_bps is not None
    assert sorted(snapshot.port_ingress_bps["core"]) == pytest.approx([8e9, 24e9])
    assert snapshot.port_ingress_bps["edge"] == pytest.approx((40e9,))


# ---------------------------------------------------------------------------------------------
# JSON


def test_trend_json_shape_and_after() -> None:
    trend = Trend(max_points=3)
    for second in range(5):
        trend.add(100.0 + second, {"bps": float(second), OPERATIONS_KEY: {"x": 1.0}})
    document = trend.view().json()
    assert document["trend"]["maxPoints"] == 300
    assert document["trend"]["times"] == [102000, 103000, 104000]
    assert document["trend"]["trends"]["bps"] == [2.0, 3.0, 4.0]
    assert document["trend"]["trends"][OPERATIONS_KEY] == [{"x": 1.0}] * 3
    later = trend.view().json(after=103000)
    assert later["trend"]["times"] == [104000]
    assert later["trend"]["trends"] == {"bps": [4.0], OPERATIONS_KEY: [{"x": 1.0}]}
    assert trend.view().json(after=200000)["trend"] == {
        "maxPoints": 300,
        "times": [],
        "trends": {},
    }


def test_period_json_shape() -> None:
    empty = period_json(None)
    assert list(empty)[:5] == ["value", "period", "threshold", "baselineLoad", "baselinePeriod"]
    learning = period_json(PeriodDetector().state(0.0))
    assert learning["baselineLoad"] == {} and learning["baselinePeriod"] == {}
    assert learning["fabricscope"]["fine"]["learning"] is True
    detector = PeriodDetector()
    for second in range(30):
        for tenth in range(10):
            detector.observe(second + tenth / 10, 1e5 if tenth < 5 else 0.0)
        detector.tick(second + 1.0, 5e5)
    document = period_json(detector.state(30.0))
    assert set(document["baselineLoad"]) == {"mean", "variance", "sdev", "min", "max"}
    assert document["threshold"] == pytest.approx(5e5)
    assert document["fabricscope"]["fine"]["period"] == pytest.approx(1.0, rel=1e-3)
    assert document["fabricscope"]["fine"]["valid"] is True
    json.dumps(document, allow_nan=False)


def test_period_method_chooses_the_exported_estimate() -> None:
    # 0.3 s cycles (0.15 s on, 0.15 s off): below the compatible method's 0.2 s re-arm, so only
    # the fine estimate resolves them (collector/aggregate/period.py)
    detector = PeriodDetector(period_params(load_settings({"period_load_window": "5"}, env={})))
    for step in range(400):
        t = step / 10
        detector.observe(t, 1e5 if (t % 0.3) < 0.15 else 0.0)
        if step % 10 == 9:
            detector.tick(t + 0.1, 5e5)
    state = detector.state(40.0)
    assert state.fine.period == pytest.approx(0.3, rel=0.05)
    assert state.compatible.period != pytest.approx(0.3, rel=0.1)
    snapshot = type("Snap", (), {"smoothed": {}, "gauges": {}, "port_ingress_bps": {}})()
    snapshot.period = state
    for method, want in (("fine", state.fine.period), ("compatible", state.compatible.period)):
        face = CompatFace(CompatSettings(period_method=method))
        face.update(40.0, snapshot)
        assert face.points()["period"] == want
        assert face.period()["period"] == want
        assert face.period()["fabricscope"]["method"] == method
        assert f"sflow_ai_period {js_number(want)}\n" in face.prometheus().decode()
    with pytest.raises(SettingsError, match="period_method"):
        load_settings({"period_method": "best"}, env={})


def test_period_settings_reach_the_detector() -> None:
    settings = load_settings(
        {"period_window": "5", "period_cv": "0.3", "prometheus_prefix": "x_"}, env={}
    )
    params = period_params(settings)
    assert (params.period_window, params.cv, params.load_window) == (5, 0.3, 20)
    assert settings.prometheus_prefix == "x_" and settings.prometheus_type is False
    typed = load_settings({}, env={"FABRICSCOPE_PROMETHEUS_TYPE": "yes"})
    assert typed.prometheus_type is True


# ---------------------------------------------------------------------------------------------
# HTTP


class _NoTopology:
    def current_json(self) -> dict[str, Any] | None:
        return None

    def replace_json(self, body: bytes) -> int:
        raise AssertionError


def test_http_routes() -> None:
    aggregator = _aggregator()
    face = CompatFace(CompatSettings("sflow_", False))
    face.update(200.0, aggregator.snapshot())
    face.update(200.5, aggregator.snapshot())  # within the second: no new trend point
    face.update(201.0, aggregator.snapshot())

    async def run() -> None:
        app = create_app(render_metrics=lambda: b"", topology=_NoTopology(), compat=face)
        async with TestClient(TestServer(app)) as client:
            r = await client.get(f"{AI_METRICS_BASE}/prometheus/txt")
            assert r.status == 200 and r.content_type == "text/plain"
            assert await r.text() == GOLDEN
            r = await client.get(f"{AI_METRICS_BASE}/metric/json")
            points = await r.json()
            assert list(points) == [*NUMERIC_POINTS, OPERATIONS_KEY, DROPS_KEY]
            r = await client.get(f"{AI_METRICS_BASE}/metric/bps/json")
            assert await r.json() == 1.84e12
            r = await client.get(f"{AI_METRICS_BASE}/metric/{OPERATIONS_KEY}/json")
            assert (await r.json())["CNP:CNP"] == pytest.approx(610)
            r = await client.get(f"{AI_METRICS_BASE}/metric/nope/json")
            assert r.status == 404
            r = await client.get(f"{AI_METRICS_BASE}/trend/json")
            trend = (await r.json())["trend"]
            assert trend["times"] == [200000, 201000]
            assert trend["trends"]["bps"] == [1.84e12, 1.84e12]
            r = await client.get(f"{AI_METRICS_BASE}/trend/json?after=200000")
            assert (await r.json())["trend"]["times"] == [201000]
            r = await client.get(f"{AI_METRICS_BASE}/trend/json?after=soon")
            assert r.status == 400
            r = await client.get(f"{AI_METRICS_BASE}/period/json")
            period = await r.json()
            assert period["period"] == 0 and "baselineLoad" in period

    asyncio.run(run())

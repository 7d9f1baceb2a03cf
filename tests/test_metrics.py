"""Native exposition: HELP/TYPE everywhere, names, escaping, histograms, docs, promtool."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collector.aggregate.aggregator import Aggregator, AggregatorSettings
from collector.delta import Delta, HistogramValue
from collector.families import BUCKETS, COUNTER, FAMILIES, PREFIX
from collector.prometheus.registry import build_registry, render
from collector.receive.state import FabricState
from tests.fabric_builders import (
    LEAF1,
    LEAF1_EDGE,
    TOPOLOGY,
    ack,
    counters,
    datagram,
    flow,
    if_counters,
    write_first,
)
from topology import PortResolver, TopologyIndex, parse_topology

ROOT = Path(__file__).resolve().parent.parent


def _populated(per_port: bool = True) -> Aggregator:
    index = TopologyIndex(parse_topology(TOPOLOGY))
    state = FabricState(PortResolver(index))
    aggregator = Aggregator(AggregatorSettings(per_port=per_port))
    aggregator.set_topology(index)
    aggregator.tick(0.0)
    for seq in range(1, 4):
        samples = (
            flow(seq, LEAF1_EDGE, (write_first(),)),
            flow(seq + 10, LEAF1_EDGE, (ack(),)),
            counters(seq, LEAF1_EDGE, (if_counters(LEAF1_EDGE, in_octets=seq * 10**9),)),
        )
        state.apply(datagram(LEAF1, seq, samples, uptime_ms=seq * 10_000), seq * 10.0)
        aggregator.merge(state.drain(seq * 10.0))
        aggregator.tick(seq * 10.0)
    return aggregator


def _text(aggregator: Aggregator, per_port: bool = True) -> str:
    registry = build_registry(aggregator.snapshot, per_port=per_port, process=False)
    return render(registry).decode()


def test_every_family_has_help_and_type() -> None:
    text = _text(_populated())
    for family in FAMILIES:
        name = family.exported_name
        written = name + ("_total" if family.type == COUNTER else "")
        assert f"# HELP {written} " in text, name
        assert f"# TYPE {written} {family.type}" in text, name
        if family.smoothed:
            assert f"# TYPE {name}_per_second gauge" in text
    parsed = {f.name for f in text_string_to_metric_families(text)}
    assert "fabricscope_fabric_ingress_bytes" in parsed


def test_values_and_histogram_buckets() -> None:
    text = _text(_populated())
    assert "fabricscope_fabric_ingress_bytes_total 6.516e+06" in text
    assert 'fabricscope_rdma_bytes_total{role="edge"} 9.8304e+07' in text
    assert 'fabricscope_rocev2_operations_total{operation="RC:ACKNOWLEDGE",role="edge"}' in text
    assert 'fabricscope_aeth_credits_avg{role="edge"} 12.0' in text
    bucket = 'fabricscope_port_utilization_ratio_bucket{direction="in",le="+Inf",role="edge"} 2.0'
    assert bucket in text
    assert 'fabricscope_port_oper_up{node="leaf1",port="swp3",role="edge"} 1.0' in text
    assert "fabricscope_topology_loaded 1.0" in text


def test_per_port_families_only_behind_the_flag() -> None:
    text = _text(_populated(per_port=False), per_port=False)
    assert "fabricscope_port_bytes" not in text
    assert "fabricscope_port_oper_up" not in text


def test_label_values_are_escaped() -> None:
    aggregator = Aggregator()
    delta = Delta()
    delta.add_counter("dropped_packets_by_function", ('we"ird\\fn\nx',), 1.0)
    aggregator.merge(delta)
    text = _text(aggregator)
    assert 'function="we\\"ird\\\\fn\\nx"' in text


def test_histogram_buckets_are_cumulative() -> None:
    aggregator = Aggregator()
    delta = Delta()
    counts = [0.0] * (len(BUCKETS["transit_delay_seconds"]) + 1)
    counts[0], counts[3], counts[-1] = 2, 3, 1
    delta.histograms["transit_delay_seconds"] = {("core",): HistogramValue(counts, 1.5)}
    aggregator.merge(delta)
    text = _text(aggregator)
    assert 'fabricscope_transit_delay_seconds_bucket{le="1e-07",role="core"} 2.0' in text
    assert 'fabricscope_transit_delay_seconds_bucket{le="1e-06",role="core"} 5.0' in text
    assert 'fabricscope_transit_delay_seconds_count{role="core"} 6.0' in text
    assert 'fabricscope_transit_delay_seconds_sum{role="core"} 1.5' in text


def test_docs_list_every_series() -> None:
    doc = (ROOT / "docs" / "metrics.md").read_text()
    for family in FAMILIES:
        suffix = "_total" if family.type == COUNTER else ""
        assert f"`{family.exported_name}{suffix}`" in doc, family.name
    known = {f.name for f in FAMILIES}
    for name in re.findall(r"`(fabricscope_[a-z_]+)`", doc):
        base = name.removeprefix(PREFIX).removesuffix("_total")
        assert base in known or base.removesuffix("_per_second") in known, name


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_check_metrics() -> None:
    aggregator = _populated()
    registry = build_registry(aggregator.snapshot, per_port=True, process=True)
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=render(registry),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.decode().strip() == "" and result.stderr.decode().strip() == ""


def test_the_fixed_series_exist_at_zero_before_any_datagram() -> None:
    text = _text(Aggregator())
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    for name, labels in [
        ("fabricscope_datagrams_total", ()),
        ("fabricscope_decode_errors_total", None),  # labelled by reasons from the wire: absent
        ("fabricscope_lost_datagrams_total", ()),
        ("fabricscope_fabric_ingress_bytes_total", ()),
        ("fabricscope_kernel_receive_drops_total", ()),
        ("fabricscope_samples_total", (("kind", "drop"),)),
        ("fabricscope_samples_total", (("kind", "unknown"),)),
        ("fabricscope_ingress_bytes_total", (("role", "edge"),)),
        ("fabricscope_cnp_packets_total", (("role", "unmapped"),)),
        ("fabricscope_interface_discards_total", (("direction", "out"), ("role", "core"))),
        ("fabricscope_topology_reloads_total", (("result", "error"),)),
    ]:
        if labels is None:
            assert not any(key[0] == name for key in samples), name
        else:
            assert samples[(name, labels)] == 0.0, (name, labels)
    # every unlabelled counter of the table, and 3 roles x 2 directions of interface_bytes
    unlabelled = [f for f in FAMILIES if f.type == COUNTER and not f.labels]
    for family in unlabelled:
        if not family.name.startswith(("influx_", "bus_")):  # absent unless configured
            assert (f"{PREFIX}{family.name}_total", ()) in samples, family.name
    assert sum(1 for key in samples if key[0] == "fabricscope_interface_bytes_total") == 6
    assert not any(key[0].startswith("fabricscope_influx_") for key in samples)
    assert not any(key[0].startswith("fabricscope_bus_") for key in samples)

"""The hand-written exposition (collector.prometheus.text) against client_python's rendering."""

from __future__ import annotations

import math
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.utils import floatToGoString

from collector.aggregate.aggregator import Snapshot
from collector.delta import Labels
from collector.families import BUCKETS, COUNTER, FAMILIES, GAUGE, HISTOGRAM
from collector.prometheus.registry import FabricRegistry, build_registry, render, render_reference
from collector.prometheus.text import escape_label_value, format_value, render_snapshot

VALUES = (
    0.0, -0.0, 1.0, -1.0, 0.1, 2.5e-7, 1e-300, 5e-324, 999999.9999999999, 1e6, 1234567.0,
    1234567.5, 6.516e6, 12345678901234.0, 9.999999999999998e15, 1e16, 1.5e17,
    1.7976931348623157e308, -1234567.0, -1e20, math.inf, -math.inf, math.nan, 42, 7,
)  # fmt: skip
LABEL_VALUES = (
    "edge", "", 'we"ird', "back\\slash", "new\nline", "all\\\"\n", "100%", "%s", "{x}", "é ü ✓",
    "sw10", "sw2", "a,b=c", " spaced ",
)  # fmt: skip


def _series(width: int, count: int, offset: int) -> dict[Labels, float]:
    out: dict[Labels, float] = {}
    for i in range(count):
        labels = tuple(LABEL_VALUES[(i + j * 3 + offset) % len(LABEL_VALUES)] for j in range(width))
        out[labels] = float(VALUES[(i + offset) % len(VALUES)])
    return out


def _rich_snapshot() -> Snapshot:
    """Every family populated (but one counter, one gauge and one histogram left empty), label
    values needing escapes, values across every formatting branch."""
    counters: dict[str, dict[Labels, float]] = {}
    gauges: dict[str, dict[Labels, float]] = {}
    smoothed: dict[str, dict[Labels, float]] = {}
    histograms: dict[str, dict[Labels, tuple[tuple[float, ...], float]]] = {}
    empty = {"aeth_acks", "links", "egress_queue_depth_bytes"}
    for n, family in enumerate(FAMILIES):
        if family.name in empty:
            continue
        width = len(family.labels)
        count = 1 if width == 0 else 9 + n % 7
        if family.type == COUNTER:
            counters[family.name] = _series(width, count, n)
            if family.smoothed:
                smoothed[family.name] = _series(width, count, n + 5)
        elif family.type == GAUGE:
            gauges[family.name] = _series(width, count, n + 2)
        else:
            assert family.type == HISTOGRAM
            buckets = len(BUCKETS[family.name]) + 1
            hist = {}
            for i, labels in enumerate(_series(width, count, n)):
                counts = tuple(float((i * 7 + b * 3) % 5) for b in range(buckets))
                hist[labels] = (counts, VALUES[(i + n) % len(VALUES)])
            histograms[family.name] = hist
    return Snapshot(counters=counters, gauges=gauges, histograms=histograms, smoothed=smoothed)


def _parsed(
    text: str,
) -> dict[str, tuple[str, str, list[tuple[str, tuple[tuple[str, str], ...], str]]]]:
    """Families by name: (type, help, samples as (name, sorted labels, value repr))."""
    out = {}
    for family in text_string_to_metric_families(text):
        samples = [
            (
                s.name,
                tuple(sorted(s.labels.items())),
                "nan" if math.isnan(s.value) else repr(s.value),
            )
            for s in family.samples
        ]
        out[family.name] = (family.type, family.documentation, samples)
    return out


@pytest.mark.parametrize("per_port", [False, True])
def test_same_bytes_and_same_families_as_client_python(per_port: bool) -> None:
    snapshot = _rich_snapshot()
    registry = build_registry(lambda: snapshot, per_port=per_port, process=False)
    ours = render(registry)
    reference = render_reference(registry)
    assert _parsed(ours.decode()) == _parsed(reference.decode())
    assert ours == reference
    assert ours == render_snapshot(snapshot, per_port=per_port)
    text = ours.decode()
    assert 'role="we\\"ird"' in text and 'role="new\\nline"' in text and "back\\\\slash" in text
    assert "+Inf" in text and "-Inf" in text and "NaN" in text and "e+06" in text
    assert ("fabricscope_port_bytes_total{" in text) is per_port


def test_every_family_written_even_when_empty() -> None:
    text = render_snapshot(
        Snapshot(counters={}, gauges={}, histograms={}, smoothed={}), per_port=True
    )
    parsed = _parsed(text.decode())
    for family in FAMILIES:
        assert family.exported_name in parsed, family.name
        assert parsed[family.exported_name][2] == []


def test_process_metrics_kept_and_in_order() -> None:
    snapshot = _rich_snapshot()
    registry = build_registry(lambda: snapshot, per_port=False, process=True)
    ours = _parsed(render(registry).decode())
    reference = _parsed(render_reference(registry).decode())
    assert list(ours) == list(reference)
    assert "process_cpu_seconds" in ours or "python_info" in ours
    for name, family in reference.items():
        if name.startswith("fabricscope_"):
            assert ours[name] == family
        else:  # process figures move between two scrapes; the series do not
            assert [s[:2] for s in ours[name][2]] == [s[:2] for s in family[2]]


def test_other_collectors_after_the_fabric_one() -> None:
    snapshot = Snapshot(counters={"datagrams": {(): 3.0}}, gauges={}, histograms={}, smoothed={})
    registry = build_registry(lambda: snapshot, process=False)
    assert isinstance(registry, FabricRegistry)

    class Extra:
        def collect(self):  # type: ignore[no-untyped-def]
            from prometheus_client.core import GaugeMetricFamily

            yield GaugeMetricFamily("extra_thing", "An extra.", value=2.0)

    extra = Extra()
    registry.register(extra)  # type: ignore[arg-type]
    text = render(registry)
    assert text == render_reference(registry)
    assert text.endswith(b"extra_thing 2.0\n")
    registry.unregister(extra)  # type: ignore[arg-type]
    assert b"extra_thing" not in render(registry)


def test_mismatched_histogram_is_refused_like_client_python() -> None:
    bad = {"transit_delay_seconds": {("core",): ((1.0, 2.0), 3.0)}}
    snapshot = Snapshot(counters={}, gauges={}, histograms=bad, smoothed={})
    registry = build_registry(lambda: snapshot, process=False)
    with pytest.raises(ValueError):
        render_reference(registry)
    with pytest.raises(ValueError):
        render(registry)


@given(st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**20), 10**20))
def test_format_value_matches_client_python(value: float) -> None:
    assert format_value(value) == floatToGoString(value)
    parsed = float(format_value(value).replace("+Inf", "inf").replace("-Inf", "-inf"))
    assert parsed == float(value) or (math.isnan(parsed) and math.isnan(float(value)))


@given(st.text())
def test_label_escaping_round_trips(value: str) -> None:
    snapshot = Snapshot(
        counters={"dropped_packets_by_function": {(value,): 1.0}},
        gauges={},
        histograms={},
        smoothed={},
    )
    registry = build_registry(lambda: snapshot, process=False)
    text = render(registry)
    assert text == render_reference(registry)
    assert f'function="{escape_label_value(value)}"'.encode() in text
    (family,) = (
        f for f in text_string_to_metric_families(text.decode()) if f.name.endswith("by_function")
    )
    assert family.samples[0].labels == {"function": value}


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
@pytest.mark.parametrize("per_port", [False, True])
def test_promtool_accepts_the_rich_snapshot(per_port: bool) -> None:
    snapshot = _rich_snapshot()
    registry = build_registry(lambda: snapshot, per_port=per_port, process=True)
    result = subprocess.run(
        ["promtool", "check", "metrics"],
        input=render(registry),
        capture_output=True,
        timeout=60,
        check=False,
    )
    report = (result.stdout.decode() + result.stderr.decode()).strip()
    assert result.returncode == 0, report
    assert report == "", report

"""Native Prometheus exposition: a client_python custom ``Collector`` over aggregator snapshots.

Every family of ``collector.families.FAMILIES`` is written with HELP and TYPE (even when it has
no series yet); counters get ``_total``; smoothed counters also get a ``…_per_second`` gauge.
Registries are explicit: ``build_registry`` makes a fresh one, nothing touches the global one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from collector.aggregate import Snapshot
from collector.families import BUCKETS, COUNTER, FAMILIES, GAUGE, PREFIX, Family

SMOOTHED_SUFFIX = "_per_second"


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def _histogram(family: Family, snapshot: Snapshot) -> HistogramMetricFamily:
    metric = HistogramMetricFamily(family.exported_name, family.help, labels=family.labels)
    bounds = BUCKETS[family.name]
    for labels, (counts, total) in sorted(snapshot.histograms.get(family.name, {}).items()):
        cumulative = 0.0
        buckets: list[tuple[str, float]] = []
        for bound, n in zip((*bounds, float("inf")), counts, strict=True):
            cumulative += n
            buckets.append((_le(bound), cumulative))
        metric.add_metric(list(labels), buckets, total)
    return metric


def families_from(snapshot: Snapshot, *, per_port: bool) -> Iterator[Metric]:
    """The metric families of one snapshot, in ``FAMILIES`` order."""
    for family in FAMILIES:
        if family.per_port and not per_port:
            continue
        if family.type == COUNTER:
            counter = CounterMetricFamily(family.exported_name, family.help, labels=family.labels)
            for labels, value in sorted(snapshot.counters.get(family.name, {}).items()):
                counter.add_metric(list(labels), value)
            yield counter
            if family.smoothed:
                smoothed = GaugeMetricFamily(
                    family.exported_name + SMOOTHED_SUFFIX,
                    f"Smoothed per-second rate of {PREFIX}{family.name}_total.",
                    labels=family.labels,
                )
                for labels, value in sorted(snapshot.smoothed.get(family.name, {}).items()):
                    smoothed.add_metric(list(labels), value)
                yield smoothed
        elif family.type == GAUGE:
            gauge = GaugeMetricFamily(family.exported_name, family.help, labels=family.labels)
            for labels, value in sorted(snapshot.gauges.get(family.name, {}).items()):
                gauge.add_metric(list(labels), value)
            yield gauge
        else:
            yield _histogram(family, snapshot)


class FabricCollector(Collector):
    """Reads a fresh snapshot on every scrape; never decodes or mutates anything."""

    def __init__(self, snapshot: Callable[[], Snapshot], *, per_port: bool = False) -> None:
        self._snapshot = snapshot
        self._per_port = per_port

    def collect(self) -> Iterator[Metric]:
        """Yield every native family."""
        yield from families_from(self._snapshot(), per_port=self._per_port)


def build_registry(
    snapshot: Callable[[], Snapshot], *, per_port: bool = False, process: bool = True
) -> CollectorRegistry:
    """A new registry holding the fabric collector (and process/platform metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FabricCollector(snapshot, per_port=per_port))
    if process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of a registry."""
    return generate_latest(registry)

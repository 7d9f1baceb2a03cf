"""Native Prometheus exposition: a client_python custom ``Collector`` over aggregator snapshots.

Every family of ``collector.families.FAMILIES`` is written with HELP and TYPE (even when it has
no series yet); counters get ``_total``; smoothed counters also get a ``…_per_second`` gauge.
Registries are explicit: ``build_registry`` makes a fresh one, nothing touches the global one.

``render`` writes the fabric families itself (``collector.exposition``, the same bytes as
client_python, several times faster) and appends client_python's rendering of every other
collector of the registry (process and platform metrics); ``render_reference`` is the plain
client_python rendering the tests compare it with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from collector.aggregate.aggregator import Snapshot
from collector.families import BUCKETS, COUNTER, FAMILIES, GAUGE, PREFIX, Family
from collector.prometheus.text import SMOOTHED_SUFFIX, render_snapshot


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

    def render(self) -> bytes:
        """The exposition text of a fresh snapshot, written directly (same bytes as
        ``generate_latest`` over ``collect``)."""
        return render_snapshot(self._snapshot(), per_port=self._per_port)


class _Collectors(Collector):
    """Several collectors as one, for ``generate_latest``."""

    def __init__(self, collectors: Iterable[Collector]) -> None:
        self._collectors = tuple(collectors)

    def collect(self) -> Iterator[Metric]:
        """Every family of every collector, in order."""
        for collector in self._collectors:
            yield from collector.collect()


class FabricRegistry(CollectorRegistry):
    """A registry that remembers its collectors in registration order, so ``render`` can write
    the fabric collector's families itself and leave the others to client_python."""

    def __init__(self) -> None:
        super().__init__(auto_describe=False)
        self.collectors: list[Collector] = []

    def register(self, collector: Collector) -> None:
        """Register with client_python's registry (name clash checks) and remember it."""
        super().register(collector)
        self.collectors.append(collector)

    def unregister(self, collector: Collector) -> None:
        """Forget a collector."""
        super().unregister(collector)
        self.collectors.remove(collector)


def build_registry(
    snapshot: Callable[[], Snapshot], *, per_port: bool = False, process: bool = True
) -> FabricRegistry:
    """A new registry holding the fabric collector (and process/platform metrics)."""
    registry = FabricRegistry()
    registry.register(FabricCollector(snapshot, per_port=per_port))
    if process:
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    """The Prometheus text exposition (format 0.0.4) of a registry: fabric collectors written
    directly, any other collector by client_python, in registration order."""
    if not isinstance(registry, FabricRegistry):
        return generate_latest(registry)
    parts: list[bytes] = []
    others: list[Collector] = []
    for collector in registry.collectors:
        if isinstance(collector, FabricCollector):
            if others:
                parts.append(generate_latest(_Collectors(others)))
                others = []
            parts.append(collector.render())
        else:
            others.append(collector)
    if others:
        parts.append(generate_latest(_Collectors(others)))
    return b"".join(parts)


def render_reference(registry: CollectorRegistry) -> bytes:
    """client_python's own rendering of a registry (what ``render`` must match)."""
    return generate_latest(registry)

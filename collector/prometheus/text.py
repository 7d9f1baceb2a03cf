"""The Prometheus text exposition (format 0.0.4) written straight from a snapshot.

Byte for byte what client_python's ``generate_latest`` writes for the families of
``collector.metrics.families_from`` (same HELP/TYPE lines, label order, escaping, number
formatting and sample order), without building a ``Sample`` object and a label dict per series:
each family is formatted column-wise — sorted keys, one ``%`` template per family applied with
``map`` over zipped label columns — so the per-series work stays in C. ``tests/test_exposition.py``
holds the two renderers to the same output.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import itemgetter

from collector.aggregate.aggregator import Snapshot
from collector.delta import Labels
from collector.families import BUCKETS, COUNTER, FAMILIES, GAUGE, PREFIX, Family

SMOOTHED_SUFFIX = "_per_second"
_INF = math.inf


def format_value(value: float) -> str:
    """A sample value as client_python writes it (``utils.floatToGoString``): Python's shortest
    repr, ``+Inf``/``-Inf``/``NaN``, and Go's exponent form from 1e6 on (``1.5e+06``)."""
    d = float(value)
    if 1e6 <= d < 1e16:  # a non-exponent repr with more than 6 integer digits
        s = repr(d)
        dot = s.find(".")
        mantissa = f"{s[0]}.{s[1:dot]}{s[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    if d == _INF:
        return "+Inf"
    if d == -_INF:
        return "-Inf"
    if d != d:
        return "NaN"
    return repr(d)


def _format_values(values: Iterable[float]) -> list[str]:
    """``format_value`` over many values, mostly in C: one ``repr`` each, then Go's exponent
    form for the large positive ones; anything else unusual goes through ``format_value``."""
    floats = list(map(float, values))
    texts = list(map(repr, floats))
    dots = list(map(str.find, texts, repeat(".")))
    if not dots or (min(dots) >= 0 and max(dots) <= 6):
        return texts
    return [
        t
        if 0 <= d <= 6
        else f"{(t[0] + '.' + t[1:d] + t[d + 1 :]).rstrip('0.')}e+{d - 1:02d}"
        if d > 6 and t[0] != "-"
        else format_value(f)
        for f, t, d in zip(floats, texts, dots, strict=True)
    ]


def escape_label_value(value: str) -> str:
    """Backslash, newline and double quote escaped, as the text format requires."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _le(bound: float) -> str:
    return "+Inf" if bound == _INF else repr(float(bound))


def _needs_escape(column: Sequence[str]) -> bool:
    joined = "".join(column)
    return "\\" in joined or '"' in joined or "\n" in joined


@dataclass(frozen=True, slots=True)
class _Plan:
    """How to write one exported family: its header and per-series ``%`` templates."""

    header: str
    order: tuple[int, ...]  # label positions in the (sorted) order they are written
    templates: tuple[str, ...]  # one per sample name (a histogram: buckets, count, sum)


def _template(name: str, names: Sequence[str]) -> str:
    """``name{a="%s",b="%s"} %s\\n`` for label names already in written order."""
    escaped = name.replace("%", "%%")
    if not names:
        return escaped + " %s\n"
    inner = ",".join(f'{n.replace("%", "%%")}="%s"' for n in names)
    return f"{escaped}{{{inner}}} %s\n"


def _header(name: str, help_text: str, kind: str) -> str:
    return f"# HELP {name} {_escape_help(help_text)}\n# TYPE {name} {kind}\n"


def _order(labels: Sequence[str]) -> tuple[int, ...]:
    return tuple(sorted(range(len(labels)), key=lambda i: labels[i]))


def _plain_plan(name: str, help_text: str, kind: str, labels: Sequence[str]) -> _Plan:
    written = name + "_total" if kind == COUNTER else name
    order = _order(labels)
    template = _template(written, [labels[i] for i in order])
    return _Plan(_header(written, help_text, kind), order, (template,))


def _histogram_plan(family: Family) -> _Plan:
    name = family.exported_name
    labels = family.labels
    order = _order(labels)
    with_le = sorted([*labels, "le"])
    at = with_le.index("le")
    templates = []
    for bound in (*BUCKETS[family.name], _INF):
        # ``le`` is a constant: written into the template, not a ``%s`` slot.
        parts = [f'{n.replace("%", "%%")}="%s"' for n in with_le]
        parts[at] = f'le="{_le(bound)}"'.replace("%", "%%")
        templates.append(f"{name}_bucket{{{','.join(parts)}}} %s\n")
    ordered = [labels[i] for i in order]
    templates.append(_template(name + "_count", ordered))
    templates.append(_template(name + "_sum", ordered))
    return _Plan(_header(name, family.help, "histogram"), order, tuple(templates))


def _plans(family: Family) -> list[tuple[str, _Plan]]:
    """(snapshot section, plan) for each family written for ``family``."""
    if family.type == COUNTER:
        plans = [
            ("counters", _plain_plan(family.exported_name, family.help, COUNTER, family.labels))
        ]
        if family.smoothed:
            help_text = f"Smoothed per-second rate of {PREFIX}{family.name}_total."
            name = family.exported_name + SMOOTHED_SUFFIX
            plans.append(("smoothed", _plain_plan(name, help_text, GAUGE, family.labels)))
        return plans
    if family.type == GAUGE:
        return [("gauges", _plain_plan(family.exported_name, family.help, GAUGE, family.labels))]
    return [("histograms", _histogram_plan(family))]


_PLANS: tuple[tuple[Family, tuple[tuple[str, _Plan], ...]], ...] = tuple(
    (family, tuple(_plans(family))) for family in FAMILIES
)


def _columns(keys: Sequence[Labels], order: tuple[int, ...]) -> list[Sequence[str]]:
    """The label columns of sorted keys, in written order, escaped where needed."""
    if not order:
        return []
    width = len(order)
    if min(map(len, keys)) != width or max(map(len, keys)) != width:
        raise ValueError(f"labels {keys[0]!r}…: expected {width} values")
    columns: list[Sequence[str]] = [list(map(itemgetter(i), keys)) for i in order]
    for i, column in enumerate(columns):
        if _needs_escape(column):
            columns[i] = [escape_label_value(v) for v in column]
    return columns


def _write_plain(out: list[str], plan: _Plan, series: Mapping[Labels, float]) -> None:
    out.append(plan.header)
    if not series:
        return
    keys = sorted(series)
    values = _format_values(map(series.__getitem__, keys))
    template = plan.templates[0]
    out.extend(map(template.__mod__, zip(*_columns(keys, plan.order), values, strict=True)))


def _write_histogram(
    out: list[str], plan: _Plan, series: Mapping[Labels, tuple[Sequence[float], float]]
) -> None:
    out.append(plan.header)
    if not series:
        return
    keys = sorted(series)
    columns = _columns(keys, plan.order)
    *buckets, count_template, sum_template = plan.templates
    rows = zip(*columns, strict=True) if columns else ((),) * len(keys)
    for key, labels in zip(keys, rows, strict=True):
        counts, total = series[key]
        if len(counts) != len(buckets):
            raise ValueError(f"{plan.header.split()[2]}: {len(counts)} bucket counts")
        cumulative = 0.0
        sums = []
        for n in counts:
            cumulative += n
            sums.append(cumulative)
        for template, text in zip(buckets, _format_values(sums), strict=True):
            out.append(template % (*labels, text))
        out.append(count_template % (*labels, format_value(cumulative)))
        out.append(sum_template % (*labels, format_value(total)))


def render_snapshot(snapshot: Snapshot, *, per_port: bool) -> bytes:
    """Every native family of one snapshot, in ``FAMILIES`` order, as exposition text."""
    out: list[str] = []
    sections = {
        "counters": snapshot.counters,
        "gauges": snapshot.gauges,
        "smoothed": snapshot.smoothed,
        "histograms": snapshot.histograms,
    }
    for family, plans in _PLANS:
        if family.per_port and not per_port:
            continue
        for section, plan in plans:
            if section == "histograms":
                _write_histogram(out, plan, snapshot.histograms.get(family.name, {}))
            else:
                _write_plain(out, plan, sections[section].get(family.name, {}))  # type: ignore[arg-type]
    return "".join(out).encode("utf-8")


__all__ = ["escape_label_value", "format_value", "render_snapshot"]

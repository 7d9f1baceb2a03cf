"""The compatible face: sFlow-RT ai-metrics' ``points``, its Prometheus text and JSON views.

Pure functions over the aggregator's snapshot (plus the per-port ingress rates and the period
detector's state the aggregator hands over); nothing here reads a clock or a socket. Where we
differ from the reference, docs/compat.md says so and why.

``build_points`` makes the ``points`` mapping in the reference's insertion order (which is the
emission order of the Prometheus text); ``render_prometheus`` writes it exactly as ai-metrics
does: ``<prefix>ai_<name> <value>`` lines, no HELP, ``# TYPE … gauge`` only when asked, no
timestamps, label values raw, numbers formatted like JavaScript's ``Number.prototype.toString``
and falsy values (0, NaN, missing) written as ``0``.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Final

from collector.aggregate.period import PeriodState
from decoders.rocev2 import ibta_operation_label

DEFAULT_PREFIX: Final = "sflow_"
TOP_N: Final = 5
OPERATIONS_MIN: Final = 1.0
DROPS_MIN: Final = 0.0001
TREND_POINTS: Final = 300
OPERATIONS_KEY: Final = "top-5-operations"
DROPS_KEY: Final = "top-5-drop-reasons"
QUARTILES: Final = ("min", "q1", "med", "q3", "max")
TOPOLOGY_ROLES: Final = ("edge", "core")  # sFlow-RT's TOPOLOGY group: ports of topology nodes

# The numeric points, in the reference's order.
NUMERIC_POINTS: Final = (
    "bps",
    "rdma_ops",
    "rdma_bytes",
    "aeth_credits_avg",
    "aeth_credits_min",
    "aeth_credits_max",
    *(f"core_{q}_bps" for q in QUARTILES),
    *(f"edge_{q}_bps" for q in QUARTILES),
    "discards_in",
    "errors_in",
    "discards_out",
    "errors_out",
    "ecn_pps",
    "cnp_pps",
    "trim_pps",
    "period",
)


# ---------------------------------------------------------------------------------------------
# Numbers the JavaScript way


def js_number(value: object) -> str:
    """``String(value)`` of a JavaScript number, with falsy values (0, NaN, None) as ``0``.

    ECMAScript Number::toString: take the shortest digit string ``s`` (k digits) that round
    trips, with ``value = s × 10^(n-k)``; if k ≤ n ≤ 21 write the digits and n-k zeros; if
    0 < n ≤ 21 put the point after n digits; if -6 < n ≤ 0 write ``0.`` and -n zeros first;
    otherwise exponent form ``d[.ddd]e±(n-1)`` (no leading zeros in the exponent).
    """
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "1" if value is True else "0"
    x = float(value)
    if x == 0 or math.isnan(x):
        return "0"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x < 0:
        return "-" + js_number(-x)
    digits_tuple, exponent = _shortest(x)
    digits = "".join(map(str, digits_tuple))
    k = len(digits)
    n = exponent + k
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    sign = "+" if e >= 0 else "-"
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{mantissa}e{sign}{abs(e)}"


def _shortest(x: float) -> tuple[tuple[int, ...], int]:
    """Digits and exponent of the shortest round-trip decimal of a positive finite float."""
    _sign, digits, exponent = Decimal(repr(x)).as_tuple()
    assert isinstance(exponent, int)
    trimmed = list(digits)
    while len(trimmed) > 1 and trimmed[-1] == 0:
        trimmed.pop()
        exponent += 1
    while len(trimmed) > 1 and trimmed[0] == 0:
        trimmed.pop(0)
    return tuple(trimmed), exponent


# ---------------------------------------------------------------------------------------------
# points


def five_numbers(values: Iterable[float]) -> tuple[float, float, float, float, float]:
    """min, Q1, median, Q3, max (linear interpolation between order statistics); zeros when
    there is no value."""
    v = sorted(values)
    if not v:
        return (0.0, 0.0, 0.0, 0.0, 0.0)
    out = []
    for q in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = q * (len(v) - 1)
        lo = math.floor(x)
        hi = min(lo + 1, len(v) - 1)
        out.append(v[lo] + (v[hi] - v[lo]) * (x - lo))
    return (out[0], out[1], out[2], out[3], out[4])


def _role_sum(series: Mapping[tuple[str, ...], float], direction: str | None = None) -> float:
    """Sum a smoothed family over the topology roles: labels ``(role,)``, or
    ``(direction, role)`` when ``direction`` is given."""
    total = 0.0
    for labels, value in series.items():
        if direction is None:
            if labels[0] in TOPOLOGY_ROLES:
                total += value
        elif labels[0] == direction and labels[1] in TOPOLOGY_ROLES:
            total += value
    return total


def _top(series: Mapping[str, float], minimum: float) -> dict[str, float]:
    ranked = sorted(
        ((name, value) for name, value in series.items() if value >= minimum),
        key=lambda item: (-item[1], item[0]),
    )
    return dict(ranked[:TOP_N])


def build_points(
    smoothed: Mapping[str, Mapping[tuple[str, ...], float]],
    gauges: Mapping[str, Mapping[tuple[str, ...], float]],
    port_bps: Mapping[str, Iterable[float]],
    period: float,
    operation_names: str = "linux",
) -> dict[str, Any]:
    """The reference's ``points``: numeric entries in emission order, then the two top-5 maps.

    ``smoothed``: the aggregator's smoothed per-second rates by family and labels; ``gauges``:
    its gauges (for the AETH credit window); ``port_bps``: each port's ingress bit/s by role
    (``edge``, ``core``); ``period``: the compatible period in seconds (0 when not valid);
    ``operation_names``: ``linux`` (``RC:RDMA_WRITE_MIDDLE``) or ``ibta``
    (``RC:RDMA WRITE Middle``).
    """
    edge = ("edge",)
    rdma_ops = smoothed.get("rdma_operations", {}).get(edge, 0.0)
    rdma_bytes = smoothed.get("rdma_bytes", {}).get(edge, 0.0)
    points: dict[str, Any] = {
        "bps": 8.0 * sum(smoothed.get("fabric_ingress_bytes", {}).values()),
        "rdma_ops": rdma_ops,
        "rdma_bytes": rdma_bytes / rdma_ops if rdma_ops > 0 else 0.0,
        "aeth_credits_avg": gauges.get("aeth_credits_avg", {}).get(edge, 0.0),
        "aeth_credits_min": gauges.get("aeth_credits_min", {}).get(edge, 0.0),
        "aeth_credits_max": gauges.get("aeth_credits_max", {}).get(edge, 0.0),
    }
    for role in ("core", "edge"):
        for name, value in zip(QUARTILES, five_numbers(port_bps.get(role, ())), strict=True):
            points[f"{role}_{name}_bps"] = value
    discards = smoothed.get("interface_discards", {})
    errors = smoothed.get("interface_errors", {})
    points["discards_in"] = _role_sum(discards, "in")
    points["errors_in"] = _role_sum(errors, "in")
    points["discards_out"] = _role_sum(discards, "out")
    points["errors_out"] = _role_sum(errors, "out")
    points["ecn_pps"] = _role_sum(smoothed.get("ecn_ce_packets", {}))
    points["cnp_pps"] = _role_sum(smoothed.get("cnp_packets", {}))
    points["trim_pps"] = _role_sum(smoothed.get("trimmed_packets", {}))
    points["period"] = period
    operations: dict[str, float] = {}
    for (role, operation), value in smoothed.get("rocev2_operations", {}).items():
        if role == "edge":
            if operation_names == "ibta":
                operation = ibta_operation_label(operation)
            operations[operation] = operations.get(operation, 0.0) + value
    drops: dict[str, float] = {}
    # Topology nodes' agents only, like the reference's TOPOLOGY group (every agent while no
    # topology is loaded: the receivers count them all then).
    for (reason,), value in smoothed.get("topology_dropped_packets", {}).items():
        drops[reason] = drops.get(reason, 0.0) + value
    points[OPERATIONS_KEY] = _top(operations, OPERATIONS_MIN)
    points[DROPS_KEY] = _top(drops, DROPS_MIN)
    return points


# ---------------------------------------------------------------------------------------------
# Prometheus text


def render_prometheus(
    points: Mapping[str, Any], prefix: str = DEFAULT_PREFIX, types: bool = False
) -> str:
    """The text ai-metrics writes at ``…/prometheus/txt``."""
    base = prefix + "ai_"
    lines: list[str] = []
    for name, value in points.items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            if types:
                lines.append(f"# TYPE {base}{name} gauge")
            lines.append(f"{base}{name} {js_number(value)}")
    for key, family, label in (
        (OPERATIONS_KEY, "operations", "name"),
        (DROPS_KEY, "drops", "reason"),
    ):
        entries = points.get(key) or {}
        if not entries:
            continue
        if types:
            lines.append(f"# TYPE {base}{family} gauge")
        for label_value, value in entries.items():
            lines.append(f'{base}{family}{{{label}="{label_value}"}} {js_number(value)}')
    return "".join(line + "\n" for line in lines)


# ---------------------------------------------------------------------------------------------
# JSON views


def period_json(state: PeriodState | None, method: str = "compatible") -> dict[str, Any]:
    """``period/json``: the reference's fields first, then ours under ``fabricscope``;
    ``period`` is the estimate of ``method`` (``compatible`` or ``fine``), as in the text."""
    if state is None:
        return {
            "value": 0,
            "period": 0,
            "threshold": 0,
            "baselineLoad": {},
            "baselinePeriod": {},
            "fabricscope": None,
        }
    compatible, fine = state.compatible, state.fine
    return {
        "value": state.value,
        "period": fine.period if method == "fine" else compatible.period,
        "threshold": state.threshold,
        "baselineLoad": state.baseline_load.as_dict() if state.baseline_load else {},
        "baselinePeriod": state.baseline_period.as_dict() if state.baseline_period else {},
        "fabricscope": {
            "method": method,
            "loadStatus": state.load_status,
            "lastCrossing": state.last_crossing,
            "compatible": _estimate_json(compatible),
            "fine": _estimate_json(fine),
            "signal": {
                "times": [round(t * 1000) for t, _ in state.signal],
                "values": [value for _, value in state.signal],
            },
        },
    }


def _exported_period(state: PeriodState | None, method: str) -> float:
    """The period ``sflow_ai_period`` reports: the reference's estimate, or our finer one."""
    if state is None:
        return 0.0
    return state.fine.period if method == "fine" else state.compatible.period


def _estimate_json(estimate: Any) -> dict[str, Any]:
    return {
        "period": estimate.period,
        "valid": estimate.valid,
        "mean": estimate.mean,
        "cv": estimate.cv,
        "cycles": estimate.cycles,
        "learning": estimate.learning,
    }


@dataclass(frozen=True, slots=True)
class TrendView:
    """One immutable copy of the trend for a handler."""

    times: tuple[int, ...]
    rows: tuple[Mapping[str, Any], ...]

    def json(self, after: int | None = None) -> dict[str, Any]:
        """``trend/json``: ``{trend: {maxPoints, times, trends: {name: [...]}}}``, only the
        points later than ``after`` (ms) when given."""
        start = 0
        if after is not None:
            while start < len(self.times) and self.times[start] <= after:
                start += 1
        times = list(self.times[start:])
        trends: dict[str, list[Any]] = {}
        for row in self.rows[start:]:
            for name in row:
                trends.setdefault(name, [])
        for name, column in trends.items():
            column.extend(row.get(name, 0) for row in self.rows[start:])
        return {"trend": {"maxPoints": TREND_POINTS, "times": times, "trends": trends}}


class Trend:
    """The last ``TREND_POINTS`` points, one per tick (the reference keeps 300 × 1 s)."""

    def __init__(self, max_points: int = TREND_POINTS) -> None:
        self._times: deque[int] = deque(maxlen=max_points)
        self._rows: deque[Mapping[str, Any]] = deque(maxlen=max_points)

    def add(self, now: float, points: Mapping[str, Any]) -> None:
        """Append the points of the tick at ``now`` (seconds)."""
        self._times.append(int(now * 1000))
        self._rows.append(points)

    def view(self) -> TrendView:
        """An immutable copy."""
        return TrendView(tuple(self._times), tuple(self._rows))


# ---------------------------------------------------------------------------------------------
# The face the HTTP handlers read


def _finite(value: Any) -> Any:
    """JSON cannot carry NaN/Infinity: such numbers become 0 (as the text writes them)."""
    if isinstance(value, float) and not math.isfinite(value):
        return 0
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class CompatSettings:
    """The compatible face's settings (docs/compat.md)."""

    prefix: str = DEFAULT_PREFIX  # prometheus_prefix: the series' name prefix
    types: bool = False  # prometheus_type: add "# TYPE … gauge" lines
    max_points: int = TREND_POINTS  # trend/json history, one point a second
    operation_names: str = "linux"  # linux (ib_pack.h) | ibta spelling of operations{name}
    period_method: str = "compatible"  # which estimate sflow_ai_period reports


class CompatFace:
    """Latest ``points``, their trend and the period state, replaced whole once per tick; the
    HTTP handlers only read them."""

    def __init__(self, settings: CompatSettings | None = None) -> None:
        settings = settings or CompatSettings()
        self.settings = settings
        self.prefix = prefix = settings.prefix
        self.types = types = settings.types
        self.operation_names = settings.operation_names
        self.period_method = settings.period_method
        self._trend = Trend(settings.max_points)
        self._points: dict[str, Any] = build_points({}, {}, {}, 0.0)
        self._period: dict[str, Any] = period_json(None)
        self._text = render_prometheus(self._points, prefix, types).encode()
        self._last_trend: float | None = None

    def update(self, now: float, snapshot: Any) -> None:
        """Rebuild from an aggregator ``Snapshot`` taken at ``now`` (seconds)."""
        state: PeriodState | None = snapshot.period
        points = build_points(
            snapshot.smoothed,
            snapshot.gauges,
            snapshot.port_ingress_bps or {},
            _exported_period(state, self.period_method),
            self.operation_names,
        )
        points = _finite(points)
        self._text = render_prometheus(points, self.prefix, self.types).encode()
        self._points = points
        self._period = _finite(period_json(state, self.period_method))
        if self._last_trend is None or now - self._last_trend >= 0.999:  # 1 s trend points
            self._last_trend = now
            self._trend.add(now, points)

    def prometheus(self) -> bytes:
        """``prometheus/txt``."""
        return self._text

    def points(self) -> dict[str, Any]:
        """``metric/json``."""
        return self._points

    def period(self) -> dict[str, Any]:
        """``period/json``."""
        return self._period

    def trend(self, after: int | None = None) -> dict[str, Any]:
        """``trend/json``."""
        return self._trend.view().json(after)

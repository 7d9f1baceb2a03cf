"""What Telegraf's ``inputs.prometheus`` (``metric_version = 1``) writes to InfluxDB for a scrape.

:func:`points_from_exposition` turns Prometheus text exposition (format 0.0.4) into the
:class:`Point` list that reaches InfluxDB, so that dashboards and the direct push can be checked
against the schema Telegraf users already have. The rules, each one as Telegraf and the
``expfmt`` text parser it uses behave:

* **Parsing** follows ``expfmt``: ``# TYPE x histogram|summary`` makes ``x_bucket``/``x_sum``/
  ``x_count`` (``x``/``x_sum``/``x_count`` for a summary) one family ``x``; without the TYPE line
  they are three untyped families. Any error — a bad escape, a second TYPE or HELP line, a TYPE
  after the family's samples, duplicate label names, trailing blanks after a value, a last line
  without a newline — fails the whole scrape (:class:`ExpositionError`, with the line number).
* **Measurement** = the family name, exactly as written (counters keep ``_total``).
* **Tags** = the labels with a non-empty value; histogram ``le`` and summary ``quantile`` are not
  tags. Then the plugin's ``url`` tag (credentials removed, ``/metrics`` added when the URL has no
  path) overwrites a label of that name; the agent's ``host`` tag is added only where no ``host``
  label exists.
* **Fields** by type: counter → ``counter``, gauge → ``gauge``, untyped or no TYPE line →
  ``value``; a histogram series is one point with a field per bucket named by its upper bound
  (Go ``%g``: ``le="1.0"`` → ``1``, ``1000000`` → ``1e+06``, ``+Inf``) plus ``count`` and ``sum``;
  a summary likewise with a field per quantile. No ``+Inf`` bucket is invented.
* **NaN and ±Inf**: a NaN counter/gauge/untyped sample gives no point; a NaN quantile is left
  out; any other NaN or ±Inf field is refused by the line-protocol serializer, and a point left
  without fields is not written. A histogram with a non-integer bucket or ``_count`` value comes
  out with every bucket and ``count`` 0 (``expfmt`` ≥ 0.67 stores it as a float histogram, which
  Telegraf's v1 mapping does not read).
* **Time**: the sample's millisecond timestamp when > 0, else the scrape time, rounded to the
  agent precision (1 s by default).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TIMESTAMP = re.compile(r"[+-]?[0-9]+")
# A float as Go's strconv.ParseFloat reads it, minus what expfmt refuses (hex, '_'). The digits
# before an optional fraction are one run (not `[0-9]+\.?[0-9]*`, which backtracks
# quadratically on a long run of digits that fails to match).
_FLOAT = re.compile(
    r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|inf|infinity|nan)", re.I
)
# HELP text: '\\', '\n' and '\"' are the only escapes expfmt accepts.
_HELP_TEXT = re.compile(r'(?:[^\\]|\\[\\n"])*')
_TYPES = ("counter", "gauge", "summary", "untyped", "histogram", "gauge_histogram")
_BLANKS = " \t"
_NS_PER_MS = 1_000_000


class ExpositionError(ValueError):
    """The exposition does not parse; Telegraf drops the whole scrape."""


@dataclass(frozen=True)
class Point:
    """One InfluxDB point: measurement, tags, float fields and time in nanoseconds."""

    measurement: str
    tags: dict[str, str]
    fields: dict[str, float]
    time: int


@dataclass
class _Sample:
    """One metric of a family (several lines for a histogram or summary series)."""

    labels: dict[str, str]
    value: float = math.nan
    timestamp_ms: int = 0
    count: float = 0.0
    sum: float = 0.0
    buckets: list[tuple[float, float]] = field(default_factory=list)
    quantiles: list[tuple[float, float]] = field(default_factory=list)


@dataclass
class _Family:
    """A metric family as ``expfmt`` builds it."""

    name: str
    type: str | None = None
    has_help: bool = False
    samples: list[_Sample] = field(default_factory=list)
    by_signature: dict[tuple[tuple[str, str], ...], _Sample] = field(default_factory=dict)


def go_float_name(value: float) -> str:
    """``value`` as Go's ``strconv.FormatFloat(value, 'g', -1, 64)`` writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign, digit_tuple, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    point = len(digits) + exponent  # position of the decimal point in the shortest digits
    prefix = "-" if sign else ""
    if not -4 <= point - 1 < 6:  # Go switches to %e below 1e-4 and from 1e6 on
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        e = point - 1
        return f"{prefix}{mantissa}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if point <= 0:
        return f"{prefix}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return prefix + digits + "0" * (point - len(digits))
    return f"{prefix}{digits[:point]}.{digits[point:]}"


def _parse_float(token: str, line: int, what: str) -> float:
    if not _FLOAT.fullmatch(token):
        raise ExpositionError(f"line {line}: expected float as {what}, got {token!r}")
    return float(token)


class _Parser:
    """The ``expfmt`` text parser's rules, one line at a time."""

    def __init__(self) -> None:
        self.families: dict[str, _Family] = {}

    def family_for(self, name: str) -> tuple[_Family, str]:
        """The family a name belongs to and its role (``plain``, ``count``, ``sum``)."""
        if name in self.families:
            return self.families[name], "plain"
        for suffix in ("_count", "_sum", "_bucket"):
            base = name[: -len(suffix)]
            if name.endswith(suffix) and base and base in self.families:
                found = self.families[base]
                if found.type == "histogram" or (found.type == "summary" and suffix != "_bucket"):
                    return found, suffix[1:] if suffix != "_bucket" else "plain"
        created = _Family(name)
        self.families[name] = created
        return created, "plain"

    def comment(self, text: str, line: int) -> None:
        keyword, _, after_keyword = _split_blank(text.lstrip(_BLANKS))
        if keyword not in ("HELP", "TYPE") or after_keyword is None:
            return  # a plain comment
        rest = after_keyword.lstrip(_BLANKS)
        match = _METRIC_NAME.match(rest)
        name = match.group() if match else ""
        after = rest[len(name) :]
        if not after:
            return  # a bare '# TYPE x' is not an error, and does nothing
        if not name or after[0] not in _BLANKS:
            raise ExpositionError(f"line {line}: invalid metric name in comment")
        family, _ = self.family_for(name)
        value = after.lstrip(_BLANKS)
        if not value:
            return
        if keyword == "HELP":
            if family.has_help:
                raise ExpositionError(f"line {line}: second HELP line for metric name {name!r}")
            if not _HELP_TEXT.fullmatch(value):
                raise ExpositionError(f"line {line}: invalid escape sequence in HELP of {name!r}")
            family.has_help = True
            return
        if family.type is not None:
            raise ExpositionError(
                f"line {line}: second TYPE line for metric name {family.name!r},"
                " or TYPE reported after samples"
            )
        if value.lower() not in _TYPES:
            raise ExpositionError(f"line {line}: unknown metric type {value!r}")
        family.type = value.lower()

    def sample(self, text: str, line: int) -> None:
        match = _METRIC_NAME.match(text)
        if not match:
            raise ExpositionError(f"line {line}: invalid metric name")
        family, role = self.family_for(match.group())
        if family.type is None:
            family.type = "untyped"
        if family.type == "gauge_histogram":
            raise ExpositionError(f"line {line}: unexpected type for metric name {family.name!r}")
        rest = text[match.end() :].lstrip(_BLANKS)
        labels: dict[str, str] = {}
        special: float | None = None  # le or quantile
        if rest.startswith("{"):
            labels, special, rest = self.labels(family, rest[1:], line)
        self.value(family, role, labels, special, rest, line)

    def labels(
        self, family: _Family, rest: str, line: int
    ) -> tuple[dict[str, str], float | None, str]:
        labels: dict[str, str] = {}
        special: float | None = None
        special_name = {"histogram": "le", "summary": "quantile"}.get(family.type or "")
        while True:
            rest = rest.lstrip(_BLANKS)
            if rest.startswith("}"):
                return labels, special, rest[1:].lstrip(_BLANKS)
            match = _LABEL_NAME.match(rest)
            if not match:
                raise ExpositionError(f"line {line}: invalid label name for metric {family.name!r}")
            name = match.group()
            rest = rest[match.end() :].lstrip(_BLANKS)
            if not rest.startswith("="):
                raise ExpositionError(f"line {line}: expected '=' after label name {name!r}")
            if name == "__name__":
                raise ExpositionError(f"line {line}: label name '__name__' is reserved")
            if name != special_name and name in labels:
                raise ExpositionError(
                    f"line {line}: duplicate label names for metric {family.name!r}"
                )
            rest = rest[1:].lstrip(_BLANKS)
            if not rest.startswith('"'):
                raise ExpositionError(f"line {line}: expected '\"' at start of label value")
            value, rest = _label_value(rest[1:], line)
            if name == special_name:
                special = _parse_float(value, line, f"value for {name!r} label")
            else:
                labels[name] = value
            rest = rest.lstrip(_BLANKS)
            if rest.startswith(","):
                rest = rest[1:]
            elif not rest.startswith("}"):
                raise ExpositionError(f"line {line}: unexpected end of label value {value!r}")

    def value(
        self,
        family: _Family,
        role: str,
        labels: dict[str, str],
        special: float | None,
        rest: str,
        line: int,
    ) -> None:
        token, _, after = _split_blank(rest)
        value = _parse_float(token, line, "value")
        timestamp = 0
        if after is not None:
            stamp, _, spurious = _split_blank(after.lstrip(_BLANKS))
            if not _TIMESTAMP.fullmatch(stamp):
                raise ExpositionError(f"line {line}: expected integer as timestamp, got {stamp!r}")
            if spurious is not None:
                raise ExpositionError(f"line {line}: spurious string after timestamp")
            timestamp = int(stamp)
            if not -(1 << 63) <= timestamp < 1 << 63:
                raise ExpositionError(f"line {line}: timestamp {stamp} out of int64 range")
        if family.type not in ("histogram", "summary"):
            family.samples.append(_Sample(labels, value=value, timestamp_ms=timestamp))
            return
        signature = tuple(sorted(labels.items()))
        series = family.by_signature.get(signature)
        if series is None:
            series = family.by_signature[signature] = _Sample(labels)
            family.samples.append(series)
        if after is not None:
            series.timestamp_ms = timestamp
        if role == "count":
            series.count = value
        elif role == "sum":
            series.sum = value
        elif special is not None:
            target = series.buckets if family.type == "histogram" else series.quantiles
            target.append((special, value))


def _split_blank(text: str) -> tuple[str, str, str | None]:
    """The token before the first blank, and what follows the blank (None at end of line)."""
    for i, ch in enumerate(text):
        if ch in _BLANKS:
            return text[:i], ch, text[i + 1 :]
    return text, "", None


def _label_value(rest: str, line: int) -> tuple[str, str]:
    """A quoted label value (opening quote already read), unescaped, and the rest of the line."""
    out: list[str] = []
    i = 0
    while i < len(rest):
        ch = rest[i]
        if ch == '"':
            return "".join(out), rest[i + 1 :]
        if ch == "\\":
            following = rest[i + 1 : i + 2]
            if following not in ('"', "\\", "n"):
                raise ExpositionError(f"line {line}: invalid escape sequence '\\{following}'")
            out.append("\n" if following == "n" else following)
            i += 2
            continue
        out.append(ch)
        i += 1
    raise ExpositionError(f"line {line}: label value {''.join(out)!r} contains unescaped new-line")


def _parse(text: str) -> list[_Family]:
    parser = _Parser()
    lines = text.split("\n")
    if lines[-1].strip(_BLANKS):
        raise ExpositionError(f"line {len(lines)}: unexpected end of input stream")
    for number, raw in enumerate(lines[:-1], start=1):
        stripped = raw.lstrip(_BLANKS)
        if not stripped:
            continue
        if stripped.startswith("#"):
            parser.comment(stripped[1:], number)
        else:
            parser.sample(stripped, number)
    return list(parser.families.values())


def _fields(family: _Family, sample: _Sample) -> dict[str, float]:
    """The v1 field set of one metric, before the serializer drops NaN and ±Inf."""
    if family.type == "summary":
        fields = {go_float_name(q): v for q, v in sample.quantiles if not math.isnan(v)}
        fields["count"] = float(_go_uint64(sample.count))
        fields["sum"] = sample.sum
        return fields
    if family.type == "histogram":
        counts = [c for _, c in sample.buckets] + [sample.count]
        integral = all(math.isfinite(c) and c == int(c) for c in counts)
        fields = {
            go_float_name(bound): float(_go_uint64(c)) if integral else 0.0
            for bound, c in sample.buckets
        }
        fields["count"] = float(_go_uint64(sample.count)) if integral else 0.0
        fields["sum"] = sample.sum
        return fields
    if math.isnan(sample.value):
        return {}
    key = {"counter": "counter", "gauge": "gauge"}.get(family.type or "", "value")
    return {key: sample.value}


def _go_uint64(value: float) -> int:
    """Go's ``uint64(value)`` for what it defines (finite, non-negative); 0 otherwise."""
    return int(value) if math.isfinite(value) and value >= 0 else 0


def telegraf_url_tag(url: str) -> str:
    """The ``url`` tag value Telegraf writes for a configured scrape URL."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path or "/metrics", parts.query, parts.fragment))


def points_from_exposition(
    text: str | bytes,
    *,
    url: str | None = None,
    url_tag: str = "url",
    host: str | None = None,
    scrape_time_ns: int = 0,
    precision_ns: int = 1_000_000_000,
) -> list[Point]:
    """The InfluxDB points Telegraf's prometheus input (``metric_version = 1``) writes for ``text``.

    ``url`` is the configured scrape URL (None or ``url_tag=""``: no url tag), ``host`` the agent's
    hostname tag (None: ``omit_hostname``). Points are in family order of first appearance.
    """
    if isinstance(text, bytes):
        raw = text
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise ExpositionError(f"line {line}: invalid UTF-8") from None
    points: list[Point] = []
    for family in _parse(text):
        for sample in family.samples:
            fields = {
                k: v for k, v in _fields(family, sample).items() if math.isfinite(v)
            }  # the influx serializer refuses NaN and ±Inf fields
            if not fields:
                continue  # nothing serializable: the point is never written
            tags = {k: v for k, v in sample.labels.items() if v != ""}
            if url is not None and url_tag:
                tags[url_tag] = telegraf_url_tag(url)
            if host is not None:
                tags.setdefault("host", host)
            ns = sample.timestamp_ms * _NS_PER_MS if sample.timestamp_ms > 0 else scrape_time_ns
            rounded = (ns + precision_ns // 2) // precision_ns * precision_ns
            points.append(Point(family.name, tags, fields, rounded))
    return points

"""InfluxDB line protocol: one point per line, written the way Telegraf's influx serializer does.

``measurement[,tag=value…] field=value[,…] [timestamp]``. Escapes, as InfluxDB reads them and
Telegraf writes them:

* measurement: comma and space get a backslash;
* tag keys, tag values and field keys: comma, ``=`` and space get a backslash;
* everywhere outside string fields, tab, CR, LF and FF become the two characters ``\\t`` …
  (line protocol has no way to carry them), and a trailing backslash is dropped (it would
  escape the separator that follows);
* string field values are double-quoted, with ``"`` and ``\\`` escaped.

Tags are written sorted by key and tags with an empty key or value are left out; floats are
written in plain decimal without an exponent (``1800000000000``, Go's ``'f', -1``), integers with
an ``i`` suffix; NaN and ±Inf fields cannot be written and are left out, and a point left without
fields is not written at all. Pure functions; nothing here does I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Final

from collector.influx.telegraf_v1 import Point

FieldValue = float | int | bool | str

# Nanoseconds per unit of each write precision (the ``precision`` query parameter).
PRECISION_NS: Final[dict[str, int]] = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}

_CONTROL = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f"})
_NAME = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", ",": "\\,", " ": "\\ "})
_KEY = str.maketrans(
    {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\f", ",": "\\,", " ": "\\ ", "=": "\\="}
)


def _trim(text: str) -> str:
    """Drop trailing backslashes: one would escape the separator after it."""
    return text.rstrip("\\")


def escape_measurement(name: str) -> str:
    """A measurement name: comma and space escaped."""
    return _trim(name).translate(_NAME)


def escape_key(text: str) -> str:
    """A tag key, tag value or field key: comma, equals sign and space escaped."""
    return _trim(text).translate(_KEY)


def escape_string_field(text: str) -> str:
    """A string field value, quoted: backslash and double quote escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_float(value: float) -> str:
    """A finite float in plain decimal with the fewest digits that read back the same
    (``1.8e12`` → ``1800000000000``, ``1e-07`` → ``0.0000001``, ``2.0`` → ``2``)."""
    text = repr(float(value))
    if "e" in text:
        text = format(Decimal(text), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def format_field(value: FieldValue) -> str | None:
    """A field value as written, or None when it cannot be written (NaN, ±Inf)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, str):
        return escape_string_field(value)
    if not math.isfinite(value):
        return None
    return format_float(value)


def encode_line(
    measurement: str,
    tags: Mapping[str, str],
    fields: Mapping[str, FieldValue],
    timestamp: int | None,
) -> str | None:
    """One line (without the newline), or None when no field can be written."""
    written = []
    for key in sorted(fields):
        text = format_field(fields[key])
        if text is not None and escape_key(key):
            written.append(f"{escape_key(key)}={text}")
    if not written:
        return None
    head = [escape_measurement(measurement)]
    for key in sorted(tags):
        escaped_key, escaped_value = escape_key(key), escape_key(tags[key])
        if escaped_key and escaped_value:
            head.append(f"{escaped_key}={escaped_value}")
    line = ",".join(head) + " " + ",".join(written)
    return line if timestamp is None else f"{line} {timestamp}"


def encode_point(point: Point, precision: str = "ms") -> str | None:
    """A point (time in nanoseconds) as one line with its timestamp in ``precision`` units."""
    return encode_line(
        point.measurement, point.tags, point.fields, point.time // PRECISION_NS[precision]
    )


__all__ = [
    "PRECISION_NS",
    "encode_line",
    "encode_point",
    "escape_key",
    "escape_measurement",
    "escape_string_field",
    "format_field",
    "format_float",
]

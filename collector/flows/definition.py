"""Flow definitions: sFlow-RT's attributes, validated into a frozen ``FlowDefinition``.

``parse_definition(name, document)`` takes the JSON body of ``PUT /flow/{name}/json`` (or a
persisted entry) and raises ``FlowSpecError`` (one line: the field, the token, its offset) for
anything it cannot take. ``n`` and ``t`` out of range are clamped, as sFlow-RT does. sFlow-RT's
logging and IPFIX attributes (``log``, ``flowStart``, ``activeTimeout``, ``ipfixCollectors``) are
accepted and ignored; key functions (``group:ipsource:…``) are not supported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from collector.flows.filter import FlowSpecError, Node, filter_keys, parse_filter
from collector.flows.keys import KEYS, is_value

N_RANGE = (5, 20)
T_RANGE = (0.2, 600.0)
DEFAULT_N = 5
DEFAULT_T = 2.0
MAX_KEYS = 16
MAX_VALUES = 8
MAX_FS = 16
NAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
IGNORED_ATTRIBUTES = frozenset({"name", "log", "flowStart", "activeTimeout", "ipfixCollectors"})
ATTRIBUTES = frozenset({"keys", "value", "values", "filter", "n", "t", "dropped", "fs"})


@dataclass(frozen=True, slots=True)
class FlowDefinition:
    """One flow definition (sFlow-RT's attributes; see docs/flows.md)."""

    name: str
    keys: tuple[str, ...]
    value: str = "bytes"
    values: tuple[str, ...] = ()
    filter: str | None = None
    n: int = DEFAULT_N
    t: float = DEFAULT_T
    dropped: bool = False
    fs: str = ","
    tree: Node | None = field(default=None, compare=False, repr=False)

    @property
    def sums(self) -> tuple[str, ...]:
        """What each key's partial sums hold, in order: the value, then ``values``."""
        return (self.value, *self.values)

    def to_json(self) -> dict[str, Any]:
        """The definition as ``GET /flow/{name}/json`` shows it (and as it is persisted)."""
        return {
            "keys": ",".join(self.keys),
            "value": self.value,
            "values": list(self.values),
            "filter": self.filter,
            "n": self.n,
            "t": self.t,
            "dropped": self.dropped,
            "fs": self.fs,
        }


def _text_list(value: Any, field_name: str) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",")] if value.strip() else []
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value]
    raise FlowSpecError(field_name, "expected a comma-separated string or a list of strings")


def _key_list(value: Any, dropped: bool) -> tuple[str, ...]:
    keys = _text_list(value, "keys")
    if not keys:
        raise FlowSpecError("keys", "at least one key is needed")
    if len(keys) > MAX_KEYS:
        raise FlowSpecError("keys", f"at most {MAX_KEYS} keys")
    offset = 0
    for key in keys:
        if ":" in key:
            raise FlowSpecError("keys", "key functions are not supported", key, offset)
        spec = KEYS.get(key)
        if spec is None:
            raise FlowSpecError("keys", "unknown key", key, offset)
        if spec.dropped_only and not dropped:
            raise FlowSpecError("keys", "a drop notification key needs dropped=true", key, offset)
        offset += len(key) + 1
    return tuple(keys)


def _value(name: Any, field_name: str) -> str:
    if not isinstance(name, str) or not is_value(name.strip()):
        raise FlowSpecError(
            field_name, "expected bytes, frames or a numeric key", str(name) if name else ""
        )
    return name.strip()


def _number(value: Any, field_name: str, low: float, high: float) -> float:
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise FlowSpecError(field_name, "expected a number", value) from None
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise FlowSpecError(field_name, "expected a number", str(value))
    return min(max(float(value), low), high)


def _bool(value: Any, field_name: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise FlowSpecError(field_name, "expected true or false", str(value))


def parse_definition(name: str, document: Any) -> FlowDefinition:
    """A validated definition from its JSON object (``FlowSpecError`` naming the field)."""
    if not NAME_PATTERN.fullmatch(name):
        raise FlowSpecError("name", "expected 1-64 letters, digits, '_', '.' or '-'", name)
    if not isinstance(document, dict):
        raise FlowSpecError("definition", "expected a JSON object")
    for attribute in document:
        if attribute not in ATTRIBUTES and attribute not in IGNORED_ATTRIBUTES:
            raise FlowSpecError("definition", "unknown attribute", str(attribute))
    if "keys" not in document:
        raise FlowSpecError("keys", "missing")
    dropped = _bool(document.get("dropped", False), "dropped")
    keys = _key_list(document["keys"], dropped)
    value = _value(document.get("value", "bytes"), "value")
    raw_values = document.get("values")
    values = () if raw_values is None else tuple(_text_list(raw_values, "values"))
    if len(values) > MAX_VALUES:
        raise FlowSpecError("values", f"at most {MAX_VALUES} values")
    values = tuple(_value(v, "values") for v in values)
    filter_text = document.get("filter")
    tree = None
    if filter_text is not None:
        if not isinstance(filter_text, str):
            raise FlowSpecError("filter", "expected a string")
        filter_text = filter_text.strip() or None
    if filter_text is not None:
        tree = parse_filter(filter_text)
        for key in sorted(filter_keys(tree)):
            if KEYS[key].dropped_only and not dropped:
                raise FlowSpecError("filter", "a drop notification key needs dropped=true", key)
    n = round(_number(document.get("n", DEFAULT_N), "n", *N_RANGE))
    t = _number(document.get("t", DEFAULT_T), "t", *T_RANGE)
    fs = document.get("fs", ",")
    if not isinstance(fs, str) or not 0 < len(fs) <= MAX_FS:
        raise FlowSpecError("fs", f"expected a string of 1-{MAX_FS} characters")
    return FlowDefinition(name, keys, value, values, filter_text, n, t, dropped, fs, tree)

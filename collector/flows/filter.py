"""The filter grammar of flow definitions (sFlow-RT's), parsed once, evaluated per sample.

::

    filter     := term ('|' term)*
    term       := factor ('&' factor)*
    factor     := '(' filter ')' | comparison
    comparison := KEY ('=' | '!=' | '~' | '!~') VALUE (',' VALUE)*

A comparison is true when the key's text equals (``=``) or fully matches the regular expression
(``~``) any value of the list; ``!=`` and ``!~`` are their negations. A key the sample does not
have equals nothing and matches nothing. A value ends at ``,``, ``&``, ``|`` or an unbalanced
``)``, so a regular expression may hold ``(a|b)`` groups. Spaces around tokens are ignored.
Anything else is a ``FlowSpecError`` naming the token and its offset (from 0).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from collector.flows.keys import KEYS

KEY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")
OPERATORS = ("!=", "!~", "=", "~")
MAX_FILTER_LENGTH = 4_096

Predicate = Callable[[Sequence[str | None]], bool]


class FlowSpecError(ValueError):
    """A definition or filter that does not parse; ``str()`` is one line naming the field,
    the token and its offset."""

    def __init__(self, field: str, message: str, token: str | None = None, at: int | None = None):
        where = ""
        if token is not None:
            where = f" at {token!r}" if at is None else f" at {token!r} (offset {at})"
        super().__init__(f"{field}: {message}{where}")
        self.field = field
        self.token = token
        self.at = at


@dataclass(frozen=True, slots=True)
class Comparison:
    """``key op values``; ``patterns`` are the compiled values of ``~`` / ``!~``."""

    key: str
    op: str
    values: tuple[str, ...]
    patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True, slots=True)
class Either:
    """Any of ``parts`` (``|``)."""

    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Both:
    """All of ``parts`` (``&``)."""

    parts: tuple[Node, ...]


Node = Comparison | Either | Both


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def _skip(self) -> None:
        while self.at < len(self.text) and self.text[self.at] == " ":
            self.at += 1

    def _peek(self) -> str:
        self._skip()
        return self.text[self.at] if self.at < len(self.text) else ""

    def _token(self) -> str:
        rest = self.text[self.at :]
        return rest[:12] if rest else "end of filter"

    def fail(self, message: str) -> FlowSpecError:
        return FlowSpecError("filter", message, self._token(), self.at)

    def parse(self) -> Node:
        node = self.either()
        if self._peek():
            raise self.fail("unexpected text")
        return node

    def either(self) -> Node:
        parts = [self.both()]
        while self._peek() == "|":
            self.at += 1
            parts.append(self.both())
        return parts[0] if len(parts) == 1 else Either(tuple(parts))

    def both(self) -> Node:
        parts = [self.factor()]
        while self._peek() == "&":
            self.at += 1
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else Both(tuple(parts))

    def factor(self) -> Node:
        if self._peek() == "(":
            self.at += 1
            node = self.either()
            if self._peek() != ")":
                raise self.fail("expected ')'")
            self.at += 1
            return node
        return self.comparison()

    def comparison(self) -> Comparison:
        self._skip()
        start = self.at
        text = self.text
        while self.at < len(text) and text[self.at] in KEY_CHARACTERS:
            self.at += 1
        key = text[start : self.at]
        if not key:
            raise self.fail("expected a key")
        if key not in KEYS:
            raise FlowSpecError("filter", "unknown key", key, start)
        self._skip()
        op = next((o for o in OPERATORS if text.startswith(o, self.at)), None)
        if op is None:
            raise self.fail(f"expected = != ~ or !~ after {key}")
        self.at += len(op)
        values: list[str] = []
        patterns: list[re.Pattern[str]] = []
        while True:
            self._skip()
            begin = self.at
            value = self._value()
            if not value:
                raise self.fail("expected a value")
            if op in ("~", "!~"):
                try:
                    patterns.append(re.compile(value))
                except re.error as exc:
                    raise FlowSpecError(
                        "filter", f"bad regular expression ({exc.msg})", value, begin
                    ) from None
            values.append(value)
            if self.at < len(text) and text[self.at] == ",":
                self.at += 1
                continue
            return Comparison(key, op, tuple(values), tuple(patterns))

    def _value(self) -> str:
        text = self.text
        start = self.at
        depth = 0
        while self.at < len(text):
            c = text[self.at]
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            elif depth == 0 and c in ",&|":
                break
            self.at += 1
        return text[start : self.at].strip()


def parse_filter(text: str) -> Node:
    """The tree of a filter (``FlowSpecError`` when it does not parse)."""
    if len(text) > MAX_FILTER_LENGTH:
        raise FlowSpecError("filter", f"longer than {MAX_FILTER_LENGTH} characters")
    return _Parser(text).parse()


def filter_keys(node: Node) -> set[str]:
    """Every key a filter reads."""
    if isinstance(node, Comparison):
        return {node.key}
    return set().union(*(filter_keys(part) for part in node.parts))


def compile_filter(node: Node, slots: Mapping[str, int]) -> Predicate:
    """A predicate over a sample's key texts, ``values[slots[key]]`` (None: absent)."""
    if isinstance(node, Either):
        parts = [compile_filter(p, slots) for p in node.parts]
        return lambda values: any(p(values) for p in parts)
    if isinstance(node, Both):
        parts = [compile_filter(p, slots) for p in node.parts]
        return lambda values: all(p(values) for p in parts)
    slot = slots[node.key]
    if node.op in ("=", "!="):
        wanted = frozenset(node.values)
        if node.op == "=":
            return lambda values: values[slot] in wanted
        return lambda values: values[slot] not in wanted
    patterns = node.patterns

    def matches(values: Sequence[str | None]) -> bool:
        text = values[slot]
        return text is not None and any(p.fullmatch(text) for p in patterns)

    if node.op == "~":
        return matches
    return lambda values: not matches(values)

"""Graphviz DOT: a small tokenizer and parser for the subset a topology needs.

Read: ``graph``/``digraph`` (``strict`` allowed), node, edge and attribute statements,
subgraphs and ``{ … }`` groups as statements, edge chains, ``ID``s bare, numeric, quoted
(``"Ethernet1/1"``, ``\\"`` escapes, ``+`` concatenation, ``\\``-newline continuation) or HTML
(``<…>``), ``//``, ``/* */`` and ``#`` line comments. Every node is a switch. An edge's port
names come, per end, from the first of: the node ID's port (``leaf1:swp1 -- spine1:"Ethernet1/1"``),
``tailport``/``headport``, ``taillabel``/``headlabel``, or ``label="swp1 -- swp2"``. Optional
``id`` names the link; node attributes ``agent`` (the sFlow agent address) and ``ifindex``
(``"swp1=3 swp2=4"``) fill the ``nodes`` block. Default attribute statements (``node [...]``,
``edge [...]``, ``graph [...]``) are read and ignored.
"""

from __future__ import annotations

import itertools
import re
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from topology.importers.fabric_links import ImportResult, LinkCollector
from topology.importers.source import ImportOptions, Source, agent_address

MAX_DEPTH = 64  # nested subgraphs; deeper input is refused rather than recursed into

COMPASS = frozenset({"n", "ne", "e", "se", "s", "sw", "w", "nw", "c", "_"})
KEYWORDS = frozenset({"strict", "graph", "digraph", "subgraph", "node", "edge"})
LABEL_PORTS = re.compile(r"^\s*(\S+)\s*(?:--|->|<->)\s*(\S+)\s*$")

_TOKEN = re.compile(
    r"""
    (?P<space>[ \t\r\f\v]+)
  | (?P<newline>\n)
  | (?P<line_comment>//[^\n]*)
  | (?P<block_comment>/\*.*?\*/)
  | (?P<edgeop>--|->)
  | (?P<numeral>-?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?))
  | (?P<bare>[A-Za-z_\x80-\U0010ffff][A-Za-z_0-9\x80-\U0010ffff]*)
  | (?P<punct>[{}\[\];,=:+])
  | (?P<quote>")
  | (?P<html><)
    """,
    re.VERBOSE | re.DOTALL,
)


@dataclass(frozen=True, slots=True)
class Token:
    """A DOT token: ``kind`` is ``id``, ``edgeop``, ``keyword`` or the punctuation itself."""

    kind: str
    text: str
    line: int


def _quoted(source: Source, text: str, start: int, line: int) -> tuple[str, int, int]:
    """The string starting after the ``"`` at ``start``: (value, end offset, newlines inside)."""
    out: list[str] = []
    i, newlines = start + 1, 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return "".join(out), i + 1, newlines
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "\n":  # line continuation
                newlines += 1
                i += 2
                continue
            if nxt in '"\\':
                out.append(nxt)
                i += 2
                continue
        if ch == "\n":
            newlines += 1
        out.append(ch)
        i += 1
    raise source.error(f"line {line}", "unterminated quoted string")


def _html(source: Source, text: str, start: int, line: int) -> tuple[str, int, int]:
    depth, i = 0, start
    while i < len(text):
        if text[i] == "<":
            depth += 1
        elif text[i] == ">":
            depth -= 1
            if depth == 0:
                body = text[start + 1 : i]
                return body, i + 1, body.count("\n")
        i += 1
    raise source.error(f"line {line}", "unterminated HTML string")


def tokenize(source: Source) -> Iterator[Token]:
    """The tokens of a DOT text, each with its line number."""
    text, pos, line = source.text, 0, 1
    at_line_start = True
    while pos < len(text):
        if at_line_start and text[pos] == "#":  # C preprocessor output line
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            if text.startswith("/*", pos):
                raise source.error(f"line {line}", "unterminated /* comment")
            raise source.error(f"line {line}", f"unexpected character {text[pos]!r}")
        kind = match.lastgroup
        at_line_start = kind == "newline" or (at_line_start and kind == "space")
        if kind == "newline":
            line += 1
        elif kind == "block_comment":
            line += match.group().count("\n")
        elif kind in ("quote", "html"):
            reader = _quoted if kind == "quote" else _html
            value, end, newlines = reader(source, text, pos, line)
            yield Token("id", value, line)
            line += newlines
            pos = end
            continue
        elif kind == "bare":
            word = match.group()
            is_keyword = word.lower() in KEYWORDS
            yield Token(
                "keyword" if is_keyword else "id", word.lower() if is_keyword else word, line
            )
        elif kind == "numeral":
            yield Token("id", match.group(), line)
        elif kind in ("edgeop", "punct"):
            yield Token("edgeop" if kind == "edgeop" else match.group(), match.group(), line)
        pos = match.end()


@dataclass(frozen=True, slots=True)
class NodeRef:
    """A node ID in an edge, with the port written after it (``leaf1:swp1``), if any."""

    name: str
    port: str | None
    line: int


@dataclass(frozen=True, slots=True)
class Edge:
    """One edge of the graph (chains are split into pairs) with its attributes."""

    tail: NodeRef
    head: NodeRef
    attrs: dict[str, str]
    line: int


@dataclass
class Graph:
    """What the parser keeps: node attributes (merged over statements) and edges in order."""

    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    node_lines: dict[str, int] = field(default_factory=dict)
    edges: list[Edge] = field(default_factory=list)


class _Parser:
    def __init__(self, source: Source) -> None:
        self.source = source
        # Tokens are read as the parser goes (two ahead at most), never all held at once.
        self._tokens = tokenize(source)
        self._ahead: deque[Token] = deque()
        self._last_line = 1  # line of the last token taken
        self.taken = 0  # tokens taken so far
        self.graph = Graph()

    def _peek(self, offset: int = 0) -> Token | None:
        while len(self._ahead) <= offset:
            token = next(self._tokens, None)
            if token is None:
                return None
            self._ahead.append(token)
        return self._ahead[offset]

    def _take(self, count: int = 1) -> None:
        for _ in range(count):
            self._last_line = self._ahead.popleft().line
        self.taken += count

    def _line(self) -> int:
        token = self._peek()
        return token.line if token is not None else self._last_line

    def _fail(self, message: str) -> Exception:
        return self.source.error(f"line {self._line()}", message)

    def _next(self, kind: str, what: str) -> Token:
        token = self._peek()
        if token is None or token.kind != kind:
            found = "end of file" if token is None else repr(token.text)
            raise self._fail(f"expected {what}, found {found}")
        self._take()
        return token

    def _accept(self, kind: str, text: str | None = None) -> Token | None:
        token = self._peek()
        if token is not None and token.kind == kind and (text is None or token.text == text):
            self._take()
            return token
        return None

    def _id(self, what: str) -> str:
        """An ID, concatenating ``"a" + "b"``."""
        value = self._next("id", what).text
        while self._accept("+"):
            value += self._next("id", "a string after '+'").text
        return value

    def parse(self) -> Graph:
        self._accept("keyword", "strict")
        if not (self._accept("keyword", "graph") or self._accept("keyword", "digraph")):
            raise self._fail("expected 'graph' or 'digraph'")
        self._accept("id")
        self._next("{", "'{'")
        self._statements(0)
        self._next("}", "'}'")
        if self._peek() is not None:
            raise self._fail("text after the end of the graph")
        return self.graph

    def _statements(self, depth: int) -> list[str]:
        """Parse statements up to the closing ``}``; returns the nodes they mention."""
        if depth > MAX_DEPTH:
            raise self._fail(f"subgraphs nested deeper than {MAX_DEPTH}")
        mentioned: list[str] = []
        while True:  # bounded: every pass takes a token or raises
            token = self._peek()
            if token is None or token.kind == "}":
                return mentioned
            if token.kind in (";", ","):
                self._take()
                continue
            before = self.taken
            mentioned.extend(self._statement(depth))
            if self.taken == before:
                raise self._fail("parser made no progress")

    def _attr_list(self) -> dict[str, str]:
        attrs: dict[str, str] = {}
        while self._accept("["):
            while not self._accept("]"):
                key = self._id("an attribute name")
                self._next("=", f"'=' after {key}")
                attrs[key] = self._id(f"a value for {key}")
                self._accept(",") or self._accept(";")
        return attrs

    def _node_ref(self) -> NodeRef:
        line = self._line()
        name = self._id("a node ID")
        port: str | None = None
        if self._accept(":"):
            first = self._id("a port after ':'")
            if self._accept(":"):
                self._id("a compass point")
                port = first
            elif first not in COMPASS:
                port = first
        return NodeRef(name, port, line)

    def _subgraph(self, depth: int) -> list[str]:
        if self._accept("keyword", "subgraph"):
            self._accept("id")
        self._next("{", "'{'")
        inner = self._statements(depth + 1)
        self._next("}", "'}'")
        return inner

    def _statement(self, depth: int) -> list[str]:
        token = self._peek()
        assert token is not None
        line = token.line
        if token.kind == "keyword" and token.text in ("graph", "node", "edge"):
            self._take()
            self._attr_list()  # defaults carry nothing a topology uses
            return []
        if token.kind == "id" and (nxt := self._peek(1)) is not None and nxt.kind == "=":
            self._take(2)
            self._id("a value")  # graph attribute (rankdir=LR, …)
            return []
        if token.kind == "{" or (token.kind == "keyword" and token.text == "subgraph"):
            inner = self._subgraph(depth)
            if self._accept("edgeop"):
                raise self._fail("an edge to or from a subgraph has no port names; list edges")
            return inner
        ends = [self._node_ref()]
        while self._accept("edgeop"):
            after = self._peek()
            if after is not None and (after.kind == "{" or after.text == "subgraph"):
                raise self._fail("an edge to or from a subgraph has no port names; list edges")
            ends.append(self._node_ref())
        attrs = self._attr_list()
        if len(ends) == 1:
            node = ends[0].name
            self.graph.nodes.setdefault(node, {}).update(attrs)
            self.graph.node_lines.setdefault(node, line)
            return [node]
        for tail, head in itertools.pairwise(ends):
            self.graph.edges.append(Edge(tail, head, attrs, tail.line))
        for end in ends:
            self.graph.nodes.setdefault(end.name, {})
            self.graph.node_lines.setdefault(end.name, end.line)
        return [end.name for end in ends]


def parse_dot(source: Source) -> Graph:
    """Parse a DOT text into nodes and edges; errors name the line."""
    return _Parser(source).parse()


def _port_from_attr(value: str | None) -> str | None:
    if value is None:
        return None
    port = value
    if ":" in port and port.rsplit(":", 1)[1] in COMPASS:  # "swp1:n" → swp1
        port = port.rsplit(":", 1)[0]
    return port or None


def edge_ports(source: Source, edge: Edge) -> tuple[str, str]:
    """The (tail, head) port names of an edge, by the documented precedence."""
    attrs = edge.attrs
    tail = edge.tail.port or _port_from_attr(attrs.get("tailport")) or attrs.get("taillabel")
    head = edge.head.port or _port_from_attr(attrs.get("headport")) or attrs.get("headlabel")
    label = attrs.get("label")
    if (tail is None or head is None) and label is not None:
        found = LABEL_PORTS.match(label)
        if found is None:
            raise source.error(
                f"line {edge.line}", f'label {label!r} is not of the form "PORT -- PORT"'
            )
        tail = tail or found.group(1)
        head = head or found.group(2)
    # Port names are taken exactly as written (like node IDs): only an empty one is missing.
    if not tail or not head:
        raise source.error(
            f"line {edge.line}",
            f"edge {edge.tail.name} -- {edge.head.name} has no port name for "
            f"{edge.tail.name if not tail else edge.head.name} (use {edge.tail.name}:PORT, "
            'tailport/headport, taillabel/headlabel or label="PORT -- PORT")',
        )
    return tail, head


def _ifindexes(source: Source, where: str, text: str) -> dict[str, int]:
    ports: dict[str, int] = {}
    for item in text.split():
        port, sep, number = item.rpartition("=")
        if not sep or not port or not number.isdigit() or not number.isascii():
            raise source.error(where, f"ifindex entry {item!r} is not PORT=NUMBER")
        ports[port] = int(number)
    return ports


def import_dot(sources: Sequence[Source], options: ImportOptions) -> ImportResult:
    """Links (and agents, ifIndexes) from DOT files; several files are merged."""
    del options  # every DOT node is a switch
    collector = LinkCollector(sources[0].name if sources else "")
    for source in sources:
        graph = parse_dot(source)
        for name, attrs in graph.nodes.items():
            where = f"line {graph.node_lines[name]}"
            agent = attrs.get("agent")
            ports = _ifindexes(source, where, attrs.get("ifindex", ""))
            if ports and agent is None:
                raise source.error(where, f"node {name} has ifindex but no agent")
            collector.add_node(name, agent_address(source, where, agent) if agent else None, ports)
        for edge in graph.edges:
            tail, head = edge_ports(source, edge)
            collector.add_link(
                (edge.tail.name, tail),
                (edge.head.name, head),
                f"line {edge.line}",
                edge.attrs.get("id"),
                source=source.name,
            )
    return ImportResult(collector.build())

"""Review findings in the topology importers."""

from __future__ import annotations

import json
import tracemalloc

import pytest

from topology.importers import ImportOptions, Source, TopologyImportError, import_netq
from topology.importers.dot import parse_dot
from topology.importers.fabric_links import LinkCollector


def test_netq_bare_array_errors_name_the_row_as_it_is_in_the_file() -> None:
    """``netq show lldp json`` may be a bare array: its rows are ``[i]``, not ``lldp[i]``."""
    rows = [
        {"hostname": "leaf1", "ifname": "swp1", "peerHostname": "spine1", "peerIfname": "swp1"},
        {"ifname": "swp2", "peerHostname": "spine1", "peerIfname": "swp2"},
    ]
    with pytest.raises(TopologyImportError) as caught:
        import_netq([Source("n.json", json.dumps(rows))], ImportOptions())
    assert str(caught.value) == "n.json: [1].hostname: missing"
    wrapped = json.dumps({"lldp": rows})
    with pytest.raises(TopologyImportError) as caught:
        import_netq([Source("n.json", wrapped)], ImportOptions())
    assert str(caught.value) == "n.json: lldp[1].hostname: missing"


def test_parallel_links_get_the_next_free_serial_name() -> None:
    """Unnamed parallel links between two switches are a-b, a-b-2, … skipping names already
    given, whatever their order (the names must not depend on how they are searched for)."""
    collector = LinkCollector("f.dot")
    collector.add_link(("a", "p1"), ("b", "q1"), "line 1")
    collector.add_link(("a", "p2"), ("b", "q2"), "line 2", name="a-b-3")
    collector.add_link(("a", "p3"), ("b", "q3"), "line 3")
    collector.add_link(("b", "q9"), ("c", "r9"), "line 4")
    collector.add_link(("a", "p4"), ("b", "q4"), "line 5")
    collector.add_link(("a", "p5"), ("b", "q5"), "line 6")
    topology = collector.build()
    by_ports = {(link.port1, link.port2): name for name, link in topology.links.items()}
    assert by_ports == {
        ("p1", "q1"): "a-b",
        ("p2", "q2"): "a-b-3",
        ("p3", "q3"): "a-b-2",
        ("q9", "r9"): "b-c",
        ("p4", "q4"): "a-b-4",
        ("p5", "q5"): "a-b-5",
    }


def test_thousands_of_parallel_links_are_named_one_by_one() -> None:
    """3,000 unnamed links between one pair: a-b, a-b-2 … a-b-3000, each once."""
    collector = LinkCollector("f.dot")
    for i in range(3000):
        collector.add_link(("a", f"p{i}"), ("b", f"q{i}"), f"line {i + 1}")
    names = set(collector.build().links)
    assert names == {"a-b"} | {f"a-b-{n}" for n in range(2, 3001)}


def test_dot_parser_does_not_hold_every_token_at_once() -> None:
    """The parser reads tokens as it goes: 100,000 empty statements (";", 100 kB) need far less
    memory than 100,000 Token objects (about 70 bytes each, 7 MB) would."""
    text = "graph g {\n" + ";" * 100_000 + "\n a:p1 -- b:p2\n}\n"
    tracemalloc.start()
    try:
        graph = parse_dot(Source("big.dot", text))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(e.tail.name, e.tail.port, e.head.name, e.head.port) for e in graph.edges] == [
        ("a", "p1", "b", "p2")
    ]
    assert peak < 2_000_000, f"peak {peak} bytes for a {len(text)}-byte file"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            'graph g {\n a -- b [label="p1 -- p2"]\n',
            "f.dot: line 2: expected '}', found end of file",
        ),
        (
            "graph g {\n a:p1 -- b:p2 [id=\n",
            "f.dot: line 2: expected a value for id, found end of file",
        ),
        ("graph g {\n a:p1 -- b:p2\n} x", "f.dot: line 3: text after the end of the graph"),
        ("graph g {\n a:p1 -- b:p2\n ! }", "f.dot: line 3: unexpected character '!'"),
        ("", "f.dot: line 1: expected 'graph' or 'digraph'"),
    ],
)
def test_dot_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(TopologyImportError) as caught:
        parse_dot(Source("f.dot", text))
    assert str(caught.value) == message

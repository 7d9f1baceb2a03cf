"""Topology importers on hand-written inputs in each source's documented shape.

The expected links below are read off the fixture files by hand (tests/fixtures/topology), not
copied from an import: each fixture has ports with slashes, breakout ports, LAG members, hosts and
(for LLDP) the same cable reported from both ends and twice from one end. Every result is checked
through ``TopologyIndex`` for which ports are core, and bad input for a one-line message naming
the file and the line or JSON object. Large inputs stay cheap: the DOT parser does not hold every
token at once, and thousands of parallel links are named one by one.
"""

from __future__ import annotations

import json
import socket
import time
import tracemalloc
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decoders.records import PortName
from tests.e2e_support import Metrics, start_serve
from tests.fabric_builders import counters, datagram, if_counters, wire
from topology import CORE, EDGE, Topology, TopologyIndex, parse_topology, topology_to_json
from topology.importers import (
    ImportOptions,
    Source,
    TopologyImportError,
    import_clab,
    import_dot,
    import_eapi,
    import_netbox,
    import_netq,
)
from topology.importers.dot import parse_dot
from topology.importers.fabric_links import LinkCollector
from topology.importers.source import source_from_bytes

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "topology"

Pair = frozenset[tuple[str, str]]


def source(name: str) -> Source:
    return Source(name, (FIXTURES / name).read_text(encoding="utf-8"))


def pair(a: str, b: str) -> Pair:
    """A link written as 'node/port' ends; the port may hold slashes, the node does not."""
    n1, p1 = a.split("/", 1)
    n2, p2 = b.split("/", 1)
    return frozenset(((n1, p1), (n2, p2)))


def pairs(topology: Topology) -> set[Pair]:
    return {
        frozenset(((link.node1, link.port1), (link.node2, link.port2)))
        for link in topology.links.values()
    }


def check_roles(topology: Topology, core: list[str], edge: list[str]) -> TopologyIndex:
    """The topology loads and classifies ``core``/``edge`` ('node/port') as expected."""
    reloaded = parse_topology(json.loads(json.dumps(topology.model_dump())))
    index = TopologyIndex(reloaded)
    for end in core:
        node, port = end.split("/", 1)
        assert index.port_info(node, port).role == CORE, end
    for end in edge:
        node, port = end.split("/", 1)
        assert index.is_node(node), end
        assert index.port_info(node, port).role == EDGE, end
    return index


def import_error(run: object, *args: object) -> str:
    with pytest.raises(TopologyImportError) as caught:
        run(*args)  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------------------------
# DOT

DOT_LINKS = {
    pair("leaf1/swp51", "spine1/Ethernet1/1"),
    pair("leaf1/swp52", "spine2/Ethernet1/1"),
    pair("leaf2/swp51", "spine1/Ethernet1/2"),
    pair("leaf2/swp52", "spine2/Ethernet1/2"),
    pair("leaf1/swp53s0", "spine2/Ethernet2/1/1"),
    pair("leaf1/swp53s1", "spine2/Ethernet2/1/2"),
    pair("leaf1/swp49", "leaf2/swp49"),
    pair("leaf1/swp50", "leaf2/swp50"),
}


def test_dot_every_port_convention() -> None:
    topology = import_dot([source("fabric.dot")], ImportOptions()).topology
    assert pairs(topology) == DOT_LINKS
    named = topology.links["leaf1-spine2-a"]
    assert (named.node1, named.port1, named.node2, named.port2) == (
        "leaf1",
        "swp52",
        "spine2",
        "Ethernet1/1",
    )
    assert {n: s.agent for n, s in topology.nodes.items()} == {
        "spine1": "10.1.0.1",
        "spine2": "10.1.0.2",
        "leaf1": "10.1.1.1",
        "leaf2": "10.1.1.2",
    }
    assert {p: s.ifindex for p, s in topology.nodes["spine2"].ports.items()} == {
        "Ethernet1/1": 1,
        "Ethernet1/2": 2,
        "Ethernet2/1": 5,
    }
    index = check_roles(
        topology,
        core=["leaf1/swp53s0", "spine2/Ethernet2/1/2", "leaf2/swp50", "spine1/Ethernet1/2"],
        edge=["spine2/Ethernet2/1"],
    )
    # The breakout parent is edge and mapped by ifindex; its members are core.
    assert index.explicit("10.1.0.2", 5) is not None
    assert index.explicit("10.1.0.2", 5).role == EDGE  # type: ignore[union-attr]


def test_dot_digraph_strict_concatenation_and_escapes() -> None:
    text = (
        "strict digraph {\n"
        '  "sw \\"a\\"" -> b [tailport="Ethernet" + "1/1", headport=e1];\n'
        "  c:x1 -> d:y1\n"
        '  /* multi\n     line */ f -> g [label="Eth1/1 -> Eth2/1"]; // trailing\n'
        "}\n"
    )
    topology = import_dot([Source("g.dot", text)], ImportOptions()).topology
    assert pairs(topology) == {
        frozenset((('sw "a"', "Ethernet1/1"), ("b", "e1"))),
        pair("c/x1", "d/y1"),
        pair("f/Eth1/1", "g/Eth2/1"),
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("graph {\n a -- b\n}", "g.dot: line 2: edge a -- b has no port name for a"),
        ("graph {\n\n a -- b [label=uplink]\n}", "g.dot: line 3: label 'uplink' is not"),
        ('graph {\n a [label="x\n', "g.dot: line 2: unterminated quoted string"),
        ("graph {\n a:p1 -- b:p2; a:p1 -- c:p3\n}", "g.dot: line 2: a/p1 links to c/p3 here"),
        ("graph {\n a:p1 -- a:p1\n}", "g.dot: line 2: both ends are a/p1"),
        ("graph {\n a:p1 -- b:p2 ;\n", "g.dot: line 2: expected '}', found end of file"),
        ("digraph {\n a @ b\n}", "g.dot: line 2: unexpected character '@'"),
        ("network {\n}", "g.dot: line 1: expected 'graph' or 'digraph'"),
        ('graph {\n a [ifindex="swp1=3"]\n}', "g.dot: line 2: node a has ifindex but no agent"),
        ('graph {\n a [agent="10.0.0.300"]\n}', "g.dot: line 2: '10.0.0.300' is not an IP"),
        ('graph {\n a [agent="1.2.3.4", ifindex=swp1]\n}', "g.dot: line 2: ifindex entry 'swp1'"),
        ("graph {\n a [agent=1.2.3.4]\n}", "g.dot: line 2: expected '=' after .3, found '.4'"),
        ("graph {\n /* open\n a -- b\n}", "g.dot: line 2: unterminated /* comment"),
        ("graph {\n a:p -- {b c}\n}", "g.dot: line 2: an edge to or from a subgraph"),
        # A chain puts the middle node's one port on two links.
        ("graph {\n c:x -- d:y -- e:z\n}", "g.dot: line 2: d/y links to e/z here but to c/x"),
    ],
)
def test_dot_errors_name_the_line(text: str, expected: str) -> None:
    assert import_error(import_dot, [Source("g.dot", text)], ImportOptions()).startswith(expected)


def test_dot_conflict_names_both_lines() -> None:
    text = "graph {\n a:p1 -- b:p2\n\n c:p3 -- b:p2\n}"
    message = import_error(import_dot, [Source("g.dot", text)], ImportOptions())
    assert message == "g.dot: line 4: b/p2 links to c/p3 here but to a/p1 at line 2"


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
def test_dot_parser_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(TopologyImportError) as caught:
        parse_dot(Source("f.dot", text))
    assert str(caught.value) == message


def test_undecodable_bytes_are_named() -> None:
    with pytest.raises(TopologyImportError, match=r"^x\.json: byte 2: not UTF-8 text$"):
        source_from_bytes("x.json", b'{"\xff')


# ---------------------------------------------------------------------------------------------
# containerlab


def test_clab_switch_links_and_agents_hosts_left_edge() -> None:
    topology = import_clab([source("clab-topology-data.json")], ImportOptions()).topology
    assert pairs(topology) == {
        pair("leaf1/Ethernet0", "spine1/e1-1"),
        pair("leaf1/Ethernet4", "spine1/e1-2"),
        pair("leaf2/eth1", "spine1/e1-3"),
        pair("spine1/e1-4/1", "leaf2/eth2"),
    }
    assert {n: s.agent for n, s in topology.nodes.items()} == {
        "spine1": "172.20.20.11",
        "leaf1": "172.20.20.21",
        "leaf2": "3fff:172:20:20::22",  # no IPv4 management address: the IPv6 one
    }
    index = check_roles(
        topology,
        core=["spine1/e1-4/1", "leaf2/eth2"],
        edge=["leaf1/Ethernet8", "leaf1/Ethernet12", "leaf2/eth3"],
    )
    assert not index.is_node("gpu1") and not index.is_node("host")


def test_clab_switches_pattern_overrides_kinds() -> None:
    options = ImportOptions(switches=("leaf*", "spine*", "gpu*"))
    topology = import_clab([source("clab-topology-data.json")], options).topology
    assert pair("gpu1/eth1", "leaf1/Ethernet8") in pairs(topology)
    assert len(topology.links) == 6  # the 'host' end of leaf1 Ethernet12 is never a node


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"nodes": {}, "links": [{"endpoints": {"a": {}}}]},
            'c.json: links[0].endpoints: expected ends "a" and "z"',
        ),
        (
            {"nodes": {"s": {"kind": "srl"}}, "links": [{"a": {"node": "s"}, "z": {}}]},
            "c.json: links[0].a.interface: missing",
        ),
        (
            {"nodes": {"s": {"kind": "srl", "mgmt-ipv4-address": "172.20.20.999"}}, "links": []},
            "c.json: nodes.s.mgmt-ipv4-address: '172.20.20.999' is not an IP address",
        ),
        ({"nodes": [], "links": []}, "c.json: nodes: expected an object, found array"),
    ],
)
def test_clab_errors_name_the_object(document: object, expected: str) -> None:
    sources = [Source("c.json", json.dumps(document))]
    assert import_error(import_clab, sources, ImportOptions()) == expected


# ---------------------------------------------------------------------------------------------
# NetQ

NETQ_LINKS = {
    pair("leaf01/swp49", "leaf02/swp49"),
    pair("leaf01/swp50", "leaf02/swp50"),
    pair("leaf01/swp51", "spine01/swp1"),
    pair("leaf01/swp52", "spine02.dc1.example.net/swp1"),
    pair("leaf01/swp53s0", "spine01/swp5s0"),
    pair("leaf01/swp53s1", "spine01/swp5s1"),
    pair("leaf02/swp51", "spine01/swp2"),
    pair("leaf02/swp52", "spine02.dc1.example.net/swp2"),
}


def test_netq_switch_links_hosts_and_repeats() -> None:
    options = ImportOptions(switches=("leaf*", "spine*"))
    result = import_netq([source("netq-lldp.json")], options)
    # leaf02 names its spine by the short name; spine02 reports its FQDN: one switch.
    assert pairs(result.topology) == NETQ_LINKS
    index = check_roles(
        result.topology,
        core=["leaf01/swp53s1", "spine01/swp5s0", "leaf02/swp50"],
        edge=["leaf01/swp1", "leaf01/swp2", "leaf01/eth0", "leaf02/swp1", "leaf02/swp3"],
    )
    assert not index.is_node("server01") and not index.is_node("oob-mgmt-switch")
    # 16 switch-to-switch rows for 8 links, one of them listed twice: 9 repeats.
    assert "9 LLDP rows repeat a link already seen (merged)" in result.notes
    assert "5 switch ports face hosts or other devices (left edge)" in result.notes


def test_netq_without_switches_every_reporting_device_is_a_switch() -> None:
    # server01 runs the NetQ agent, so without --switches it reports like a switch does.
    topology = import_netq([source("netq-lldp.json")], ImportOptions()).topology
    assert pairs(topology) == NETQ_LINKS | {
        pair("leaf01/swp1", "server01/eth1"),
        pair("leaf02/swp1", "server01/eth2"),
    }


def test_netq_errors_name_the_row() -> None:
    bad_row = {"lldp": [{"hostname": "a", "ifname": "swp1"}, {"hostname": "b"}]}
    message = import_error(import_netq, [Source("n.json", json.dumps(bad_row))], ImportOptions())
    assert message == "n.json: lldp[1].ifname: missing"
    conflict = {
        "lldp": [
            {"hostname": "l1", "ifname": "swp51", "peerHostname": "s1", "peerIfname": "swp1"},
            {"hostname": "s1", "ifname": "swp1", "peerHostname": "l2", "peerIfname": "swp51"},
            {"hostname": "l2", "ifname": "swp51", "peerHostname": "s1", "peerIfname": "swp1"},
        ]
    }
    message = import_error(import_netq, [Source("n.json", json.dumps(conflict))], ImportOptions())
    assert "s1/swp1 links to" in message and "lldp[0]" in message and "lldp[1]" in message
    message = import_error(import_netq, [Source("n.json", '{"lldp": [\n  {,\n]}')], ImportOptions())
    assert message.startswith("n.json: line 2: invalid JSON: ")
    message = import_error(import_netq, [Source("n.json", '{"bgp": []}')], ImportOptions())
    assert message.startswith('n.json: no "lldp" array')


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


# ---------------------------------------------------------------------------------------------
# Arista eAPI

EAPI_FILES = ["eapi/leaf1.json", "eapi/leaf2.json", "eapi/spine1-eapi-reply.json"]
EAPI_LINKS = {
    pair("leaf1/Ethernet47/1", "leaf2/Ethernet47/1"),
    pair("leaf1/Ethernet48/1", "leaf2/Ethernet48/1"),
    pair("leaf1/Ethernet49/1", "spine1/Ethernet1/1"),
    pair("leaf1/Ethernet51/1", "spine1/Ethernet3/1/1"),
    pair("leaf1/Ethernet51/2", "spine1/Ethernet3/1/2"),
    pair("leaf2/Ethernet49/1", "spine1/Ethernet1/2"),
}


def test_eapi_one_file_per_switch() -> None:
    result = import_eapi([source(f) for f in EAPI_FILES], ImportOptions())
    # spine2 sent no file: without --switches it is not known to be a switch.
    assert pairs(result.topology) == EAPI_LINKS
    check_roles(
        result.topology,
        core=["spine1/Ethernet3/1/1", "leaf1/Ethernet48/1"],
        edge=["leaf1/Ethernet1/1", "leaf1/Ethernet2/1", "leaf1/Management1", "leaf1/Ethernet50/1"],
    )


def test_eapi_switches_pattern_adds_the_switch_without_a_file() -> None:
    options = ImportOptions(switches=("leaf*", "spine*"))
    topology = import_eapi([source(f) for f in EAPI_FILES], options).topology
    assert pairs(topology) == EAPI_LINKS | {
        pair("leaf1/Ethernet50/1", "spine2/Ethernet1/1"),
        pair("leaf2/Ethernet50/1", "spine2/Ethernet1/2"),
    }


def test_eapi_name_option_and_errors() -> None:
    one = Source("capture-0412.json", (FIXTURES / "eapi/leaf1.json").read_text())
    topology = import_eapi([one], ImportOptions(name="leaf1", switches=("leaf*",))).topology
    assert pair("leaf1/Ethernet47/1", "leaf2/Ethernet47/1") in pairs(topology)
    two = [source(f) for f in EAPI_FILES[:2]]
    assert "--name names the switch of a single" in import_error(
        import_eapi, two, ImportOptions(name="x")
    )
    twice = [source("eapi/leaf1.json"), Source("x/leaf1.json", '{"lldpNeighbors": []}')]
    assert import_error(import_eapi, twice, ImportOptions()) == (
        "x/leaf1.json: switch leaf1 already read from eapi/leaf1.json"
    )
    detail = Source("d.json", json.dumps({"lldpNeighbors": {"Ethernet1": {}}}))
    assert import_error(import_eapi, [detail], ImportOptions()).startswith(
        "d.json: lldpNeighbors: an object: this is `show lldp neighbors detail`"
    )
    missing = Source("m.json", json.dumps({"result": [{}, {"lldpNeighbors": [{"ttl": 120}]}]}))
    assert import_error(import_eapi, [missing], ImportOptions()) == (
        "m.json: result[1].lldpNeighbors[0].port: missing"
    )


# ---------------------------------------------------------------------------------------------
# NetBox

NETBOX_FILES = ["netbox-cables.json", "netbox-cables-page2-legacy.json", "netbox-devices.json"]
NETBOX_LINKS = {
    pair("leaf-01/Ethernet1/49", "spine-01/Ethernet1/1"),
    pair("leaf-02/Ethernet1/49", "spine-01/Ethernet1/2"),
    pair("leaf-01/Ethernet1/50/1", "spine-01/Ethernet1/3/1"),
    pair("leaf-01/Ethernet1/53", "leaf-02/Ethernet1/53"),
    pair("leaf-02/Ethernet1/54", "leaf-01/Ethernet1/54"),
}


def test_netbox_roles_keep_switch_cables() -> None:
    options = ImportOptions(roles=("leaf", "Spine"))  # slug or name, any case
    result = import_netbox([source(f) for f in NETBOX_FILES], options)
    assert pairs(result.topology) == NETBOX_LINKS
    assert {n: s.agent for n, s in result.topology.nodes.items()} == {
        "leaf-01": "10.2.0.11",
        "leaf-02": "10.2.0.12",  # its role is in the older device_role field
        "spine-01": "10.2.0.1",
    }
    index = check_roles(
        result.topology,
        core=["leaf-01/Ethernet1/50/1", "spine-01/Ethernet1/3/1"],
        edge=["leaf-01/Ethernet1/1", "leaf-02/Ethernet1/50", "leaf-01/Ethernet1/51"],
    )
    assert not index.is_node("gpu-node-01") and not index.is_node("pp-01")
    assert result.notes == (
        "1 cables skipped: not connected",
        "3 cables skipped: not one interface at each end",
        "1 cables skipped: to a device that is not a switch",
    )


def test_netbox_without_roles_every_listed_device_is_a_switch() -> None:
    topology = import_netbox([source(f) for f in NETBOX_FILES], ImportOptions()).topology
    assert pairs(topology) == NETBOX_LINKS | {pair("gpu-node-01/ens1f0np0", "leaf-01/Ethernet1/1")}


def test_netbox_errors() -> None:
    cables = [source("netbox-cables.json")]
    assert "--roles needs the devices export" in import_error(
        import_netbox, cables, ImportOptions(roles=("leaf",))
    )
    cable = {
        "id": 4,
        "a_terminations": [{"object_type": "dcim.interface", "object": {"name": "swp1"}}],
        "b_terminations": [],
    }
    message = import_error(
        import_netbox, [Source("c.json", json.dumps({"results": [cable]}))], ImportOptions()
    )
    assert message == (
        "c.json: results[0].a_terminations[0].object: interface without a name or a device name"
    )
    message = import_error(
        import_netbox, [Source("c.json", json.dumps({"results": [{"id": 1}]}))], ImportOptions()
    )
    assert message == "c.json: results[0]: no a_terminations or termination_a"


# ---------------------------------------------------------------------------------------------
# Names of unnamed parallel links (every importer's links go through LinkCollector)


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


# ---------------------------------------------------------------------------------------------
# An imported topology in a real collector

# The containerlab fixture's switch ports, read off the file: link ends, and host-facing ports.
CLAB_PORTS = {
    # agent: [(ifindex, port name, role)]
    "172.20.20.21": [(1, "Ethernet0", CORE), (2, "Ethernet4", CORE), (3, "Ethernet8", EDGE),
                     (4, "Ethernet12", EDGE)],
    "172.20.20.11": [(1, "e1-1", CORE), (2, "e1-2", CORE), (3, "e1-3", CORE),
                     (4, "e1-4/1", CORE), (5, "e1-5", EDGE)],
    "3fff:172:20:20::22": [(1, "eth1", CORE), (2, "eth2", CORE), (3, "eth3", EDGE)],
}  # fmt: skip


def _send_port_counters(port: int) -> None:
    """Three datagrams per switch agent, each with every port's name and counters (oper up)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for sequence in range(1, 4):
            for agent, ports in CLAB_PORTS.items():
                samples = tuple(
                    counters(sequence, ifindex, (PortName(name), if_counters(ifindex)))
                    for ifindex, name, _ in ports
                )
                sock.sendto(wire(datagram(agent, sequence, samples)), ("127.0.0.1", port))


def test_imported_topology_classifies_ports_in_serve(tmp_path: Path) -> None:
    topology_file = tmp_path / "topology.json"
    result = import_clab([source("clab-topology-data.json")], ImportOptions())
    topology_file.write_text(json.dumps(topology_to_json(result.topology)))
    served = start_serve(topology_file, 1)
    try:
        _send_port_counters(served.sflow_port)
        expected = Counter(role for ports in CLAB_PORTS.values() for _, _, role in ports)
        deadline = time.monotonic() + 20
        while True:
            scrape = Metrics(served.metrics())
            seen = {
                role: scrape.one("fabricscope_ports", role=role, status="up")
                for role in (CORE, EDGE)
            }
            if seen == expected or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert seen == {CORE: 8, EDGE: 4} == expected
        url = f"http://127.0.0.1:{served.http_port}/topology/status/json"
        with urllib.request.urlopen(url, timeout=10) as response:
            status = json.loads(response.read())
        assert status["links"] == {"total": 4, "unmonitored": 0, "down": 0, "up": 4}
        assert status["nodes"]["unmonitored"] == 0
        assert status["agents"]["unknown"] == 0
    finally:
        served.stop()


# ---------------------------------------------------------------------------------------------
# Hostile input: anything but a TopologyImportError is a bug

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
# Keys the importers look for, so that generated objects reach past the first checks.
_KEYS = st.sampled_from([
    "lldp", "hostname", "ifname", "peerHostname", "peerIfname", "lldpNeighbors", "port",
    "neighborDevice", "neighborPort", "result", "nodes", "links", "endpoints", "a", "z", "node",
    "interface", "kind", "mgmt-ipv4-address", "results", "a_terminations", "b_terminations",
    "termination_a", "termination_b", "termination_a_type", "object_type", "object", "device",
    "name", "status", "value", "device_type", "role", "primary_ip4", "address",
])  # fmt: skip
_SHAPED = st.recursive(
    st.none()
    | st.integers(-1, 3)
    | st.sampled_from(["swp1", "leaf1", "dcim.interface", "1.2.3.4"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=30,
)
_IMPORTERS = [import_clab, import_netq, import_eapi, import_netbox]


@settings(max_examples=150, deadline=None)
@given(document=_JSON | _SHAPED, which=st.integers(0, len(_IMPORTERS) - 1))
def test_json_importers_fail_only_with_located_errors(document: object, which: int) -> None:
    try:
        _IMPORTERS[which]([Source("h.json", json.dumps(document))], ImportOptions())
    except TopologyImportError as exc:
        assert str(exc).startswith("h.json: ")
        assert "\n" not in str(exc)


_DOT_PIECES = st.sampled_from([
    "graph", "digraph", "strict", "subgraph", "node", "edge", "{", "}", "[", "]", ";", ",", "=",
    ":", "--", "->", "+", '"a/b"', '"x\\"y"', "<<b>x</b>>", "a", "b", "swp1", "-1.5", "label",
    '"p -- q"', "tailport", "headport", "agent", '"10.0.0.1"', "ifindex", '"p=1 q=2"', "id",
    "/* c */", "// c\n", "\n#x\n", " ", "\n", "\\\n", '"', "<", "/*",
])  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(_DOT_PIECES, max_size=40) | st.lists(st.text(max_size=5), max_size=10))
def test_dot_importer_fails_only_with_located_errors(pieces: list[str]) -> None:
    text = " ".join(pieces)
    try:
        import_dot([Source("h.dot", text)], ImportOptions())
    except TopologyImportError as exc:
        assert str(exc).startswith("h.dot: ")
        assert "\n" not in str(exc)


def test_lldp_names_that_are_addresses_are_not_shortened() -> None:
    # A neighbour known only by its management address must not match switch "10.0.0.1" by a
    # shared first label "10".
    rows = {
        "lldp": [
            {
                "hostname": "10.0.0.1",
                "ifname": "swp1",
                "peerHostname": "10.0.0.2",
                "peerIfname": "p",
            },
            {"hostname": "10.0.0.1", "ifname": "swp2", "peerHostname": "sw2", "peerIfname": "swp9"},
            {"hostname": "sw2", "ifname": "swp9", "peerHostname": "10.0.0.1", "peerIfname": "swp2"},
        ]
    }
    topology = import_netq([Source("n.json", json.dumps(rows))], ImportOptions()).topology
    assert pairs(topology) == {pair("10.0.0.1/swp2", "sw2/swp9")}

"""Topology: parsing, located errors, edge/core classification and (agent, ifIndex) resolution."""

from __future__ import annotations

import copy
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from topology import (
    CORE,
    EDGE,
    PortResolver,
    TopologyError,
    TopologyIndex,
    load_topology,
    parse_topology,
    topology_to_json,
)
from topology.model import MAX_TOPOLOGY_BYTES

EXAMPLE: dict[str, Any] = {
    "links": {
        "L1": {"node1": "leaf1", "port1": "swp1", "node2": "spine1", "port2": "swp1"},
        "L2": {"node1": "leaf2", "port1": "swp1", "node2": "spine1", "port2": "swp2"},
    },
    "nodes": {
        "leaf1": {
            "agent": "10.0.0.1",
            "ports": {"swp1": {"ifindex": "3"}, "swp3": {"ifindex": "5"}},
        },
        "leaf2": {
            "agent": "10.0.0.2",
            "ports": {"swp1": {"ifindex": "3"}, "swp3": {"ifindex": "5"}},
        },
        "spine1": {
            "agent": "10.0.0.3",
            "ports": {"swp1": {"ifindex": "3"}, "swp2": {"ifindex": 4}},
        },
    },
}


def _error(document: Any) -> str:
    with pytest.raises(TopologyError) as info:
        parse_topology(document)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_example_parses_and_classifies() -> None:
    index = TopologyIndex(parse_topology(json.dumps(EXAMPLE)))
    assert index.explicit("10.0.0.1", 3) is not None
    leaf_uplink = index.explicit("10.0.0.1", 3)
    assert leaf_uplink is not None
    assert (leaf_uplink.node, leaf_uplink.port, leaf_uplink.role, leaf_uplink.link) == (
        "leaf1",
        "swp1",
        CORE,
        "L1",
    )
    host_port = index.explicit("10.0.0.2", 5)
    assert host_port is not None and host_port.role == EDGE and host_port.link is None
    assert index.explicit("10.0.0.3", 4) is not None
    assert index.explicit("10.0.0.9", 3) is None
    assert index.node_names == {"leaf1", "leaf2", "spine1"}
    assert index.link_count == 2 and index.mapped_port_count == 6


def test_links_only_topology_is_valid() -> None:
    topology = parse_topology({"links": EXAMPLE["links"]})
    assert topology.nodes == {}


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["links"]["L2"].pop("port2"), "links.L2.port2: field required"),
        (lambda d: d.pop("links"), "links: field required"),
        (
            lambda d: d["links"]["L1"].update(speed=1),
            "links.L1.speed: extra inputs are not permitted",
        ),
        (lambda d: d.update(link={}), "link: extra inputs are not permitted"),
        (
            lambda d: d["nodes"]["leaf1"]["ports"]["swp3"].update(ifindex="x5"),
            "nodes.leaf1.ports.swp3.ifindex: ifindex must be an integer or a string of digits",
        ),
        (
            lambda d: d["nodes"]["leaf1"]["ports"]["swp3"].update(ifindex=0),
            "nodes.leaf1.ports.swp3.ifindex: ifindex must be between 1 and 4294967295",
        ),
        (
            lambda d: d["nodes"]["leaf2"].update(agent="10.0.0.300"),
            "nodes.leaf2.agent: agent '10.0.0.300' is not an IPv4 or IPv6 address",
        ),
        (
            lambda d: d["nodes"]["leaf2"].update(agent="10.0.0.1"),
            "nodes.leaf2.agent: 10.0.0.1 is already the agent of node leaf1",
        ),
        (
            lambda d: d["nodes"]["leaf1"]["ports"]["swp3"].update(ifindex=3),
            "nodes.leaf1.ports.swp3.ifindex: 3 is already the ifindex of port swp1",
        ),
        (
            lambda d: d["links"].update(
                L3={"node1": "leaf2", "port1": "swp9", "node2": "leaf1", "port2": "swp1"}
            ),
            "links.L3.port2: leaf1/swp1 is already an end of link L1",
        ),
        (
            lambda d: d["links"].update(
                L3={"node1": "leaf2", "port1": "swp9", "node2": "leaf2", "port2": "swp9"}
            ),
            "links.L3: both ends are leaf2/swp9",
        ),
        (
            lambda d: d["links"]["L1"].update(node1=""),
            "links.L1.node1: string should have at least 1 character",
        ),
    ],
)
def test_errors_name_the_json_location(mutate: Any, expected: str) -> None:
    document = copy.deepcopy(EXAMPLE)
    mutate(document)
    assert _error(json.dumps(document)) == expected


def test_several_errors_are_summarised_on_one_line() -> None:
    document = copy.deepcopy(EXAMPLE)
    document["links"]["L1"].pop("port1")
    document["links"]["L2"].pop("port2")
    assert _error(document) == "links.L1.port1: field required (and 1 more)"


def test_invalid_json_is_one_line() -> None:
    message = _error('{"links": {')
    assert message.startswith("invalid JSON")


def test_load_topology_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "topo.json"
    document = copy.deepcopy(EXAMPLE)
    document["links"]["L2"].pop("port2")
    path.write_text(json.dumps(document))
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    assert str(info.value) == f"{path}: links.L2.port2: field required"
    with pytest.raises(TopologyError) as missing:
        load_topology(tmp_path / "absent.json")
    assert "No such file" in str(missing.value)


def test_load_topology_bounds_what_it_reads_from_a_pipe_or_device(tmp_path: Path) -> None:
    # /dev/zero reports size 0 and never ends: the read stops one byte past the limit
    with pytest.raises(TopologyError) as endless:
        load_topology("/dev/zero")
    assert str(endless.value) == f"/dev/zero: larger than {MAX_TOPOLOGY_BYTES} bytes"
    fifo = tmp_path / "topology.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_text, args=(json.dumps(EXAMPLE),))
    writer.start()
    assert set(load_topology(fifo).links) == set(EXAMPLE["links"])  # a pipe still loads
    writer.join(5)


def test_round_trip_through_get_format() -> None:
    topology = parse_topology(EXAMPLE)
    document = topology_to_json(topology, version=7)
    assert document["version"] == 7
    assert document["nodes"]["spine1"]["ports"]["swp2"] == {"ifindex": "4"}
    assert parse_topology(document).model_copy(update={"version": None}) == topology


def test_ipv6_agents_are_normalised_like_the_decoder() -> None:
    document = {"links": {}, "nodes": {"n": {"agent": "2001:DB8:0:0::1", "ports": {}}}}
    index = TopologyIndex(parse_topology(document))
    assert index.node_of_agent == {"2001:db8::1": "n"}


def test_resolver_prefers_nodes_block_then_learned_names() -> None:
    links_only = parse_topology({"links": EXAMPLE["links"]})
    resolver = PortResolver(TopologyIndex(links_only))
    assert resolver.resolve("10.0.0.1", 3) is None  # nothing known yet
    resolver.learn_hostname("10.0.0.1", "leaf1")
    assert resolver.resolve("10.0.0.1", 3) is None  # node known, port name not yet
    resolver.learn_port_name("10.0.0.1", 3, "swp1")
    resolver.learn_port_name("10.0.0.1", 7, "swp7")
    core = resolver.resolve("10.0.0.1", 3)
    edge = resolver.resolve("10.0.0.1", 7)
    assert core is not None and (core.node, core.port, core.role) == ("leaf1", "swp1", CORE)
    assert edge is not None and (edge.port, edge.role) == ("swp7", EDGE)
    # A hostname that is not a topology node leaves the agent unmapped.
    resolver.learn_hostname("10.0.0.8", "server8")
    resolver.learn_port_name("10.0.0.8", 1, "eth0")
    assert resolver.resolve("10.0.0.8", 1) is None
    # Renaming invalidates the cached answer.
    resolver.learn_port_name("10.0.0.1", 7, "swp1")
    renamed = resolver.resolve("10.0.0.1", 7)
    assert renamed is not None and renamed.role == CORE


def test_resolver_uses_explicit_mapping_and_agent_from_nodes_block() -> None:
    resolver = PortResolver(TopologyIndex(parse_topology(EXAMPLE)))
    resolver.learn_port_name("10.0.0.1", 3, "something-else")
    explicit = resolver.resolve("10.0.0.1", 3)
    assert explicit is not None and explicit.port == "swp1"  # the nodes block wins
    resolver.learn_port_name("10.0.0.1", 9, "swp9")  # agent known from nodes, port learned
    learned = resolver.resolve("10.0.0.1", 9)
    assert learned is not None and (learned.node, learned.role) == ("leaf1", EDGE)


def test_resolver_swap_and_no_topology() -> None:
    resolver = PortResolver()
    resolver.learn_hostname("10.0.0.1", "leaf1")
    resolver.learn_port_name("10.0.0.1", 3, "swp1")
    assert resolver.resolve("10.0.0.1", 3) is None
    resolver.set_index(TopologyIndex(parse_topology({"links": EXAMPLE["links"]}), version=2))
    info = resolver.resolve("10.0.0.1", 3)
    assert info is not None and info.role == CORE
    resolver.forget("10.0.0.1")
    assert resolver.resolve("10.0.0.1", 3) is None


def test_resolver_is_bounded() -> None:
    resolver = PortResolver(
        TopologyIndex(parse_topology(EXAMPLE)), max_agents=10, max_ports_per_agent=4
    )
    for i in range(1000):
        resolver.learn_hostname(f"192.0.2.{i % 250}.{i}", "x")
        resolver.resolve(f"198.51.{i // 256}.{i % 256}", 1)
        resolver.learn_port_name("10.0.0.1", 100 + i, f"p{i}")
        resolver.resolve("10.0.0.1", 100 + i)
    assert len(resolver._hostnames) <= 10
    assert len(resolver._cache) <= 10
    assert len(resolver._port_names["10.0.0.1"]) <= 4

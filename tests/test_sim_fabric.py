"""Simulator fabric generation and its sFlow-RT topology JSON."""

from __future__ import annotations

import json

import pytest

from simulator.fabric import CORE, EDGE, FabricSpec, build_fabric, topology_json
from topology.index import TopologyIndex
from topology.model import parse_topology


def test_default_fabric_is_non_blocking_and_counts_add_up() -> None:
    fab = build_fabric(FabricSpec())
    spec = fab.spec
    assert spec.uplinks == 8  # 8 × 400G hosts need 8 × 400G uplinks, a multiple of 2 spines
    s = fab.summary()
    assert s["switches"] == 6 and s["nics"] == 32 and s["links"] == 32
    assert s["edge_ports"] == 32 and s["core_ports"] == 64
    for p in range(fab.n_ports):
        if fab.port_role[p] == CORE:
            peer = fab.port_peer[p]
            assert fab.port_peer[peer] == p and fab.port_link[peer] == fab.port_link[p]
        else:
            assert fab.port_nic[p] >= 0 and fab.port_peer[p] == -1


def test_topology_json_is_sflow_rt_format_and_loads() -> None:
    fab = build_fabric(FabricSpec(leaves=2, spines=2, hosts_per_leaf=2))
    doc = topology_json(fab)
    assert set(doc) == {"links", "nodes"}
    link = doc["links"]["leaf1-spine1"]
    assert link == {"node1": "leaf1", "port1": "swp3", "node2": "spine1", "port2": "swp1"}
    leaf1 = doc["nodes"]["leaf1"]
    assert leaf1["agent"] == "10.0.0.1"
    assert leaf1["ports"]["swp1"] == {"ifindex": "3"}  # ifindex is a string, swp n → n + 2
    json.dumps(doc)
    index = TopologyIndex(parse_topology(doc))
    edge = index.explicit("10.0.0.1", 3)
    core = index.explicit("10.0.0.1", 5)
    assert edge is not None and edge.role == "edge" and edge.port == "swp1"
    assert core is not None and core.role == "core" and core.link == "leaf1-spine1"


def test_every_port_role_matches_the_topology_index() -> None:
    fab = build_fabric(FabricSpec(leaves=4, spines=2, hosts_per_leaf=3, uplinks_per_leaf=4))
    index = TopologyIndex(parse_topology(topology_json(fab)))
    for p in range(fab.n_ports):
        info = index.explicit(fab.agents[fab.port_switch[p]], fab.port_ifindex[p])
        assert info is not None
        assert info.role == ("edge" if fab.port_role[p] == EDGE else "core")
    assert "leaf1-spine1-2" in fab.link_index  # parallel links get an index


def test_rail_optimised_puts_each_rail_on_its_own_leaf() -> None:
    fab = build_fabric(FabricSpec(leaves=8, spines=4, hosts_per_leaf=4, rails=4, nics_per_host=4))
    assert fab.hosts == 8 and fab.n_nics == 32
    for n in range(fab.n_nics):
        host, rail = fab.nic_host[n], fab.nic_rail[n]
        leaf = fab.port_switch[fab.nic_port[n]]
        assert leaf == (host // 4) * 4 + rail


def test_ipv6_agents_and_ethernet_port_names() -> None:
    fab = build_fabric(FabricSpec(agent_base="fd00:5f::1", port_style="ethernet"))
    doc = topology_json(fab)
    assert doc["nodes"]["spine2"]["agent"] == "fd00:5f::6"
    assert doc["nodes"]["leaf1"]["ports"]["Ethernet1"] == {"ifindex": "1"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"leaves": 0},
        {"rails": 1},
        {"leaves": 6, "rails": 4},
        {"host_speed_gbps": 300},
        {"port_style": "eth"},
        {"leaves": 2, "spines": 0},
    ],
)
def test_bad_parameters_are_rejected(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build_fabric(FabricSpec(**kwargs))  # type: ignore[arg-type]


def test_thousand_switch_fabric_tables() -> None:
    # 2-tier Clos, 3:1: 984 leaves of 64 ports (48 hosts + 16 uplinks), 16 chassis spines.
    spec = FabricSpec(leaves=984, spines=16, hosts_per_leaf=48, uplinks_per_leaf=16)
    fab = build_fabric(spec)
    assert spec.uplinks == 16
    assert fab.n_switches == 1000 and fab.n_ports == 984 * 64 + 16 * 984
    assert {fab.switch_ports[s][1] for s in range(984)} == {64}

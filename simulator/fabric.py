"""Leaf/spine fabric generation and its sFlow-RT topology JSON.

A fabric is generated from a handful of parameters (:class:`FabricSpec`) into flat, index-based
tables (:class:`Fabric`): switches, ports and links are small integers, so a fabric of 1,000
switches × 64 ports costs a few megabytes. Nothing here does I/O except :func:`write_topology`.

Layout rules (documented in ``docs/simulator.md``):

* Leaves ``leaf1..leafL`` and spines ``spine1..spineS``; each switch has its own sFlow agent
  address (``agent_base`` + switch index, IPv4 or IPv6).
* Leaf ports: host-facing (edge) ports first, then the uplinks; uplink ``k`` of a leaf goes to
  spine ``k mod S`` (so ``uplinks_per_leaf`` may exceed ``S``: parallel links).
* Rail-optimised (``rails = R ≥ 2``): leaves form pods of ``R``; host ``h`` of a pod has one NIC
  per rail, NIC ``r`` on the pod's leaf ``r``. Otherwise each host has ``nics_per_host`` NICs on
  consecutive edge ports of one leaf.
* Port names ``swp<n>`` (ifIndex ``n + 2``, as lo = 1, eth0 = 2 on a Linux switch) or
  ``Ethernet<n>`` (ifIndex ``n``).
* Leaf–spine links are listed in the topology (so both ends are *core* ports); host-facing ports
  appear only under ``nodes`` (so they are *edge* ports).
"""

from __future__ import annotations

import ipaddress
import json
from array import array
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CORE",
    "EDGE",
    "Fabric",
    "FabricSpec",
    "build_fabric",
    "topology_json",
    "write_topology",
]

EDGE = 0
CORE = 1
LEAF = "leaf"
SPINE = "spine"

PORT_STYLES = ("swp", "ethernet")
LINK_SPEEDS_GBPS = (100, 200, 400, 800)


@dataclass(frozen=True, slots=True)
class FabricSpec:
    """Parameters of a generated leaf/spine fabric."""

    leaves: int = 4
    spines: int = 2
    hosts_per_leaf: int = 8
    nics_per_host: int = 1
    rails: int = 0
    uplinks_per_leaf: int = 0  # 0: non-blocking (edge capacity), rounded up to a multiple of S
    host_speed_gbps: int = 400
    fabric_speed_gbps: int = 400
    port_style: str = "swp"
    agent_base: str = "10.0.0.1"
    host_base: str = "10.128.0.1"

    def validate(self) -> None:
        """Raise ``ValueError`` with one clear line when the parameters are inconsistent."""
        if self.leaves < 1 or self.spines < 0:
            raise ValueError("need at least one leaf and no negative spine count")
        if self.hosts_per_leaf < 1 or self.nics_per_host < 1:
            raise ValueError("hosts per leaf and NICs per host must be at least 1")
        if self.rails == 1 or self.rails < 0:
            raise ValueError("rails must be 0 (not rail-optimised) or at least 2")
        if self.rails and self.leaves % self.rails:
            raise ValueError(f"{self.leaves} leaves do not split into pods of {self.rails} rails")
        if self.rails and self.nics_per_host not in (1, self.rails):
            raise ValueError("with rails, each host has exactly one NIC per rail")
        for speed in (self.host_speed_gbps, self.fabric_speed_gbps):
            if speed not in LINK_SPEEDS_GBPS:
                raise ValueError(f"link speed {speed}G is not one of {LINK_SPEEDS_GBPS}")
        if self.port_style not in PORT_STYLES:
            raise ValueError(f"port style {self.port_style!r} is not one of {PORT_STYLES}")
        if self.leaves > 1 and self.spines == 0:
            raise ValueError("several leaves need at least one spine")
        if self.spines and self.uplinks and self.uplinks < self.spines:
            raise ValueError("each leaf needs at least one uplink to every spine")
        if self.leaves + self.spines > 65000:
            raise ValueError("at most 65,000 switches")

    @property
    def uplinks(self) -> int:
        """Uplinks per leaf; by default enough for 1:1 (non-blocking), a multiple of the spines."""
        if self.spines == 0:
            return 0
        if self.uplinks_per_leaf:
            return self.uplinks_per_leaf
        edge_bps = self.edge_ports_per_leaf * self.host_speed_gbps
        needed = -(-edge_bps // self.fabric_speed_gbps)
        return max(1, -(-needed // self.spines)) * self.spines

    @property
    def edge_ports_per_leaf(self) -> int:
        """Host-facing ports on each leaf."""
        return self.hosts_per_leaf if self.rails else self.hosts_per_leaf * self.nics_per_host


class Fabric:
    """Index-based tables of one generated fabric.

    Switch ``s``: ``switch_names[s]``, ``switch_roles[s]``, ``agents[s]`` (text address),
    ``switch_ports[s]`` = (first global port index, count). Port ``p``: ``port_switch[p]``,
    ``port_number[p]`` (1-based on its switch), ``port_ifindex[p]``, ``port_speed[p]`` (bit/s),
    ``port_role[p]`` (EDGE/CORE), ``port_peer[p]`` (port at the other end of a link, −1 for edge),
    ``port_link[p]`` (link index or −1), ``port_nic[p]`` (NIC on an edge port or −1).
    NIC ``n``: ``nic_port[n]``, ``nic_host[n]``, ``nic_rail[n]``, ``nic_ip[n]`` (packed bytes),
    ``nic_mac[n]``. Link ``k``: ``link_names[k]``, ``link_ports[k]`` = (leaf port, spine port).
    """

    def __init__(self, spec: FabricSpec) -> None:
        """Generate the fabric described by ``spec`` (validated)."""
        spec.validate()
        self.spec = spec
        self._switch_macs: dict[int, bytes] = {}
        self._nic_macs: dict[int, bytes] = {}
        self.ipv6_agents = ":" in spec.agent_base
        self.ipv6_hosts = ":" in spec.host_base
        n_leaves, n_spines, uplinks = spec.leaves, spec.spines, spec.uplinks
        edge_per_leaf = spec.edge_ports_per_leaf
        self.switch_names: list[str] = [f"leaf{i + 1}" for i in range(n_leaves)] + [
            f"spine{i + 1}" for i in range(n_spines)
        ]
        self.switch_roles: list[str] = [LEAF] * n_leaves + [SPINE] * n_spines
        base = ipaddress.ip_address(spec.agent_base)
        self.agents: list[str] = [str(base + i) for i in range(n_leaves + n_spines)]
        self.switch_index: dict[str, int] = {n: i for i, n in enumerate(self.switch_names)}

        spine_ports = (n_leaves * uplinks) // n_spines if n_spines else 0
        extra = (n_leaves * uplinks) % n_spines if n_spines else 0
        counts = [edge_per_leaf + uplinks] * n_leaves + [
            spine_ports + (1 if i < extra else 0) for i in range(n_spines)
        ]
        self.switch_ports: list[tuple[int, int]] = []
        first = 0
        for c in counts:
            self.switch_ports.append((first, c))
            first += c
        n_ports = first
        self.port_switch = array("i", bytes(4 * n_ports))
        self.port_number = array("i", bytes(4 * n_ports))
        self.port_ifindex = array("i", bytes(4 * n_ports))
        self.port_speed = array("q", bytes(8 * n_ports))
        self.port_role = array("b", bytes(n_ports))
        self.port_peer = array("i", [-1]) * n_ports
        self.port_link = array("i", [-1]) * n_ports
        self.port_nic = array("i", [-1]) * n_ports
        host_bps = spec.host_speed_gbps * 1_000_000_000
        fabric_bps = spec.fabric_speed_gbps * 1_000_000_000
        ethernet_style = spec.port_style == "ethernet"
        for s, (first, count) in enumerate(self.switch_ports):
            is_leaf = s < n_leaves
            for j in range(count):
                p = first + j
                n = j + 1
                self.port_switch[p] = s
                self.port_number[p] = n
                self.port_ifindex[p] = n if ethernet_style else n + 2
                edge = is_leaf and j < edge_per_leaf
                self.port_role[p] = EDGE if edge else CORE
                self.port_speed[p] = host_bps if edge else fabric_bps

        # Links: uplink k of leaf l → spine k mod S, next free port on that spine.
        self.link_names: list[str] = []
        self.link_ports: list[tuple[int, int]] = []
        next_spine_port = [0] * n_spines
        parallel = uplinks > n_spines
        for leaf in range(n_leaves):
            lfirst = self.switch_ports[leaf][0]
            for k in range(uplinks):
                sp = k % n_spines
                spine = n_leaves + sp
                leaf_port = lfirst + edge_per_leaf + k
                spine_port = self.switch_ports[spine][0] + next_spine_port[sp]
                next_spine_port[sp] += 1
                index = len(self.link_names)
                name = f"{self.switch_names[leaf]}-{self.switch_names[spine]}"
                if parallel and k >= n_spines:
                    name += f"-{k // n_spines + 1}"  # the first link of a pair has no suffix
                self.link_names.append(name)
                self.link_ports.append((leaf_port, spine_port))
                self.port_peer[leaf_port] = spine_port
                self.port_peer[spine_port] = leaf_port
                self.port_link[leaf_port] = index
                self.port_link[spine_port] = index
        self.link_index: dict[str, int] = {n: i for i, n in enumerate(self.link_names)}

        # NICs (endpoints of the traffic model).
        self.nic_port = array("i")
        self.nic_host = array("i")
        self.nic_rail = array("i")
        if spec.rails:
            pods = n_leaves // spec.rails
            for pod in range(pods):
                for h in range(spec.hosts_per_leaf):
                    host = pod * spec.hosts_per_leaf + h
                    for r in range(spec.rails):
                        leaf = pod * spec.rails + r
                        self._add_nic(self.switch_ports[leaf][0] + h, host, r)
        else:
            for leaf in range(n_leaves):
                lfirst = self.switch_ports[leaf][0]
                for h in range(spec.hosts_per_leaf):
                    host = leaf * spec.hosts_per_leaf + h
                    for r in range(spec.nics_per_host):
                        self._add_nic(lfirst + h * spec.nics_per_host + r, host, r)
        self.hosts = (max(self.nic_host) + 1) if len(self.nic_host) else 0
        hbase = ipaddress.ip_address(spec.host_base)
        self.nic_ip: list[bytes] = [(hbase + n).packed for n in range(len(self.nic_port))]

    def _add_nic(self, port: int, host: int, rail: int) -> None:
        self.port_nic[port] = len(self.nic_port)
        self.nic_port.append(port)
        self.nic_host.append(host)
        self.nic_rail.append(rail)

    # -- small helpers -------------------------------------------------------------------------

    @property
    def n_switches(self) -> int:
        """Number of switches."""
        return len(self.switch_names)

    @property
    def n_ports(self) -> int:
        """Number of switch ports."""
        return len(self.port_switch)

    @property
    def n_nics(self) -> int:
        """Number of GPU NICs (traffic endpoints)."""
        return len(self.nic_port)

    @property
    def n_leaves(self) -> int:
        """Number of leaves (switch indices 0 … n_leaves − 1)."""
        return self.spec.leaves

    def port_name(self, p: int) -> str:
        """The port's interface name, e.g. ``swp3`` or ``Ethernet3``."""
        n = self.port_number[p]
        return f"Ethernet{n}" if self.spec.port_style == "ethernet" else f"swp{n}"

    def port_label(self, p: int) -> str:
        """``node:port`` text for messages and the truth file."""
        return f"{self.switch_names[self.port_switch[p]]}:{self.port_name(p)}"

    def find_port(self, label: str) -> int:
        """Port index of ``node:port``; ``ValueError`` when there is none."""
        node, _, name = label.partition(":")
        s = self.switch_index.get(node)
        if s is None:
            raise ValueError(f"no switch named {node!r}")
        first, count = self.switch_ports[s]
        for p in range(first, first + count):
            if self.port_name(p) == name:
                return p
        raise ValueError(f"switch {node} has no port {name!r}")

    def switch_mac(self, s: int) -> bytes:
        """A locally administered MAC for switch ``s`` (one shared bytes object per switch)."""
        mac = self._switch_macs.get(s)
        if mac is None:
            mac = self._switch_macs[s] = bytes((0x02, 0x5F, 0x00)) + s.to_bytes(3, "big")
        return mac

    def nic_mac(self, n: int) -> bytes:
        """A locally administered MAC for NIC ``n`` (one shared bytes object per NIC)."""
        mac = self._nic_macs.get(n)
        if mac is None:
            mac = self._nic_macs[n] = bytes((0x02, 0x6E, 0x00)) + n.to_bytes(3, "big")
        return mac

    def uplinks_of(self, leaf: int) -> list[int]:
        """The leaf's uplink ports (global indices)."""
        first, count = self.switch_ports[leaf]
        edge = self.spec.edge_ports_per_leaf
        return list(range(first + edge, first + count))

    def summary(self) -> dict[str, int]:
        """Counts for the truth file and messages."""
        edge = sum(1 for r in self.port_role if r == EDGE)
        return {
            "switches": self.n_switches,
            "leaves": self.spec.leaves,
            "spines": self.spec.spines,
            "ports": self.n_ports,
            "edge_ports": edge,
            "core_ports": self.n_ports - edge,
            "links": len(self.link_names),
            "hosts": self.hosts,
            "nics": self.n_nics,
        }


def build_fabric(spec: FabricSpec) -> Fabric:
    """Generate the fabric described by ``spec``."""
    return Fabric(spec)


def topology_json(fabric: Fabric) -> dict[str, Any]:
    """The sFlow-RT topology: ``links`` (leaf–spine, core) and ``nodes`` (agent, ports)."""
    links: dict[str, dict[str, str]] = {}
    for name, (a, b) in zip(fabric.link_names, fabric.link_ports, strict=True):
        links[name] = {
            "node1": fabric.switch_names[fabric.port_switch[a]],
            "port1": fabric.port_name(a),
            "node2": fabric.switch_names[fabric.port_switch[b]],
            "port2": fabric.port_name(b),
        }
    nodes: dict[str, dict[str, Any]] = {}
    for s, name in enumerate(fabric.switch_names):
        first, count = fabric.switch_ports[s]
        ports = {
            fabric.port_name(p): {"ifindex": str(fabric.port_ifindex[p])}
            for p in range(first, first + count)
        }
        nodes[name] = {"agent": fabric.agents[s], "ports": ports}
    return {"links": links, "nodes": nodes}


def write_topology(fabric: Fabric, path: str) -> None:
    """Write the topology JSON (indented, trailing newline) to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(topology_json(fabric), f, indent=1)
        f.write("\n")

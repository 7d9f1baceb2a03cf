"""Immutable lookups built once from a validated topology.

A port that is an end of a link is a *core* port; any other port of a node that appears in the
topology is an *edge* port (where traffic enters and leaves the fabric). The index is never
changed after construction: a reload builds a new one and swaps the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from topology.model import Topology

EDGE: Final = "edge"
CORE: Final = "core"
UNMAPPED: Final = "unmapped"
ROLES: Final = (EDGE, CORE, UNMAPPED)


@dataclass(frozen=True, slots=True)
class PortInfo:
    """Where a port sits: node and port names, role (edge/core) and the link it ends."""

    node: str
    port: str
    role: str
    link: str | None = None


class TopologyIndex:
    """(agent, ifIndex) → ``PortInfo`` from the ``nodes`` block, and name-based lookups."""

    __slots__ = (
        "_explicit",
        "_link_of_endpoint",
        "agent_of_node",
        "node_names",
        "node_of_agent",
        "topology",
        "version",
    )

    def __init__(self, topology: Topology, version: int = 1) -> None:
        self.topology = topology
        self.version = version
        link_of_endpoint: dict[tuple[str, str], str] = {}
        for name, link in topology.links.items():
            link_of_endpoint[(link.node1, link.port1)] = name
            link_of_endpoint[(link.node2, link.port2)] = name
        self._link_of_endpoint = link_of_endpoint
        nodes = {n for n, _ in link_of_endpoint} | set(topology.nodes)
        self.node_names: frozenset[str] = frozenset(nodes)
        self.node_of_agent: Mapping[str, str] = MappingProxyType(
            {spec.agent: name for name, spec in topology.nodes.items()}
        )
        self.agent_of_node: Mapping[str, str] = MappingProxyType(
            {name: spec.agent for name, spec in topology.nodes.items()}
        )
        explicit: dict[tuple[str, int], PortInfo] = {}
        for node_name, spec in topology.nodes.items():
            for port_name, port in spec.ports.items():
                explicit[(spec.agent, port.ifindex)] = self.port_info(node_name, port_name)
        self._explicit: Mapping[tuple[str, int], PortInfo] = MappingProxyType(explicit)

    def port_info(self, node: str, port: str) -> PortInfo:
        """The role of a port of a topology node: core when it ends a link, else edge."""
        link = self._link_of_endpoint.get((node, port))
        return PortInfo(node, port, CORE if link is not None else EDGE, link)

    def explicit(self, agent: str, ifindex: int) -> PortInfo | None:
        """The port the ``nodes`` block maps (agent, ifIndex) to, if it does."""
        return self._explicit.get((agent, ifindex))

    def is_node(self, name: str) -> bool:
        """True when ``name`` is a node of the topology (in ``links`` or ``nodes``)."""
        return name in self.node_names

    @property
    def link_count(self) -> int:
        """Number of links."""
        return len(self.topology.links)

    @property
    def core_endpoints(self) -> Mapping[tuple[str, str], str]:
        """(node, port) → link name for every link end."""
        return MappingProxyType(self._link_of_endpoint)

    @property
    def mapped_port_count(self) -> int:
        """Ports with an explicit (agent, ifIndex) in the ``nodes`` block."""
        return len(self._explicit)


def build_index(topology: Topology | None, version: int) -> TopologyIndex | None:
    """The index of ``topology`` at ``version``; None without a topology (every port unmapped).

    The one place the collector turns a topology it installs into an index, so the receivers
    and the aggregator always agree on what a version means."""
    return TopologyIndex(topology, version) if topology is not None else None

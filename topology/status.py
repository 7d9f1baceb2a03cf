"""Fabric status as sFlow-RT's topology app reports it: nodes, links, agents.

Pure: the caller hands in the topology index and the latest per-agent and per-port statuses the
collector keeps (duck-typed below), plus when each agent last sent a flow sample.

* **Nodes** (every node of the topology): *unmonitored* when no live agent belongs to it (the
  ``nodes`` block's agent, or an agent whose hostname is the node); else *noflows* when none of
  its agents sent a flow sample in the last ``flow_window`` seconds; else *flows*.
* **Links**: *unmonitored* unless both ends have reported interface counters; *up* when both
  ends are admin and oper up; else *down* (as the topology app: all four statuses known, all up).
* **Agents**: *known* when they belong to a topology node, *unknown* otherwise ("agents not in
  the topology").
* **Traffic** (the topology app's ``traffic_*`` figures, from interface counters): bit/s and
  packets/s received on **edge** ports (what the hosts send into the fabric), the summed ifSpeed
  of the edge ports that are up, and discards and errors per second summed over every edge and
  core port, in and out (the reference's ``TOPOLOGY`` group).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from topology.index import TopologyIndex

FLOW_WINDOW = 60.0  # seconds without a flow sample before a monitored node is "noflows"
NODE_STATUSES = ("unmonitored", "noflows", "flows")
LINK_STATUSES = ("unmonitored", "up", "down")
AGENT_STATUSES = ("known", "unknown")
# (field of the status document's "traffic" block, exported family name) in the reference's order
TRAFFIC_FIGURES = (
    ("bps", "traffic_bps"),
    ("speed", "traffic_speed"),
    ("pps", "traffic_pps"),
    ("discards", "traffic_discards"),
    ("errors", "traffic_errors"),
)


@dataclass(frozen=True, slots=True)
class LinkSummary:
    """The topology's links by status: how many, how many up, the others' names sorted."""

    total: int
    up: int
    unmonitored: list[str]
    down: list[str]


class AgentLike(Protocol):
    """What is read from an agent status (``collector.delta.AgentStatus``)."""

    @property
    def node(self) -> str:
        """Its topology node ("" when none)."""

    @property
    def last_seen(self) -> float:
        """When its last datagram arrived."""


class PortLike(Protocol):
    """What is read from a port status (``collector.delta.PortStatus``)."""

    @property
    def node(self) -> str | None:
        """Topology node of the port."""

    @property
    def port(self) -> str | None:
        """Topology port name."""

    @property
    def oper_up(self) -> bool:
        """ifOperStatus up."""

    @property
    def admin_up(self) -> bool:
        """ifAdminStatus up."""

    @property
    def role(self) -> str:
        """edge, core or unmapped."""

    @property
    def speed_bps(self) -> int:
        """ifSpeed, bit/s."""


def topology_node_of(index: TopologyIndex | None, agent: str, node: str) -> str | None:
    """The topology node an agent belongs to: the node its status names (learned from its
    hostname or the ``nodes`` block), else the ``nodes`` block's; None when not in the topology."""
    if not node and index is not None:
        node = index.node_of_agent.get(agent, "")
    return node if node and index is not None and node in index.node_names else None


def fabric_status(
    index: TopologyIndex | None,
    agents: Mapping[tuple[str, int], AgentLike],
    ports: Iterable[PortLike],
    flow_agents: Mapping[str, float],
    now: float,
    flow_window: float = FLOW_WINDOW,
    links: LinkSummary | None = None,
) -> dict[str, Any]:
    """The status document (``GET /topology/status/json``); ``links``, when the caller keeps
    them up to date, saves the pass over ``ports``."""
    node_agents: dict[str, set[str]] = {}
    unknown: list[dict[str, Any]] = []
    names = index.node_names if index is not None else frozenset()
    for (agent, sub_agent), status in sorted(agents.items()):
        node = topology_node_of(index, agent, status.node)
        if node is not None:
            node_agents.setdefault(node, set()).add(agent)
        else:
            unknown.append({"agent": agent, "sub_agent": sub_agent, "last_seen": status.last_seen})
    unmonitored_nodes: list[str] = []
    noflow_nodes: list[str] = []
    flowing = 0
    for node in sorted(names):
        mine = node_agents.get(node)
        if not mine:
            unmonitored_nodes.append(node)
        elif any(flow_agents.get(a, float("-inf")) >= now - flow_window for a in mine):
            flowing += 1
        else:
            noflow_nodes.append(node)
    if links is None:
        links = link_summary(index, ports)
    known = len(agents) - len(unknown)
    return {
        "topology": index is not None,
        "version": index.version if index is not None else 0,
        "nodes": {
            "total": len(names),
            "unmonitored": len(unmonitored_nodes),
            "noflows": len(noflow_nodes),
            "flows": flowing,
        },
        "links": {
            "total": links.total,
            "unmonitored": len(links.unmonitored),
            "down": len(links.down),
            "up": links.up,
        },
        "agents": {"total": len(agents), "known": known, "unknown": len(unknown)},
        "unmonitored_nodes": unmonitored_nodes,
        "noflows_nodes": noflow_nodes,
        "unmonitored_links": list(links.unmonitored),
        "down_links": list(links.down),
        "unknown_agents": unknown,
    }


def link_summary(index: TopologyIndex | None, ports: Iterable[PortLike]) -> LinkSummary:
    """Every link's status from the port statuses (the last one naming an end decides it)."""
    ends: dict[tuple[str, str], bool] = {}
    for port_status in ports:
        if port_status.node is not None and port_status.port is not None:
            ends[(port_status.node, port_status.port)] = (
                port_status.oper_up and port_status.admin_up
            )
    unmonitored_links: list[str] = []
    down_links: list[str] = []
    up = 0
    links = index.topology.links if index is not None else {}
    for name in sorted(links):
        link = links[name]
        end1 = ends.get((link.node1, link.port1))
        end2 = ends.get((link.node2, link.port2))
        if end1 is None or end2 is None:
            unmonitored_links.append(name)
        elif end1 and end2:
            up += 1
        else:
            down_links.append(name)
    return LinkSummary(len(links), up, unmonitored_links, down_links)


def traffic_figures(
    byte_rates: Mapping[tuple[str, ...], float],
    packet_rates: Mapping[tuple[str, ...], float],
    discard_rates: Mapping[tuple[str, ...], float],
    error_rates: Mapping[tuple[str, ...], float],
    ports: Iterable[PortLike],
    edge_speed: int | None = None,
) -> dict[str, float]:
    """The ``traffic`` block: per-second rates keyed by (direction, role), plus port speeds
    (``edge_speed``, when the caller keeps that sum, saves the pass over ``ports``)."""
    fabric = ("edge", "core")
    if edge_speed is None:
        edge_speed = sum(
            p.speed_bps for p in ports if p.role == "edge" and p.oper_up and p.admin_up
        )
    return {
        "bps": 8.0 * byte_rates.get(("in", "edge"), 0.0),
        "speed": float(edge_speed),
        "pps": packet_rates.get(("in", "edge"), 0.0),
        "discards": sum(v for (_d, role), v in discard_rates.items() if role in fabric),
        "errors": sum(v for (_d, role), v in error_rates.items() if role in fabric),
    }


def prometheus_text(status: Mapping[str, Any], prefix: str = "sflow_topology_") -> str:
    """``{prefix}nodes{status}``, ``{prefix}links{status}``, ``{prefix}agents{status}`` gauges,
    then ``{prefix}traffic_*`` when the document has a ``traffic`` block."""
    lines: list[str] = []
    for family, statuses in (
        ("nodes", NODE_STATUSES),
        ("links", LINK_STATUSES),
        ("agents", AGENT_STATUSES),
    ):
        name = f"{prefix}{family}"
        lines.append(f"# TYPE {name} gauge")
        counts = status[family]
        for value in statuses:
            lines.append(f'{name}{{status="{value}"}} {int(counts[value])}')
    traffic = status.get("traffic")
    if traffic is not None:
        for field, family in TRAFFIC_FIGURES:
            lines.append(f"# TYPE {prefix}{family} gauge")
            lines.append(f"{prefix}{family} {float(traffic[field])!r}")
    return "\n".join(lines) + "\n"

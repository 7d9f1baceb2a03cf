"""Write a topology as Graphviz DOT, in the convention ``topology.importers.dot`` reads back.

Every node is a box; a node of the ``nodes`` block carries ``agent`` and ``ifindex="PORT=N …"``;
a link is an edge with ``id`` (the link name) and ``taillabel``/``headlabel`` (its ports), which
Graphviz draws at the two ends. Importing the output gives the same topology.
"""

from __future__ import annotations

from topology.importers.fabric_links import natural_key
from topology.model import Topology


def quote(text: str) -> str:
    """A DOT quoted string for ``text`` (``"`` and ``\\`` escaped)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _attrs(pairs: list[tuple[str, str]]) -> str:
    return " [" + ", ".join(f"{k}={quote(v)}" for k, v in pairs) + "]" if pairs else ""


def topology_to_dot(topology: Topology, graph_name: str = "fabric") -> str:
    """The topology as a DOT ``graph``; ``ValueError`` for a port name DOT cannot carry."""
    names = {link.node1 for link in topology.links.values()}
    names |= {link.node2 for link in topology.links.values()}
    names |= set(topology.nodes)
    lines = [
        f"// {len(names)} switches, {len(topology.links)} links (fabricscope topology export)",
        f"graph {quote(graph_name)} {{",
        "  node [shape=box];",
    ]
    for name in sorted(names, key=natural_key):
        spec = topology.nodes.get(name)
        pairs: list[tuple[str, str]] = []
        if spec is not None:
            pairs.append(("agent", spec.agent))
            bad = [p for p in spec.ports if any(c.isspace() for c in p)]
            if bad:
                raise ValueError(f"nodes.{name}.ports: port name {bad[0]!r} contains whitespace")
            ports = sorted(spec.ports.items(), key=lambda item: natural_key(item[0]))
            if ports:
                pairs.append(("ifindex", " ".join(f"{p}={s.ifindex}" for p, s in ports)))
        lines.append(f"  {quote(name)}{_attrs(pairs)};")
    for link_name, link in topology.links.items():
        pairs = [("id", link_name), ("taillabel", link.port1), ("headlabel", link.port2)]
        lines.append(f"  {quote(link.node1)} -- {quote(link.node2)}{_attrs(pairs)};")
    lines.append("}")
    return "\n".join(lines) + "\n"

"""containerlab's ``topology-data.json`` (written to the lab directory on deploy).

``nodes`` maps a node name to ``{kind, mgmt-ipv4-address, mgmt-ipv6-address, …}``; ``links`` is
an array of ``{"endpoints": {"a": {node, interface}, "z": {node, interface}}}`` (containerlab
0.73 and later) or ``{"a": {…}, "z": {…}}`` (earlier). Nodes of host kinds (``linux``, bridges,
…) and link ends that are not nodes (``host``, ``mgmt-net``, ``macvlan``) are not switches, so
the switch port of such a link stays edge. A switch's management address becomes its agent.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from topology.importers.fabric_links import ImportResult, LinkCollector
from topology.importers.source import ImportOptions, Source, agent_address, field, type_name

# Kinds that are end hosts or plumbing rather than switches; --switches overrides the guess.
HOST_KINDS = frozenset(
    {"linux", "host", "bridge", "ovs-bridge", "ext-container", "k8s-kind", "generic_vm"}
)


def _agent(source: Source, where: str, node: dict[str, Any]) -> str | None:
    for key in ("mgmt-ipv4-address", "mgmt-ipv6-address"):
        value = node.get(key)
        if isinstance(value, str) and value.strip():
            return agent_address(source, f"{where}.{key}", value)
    return None


def _switches(source: Source, document: dict[str, Any], options: ImportOptions) -> dict[str, Any]:
    nodes = document.get("nodes")
    if not isinstance(nodes, dict):
        raise source.error("nodes", f"expected an object, found {type_name(nodes)}")
    switches: dict[str, Any] = {}
    for name, node in nodes.items():
        if not isinstance(node, dict):
            raise source.error(f"nodes.{name}", f"expected an object, found {type_name(node)}")
        kind = node.get("kind")
        if options.switches:
            is_switch = options.matches_switch(name)
        else:
            is_switch = not (isinstance(kind, str) and kind in HOST_KINDS)
        if is_switch:
            switches[name] = node
    return switches


def _ends(source: Source, where: str, link: Any) -> tuple[tuple[str, str], tuple[str, str]]:
    if not isinstance(link, dict):
        raise source.error(where, f"expected an object, found {type_name(link)}")
    holder = link.get("endpoints", link)
    base = f"{where}.endpoints" if "endpoints" in link else where
    if not isinstance(holder, dict) or "a" not in holder or "z" not in holder:
        raise source.error(base, 'expected ends "a" and "z"')
    a, z = holder["a"], holder["z"]
    return (
        (field(source, f"{base}.a", a, "node"), field(source, f"{base}.a", a, "interface")),
        (field(source, f"{base}.z", z, "node"), field(source, f"{base}.z", z, "interface")),
    )


def import_clab(sources: Sequence[Source], options: ImportOptions) -> ImportResult:
    """Switch-to-switch links and switch agents from containerlab topology-data files."""
    collector = LinkCollector(sources[0].name if sources else "")
    host_ends = 0
    for source in sources:
        document = source.json()
        if not isinstance(document, dict):
            raise source.error("", f"expected an object, found {type_name(document)}")
        switches = _switches(source, document, options)
        for name, node in switches.items():
            collector.add_node(name, _agent(source, f"nodes.{name}", node))
        links = document.get("links", [])
        if not isinstance(links, list):
            raise source.error("links", f"expected an array, found {type_name(links)}")
        for i, link in enumerate(links):
            a, z = _ends(source, f"links[{i}]", link)
            if a[0] in switches and z[0] in switches:
                collector.add_link(a, z, f"links[{i}]", source=source.name)
            else:
                host_ends += (a[0] in switches) + (z[0] in switches)
    notes = [f"{host_ends} switch ports connect to hosts (left edge)"] if host_ends else []
    return ImportResult(collector.build(), tuple(notes))

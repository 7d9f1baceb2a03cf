"""LLDP neighbour tables (NetQ, Arista eAPI) to switch-to-switch links.

Each neighbour row says "switch S port P sees device D port Q". A row becomes a link only when D
is a switch too; otherwise D is a host and S/P stays an edge port. The same cable reported by
both ends, or twice by one end, is one link. LLDP runs on physical ports, so the members of a
LAG or MLAG peer link are separate links, never the bond.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from topology.importers.fabric_links import (
    Endpoint,
    ImportResult,
    LinkCollector,
    endpoint_key,
)
from topology.importers.source import ImportOptions


@dataclass(frozen=True, slots=True)
class Neighbour:
    """One LLDP row: ``node``/``port`` sees ``peer``/``peer_port``, located by source and where."""

    node: str
    port: str
    peer: str
    peer_port: str
    source: str
    where: str


class SwitchNames:
    """Which names are switches: those with their own LLDP data (and, with ``--switches``, any
    name matching a pattern); an FQDN matches a switch by its first label and vice versa."""

    def __init__(self, reporting: Iterable[str], options: ImportOptions) -> None:
        self.options = options
        self.names = {n for n in reporting if options.matches_switch(n)}
        short: dict[str, set[str]] = {}
        for name in self.names:
            short.setdefault(_short(name), set()).add(name)
        # A short name that two switches share (leaf1.a, leaf1.b) resolves to neither.
        self._by_short = {s: next(iter(full)) for s, full in short.items() if len(full) == 1}

    def resolve(self, name: str) -> str | None:
        """The switch ``name`` refers to, or None when it is a host."""
        if name in self.names:
            return name
        found = self._by_short.get(name) or self._by_short.get(_short(name))
        if found is not None:
            return found
        if self.options.switches and self.options.matches_switch(name):
            # A switch by pattern that sent no LLDP data of its own: its short name, as the
            # switches that did report are usually named (and as sFlow agents send hostnames).
            return _short(name)
        return None


def _short(name: str) -> str:
    """The first label of a host name; an IP address (a neighbour without a name) is whole."""
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return name.split(".", 1)[0]
    return name


def links_from_neighbours(
    neighbours: Iterable[Neighbour], switches: SwitchNames, source: str
) -> ImportResult:
    """Build the topology of the switch-to-switch rows; hosts leave their switch port edge."""
    collector = LinkCollector(source)
    rows: list[tuple[Endpoint, Endpoint, Neighbour]] = []
    host_ports: set[Endpoint] = set()
    skipped_nodes: set[str] = set()
    for row in neighbours:
        node = switches.resolve(row.node)
        if node is None:
            skipped_nodes.add(row.node)
            continue
        peer = switches.resolve(row.peer) if row.peer else None
        if peer is None:
            host_ports.add((node, row.port))
            continue
        a, b = sorted(((node, row.port), (peer, row.peer_port)), key=endpoint_key)
        rows.append((a, b, row))
    for a, b, row in sorted(rows, key=lambda r: (endpoint_key(r[0]), endpoint_key(r[1]))):
        collector.add_link(a, b, row.where, source=row.source)
    notes: list[str] = []
    if host_ports:
        notes.append(f"{len(host_ports)} switch ports face hosts or other devices (left edge)")
    if collector.duplicates:
        notes.append(f"{collector.duplicates} LLDP rows repeat a link already seen (merged)")
    if skipped_nodes:
        notes.append(
            f"{len(skipped_nodes)} reporting devices are not switches: "
            + ", ".join(sorted(skipped_nodes)[:5])
            + (", …" if len(skipped_nodes) > 5 else "")
        )
    return ImportResult(collector.build(), tuple(notes))

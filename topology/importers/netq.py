"""NVIDIA NetQ ``netq show lldp json``: ``{"lldp": [{hostname, ifname, peerHostname,
peerIfname, …}, …]}`` (several files are merged, e.g. one per NetQ query)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from topology.importers.fabric_links import ImportResult
from topology.importers.lldp import Neighbour, SwitchNames, links_from_neighbours
from topology.importers.source import ImportOptions, Source, field, type_name


def _rows(source: Source) -> tuple[list[Any], str]:
    """The rows and their JSON location (``lldp`` in the object form, none in a bare array)."""
    document = source.json()
    if isinstance(document, dict):
        if "lldp" not in document:
            raise source.error("", 'no "lldp" array (is this `netq show lldp json` output?)')
        rows = document["lldp"]
        where = "lldp"
    else:
        rows, where = document, ""
    if not isinstance(rows, list):
        raise source.error(where, f"expected an array, found {type_name(rows)}")
    return rows, where


def _neighbours(source: Source) -> list[Neighbour]:
    found: list[Neighbour] = []
    rows, base = _rows(source)
    for i, row in enumerate(rows):
        where = f"{base}[{i}]"
        node = field(source, where, row, "hostname")
        port = field(source, where, row, "ifname")
        # A device that sends no system name or port (a host, a phone) has empty peer fields.
        peer = row.get("peerHostname")
        peer_port = row.get("peerIfname")
        if not (isinstance(peer, str) and peer.strip()):
            peer = ""
        if not (isinstance(peer_port, str) and peer_port.strip()):
            peer_port, peer = "", ""
        found.append(Neighbour(node, port, peer.strip(), peer_port.strip(), source.name, where))
    return found


def import_netq(sources: Sequence[Source], options: ImportOptions) -> ImportResult:
    """Switch-to-switch links from NetQ LLDP JSON; devices that report are the switches."""
    neighbours = [n for s in sources for n in _neighbours(s)]
    switches = SwitchNames({n.node for n in neighbours}, options)
    return links_from_neighbours(neighbours, switches, sources[0].name if sources else "")

"""Arista EOS eAPI ``show lldp neighbors`` JSON, one file per switch.

A file holds ``{"lldpNeighbors": [{port, neighborDevice, neighborPort, ttl}, …], …}``, either
bare (``show lldp neighbors | json``) or inside the eAPI JSON-RPC reply
(``{"jsonrpc": "2.0", "result": [{…}, …]}``). The file's switch is ``--name`` (one file), else the
``hostname`` of a ``show hostname`` result in the same reply, else the file name without
``.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from topology.importers.fabric_links import ImportResult
from topology.importers.lldp import Neighbour, SwitchNames, links_from_neighbours
from topology.importers.source import ImportOptions, Source, TopologyImportError, field, type_name


def _results(source: Source) -> list[tuple[str, Any]]:
    """The command results in the file with their JSON locations."""
    document = source.json()
    if isinstance(document, dict) and "result" in document:
        results = document["result"]
        if not isinstance(results, list):
            raise source.error("result", f"expected an array, found {type_name(results)}")
        return [(f"result[{i}]", r) for i, r in enumerate(results)]
    if isinstance(document, list):
        return [(f"[{i}]", r) for i, r in enumerate(document)]
    return [("", document)]


def _switch_name(source: Source, results: list[tuple[str, Any]], options: ImportOptions) -> str:
    if options.name:
        return options.name
    for _, result in results:
        if isinstance(result, dict) and isinstance(result.get("hostname"), str):
            hostname: str = result["hostname"].strip()
            if hostname:
                return hostname
    name = PurePath(source.name).name
    return name.removesuffix(".json") or name


def _neighbours(source: Source, options: ImportOptions) -> tuple[str, list[Neighbour]]:
    results = _results(source)
    switch = _switch_name(source, results, options)
    tables = [
        (where, r["lldpNeighbors"])
        for where, r in results
        if isinstance(r, dict) and "lldpNeighbors" in r
    ]
    if not tables:
        raise source.error("", 'no "lldpNeighbors" (is this `show lldp neighbors` JSON?)')
    found: list[Neighbour] = []
    for base, table in tables:
        where_table = f"{base}.lldpNeighbors" if base else "lldpNeighbors"
        if isinstance(table, dict):
            raise source.error(
                where_table, "an object: this is `show lldp neighbors detail`; use the summary form"
            )
        if not isinstance(table, list):
            raise source.error(where_table, f"expected an array, found {type_name(table)}")
        for i, row in enumerate(table):
            where = f"{where_table}[{i}]"
            port = field(source, where, row, "port")
            peer = row.get("neighborDevice")
            peer_port = row.get("neighborPort")
            if not (isinstance(peer, str) and peer.strip()) or not (
                isinstance(peer_port, str) and peer_port.strip()
            ):
                peer, peer_port = "", ""
            found.append(
                Neighbour(switch, port, peer.strip(), peer_port.strip(), source.name, where)
            )
    return switch, found


def import_eapi(sources: Sequence[Source], options: ImportOptions) -> ImportResult:
    """Switch-to-switch links from per-switch eAPI LLDP files; the files' switches are the
    switches, any other neighbour is a host."""
    if options.name and len(sources) > 1:
        raise TopologyImportError("", "", "--name names the switch of a single eAPI file")
    owner: dict[str, str] = {}
    neighbours: list[Neighbour] = []
    for source in sources:
        switch, rows = _neighbours(source, options)
        if switch in owner:
            raise source.error("", f"switch {switch} already read from {owner[switch]}")
        owner[switch] = source.name
        neighbours.extend(rows)
    switches = SwitchNames(owner, options)
    return links_from_neighbours(neighbours, switches, sources[0].name if sources else "")

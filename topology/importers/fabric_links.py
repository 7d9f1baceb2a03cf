"""Collect switch-to-switch links and switch agents from any source, then build a ``Topology``.

Links are kept by their two (node, port) ends, so the same cable seen twice (from both ends in
LLDP, or listed twice) is one link, while parallel cables between two switches (LAG members,
several uplinks) stay separate links. A port that turns up at the end of two different links
is an error naming both places.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from topology.importers.source import TopologyImportError
from topology.model import Topology, TopologyError, parse_topology

Endpoint = tuple[str, str]

_DIGITS = re.compile(r"([0-9]+)")


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that puts ``swp2`` before ``swp10`` and ``Ethernet1/2`` before ``Ethernet1/10``."""
    return tuple(
        (0, int(part)) if _DIGITS.fullmatch(part) else (1, part)
        for part in _DIGITS.split(text)
        if part
    )


def endpoint_key(end: Endpoint) -> tuple[tuple[tuple[int, int | str], ...], ...]:
    """Natural sort key of a (node, port) end."""
    return (natural_key(end[0]), natural_key(end[1]))


@dataclass(slots=True)
class _Link:
    ends: tuple[Endpoint, Endpoint]
    where: str
    name: str | None


@dataclass
class LinkCollector:
    """Links and nodes gathered from one import; ``build`` turns them into a ``Topology``."""

    source: str
    links: list[_Link] = field(default_factory=list)
    duplicates: int = 0
    _by_pair: dict[frozenset[Endpoint], _Link] = field(default_factory=dict)
    _by_end: dict[Endpoint, _Link] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)
    ports: dict[str, dict[str, int]] = field(default_factory=dict)

    def add_link(
        self, a: Endpoint, b: Endpoint, where: str, name: str | None = None, source: str = ""
    ) -> None:
        """Add the link a–b (``where`` locates it for messages); a repeat is merged silently."""
        source = source or self.source
        if a == b:
            raise TopologyImportError(source, where, f"both ends are {a[0]}/{a[1]}")
        pair = frozenset((a, b))
        known = self._by_pair.get(pair)
        if known is not None:
            self.duplicates += 1
            if name and known.name is None:
                known.name = name
            return
        for end, other in ((a, b), (b, a)):
            taken = self._by_end.get(end)
            if taken is not None:
                peer = taken.ends[1] if taken.ends[0] == end else taken.ends[0]
                raise TopologyImportError(
                    source,
                    where,
                    f"{end[0]}/{end[1]} links to {other[0]}/{other[1]} here but to "
                    f"{peer[0]}/{peer[1]} at {taken.where}",
                )
        link = _Link((a, b), where, name)
        self.links.append(link)
        self._by_pair[pair] = link
        self._by_end[a] = link
        self._by_end[b] = link

    def add_node(self, node: str, agent: str | None, ports: dict[str, int] | None = None) -> None:
        """Record a switch's sFlow agent address and, optionally, its ports' ifIndexes."""
        if agent is not None:
            self.agents[node] = agent
        if ports:
            self.ports.setdefault(node, {}).update(ports)

    def _names(self) -> list[str]:
        used = {link.name for link in self.links if link.name}
        # The serial each base last got: the ones below it are taken, and stay taken, so the
        # search resumes there (else N parallel links between two switches cost N² lookups).
        last_serial: dict[str, int] = {}
        names: list[str] = []
        for link in self.links:
            if link.name:
                names.append(link.name)
                continue
            (n1, _), (n2, _) = link.ends
            base = f"{n1}-{n2}"
            serial = last_serial.get(base, 1)
            candidate = base if serial == 1 else f"{base}-{serial}"
            while candidate in used:
                serial += 1
                candidate = f"{base}-{serial}"
            last_serial[base] = serial
            used.add(candidate)
            names.append(candidate)
        return names

    def build(self) -> Topology:
        """The collected links and nodes as a validated ``Topology``."""
        names = self._names()
        seen: dict[str, str] = {}
        links: dict[str, dict[str, str]] = {}
        for name, link in zip(names, self.links, strict=True):
            if name in seen:
                raise TopologyImportError(
                    self.source, link.where, f"link name {name!r} is already used at {seen[name]}"
                )
            seen[name] = link.where
            (n1, p1), (n2, p2) = link.ends
            links[name] = {"node1": n1, "port1": p1, "node2": n2, "port2": p2}
        nodes = {
            node: {
                "agent": agent,
                "ports": {p: {"ifindex": i} for p, i in self.ports.get(node, {}).items()},
            }
            for node, agent in sorted(self.agents.items(), key=lambda item: natural_key(item[0]))
        }
        document = {"links": links, "nodes": nodes} if nodes else {"links": links}
        try:
            return parse_topology(document)
        except TopologyError as exc:
            raise TopologyImportError(self.source, exc.location, exc.message) from None


@dataclass(frozen=True, slots=True)
class ImportResult:
    """An imported topology and notes for the user (host ports left edge, duplicates merged)."""

    topology: Topology
    notes: tuple[str, ...] = ()

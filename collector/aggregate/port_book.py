"""The aggregator's book of port statuses: tallies and link states kept as statuses change.

Reads (a scrape, the status page, the link table) then cost what changed, not a pass over
every port and link; ``tests/test_tallies.py`` holds the book equal to a recount.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from collector.delta import Labels, PortKey, PortStatus
from topology.index import CORE, EDGE, ROLES
from topology.model import LinkSpec
from topology.status import LinkSummary

LINK_STATES = ("up", "down", "unmonitored")  # the links gauge's series, in this order
UP_DOWN = ("up", "down")
Endpoint = tuple[str, str]  # (topology node, port)
# (name, link, status, end 1's latest status, end 2's) → one entry of a links document
LinkEntryBuilder = Callable[[str, LinkSpec, str, PortStatus | None, PortStatus | None], Any]


class PortBook:
    """The latest port statuses with their tallies and each link's state, kept up to date as
    statuses arrive and expire and as the topology changes, so that a scrape or a status
    document reads them instead of recounting every port and link.

    Two rules decide a link end, as the from-scratch passes always did: for a link's status, the
    status inserted last among those naming the end (iteration order of ``ports``); for a
    link's load, the one seen last (``last_seen``, ties to the later inserted)."""

    def __init__(self) -> None:
        self.ports: dict[PortKey, PortStatus] = {}
        self.port_counts: dict[Labels, int] = {(r, s): 0 for r in ROLES for s in UP_DOWN}
        self.edge_speed_up = 0  # summed ifSpeed of edge ports admin and oper up
        # bit/s received by each edge and core port in its last counter interval
        self.ingress_bps: dict[str, dict[PortKey, float]] = {EDGE: {}, CORE: {}}
        self._order: dict[PortKey, int] = {}  # insertion rank, mirroring the dict's order
        self._next_rank = 0
        # the ports naming each end (a tuple: one port, almost always)
        self._claims: dict[Endpoint, tuple[PortKey, ...]] = {}
        self._links: Mapping[str, LinkSpec] = {}
        self._names: list[str] = []  # sorted link names
        self._links_of: dict[Endpoint, tuple[str, ...]] = {}
        # ends whose deciding status may have changed its states, or anything (load, time)
        self._dirty_states: set[Endpoint] = set()
        self._dirty_loads: set[Endpoint] = set()
        self._restate_all = False
        # per link: (oper status for /metrics, admin+oper status for the status documents)
        self._state: dict[str, tuple[str, str]] = {}
        self._oper_counts: dict[str, int] = dict.fromkeys(LINK_STATES, 0)
        self._status_counts: dict[str, int] = dict.fromkeys(LINK_STATES, 0)
        self._not_up: dict[str, set[str]] = {"down": set(), "unmonitored": set()}
        self._summary: LinkSummary | None = None
        self._position: dict[str, int] = {}  # link name → its place in ``_names``
        # per builder of ``link_entries``: the memoised entries in name order, and the places
        # of those to build again
        self._entries: dict[LinkEntryBuilder, tuple[list[Any], set[int]]] = {}

    # Changes

    def put(self, key: PortKey, status: PortStatus) -> None:
        """Record the latest status of one port."""
        ports = self.ports
        old = ports.get(key)
        node, port = status.node, status.port
        if old is not None and old.node == node and old.port == port:
            # The common case, a port's next counter sample: same end, usually same states.
            ports[key] = status
            self._set_ingress(key, old, status)
            if (
                old.oper_up != status.oper_up
                or old.admin_up != status.admin_up
                or old.role != status.role
                or old.speed_bps != status.speed_bps
            ):
                self._untally(old)
                self._tally(status)
                if node is not None and port is not None:
                    self._dirty_states.add((node, port))
            if node is not None and port is not None:
                self._dirty_loads.add((node, port))
            return
        if old is None:
            self._order[key] = self._next_rank
            self._next_rank += 1
        else:
            self._untally(old)
            if old.node is not None and old.port is not None:
                self._unclaim((old.node, old.port), key)
        ports[key] = status
        self._tally(status)
        self._set_ingress(key, old, status)
        if node is not None and port is not None:
            end = (node, port)
            # a new port, or one that named another end: not among this end's yet
            self._claims[end] = (*self._claims.get(end, ()), key)
            self._dirty_states.add(end)
            self._dirty_loads.add(end)

    def remove(self, key: PortKey) -> None:
        """Forget one port (expired, or its agent gone)."""
        old = self.ports.pop(key, None)
        if old is None:
            return
        del self._order[key]
        self._untally(old)
        self._set_ingress(key, old, None)
        if old.node is not None and old.port is not None:
            self._unclaim((old.node, old.port), key)

    def set_links(self, links: Mapping[str, LinkSpec]) -> None:
        """The topology's links (empty without a topology)."""
        self._links = links
        self._names = sorted(links)
        self._position = {name: i for i, name in enumerate(self._names)}
        links_of: dict[Endpoint, tuple[str, ...]] = {}
        for name, link in links.items():
            for end in ((link.node1, link.port1), (link.node2, link.port2)):
                links_of[end] = (*links_of.get(end, ()), name)
        self._links_of = links_of
        self._restate_all = True

    def _tally(self, status: PortStatus) -> None:
        counts = self.port_counts
        labels = (status.role, "up" if status.oper_up else "down")
        counts[labels] = counts.get(labels, 0) + 1
        if status.role == EDGE and status.oper_up and status.admin_up:
            self.edge_speed_up += status.speed_bps

    def _untally(self, status: PortStatus) -> None:
        self.port_counts[(status.role, "up" if status.oper_up else "down")] -= 1
        if status.role == EDGE and status.oper_up and status.admin_up:
            self.edge_speed_up -= status.speed_bps

    def _set_ingress(self, key: PortKey, old: PortStatus | None, new: PortStatus | None) -> None:
        """Keep ``ingress_bps`` (edge and core ports with an input utilisation) in step."""
        ingress = self.ingress_bps
        if old is not None and (new is None or old.role != new.role):
            table = ingress.get(old.role)
            if table is not None:
                table.pop(key, None)
        if new is not None:
            table = ingress.get(new.role)
            if table is not None:
                if new.in_utilization is None:
                    table.pop(key, None)
                else:
                    table[key] = new.in_utilization * new.speed_bps

    def _unclaim(self, end: Endpoint, key: PortKey) -> None:
        rest = tuple(k for k in self._claims[end] if k != key)
        if rest:
            self._claims[end] = rest
        else:
            del self._claims[end]
        self._dirty_states.add(end)
        self._dirty_loads.add(end)

    # Link states, brought up to date when read

    def _refresh(self) -> None:
        """Restate the links whose ends' deciding statuses changed, and drop their memoised
        entries (all of them after a topology change)."""
        if self._restate_all:
            self._restate_all = False
            self._dirty_states.clear()
            self._dirty_loads.clear()
            self._state.clear()
            self._entries.clear()
            self._oper_counts = dict.fromkeys(LINK_STATES, 0)
            self._status_counts = dict.fromkeys(LINK_STATES, 0)
            self._not_up = {"down": set(), "unmonitored": set()}
            self._summary = None
            for name in self._names:
                self._restate(name)
            return
        links_of = self._links_of
        if self._dirty_states:
            for end in self._dirty_states:
                for name in links_of.get(end, ()):
                    self._restate(name)
            self._dirty_states.clear()
        if self._dirty_loads:
            memos = self._entries.values()
            position = self._position
            for end in self._dirty_loads:
                for name in links_of.get(end, ()):
                    for _, stale in memos:
                        stale.add(position[name])
            self._dirty_loads.clear()

    def _restate(self, name: str) -> None:
        link = self._links[name]
        end1 = self._by_order((link.node1, link.port1))
        end2 = self._by_order((link.node2, link.port2))
        if end1 is None or end2 is None:
            state = ("unmonitored", "unmonitored")
        else:
            oper = "up" if end1.oper_up and end2.oper_up else "down"
            both = end1.oper_up and end1.admin_up and end2.oper_up and end2.admin_up
            state = (oper, "up" if both else "down")
        old = self._state.get(name)
        if old == state:
            return
        if old is not None:
            self._oper_counts[old[0]] -= 1
            self._status_counts[old[1]] -= 1
            if old[1] != "up":
                self._not_up[old[1]].discard(name)
        self._state[name] = state
        self._oper_counts[state[0]] += 1
        self._status_counts[state[1]] += 1
        if state[1] != "up":
            self._not_up[state[1]].add(name)
        self._summary = None

    def _by_order(self, end: Endpoint) -> PortStatus | None:
        """The status inserted last among those naming ``end``."""
        claims = self._claims.get(end)
        if not claims:
            return None
        if len(claims) == 1:
            return self.ports[claims[0]]
        return self.ports[max(claims, key=self._order.__getitem__)]

    def _by_time(self, end: Endpoint) -> PortStatus | None:
        """The status seen last among those naming ``end`` (ties: the one inserted last)."""
        claims = self._claims.get(end)
        if not claims:
            return None
        ports = self.ports
        if len(claims) == 1:
            return ports[claims[0]]
        order = self._order
        return ports[max(claims, key=lambda k: (ports[k].last_seen, order[k]))]

    def link_oper_counts(self) -> dict[str, int]:
        """Links by status from oper status alone (the ``links`` gauge)."""
        self._refresh()
        return self._oper_counts

    def link_summary(self) -> LinkSummary:
        """Links by status from admin and oper status (the status document)."""
        self._refresh()
        if self._summary is None:
            self._summary = LinkSummary(
                total=len(self._names),
                up=self._status_counts["up"],
                unmonitored=sorted(self._not_up["unmonitored"]),
                down=sorted(self._not_up["down"]),
            )
        return self._summary

    def link_entries(self, build: LinkEntryBuilder) -> list[Any]:
        """``build(name, link, status, end1, end2)`` of every link, sorted by name, each
        memoised until a status naming one of its ends changes (ends by time, status by order)."""
        self._refresh()
        names = self._names
        memo = self._entries.get(build)
        if memo is None:
            memo = self._entries[build] = ([None] * len(names), set(range(len(names))))
        entries, stale = memo
        for i in stale:
            name = names[i]
            link = self._links[name]
            entries[i] = build(
                name,
                link,
                self._state[name][1],
                self._by_time((link.node1, link.port1)),
                self._by_time((link.node2, link.port2)),
            )
        stale.clear()
        return list(entries)

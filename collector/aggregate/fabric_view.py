"""Aggregator side of locate, fabric status and drops: what the receivers' observations add up to.

``FabricView`` holds the locate table (LRU, ``MAX_ADDRESSES`` addresses, evictions counted), the
drop log ring and the per-agent flow activity; it merges each ``Observations`` a receiver's
``collector.receive.observe.FabricObserver`` drained. The HTTP face reads it
(``collector.http.fabric``).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from collector.addresses import normalize_address
from collector.aggregate.drop_log import DropLog
from collector.delta import Location, Observations
from topology.index import TopologyIndex

MAX_ADDRESSES = 100_000  # aggregator locate table (LRU)
MAX_FLOW_AGENTS = 200_000  # the aggregator forgets the oldest beyond this


class LocateTable:
    """Aggregator side: address → where it enters the fabric; LRU-bounded."""

    def __init__(self, capacity: int = MAX_ADDRESSES) -> None:
        self.capacity = capacity
        self.evictions = 0
        self._table: OrderedDict[str, Location] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def learn(self, location: Location) -> None:
        """Remember one (MAC, IP) at one port; the latest sighting of an address wins."""
        table = self._table
        for address in location[0], location[1]:
            if address is None:
                continue
            old = table.get(address)
            if old is not None:
                key = address  # the keys are canonical text: a hit needs no normalising
            else:
                try:
                    key = normalize_address(address)
                except ValueError:
                    continue
                old = table.get(key)
            if old is not None:
                table.move_to_end(key)
                if old[6] > location[6]:
                    continue
            table[key] = location
            if len(table) > self.capacity:
                table.popitem(last=False)
                self.evictions += 1

    def lookup(self, address: str, index: TopologyIndex | None = None) -> list[dict[str, Any]]:
        """The port where ``address`` was last seen entering the fabric ([] when unknown);
        ``ValueError`` when ``address`` is not an address."""
        found = self._table.get(normalize_address(address))
        if found is None:
            return []
        mac, ip, agent, ifindex, node, port, seen = found
        if index is not None:
            info = index.explicit(agent, ifindex)
            if info is not None:
                node, port = info.node, info.port
        return [
            {
                "node": node,
                "port": port,
                "agent": agent,
                "ifindex": ifindex,
                "mac": mac,
                "ip": ip,
                "last_seen": seen,
            }
        ]


class FabricView:
    """Aggregator side: locate table, drop log, per-agent flow activity."""

    def __init__(self) -> None:
        self.locate = LocateTable()
        self.drops = DropLog()
        self.flow_agents: dict[str, float] = {}

    def merge(self, observed: Observations) -> None:
        """Add one receiver's observations."""
        for location in observed.locations:
            self.locate.learn(location)
        if observed.drop_events or observed.drops_skipped:
            self.drops.extend(observed.drop_events, observed.drops_skipped)
        if observed.flow_agents:
            flow_agents = self.flow_agents
            flow_agents.update(observed.flow_agents)
            if len(flow_agents) > MAX_FLOW_AGENTS:
                newest = sorted(flow_agents.items(), key=lambda kv: kv[1])[-MAX_FLOW_AGENTS // 2 :]
                self.flow_agents = dict(newest)

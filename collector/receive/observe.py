"""Receiver side of locate, fabric status and drops: what a receiver observes beyond the counts.

``FabricObserver`` (one per ``FabricState``):

* **locate learning**: (MAC, IP) → (agent, ifIndex) from flow samples whose *input* port is an
  **edge** port, i.e. frames entering the fabric from the host behind that port. It is sampled
  cheaply: at most ``LEARN_ROWS_PER_TICK`` rows are examined per tick (one row per datagram, in
  turn), and a known (address, port) pair is shipped again only every ``REFRESH_SECONDS``;
* **flow activity**: when each agent last sent a flow sample (the status "noflows" test);
* **drop events**: one compact event per decoded drop sample (``collector.receive.drops``).

Each tick ``drain()`` hands this over as one bounded ``Observations`` (it rides in the ``Delta``;
the aggregator's ``collector.aggregate.fabric_view`` merges it).
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from collector.delta import Location, Observations
from collector.receive.drops import DropRecorder
from decoders.fast import COL_INPUT_FORMAT, COL_INPUT_VALUE, addresses
from decoders.packet_types import PacketInfo
from decoders.records import IFINDEX_INTERNAL, DropSample
from topology.index import EDGE, PortInfo
from topology.resolver import PortResolver

LEARN_ROWS_PER_TICK = 2_048  # rows examined for locate per receiver and tick
REFRESH_SECONDS = 10.0  # a known (address, port) pair is re-shipped this often (last seen)
SHIPPED_CAP = 100_000  # receiver-side memory of what was shipped (cleared when full)
FLOW_AGENTS_PER_TICK = 20_000  # agents whose flow activity one receiver ships per tick


class FabricObserver:
    """Locate learning, flow activity and drop events of one receiver (module docstring)."""

    __slots__ = ("_budget", "_locations", "_shipped", "_turn", "drops", "flow_agents")

    def __init__(self) -> None:
        self._budget = LEARN_ROWS_PER_TICK
        self._turn = 0
        self._locations: list[Location] = []
        self._shipped: dict[tuple[str | None, str | None, str, int], float] = {}
        self.flow_agents: dict[str, float] = {}
        self.drops = DropRecorder()

    def observe_rows(
        self, rows: Any, data: Any, agent: str, resolver: PortResolver, now: float
    ) -> None:
        """A datagram with ``rows.count`` > 0 flow rows (fast path)."""
        self.flow_agents[agent] = now
        if self._budget <= 0:
            return
        self._budget -= 1
        i = self._turn % rows.count
        self._turn += 1
        if rows.get(i, COL_INPUT_FORMAT) != 0:
            return
        in_if = rows.get(i, COL_INPUT_VALUE)
        if not 0 < in_if < IFINDEX_INTERNAL:
            return
        info = resolver.resolve(agent, in_if)
        if info is None or info.role != EDGE:
            return
        src_mac, _, src_ip, _ = addresses(data, rows, i)
        self._learn(src_mac, src_ip, agent, in_if, info, now)

    def observe_packet(
        self,
        agent: str,
        in_if: int | None,
        packet: PacketInfo | None,
        resolver: PortResolver,
        now: float,
    ) -> None:
        """One flow sample of the full decoder."""
        self.flow_agents[agent] = now
        if self._budget <= 0 or packet is None or in_if is None:
            return
        self._budget -= 1
        info = resolver.resolve(agent, in_if)
        if info is None or info.role != EDGE:
            return
        self._learn(packet.src_mac, packet.src_ip, agent, in_if, info, now)

    def record_drop(
        self, agent: str, sample: DropSample, resolver: PortResolver, now: float
    ) -> None:
        """One decoded drop sample."""
        self.drops.record(agent, sample, resolver, now)

    def _learn(
        self,
        mac: str | None,
        ip: str | None,
        agent: str,
        ifindex: int,
        info: PortInfo,
        now: float,
    ) -> None:
        if mac is not None and int(mac[:2], 16) & 1:
            mac = None  # a group address is nobody's
        if ip in ("0.0.0.0", "::"):
            ip = None
        if mac is None and ip is None:
            return
        key = (mac, ip, agent, ifindex)
        shipped = self._shipped.get(key)
        if shipped is not None and now - shipped < REFRESH_SECONDS:
            return
        if shipped is None and len(self._shipped) >= SHIPPED_CAP:
            self._shipped.clear()
        self._shipped[key] = now
        self._locations.append((mac, ip, agent, ifindex, info.node, info.port, now))

    def drain(self) -> Observations | None:
        """This tick's observations (None when there are none); refills the budget."""
        self._budget = LEARN_ROWS_PER_TICK
        events, skipped = self.drops.drain()
        if not (self._locations or events or skipped or self.flow_agents):
            return None
        flow_agents = self.flow_agents
        if len(flow_agents) > FLOW_AGENTS_PER_TICK:  # a flood of spoofed agents
            flow_agents = dict(islice(flow_agents.items(), FLOW_AGENTS_PER_TICK))
        observed = Observations(self._locations, events, skipped, flow_agents)
        self._locations = []
        self.flow_agents = {}
        return observed

"""Locate, fabric status and drop events: what the receivers observe beyond the counted metrics.

Receiver side, ``FabricObserver`` (one per ``FabricState``):

* **locate learning**: (MAC, IP) → (agent, ifIndex) from flow samples whose *input* port is an
  **edge** port, i.e. frames entering the fabric from the host behind that port. It is sampled
  cheaply: at most ``LEARN_ROWS_PER_TICK`` rows are examined per tick (one row per datagram, in
  turn), and a known (address, port) pair is shipped again only every ``REFRESH_SECONDS``;
* **flow activity**: when each agent last sent a flow sample (the status "noflows" test);
* **drop events**: one compact event per decoded drop sample (``collector.drop_log``).

Each tick ``drain()`` hands this over as one bounded ``Observations`` (it rides in the ``Delta``).

Aggregator side, ``FabricView``: the locate table (LRU, ``MAX_ADDRESSES`` addresses, evictions
counted), the drop log ring and the per-agent flow activity. ``add_fabric_routes`` serves them
(``/locate/json``, ``/topology/status/json``, ``/drops/json`` and sFlow-RT topology app paths;
see docs/cli.md).
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from collector.drop_log import MAX_BATCH, DropLog, DropRecorder, Event, parse_filter
from decoders.fast import COL_INPUT_FORMAT, COL_INPUT_VALUE, addresses
from decoders.packet_types import PacketInfo
from decoders.records import DropSample
from topology.index import EDGE, PortInfo, TopologyIndex
from topology.resolver import PortResolver
from topology.status import fabric_status, prometheus_text, traffic_figures

if TYPE_CHECKING:
    from aiohttp import web

    from collector.delta import AgentStatus, PortStatus

LEARN_ROWS_PER_TICK = 2_048  # rows examined for locate per receiver and tick
REFRESH_SECONDS = 10.0  # a known (address, port) pair is re-shipped this often (last seen)
SHIPPED_CAP = 100_000  # receiver-side memory of what was shipped (cleared when full)
MAX_ADDRESSES = 100_000  # aggregator locate table (LRU)
FLOW_AGENTS_PER_TICK = 20_000  # agents whose flow activity one receiver ships per tick
MAX_FLOW_AGENTS = 200_000  # the aggregator forgets the oldest beyond this
IFINDEX_INTERNAL = 0x3FFFFFFF
TOPOLOGY_APP_BASE = "/app/topology/scripts/topology.js"

# (src MAC, src IP, agent, ifIndex, node, port, seen)
Location = tuple[str | None, str | None, str, int, str, str, float]


@dataclass(slots=True)
class Observations:
    """One receiver's observations of one tick (plain data: pickles cheaply)."""

    locations: list[Location] = field(default_factory=list)
    drop_events: list[Event] = field(default_factory=list)
    drops_skipped: int = 0
    flow_agents: dict[str, float] = field(default_factory=dict)  # agent → last flow sample


class FabricObserver:
    """Receiver side (see the module docstring)."""

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


# ---------------------------------------------------------------------------------------------
# Addresses

_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")


def normalize_address(text: str) -> str:
    """Canonical text of a MAC (``aa:bb:cc:dd:ee:ff``), IPv4 or IPv6 address; ``ValueError``
    when it is none of them."""
    value = text.strip().lower()
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        pass
    compact = re.sub(r"[:\-.]", "", value)
    if _MAC_HEX.match(compact) and len(value) in (12, 14, 17):
        return ":".join(compact[i : i + 2] for i in range(0, 12, 2))
    raise ValueError(f"{text!r} is not a MAC, IPv4 or IPv6 address")


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


# ---------------------------------------------------------------------------------------------
# HTTP


class AggregatorLike(Protocol):
    """What the routes read from ``collector.aggregate.Aggregator``."""

    @property
    def index(self) -> TopologyIndex | None:
        """The topology in use."""

    @property
    def agents(self) -> Mapping[tuple[str, int], AgentStatus]:
        """Latest agent statuses."""

    @property
    def ports(self) -> Mapping[tuple[str, int], PortStatus]:
        """Latest port statuses."""

    @property
    def view(self) -> FabricView:
        """Locate table, drop log, flow activity."""

    def rates(self, family: str) -> Mapping[tuple[str, ...], float]:
        """Smoothed per-second rates of one family by labels."""


class TopologyLike(Protocol):
    """``collector.http.TopologyAccess``."""

    def current_json(self) -> dict[str, Any] | None:
        """The topology in sFlow-RT GET form, or None."""

    def replace_json(self, body: bytes) -> int:
        """Validate and install a topology; returns its version."""


def status_document(aggregator: AggregatorLike, now: float | None = None) -> dict[str, Any]:
    """``GET /topology/status/json``."""
    when = time.time() if now is None else now
    # The aggregator keeps the link states and the edge speed as statuses change; a plain
    # view of statuses (a test double, a tool) is counted from scratch.
    book = getattr(aggregator, "port_book", None)
    document = fabric_status(
        aggregator.index,
        aggregator.agents,
        aggregator.ports.values(),
        aggregator.view.flow_agents,
        when,
        links=None if book is None else book.link_summary(),
    )
    document["traffic"] = traffic_figures(
        aggregator.rates("interface_bytes"),
        aggregator.rates("interface_packets"),
        aggregator.rates("interface_discards"),
        aggregator.rates("interface_errors"),
        aggregator.ports.values(),
        edge_speed=None if book is None else book.edge_speed_up,
    )
    document["locate"] = {
        "addresses": len(aggregator.view.locate),
        "evictions": aggregator.view.locate.evictions,
    }
    return document


def add_fabric_routes(
    app: web.Application, aggregator: AggregatorLike, topology: TopologyLike
) -> None:
    """Register the status, locate and drops routes (native and sFlow-RT topology app paths)."""
    from aiohttp import web

    from topology.model import TopologyError

    def json_response(document: object) -> web.Response:
        body = json.dumps(document, separators=(",", ":")).encode()
        return web.Response(body=body, content_type="application/json")

    async def status(_: web.Request) -> web.Response:
        return json_response(status_document(aggregator))

    async def locate(request: web.Request) -> web.Response:
        address = request.query.get("address")
        if not address:
            return web.Response(status=400, text="address: required (MAC, IPv4 or IPv6)\n")
        try:
            found = aggregator.view.locate.lookup(address, aggregator.index)
        except ValueError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        return json_response(found)

    async def unknown(_: web.Request) -> web.Response:
        return json_response(status_document(aggregator)["unknown_agents"])

    async def agents(_: web.Request) -> web.Response:
        out: dict[str, str] = {}
        for (agent, _sub), state in sorted(aggregator.agents.items()):
            if state.node:
                out.setdefault(state.node, agent)
        return json_response(out)

    async def prometheus(_: web.Request) -> web.Response:
        text = prometheus_text(status_document(aggregator))
        return web.Response(text=text, content_type="text/plain", charset="utf-8")

    async def drops(request: web.Request) -> web.Response:
        query = request.query
        try:
            after = int(query["after"]) if "after" in query else None
            limit = int(query.get("limit", MAX_BATCH))
        except ValueError:
            return web.Response(status=400, text="after, limit: integers\n")
        try:
            filters = parse_filter(query.get("filter"))
        except ValueError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        document = aggregator.view.drops.after(
            after, limit=max(1, min(limit, MAX_BATCH)), filters=filters or None
        )
        return json_response(document)

    async def get_topology(_: web.Request) -> web.Response:
        return json_response(topology.current_json() or {})

    async def put_topology(request: web.Request) -> web.Response:
        try:
            version = topology.replace_json(await request.read())
        except TopologyError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        return json_response({"version": version})

    router = app.router
    router.add_get("/topology/status/json", status)
    router.add_get("/topology/unknown/json", unknown)
    router.add_get("/locate/json", locate)
    router.add_get("/drops/json", drops)
    base = TOPOLOGY_APP_BASE
    router.add_get(f"{base}/topology/json", get_topology)
    router.add_put(f"{base}/topology/json", put_topology)
    router.add_post(f"{base}/topology/json", put_topology)
    router.add_get(f"{base}/status/json", status)
    router.add_get(f"{base}/locate/json", locate)
    router.add_get(f"{base}/unknown/json", unknown)
    router.add_get(f"{base}/agents/json", agents)
    router.add_get(f"{base}/prometheus/txt", prometheus)

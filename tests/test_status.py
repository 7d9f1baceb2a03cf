"""Fabric status (topology app): nodes, links and agents from statuses; Prometheus text."""

from __future__ import annotations

from collector.delta import AgentStatus, PortStatus
from tests.fabric_builders import TOPOLOGY
from topology import TopologyIndex, parse_topology
from topology.status import fabric_status, prometheus_text, traffic_figures


def _agent(node: str, seen: float = 10.0) -> AgentStatus:
    return AgentStatus(node, seen, 1000, 1000, None)


def _port(
    node: str | None,
    port: str | None,
    oper: bool = True,
    admin: bool = True,
    role: str = "core",
    speed: int = 10**11,
) -> PortStatus:
    return PortStatus(node, port, role, oper, admin, speed, None, None, 10.0)


def test_nodes_links_and_agents() -> None:
    index = TopologyIndex(parse_topology(TOPOLOGY), 3)
    agents = {
        ("10.0.0.1", 0): _agent("leaf1"),
        ("10.0.0.2", 0): _agent("leaf2"),
        ("10.9.9.9", 0): _agent(""),  # not in the topology
    }
    ports = [
        _port("leaf1", "swp1"),
        _port("spine1", "swp1", oper=False),  # L1 down at the spine end
        _port("leaf2", "swp1"),  # L2: spine end never reported
        _port(None, None),
    ]
    flows = {"10.0.0.1": 100.0, "10.0.0.2": 10.0}  # leaf2's last flow sample is stale
    status = fabric_status(index, agents, ports, flows, now=100.0, flow_window=60.0)
    assert status["version"] == 3
    assert status["nodes"] == {"total": 3, "unmonitored": 1, "noflows": 1, "flows": 1}
    assert status["unmonitored_nodes"] == ["spine1"]
    assert status["noflows_nodes"] == ["leaf2"]
    assert status["links"] == {"total": 2, "unmonitored": 1, "down": 1, "up": 0}
    assert status["down_links"] == ["L1"] and status["unmonitored_links"] == ["L2"]
    assert status["agents"] == {"total": 3, "known": 2, "unknown": 1}
    assert status["unknown_agents"] == [{"agent": "10.9.9.9", "sub_agent": 0, "last_seen": 10.0}]
    text = prometheus_text(status)
    assert 'sflow_topology_nodes{status="unmonitored"} 1\n' in text
    assert 'sflow_topology_nodes{status="noflows"} 1\n' in text
    assert 'sflow_topology_links{status="down"} 1\n' in text
    assert 'sflow_topology_links{status="up"} 0\n' in text
    assert 'sflow_topology_agents{status="unknown"} 1\n' in text
    assert "# TYPE sflow_topology_links gauge\n" in text


def test_traffic_figures_edge_in_and_fabric_errors() -> None:
    octets = {("in", "edge"): 1000.0, ("out", "edge"): 7.0, ("in", "core"): 5000.0}
    packets = {("in", "edge"): 10.0, ("in", "core"): 50.0, ("in", "unmapped"): 3.0}
    discards = {("in", "edge"): 1.5, ("out", "core"): 2.0, ("in", "unmapped"): 100.0}
    errors = {("out", "edge"): 0.25, ("in", "unmapped"): 9.0}
    ports = [
        _port("leaf1", "swp1", role="edge", speed=25 * 10**9),
        _port("leaf1", "swp2", role="edge", speed=100 * 10**9),
        _port("leaf1", "swp3", role="edge", oper=False, speed=400 * 10**9),  # down: no capacity
        _port("leaf1", "swp9", role="core", speed=400 * 10**9),
    ]
    traffic = traffic_figures(octets, packets, discards, errors, ports)
    # edge ingress only; discards/errors over edge+core both directions, unmapped left out
    assert traffic == {
        "bps": 8000.0,
        "speed": 125e9,
        "pps": 10.0,
        "discards": 3.5,
        "errors": 0.25,
    }
    text = prometheus_text({**fabric_status(None, {}, [], {}, 0.0), "traffic": traffic})
    tail = text.splitlines()[-10:]
    assert tail[1::2] == [
        "sflow_topology_traffic_bps 8000.0",
        "sflow_topology_traffic_speed 125000000000.0",
        "sflow_topology_traffic_pps 10.0",
        "sflow_topology_traffic_discards 3.5",
        "sflow_topology_traffic_errors 0.25",
    ]
    assert tail[0] == "# TYPE sflow_topology_traffic_bps gauge"


def test_admin_down_is_down_and_all_up_is_up() -> None:
    index = TopologyIndex(parse_topology(TOPOLOGY))
    ports = [
        _port("leaf1", "swp1"),
        _port("spine1", "swp1"),
        _port("leaf2", "swp1", admin=False, oper=False),
        _port("spine1", "swp2"),
    ]
    status = fabric_status(index, {}, ports, {}, now=0.0)
    assert status["links"] == {"total": 2, "unmonitored": 0, "down": 1, "up": 1}
    assert status["nodes"]["unmonitored"] == 3


def test_an_agent_known_only_by_the_nodes_block_counts_for_its_node() -> None:
    index = TopologyIndex(parse_topology(TOPOLOGY))
    status = fabric_status(index, {("10.0.0.3", 0): _agent("")}, [], {"10.0.0.3": 5.0}, now=6.0)
    assert status["nodes"]["flows"] == 1 and status["agents"]["unknown"] == 0


def test_without_topology_every_agent_is_unknown() -> None:
    status = fabric_status(None, {("10.0.0.1", 0): _agent("")}, [], {}, now=0.0)
    assert status["topology"] is False
    assert status["nodes"]["total"] == 0 and status["links"]["total"] == 0
    assert status["agents"] == {"total": 1, "known": 0, "unknown": 1}


# -- HTTP routes (collector.http.fabric, collector.http.topology) against a stand-in aggregator -


class _Topology:
    def __init__(self) -> None:
        self.body: bytes | None = None

    def current_json(self) -> dict[str, object] | None:
        return {"links": {}, "version": 1}

    def replace_json(self, body: bytes) -> int:
        from topology.model import TopologyError

        if body == b"bad":
            raise TopologyError("", "invalid JSON: bad")
        self.body = body
        return 2


class _Aggregator:
    def __init__(self) -> None:
        from collector.aggregate.fabric_view import FabricView

        self.index = TopologyIndex(parse_topology(TOPOLOGY))
        self.agents = {("10.0.0.1", 0): _agent("leaf1"), ("10.9.9.9", 0): _agent("")}
        self.ports = {("10.0.0.1", 3): _port("leaf1", "swp1")}
        self.view = FabricView()
        self.view.locate.learn(("02:00:00:00:00:05", "10.128.0.5", "10.0.0.1", 5, "x", "y", 9.0))
        self.view.drops.extend(
            [{"time": 1.0, "reason_name": "acl"}, {"time": 2.0, "reason_name": "red"}]
        )

    def rates(self, family: str) -> dict[tuple[str, ...], float]:
        return {("in", "edge"): 2.0} if family == "interface_errors" else {}


def test_routes() -> None:
    import asyncio

    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    from collector.http.fabric import add_fabric_routes
    from collector.http.topology import TOPOLOGY_APP_BASE, add_topology_routes

    topology = _Topology()

    async def scenario() -> None:
        app = web.Application()
        add_fabric_routes(app, _Aggregator())
        add_topology_routes(app, topology)
        async with TestClient(TestServer(app)) as client:
            status = await (await client.get("/topology/status/json")).json()
            assert status["agents"] == {"total": 2, "known": 1, "unknown": 1}
            assert status["locate"] == {"addresses": 2, "evictions": 0}
            app_status = await client.get(f"{TOPOLOGY_APP_BASE}/status/json")
            assert (await app_status.json())["nodes"] == status["nodes"]
            unknown = await (await client.get("/topology/unknown/json")).json()
            assert [u["agent"] for u in unknown] == ["10.9.9.9"]
            agents = await (await client.get(f"{TOPOLOGY_APP_BASE}/agents/json")).json()
            assert agents == {"leaf1": "10.0.0.1"}
            # the nodes block's names win over the names learnt at the time
            found = await (await client.get("/locate/json?address=10.128.0.5")).json()
            assert (found[0]["node"], found[0]["port"], found[0]["ifindex"]) == ("leaf1", "swp3", 5)
            assert await (await client.get("/locate/json?address=10.1.1.1")).json() == []
            assert (await client.get("/locate/json?address=leaf1")).status == 400
            assert (await client.get("/locate/json")).status == 400
            page = await (await client.get("/drops/json?after=1")).json()
            assert [e["id"] for e in page["events"]] == [2] and page["total"] == 2
            page = await (await client.get("/drops/json?filter=reason=acl")).json()
            assert [e["id"] for e in page["events"]] == [1] and page["last"] == 2
            assert (await client.get("/drops/json?after=x")).status == 400
            assert (await client.get("/drops/json?filter=x=1")).status == 400
            text = await (await client.get(f"{TOPOLOGY_APP_BASE}/prometheus/txt")).text()
            assert 'sflow_topology_agents{status="unknown"} 1' in text
            assert "sflow_topology_traffic_errors 2.0\n" in text
            put = await client.put(f"{TOPOLOGY_APP_BASE}/topology/json", data=b"{}")
            assert await put.json() == {"version": 2} and topology.body == b"{}"
            bad = await client.post(f"{TOPOLOGY_APP_BASE}/topology/json", data=b"bad")
            assert bad.status == 400
            got = await (await client.get(f"{TOPOLOGY_APP_BASE}/topology/json")).json()
            assert got == {"links": {}, "version": 1}

    asyncio.run(scenario())

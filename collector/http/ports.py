"""``GET /ports/json``: what the collector knows of every agent and interface, for checks.

One document: the collector's clock, the loaded topology's version, every agent (its node in the
loaded topology, the hostname it sends in host_descr, when it last sent a datagram and a flow
sample) and every interface that sent counters (agent, ifIndex, node/port/role in the loaded
topology, the ifName it reports in port_name, ifSpeed, ifOperStatus / ifAdminStatus, when its
last counter sample arrived, and whether its agent is sending flow samples).

``fabricscope topology check --collector`` compares a topology file against it, so it reports
the raw learned facts, not only what the loaded topology makes of them. ``?agent=ADDRESS``
narrows it to one agent.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from collector.delta import UNKNOWN_SPEED
from collector.http.access import AggregatorView, json_response
from topology.check import agent_address
from topology.status import FLOW_WINDOW


def _up(flag: bool) -> str:
    return "up" if flag else "down"


def ports_document(
    source: AggregatorView, now: float, agent: str | None = None, flow_window: float = FLOW_WINDOW
) -> dict[str, Any]:
    """The ``/ports/json`` document at ``now`` (only ``agent``'s rows when given)."""
    flow_agents = source.view.flow_agents
    index = source.index
    agents: list[dict[str, Any]] = []
    for (address, sub_agent), status in sorted(source.agents.items()):
        if agent is not None and address != agent:
            continue
        agents.append(
            {
                "agent": address,
                "sub_agent": sub_agent,
                "node": status.node or None,
                "hostname": status.hostname,
                "last_seen": status.last_seen,
                "last_flow": flow_agents.get(address),
            }
        )
    ports: list[dict[str, Any]] = []
    for (address, ifindex), port in sorted(source.ports.items()):
        if agent is not None and address != agent:
            continue
        last_flow = flow_agents.get(address)
        ports.append(
            {
                "agent": address,
                "ifindex": ifindex,
                "node": port.node,
                "port": port.port,
                "role": port.role,
                "sflow_name": port.sflow_name,
                "speed": port.speed_bps if port.speed_bps != UNKNOWN_SPEED else None,
                "oper_status": _up(port.oper_up),
                "admin_status": _up(port.admin_up),
                "last_counter": port.last_seen,
                "agent_flows": last_flow is not None and last_flow >= now - flow_window,
            }
        )
    return {
        "time": now,
        "topology_version": index.version if index is not None else 0,
        "flow_window": flow_window,
        "agents": agents,
        "ports": ports,
    }


def add_ports_routes(app: web.Application, source: AggregatorView) -> None:
    """Register ``GET /ports/json``."""

    async def ports(request: web.Request) -> web.Response:
        agent = request.query.get("agent")
        if agent is not None:
            try:
                agent = agent_address(agent)
            except ValueError as exc:
                raise web.HTTPBadRequest(text=f"agent: {exc}") from None
        return json_response(ports_document(source, time.time(), agent))

    app.router.add_get("/ports/json", ports)

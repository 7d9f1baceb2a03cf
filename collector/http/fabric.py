"""``/topology/status/json``, ``/locate/json``, ``/drops/json`` and the topology app's paths.

Handlers only read the aggregator (``collector.http.access.AggregatorView``) and the topology
holder; see docs/cli.md and docs/api.md for the documents.
"""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from collector.drop_events import MAX_BATCH, parse_filter
from collector.http.access import AggregatorView, json_response
from collector.http.topology import TOPOLOGY_APP_BASE
from topology.status import fabric_status, prometheus_text, traffic_figures


def status_document(aggregator: AggregatorView, now: float | None = None) -> dict[str, Any]:
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


def add_fabric_routes(app: web.Application, aggregator: AggregatorView) -> None:
    """Register the status, locate and drops routes (native and sFlow-RT topology app paths)."""

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

    router = app.router
    router.add_get("/topology/status/json", status)
    router.add_get("/topology/unknown/json", unknown)
    router.add_get("/locate/json", locate)
    router.add_get("/drops/json", drops)
    base = TOPOLOGY_APP_BASE
    router.add_get(f"{base}/status/json", status)
    router.add_get(f"{base}/locate/json", locate)
    router.add_get(f"{base}/unknown/json", unknown)
    router.add_get(f"{base}/agents/json", agents)
    router.add_get(f"{base}/prometheus/txt", prometheus)

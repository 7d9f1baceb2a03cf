"""``GET|PUT /topology/json`` and the sFlow-RT topology app's ``topology/json`` (GET, PUT, POST).

A bad topology is refused with 400 and a one-line message naming the JSON location; the old one
stays in use (the holder behind ``TopologyAccess`` decides, this module only speaks HTTP). A body
not read whole within the request timeout is answered 408 (a client sending a byte a second
holds no handler for ever).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from collector.http.access import TopologyAccess, json_response
from topology.model import TopologyError

TOPOLOGY_APP_BASE = "/app/topology/scripts/topology.js"


def add_topology_routes(
    app: web.Application, topology: TopologyAccess, read_timeout: float = 10.0
) -> None:
    """Register the topology document at its native and its sFlow-RT topology app paths."""

    async def get_topology(_: web.Request) -> web.Response:
        return json_response(topology.current_json() or {})

    async def put_topology(request: web.Request) -> web.Response:
        try:
            async with asyncio.timeout(read_timeout):
                body = await request.read()
        except TimeoutError:
            raise web.HTTPRequestTimeout(
                text=f"request body not received within {read_timeout:g} s\n",
                headers={"Connection": "close"},
            ) from None
        try:
            version = topology.replace_json(body)
        except TopologyError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        return json_response({"version": version})

    router = app.router
    router.add_get("/topology/json", get_topology)
    router.add_put("/topology/json", put_topology)
    base = TOPOLOGY_APP_BASE
    router.add_get(f"{base}/topology/json", get_topology)
    router.add_put(f"{base}/topology/json", put_topology)
    router.add_post(f"{base}/topology/json", put_topology)

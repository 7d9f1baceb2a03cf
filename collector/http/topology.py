"""``GET|PUT /topology/json`` and the sFlow-RT topology app's ``topology/json`` (GET, PUT, POST).

A bad topology is refused with 400 and a one-line message naming the JSON location; the old one
stays in use (the holder behind ``TopologyAccess`` decides, this module only speaks HTTP).
"""

from __future__ import annotations

from aiohttp import web

from collector.http.access import TopologyAccess, json_response
from topology.model import TopologyError

TOPOLOGY_APP_BASE = "/app/topology/scripts/topology.js"


def add_topology_routes(app: web.Application, topology: TopologyAccess) -> None:
    """Register the topology document at its native and its sFlow-RT topology app paths."""

    async def get_topology(_: web.Request) -> web.Response:
        return json_response(topology.current_json() or {})

    async def put_topology(request: web.Request) -> web.Response:
        try:
            version = topology.replace_json(await request.read())
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

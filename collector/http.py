"""HTTP face: an aiohttp application factory. Handlers only read state, never decode sFlow.

Routes: ``GET /metrics`` (native Prometheus text), ``GET|PUT /topology/json`` (sFlow-RT
compatible: a bad topology is refused with 400 and a one-line message, the old one stays),
``GET /healthz``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from topology.model import MAX_TOPOLOGY_BYTES, TopologyError

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class TopologyAccess(Protocol):
    """What the HTTP face needs from the topology holder."""

    def current_json(self) -> dict[str, Any] | None:
        """The topology in sFlow-RT GET form, or None."""

    def replace_json(self, body: bytes) -> int:
        """Validate and install a topology; returns its version, raises ``TopologyError``."""


def create_app(
    *,
    render_metrics: Callable[[], bytes],
    topology: TopologyAccess,
) -> web.Application:
    """The aiohttp application."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=render_metrics(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def get_topology(_: web.Request) -> web.Response:
        return web.json_response(topology.current_json() or {})

    async def put_topology(request: web.Request) -> web.Response:
        body = await request.read()
        try:
            version = topology.replace_json(body)
        except TopologyError as exc:
            return web.Response(status=400, text=f"{exc}\n")
        return web.json_response({"version": version})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app = web.Application(client_max_size=MAX_TOPOLOGY_BYTES)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/topology/json", get_topology)
    app.router.add_put("/topology/json", put_topology)
    app.router.add_get("/healthz", healthz)
    return app


def json_bytes(document: object) -> bytes:
    """Compact JSON encoding used by the handlers."""
    return json.dumps(document, separators=(",", ":")).encode()

"""HTTP face: an aiohttp application factory. Handlers only read state, never decode sFlow.

Routes: ``GET /metrics`` (native Prometheus text), ``GET|PUT /topology/json`` (sFlow-RT
compatible: a bad topology is refused with 400 and a one-line message, the old one stays),
``GET /healthz``; with a compatible face, sFlow-RT ai-metrics' ``prometheus/txt``,
``metric/json``, ``metric/{name}/json``, ``trend/json[?after=ms]`` and ``period/json`` under
``/app/ai-metrics/scripts/metrics.js/`` (docs/compat.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web

from topology.model import MAX_TOPOLOGY_BYTES, TopologyError

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
AI_METRICS_BASE = "/app/ai-metrics/scripts/metrics.js"


class CompatAccess(Protocol):
    """What the HTTP face needs from the compatible face (``collector.compat.CompatFace``)."""

    def prometheus(self) -> bytes:
        """The ai-metrics Prometheus text."""

    def points(self) -> dict[str, Any]:
        """The latest ``points``."""

    def period(self) -> dict[str, Any]:
        """The period detector's state."""

    def trend(self, after: int | None = None) -> dict[str, Any]:
        """The 1-second trend, after ``after`` ms when given."""


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
    compat: CompatAccess | None = None,
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
    if compat is not None:
        _add_compat_routes(app, compat)
    return app


def _add_compat_routes(app: web.Application, compat: CompatAccess) -> None:
    def json_response(document: object) -> web.Response:
        return web.Response(body=json_bytes(document), content_type="application/json")

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(body=compat.prometheus(), content_type="text/plain", charset="utf-8")

    async def metric(_: web.Request) -> web.Response:
        return json_response(compat.points())

    async def metric_one(request: web.Request) -> web.Response:
        points = compat.points()
        name = request.match_info["name"]
        if name not in points:
            return web.Response(status=404, text=f"no metric {name}\n")
        return json_response(points[name])

    async def trend(request: web.Request) -> web.Response:
        after_text = request.query.get("after")
        after = None
        if after_text is not None:
            try:
                after = int(float(after_text))
            except (ValueError, OverflowError):
                return web.Response(status=400, text="after: expected milliseconds\n")
        return json_response(compat.trend(after))

    async def period(_: web.Request) -> web.Response:
        return json_response(compat.period())

    base = AI_METRICS_BASE
    app.router.add_get(f"{base}/prometheus/txt", prometheus)
    app.router.add_get(f"{base}/metric/json", metric)
    app.router.add_get(f"{base}/metric/{{name}}/json", metric_one)
    app.router.add_get(f"{base}/trend/json", trend)
    app.router.add_get(f"{base}/period/json", period)


def json_bytes(document: object) -> bytes:
    """Compact JSON encoding used by the handlers."""
    return json.dumps(document, separators=(",", ":")).encode()

"""``GET /metrics`` (the native Prometheus text) and ``GET /healthz``."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def add_native_routes(app: web.Application, render_metrics: Callable[[], bytes]) -> None:
    """Register the native scrape path and the health check."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=render_metrics(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)

"""``GET /metrics`` (the native Prometheus text) and ``GET /healthz``.

``/healthz`` answers ``ok`` (200) while the collector is healthy and 503 with one line per
reason while it is degraded (a receiver not delivering, the kernel dropping datagrams), so a
container health check or a load balancer sees it.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def add_native_routes(
    app: web.Application,
    render_metrics: Callable[[], bytes],
    health: Callable[[], list[str]] | None = None,
) -> None:
    """Register the native scrape path and the health check (``health()``: the reasons the
    collector is degraded, empty when it is not)."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=render_metrics(), headers={"Content-Type": METRICS_CONTENT_TYPE})

    async def healthz(_: web.Request) -> web.Response:
        reasons = health() if health is not None else []
        if reasons:
            return web.Response(status=503, text="".join(f"degraded: {r}\n" for r in reasons))
        return web.Response(text="ok\n")

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)

"""sFlow-RT ai-metrics' paths: ``prometheus/txt``, ``metric/json``, ``metric/{name}/json``,
``trend/json[?after=ms]`` and ``period/json`` under ``AI_METRICS_BASE`` (docs/compat.md).

Handlers only read the compatible face (``collector.http.access.CompatAccess``).
"""

from __future__ import annotations

from aiohttp import web

from collector.http.access import CompatAccess, json_response

AI_METRICS_BASE = "/app/ai-metrics/scripts/metrics.js"


def add_ai_metrics_routes(app: web.Application, compat: CompatAccess) -> None:
    """Register the compatible face's routes."""

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

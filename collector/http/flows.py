"""Flow definitions and their answers: sFlow-RT's REST paths and the prometheus app's scrape.

=============================================  ======================================
path                                           what
=============================================  ======================================
``GET /flow/json``                             every named definition by name
``GET|PUT|DELETE /flow/{name}/json``           one definition (PUT/DELETE: writes)
``GET /activeflows/{agent}/{name}/json``       top flows (``maxFlows``, ``minValue``,
                                               ``aggMode`` max|sum|edge|core)
``GET /flowkeys/json``                         the flow keys seen, with when
``GET /app/prometheus/scripts/export.js/``     a flow query as Prometheus text (its
``flows/{agent}/txt``                          definition made on the first scrape)
``GET /flowquery/{agent}/json``                the same query as JSON (``keys=``; what
                                               ``fabricscope flows top`` asks)
=============================================  ======================================

A definition, filter or query that does not parse is a 400 whose body is one line naming the
field, the token and its offset. Writes pass the authority middleware like every write.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from collector.aggregate.flow_table import AGG_MODES, ActiveFlow, AgentSelector, FlowTables
from collector.flows.definition import FlowDefinition
from collector.flows.filter import FlowSpecError
from collector.http.access import FlowAccess, json_response

MAX_BODY = 64 * 1024
DEFAULT_MAX_FLOWS = 100
MAX_FLOWS_LIMIT = 10_000
# the prometheus app's defaults; maxFlows bounds a scrape's series
SCRAPE_DEFAULTS = {"n": 10, "t": 15, "maxFlows": 20, "minValue": 0.1}
MAX_SCRAPE_SERIES = 1_000
_NAME_INVALID = re.compile(r"[^a-zA-Z0-9_]")


def _bad(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message + "\n")


def _number(query: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    text = query.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise _bad(f"{name}: expected a number at {text!r}") from None
    if not math.isfinite(value):
        raise _bad(f"{name}: expected a finite number at {text!r}")
    return min(max(value, low), high)


def _agg_mode(query: Mapping[str, str], default: str) -> str:
    mode = query.get("aggMode", default)
    if mode not in AGG_MODES:
        raise _bad(f"aggMode: expected one of {', '.join(AGG_MODES)} at {mode!r}")
    return mode


def _flow_json(flow: ActiveFlow) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "key": flow.key,
        "value": flow.value,
        "agent": flow.agent,
        "dataSource": flow.data_source,
    }
    if flow.values:
        entry["values"] = list(flow.values)
    return entry


def metric_name(text: str) -> str:
    """A valid Prometheus name: every other character becomes ``_`` (and a leading digit is
    prefixed with ``_``)."""
    name = _NAME_INVALID.sub("_", text)
    return "_" + name if not name or name[0].isdigit() else name


def label_value(text: str) -> str:
    """A label value escaped for the text exposition (backslash, double quote, newline)."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def add_flow_routes(app: web.Application, store: FlowAccess, tables: FlowTables) -> None:
    """Mount the flow routes (module docstring)."""

    async def all_flows(request: web.Request) -> web.Response:
        return json_response({name: d.to_json() for name, d in store.named().items()})

    async def get_flow(request: web.Request) -> web.Response:
        definition = store.get(request.match_info["name"])
        if definition is None:
            raise web.HTTPNotFound(text="no such flow\n")
        return json_response(definition.to_json())

    async def put_flow(request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            raise web.HTTPRequestEntityTooLarge(max_size=MAX_BODY, actual_size=len(body))
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise _bad(f"definition: not JSON ({exc})") from None
        try:
            store.put(request.match_info["name"], document)
        except FlowSpecError as exc:
            raise _bad(str(exc)) from None
        return web.Response(status=204)

    async def delete_flow(request: web.Request) -> web.Response:
        if not store.delete(request.match_info["name"]):
            raise web.HTTPNotFound(text="no such flow\n")
        return web.Response(status=204)

    async def active_flows(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        table = tables.tables.get(name)
        if table is None:
            raise web.HTTPNotFound(text="no such flow\n")
        query = request.query
        max_flows = int(_number(query, "maxFlows", DEFAULT_MAX_FLOWS, 1, MAX_FLOWS_LIMIT))
        min_value = _number(query, "minValue", 0.0, -math.inf, math.inf)
        mode = _agg_mode(query, "max")
        selector = AgentSelector.parse(request.match_info["agent"])
        flows = table.active(selector, max_flows, min_value, mode)
        return json_response([_flow_json(f) for f in flows])

    async def flow_keys(request: web.Request) -> web.Response:
        seen = tables.keys_seen
        return json_response({k: {"lastUpdate": round(seen[k] * 1000)} for k in sorted(seen)})

    def query_definition(query: Mapping[str, str], keys: str) -> FlowDefinition:
        """The scrape-made definition of a query's key, value, filter, n, t and dropped."""
        value = query.get("value")
        if not keys or not value:
            raise _bad("keys and value: both needed")
        document: dict[str, Any] = {
            "keys": keys,
            "value": value,
            "n": query.get("n", SCRAPE_DEFAULTS["n"]),
            "t": query.get("t", SCRAPE_DEFAULTS["t"]),
            "dropped": query.get("dropped", "false") == "true",
        }
        if query.get("filter"):
            document["filter"] = query["filter"]
        try:
            return store.ensure(document)
        except FlowSpecError as exc:
            raise _bad(str(exc)) from None

    def query_flows(
        request: web.Request, definition: FlowDefinition, limit: int
    ) -> list[ActiveFlow]:
        query = request.query
        max_flows = int(_number(query, "maxFlows", SCRAPE_DEFAULTS["maxFlows"], 1, limit))
        min_value = _number(query, "minValue", SCRAPE_DEFAULTS["minValue"], -math.inf, math.inf)
        mode = _agg_mode(query, "sum" if definition.dropped else "max")
        table = tables.tables.get(definition.name)
        if table is None:
            return []
        selector = AgentSelector.parse(request.match_info["agent"])
        return table.active(selector, max_flows, min_value, mode)

    async def flow_query(request: web.Request) -> web.Response:
        definition = query_definition(request.query, request.query.get("keys", ""))
        flows = query_flows(request, definition, MAX_FLOWS_LIMIT)
        return json_response(
            {
                "definition": definition.to_json(),
                "flows": [{**_flow_json(f), "keys": list(f.parts)} for f in flows],
            }
        )

    async def scrape(request: web.Request) -> web.Response:
        query = request.query
        metric = query.get("metric")
        if not metric:
            raise _bad("metric: missing")
        definition = query_definition(query, ",".join(query.getall("key", [])))
        flows = query_flows(request, definition, MAX_SCRAPE_SERIES)
        scale = _number(query, "scale", 1.0, -math.inf, math.inf)
        names = list(definition.keys)
        labels = ",".join(query.getall("label", [])).split(",")
        for i, label in enumerate(labels[: len(names)]):
            if label.strip():
                names[i] = label.strip()
        names = [metric_name(n) for n in names]
        if len(set(names)) != len(names):
            raise _bad(f"label: the label names repeat ({','.join(names)})")
        name = metric_name(metric)
        lines = [
            f"# HELP {name} flow {','.join(definition.keys)}: {definition.value} per second",
            f"# TYPE {name} gauge",
        ]
        for flow in flows:
            pairs = ",".join(
                f'{label}="{label_value(text)}"'
                for label, text in zip(names, flow.parts, strict=True)
            )
            lines.append(f"{name}{{{pairs}}} {flow.value * scale!r}")
        return web.Response(
            text="\n".join(lines) + "\n", content_type="text/plain", charset="utf-8"
        )

    app.router.add_get("/flow/json", all_flows)
    app.router.add_get("/flow/{name}/json", get_flow)
    app.router.add_put("/flow/{name}/json", put_flow)
    app.router.add_delete("/flow/{name}/json", delete_flow)
    app.router.add_get("/activeflows/{agent}/{name}/json", active_flows)
    app.router.add_get("/flowkeys/json", flow_keys)
    app.router.add_get("/flowquery/{agent}/json", flow_query)
    app.router.add_get("/app/prometheus/scripts/export.js/flows/{agent}/txt", scrape)

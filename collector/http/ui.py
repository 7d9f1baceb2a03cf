"""What the web UI reads beyond the compatible and topology JSON: agent health, per-link load,
and the UI's static files.

* ``GET /agents/json``: one entry per tracked (agent, sub-agent): node, last seen, smoothed
  datagrams and samples per second (by kind), sampling rates, lost and out-of-order datagrams,
  restarts, decode errors by reason; and totals over the agents listed.
* ``GET /links/json``: every link of the topology with its status (as ``topology.status``
  decides it) and the load in each direction from the ends' last interface counter interval.
* ``GET /``, ``/app/ai-metrics/html/`` (sFlow-RT's UI path; without the slash it redirects):
  ``web/static/index.html``;
  ``GET /static/{file}``: files under ``web.STATIC_DIR`` only (no listing, no dot files, nothing
  outside it).

Handlers only read the aggregator (see docs/api.md for the shapes).
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from aiohttp import web

from collector.delta import UNKNOWN_SPEED
from collector.families import SAMPLE_KINDS
from collector.http.access import AggregatorView, json_bytes, json_response
from topology.status import link_summary, topology_node_of

if TYPE_CHECKING:
    from collector.delta import Labels, PortStatus
    from topology.index import TopologyIndex
    from topology.model import LinkSpec

UI_PATHS = ("/", "/app/ai-metrics/html/", "/app/ai-metrics/html/index.html")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"


# ---------------------------------------------------------------------------------------------
# Agents


def _by_agent(series: Mapping[Labels, float]) -> dict[Labels, dict[str, float]]:
    """(agent, sub_agent, X) → value regrouped as (agent, sub_agent) → {X: value}."""
    out: dict[Labels, dict[str, float]] = {}
    for labels, value in series.items():
        out.setdefault(labels[:2], {})[labels[2]] = value
    return out


def _empty_totals() -> dict[str, Any]:
    return {
        "datagrams_per_second": 0.0,
        "samples_per_second": dict.fromkeys(SAMPLE_KINDS, 0.0),
        "datagrams": 0,
        "samples": dict.fromkeys(SAMPLE_KINDS, 0),
        "datagrams_lost": 0,
        "out_of_order": 0,
        "restarts": 0,
        "decode_errors": 0,
        "decode_errors_by_reason": {},
    }


def _add_totals(totals: dict[str, Any], entry: Mapping[str, Any]) -> None:
    for key in ("datagrams_per_second", "datagrams", "datagrams_lost", "out_of_order"):
        totals[key] += entry[key]
    totals["restarts"] += entry["restarts"]
    totals["decode_errors"] += entry["decode_errors"]
    for key in ("samples_per_second", "samples"):
        for kind, value in entry[key].items():
            totals[key][kind] += value
    by_reason = totals["decode_errors_by_reason"]
    for reason, n in entry["decode_errors_by_reason"].items():
        by_reason[reason] = by_reason.get(reason, 0) + n


def agents_document(aggregator: AggregatorView, now: float | None = None) -> dict[str, Any]:
    """``GET /agents/json``: per-agent health, sorted by agent then sub-agent."""
    when = time.time() if now is None else now
    counters = aggregator.counters
    datagrams = counters.get("agent_datagrams", {})
    lost = counters.get("agent_lost_datagrams", {})
    late = counters.get("agent_out_of_order_datagrams", {})
    restarts = counters.get("agent_restarts", {})
    samples = _by_agent(counters.get("agent_samples", {}))
    errors = _by_agent(counters.get("agent_decode_errors", {}))
    datagram_rates = aggregator.rates("agent_datagrams")
    sample_rates = _by_agent(aggregator.rates("agent_samples"))
    index = aggregator.index
    entries: list[dict[str, Any]] = []
    totals = _empty_totals()
    for key, agent_status in sorted(aggregator.agents.items(), key=_agent_order):
        agent, sub_agent = key
        labels = (agent, str(sub_agent))
        node = topology_node_of(index, agent, agent_status.node)
        in_topology = node is not None
        my_samples = samples.get(labels, {})
        my_rates = sample_rates.get(labels, {})
        my_errors = {reason: int(n) for reason, n in sorted(errors.get(labels, {}).items())}
        entry = {
            "agent": agent,
            "sub_agent": sub_agent,
            "node": node,
            "hostname": agent_status.hostname,
            "in_topology": in_topology,
            "last_seen": round(agent_status.last_seen * 1000),
            "age_s": round(max(0.0, when - agent_status.last_seen), 3),
            "uptime_s": agent_status.uptime_ms / 1000.0,
            "datagrams_per_second": datagram_rates.get(labels, 0.0),
            "samples_per_second": {kind: my_rates.get(kind, 0.0) for kind in SAMPLE_KINDS},
            "datagrams": int(datagrams.get(labels, 0.0)),
            "samples": {kind: int(my_samples.get(kind, 0.0)) for kind in SAMPLE_KINDS},
            "sampling_rates": list(agent_status.sampling_rates),
            "effective_sampling_rate": agent_status.effective_sampling_rate,
            "datagrams_lost": int(lost.get(labels, 0.0)),
            "out_of_order": int(late.get(labels, 0.0)),
            "restarts": int(restarts.get(labels, 0.0)),
            "decode_errors": sum(my_errors.values()),
            "decode_errors_by_reason": my_errors,
        }
        entries.append(entry)
        _add_totals(totals, entry)
    totals["agents"] = len(entries)
    # Rejected datagrams whose header names no tracked agent (garbage, unknown senders).
    everything = sum(counters.get("decode_errors", {}).values())
    attributed = sum(counters.get("agent_decode_errors", {}).values())
    totals["decode_errors_unattributed"] = int(everything - attributed)
    return {"time": round(when * 1000), "agents": entries, "totals": totals}


def _agent_order(item: tuple[tuple[str, int], object]) -> tuple[int, str, int]:
    """IPv4 agents first, each family in address order, then sub-agent."""
    agent, sub_agent = item[0]
    try:
        address = ipaddress.ip_address(agent)
    except ValueError:
        return (2, agent, sub_agent)
    return (address.version // 6, f"{int(address):039d}", sub_agent)


# ---------------------------------------------------------------------------------------------
# Links


def _speed(status: PortStatus | None) -> float | None:
    if status is None or not 0 < status.speed_bps < UNKNOWN_SPEED:
        return None
    return float(status.speed_bps)


def _ends(ports: Iterable[PortStatus]) -> dict[tuple[str, str], PortStatus]:
    """(node, port) → its latest status (the most recent one when two agents claim it)."""
    out: dict[tuple[str, str], PortStatus] = {}
    for status in ports:
        if status.node is None or status.port is None:
            continue
        key = (status.node, status.port)
        old = out.get(key)
        if old is None or old.last_seen <= status.last_seen:
            out[key] = status
    return out


def _link_entry(
    name: str, link: LinkSpec, status: str, end1: PortStatus | None, end2: PortStatus | None
) -> dict[str, Any]:
    """One link of ``/links/json`` from its status and its ends' latest statuses."""
    speed1 = _speed(end1)
    speed2 = _speed(end2)
    speed = speed2 if speed1 is None else speed1 if speed2 is None else min(speed1, speed2)
    # Each direction from the sending end's output counters, else the receiving end's input
    # (bit/s of the end's last counter interval, when its speed is known).
    out1 = in1 = out2 = in2 = None
    if end1 is not None and speed1 is not None:
        out1 = None if end1.out_utilization is None else end1.out_utilization * speed1
        in1 = None if end1.in_utilization is None else end1.in_utilization * speed1
    if end2 is not None and speed2 is not None:
        out2 = None if end2.out_utilization is None else end2.out_utilization * speed2
        in2 = None if end2.in_utilization is None else end2.in_utilization * speed2
    one_to_two = in2 if out1 is None else out1
    two_to_one = in1 if out2 is None else out2
    if one_to_two is None:
        busiest = two_to_one
    else:
        busiest = one_to_two if two_to_one is None else max(one_to_two, two_to_one)
    return {
        "name": name,
        "node1": link.node1,
        "port1": link.port1,
        "node2": link.node2,
        "port2": link.port2,
        "status": status,
        "speed_bps": speed,
        "bps_1to2": one_to_two,
        "bps_2to1": two_to_one,
        "utilization": busiest / speed if speed and busiest is not None else None,
    }


def links_document(aggregator: AggregatorView, now: float | None = None) -> dict[str, Any]:
    """``GET /links/json``: each topology link's status and load, sorted by name."""
    when = time.time() if now is None else now
    book = getattr(aggregator, "port_book", None)
    if book is not None:
        # Entries are memoised per link until a status naming one of its ends changes; the
        # document gets copies, so that whoever holds it cannot alter the memo.
        links = [dict(entry) for entry in book.link_entries(_link_entry)]
    else:  # a plain view of statuses (a test double, a tool): from scratch
        links = links_from_scratch(aggregator.index, aggregator.ports.values())
    return {"time": round(when * 1000), "links": links}


def links_json(aggregator: AggregatorView, now: float | None = None) -> bytes:
    """``GET /links/json`` encoded: the bytes of ``json_bytes(links_document(...))``, joined
    from each link's entry encoded once until one of its ends changes."""
    when = time.time() if now is None else now
    book = getattr(aggregator, "port_book", None)
    if book is None:
        return json_bytes(links_document(aggregator, when))
    fragments: list[bytes] = book.link_entries(_encoded_link_entry)
    return b'{"time":%d,"links":[%b]}' % (round(when * 1000), b",".join(fragments))


def _encoded_link_entry(
    name: str, link: LinkSpec, status: str, end1: PortStatus | None, end2: PortStatus | None
) -> bytes:
    """One link of ``/links/json``, encoded as ``json_bytes`` does."""
    return json_bytes(_link_entry(name, link, status, end1, end2))


def links_from_scratch(
    index: TopologyIndex | None, ports: Collection[PortStatus]
) -> list[dict[str, Any]]:
    """Every link's ``/links/json`` entry, computed over all port statuses."""
    summary = link_summary(index, ports)
    down = set(summary.down)
    unmonitored = set(summary.unmonitored)
    ends = _ends(ports)
    topology_links = index.topology.links if index is not None else {}
    out = []
    for name in sorted(topology_links):
        link = topology_links[name]
        status = "unmonitored" if name in unmonitored else "down" if name in down else "up"
        end1 = ends.get((link.node1, link.port1))
        end2 = ends.get((link.node2, link.port2))
        out.append(_link_entry(name, link, status, end1, end2))
    return out


# ---------------------------------------------------------------------------------------------
# Static files


def content_type_of(path: Path) -> str:
    """The Content-Type we serve a static file with (by suffix; LICENSE files as text)."""
    suffix = path.suffix.lower()
    if suffix in CONTENT_TYPES:
        return CONTENT_TYPES[suffix]
    if path.name.upper().startswith(("LICENSE", "LICENCE", "VERSION", "README")):
        return CONTENT_TYPES[".txt"]
    return DEFAULT_CONTENT_TYPE


def static_file(root: Path, relative: str) -> Path | None:
    """The file ``relative`` names under ``root``, or None: nothing outside ``root`` (``..``,
    absolute paths, symlinks out), no dot files, no directories."""
    if not relative or "\\" in relative or "\x00" in relative:
        return None
    parts = PurePosixPath(relative).parts
    if not parts or relative.startswith("/") or any(p in ("..", ".") or p[0] == "." for p in parts):
        return None
    try:
        base = root.resolve()
        candidate = (base / relative).resolve()
        if not candidate.is_relative_to(base) or not candidate.is_file():
            return None
    except OSError:  # a name too long for the filesystem (ENAMETOOLONG), a loop: not a file
        return None
    return candidate


# ---------------------------------------------------------------------------------------------
# Routes


def add_ui_routes(
    app: web.Application, aggregator: AggregatorView, static_dir: Path | None = None
) -> None:
    """Register ``/agents/json``, ``/links/json``, the UI page and ``/static/``."""
    if static_dir is None:
        from web import STATIC_DIR

        static_dir = STATIC_DIR
    root = static_dir

    def file_response(path: Path) -> web.FileResponse:
        return web.FileResponse(
            path,
            headers={
                "Content-Type": content_type_of(path),
                "Cache-Control": "no-cache",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def agents(_: web.Request) -> web.Response:
        return json_response(agents_document(aggregator))

    async def links(_: web.Request) -> web.Response:
        return web.Response(body=links_json(aggregator), content_type="application/json")

    async def index_page(_: web.Request) -> web.StreamResponse:
        page = static_file(root, "index.html")
        if page is None:
            return web.Response(status=404, text="the web UI is not installed\n")
        return file_response(page)

    async def to_ui(_: web.Request) -> web.StreamResponse:
        raise web.HTTPMovedPermanently(UI_PATHS[1])

    async def static(request: web.Request) -> web.StreamResponse:
        found = static_file(root, request.match_info["path"])
        if found is None:
            return web.Response(status=404, text="not found\n")
        return file_response(found)

    router = app.router
    router.add_get("/agents/json", agents)
    router.add_get("/links/json", links)
    for path in UI_PATHS:
        router.add_get(path, index_page)
    router.add_get(UI_PATHS[1].rstrip("/"), to_ui)
    router.add_get("/static/{path:.*}", static)

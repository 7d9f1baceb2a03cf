"""``GET /events/json?after=ID``: the fabric-health event stream (docs/fabric-health.md).

One document: the collector's clock, the number of the latest event (``last``), where the next
page starts (``next``: pass it back as ``after``; it is ``last`` once everything was read), and
the kept events numbered above ``after``, oldest first, at most ``limit`` (default and cap
``MAX_LIMIT``), of the ``type`` given (comma-separated) when one is. A bad number or an
unknown type is a 400 naming the parameter.
"""

from __future__ import annotations

import time

from aiohttp import web

from collector.families import EVENT_TYPES
from collector.http.access import EventAccess, json_response

MAX_LIMIT = 1000


def _number(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    text = request.query.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise web.HTTPBadRequest(text=f"{name}: expected an integer, got {text!r}") from None
    if not low <= value <= high:
        raise web.HTTPBadRequest(text=f"{name}: expected {low} … {high}, got {value}")
    return value


def add_event_routes(app: web.Application, events: EventAccess) -> None:
    """Register ``GET /events/json``."""

    async def listing(request: web.Request) -> web.Response:
        after = _number(request, "after", 0, 0, 2**63 - 1)
        limit = _number(request, "limit", MAX_LIMIT, 1, MAX_LIMIT)
        types: set[str] | None = None
        if "type" in request.query:
            types = {t.strip() for t in request.query["type"].split(",") if t.strip()}
            unknown = sorted(types - set(EVENT_TYPES))
            if unknown:
                raise web.HTTPBadRequest(
                    text=f"type: {unknown[0]!r} is not one of {', '.join(EVENT_TYPES)}"
                )
        last = events.last_id
        scanned = events.after(after, MAX_LIMIT)
        found: list[dict[str, object]] = []
        following = after  # where the next page starts: past every event looked at
        for event in scanned:
            if types is None or event.type in types:
                if len(found) == limit:
                    break
                found.append(event.to_json())
            following = int(event.to_json()["id"])
        else:
            if len(scanned) < MAX_LIMIT:
                following = max(following, last)
        return json_response(
            {"time": time.time(), "last": last, "next": following, "events": found}
        )

    app.router.add_get("/events/json", listing)

"""Aggregator side of the drop log: the last ``RING_SIZE`` events with increasing ids.

A client asks for the events ``after`` the last id it saw (``GET /drops/json?after=ID``); the
event's fields are described in ``collector.drop_events``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from collector.drop_events import MAX_BATCH, Event, matches

RING_SIZE = 10_000  # events the aggregator keeps


class DropLog:
    """Aggregator side: the last ``size`` events, each with an increasing ``id`` (from 1)."""

    def __init__(self, size: int = RING_SIZE) -> None:
        self._ring: deque[Event] = deque(maxlen=size)
        self.last_id = 0
        self.skipped = 0  # events receivers could not keep (per-tick bound)

    def extend(self, events: Iterable[Event], skipped: int = 0) -> None:
        """Append events in arrival order."""
        self.skipped += skipped
        for event in events:
            self.last_id += 1
            self._ring.append({"id": self.last_id, **event})

    @property
    def first_id(self) -> int:
        """The oldest id still kept (last_id + 1 when empty)."""
        return int(self._ring[0]["id"]) if self._ring else self.last_id + 1

    def after(
        self,
        after: int | None,
        *,
        limit: int = MAX_BATCH,
        filters: Mapping[str, set[str]] | None = None,
    ) -> dict[str, Any]:
        """The events with id > ``after`` (all kept ones when None), oldest first, at most
        ``limit``; ``last`` is the id to pass as ``after`` next time (the last one examined,
        so a filter that matches nothing still moves the client on)."""
        start = 0 if after is None or after > self.last_id else after  # larger: a restart
        ring = self._ring
        events: list[Event] = []
        last = max(start, 0)
        if ring:
            first = ring[0]["id"]
            skip = max(0, start - first + 1)
            for i in range(skip, len(ring)):
                event = ring[i]
                last = event["id"]
                if filters is None or matches(event, filters):
                    events.append(event)
                    if len(events) >= limit:
                        break
        return {
            "events": events,
            "last": last,
            "first": self.first_id,
            "total": self.last_id,
            "skipped": self.skipped,
        }

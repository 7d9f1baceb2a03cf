"""A shard's side of the bus: every delta of this host published to JetStream, never blocking.

``offer(delta)`` is called on the event loop with each delta the receivers hand over (after this
host's own aggregator merged it, so the local faces keep working); it only queues. ``run`` takes
the deltas in order, numbers each (``ledger.next_delta_id``), encodes it with the versioned codec
and publishes it on ``fabricscope.delta.<shard>`` with the shard and the id in its headers,
waiting for JetStream's acknowledgement. A message that was not acknowledged (the bus is away,
a leader election) is retried *unchanged* — same id, same bytes — until it is; the aggregator
and JetStream's duplicate window both drop a copy that had been stored after all. Meanwhile new
deltas are folded into the last one waiting (``Delta.absorb``: counters add, statuses are the
latest), so memory stays bounded by a few ticks' state however long the bus is away, and every
fold is counted (``fabricscope_bus_deltas_coalesced_total``); when the bus is back the backlog
goes out as one message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

import nats
from nats.aio.client import Client

from collector.bus.connection import connect, ensure_stream
from collector.bus.ledger import DELTA_ID_HEADER, MSG_ID_HEADER, SHARD_HEADER, next_delta_id
from collector.bus.settings import SUBJECT_PREFIX, PublisherSettings
from collector.delta import Delta, Labels
from collector.delta_codec import encode_delta

log = logging.getLogger("fabricscope")

RETRY_SECONDS = 0.5


class DeltaPublisher:
    """Queues deltas on ``offer`` and publishes them from ``run`` (see the module text)."""

    def __init__(
        self,
        settings: PublisherSettings,
        count: Callable[[str, Labels], None],
        clock_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        self.settings = settings
        self.subject = f"{SUBJECT_PREFIX}.{settings.shard}"
        self._count = count
        self._clock_us = clock_us
        self._waiting: deque[Delta] = deque()
        self._in_flight: tuple[int, bytes] | None = None  # numbered, not yet acknowledged
        self._wake = asyncio.Event()
        self.last_id = 0
        self.published = 0
        self.coalesced = 0
        self.connected = False

    @property
    def backlog(self) -> int:
        """Deltas waiting to be published (the one in flight included)."""
        return len(self._waiting) + (self._in_flight is not None)

    def offer(self, delta: Delta) -> None:
        """Queue one delta (never waits)."""
        if delta.is_empty():
            return
        waiting = self._waiting
        if waiting and (len(waiting) >= self.settings.max_waiting or waiting[-1].can_absorb(delta)):
            waiting[-1].absorb(delta)
            self.coalesced += 1
            self._count("bus_deltas_coalesced", ())
        else:
            waiting.append(delta)
        self._wake.set()

    def _next(self) -> tuple[int, bytes] | None:
        if self._in_flight is None and self._waiting:
            delta_id = next_delta_id(self.last_id, self._clock_us())
            self.last_id = delta_id
            self._in_flight = (delta_id, encode_delta(self._waiting.popleft()))
        return self._in_flight

    async def run(self, stop: asyncio.Event, drain_seconds: float = 3.0) -> None:
        """Publish until ``stop``; then for at most ``drain_seconds`` what still waits."""
        client = await connect(self.settings.bus, stop)
        if client is None:
            return
        try:
            await self._publish_until(client, stop)
            if self.backlog:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._publish_until(client, None), drain_seconds)
            if self.backlog:
                log.warning("bus: %d deltas not published at shutdown", self.backlog)
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def _publish_until(self, client: Client, stop: asyncio.Event | None) -> None:
        """Publish what waits; with ``stop`` None, return once nothing does."""
        js = client.jetstream(timeout=self.settings.publish_timeout)
        stream_ready = False
        failing = False
        while stop is None or not stop.is_set():
            if not stream_ready:
                try:
                    await ensure_stream(js, self.settings.bus)
                    stream_ready = True
                except (TimeoutError, nats.errors.Error, OSError) as exc:
                    await self._pause(stop, exc, failing)
                    failing = True
                    continue
            message = self._next()
            if message is None:
                if stop is None:
                    return
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), 1.0)
                continue
            delta_id, payload = message
            headers = {
                SHARD_HEADER: self.settings.shard,
                DELTA_ID_HEADER: str(delta_id),
                MSG_ID_HEADER: f"{self.settings.shard}-{delta_id}",
            }
            try:
                await js.publish(self.subject, payload, headers=headers)
            except nats.errors.MaxPayloadError:
                # it can never be sent: counted and given up (docs/scale-out.md: max_payload)
                log.error("bus: a %d-byte delta exceeds the server's max_payload", len(payload))
                self._count("bus_deltas_too_large", ())
                self._in_flight = None
                continue
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                self._count("bus_publish_failures", ())
                self.connected = False
                await self._pause(stop, exc, failing)
                failing = True
                continue
            if failing:
                log.info("bus: publishing again (backlog %d)", self.backlog - 1)
                failing = False
            self.connected = True
            self._in_flight = None
            self.published += 1
            self._count("bus_deltas_published", ())

    async def _pause(self, stop: asyncio.Event | None, exc: BaseException, quiet: bool) -> None:
        if not quiet:
            log.warning("bus: publish failed (%s); retrying, deltas coalesce meanwhile", exc)
        if stop is None:
            await asyncio.sleep(RETRY_SECONDS)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RETRY_SECONDS)

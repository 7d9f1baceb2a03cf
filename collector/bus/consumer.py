"""The aggregator's side of the bus: every shard's deltas merged exactly once, resumable.

A durable pull consumer on the deltas' stream feeds ``merge``; each message is checked against
the shard's last delta id (``ledger.ShardLedger``): a replay is skipped and counted
(``fabricscope_bus_deltas_replayed_total{shard}``), a message that is not a delta of this
version is refused and counted, never merged. Every ``checkpoint_seconds`` the aggregator's
totals and the ledger are written, as one object, to a JetStream object store bucket under the
consumer's name, and only then is the stream acknowledged up to there. A restarted aggregator
restores that checkpoint and re-creates its consumer at the stream sequence after it: what was
merged before the checkpoint is in the totals, what came after is read again, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError, ObjectNotFoundError

from collector.bus.connection import connect, ensure_stream
from collector.bus.ledger import (
    DELTA_ID_HEADER,
    SHARD_HEADER,
    SHARD_NAME,
    CheckpointError,
    ShardLedger,
    decode_checkpoint,
    encode_checkpoint,
)
from collector.bus.settings import SUBJECT_PREFIX, ConsumerSettings
from collector.delta import Delta, Labels
from collector.delta_codec import DeltaCodecError, decode_delta

log = logging.getLogger("fabricscope")

CHECKPOINT_BUCKET = "fabricscope_checkpoints"
RETRY_SECONDS = 0.5
RESUBSCRIBE_AFTER = 10  # failed fetches in a row before the subscription is made again


def receiver_of(index: int) -> int:
    """The aggregator's receiver key for a shard: below -1, apart from the collector's own
    counts (-1) and from local receivers (0…)."""
    return -2 - index


class DeltaConsumer:
    """Consumes, merges and checkpoints (see the module text); ``merge``, ``count``, ``totals``
    and ``restore`` are the aggregator's, handed in by the wiring."""

    def __init__(
        self,
        settings: ConsumerSettings,
        merge: Callable[[Delta, int], None],
        count: Callable[[str, Labels], None],
        totals: Callable[[], Delta],
        restore: Callable[[Delta], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self._merge = merge
        self._count = count
        self._totals = totals
        self._restore = restore
        self._clock = clock
        self.ledger = ShardLedger()
        self.connected = False
        self.restored = False  # a checkpoint was found and restored
        self._last_message: Msg | None = None  # merged, not yet acknowledged
        self._stop: asyncio.Event | None = None

    def health(self) -> list[str]:
        """Why the bus side is degraded (empty when it is not)."""
        return [] if self.connected else ["the bus is not reachable"]

    # -----------------------------------------------------------------------------------------

    def take(self, msg: Msg) -> None:
        """Merge one message unless it is a replay or not a delta (both counted)."""
        headers = msg.headers or {}
        shard = headers.get(SHARD_HEADER, "")
        id_text = headers.get(DELTA_ID_HEADER, "")
        sequence = msg.metadata.sequence.stream if msg.reply else 0
        if sequence > self.ledger.stream_sequence:
            self.ledger.stream_sequence = sequence
        if not SHARD_NAME.fullmatch(shard) or not id_text.isdigit():
            self._count("bus_deltas_refused", ())
            return
        if not self.ledger.accept(shard, int(id_text)):
            self._count("bus_deltas_replayed", (shard,))
            return
        try:
            delta = decode_delta(msg.data)
        except DeltaCodecError as exc:
            log.warning("bus: refused a message of shard %s: %s", shard, exc)
            self._count("bus_deltas_refused", ())
            return
        self._merge(delta, receiver_of(self.ledger.index(shard)))
        self._count("bus_deltas_merged", (shard,))

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop``; a last checkpoint on the way out."""
        self._stop = stop
        client = await connect(self.settings.bus, stop)
        if client is None:
            return
        try:
            await self._consume(client, stop)
        finally:
            with contextlib.suppress(Exception):
                await client.close()

    async def _consume(self, client: Client, stop: asyncio.Event) -> None:
        js = client.jetstream(timeout=5.0)
        subscription = None
        store = None
        failures = 0
        next_checkpoint = self._clock() + self.settings.checkpoint_seconds
        while not stop.is_set():
            try:
                if store is None:
                    await ensure_stream(js, self.settings.bus)
                    store = await js.create_object_store(CHECKPOINT_BUCKET)
                    if not self.restored:
                        await self._restore_checkpoint(store)
                if subscription is None:
                    subscription = await self._subscribe(js)
                self.connected = True
                try:
                    # short: a long poll waits for a full batch, and the period detector
                    # takes RoCE buckets only so late
                    messages = await subscription.fetch(self.settings.batch, timeout=0.1)
                except nats.errors.TimeoutError:
                    messages = []
                failures = 0
                for msg in messages:
                    self.take(msg)
                    self._last_message = msg
                if self._clock() >= next_checkpoint:
                    await self._checkpoint(store)
                    next_checkpoint = self._clock() + self.settings.checkpoint_seconds
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                failures += 1
                if failures == 1:
                    log.warning("bus: consuming failed (%s); retrying", exc)
                self.connected = False
                if failures >= RESUBSCRIBE_AFTER and subscription is not None:
                    with contextlib.suppress(Exception):
                        await subscription.unsubscribe()
                    subscription = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), RETRY_SECONDS)
        if store is not None:
            with contextlib.suppress(nats.errors.Error, asyncio.TimeoutError, OSError):
                await self._checkpoint(store)

    async def _subscribe(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        """The durable consumer, (re)made to start right after what the ledger holds."""
        name = self.settings.consumer
        stream = self.settings.bus.stream
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(stream, name)
        start = self.ledger.stream_sequence + 1
        config = ConsumerConfig(
            durable_name=name,
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start,
            ack_policy=AckPolicy.ALL,
            ack_wait=max(60.0, 10 * self.settings.checkpoint_seconds),
            max_ack_pending=-1,
            filter_subject=f"{SUBJECT_PREFIX}.>",
        )
        log.info("bus: consumer %s reads stream %s from sequence %d", name, stream, start)
        return await js.pull_subscribe(
            f"{SUBJECT_PREFIX}.>", durable=name, stream=stream, config=config
        )

    async def _restore_checkpoint(self, store: object) -> None:
        try:
            result = await store.get(self.settings.consumer)  # type: ignore[attr-defined]
        except ObjectNotFoundError:
            log.info("bus: no checkpoint for %s: reading the stream from its start", self.name)
            self.restored = True
            return
        try:
            ledger, totals = decode_checkpoint(result.data or b"")
        except CheckpointError as exc:
            log.error("bus: checkpoint of %s unusable (%s): starting empty", self.name, exc)
            self.restored = True
            return
        self.ledger = ledger
        self._restore(totals)
        self.restored = True
        log.info(
            "bus: resumed %s from its checkpoint (stream sequence %d, %d shards)",
            self.name,
            ledger.stream_sequence,
            len(ledger.last_ids),
        )

    @property
    def name(self) -> str:
        """The consumer's durable name."""
        return self.settings.consumer

    async def _checkpoint(self, store: object) -> None:
        """Write totals and ledger, then acknowledge what they cover."""
        last = self._last_message
        data = encode_checkpoint(self.ledger, self._totals())
        await store.put(self.settings.consumer, data)  # type: ignore[attr-defined]
        self._count("bus_checkpoints", ())
        if last is not None:
            self._last_message = None
            with contextlib.suppress(nats.errors.Error):
                await last.ack()

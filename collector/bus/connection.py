"""Connecting to the bus and making sure the stream exists (both ends of the bus share this)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import NotFoundError

from collector.bus.settings import SUBJECT_PREFIX, BusSettings

log = logging.getLogger("fabricscope")

RETRY_SECONDS = 0.5  # between attempts to reach a bus that is not there (yet)


async def _quiet_error(exc: Exception) -> None:
    # the client's default prints a traceback per failed reconnect; the callers count and log
    log.debug("bus: %s", exc)


def _options(bus: BusSettings) -> dict[str, Any]:
    options: dict[str, Any] = {
        "error_cb": _quiet_error,
        "servers": list(bus.servers),
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,  # the bus coming back is the normal case
        "reconnect_time_wait": RETRY_SECONDS,
        "connect_timeout": 2,
        "name": "fabricscope",
    }
    if bus.credentials is not None:
        options["user_credentials"] = str(bus.credentials)
    if bus.tls_ca is not None or bus.tls_cert is not None:
        context = ssl.create_default_context(
            cafile=str(bus.tls_ca) if bus.tls_ca is not None else None
        )
        if bus.tls_cert is not None:
            key = str(bus.tls_key) if bus.tls_key is not None else None
            context.load_cert_chain(str(bus.tls_cert), key)
        options["tls"] = context
    return options


async def connect(bus: BusSettings, stop: asyncio.Event) -> Client | None:
    """A connection to the bus, retried until it answers; None when ``stop`` is set first."""
    warned = False
    while not stop.is_set():
        try:
            return await nats.connect(**_options(bus))
        except (TimeoutError, OSError, nats.errors.Error) as exc:
            if not warned:
                log.warning("bus %s not reachable (%s); retrying", ",".join(bus.servers), exc)
                warned = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RETRY_SECONDS)
    return None


async def ensure_stream(js: JetStreamContext, bus: BusSettings) -> None:
    """Create the deltas' stream unless it exists (an existing one is used as configured)."""
    try:
        await js.stream_info(bus.stream)
        return
    except NotFoundError:
        pass
    await js.add_stream(
        StreamConfig(
            name=bus.stream,
            subjects=[f"{SUBJECT_PREFIX}.>"],
            storage=StorageType.FILE,
            num_replicas=bus.replicas,
            max_age=bus.max_age_seconds,
            duplicate_window=120.0,
        )
    )
    log.info("bus: stream %s created (%d replicas)", bus.stream, bus.replicas)

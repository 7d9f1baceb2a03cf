"""Review findings in the direct InfluxDB push: odd answers from the write endpoint."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter

import pytest
from aiohttp import web

from collector.influx.push import InfluxPusher, PushLimits, PushTarget, parse_retry_after

ENDLESS_BODY_S = 60.0  # the refusal's body never ends within the test


class RecordingHealth:
    """Counter families added to, by (family, labels)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, tuple[str, ...]]] = Counter()

    def count(self, family: str, labels: tuple[str, ...], value: float) -> None:
        self.counts[(family, labels)] += value

    def gauge(self, name: str, value: float) -> None:
        pass


async def _refuse_with_an_endless_body(request: web.Request) -> web.StreamResponse:
    await request.read()
    response = web.StreamResponse(status=400, headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    await response.write(b"bad line protocol: " + b"x" * 300 + b"\n")
    await asyncio.sleep(ENDLESS_BODY_S)  # the rest of the body never comes
    return response


async def _push_against_an_endless_refusal() -> RecordingHealth:
    app = web.Application()
    app.router.add_post("/api/v2/write", _refuse_with_an_endless_body)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    health = RecordingHealth()

    async def one_line(time_ns: int) -> list[bytes]:
        return [b"m value=1 1\n"]

    limits = PushLimits(interval=3600.0, timeout=2.0, min_backoff=0.05, max_backoff=0.1)
    pusher = InfluxPusher(
        PushTarget(f"http://127.0.0.1:{port}", "org", "bucket"), limits, one_line, health
    )
    stop = asyncio.Event()
    task = asyncio.create_task(pusher.run(stop))
    try:
        for _ in range(100):  # 5 s at most
            if sum(n for (family, _), n in health.counts.items() if family.endswith("failed")):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        await runner.cleanup()
    return health


def test_a_refusal_is_dropped_without_reading_its_whole_body() -> None:
    """A 400 is final as soon as its status line arrives: the pusher must not wait for (or hold
    in memory) the whole error body, which here never ends."""
    health = asyncio.run(_push_against_an_endless_refusal())
    assert health.counts[("influx_requests_failed", ("http_4xx",))] == 1
    assert health.counts[("influx_points_dropped", ("rejected",))] == 1
    assert health.counts[("influx_requests_failed", ("timeout",))] == 0


def test_retry_after_with_non_ascii_digits_is_unreadable() -> None:
    """'²' and '٣' are str.isdigit() but not the ASCII digits RFC 9110 delay-seconds allows."""
    assert parse_retry_after("\u00b2", now=0.0) is None
    assert parse_retry_after("\u0663", now=0.0) is None
    assert parse_retry_after("3", now=0.0) == 3.0


async def _push_to_a_closed_port(url: str) -> RecordingHealth:
    health = RecordingHealth()

    async def one_line(time_ns: int) -> list[bytes]:
        return [b"m value=1 1\n"]

    limits = PushLimits(interval=3600.0, timeout=2.0, min_backoff=0.05, max_backoff=0.1)
    pusher = InfluxPusher(PushTarget(url, "org", "bucket"), limits, one_line, health)
    stop = asyncio.Event()
    task = asyncio.create_task(pusher.run(stop))
    for _ in range(100):  # 5 s at most
        if health.counts[("influx_requests_failed", ("connection",))]:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 10)
    return health


def test_credentials_in_the_url_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """user:password@ in --influx-url (basic auth, e.g. behind a proxy) is as secret as the
    token: the start-up line and the connection warnings name the server without it."""
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = reserved.getsockname()[1]
        url = f"http://writer:s3cret-pass@127.0.0.1:{port}"
        with caplog.at_level(logging.INFO, logger="fabricscope.influx"):
            health = asyncio.run(_push_to_a_closed_port(url))
    assert health.counts[("influx_requests_failed", ("connection",))] >= 1
    messages = [record.getMessage() for record in caplog.records]
    assert any(f"http://127.0.0.1:{port}" in m for m in messages), messages
    assert not any("s3cret" in m or "writer" in m for m in messages), messages
    assert "s3cret" not in repr(PushTarget(url, "org", "bucket"))

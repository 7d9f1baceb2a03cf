"""The request-head timeout (``collector.http.guard``) on a real aiohttp server, 127.0.0.1."""

from __future__ import annotations

import asyncio
import time

from aiohttp import web

from collector.http.guard import GuardedSite
from collector.http.settings import HttpSettings, runner_options

TIMEOUT = 0.5


async def _served() -> tuple[web.AppRunner, int]:
    async def hello(_: web.Request) -> web.Response:
        return web.Response(text="hello\n")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, **runner_options(HttpSettings(request_timeout=TIMEOUT)))
    await runner.setup()
    site = GuardedSite(runner, "127.0.0.1", 0, TIMEOUT)
    await site.start()
    address = runner.addresses[0]
    return runner, int(address[1])


async def _exchange(port: int, pieces: list[bytes], pause: float) -> tuple[bytes, float]:
    """Send ``pieces`` ``pause`` seconds apart; everything read until the server closes."""
    started = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for piece in pieces:
        writer.write(piece)
        await writer.drain()
        await asyncio.sleep(pause)
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer, time.monotonic() - started


def test_a_head_sent_in_time_is_answered_even_when_its_blank_line_is_split() -> None:
    async def run() -> tuple[bytes, float]:
        runner, port = await _served()
        try:
            head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
            # the blank line that ends the head arrives in three reads; the connection stays
            # open past the timeout (kept alive), so a clock left running would add a 408
            return await _exchange(port, [head[:-3], head[-3:-1], head[-1:]], 0.05)
        finally:
            await runner.cleanup()

    answer, took = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 200 ") and answer.endswith(b"hello\n"), answer
    assert answer.count(b"HTTP/1.1 ") == 1
    assert took < TIMEOUT + 3  # the idle kept-alive connection is closed by the server


def test_a_head_not_whole_in_time_gets_408_and_is_closed() -> None:
    async def run() -> tuple[bytes, float]:
        runner, port = await _served()
        try:
            return await _exchange(port, [b"GET / HTTP/1.1\r\n", b"Host: x\r\n"], 0.3)
        finally:
            await runner.cleanup()

    answer, took = asyncio.run(run())
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), answer
    assert answer.endswith(b"\r\n\r\nrequest head not sent in time\n")
    assert TIMEOUT <= took < TIMEOUT + 2

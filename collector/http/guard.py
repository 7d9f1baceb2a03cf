"""The request-head timeout: a client that sends its request head one byte a second is answered
``408 Request Timeout`` and closed ``request_timeout`` seconds after it connected.

aiohttp bounds the wait for a *later* request on a kept-alive connection (its keep-alive timer,
set to the same timeout), but before it has answered once, whether it bounds anything depends on
its version. So every connection passes through ``HeadGuard`` first: it watches the bytes of the
first request head go by (only for the blank line that ends it, never parsing or keeping them)
and, when the head is not whole in time, writes the 408 itself and closes the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from aiohttp import web

_TEXT = b"request head not sent in time\n"
TIMEOUT_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(_TEXT), _TEXT)
)


class HeadGuard(asyncio.Protocol):
    """Stands in front of one aiohttp connection until its first request head is whole."""

    def __init__(self, inner: asyncio.Protocol, timeout: float) -> None:
        self.inner = inner
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.tail = b""  # the last 3 bytes seen: the blank line may straddle two reads

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Start the clock, then hand the connection on."""
        self.transport = cast(asyncio.Transport, transport)
        self.timer = asyncio.get_running_loop().call_later(self.timeout, self._expire)
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        """Pass the bytes on; stop the clock once the head's blank line went by."""
        if self.timer is not None:
            seen = self.tail + data
            if b"\r\n\r\n" in seen or b"\n\n" in seen:
                self.timer.cancel()
                self.timer = None
            else:
                self.tail = seen[-3:]
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        """Passed on."""
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        """Passed on; the clock stops."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        """Passed on."""
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        """Passed on."""
        self.inner.resume_writing()

    def _expire(self) -> None:
        self.timer = None
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(TIMEOUT_ANSWER)
            transport.close()


def guarded(factory: Callable[[], Any], timeout: float) -> Callable[[], asyncio.Protocol]:
    """A protocol factory whose connections each pass through a ``HeadGuard``."""
    return lambda: HeadGuard(factory(), timeout)


class GuardedSite(web.TCPSite):
    """``web.TCPSite`` whose connections get the request-head timeout."""

    def __init__(self, runner: web.AppRunner, host: str, port: int, timeout: float) -> None:
        super().__init__(runner, host, port, reuse_address=True)
        self.head_timeout = timeout

    async def start(self) -> None:
        """Listen (what ``TCPSite.start`` does, with the guarded protocol factory)."""
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            guarded(server, self.head_timeout),
            self._host,
            self._port,
            reuse_address=True,
        )

"""UDP sockets for sFlow and the synchronous receive loop that feeds a handler.

The loop runs in a thread (``--workers 1``) or as the body of a worker process. It drains the
socket with ``recv_into`` into one reusable buffer (no allocation per datagram), takes the time
once per batch, and calls ``on_tick(now)`` every tick. Per-datagram work is synchronous.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65535
BATCH = 512  # datagrams handled between two looks at the clock and the control channel


@dataclass(frozen=True, slots=True)
class BindAddress:
    """host:port to bind, with its address family."""

    host: str
    port: int

    @property
    def family(self) -> socket.AddressFamily:
        """AF_INET6 for IPv6 literals, else AF_INET."""
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class OpenedSocket:
    """A bound sFlow socket and what the kernel granted."""

    sock: socket.socket
    rcvbuf_requested: int
    rcvbuf_granted: int


def open_sflow_socket(bind: BindAddress, rcvbuf: int, *, reuseport: bool) -> OpenedSocket:
    """Bind a UDP socket with a large SO_RCVBUF (and SO_REUSEPORT for several workers)."""
    sock = socket.socket(bind.family, socket.SOCK_DGRAM)
    try:
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if bind.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.bind((bind.host, bind.port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    # Linux doubles the value for bookkeeping and clamps it to net.core.rmem_max.
    granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
    return OpenedSocket(sock, rcvbuf, granted)


def rcvbuf_warning(opened: OpenedSocket) -> str | None:
    """A one-line warning when the kernel clamped SO_RCVBUF, naming the sysctl to raise."""
    if opened.rcvbuf_granted >= opened.rcvbuf_requested:
        return None
    return (
        f"SO_RCVBUF: asked for {opened.rcvbuf_requested} bytes, the kernel granted "
        f"{opened.rcvbuf_granted}; raise it with: sysctl -w "
        f"net.core.rmem_max={opened.rcvbuf_requested}"
    )


def kernel_drops(sock: socket.socket) -> int | None:
    """Datagrams the kernel dropped on this socket (``drops`` in /proc/net/udp[6]), or None."""
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
    except OSError:
        return None
    for name in ("udp", "udp6"):
        try:
            lines = Path("/proc/net", name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and fields[9] == inode:
                return int(fields[-1])
    return None


class ReceiveLoop:
    """Receive datagrams until stopped; ``handle(data, now)`` each, ``on_tick(now)`` each tick."""

    def __init__(
        self,
        sock: socket.socket,
        handle: Callable[[memoryview, float], None],
        on_tick: Callable[[float], None],
        *,
        tick_seconds: float = 1.0,
        control_fd: int | None = None,
        on_control: Callable[[], bool] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sock = sock
        self.handle = handle
        self.on_tick = on_tick
        self.tick_seconds = tick_seconds
        self.control_fd = control_fd
        self.on_control = on_control
        self.clock = clock
        self._wake_r, self._wake_w = os.pipe()
        self._stopping = False

    def stop(self) -> None:
        """Ask the loop to end (thread-safe, signal-safe)."""
        self._stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def run(self) -> None:
        """Loop until ``stop()`` or the control handler says so; ticks once more at the end."""
        buf = bytearray(MAX_DATAGRAM)
        view = memoryview(buf)
        recv_into = self.sock.recv_into
        handle = self.handle
        fds = [self.sock.fileno(), self._wake_r]
        if self.control_fd is not None:
            fds.append(self.control_fd)
        now = self.clock()
        next_tick = now + self.tick_seconds
        try:
            while not self._stopping:
                readable, _, _ = select.select(fds, [], [], max(0.0, next_tick - now))
                on_control = self.on_control
                if on_control is not None and self.control_fd in readable and not on_control():
                    break
                for _ in range(BATCH):
                    try:
                        n = recv_into(buf)
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as exc:  # e.g. ICMP errors surfaced on the socket
                        log.debug("recv: %s", exc)
                        break
                    handle(view[:n], now)
                now = self.clock()
                if now >= next_tick:
                    self.on_tick(now)
                    next_tick = max(next_tick + self.tick_seconds, now)
            self.on_tick(self.clock())
        finally:
            os.close(self._wake_r)
            os.close(self._wake_w)

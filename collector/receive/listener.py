"""UDP sockets for sFlow and the synchronous receive loop that feeds a handler.

The loop runs in a thread (``--workers 1``) or as the body of a worker process. It takes each
datagram into one reusable buffer (no allocation per datagram), takes the time once per batch,
and calls ``on_tick(now)`` every tick. Per-datagram work is synchronous. Where the compiled
socket reader is there (``collector.receive.socket_ring``) a C thread reads the socket into a
ring and the loop takes datagrams from the ring, so the socket is still read while the loop
pauses for a tick; otherwise the loop reads the socket itself with ``recv_into``.
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

from collector.receive.socket_ring import SocketRing, open_ring

log = logging.getLogger(__name__)

MAX_DATAGRAM = 65535
BATCH = 512  # datagrams handled between two looks at the clock and the control channel
# With the socket reader, a loop that just took datagrams naps this long before it looks again
# rather than being woken for the next one: under load it then takes tens of datagrams a pass
# and wakes about a thousand times a second; the ring holds what arrives meanwhile.
RING_NAP_SECONDS = 0.001
FINAL_DRAIN_SECONDS = 1.0  # a stopping loop takes what the ring holds for at most this long


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
        ring_bytes: int = 0,
    ) -> None:
        self.sock = sock
        self.ring_bytes = ring_bytes
        self._ring: SocketRing | None = None
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

    def ring_stats(self) -> dict[str, int] | None:
        """The socket reader's figures (``SocketRing.stats``), None when the loop reads itself."""
        ring = self._ring
        return ring.stats() if ring is not None else None

    def run(self) -> None:
        """Loop until ``stop()`` or the control handler says so; ticks once more at the end."""
        try:
            self._ring = open_ring(self.sock, self.ring_bytes)
        except (OSError, MemoryError, ValueError) as exc:
            log.warning("socket reader not started (%s); reading the socket directly", exc)
        try:
            self._loop()
            if self._ring is not None:
                self._drain_ring(self._ring)
            self.on_tick(self.clock())
        finally:
            if self._ring is not None:
                self._ring.close()
            os.close(self._wake_r)
            os.close(self._wake_w)

    def _loop(self) -> None:
        buf = bytearray(MAX_DATAGRAM)
        view = memoryview(buf)
        others = [self._wake_r] if self.control_fd is None else [self._wake_r, self.control_fd]
        now = self.clock()
        next_tick = now + self.tick_seconds
        took = 0  # datagrams the last pass took from the ring
        while not self._stopping:
            ring = self._ring
            timeout = max(0.0, next_tick - now)
            if ring is not None:
                source = ring.fileno()
                if ring.pending_bytes():
                    timeout = 0.0
                elif took:  # busy: nap without a wake-up, so the next pass takes a batch
                    timeout = min(timeout, RING_NAP_SECONDS)
                elif ring.ready():  # else ready() armed the reader's wake-up: sleep is safe
                    timeout = 0.0
            else:
                source = self.sock.fileno()
            readable, _, _ = select.select([source, *others], [], [], timeout)
            on_control = self.on_control
            if on_control is not None and self.control_fd in readable and not on_control():
                return
            if ring is None:
                self._take_from_socket(buf, view, now)
            else:
                if source in readable:
                    ring.acknowledge()
                took = self._take_from_ring(ring, buf, view, now)
            now = self.clock()
            if now >= next_tick:
                self.on_tick(now)
                next_tick = max(next_tick + self.tick_seconds, now)
                if ring is not None:
                    self._check_reader(ring)

    def _take_from_socket(self, buf: bytearray, view: memoryview, now: float) -> None:
        recv_into = self.sock.recv_into
        handle = self.handle
        for _ in range(BATCH):
            try:
                n = recv_into(buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP errors surfaced on the socket
                log.debug("recv: %s", exc)
                return
            handle(view[:n], now)

    def _take_from_ring(
        self, ring: SocketRing, buf: bytearray, view: memoryview, now: float
    ) -> int:
        next_into = ring.next_into
        handle = self.handle
        for taken in range(BATCH):
            n = next_into(buf)
            if n < 0:
                return taken
            handle(view[:n], now)
        return BATCH

    def _drain_ring(self, ring: SocketRing) -> None:
        """At the end: stop the reader and take what its ring still holds (for at most
        ``FINAL_DRAIN_SECONDS``), so that a clean stop loses nothing the reader took."""
        ring.stop()
        buf = bytearray(MAX_DATAGRAM)
        view = memoryview(buf)
        deadline = time.monotonic() + FINAL_DRAIN_SECONDS
        now = self.clock()
        while self._take_from_ring(ring, buf, view, now) == BATCH:
            if time.monotonic() > deadline:
                left = ring.pending_bytes()
                log.warning("stopping with %d bytes of datagrams left in the ring", left)
                return
            now = self.clock()

    def _check_reader(self, ring: SocketRing) -> None:
        """Should the reader thread have ended on an error, read the socket directly from now
        on (once the ring holds nothing more)."""
        error = ring.error() if not ring.pending_bytes() else 0
        if error:
            log.error(
                "the socket reader stopped (%s); reading the socket directly", os.strerror(error)
            )
            self._ring = None
            ring.close()

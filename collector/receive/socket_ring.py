"""The compiled socket reader, when it is there: a C thread that keeps reading the sFlow socket.

``collector/receive/_socket_ring.c`` (built by ``setup.py`` on Linux) reads the socket with
``recvmmsg`` in a thread of its own, without the GIL, into a byte ring of ``capacity`` bytes;
the receive loop takes the datagrams out between its once-a-tick pauses (drain, delta encode),
which the kernel's socket buffer alone cannot always bridge. Without the module, with
``FABRICSCOPE_PURE`` set, or with a capacity of 0, the receive loop reads the socket itself.

``IMPLEMENTATION`` is "compiled" or "absent" and ``REASON`` says why.
"""

from __future__ import annotations

import socket
from types import ModuleType
from typing import Protocol

from decoders.build_select import PURE_ENV, pure_requested

DEFAULT_RING_BYTES = 32 * 1024 * 1024  # ~25,000 datagrams of 1.3 KB: 0.3 s at 80,000/s
MIN_RING_BYTES = 256 * 1024  # holds several of the largest datagrams


class SocketRing(Protocol):
    """What the receive loop uses of ``collector.receive._socket_ring.SocketRing``."""

    def next_into(self, buffer: bytearray, /) -> int:
        """Copy the oldest datagram into ``buffer``; its length, or -1 when none is pending."""

    def ready(self) -> bool:
        """True when datagrams are pending; False: sleep on ``fileno()`` until signalled."""

    def acknowledge(self) -> None:
        """Clear the wake-up signal after ``fileno()`` became readable."""

    def fileno(self) -> int:
        """The eventfd that wakes a sleeping consumer."""

    def error(self) -> int:
        """The errno that ended the reader thread, 0 while it runs."""

    def pending_bytes(self) -> int:
        """Bytes held in the ring."""

    def stats(self) -> dict[str, int]:
        """datagrams, full_waits, receive_errors, peak_bytes (since the last call), capacity,
        error (the errno that ended the reader, 0 while it runs)."""

    def stop(self) -> None:
        """Stop the reader thread; what the ring holds can still be taken."""

    def close(self) -> None:
        """Stop the reader thread and free the ring."""


def _load() -> tuple[ModuleType | None, str]:
    if pure_requested():
        return None, f"{PURE_ENV} is set"
    try:
        from collector.receive import _socket_ring  # type: ignore[attr-defined]
    except ImportError as exc:
        return None, f"compiled socket reader not available ({exc})"
    return _socket_ring, "compiled module imported"


_module, REASON = _load()
IMPLEMENTATION = "compiled" if _module is not None else "absent"


def open_ring(sock: socket.socket, capacity: int) -> SocketRing | None:
    """Start a reader thread on ``sock`` into a ring of ``capacity`` bytes (None: read directly)."""
    if _module is None or capacity <= 0:
        return None
    ring: SocketRing = _module.SocketRing(sock.fileno(), max(capacity, MIN_RING_BYTES))
    return ring

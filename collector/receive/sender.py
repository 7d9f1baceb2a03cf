"""A worker's side of the delta pipe: the receive loop hands over, a writer thread sends.

``send(delta)`` never blocks the receive loop: it leaves the delta for the writer thread, which
encodes it (``collector.delta_codec``) and writes the frame with blocking writes, however large.
While a frame is still being written (the aggregator lags, or the delta is megabytes), deltas
handed over in the meantime are folded into the one waiting (``Delta.absorb``: counters add,
statuses are the latest), so memory stays bounded by the size of one tick's state, and each
fold is counted (``worker_deltas_coalesced``). When a delta brings back an agent or port the
waiting one expired, it waits behind it instead (rare: an agent silent for minutes, then back).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections import deque

from collector.delta import Delta
from collector.delta_codec import encode_frame

log = logging.getLogger(__name__)

MAX_WAITING = 8  # deltas waiting apart (each an expiry followed by a return); more are folded
PIPE_SIZE = 1024 * 1024  # asked for with F_SETPIPE_SZ: fewer wake-ups for megabyte deltas


def enlarge_pipe(fd: int, size: int) -> int:
    """Ask the kernel for a pipe buffer of ``size`` bytes (Linux; best effort); returns what
    it has, 0 when it cannot tell."""
    try:
        import fcntl

        return int(fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, size))
    except (ImportError, AttributeError, OSError):
        return 0


class DeltaSender:
    """Sends deltas over a pipe's write end from a thread of its own (see the module text)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._waiting: deque[Delta] = deque()
        self._lock = threading.Condition()
        self._closing = False
        self.broken = False  # the reader is gone
        self.sent = 0
        self.coalesced = 0
        enlarge_pipe(fd, PIPE_SIZE)
        self._thread = threading.Thread(target=self._run, name="delta-sender", daemon=True)
        self._thread.start()

    def send(self, delta: Delta) -> None:
        """Hand a delta over (never blocks on the pipe)."""
        with self._lock:
            waiting = self._waiting
            if waiting and (len(waiting) >= MAX_WAITING or waiting[-1].can_absorb(delta)):
                waiting[-1].absorb(delta)
                self.coalesced += 1
                waiting[-1].add_counter("worker_deltas_coalesced", (), 1.0)
            else:
                waiting.append(delta)
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closing:
                    self._lock.wait()
                if not self._waiting:
                    return  # closing and everything sent
                delta = self._waiting.popleft()
            try:
                self._write(encode_frame(delta))
            except OSError as exc:  # EPIPE: the aggregator is gone; nothing more to do
                self.broken = True
                log.debug("delta pipe closed: %s", exc)
                with self._lock:
                    self._waiting.clear()
                return
            self.sent += 1

    def _write(self, frame: bytes) -> None:
        view = memoryview(frame)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]

    def close(self, timeout: float) -> bool:
        """Send what waits (for at most ``timeout`` seconds), then close the pipe; True when
        everything was sent."""
        with self._lock:
            self._closing = True
            self._lock.notify()
        self._thread.join(timeout)
        done = not self._thread.is_alive()
        with contextlib.suppress(OSError):
            os.close(self._fd)
        return done and not self.broken

"""The receivers of ``serve``: one thread (``--workers 1``) or supervised worker processes.

Worker processes (``--workers N``, N > 1) each receive on their own ``SO_REUSEPORT`` socket. This
process keeps its own reference to every worker's socket, so a worker that dies or is replaced
never changes the kernel's socket group: its agents stay pinned to the same socket, and what
arrives meanwhile waits in that socket's buffer for the next worker.

Deltas come back as ``collector.delta_codec`` frames on a pipe whose read end this process owns
(non-blocking, read whole on the event loop, any size). A worker is replaced (a new process on
the same socket, logged, ``fabricscope_worker_restarts_total{worker}``) when its pipe ends (it
exited or was killed) or when it sends nothing for ``stall_seconds``; ``health()`` names every
worker that is not delivering. What a replaced worker had received and not handed over is lost
with it, but counted: this process keeps, per agent, the last datagram sequence number (and
uptime) of the deltas it merged from that socket's workers, and the replacement resumes from
them, so the gap shows in ``fabricscope_lost_datagrams_total`` when the agent's next datagram
arrives. ``stop()`` asks each to stop, merges their final deltas and kills
whatever is still there at the deadline (a stopped or stuck process included).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from collector.delta import AgentKey, Delta, Labels
from collector.delta_codec import DeltaCodecError, FrameReader
from collector.receive.listener import OpenedSocket
from collector.receive.receivers import (
    MSG_FLOWS,
    MSG_STOP,
    MSG_TOPOLOGY,
    FlowSet,
    Receiver,
    ReceiverSettings,
    worker_main,
)
from topology.model import Topology

log = logging.getLogger("fabricscope")

READ_CHUNK = 1024 * 1024
STALL_TICKS = 10  # a worker that sends nothing for this many ticks is replaced
SILENT_TICKS = 3  # … and named by health() after this many
# … but never sooner than these: with short ticks (0.2 s), 10 ticks is less than a loaded machine
# may pause a busy process, and a replaced worker's unsent counts are lost with it.
MIN_STALL_SECONDS = 10.0
MIN_SILENT_SECONDS = 3.0
START_GRACE_SECONDS = 30.0  # a new worker imports the collector before its first delta


@dataclass
class _Worker:
    """One worker process and this side's ends of its pipes."""

    worker_id: int
    opened: OpenedSocket
    process: BaseProcess
    control: Connection
    fd: int
    reader: FrameReader = field(default_factory=FrameReader)
    started: float = 0.0
    last_delta: float | None = None
    ended: bool = False  # its pipe reached its end (or failed)
    # per agent, (sequence, uptime) of the last status merged from this socket's workers
    baselines: dict[AgentKey, tuple[int, int]] = field(default_factory=dict)


class Receivers:
    """Starts, supervises and stops the receivers (see the module docstring)."""

    def __init__(
        self,
        sockets: list[OpenedSocket],
        settings: ReceiverSettings,
        merge: Callable[[Delta, int], None],
        forget: Callable[[int], None],
        count: Callable[[str, Labels], None],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sockets = sockets
        self.settings = settings
        self._merge = merge
        self._forget = forget
        self._count = count
        self._clock = clock
        self.stall_seconds = max(STALL_TICKS * settings.tick_seconds, MIN_STALL_SECONDS)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._workers: dict[int, _Worker] = {}
        self._thread: threading.Thread | None = None
        self._thread_control: Connection | None = None
        self._stopping = False
        self._topology: tuple[Topology | None, int] = (None, 0)
        self._flows: FlowSet = []  # the active flow definitions, for every (re)started receiver
        self.restarts = 0

    # -----------------------------------------------------------------------------------------
    # Start

    def start(
        self, loop: asyncio.AbstractEventLoop, topology: Topology | None, version: int
    ) -> None:
        """Start one receiver per socket: a thread for one socket, processes for more."""
        self._loop = loop
        self._topology = (topology, version)
        if len(self.sockets) == 1:
            self._start_thread(loop)
            return
        for worker_id, opened in enumerate(self.sockets):
            self._spawn(worker_id, opened)

    def _start_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        parent_end, child_end = multiprocessing.Pipe()
        opened = self.sockets[0]

        def emit(delta: Delta) -> None:
            loop.call_soon_threadsafe(self._merge, delta, 0)

        topology, version = self._topology
        receiver = Receiver(
            opened.sock,
            self.settings,
            topology,
            version,
            child_end,
            emit,
            opened.rcvbuf_granted,
            self._flows,
        )
        self._thread = threading.Thread(target=receiver.run, name="sflow-receiver", daemon=True)
        self._thread.start()
        self._thread_control = parent_end

    def _spawn(
        self,
        worker_id: int,
        opened: OpenedSocket,
        baselines: dict[AgentKey, tuple[int, int]] | None = None,
    ) -> None:
        loop = self._loop
        assert loop is not None
        context = multiprocessing.get_context("spawn")
        control_parent, control_child = context.Pipe()
        delta_parent, delta_child = context.Pipe(duplex=False)
        topology, version = self._topology
        process = context.Process(
            target=worker_main,
            name=f"fabricscope-worker-{worker_id}",
            args=(
                worker_id,
                opened.sock,
                self.settings,
                topology,
                version,
                control_child,
                delta_child,
                opened.rcvbuf_granted,
                self._flows,
                baselines,
            ),
            daemon=True,
        )
        process.start()
        control_child.close()
        delta_child.close()
        fd = os.dup(delta_parent.fileno())  # read raw frames; the Connection's framing is unused
        delta_parent.close()
        os.set_blocking(fd, False)
        worker = _Worker(
            worker_id,
            opened,
            process,
            control_parent,
            fd,
            started=self._clock(),
            baselines=baselines if baselines is not None else {},
        )
        self._workers[worker_id] = worker
        loop.add_reader(fd, self._on_readable, worker)

    # -----------------------------------------------------------------------------------------
    # Deltas

    def _on_readable(self, worker: _Worker) -> None:
        ended = self._read(worker)
        if ended is not None:
            self._lost(worker, ended)

    def _read(self, worker: _Worker) -> str | None:
        """Read what the pipe holds and merge every complete delta; why it ended, if it did."""
        while True:
            try:
                data = os.read(worker.fd, READ_CHUNK)
            except BlockingIOError:
                return None
            except OSError as exc:
                return f"its pipe failed ({exc})"
            if not data:
                return (
                    "stopped unexpectedly"
                    if worker.process.exitcode is None
                    else (f"exited with status {worker.process.exitcode}")
                )
            try:
                deltas = worker.reader.feed(data)
            except DeltaCodecError as exc:
                return f"sent a broken delta ({exc})"
            baselines = worker.baselines
            for delta in deltas:
                worker.last_delta = self._clock()
                for key in delta.expired_agents:
                    baselines.pop(key, None)
                for key, status in delta.agents.items():
                    baselines[key] = (status.sequence, status.uptime_ms)
                self._merge(delta, worker.worker_id)

    def _lost(self, worker: _Worker, why: str) -> None:
        """A worker's pipe ended: replace the worker, unless we are stopping."""
        worker.ended = True
        if self._stopping:  # stop() closes it, after the final tick counted its gauges
            if self._loop is not None:
                self._loop.remove_reader(worker.fd)
            return
        self._close(worker)
        with contextlib.suppress(OSError, ValueError):
            worker.process.join(0)
        log.error("worker %d %s; starting a new one", worker.worker_id, why)
        self._replace(worker)

    def _close(self, worker: _Worker) -> None:
        loop = self._loop
        if loop is not None:
            loop.remove_reader(worker.fd)
        with contextlib.suppress(OSError):
            os.close(worker.fd)
        with contextlib.suppress(OSError):
            worker.control.close()
        self._forget(worker.worker_id)

    def _replace(self, worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
            worker.process.join(1.0)
        self.restarts += 1
        self._count("worker_restarts", (str(worker.worker_id),))
        self._spawn(worker.worker_id, worker.opened, worker.baselines)

    # -----------------------------------------------------------------------------------------
    # Supervision

    def check(self) -> None:
        """Replace every worker that has sent nothing for ``stall_seconds`` (called each tick)."""
        if self._stopping:
            return
        now = self._clock()
        for worker in list(self._workers.values()):
            if self._workers.get(worker.worker_id) is not worker:
                continue
            if worker.last_delta is not None:
                since, limit = worker.last_delta, self.stall_seconds
            else:
                since, limit = worker.started, max(self.stall_seconds, START_GRACE_SECONDS)
            if now - since > limit:
                log.error(
                    "worker %d sent nothing for %.0f s; starting a new one",
                    worker.worker_id,
                    now - since,
                )
                self._close(worker)
                self._replace(worker)

    def health(self) -> list[str]:
        """Why the receivers are not all delivering (empty when they are)."""
        reasons: list[str] = []
        if self._thread is not None and not self._thread.is_alive() and not self._stopping:
            reasons.append("the receiver thread stopped")
        now = self._clock()
        silent = max(SILENT_TICKS * self.settings.tick_seconds, MIN_SILENT_SECONDS)
        for worker in self._workers.values():
            if worker.last_delta is None:
                if now - worker.started > silent:
                    reasons.append(f"worker {worker.worker_id} has not started")
            elif now - worker.last_delta > silent:
                age = now - worker.last_delta
                reasons.append(f"worker {worker.worker_id} silent for {age:.0f} s")
        return reasons

    @property
    def worker_ids(self) -> list[int]:
        """The ids of the worker processes (empty with one receiving thread)."""
        return sorted(self._workers)

    def pid_of(self, worker_id: int) -> int | None:
        """The process id of a worker (tests and operators kill or stop it)."""
        worker = self._workers.get(worker_id)
        return worker.process.pid if worker is not None else None

    # -----------------------------------------------------------------------------------------
    # Control

    def broadcast_topology(self, topology: Topology | None, version: int) -> None:
        """Send a new topology to every receiver (swapped between two datagrams)."""
        self._topology = (topology, version)
        message: Any = (MSG_TOPOLOGY, topology, version)
        for control in self._controls():
            with contextlib.suppress(OSError):
                control.send(message)

    def broadcast_flows(self, flows: FlowSet) -> None:
        """Send the whole set of flow definitions to every receiver."""
        self._flows = list(flows)
        message: Any = (MSG_FLOWS, self._flows)
        for control in self._controls():
            with contextlib.suppress(OSError):
                control.send(message)

    def _controls(self) -> list[Connection]:
        controls = [w.control for w in self._workers.values()]
        if self._thread_control is not None:
            controls.append(self._thread_control)
        return controls

    async def stop(self, timeout: float) -> None:
        """Stop every receiver within ``timeout`` seconds, final deltas merged; whatever is
        still running then is killed."""
        self._stopping = True
        deadline = self._clock() + timeout
        for control in self._controls():
            with contextlib.suppress(OSError):
                control.send((MSG_STOP,))
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, max(0.0, deadline - self._clock()))
            await asyncio.sleep(0)  # the thread's last call_soon_threadsafe merge
        workers = list(self._workers.values())
        while any(w.process.is_alive() for w in workers) and self._clock() < deadline:
            await asyncio.sleep(0.05)  # the readers keep merging what the workers send
        for worker in workers:
            if worker.process.is_alive():
                log.warning("worker %d did not stop in time; killed", worker.worker_id)
                worker.process.kill()
            with contextlib.suppress(OSError, ValueError):
                worker.process.join(1.0)
            if not worker.ended:
                self._read(worker)  # what was still in the pipe
                if self._loop is not None:
                    self._loop.remove_reader(worker.fd)
            with contextlib.suppress(OSError):
                os.close(worker.fd)
            with contextlib.suppress(OSError):
                worker.control.close()
        self._workers.clear()
        for opened in self.sockets:
            opened.sock.close()

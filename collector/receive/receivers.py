"""Receivers: one socket + state + pipeline + receive loop, run as a thread or a worker process.

A receiver drains its state every tick and hands the ``Delta`` to ``emit``; control messages
(topology swaps, flow definitions, stop) arrive on a ``multiprocessing`` connection in both
modes, so a topology or a set of flow definitions is always swapped on the receiving thread
itself, between two datagrams.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from collector.delta import AgentKey, Delta
from collector.flows.definition import FlowDefinition, parse_definition
from collector.flows.filter import FlowSpecError
from collector.receive.admission import AdmissionRule, AgentAdmission
from collector.receive.listener import ReceiveLoop, kernel_drops
from collector.receive.pipeline import Pipeline, choose_decoder
from collector.receive.sender import DeltaSender
from collector.receive.socket_ring import DEFAULT_RING_BYTES
from collector.receive.state import FabricState, StateSettings
from topology.index import build_index
from topology.model import Topology
from topology.resolver import PortResolver

log = logging.getLogger(__name__)

FlowSet = list[tuple[str, int, dict[str, Any]]]  # (name, generation, definition JSON)

MSG_TOPOLOGY = "topology"
MSG_FLOWS = "flows"  # (MSG_FLOWS, [(name, generation, definition JSON), …]): the whole set
MSG_STOP = "stop"
FINAL_SEND_SECONDS = 2.0  # a stopping worker waits this long for its last delta to be taken
# A receiving process keeps a large, stable state and makes a port status per port and tick that
# lives until the delta is taken: with the default thresholds (700, 10, 10) those survivors set
# off a full collection over the whole state every tick or two (measured: counter samples cost
# 4.2 instead of 1.9 µs each). Young garbage is still collected every 20,000 allocations.
GC_THRESHOLDS = (20_000, 20, 10)


@dataclass(frozen=True, slots=True)
class ReceiverSettings:
    """What one receiver needs: its state's tunables, the tick, the decoder, the log level and
    which agents it admits (plain data: it is handed to a spawned worker process)."""

    state: StateSettings = field(default_factory=StateSettings)
    tick_seconds: float = 1.0
    decoder: str = "auto"  # auto | full | fast (``choose_decoder``)
    log_level: str = "info"
    admission: AdmissionRule = field(default_factory=AdmissionRule)  # default: every agent
    ring_bytes: int = DEFAULT_RING_BYTES  # the socket reader's ring; 0: the loop reads itself


class Receiver:
    """Everything one receiving thread or process owns."""

    def __init__(
        self,
        sock: socket.socket,
        settings: ReceiverSettings,
        topology: Topology | None,
        topology_version: int,
        control: Connection,
        emit: Callable[[Delta], None],
        rcvbuf_granted: int,
        flows: FlowSet | None = None,
        baselines: dict[AgentKey, tuple[int, int]] | None = None,
    ) -> None:
        index = build_index(topology, topology_version)
        self.resolver = PortResolver(index, max_agents=settings.state.max_agents * 2)
        self.state = FabricState(self.resolver, settings.state)
        if flows:
            self.set_flows(flows)
        rule = settings.admission
        self.admission = AgentAdmission(rule, topology) if rule.restricts else None
        self.pipeline = Pipeline(
            self.state, fast=choose_decoder(settings.decoder), admission=self.admission
        )
        self.control = control
        self.emit = emit
        self.sock = sock
        self.rcvbuf_granted = rcvbuf_granted
        self._kernel_drops = kernel_drops(sock) or 0
        self._ring_full_waits = 0
        self.loop = ReceiveLoop(
            sock,
            self.pipeline.handler,
            self.tick,
            tick_seconds=settings.tick_seconds,
            control_fd=control.fileno(),
            on_control=self.on_control,
            ring_bytes=settings.ring_bytes,
        )
        if baselines:
            self.state.resume(baselines, self.loop.clock())

    def on_control(self) -> bool:
        """Handle one control message; False ends the loop."""
        try:
            message: Any = self.control.recv()
        except (EOFError, OSError):
            return False  # the parent is gone
        if message[0] == MSG_STOP:
            return False
        if message[0] == MSG_FLOWS:
            self.set_flows(message[1])
        elif message[0] == MSG_TOPOLOGY:
            self.resolver.set_index(build_index(message[1], message[2]))
            if self.admission is not None:  # ``topology`` in allowed_agents follows the swap
                self.admission.set_topology(message[1])
        return True

    def set_flows(self, flows: FlowSet) -> None:
        """Install a new set of flow definitions (each validated again: it crossed a pipe)."""
        definitions: list[tuple[FlowDefinition, int]] = []
        for name, generation, document in flows:
            try:
                definitions.append((parse_definition(name, document), generation))
            except FlowSpecError as exc:  # the parent validated it: a version skew, never seen
                log.error("flow definition %s refused: %s", name, exc)
        self.state.set_flows(definitions)

    def tick(self, now: float) -> None:
        """Expire, read kernel drops, drain and hand over the delta."""
        self.state.expire(now)
        drops = kernel_drops(self.sock)
        if drops is not None and drops > self._kernel_drops:
            self.state.count("kernel_receive_drops", (), drops - self._kernel_drops)
            self._kernel_drops = drops
        ring = self.loop.ring_stats()
        if ring is not None and ring["full_waits"] > self._ring_full_waits:
            self.state.count("receive_ring_full", (), ring["full_waits"] - self._ring_full_waits)
            self._ring_full_waits = ring["full_waits"]
        delta = self.state.drain(now)
        delta.gauges["receive_buffer_bytes"] = float(self.rcvbuf_granted)
        delta.gauges["receive_ring_bytes"] = float(ring["capacity"]) if ring else 0.0
        delta.gauges["receive_ring_peak_bytes"] = float(ring["peak_bytes"]) if ring else 0.0
        self.emit(delta)

    def run(self) -> None:
        """Receive until stopped (sets the process's garbage collector thresholds)."""
        gc.set_threshold(*GC_THRESHOLDS)
        self.loop.run()


def worker_main(
    worker_id: int,
    sock: socket.socket,
    settings: ReceiverSettings,
    topology: Topology | None,
    topology_version: int,
    control: Connection,
    deltas: Connection,
    rcvbuf_granted: int,
    flows: FlowSet | None = None,
    baselines: dict[AgentKey, tuple[int, int]] | None = None,
) -> None:
    """Body of a worker process (``--workers N``); ``baselines``: where the worker it replaces
    was counted up to, per agent (``FabricState.resume``)."""
    # The parent coordinates shutdown: Ctrl-C reaches every process of the group, only the
    # parent acts on it; SIGTERM sent to a worker alone still ends it cleanly.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=settings.log_level.upper(), format=f"worker {worker_id}: %(message)s")

    # The Connection's own framing is not used: raw delta_codec frames on a dup of its fd.
    sender = DeltaSender(os.dup(deltas.fileno()))
    deltas.close()

    def emit(delta: Delta) -> None:
        if sender.broken:  # the parent is gone
            receiver.loop.stop()
            return
        sender.send(delta)

    receiver = Receiver(
        sock,
        settings,
        topology,
        topology_version,
        control,
        emit,
        rcvbuf_granted,
        flows,
        baselines,
    )
    signal.signal(signal.SIGTERM, lambda *_: receiver.loop.stop())
    receiver.run()
    if not sender.close(FINAL_SEND_SECONDS):
        log.warning("the last delta could not be sent")

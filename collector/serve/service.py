"""Wiring of ``fabricscope serve``: sockets, receivers, aggregator, HTTP, signals, shutdown.

``--workers 1``: one process; the receive loop runs in a thread, the event loop (uvloop when
installed) serves HTTP and owns the aggregator. ``--workers N``: N spawned processes each own an
SO_REUSEPORT socket (the kernel pins an agent to one of them) and send additive deltas over a
pipe every tick; this process merges them, supervises them (``collector.serve.workers``) and
serves HTTP. With ``--publish`` every delta merged here is also handed to the bus publisher
(``collector.bus``); ``fabricscope aggregate`` is this same service with no sockets nor receivers,
its deltas coming from the bus consumer instead. ``/healthz`` answers 503 with the reasons while
the collector is degraded: a receiver not delivering, the kernel dropping datagrams, the bus away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import deque

from aiohttp import web

from collector.aggregate.aggregator import Aggregator
from collector.compat.face import CompatFace
from collector.delta import Delta
from collector.flows.definition import FlowDefinition
from collector.http.app import create_app
from collector.http.guard import GuardedSite
from collector.http.settings import runner_options
from collector.influx.push import AggregatorHealth, pusher_for
from collector.prometheus.registry import build_registry, render
from collector.receive.listener import OpenedSocket, open_sflow_socket, rcvbuf_warning
from collector.serve.flow_store import FlowStore
from collector.serve.settings import ServeParts, Settings, serve_parts
from collector.serve.topology_holder import TopologyHolder
from collector.serve.workers import Receivers
from topology.index import build_index
from topology.model import Topology, TopologyError, load_topology

log = logging.getLogger("fabricscope")

STOP_TIMEOUT = 3.0  # receivers get this long to hand over their last delta; then killed
KERNEL_DROP_WINDOW = 10.0  # seconds: kernel drops within this make /healthz degraded


class Service:
    """One running collector: wires the components ``parts`` describes, owns their tasks."""

    def __init__(self, parts: ServeParts) -> None:
        self.parts = parts
        self.aggregator = Aggregator(parts.aggregator)
        self.compat = CompatFace(parts.compat)
        self.topology = TopologyHolder(self.topology_changed, self._count_reload)
        self.registry = build_registry(self.aggregator.snapshot, per_port=parts.per_port_metrics)
        self.receivers: Receivers | None = None
        self.flow_store = FlowStore(parts.flows_file, self.flows_changed)
        self._kernel_drops: deque[tuple[float, float]] = deque()  # (time, cumulative drops)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop = asyncio.Event()
        self._bus_stop = asyncio.Event()  # after the receivers' final deltas were offered
        self.publisher = None
        if parts.publisher is not None:
            from collector.bus.publisher import DeltaPublisher  # the nats client: only when used

            self.publisher = DeltaPublisher(parts.publisher, self.aggregator_count)
        self.consumer = None
        if parts.bus_source is not None:
            from collector.bus.consumer import DeltaConsumer

            self.consumer = DeltaConsumer(
                parts.bus_source,
                self.aggregator.merge,
                self.aggregator_count,
                self._totals,
                self.aggregator.restore,
            )
        self.sflow_port = 0
        self.http_port = 0

    # -----------------------------------------------------------------------------------------

    def aggregator_count(self, family: str, labels: tuple[str, ...]) -> None:
        """Count a collector-level event (topology reloads)."""
        delta = Delta()
        delta.add_counter(family, labels, 1.0)
        self.aggregator.merge(delta, receiver=-1)

    def _totals(self) -> Delta:
        """The aggregator's cumulative counters and histograms as one delta (a checkpoint)."""
        return Delta(counters=self.aggregator.counters, histograms=self.aggregator.histograms)

    def merge_received(self, delta: Delta, receiver: int) -> None:
        """A local receiver's delta: merged here, then offered to the bus (``--publish``)."""
        self.aggregator.merge(delta, receiver)
        if self.publisher is not None:
            self.publisher.offer(delta)

    def _count_reload(self, outcome: str) -> None:
        self.aggregator_count("topology_reloads", (outcome,))

    def topology_changed(self, topology: Topology | None, version: int) -> None:
        """Broadcast a new topology to the receivers and the aggregator."""
        self.aggregator.set_topology(build_index(topology, version))
        if self.receivers is not None:
            self.receivers.broadcast_topology(topology, version)

    def flows_changed(self, active: list[tuple[FlowDefinition, int]]) -> None:
        """Hand the active flow definitions to the aggregator and every receiver (the
        receivers also sum the health analysis' own, collector.aggregate.health)."""
        self.aggregator.flows.set_definitions(active)
        if self.receivers is not None:
            summed = [*active, *self.aggregator.health.definitions()]
            self.receivers.broadcast_flows([(d.name, g, d.to_json()) for d, g in summed])

    def health(self) -> list[str]:
        """Why the collector is degraded right now (empty when it is not)."""
        reasons = self.receivers.health() if self.receivers is not None else []
        if self.consumer is not None:
            reasons += self.consumer.health()
        drops = self._kernel_drops
        if len(drops) >= 2 and drops[-1][1] > drops[0][1]:
            reasons.append(
                f"the kernel dropped {drops[-1][1] - drops[0][1]:.0f} datagrams in the last "
                f"{drops[-1][0] - drops[0][0]:.0f} s (see docs/tuning.md)"
            )
        return reasons

    def _note_kernel_drops(self, now: float) -> None:
        total = sum(self.aggregator.counters.get("kernel_receive_drops", {}).values())
        drops = self._kernel_drops
        drops.append((now, total))
        while len(drops) > 2 and drops[1][0] <= now - KERNEL_DROP_WINDOW:
            drops.popleft()

    def reload_topology_file(self) -> None:
        """SIGHUP: reload the topology file; on error keep the old one."""
        path = self.parts.topology_file
        if path is None:
            log.warning("SIGHUP: no --topology file to reload")
            return
        try:
            version = self.topology.reload(lambda: load_topology(path))
        except TopologyError as exc:
            log.error("topology reload refused, keeping version %d: %s", self.topology.version, exc)
            return
        log.info("topology reloaded from %s: version %d", path, version)

    def _warn_about_admission(self) -> None:
        """Once at start: say that every agent counts, or that the rule admits no one yet."""
        rule = self.parts.receiver.admission
        if not rule.restricts:
            log.warning(
                "every sFlow agent is admitted: restrict them with --allowed-agents "
                "CIDR[,CIDR...][,topology] (env FABRICSCOPE_ALLOWED_AGENTS; docs/security.md)"
            )
            return
        log.info("sFlow agents admitted: %s", rule)
        topology = self.topology.topology
        if rule.topology and not rule.networks and (topology is None or not topology.nodes):
            log.warning(
                "allowed_agents is 'topology' but the topology names no agent (nodes block): "
                "every datagram is rejected until one that does is installed"
            )

    # -----------------------------------------------------------------------------------------

    def _open_sockets(self) -> list[OpenedSocket]:
        count = self.parts.workers
        bind = self.parts.sflow_bind
        rcvbuf = self.parts.rcvbuf_bytes
        first = open_sflow_socket(bind, rcvbuf, reuseport=count > 1)
        opened = [first]
        port = first.sock.getsockname()[1]
        for _ in range(count - 1):
            same = type(bind)(bind.host, port)
            opened.append(open_sflow_socket(same, rcvbuf, reuseport=True))
        warning = rcvbuf_warning(first)
        if warning:
            log.warning(warning)
        self.sflow_port = port
        return opened

    def _start_receivers(self, sockets: list[OpenedSocket]) -> None:
        loop = self._loop
        assert loop is not None
        self.receivers = Receivers(
            sockets,
            self.parts.receiver,
            self.merge_received,
            self.aggregator.forget_receiver,
            self.aggregator_count,
        )
        self.flows_changed(
            self.flow_store.active()
        )  # before start: every receiver begins with them
        self.receivers.start(loop, self.topology.topology, self.topology.version)

    async def _ticker(self) -> None:
        loop = self._loop
        assert loop is not None
        while not self._stop.is_set():
            now = time.time()
            if self.receivers is not None:
                self.receivers.check()
            self.flow_store.reap()
            self.aggregator.tick(now)
            self._note_kernel_drops(now)
            self.compat.update(now, self.aggregator.compat_snapshot())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.parts.receiver.tick_seconds)

    def stop(self) -> None:
        """Begin a graceful shutdown (signal handlers call this)."""
        self._stop.set()

    async def run(self) -> int:
        """Start everything, serve until SIGTERM/SIGINT, shut down gracefully."""
        self._loop = loop = asyncio.get_running_loop()
        flows = self.flow_store.load()  # first: a FlowFileError is the only line (exit 2)
        if self.parts.topology_file is not None:
            self.topology.install(load_topology(self.parts.topology_file))
        else:
            self.aggregator.set_topology(None)
            log.warning(
                "no --topology: ports cannot be classified edge/core; traffic is exported "
                'with role="unmapped" and bytes entering the fabric stay 0'
            )
        self.aggregator.set_gauge("workers", float(self.parts.workers))
        if flows:
            log.info("flow definitions loaded from %s: %d", self.parts.flows_file, flows)
        self._warn_about_admission()
        if self.parts.api_token is None:
            log.info(
                "writes (PUT/POST/DELETE) accepted from loopback clients only: set "
                "FABRICSCOPE_API_TOKEN or --api-token-file to allow them from elsewhere"
            )
        sockets = self._open_sockets() if self.consumer is None else []
        app = create_app(
            render_metrics=lambda: render(self.registry),
            topology=self.topology,
            compat=self.compat,
            aggregator=self.aggregator,
            health=self.health,
            api_token=self.parts.api_token,
            flows=self.flow_store,
            flow_tables=self.aggregator.flows,
            settings=self.parts.http,
            events=self.aggregator.health,
        )
        runner = web.AppRunner(app, access_log=None, **runner_options(self.parts.http))
        await runner.setup()
        http = self.parts.http_bind
        site = GuardedSite(runner, http.host, http.port, self.parts.http.request_timeout)
        try:
            await site.start()
        except OSError:
            for s in sockets:
                s.sock.close()
            await runner.cleanup()
            raise
        self.http_port = _bound_port(runner)
        if self.consumer is None:
            self._start_receivers(sockets)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload_topology_file)
        bus_tasks = []
        if self.consumer is not None:
            source = self.parts.bus_source
            assert source is not None
            log.info(
                "listening: nats %s consumer %s, http %s port %d",
                ",".join(source.bus.servers),
                source.consumer,
                http.host,
                self.http_port,
            )
            bus_tasks.append(asyncio.create_task(self.consumer.run(self._stop)))
        else:
            log.info(
                "listening: sflow udp %s port %d, http %s port %d, workers %d",
                self.parts.sflow_bind.host,
                self.sflow_port,
                http.host,
                self.http_port,
                self.parts.workers,
            )
        if self.publisher is not None:
            bus_tasks.append(asyncio.create_task(self.publisher.run(self._bus_stop)))
        ticker = asyncio.create_task(self._ticker())
        pusher = pusher_for(
            self.parts.influx,
            lambda: (render(self.registry), self.compat.prometheus()),
            AggregatorHealth(self.aggregator),
        )
        pushing = asyncio.create_task(pusher.run(self._stop)) if pusher else None
        await self._stop.wait()
        log.info("shutting down")
        if pushing is not None:  # unsent points are given up; a request in flight is abandoned
            pushing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pushing
        await self._shutdown()
        self._bus_stop.set()  # the receivers' final deltas are offered: publish them, then end
        for task in bus_tasks:
            await task
        await ticker
        await runner.cleanup()
        return 0

    async def _shutdown(self) -> None:
        if self.receivers is not None:
            await self.receivers.stop(STOP_TIMEOUT)
        self.aggregator.tick(time.time())
        # the totals with every receiver's final delta merged: the last word on what was counted
        counters = self.aggregator.counters
        per_worker = counters.get("worker_datagrams", {})
        log.info(
            "stopped: %d datagrams counted (%s), %d lost, %d kernel receive drops",
            counters.get("datagrams", {}).get((), 0),
            ", ".join(f"worker {k[0]}: {v:.0f}" for k, v in sorted(per_worker.items())) or "-",
            counters.get("lost_datagrams", {}).get((), 0),
            counters.get("kernel_receive_drops", {}).get((), 0),
        )


def _bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple) and len(address) >= 2:
            return int(address[1])
    return 0


def run_service(settings: Settings, aggregate: bool = False) -> int:
    """Run ``serve`` (``aggregate``: ``fabricscope aggregate``) to completion, on uvloop when
    available."""
    service = Service(serve_parts(settings, aggregate))
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        log.info("uvloop not installed: using the default asyncio loop")
    return asyncio.run(service.run())

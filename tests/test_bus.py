"""Scale-out over a real NATS JetStream: two ``serve --publish`` shards and one ``aggregate``
against one plain ``serve`` fed the same datagrams.

A ``nats-server -js`` is started on a free port of 127.0.0.1 with its own store directory (and
stopped by its pid). The simulator writes a fabric's datagrams to a pcap; the test replays them,
paced by their timestamps, to the whole-fabric ``serve`` and — split by agent address, half the
agents each — to the two shards. Counters and histogram buckets of the aggregator must equal the
whole collector's exactly, and a second aggregator's (its own consumer) equal the first's; the
compatible face's rate series, integrated over the run (an
exponential smoothing keeps the integral of what it smooths, so the bus's lag does not change it),
within 1 %. The fault test kills the aggregator (SIGKILL) and restarts it, and stops the bus for
~10 s while the shards keep receiving, then checks the same exact equality: nothing lost,
nothing counted twice. A shard killed (SIGKILL) and restarted under its name goes on adding:
every datagram and sample counted once, counters never back, the compatible rate without a
spike.
"""

from __future__ import annotations

import itertools
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from collector.delta import Delta
from collector.delta_codec import encode_delta
from collector.http.ai_metrics import AI_METRICS_BASE
from decoders import decode_datagram
from simulator.output import read_pcap
from tests.e2e_support import Served, launch, simulate, start_serve, terminate

NATS_SERVER = shutil.which("nats-server")
pytestmark = pytest.mark.skipif(NATS_SERVER is None, reason="nats-server not installed")

FABRIC = [
    "--leaves", "4", "--spines", "2", "--hosts-per-leaf", "4", "--sampling-rate", "2000",
    "--polling-interval", "1", "--seed", "7", "--start-time", "1735689600",
]  # fmt: skip
# series of the compatible face that are rates (their time integral is a count) and dense
# enough for a 20 Hz scrape to integrate within 1 %; the sparse ones (discards and errors: a few
# counter deltas a run) are held exact through their native counters instead
RATE_POINTS = ("bps", "rdma_ops", "ecn_pps", "cnp_pps")
# families whose values legitimately differ: the bus's own, and who received (workers, shards)
FAST_SMOOTHING = ("--smoothing-seconds", "1", "--tick-seconds", "0.05")
LATE = "fabricscope_period_"  # what deltas arriving seconds late cannot give (the period)
SCRAPE_SECONDS = 0.05  # several scrapes per 0.2 s tick: the integral of a step function
NOT_COMPARED = re.compile(r"(fabricscope_(bus_|worker_|topology_reloads)|process_|python_)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Bus:
    """A ``nats-server -js`` this test started: its port, store and process."""

    port: int
    store: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        assert NATS_SERVER is not None
        log = (self.store.parent / "nats.log").open("ab")
        self.process = subprocess.Popen(
            [NATS_SERVER, "-js", "-a", "127.0.0.1", "-p", str(self.port), "-sd", str(self.store)],
            stdout=log, stderr=log,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # by pid: ours only
            self.process.wait(timeout=10)
        self.process = None


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[Bus]:
    store = tmp_path / "jetstream"
    store.mkdir()
    server = Bus(_free_port(), store)
    server.start()
    yield server
    server.stop()


def start_aggregate(
    bus: Bus, topology: Path, *extra: str, consumer: str = "test-aggregate"
) -> Served:
    """``fabricscope aggregate`` on a free HTTP port, read back from its start line."""
    args = [
        sys.executable, "-m", "collector", "aggregate", "--nats", bus.url,
        "--topology", str(topology), "--http-bind", "127.0.0.1:0", "--tick-seconds", "0.2",
        "--bus-consumer", consumer, "--bus-checkpoint-seconds", "1", *extra,
    ]  # fmt: skip

    def ready(log: list[str]) -> tuple[int, int] | None:
        if "bus: consumer" not in log[-1]:  # after the checkpoint, if any, was restored
            return None
        for line in log:
            found = re.search(r"listening: nats \S+ consumer \S+, http \S+ port (\d+)", line)
            if found:
                return 0, int(found.group(1))
        return None

    return launch(args, "aggregate", ready)


@dataclass
class Fabric:
    """The simulated run: its datagrams (time, bytes, which shard) and topology file."""

    datagrams: list[tuple[float, bytes, int]]
    topology: Path


def _fabric(tmp_path: Path, seconds: int) -> Fabric:
    pcap, topology = tmp_path / "run.pcap", tmp_path / "topology.json"
    simulate(["--pcap", str(pcap), "--topology-out", str(topology), "--duration", str(seconds),
              *FABRIC])  # fmt: skip
    agents = sorted({decode_datagram(data).agent or "" for _, data in read_pcap(str(pcap))})
    assert len(agents) >= 6
    first_half = set(agents[: len(agents) // 2])
    datagrams = [
        (ts, data, 0 if (decode_datagram(data).agent or "") in first_half else 1)
        for ts, data in read_pcap(str(pcap))
    ]
    return Fabric(datagrams, topology)


def _replay(
    datagrams: list[tuple[float, bytes, int]],
    whole: int,
    shards: tuple[int, int],
    scrape: list[Served] | None = None,
    scrapes: list[list[tuple[float, dict[str, float]]]] | None = None,
) -> None:
    """Send each datagram to ``whole`` and to its shard, paced by the pcap's timestamps;
    meanwhile (``scrape``) take the compatible face of each collector every ``SCRAPE_SECONDS``."""
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start_ts, start = datagrams[0][0], time.monotonic()
    next_scrape = start
    for ts, data, shard in datagrams:
        while True:
            now = time.monotonic()
            if scrape is not None and scrapes is not None and now >= next_scrape:
                for served, into in zip(scrape, scrapes, strict=True):
                    into.append((time.monotonic(), _compat(served)))
                next_scrape += SCRAPE_SECONDS
            wait = (ts - start_ts) - (now - start)
            if wait <= 0:
                break
            time.sleep(min(wait, 0.05))
        sender.sendto(data, ("127.0.0.1", whole))
        sender.sendto(data, ("127.0.0.1", shards[shard]))
    sender.close()


def _compat(served: Served) -> dict[str, float]:
    url = f"http://127.0.0.1:{served.http_port}{AI_METRICS_BASE}/prometheus/txt"
    with urllib.request.urlopen(url, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        key, _, value = line.rpartition(" ")
        out[key] = float(value)
    return out


def _integral(scrapes: list[tuple[float, dict[str, float]]], name: str) -> float:
    """The time integral of one series over the scrapes (each value held until the next)."""
    return sum(
        values.get(name, 0.0) * (later - at)
        for (at, values), (later, _) in itertools.pairwise(scrapes)
    )


def _counters(served: Served) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counter and histogram sample of /metrics but the ones that may differ."""
    return {
        key: value
        for key, value in served.metrics().items()
        if (key[0].endswith(("_total", "_bucket", "_count", "_sum")))
        and not NOT_COMPARED.match(key[0])
    }


def _settled_equal(
    whole: Served, aggregate: Served, timeout: float = 20.0, leave_out: str = "^$"
) -> tuple[dict, dict]:
    """Scrape both until their counters agree (bounded; ``leave_out``: a pattern of names not
    compared); the last scrapes."""
    deadline = time.monotonic() + timeout
    while True:
        a, b = (
            {k: v for k, v in _counters(s).items() if not re.match(leave_out, k[0])}
            for s in (whole, aggregate)
        )
        if all(_same(k, a.get(k), b.get(k)) for k in a.keys() | b.keys()):
            return a, b
        if time.monotonic() > deadline:
            return a, b
        time.sleep(0.5)


def _same(key: tuple[str, tuple], x: float | None, y: float | None) -> bool:
    # counts are exact; a histogram's _sum of ratios is a float sum, added in another order
    if key[0].endswith("_sum") and x is not None and y is not None:
        return x == pytest.approx(y, rel=1e-12)
    return x == y


def _assert_same_counters(a: dict, b: dict) -> None:
    assert a[("fabricscope_datagrams_total", ())] > 0
    differ = {
        k: (a.get(k), b.get(k)) for k in a.keys() | b.keys() if not _same(k, a.get(k), b.get(k))
    }
    assert differ == {}


def test_two_shards_and_an_aggregator_equal_one_collector(tmp_path: Path, bus: Bus) -> None:
    fabric = _fabric(tmp_path, 4)
    # a short smoothing time: the rates' tail after the traffic has decayed within the test
    whole = start_serve(fabric.topology, 1, *FAST_SMOOTHING)
    shards = [
        start_serve(fabric.topology, 1, "--publish", bus.url, "--shard", name)
        for name in ("pod-a", "pod-b")
    ]
    aggregate = start_aggregate(bus, fabric.topology, *FAST_SMOOTHING)
    # a second aggregator on the same stream, its own consumer (high availability)
    standby = start_aggregate(bus, fabric.topology, consumer="test-standby")
    try:
        scrapes: list[list[tuple[float, dict[str, float]]]] = [[], []]
        _replay(
            fabric.datagrams,
            whole.sflow_port,
            (shards[0].sflow_port, shards[1].sflow_port),
            [whole, aggregate],
            scrapes,
        )
        # the compatible rates, integrated over the run (scraped 20 times a second; the tail,
        # once the traffic stopped, decays within a few smoothing times and is taken too)
        for _ in range(90):
            for served, into in zip((whole, aggregate), scrapes, strict=True):
                into.append((time.monotonic(), _compat(served)))
            time.sleep(SCRAPE_SECONDS)
        a, b = _settled_equal(whole, aggregate)
        _assert_same_counters(a, b)
        _assert_same_counters(*_settled_equal(aggregate, standby))
        # each shard published (a delta a tick, idle ones too: they carry its gauges) and the
        # aggregator merged every one of them, none twice
        published = [s.value("fabricscope_bus_deltas_published_total") for s in shards]
        assert min(published) > 0
        deadline = time.monotonic() + 10
        while True:
            merged = aggregate.metrics()
            total_merged = sum(
                merged.get(("fabricscope_bus_deltas_merged_total", (("shard", n),)), 0.0)
                for n in ("pod-a", "pod-b")
            )
            if total_merged >= sum(published) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert total_merged >= sum(published)
        assert not any(k[0] == "fabricscope_bus_deltas_replayed_total" for k in merged)
        for point in RATE_POINTS:
            name = f"sflow_ai_{point}"
            whole_sum, shard_sum = (_integral(s, name) for s in scrapes)
            if point in ("bps", "rdma_ops"):
                assert whole_sum > 0, name
            assert shard_sum == pytest.approx(whole_sum, rel=0.01, abs=1e-9), name
    finally:
        for served in (standby, aggregate, *shards, whole):
            terminate(served.process)


def test_aggregator_restart_and_bus_outage_lose_nothing_and_count_nothing_twice(
    tmp_path: Path, bus: Bus
) -> None:
    fabric = _fabric(tmp_path, 6)
    third = len(fabric.datagrams) // 3
    parts = [fabric.datagrams[:third], fabric.datagrams[third : 2 * third]]
    parts.append(fabric.datagrams[2 * third :])
    whole = start_serve(fabric.topology, 1)
    shards = [
        start_serve(fabric.topology, 1, "--publish", bus.url, "--shard", name)
        for name in ("pod-a", "pod-b")
    ]
    ports = (shards[0].sflow_port, shards[1].sflow_port)
    aggregate = start_aggregate(bus, fabric.topology)
    try:
        _replay(parts[0], whole.sflow_port, ports)
        _assert_same_counters(*_settled_equal(whole, aggregate))
        # killed outright: what it merged since its last checkpoint is read again, once
        aggregate.process.kill()
        aggregate.process.wait(timeout=10)
        _replay(parts[1], whole.sflow_port, ports)
        aggregate = start_aggregate(bus, fabric.topology)
        assert any("resumed test-aggregate from its checkpoint" in line for line in aggregate.log)
        assert not any("from sequence 1\n" in line for line in aggregate.log)
        # every count; the period detector starts afresh and gets the missed seconds too late
        _assert_same_counters(*_settled_equal(whole, aggregate, leave_out=LATE))

        # the bus away ~10 s: the shards keep receiving, fold their deltas, then catch up
        bus.stop()
        down = time.monotonic()
        _replay(parts[2], whole.sflow_port, ports)
        time.sleep(max(0.0, 10.0 - (time.monotonic() - down)))
        assert whole.value("fabricscope_datagrams_total") > aggregate.value(
            "fabricscope_datagrams_total"
        )
        bus.start()
        # every count arrives; only the period detector, fed in time order with a short allowance,
        # cannot use the RoCE buckets of the outage when they arrive 10 s late (docs/scale-out.md)
        a, b = _settled_equal(whole, aggregate, timeout=30.0, leave_out=LATE)
        _assert_same_counters(a, b)
        for shard in shards:
            assert shard.value("fabricscope_bus_deltas_coalesced_total") > 0
            assert shard.value("fabricscope_bus_publish_failures_total") > 0

        # a delta id merged already is skipped and counted, even past JetStream's own dedupe
        # (another message id), and a message that is not a delta is refused
        before = aggregate.value("fabricscope_datagrams_total")
        extra = Delta()
        extra.add_counter("datagrams", (), 5.0)
        _publish_raw(bus, "pod-c", 1, encode_delta(extra), copies=2)
        _publish_raw(bus, "pod-c", 2, b"FSD\x04{not json", copies=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if aggregate.value("fabricscope_bus_deltas_refused_total") >= 1:
                break
            time.sleep(0.2)
        assert aggregate.value("fabricscope_datagrams_total") == before + 5.0
        assert aggregate.value("fabricscope_bus_deltas_replayed_total", shard="pod-c") == 1.0
        assert aggregate.value("fabricscope_bus_deltas_refused_total") == 1.0
    finally:
        for served in (aggregate, *shards, whole):
            terminate(served.process)


def test_a_shard_killed_and_restarted_continues_its_counts(tmp_path: Path, bus: Bus) -> None:
    fabric = _fabric(tmp_path, 4)
    half = len(fabric.datagrams) // 2
    whole = start_serve(fabric.topology, 1, *FAST_SMOOTHING)
    shards = [
        start_serve(fabric.topology, 1, "--publish", bus.url, "--shard", name, *FAST_SMOOTHING)
        for name in ("pod-a", "pod-b")
    ]
    aggregate = start_aggregate(bus, fabric.topology, *FAST_SMOOTHING)
    try:
        _replay(
            fabric.datagrams[:half], whole.sflow_port, (shards[0].sflow_port, shards[1].sflow_port)
        )
        _assert_same_counters(*_settled_equal(whole, aggregate))  # all published before the kill
        interface_bytes = "fabricscope_interface_bytes_total"
        at_kill = aggregate.metrics()
        shards[1].process.kill()  # no final delta: it had nothing unpublished (settled above)
        shards[1].process.wait(timeout=10)
        shards[1] = start_serve(
            fabric.topology, 1, "--publish", bus.url, "--shard", "pod-b", *FAST_SMOOTHING
        )
        scrapes: list[list[tuple[float, dict[str, float]]]] = [[], []]
        _replay(
            fabric.datagrams[half:], whole.sflow_port,
            (shards[0].sflow_port, shards[1].sflow_port), [whole, aggregate], scrapes,
        )  # fmt: skip
        total = float(len(fabric.datagrams))  # each sent once to the whole and once to a shard
        assert whole.wait_for("fabricscope_datagrams_total", total) == total
        assert aggregate.wait_for("fabricscope_datagrams_total", total) == total
        _settled_equal(
            whole, aggregate, leave_out="(?!fabricscope_samples_total)"
        )  # wait for those
        after = aggregate.metrics()
        # every datagram and sample of both halves once: the new shard's deltas (new ids, above
        # the old process's: its clock) add to what the old one sent, none taken for a replay
        for key, value in whole.metrics().items():
            if key[0] in ("fabricscope_datagrams_total", "fabricscope_samples_total"):
                assert after.get(key) == value, key
        assert aggregate.value("fabricscope_bus_deltas_replayed_total", shard="pod-b") == 0.0
        # counters only go on: the restarted shard starts its ports' baselines afresh (one
        # counter interval of its ports is not counted), so never more than the whole, never less
        # than at the kill, and no spike in the compatible rate
        for key, value in after.items():
            if key[0] == interface_bytes:
                assert at_kill.get(key, 0.0) <= value <= whole.value(key[0], **dict(key[1])), key
        assert (
            after[(interface_bytes, (("direction", "in"), ("role", "edge")))]
            > at_kill[(interface_bytes, (("direction", "in"), ("role", "edge")))]
        )
        peak_whole = max(v.get("sflow_ai_bps", 0.0) for _, v in scrapes[0])
        peak_aggregate = max(v.get("sflow_ai_bps", 0.0) for _, v in scrapes[1])
        assert 0 < peak_aggregate <= 1.1 * peak_whole
    finally:
        for served in (aggregate, *shards, whole):
            terminate(served.process)


def _publish_raw(bus: Bus, shard: str, delta_id: int, payload: bytes, copies: int) -> None:
    """Publish ``payload`` as ``shard``'s delta ``delta_id``, ``copies`` times, each with its own
    JetStream message id (so the server stores every copy)."""
    import asyncio

    import nats

    async def send() -> None:
        client = await nats.connect(bus.url)
        js = client.jetstream()
        for copy in range(copies):
            headers = {
                "Fabricscope-Shard": shard,
                "Fabricscope-Delta-Id": str(delta_id),
                "Nats-Msg-Id": f"test-{shard}-{delta_id}-{copy}",
            }
            await js.publish(f"fabricscope.delta.{shard}", payload, headers=headers)
        await client.close()

    asyncio.run(send())

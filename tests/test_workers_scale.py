"""``serve --workers 2`` at the size of a real fabric: 1,000 switches, ~20,000 ports sending
counters every second, flow and drop samples mixed in, the simulator's topology loaded.

Each tick's delta carries thousands of port statuses (megabytes on the pipe: the size that used
to wedge the worker transport). The same datagrams, sent from one UDP source port per agent
group, go to ``--workers 1`` and ``--workers 2``: nothing is lost, both workers carry traffic,
and every native counter and histogram is the same in both runs. A worker killed with SIGKILL
mid-run is replaced on the same socket, counted, and ingest goes on.
"""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.receive.pipeline import header_agent
from tests.e2e_support import Metrics, Served, pcap_datagrams, simulate, start_serve

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("workers_scale")]

SENDERS = 32  # UDP source ports: agents are spread over them, one agent always on the same one
RATE = 6_000  # datagrams per second offered (well under the no-loss rate of both set-ups)
SETTLE = 60.0

# Counters that depend on timing or on how the work is split, not on the datagrams.
NOT_COMPARED = (
    "fabricscope_worker_",
    "fabricscope_kernel_receive_drops",
    "fabricscope_period_",
    "fabricscope_topology_reloads",
)


@pytest.fixture(scope="module")
def fabric(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[bytes]]:
    """A 1,000-switch fabric's topology and 3 s of its datagrams."""
    where = tmp_path_factory.mktemp("fabric")
    simulate(
        [
            "--pcap", str(where / "fabric.pcap"), "--topology-out", str(where / "topology.json"),
            "--leaves", "992", "--spines", "8", "--hosts-per-leaf", "4",
            "--duration", "3", "--polling-interval", "1", "--load", "0.01", "--seed", "7",
        ],
        timeout=180,
    )  # fmt: skip
    return where / "topology.json", pcap_datagrams(where / "fabric.pcap")


def _senders() -> list[socket.socket]:
    out = []
    for _ in range(SENDERS):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        out.append(s)
    return out


def _send(datagrams: list[bytes], port: int, rate: int = RATE) -> Iterator[int]:
    """Send every datagram, paced, each agent's from the same source port; yields the count
    sent after each batch (so a test can act mid-run)."""
    senders = _senders()
    groups: dict[str, int] = {}
    batch = max(1, rate // 20)
    started = time.monotonic()
    try:
        for i, data in enumerate(datagrams):
            agent = header_agent(data)
            key = agent[0] if agent is not None else ""
            which = groups.setdefault(key, len(groups) % SENDERS)
            senders[which].sendto(data, ("127.0.0.1", port))
            if (i + 1) % batch == 0:
                ahead = started + (i + 1) / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
                yield i + 1
        yield len(datagrams)
    finally:
        for s in senders:
            s.close()


def _native(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        key: value
        for key, value in m.samples.items()
        if key[0].startswith("fabricscope_")
        and key[0].endswith(("_total", "_bucket", "_sum", "_count"))
        and not key[0].startswith(NOT_COMPARED)
    }


def _run(topology: Path, datagrams: list[bytes], workers: int) -> tuple[Metrics, Served]:
    served = start_serve(topology, workers, "--tick-seconds", "1")
    for _ in _send(datagrams, served.sflow_port):
        pass
    return served.wait_settled(len(datagrams), timeout=SETTLE), served


def test_two_workers_lose_nothing_and_count_what_one_worker_counts(
    fabric: tuple[Path, list[bytes]],
) -> None:
    topology, datagrams = fabric
    assert len(datagrams) > 30_000
    results: dict[int, Metrics] = {}
    for workers in (2, 1):
        m, served = _run(topology, datagrams, workers)
        try:
            assert m.one("fabricscope_datagrams_total") == len(datagrams), workers
            assert m.one("fabricscope_kernel_receive_drops_total") == 0
            assert m.sum("fabricscope_decode_errors_total") == 0
            assert m.one("fabricscope_internal_errors_total") == 0
            status, body = served.get("/healthz")
            assert (status, body) == (200, "ok\n")
            results[workers] = m
        finally:
            log = served.stop()
        assert "stopped unexpectedly" not in log and "starting a new one" not in log, log
    two, one = results[2], results[1]
    per_worker = two.by("fabricscope_worker_datagrams_total", "worker")
    assert sorted(per_worker) == ["0", "1"]
    assert sum(per_worker.values()) == len(datagrams)
    assert min(per_worker.values()) > 0.2 * len(datagrams)  # both really carry traffic
    # the ports sent counters every second: thousands of statuses per tick, on both sides
    assert two.sum("fabricscope_samples_total", kind="counter") > 50_000
    assert two.one("fabricscope_ports", role="edge", status="up") > 3_000
    # the same series, counts exact; sums of floats added in another order within 1e-12
    assert _native(two) == pytest.approx(_native(one), rel=1e-12, abs=0)


def test_a_killed_worker_is_replaced_and_ingest_goes_on(
    fabric: tuple[Path, list[bytes]],
) -> None:
    topology, datagrams = fabric
    served = start_serve(topology, 2, "--tick-seconds", "0.5")
    try:
        workers = _children(served.process.pid)
        assert len(workers) == 2
        victim = workers[0]
        killed_at = None
        for sent in _send(datagrams, served.sflow_port):
            if killed_at is None and sent >= len(datagrams) // 3:
                os.kill(victim, signal.SIGKILL)
                killed_at = sent
        assert killed_at is not None
        assert _restarts(served) == 1.0
        # what the killed worker had not handed over never arrives, but the replacement resumes
        # each agent from the sequence merged last, so it is counted lost: settled is when
        # counted and lost make up what was sent
        deadline = time.monotonic() + SETTLE
        while True:
            m = served.wait_settled(0)
            counted = m.one("fabricscope_datagrams_total")
            lost = m.one("fabricscope_lost_datagrams_total")
            if counted + lost >= len(datagrams) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert counted + lost == len(datagrams)
        by_worker = m.by("fabricscope_worker_restarts_total", "worker")
        assert sum(by_worker.values()) == 1.0
        replaced = next(iter(by_worker))
        # the new worker received on the same socket: what it handled after the kill counts
        assert m.one("fabricscope_worker_datagrams_total", worker=replaced) > 0
        # what the killed worker had not handed over is lost, at most about a tick of its share
        received = m.one("fabricscope_datagrams_total")
        assert len(datagrams) * 0.8 < received <= len(datagrams)
        assert sorted(_children(served.process.pid)) != sorted(workers)
        assert len(_children(served.process.pid)) == 2
        deadline = time.monotonic() + 10
        while served.get("/healthz")[0] != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert served.get("/healthz") == (200, "ok\n")
    finally:
        log = served.stop()
    assert "stopped unexpectedly" in log or "exited with status" in log, log


def test_a_stopped_worker_makes_health_degraded_then_is_replaced(
    fabric: tuple[Path, list[bytes]],
) -> None:
    topology, datagrams = fabric
    served = start_serve(topology, 2, "--tick-seconds", "0.2")
    try:
        workers = _children(served.process.pid)
        for _ in _send(datagrams[:2_000], served.sflow_port):
            pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # both have delivered (a spawned worker takes ~1 s)
            m = Metrics(served.metrics())
            both = len(m.by("fabricscope_worker_datagrams_total", "worker")) == 2
            if both and served.get("/healthz")[0] == 200:
                break
            time.sleep(0.1)
        os.kill(workers[1], signal.SIGSTOP)
        deadline = time.monotonic() + 10
        status, body = served.get("/healthz")
        while status == 200 and time.monotonic() < deadline:
            time.sleep(0.1)
            status, body = served.get("/healthz")
        assert status == 503
        assert "silent for" in body
        # 10 ticks of silence: it is killed (SIGKILL works on a stopped process) and replaced
        assert _restarts(served) == 1.0
        assert workers[1] not in _children(served.process.pid)
    finally:
        started = time.monotonic()
        log = served.stop()
        stopping = time.monotonic() - started
    assert "sent nothing for" in log, log
    assert stopping < 5.0


def _restarts(served: Served, timeout: float = 20.0) -> float:
    """Worker restarts over every worker, once there is one (bounded in time)."""
    deadline = time.monotonic() + timeout
    while True:
        total = Metrics(served.metrics()).sum("fabricscope_worker_restarts_total")
        if total or time.monotonic() > deadline:
            return total
        time.sleep(0.2)


def _children(pid: int) -> list[int]:
    """The worker processes of ``serve`` (its children that run Python)."""
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        out += [int(child) for child in text]
    workers = []
    for child in out:
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            workers.append(child)
    return workers


def test_sigterm_ends_the_process_group_in_5_s_with_a_worker_stopped(
    fabric: tuple[Path, list[bytes]],
) -> None:
    topology, datagrams = fabric
    served = start_serve(topology, 2, "--tick-seconds", "0.2")
    workers = _children(served.process.pid)
    try:
        sent = list(_send(datagrams[:3_000], served.sflow_port))[-1]
        served.wait_settled(sent, timeout=SETTLE)
        os.kill(workers[0], signal.SIGSTOP)  # a worker that cannot act on anything
    finally:
        started = time.monotonic()
        log = served.stop()
        stopping = time.monotonic() - started
    assert served.process.returncode == 0, log
    assert stopping < 5.0
    assert "did not stop in time; killed" in log
    for pid in workers:
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid), pid


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z"
    except OSError:
        return True

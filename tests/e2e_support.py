"""Helpers for the end-to-end truth tests: a real ``serve``, a real ``simulate``, an oracle.

* :func:`start_serve` starts ``fabricscope serve`` on free ports of 127.0.0.1 (port 0; the
  ports are read back from its start line) and :class:`Served` scrapes ``/metrics``.
* :func:`run_simulate` runs ``fabricscope simulate`` to a collector or to a pcap and loads the
  truth file.
* :func:`counter_oracle` replays a run's datagrams (the pcap of the same seed and flags: the same
  bytes, lost datagrams included as not sent) through the documented counter rules — per-port
  deltas of successive counter samples, 32-bit packet counters taken modulo 2**32, every baseline
  of an agent dropped when its sequence or uptime goes back — to give the exact counter-derived
  totals the collector must report.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from decoders import decode_datagram
from decoders.drop_reasons import drop_reason_name
from decoders.records import CounterSample, DropSample, FlowSample, GenericInterfaceCounters
from simulator.output import read_pcap

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT = 30.0
SETTLE_TIMEOUT = 20.0
POLL_TIMEOUT = 15.0
U32 = 1 << 32

Key = tuple[str, tuple[tuple[str, str], ...]]


@dataclass
class Served:
    """A running ``serve`` process and its ports."""

    process: subprocess.Popen[str]
    sflow_port: int
    http_port: int
    log: list[str]

    def get(self, path: str) -> tuple[int, str]:
        """GET a path; returns (status, body), error statuses included."""
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{self.http_port}{path}", timeout=10
            ) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def put(self, path: str, body: bytes) -> tuple[int, str]:
        """PUT a body; returns (status, body), error statuses included."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}{path}", data=body, method="PUT"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def value(self, name: str, **labels: str) -> float:
        """One sample's value of /metrics (0 when absent)."""
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def wait_for(self, name: str, target: float, **labels: str) -> float:
        """Poll /metrics until a sample reaches ``target`` (bounded in time)."""
        deadline = time.monotonic() + POLL_TIMEOUT
        value = 0.0
        while time.monotonic() < deadline:
            value = self.value(name, **labels)
            if value >= target:
                return value
            time.sleep(0.2)
        return value

    def metrics(self) -> dict[Key, float]:
        """Every sample of /metrics keyed by (name, sorted labels)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics", timeout=10) as r:
            text = r.read().decode()
        out: dict[Key, float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return out

    def wait_settled(self, datagrams: int, timeout: float = SETTLE_TIMEOUT) -> Metrics:
        """Scrape until ``fabricscope_datagrams_total`` reaches ``datagrams`` and every
        ``fabricscope_…_total`` counter is stable over two scrapes a few ticks apart, or until
        ``timeout``; returns the last scrape."""
        deadline = time.monotonic() + timeout
        last: dict[Key, float] | None = None
        while True:
            m = Metrics(self.metrics())
            now = {
                k: v
                for k, v in m.samples.items()
                if k[0].startswith("fabricscope_") and k[0].endswith("_total")
            }
            if m.one("fabricscope_datagrams_total") >= datagrams and now == last:
                return m
            if time.monotonic() > deadline:
                return m
            last = now
            time.sleep(0.5)

    def stop(self) -> str:
        """SIGTERM, wait, and return stderr; kills after 30 s."""
        if self.process.poll() is not None:
            return ""
        self.process.send_signal(signal.SIGTERM)
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()
            raise
        return err


@dataclass
class Metrics:
    """One scrape with sums over labels."""

    samples: dict[Key, float]

    def one(self, name: str, **labels: str) -> float:
        """One series' value (0 when absent)."""
        return self.samples.get((name, tuple(sorted(labels.items()))), 0.0)

    def sum(self, name: str, **labels: str) -> float:
        """Sum over every series of ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, lab), v in self.samples.items() if n == name and want <= set(lab))

    def by(self, name: str, label: str, **labels: str) -> dict[str, float]:
        """Values of ``name`` keyed by one label (summed over the others), zeros left out."""
        want = set(labels.items())
        out: Counter[str] = Counter()
        for (n, lab), v in self.samples.items():
            if n == name and want <= set(lab) and v:
                out[dict(lab)[label]] += v
        return dict(out)


def env() -> dict[str, str]:
    """The environment for subprocesses: this checkout first on PYTHONPATH."""
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def start_serve(topology: Path | None, workers: int, *extra: str) -> Served:
    """``fabricscope serve`` on 127.0.0.1 port 0 (UDP and HTTP), with ``topology`` if any."""
    args = [
        sys.executable, "-m", "collector", "serve",
        "--sflow-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0",
        "--workers", str(workers), "--tick-seconds", "0.2", *extra,
    ]  # fmt: skip
    if topology is not None:
        args += ["--topology", str(topology)]

    def ports(log: list[str]) -> tuple[int, int] | None:
        found = re.search(r"sflow udp \S+ port (\d+), http \S+ port (\d+)", log[-1])
        return (int(found.group(1)), int(found.group(2))) if found else None

    return launch(args, "serve", ports)


def launch(
    args: list[str], what: str, ready: Callable[[list[str]], tuple[int, int] | None]
) -> Served:
    """Start ``args`` and read its stderr until ``ready(log so far)`` gives its (sFlow, HTTP)
    ports; killed and an AssertionError with its log when it exits or ``START_TIMEOUT`` passes."""
    process = subprocess.Popen(
        args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env(), cwd=ROOT
    )
    log: list[str] = []
    deadline = time.monotonic() + START_TIMEOUT
    assert process.stderr is not None
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        log.append(line)
        ports = ready(log)
        if ports is not None:
            return Served(process, ports[0], ports[1], log)
    process.kill()
    process.communicate()
    raise AssertionError(f"{what} did not start: " + "".join(log))


def terminate(process: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """SIGTERM ``process`` and reap it; SIGKILL when it has not exited within ``timeout``."""
    process.terminate()
    try:
        process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()


def simulate(args: list[str], timeout: float = 120.0) -> str:
    """Run ``fabricscope simulate ARGS``; returns stderr (asserts exit 0)."""
    result = subprocess.run(
        [sys.executable, "-m", "collector", "simulate", "--quiet", *args],
        capture_output=True, text=True, timeout=timeout, env=env(), cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stderr


def load_truth(path: Path) -> dict[str, Any]:
    """The truth file, checked for its format."""
    truth: dict[str, Any] = json.loads(path.read_text())
    assert truth["format"] == "fabricscope-sim-truth/1"
    return truth


@dataclass
class Oracle:
    """Exact figures from the datagrams a run delivered (no sampling error involved)."""

    datagrams: int = 0
    flow_samples: int = 0
    counter_samples: int = 0
    drop_samples: int = 0
    drops_by_reason: Counter[str] = field(default_factory=Counter)
    # the drops field (notifications suppressed, cumulative) per data source: (first, last)
    drops_field: dict[tuple[str, int, int], tuple[int, int]] = field(default_factory=dict)
    # counter-derived sums by (what, direction): what in bytes, packets, errors, discards
    counters: Counter[tuple[str, str]] = field(default_factory=Counter)
    wraps: int = 0  # port intervals in which a 32-bit packet counter went down (one wrap)
    restarts: Counter[str] = field(default_factory=Counter)  # by agent
    datagram_gaps: int = 0  # datagrams missing from the sequences, by agent, summed
    sample_gaps: Counter[str] = field(default_factory=Counter)  # samples missing, by kind
    ports_down: set[tuple[str, int]] = field(default_factory=set)  # last status oper down
    flow_samples_by_port: Counter[tuple[str, int]] = field(default_factory=Counter)


def counter_oracle(datagrams: Iterable[bytes]) -> Oracle:
    """Replay datagrams through the documented counter and sequence rules (see module doc)."""
    o = Oracle()
    base: dict[tuple[str, int], GenericInterfaceCounters] = {}
    last_seq: dict[str, tuple[int, int]] = {}
    sample_seq: dict[tuple[str, str, int, int], int] = {}  # (agent, kind, source) → sequence
    for data in datagrams:
        d = decode_datagram(data)
        agent = d.agent or ""
        o.datagrams += 1
        prev = last_seq.get(agent)
        if prev is not None:
            seq0, up0 = prev
            if d.sequence < seq0 - 64 or d.uptime_ms < up0 - 2000:
                o.restarts[agent] += 1
                for key in [k for k in base if k[0] == agent]:
                    del base[key]
                for skey in [k for k in sample_seq if k[0] == agent]:
                    del sample_seq[skey]
            elif d.sequence > seq0 + 1:
                o.datagram_gaps += d.sequence - seq0 - 1
        last_seq[agent] = (d.sequence, d.uptime_ms)
        for s in d.samples:
            if isinstance(s, FlowSample | CounterSample | DropSample):
                skey = (agent, s.KIND, s.source.type, s.source.index)
                previous = sample_seq.get(skey)
                if previous is not None and s.sequence > previous + 1:
                    o.sample_gaps[s.KIND] += s.sequence - previous - 1
                sample_seq[skey] = s.sequence
            if isinstance(s, FlowSample):
                o.flow_samples += 1
                o.flow_samples_by_port[(agent, s.source.index)] += 1
            elif isinstance(s, DropSample):
                o.drop_samples += 1
                o.drops_by_reason[drop_reason_name(s.reason)] += 1
                key3 = (agent, s.source.type, s.source.index)
                first = o.drops_field.get(key3, (s.drops, s.drops))[0]
                o.drops_field[key3] = (first, s.drops)
            elif isinstance(s, CounterSample):
                o.counter_samples += 1
                g = next((r for r in s.records if isinstance(r, GenericInterfaceCounters)), None)
                if g is None:
                    continue
                key = (agent, g.if_index)
                if g.if_status & 2:
                    o.ports_down.discard(key)
                else:
                    o.ports_down.add(key)
                old = base.get(key)
                base[key] = g
                if old is None:
                    continue
                o.counters["bytes", "in"] += g.in_octets - old.in_octets
                o.counters["bytes", "out"] += g.out_octets - old.out_octets
                wrapped = False
                for direction, new_p, old_p in (
                    ("in", _packets_in(g), _packets_in(old)),
                    ("out", _packets_out(g), _packets_out(old)),
                ):
                    wrapped = wrapped or new_p < old_p
                    o.counters["packets", direction] += (new_p - old_p) % U32
                o.wraps += wrapped
                o.counters["errors", "in"] += (g.in_errors - old.in_errors) % U32
                o.counters["errors", "out"] += (g.out_errors - old.out_errors) % U32
                o.counters["discards", "in"] += (g.in_discards - old.in_discards) % U32
                o.counters["discards", "out"] += (g.out_discards - old.out_discards) % U32
    return o


def notifications_lost(o: Oracle) -> int:
    """Suppressed notifications a collector can see: per data source, the increase of the
    drops field from its first delivered notification to its last (none reset in the run)."""
    return sum(last - first for first, last in o.drops_field.values())


def _packets_in(g: GenericInterfaceCounters) -> int:
    return g.in_ucast_pkts + g.in_multicast_pkts + g.in_broadcast_pkts


def _packets_out(g: GenericInterfaceCounters) -> int:
    return g.out_ucast_pkts + g.out_multicast_pkts + g.out_broadcast_pkts


def pcap_datagrams(path: Path) -> list[bytes]:
    """The datagrams of a pcap written by ``simulate --pcap``."""
    return [data for _, data in read_pcap(str(path))]

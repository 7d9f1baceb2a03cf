"""Collector ingest benchmark: no-loss rates against sfcapd and sfacctd, CPU per sample by kind.

Parts (``--parts``, comma-separated; default ``ramp,cpu,render``):

* ``ramp``: on fabric-shaped corpora (``bench/fabric_corpus.py``: 512 agents, 23,040 ports, the
  topology loaded into fabricscope; ``mixed``, the ``drops`` flood and ``counters`` only), the C
  sender ``bench/sflow_send.c`` (compiled with gcc into a temporary directory) offers a rising
  rate, each step a fixed time, to ``fabricscope serve --workers 1``, ``--workers 2``, nfdump's
  ``sfcapd`` and pmacct's ``sfacctd``. Loss of a step = max(kernel drops on the receiving
  sockets, 1 − what the system itself counted ÷ what was sent in the same unit). The no-loss
  rate is the highest step with loss < 0.1 %; the median over ``--repeat`` ramps is reported.
* ``cpu``: each single-kind corpus at a fixed rate below loss to ``serve --workers 1`` and
  ``2``: utime + stime of all its processes ÷ samples of that kind it counted.
* ``render``: ``/metrics`` render time and the web UI's JSON documents, 1,000 switches × 64 ports.
* ``--flow-definitions N`` (0, 5 or 20; default 0): every ``fabricscope serve`` starts with the
  first N of ``FLOW_DEFINITIONS`` active (a ``--flows-file``), to state what flow definitions
  cost the ingest (docs/flows.md); run the ramp once per N.
* ``--rss-minutes M``: RSS over time at half the no-loss rate on the simulator's 1,000-switch
  fabric.

    python bench/collector.py                     # full run, about 20 minutes
    python bench/collector.py --quick             # smoke run: 1 repeat, 2 s steps
    python bench/collector.py --parts cpu --workers-list 1
    python bench/collector.py --parts ramp --corpora mixed --systems fabricscope-1,sfcapd
    python bench/collector.py --parts ramp --systems fabricscope-2,fabricscope-2-noring,sfcapd
    python bench/collector.py --parts ramp --corpora mixed --systems fabricscope-1 \
        --flow-definitions 5

``fabricscope-N-noring`` is ``serve --workers N --receive-ring-bytes 0``: the receive loop reads
its socket itself, without the compiled socket reader. ``fabricscope-N-health`` is ``serve
--health``: with the fabric-health analysis (docs/fabric-health.md) and the four flow
definitions it has the receivers sum, to state what it costs the ingest.

Nothing is pinned (see CORE_SHARING); the sender's and each receiver's CPU per step are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


from collector.aggregate.aggregator import Aggregator, AggregatorSettings  # noqa: E402
from collector.delta import AgentStatus, Delta, PortStatus  # noqa: E402
from collector.http.access import json_bytes  # noqa: E402
from collector.http.fabric import status_document  # noqa: E402
from collector.http.ports import ports_document  # noqa: E402
from collector.http.ui import agents_document, links_json  # noqa: E402
from collector.prometheus.registry import build_registry, render, render_reference  # noqa: E402
from topology import TopologyIndex, parse_topology  # noqa: E402

# By path: with bench/ on sys.path this file would shadow the collector package.
_spec = importlib.util.spec_from_file_location(
    "bench_fabric_corpus", ROOT / "bench" / "fabric_corpus.py"
)
assert _spec is not None and _spec.loader is not None
fc = importlib.util.module_from_spec(_spec)
sys.modules["bench_fabric_corpus"] = fc  # dataclasses look their module up
_spec.loader.exec_module(fc)
FLOW_DEFINITIONS = fc._load_sibling("flow_set").FLOW_DEFINITIONS  # bench/flow_set.py

LOSS_LIMIT = 0.001
RCVBUF = 32 * 1024 * 1024  # asked of every receiver alike; the kernel clamps to rmem_max
CLK_TCK = os.sysconf("SC_CLK_TCK")
SETTLE = 2.5  # s after a step: fabricscope hands over deltas every second
RATES = (10000, 20000, 40000, 80000, 160000, 320000)  # datagrams/s: doubling keeps a run short
SYSTEMS = ("fabricscope-1", "fabricscope-2", "sfcapd", "sfacctd")
CORE_SHARING = (
    "not pinned: the sender and the receivers share both cores under the kernel's scheduler. "
    "On loopback the sender's sendmmsg also runs the receive path (softirq) up to the socket "
    "queue on the sender's core, and pinning the receiver to the other core would leave "
    "--workers 2 one core for two workers; so nothing is pinned and the sender's own CPU "
    "(utime + stime) and each receiver's are printed per step."
)
CPU_KINDS = {  # corpus, fabricscope_samples_total kind, samples/s offered
    "flow-compact": ("flow-compact", "flow", 30000),
    "flow-expanded": ("flow-expanded", "flow", 30000),
    "counter": ("counters", "counter", 10000),
    "drop": ("drops", "drop", 10000),
}


# ---------------------------------------------------------------- processes and /proc


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo and len(out) < 256:  # bounded: a serve has a handful of processes
        p = todo.pop()
        try:
            kids = [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            kids = []
        out.extend(kids)
        todo.extend(kids)
    return out


def _cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (clock ticks of /proc/PID/stat, in seconds)."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return ticks / CLK_TCK


def _rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def _udp_drops(port: int) -> int:
    """Kernel receive drops summed over the UDP sockets bound to ``port`` (/proc/net/udp{,6})."""
    total = 0
    hex_port = f":{port:04X}"
    for name in ("udp", "udp6"):
        try:
            lines = Path("/proc/net", name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) >= 13 and fields[1].endswith(hex_port):
                total += int(fields[-1])
    return total


def _rcvbufs(port: int) -> list[int]:
    """SO_RCVBUF the kernel granted each socket on ``port`` (ss's rb), if ss is installed."""
    if shutil.which("ss") is None:
        return []
    out = subprocess.run(["ss", "-uamnH", f"sport = :{port}"], capture_output=True, text=True,
                         timeout=10).stdout  # fmt: skip
    return [int(v) for v in re.findall(r"rb(\d+)", out)]


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 10.0) -> str:
    """Stop a process we started (and its children, by pid); say how it ended."""
    if process.poll() is not None:
        return f"had exited ({process.returncode})"
    kids = _descendants(process.pid)
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
        return "stopped"
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    for pid in kids:  # workers of a parent that hung: stuck where SIGTERM cannot reach them
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return f"did not stop within {timeout:g} s of {signal.Signals(sig).name}: killed"


# ---------------------------------------------------------------- sender and corpora


@dataclass
class Sent:
    """What one sender run reported."""

    datagrams: int
    kinds: dict[str, int]
    seconds: float
    rate: float
    cpu: float
    unsent: int

    @property
    def flows(self) -> int:
        """Flow samples, compact and expanded."""
        return self.kinds["flow"] + self.kinds["flow-expanded"]

    @property
    def samples(self) -> int:
        """Samples of every kind."""
        return sum(self.kinds.values())


class Sender:
    """The C sender, compiled once per run into a temporary directory."""

    def __init__(self, tmp: Path) -> None:
        gcc = shutil.which("gcc")
        if gcc is None:
            raise SystemExit("gcc is needed to build bench/sflow_send.c")
        self.binary = tmp / "sflow_send"
        subprocess.run([gcc, "-O2", "-Wall", "-o", str(self.binary), str(ROOT / "bench" /
                        "sflow_send.c")], check=True, timeout=120)  # fmt: skip

    def send(self, corpus: Path, port: int, rate: float, seconds: float, state: Path) -> Sent:
        """Offer ``rate`` datagrams/s for ``seconds``; sequences carry on from ``state``."""
        out = subprocess.run(
            [str(self.binary), "--corpus", str(corpus), "--dest", f"127.0.0.1:{port}",
             "--rate", str(rate), "--seconds", str(seconds), "--state", str(state)],
            check=True, capture_output=True, text=True, timeout=seconds + 60,
        ).stdout  # fmt: skip
        kv = dict(item.split("=") for item in out.split())
        kinds = {k: int(kv[k]) for k in ("flow", "flow-expanded", "counter", "drop")}
        return Sent(int(kv["datagrams"]), kinds, float(kv["seconds"]), float(kv["rate"]),
                    float(kv["utime"]) + float(kv["stime"]), int(kv["unsent"]))  # fmt: skip


@dataclass
class CorpusFile:
    """A corpus written for the sender, with what a peer can count of any slice of it."""

    name: str
    path: Path
    corpus: fc.Corpus
    samples_per_datagram: float
    before_drop: list[int] = field(default_factory=list)  # prefix sums, see parseable()

    def parseable(self, start: int, count: int) -> int:
        """Flow samples ahead of any 0:5 sample in their datagram, over ``count`` datagrams
        from position ``start`` (what a collector that stops reading a datagram at its first
        0:5 sample can count)."""
        n = len(self.corpus.entries)
        full, rest = divmod(count, n)
        total = full * self.before_drop[n]
        end = start + rest
        if end <= n:
            return total + self.before_drop[end] - self.before_drop[start]
        return total + self.before_drop[n] - self.before_drop[start] + self.before_drop[end - n]


def _corpus_file(corpus: fc.Corpus, tmp: Path) -> CorpusFile:
    path = tmp / f"{corpus.kind}.corpus"
    fc.write_corpus(corpus, path)
    entries = corpus.entries
    prefix = [0]
    for e in entries:
        usable = 0
        for s in e.samples:
            if s.format == 5:
                break
            usable += s.format in (1, 3)
        prefix.append(prefix[-1] + usable)
    per = sum(len(e.samples) for e in entries) / len(entries)
    return CorpusFile(corpus.kind, path, corpus, per, prefix)


def _describe(cf: CorpusFile) -> str:
    entries = cf.corpus.entries
    ports = {(e.agent, fc_source) for e in entries for fc_source in _sources(e)}
    sizes = [len(e.data) for e in entries]
    counts = cf.corpus.counts()
    counter_datagrams = sum(all(s.format in (2, 4) for s in e.samples) for e in entries)
    return (f"{cf.name}: {len(entries)} datagrams ({sum(sizes) / len(sizes):.0f} bytes, "
            f"{cf.samples_per_datagram:.2f} samples each), "
            f"{len({e.agent for e in entries})} agents, {len(ports)} (agent, ifIndex) ports, "
            f"samples {dict(sorted(counts.items()))}, "
            f"{counter_datagrams} counter datagrams")  # fmt: skip


def _sources(entry: fc.Entry) -> list[int]:
    # The data source index sits 8 bytes after the sequence (compact forms: the low 24 bits).
    out = []
    for s in entry.samples:
        word = int.from_bytes(entry.data[s.offset + 4 : s.offset + 8], "big")
        if s.format in (1, 2):
            out.append(word & 0xFFFFFF)
        else:
            out.append(int.from_bytes(entry.data[s.offset + 8 : s.offset + 12], "big"))
    return out


# ---------------------------------------------------------------- receivers


def _metrics(http_port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
        return r.read().decode()


def _metric_sum(text: str, name: str, labels: str = "") -> float:
    """Sum of every series of ``name`` (whose labels contain ``labels``)."""
    total = 0.0
    for m in re.finditer(rf"^{name}(\{{[^}}]*\}})? (\S+)$", text, re.M):
        if labels in (m.group(1) or ""):
            total += float(m.group(2))
    return total


class Receiver:
    """A system under test: started, fed, asked what it counted, stopped."""

    name = ""
    unit = "datagrams"  # what the system's own count counts
    per_step = False  # restarted for each step (its count is read after it stops)

    def __init__(self, tmp: Path, topology: Path) -> None:
        self.tmp = tmp
        self.topology = topology
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.stderr_path = tmp / f"{self.name}.stderr"
        self.notes: list[str] = []

    def pids(self) -> list[int]:
        """The system's processes."""
        if self.process is None or self.process.poll() is not None:
            return []
        return [self.process.pid, *_descendants(self.process.pid)]

    def alive(self) -> bool:
        """Still running."""
        return self.process is not None and self.process.poll() is None

    def live_count(self) -> float:
        """The system's own count so far (systems that are not restarted per step)."""
        raise NotImplementedError

    def expected(self, sent: Sent, cf: CorpusFile, start: int) -> int | None:
        """What the system should count of ``sent``; None when it keeps no count of it."""
        return sent.datagrams

    def start(self) -> None:
        """Start and wait until it receives."""
        raise NotImplementedError

    def stop(self) -> float | None:
        """Stop; the own count when it is only known after stopping."""
        if self.process is not None:
            how = _stop(self.process)
            if how != "stopped":
                self.notes.append(f"{self.name}: {how}")
            self.process = None
        return None

    def stderr_report(self) -> str:
        """Lines of the kept stderr that are not routine."""
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(f"    {line}" for line in lines[-8:])


class Fabricscope(Receiver):
    """``fabricscope serve --workers N --topology FILE``; own count fabricscope_datagrams_total."""

    def __init__(
        self,
        tmp: Path,
        topology: Path,
        workers: int,
        *,
        ring: bool = True,
        flows: int = 0,
        health: bool = False,
    ) -> None:
        self.workers = workers
        self.ring = ring  # False: --receive-ring-bytes 0 (the receive loop reads the socket)
        self.health = health  # True: --health (the fabric-health definitions and events)
        self.name = (
            f"fabricscope-{workers}" + ("" if ring else "-noring") + ("-health" if health else "")
        )
        super().__init__(tmp, topology)
        self.http_port = 0
        self.flows_file: Path | None = None
        if flows:
            self.flows_file = tmp / f"flows-{flows}.json"
            chosen = {f"bench{i}": d for i, d in enumerate(FLOW_DEFINITIONS[:flows])}
            self.flows_file.write_text(json.dumps({"version": 1, "flows": chosen}))

    def start(self) -> None:
        """Start serve on free loopback ports and wait for its sockets."""
        self.port = _free_udp_port()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.http_port = s.getsockname()[1]
        stderr = self.stderr_path.open("a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "collector", "serve", "--sflow-bind", f"127.0.0.1:{self.port}",
             "--http-bind", f"127.0.0.1:{self.http_port}", "--workers", str(self.workers),
             "--topology", str(self.topology), "--rcvbuf-bytes", str(RCVBUF),
             "--log-level", "warning", *([] if self.ring else ["--receive-ring-bytes", "0"]),
             *(["--flows-file", str(self.flows_file)] if self.flows_file else []),
             *(["--health"] if self.health else [])],
            stdout=subprocess.DEVNULL, stderr=stderr, cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        stderr.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start:\n{self.stderr_report()}")
            try:
                text = _metrics(self.http_port)
                bound = len(_rcvbufs(self.port)) >= self.workers or not shutil.which("ss")
                if bound and "fabricscope_topology_loaded 1" in text:
                    time.sleep(1.0)
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start within 60 s")

    def stderr_report(self) -> str:
        """Its log lines but the SO_RCVBUF clamp warning (the granted size is printed)."""
        text = super().stderr_report().splitlines()
        return "\n".join(line for line in text if "SO_RCVBUF: asked for" not in line)

    def live_count(self) -> float:
        """fabricscope_datagrams_total, summed over its series."""
        return _metric_sum(_metrics(self.http_port), "fabricscope_datagrams_total")

    def metric(self, name: str, labels: str = "") -> float:
        """Any metric of the running serve, summed."""
        return _metric_sum(_metrics(self.http_port), name, labels)


class Sfcapd(Receiver):
    """nfdump's sfcapd; own count = flows it stored (``nfdump -R DIR -I``) vs flow samples sent.
    It stores one flow per flow sample (0:1 and 0:3 alike) and nothing for 0:2 and 0:5."""

    name = "sfcapd"
    unit = "flows"
    per_step = True

    def start(self) -> None:
        """Start with a fresh output directory."""
        self.port = _free_udp_port()
        self.dir = Path(tempfile.mkdtemp(dir=self.tmp, prefix="sfcapd-"))
        stderr = self.stderr_path.open("a")
        self.process = subprocess.Popen(
            ["sfcapd", "-b", "127.0.0.1", "-p", str(self.port), "-w", str(self.dir),
             "-t", "3600", "-B", str(RCVBUF)],
            stdout=stderr, stderr=stderr,
        )  # fmt: skip
        stderr.close()
        _wait_bound(self.port, self.process, self.name)

    def expected(self, sent: Sent, cf: CorpusFile, start: int) -> int | None:
        """Flow samples sent (None for a corpus without any: sfcapd counts nothing of it)."""
        return sent.flows or None

    def stop(self) -> float | None:
        """Stop (its file is closed on SIGTERM) and count the stored flows."""
        super().stop()
        out = subprocess.run(["nfdump", "-R", str(self.dir), "-I"], capture_output=True,
                             text=True, timeout=120).stdout  # fmt: skip
        found = re.search(r"^Flows:\s+(\d+)", out, re.M)
        shutil.rmtree(self.dir, ignore_errors=True)
        return float(found.group(1)) if found else 0.0

    def stderr_report(self) -> str:
        """sfcapd logs a line per new exporter: keep only the rest."""
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        routine = ("Ident:", "Term", "Add ", "Startup", "Init", "Bound to", "Standard set",
                   "System set")  # fmt: skip
        odd = [ln for ln in lines if "exporter" not in ln and not ln.startswith(routine)]
        return "\n".join(f"    {line}" for line in odd[-8:])


class Sfacctd(Receiver):
    """pmacct's sfacctd with a print plugin (aggregate peer_src_ip, in_iface) written at stop
    (SIGINT); own count = the sum of its PACKETS column (one per flow sample, not renormalised)
    vs the flow samples sent. Its stderr is kept; it must be alive at the end of every step."""

    name = "sfacctd"
    unit = "flows"
    per_step = True

    def start(self) -> None:
        """Start with a fresh config and output file."""
        self.port = _free_udp_port()
        work = Path(tempfile.mkdtemp(dir=self.tmp, prefix="sfacctd-"))
        self.out = work / "out.csv"
        conf = work / "sfacctd.conf"
        conf.write_text(
            f"daemonize: false\nsfacctd_ip: 127.0.0.1\nsfacctd_port: {self.port}\n"
            f"sfacctd_pipe_size: {RCVBUF}\nplugins: print[p]\n"
            "aggregate[p]: peer_src_ip, in_iface\nprint_output[p]: csv\n"
            f"print_output_file[p]: {self.out}\nprint_refresh_time[p]: 3600\n"
            "print_cache_entries[p]: 65537\nplugin_pipe_size[p]: 102400000\n"
            "plugin_buffer_size[p]: 10240\n"
        )
        stderr = self.stderr_path.open("a")
        self.process = subprocess.Popen(["sfacctd", "-f", str(conf)], stdout=stderr, stderr=stderr)
        stderr.close()
        _wait_bound(self.port, self.process, self.name)
        time.sleep(1.0)  # the plugin starts after the core binds

    def expected(self, sent: Sent, cf: CorpusFile, start: int) -> int | None:
        """Flow samples sent (None for a corpus without any)."""
        return sent.flows or None

    def stop(self) -> float | None:
        """SIGINT makes the print plugin write its cache; sum the PACKETS column."""
        if self.process is not None:
            how = _stop(self.process, signal.SIGINT, timeout=30)
            if how != "stopped":
                self.notes.append(f"sfacctd: {how}")
            self.process = None
        total = 0.0
        try:
            lines = self.out.read_text().splitlines()
        except OSError:
            return 0.0
        if lines:
            column = lines[0].split(",").index("PACKETS")
            total = sum(float(line.split(",")[column]) for line in lines[1:] if line)
        shutil.rmtree(self.out.parent, ignore_errors=True)
        return total

    def stderr_report(self) -> str:
        """Everything but its INFO lines, and how often it discarded a sample it does not know."""
        try:
            lines = self.stderr_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        unknown = sum("discarding unknown" in ln for ln in lines)
        odd = [ln for ln in lines if not ln.startswith("INFO")]
        text = [f"    {line}" for line in odd[-8:]]
        if unknown:
            text.append(f"    ({unknown} 'discarding unknown v5 sample' INFO lines)")
        return "\n".join(text)


def _wait_bound(port: int, process: subprocess.Popen, name: str) -> None:
    deadline = time.monotonic() + 30
    hex_port = f":{port:04X}"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited at start ({process.returncode})")
        if hex_port in Path("/proc/net/udp").read_text():
            time.sleep(0.3)
            return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not bind within 30 s")


# ---------------------------------------------------------------- the ramp


@dataclass
class Ramp:
    """One ramp of one system on one corpus."""

    best: int = 0  # highest rate with loss < LOSS_LIMIT (0: none)
    best_parseable: int | None = None  # sfacctd: against the flows ahead of any 0:5 sample
    limited: bool = False  # the sender could not offer the next step
    top: bool = False  # no step lost: the ramp's top is a lower bound
    own_counted: bool = True  # False: only kernel drops scored this system on this corpus


class Bench:
    """State shared by the parts of a run: temporary directory, sender, corpora, topology."""

    def __init__(self, tmp: Path, args: argparse.Namespace) -> None:
        self.tmp = tmp
        self.args = args
        self.sender = Sender(tmp)
        self.fabric = fc.build_fabric()
        self.topology = tmp / "topology.json"
        self.topology.write_text(json.dumps(self.fabric.topology))
        self.corpora: dict[str, CorpusFile] = {}
        self.positions: dict[Path, int] = {}
        self.states = 0

    def corpus(self, kind: str) -> CorpusFile:
        """The corpus of ``kind``, built (seeded) on first use."""
        if kind not in self.corpora:
            began = time.perf_counter()
            small = 4096 if kind in ("flow-compact", "flow-expanded") else 0
            built = fc.build_corpus(kind, self.fabric, small, seed=1)
            self.corpora[kind] = _corpus_file(built, self.tmp)
            print(f"  corpus {_describe(self.corpora[kind])} "
                  f"(built in {time.perf_counter() - began:.1f} s)", flush=True)  # fmt: skip
        return self.corpora[kind]

    def new_state(self) -> Path:
        """A fresh sender state file: sequences start from the corpus's first values."""
        self.states += 1
        return self.tmp / f"sender-{self.states}.state"

    def send(
        self, cf: CorpusFile, port: int, rate: float, seconds: float, state: Path
    ) -> tuple[Sent, int]:
        """One sender run; returns it and the corpus position it started from."""
        start = self.positions.get(state, 0)
        sent = self.sender.send(cf.path, port, rate, seconds, state)
        self.positions[state] = (start + sent.datagrams + sent.unsent) % len(cf.corpus.entries)
        return sent, start

    def ramp(self, system: Receiver, cf: CorpusFile, rates: list[int], seconds: float) -> Ramp:
        """Offer rising rates until a step loses ≥ 0.1 % (see the module docstring)."""
        result = Ramp()
        state = self.new_state()
        strict_failed = False
        parseable_failed = system.name != "sfacctd" or cf.name != "mixed"
        if not system.per_step:
            system.start()
            self._report_rcvbuf(system)
        try:
            for step, rate in enumerate(rates):
                if system.per_step:
                    system.start()
                    if step == 0:
                        self._report_rcvbuf(system)
                drops0 = _udp_drops(system.port)
                own0 = 0.0 if system.per_step else system.live_count()
                cpu0 = _cpu_seconds(system.pids())
                sent, start = self.send(cf, system.port, rate, seconds, state)
                time.sleep(SETTLE)
                alive = system.alive()
                cpu = _cpu_seconds(system.pids()) - cpu0
                drops = _udp_drops(system.port) - drops0
                own = system.stop() if system.per_step else system.live_count() - own0
                expected = system.expected(sent, cf, start)
                kernel_loss = drops / sent.datagrams if sent.datagrams else 0.0
                own_loss = 1 - own / expected if expected and own is not None else None
                loss = max(kernel_loss, own_loss if own_loss is not None else 0.0)
                if expected is None:
                    result.own_counted = False
                extra = ""
                if not parseable_failed:
                    usable = cf.parseable(start, sent.datagrams)
                    p_loss = max(kernel_loss, 1 - (own or 0) / usable) if usable else 0.0
                    extra = f", vs flows ahead of any 0:5: {p_loss:6.2%}"
                    if p_loss < LOSS_LIMIT and alive:
                        result.best_parseable = rate
                    else:
                        parseable_failed = True
                if not alive:
                    loss = 1.0
                    extra += f"  ** {system.name} died during the step"
                own_text = (f"{own:.0f} {system.unit} of {expected}" if expected
                            else "own count: none for this corpus")  # fmt: skip
                print(f"    {system.name:<14} {cf.name:<8} offered {rate:>7}/s sent "
                      f"{sent.rate:>8.0f}/s ({sent.datagrams} dg, {sent.samples} samples) "
                      f"kernel drops {drops}, {own_text}: loss {loss:6.2%}{extra} | cpu sender "
                      f"{sent.cpu / sent.seconds:4.0%} receiver {cpu / sent.seconds:4.0%}",
                      flush=True)  # fmt: skip
                if sent.rate < 0.97 * rate:
                    result.limited = True
                    print(f"    {system.name}: sender limited at {sent.rate:.0f}/s", flush=True)
                if loss < LOSS_LIMIT and not strict_failed:
                    result.best = rate
                else:
                    strict_failed = True
                if (strict_failed and parseable_failed) or result.limited or not alive:
                    break
        finally:
            if system.alive():
                system.stop()
        result.top = result.best == rates[-1]
        report = system.stderr_report()
        if report:
            print(f"    {system.name} stderr (kept in its file):\n{report}", flush=True)
        system.stderr_path.unlink(missing_ok=True)
        for note in system.notes:
            print(f"    note: {note}", flush=True)
        system.notes.clear()
        return result

    @staticmethod
    def _report_rcvbuf(system: Receiver) -> None:
        granted = _rcvbufs(system.port)
        if granted:
            print(f"    {system.name}: SO_RCVBUF granted {', '.join(str(g) for g in granted)} "
                  f"bytes ({len(granted)} socket(s))", flush=True)  # fmt: skip


def _system(name: str, tmp: Path, topology: Path, flows: int = 0) -> Receiver | None:
    if name.startswith("fabricscope-"):  # fabricscope-N[-noring][-health]
        workers, *variants = name.removeprefix("fabricscope-").split("-")
        return Fabricscope(
            tmp,
            topology,
            int(workers),
            ring="noring" not in variants,
            flows=flows,
            health="health" in variants,
        )
    binary = {"sfcapd": "sfcapd", "sfacctd": "sfacctd"}[name]
    if shutil.which(binary) is None:
        package = {"sfcapd": "nfdump-sflow", "sfacctd": "pmacct"}[name]
        print(f"  {name} not installed (apt-get install {package}): skipped")
        return None
    return Sfcapd(tmp, topology) if name == "sfcapd" else Sfacctd(tmp, topology)


def ramp_part(bench: Bench) -> dict[tuple[str, str], int]:
    """Ramp every system on every corpus, interleaved per repeat; print the table."""
    args = bench.args
    rates = [int(r) for r in args.rates.split(",")]
    print(f"\nramp: {args.seconds:g} s per step, loss limit {LOSS_LIMIT:.1%}, rates {rates}\n"
          f"flow definitions active: {args.flow_definitions}\n"
          f"core sharing: {CORE_SHARING}", flush=True)  # fmt: skip
    medians: dict[tuple[str, str], int] = {}
    for kind in args.corpora.split(","):
        cf = bench.corpus(kind)
        repeat = args.repeat if kind == "mixed" else args.other_repeat
        runs: dict[str, list[Ramp]] = {}
        for r in range(repeat):  # interleaved, so slow drifts of the machine hit all alike
            for name in args.systems.split(","):
                system = _system(name, bench.tmp, bench.topology, args.flow_definitions)
                if system is None:
                    continue
                print(f"  {kind} repeat {r + 1}/{repeat}: {name}", flush=True)
                runs.setdefault(name, []).append(bench.ramp(system, cf, rates, args.seconds))
        print(f"\n{kind}: highest rate with < 0.1 % loss, median of {repeat} "
              f"({cf.samples_per_datagram:.2f} samples per datagram)", flush=True)  # fmt: skip
        print(f"  {'system':<16} {'datagrams/s':>12} {'samples/s':>12} {'vs sfcapd':>10}  runs")
        reference = None
        if "sfcapd" in runs:
            reference = statistics.median(r.best for r in runs["sfcapd"])
        for name, ramps in runs.items():
            best = int(statistics.median(r.best for r in ramps))
            medians[(kind, name)] = best
            ratio = f"{best / reference:.2f}x" if reference and name.startswith("fab") else ""
            notes = []
            if any(r.top for r in ramps):
                notes.append("top of the ramp: a lower bound")
            if any(r.limited for r in ramps):
                notes.append("sender limited")
            if not all(r.own_counted for r in ramps):
                notes.append("kernel drops only (keeps no count of this corpus)")
            print(f"  {name:<16} {best:>12} {best * cf.samples_per_datagram:>12.0f} {ratio:>10}  "
                  f"{[r.best for r in ramps]} {'; '.join(notes)}")  # fmt: skip
            parse = [r.best_parseable for r in ramps if r.best_parseable is not None]
            if name == "sfacctd" and kind == "mixed":
                print(f"  {'':<16} sfacctd against the flow samples ahead of any 0:5 in their "
                      f"datagram: {int(statistics.median(parse)) if parse else 0} datagrams/s "
                      f"{parse}")  # fmt: skip
    return medians


# ---------------------------------------------------------------- render time and UI JSON


def render_time(
    switches: int = 1000, ports: int = 64, per_port: bool = False, reference: bool = False
) -> float:
    """Median seconds to render /metrics for a switches x ports fabric with every port known
    (snapshot included, as on a scrape); with ``reference``, client_python's rendering too."""
    leaves = switches
    links = {}
    nodes = {}
    for s in range(leaves):
        nodes[f"sw{s}"] = {
            "agent": f"10.{s // 256}.{s % 256}.1",
            "ports": {f"p{p}": {"ifindex": str(p + 1)} for p in range(ports)},
        }
        # Ports 0..15 link to ports 16..31 of the next switch: half core, half edge ports.
        for p in range(ports // 4):
            links[f"L{s}-{p}"] = {
                "node1": f"sw{s}",
                "port1": f"p{p}",
                "node2": f"sw{(s + 1) % leaves}",
                "port2": f"p{ports // 4 + p}",
            }
    index = TopologyIndex(parse_topology({"links": links, "nodes": nodes}))
    aggregator = Aggregator(AggregatorSettings(per_port=per_port))
    aggregator.set_topology(index)
    delta = Delta()
    for s in range(switches):
        agent = f"10.{s // 256}.{s % 256}.1"
        delta.agents[(agent, 0)] = AgentStatus(f"sw{s}", 1.0, 1000, 4096, 4096.0)
        for p in range(ports):
            info = index.explicit(agent, p + 1)
            assert info is not None
            delta.ports[(agent, p + 1)] = PortStatus(
                info.node, info.port, info.role, True, True, 400 * 10**9, 0.3, 0.2, 1.0
            )
            if per_port:
                for direction in ("in", "out"):
                    labels = (info.node, info.port, info.role, direction)
                    delta.add_counter("port_bytes", labels, 1e9)
                    delta.add_counter("port_errors", labels, 1)
                    delta.add_counter("port_discards", labels, 1)
                delta.add_counter("port_ingress_bytes", (info.node, info.port, info.role), 1e9)
        delta.add_counter("agent_datagrams", (agent, "0"), 100)
        delta.add_counter("agent_lost_datagrams", (agent, "0"), 1)
    start = time.perf_counter()
    aggregator.merge(delta)
    merged = time.perf_counter()
    aggregator.snapshot()  # the first read states every link
    print(f"  first merge of {len(delta.ports)} port statuses {(merged - start) * 1000:.0f} ms, "
          f"first snapshot {(time.perf_counter() - merged) * 1000:.0f} ms", flush=True)  # fmt: skip
    aggregator.tick(1.0)
    aggregator.tick(2.0)
    churn = _Churn(aggregator, index, switches, ports)
    if not per_port:
        json_times(aggregator, churn, f"{switches} switches x {ports} ports")
    registry = build_registry(aggregator.snapshot, per_port=per_port)
    renderers = [("fabricscope", render)]
    if reference:
        renderers.append(("client_python generate_latest", render_reference))
    median = 0.0
    for name, renderer in renderers:
        for churned in (False, True):
            times, size = churn.time_five(lambda r=renderer: r(registry), churned)
            if name == "fabricscope" and not churned:
                median = statistics.median(times)
            print(f"  /metrics render {switches} switches x {ports} ports, per-port={per_port}, "
                  f"{name}{churn.label(churned)}: {statistics.median(times) * 1000:.1f} ms median "
                  f"of 5 (min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}; "
                  f"{size / 1e6:.2f} MB)", flush=True)  # fmt: skip
    churn.report()
    return median


class _Churn:
    """Counter samples arriving between two reads: each step re-reports the next 1/15 of the
    ports (a 30 s counter interval read every 2 s) with new utilisations, port p0 of each of
    those switches (a link end) flipping its oper status, merged as one delta (merge time
    recorded)."""

    SHARE = 15

    def __init__(self, aggregator: Aggregator, index: TopologyIndex, switches: int, ports: int):
        self.aggregator = aggregator
        self.keys = []
        for s in range(switches):
            agent = f"10.{s // 256}.{s % 256}.1"
            self.keys.extend((agent, p + 1) for p in range(ports))
        self.index = index
        self.steps = 0
        self.merge_times: list[float] = []

    def step(self) -> None:
        """Merge the next slice of re-reported ports."""
        self.steps += 1
        delta = Delta()
        now = 2.0 + self.steps * 2.0
        current = self.aggregator.ports
        for key in self.keys[self.steps % self.SHARE :: self.SHARE]:
            old = current[key]
            flip = key[1] == 1
            delta.ports[key] = PortStatus(
                old.node, old.port, old.role, old.admin_up, old.oper_up != flip, old.speed_bps,
                (self.steps % 10) / 10, 0.2, now,
            )  # fmt: skip
        start = time.perf_counter()
        self.aggregator.merge(delta)
        self.merge_times.append(time.perf_counter() - start)

    def time_five(self, build: Callable[[], bytes], churned: bool) -> tuple[list[float], int]:
        """Seconds of five builds (each after a step when ``churned``) and the output size."""
        times = []
        size = 0
        for _ in range(5):
            if churned:
                self.step()
            start = time.perf_counter()
            size = len(build())
            times.append(time.perf_counter() - start)
        return times, size

    @staticmethod
    def label(churned: bool) -> str:
        """How the state changed between the timed builds."""
        return f", 1/{_Churn.SHARE} of the ports re-reported before each" if churned else ""

    def report(self) -> None:
        """The merge time of the re-reported slices."""
        if self.merge_times:
            print(f"  merge of 1/{self.SHARE} of the ports ({len(self.keys) // self.SHARE} "
                  f"statuses): {statistics.median(self.merge_times) * 1000:.1f} ms median of "
                  f"{len(self.merge_times)}", flush=True)  # fmt: skip
            self.merge_times.clear()


def json_times(aggregator: Aggregator, churn: _Churn, what: str) -> None:
    """Median time to build (and encode) each JSON document the web UI polls: on a state left
    unchanged between builds, then with counter samples merged before each build."""
    documents = {
        "/topology/status/json": lambda: json_bytes(status_document(aggregator, 2.0)),
        "/links/json": lambda: links_json(aggregator, 2.0),  # the route's bytes
        "/agents/json": lambda: json_bytes(agents_document(aggregator, 2.0)),
        "/ports/json": lambda: json_bytes(ports_document(aggregator, 2.0)),
    }
    for path, build in documents.items():
        for churned in (False, True):
            times, size = churn.time_five(build, churned)
            print(f"  {path} {what}{churn.label(churned)}: "
                  f"{statistics.median(times) * 1000:.1f} ms median of 5 "
                  f"(max {max(times) * 1000:.1f}; {size / 1e6:.2f} MB)", flush=True)  # fmt: skip
    churn.report()


# ---------------------------------------------------------------- CPU per sample


def cpu_part(bench: Bench) -> None:
    """µs of CPU (utime + stime, all of serve's processes) per sample, one kind at a time."""
    args = bench.args
    print(f"\nCPU per sample by kind: {args.cpu_seconds:g} s per kind at a fixed rate, serve with "
          "the topology; idle = the same serve's CPU over 3 s before the send, subtracted pro "
          "rata", flush=True)  # fmt: skip
    for workers in (int(w) for w in args.workers_list.split(",")):
        rows = []
        for label, (kind, metric_kind, per_second) in CPU_KINDS.items():
            cf = bench.corpus(kind)
            serve = Fabricscope(
                bench.tmp, bench.topology, workers, flows=bench.args.flow_definitions
            )
            serve.start()
            try:
                time.sleep(1.0)
                idle0, t0 = _cpu_seconds(serve.pids()), time.monotonic()
                time.sleep(3.0)
                idle = (_cpu_seconds(serve.pids()) - idle0) / (time.monotonic() - t0)
                samples0 = serve.metric("fabricscope_samples_total", f'kind="{metric_kind}"')
                datagrams0 = serve.live_count()
                drops0 = _udp_drops(serve.port)
                cpu0, t0 = _cpu_seconds(serve.pids()), time.monotonic()
                rate = per_second / cf.samples_per_datagram
                sent, _ = bench.send(cf, serve.port, rate, args.cpu_seconds, bench.new_state())
                time.sleep(SETTLE)
                cpu = _cpu_seconds(serve.pids()) - cpu0
                wall = time.monotonic() - t0
                samples = (
                    serve.metric("fabricscope_samples_total", f'kind="{metric_kind}"') - samples0
                )
                datagrams = serve.live_count() - datagrams0
                drops = _udp_drops(serve.port) - drops0
                lost = serve.metric("fabricscope_lost_samples_total")
            finally:
                serve.stop()
            loss = max(drops / sent.datagrams, 1 - datagrams / sent.datagrams)
            raw = cpu / samples * 1e6 if samples else float("nan")
            net = (cpu - idle * wall) / samples * 1e6 if samples else float("nan")
            rows.append((label, raw, net))
            print(f"  workers={workers} {label:<14} {per_second:>6} samples/s for "
                  f"{sent.seconds:.1f} s: {samples:.0f} counted of {sent.samples} sent (loss "
                  f"{loss:.2%}, lost by sequence {lost:.0f}), CPU {cpu:.2f} s (idle "
                  f"{idle:.1%} of a core): {raw:.2f} µs/sample, {net:.2f} µs net of idle",
                  flush=True)  # fmt: skip
            report = serve.stderr_report()
            if report:
                print(f"    serve stderr:\n{report}")
            serve.stderr_path.unlink(missing_ok=True)
        print(f"  workers={workers}: " + ", ".join(f"{k} {n:.2f} µs" for k, _, n in rows)
              + " per sample (net of idle)", flush=True)  # fmt: skip


# ---------------------------------------------------------------- RSS over time


def rss_part(bench: Bench, rate: int) -> None:
    """Offer ``rate`` datagrams/s of the simulator's 1,000-switch fabric for --rss-minutes and
    print serve's RSS (all processes) every 30 s."""
    args = bench.args
    sim_dir = bench.tmp / "sim"
    sim_dir.mkdir(exist_ok=True)
    pcap, topo = sim_dir / "big.pcap", sim_dir / "topology.json"
    print(f"\nRSS: simulating the 1,000-switch fabric ({args.rss_sim_seconds:g} virtual s) ...",
          flush=True)  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "collector", "simulate", "--leaves", "984", "--spines", "16",
         "--hosts-per-leaf", "48", "--uplinks-per-leaf", "16", "--duration",
         str(args.rss_sim_seconds), "--pcap", str(pcap), "--topology-out", str(topo), "--quiet"],
        check=True, cwd=ROOT, timeout=1800, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    from simulator.output import read_pcap

    corpus = fc.corpus_from_datagrams([data for _, data in read_pcap(str(pcap))], "simulator")
    pcap.unlink()
    cf = _corpus_file(corpus, bench.tmp)
    print(f"  corpus {_describe(cf)}", flush=True)
    serve = Fabricscope(bench.tmp, topo, args.workers)
    serve.start()
    state = bench.new_state()
    try:
        start_rss = _rss_kib(serve.pids())
        drops0 = _udp_drops(serve.port)
        counted0 = serve.live_count()
        print(f"  workers={args.workers} rate {rate}/s: rss {start_rss / 1024:.1f} MiB at start",
              flush=True)  # fmt: skip
        began = time.monotonic()
        end = began + args.rss_minutes * 60
        sent_total = 0
        while time.monotonic() < end:
            chunk = min(30.0, max(1.0, end - time.monotonic()))
            sent, _ = bench.send(cf, serve.port, rate, chunk, state)
            sent_total += sent.datagrams
            print(f"  t={time.monotonic() - began:5.0f} s rss {_rss_kib(serve.pids()) / 1024:.1f} "
                  f"MiB after {sent_total} datagrams (sent {sent.rate:.0f}/s, kernel drops "
                  f"{_udp_drops(serve.port) - drops0})", flush=True)  # fmt: skip
        time.sleep(SETTLE)
        counted = serve.live_count() - counted0
        print(json.dumps({
            "workers": args.workers, "rate": rate, "minutes": args.rss_minutes,
            "sent": sent_total, "counted": counted,
            "kernel_drops": _udp_drops(serve.port) - drops0,
            "loss": round(1 - counted / sent_total, 6) if sent_total else 0.0,
            "rss_start_mib": round(start_rss / 1024, 1),
            "rss_end_mib": round(_rss_kib(serve.pids()) / 1024, 1),
        }), flush=True)  # fmt: skip
    finally:
        serve.stop()


# ---------------------------------------------------------------- command line


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="ramp,cpu,render", help="ramp, cpu, render (comma list)")
    parser.add_argument("--corpora", default="mixed,drops,counters")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each step")
    parser.add_argument("--rates", default=",".join(map(str, RATES)), help="datagrams/s steps")
    parser.add_argument("--repeat", type=int, default=3, help="ramps per system, mixed corpus")
    parser.add_argument("--other-repeat", type=int, default=1, help="ramps on the other corpora")
    parser.add_argument("--cpu-seconds", type=float, default=10.0)
    parser.add_argument("--workers-list", default="1,2", help="serve --workers for the CPU part")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 repeat, short steps")
    parser.add_argument("--render-reference", action="store_true",
                        help="time client_python's rendering as well")  # fmt: skip
    parser.add_argument("--rss-minutes", type=float, default=0.0)
    parser.add_argument("--rss-rate", type=int, default=0, help="default: half the no-loss rate")
    parser.add_argument("--rss-sim-seconds", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=1, help="serve --workers for the RSS run")
    parser.add_argument("--flow-definitions", type=int, default=0, choices=(0, 5, 20),
                        help="flow definitions active in every serve (default 0)")  # fmt: skip
    args = parser.parse_args()
    if args.quick:
        args.repeat = args.other_repeat = 1
        args.seconds = min(args.seconds, 2.0)
        args.cpu_seconds = min(args.cpu_seconds, 3.0)
        if args.rates == ",".join(map(str, RATES)):
            args.rates = "10000,40000,100000,200000"
    parts = set(args.parts.split(","))
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fabricscope-bench-") as tmp:
        bench = Bench(Path(tmp), args)
        print(f"fabric: {len(bench.fabric.agents)} agents, {bench.fabric.port_count} ports in "
              "the topology; sender: bench/sflow_send.c (sendmmsg, one loopback source address "
              "per agent)", flush=True)  # fmt: skip
        results: dict[tuple[str, str], int] = {}
        if "ramp" in parts:
            results = ramp_part(bench)
        if "cpu" in parts:
            cpu_part(bench)
        if "render" in parts:
            print("\nrender time:")
            render_time(per_port=False, reference=args.render_reference)
            render_time(per_port=True, reference=args.render_reference)
        if args.rss_minutes > 0:
            best = results.get(("mixed", f"fabricscope-{args.workers}"), 0)
            rss_part(bench, args.rss_rate or max(1000, (best or 20000) // 2))
    print(f"\ntotal {time.monotonic() - began:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

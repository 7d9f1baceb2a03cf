"""Collector benchmark: highest offered sFlow rate with < 0.1 % loss, against pmacct's sfacctd.

Ramps the offered rate over UDP on loopback (datagrams of ~1,300 bytes carrying 6 RoCEv2 flow
samples, 16 agents on distinct source ports so SO_REUSEPORT can spread them) and prints, for
``fabricscope serve --workers 1``, ``--workers 2`` and Debian's ``sfacctd`` run side by side, the
highest rate at which the kernel dropped < 0.1 % (drops read from /proc/net/udp for the
receiving sockets; fabricscope's own datagram counter is checked too). Then the ``/metrics``
render time and the web UI's JSON documents for a 1,000-switch x 64-port topology (on an
unchanged state, then with 1/15 of the port statuses merged before each read), and optionally
RSS after a long run.

    python bench/collector.py                 # ramps (median of 3 each) + render time
    python bench/collector.py --repeat 1 --rates 100000,200000
    python bench/collector.py --rss-minutes 10
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
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
from tests.fabric_builders import ack, datagram, flow, roce_header, wire, write_first  # noqa: E402
from topology import TopologyIndex, parse_topology  # noqa: E402

AGENTS = 16
SAMPLES_PER_DATAGRAM = 6
LOSS_LIMIT = 0.001
SEQ_OFFSET = 16  # IPv4 agent: version, type, address, sub-agent, then the sequence number


def _payloads() -> list[bytearray]:
    out = []
    for n in range(AGENTS):
        records = (write_first(), roce_header(), roce_header(), roce_header(), ack(), roce_header())
        samples = tuple(
            flow(i + 1, 10 + i, (records[i],), rate=4096) for i in range(SAMPLES_PER_DATAGRAM)
        )
        out.append(bytearray(wire(datagram(f"10.9.0.{n + 1}", 1, samples))))
    return out


def _udp_drops(port: int) -> int:
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


def _offer(
    port: int, rate: int, seconds: float, payloads: list[bytearray], seq: list[int]
) -> tuple[int, float]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in payloads]
    for s in socks:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
    target = ("127.0.0.1", port)
    sent = 0
    start = time.perf_counter()
    deadline = start + seconds
    pack = struct.pack_into
    n = len(payloads)
    while True:
        now = time.perf_counter()
        if now >= deadline:
            break
        due = int((now - start) * rate)
        while sent < due:
            i = sent % n
            seq[i] += 1
            pack(">I", payloads[i], SEQ_OFFSET, seq[i] & 0xFFFFFFFF)
            socks[i].sendto(payloads[i], target)
            sent += 1
        time.sleep(0.0005)
    elapsed = time.perf_counter() - start
    for s in socks:
        s.close()
    return sent, sent / elapsed


def _ramp(name: str, port: int, rates: list[int], seconds: float) -> tuple[int, list[str]]:
    payloads = _payloads()
    seq = [0] * len(payloads)
    best = 0
    rows = []
    for rate in rates:
        before = _udp_drops(port)
        sent, achieved = _offer(port, rate, seconds, payloads, seq)
        time.sleep(1.0)
        dropped = _udp_drops(port) - before
        loss = dropped / sent if sent else 0.0
        rows.append(
            f"  {name:<22} offered {rate:>7}/s achieved {achieved:>9.0f}/s loss {loss:7.3%}"
        )
        print(rows[-1], flush=True)
        if achieved < 0.95 * rate:
            rows.append(f"  {name:<22} sender limited at {achieved:.0f}/s")
            print(rows[-1], flush=True)
            break
        if loss >= LOSS_LIMIT:
            break
        best = rate
    return best, rows


def _start_fabricscope(workers: int) -> tuple[subprocess.Popen[str], int, int]:
    process = subprocess.Popen(
        [sys.executable, "-m", "collector", "serve", "--sflow-bind", "127.0.0.1:0",
         "--http-bind", "127.0.0.1:0", "--workers", str(workers), "--log-level", "warning"],
        stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    # The listening line is logged at info; read ports back from /proc instead.
    process_ports = _wait_ports(process.pid)
    return process, process_ports[0], process_ports[1]


def _wait_ports(pid: int) -> tuple[int, int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        inodes = set()
        for owner in (pid, *_children(pid)):  # worker processes own the UDP sockets
            try:
                for fd in os.listdir(f"/proc/{owner}/fd"):
                    link = os.readlink(f"/proc/{owner}/fd/{fd}")
                    if link.startswith("socket:["):
                        inodes.add(link[8:-1])
            except OSError:
                pass
        udp = _ports_for(inodes, "udp")
        tcp = _ports_for(inodes, "tcp")
        if udp and tcp:
            return udp[0], tcp[0]
        time.sleep(0.2)
    raise RuntimeError("fabricscope did not start")


def _ports_for(inodes: set[str], proto: str) -> list[int]:
    ports = []
    for line in Path("/proc/net", proto).read_text().splitlines()[1:]:
        fields = line.split()
        if fields[9] in inodes and (proto == "udp" or fields[3] == "0A"):
            ports.append(int(fields[1].split(":")[1], 16))
    return ports


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _datagrams_total(http_port: int) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    found = re.search(r"^fabricscope_datagrams_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


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


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def bench_fabricscope(workers: int, rates: list[int], seconds: float) -> int:
    """Ramp one fabricscope configuration."""
    process, sflow_port, http_port = _start_fabricscope(workers)
    try:
        time.sleep(2.0 if workers > 1 else 0.5)
        best, _ = _ramp(f"fabricscope workers={workers}", sflow_port, rates, seconds)
        print(f"  (fabricscope counted {_datagrams_total(http_port):.0f} datagrams)")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    return best


def bench_sfacctd(rates: list[int], seconds: float) -> int | None:
    """Ramp Debian's sfacctd (print plugin, aggregate by addresses)."""
    if shutil.which("sfacctd") is None:
        print("  sfacctd not installed (apt-get install pmacct): skipped")
        return None
    port = _free_udp_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp, "sfacctd.conf")
        conf.write_text(
            f"daemonize: false\nsfacctd_ip: 127.0.0.1\nsfacctd_port: {port}\n"
            f"sfacctd_pipe_size: {32 * 1024 * 1024}\nplugins: print[p]\n"
            "aggregate[p]: src_host, dst_host, in_iface\n"
            f"print_output_file[p]: {tmp}/out.txt\nprint_refresh_time[p]: 600\n"
            "plugin_pipe_size[p]: 102400000\nplugin_buffer_size[p]: 102400\n"
        )
        process = subprocess.Popen(
            ["sfacctd", "-f", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(1.5)
            best, _ = _ramp("pmacct sfacctd", port, rates, seconds)
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
    return best


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


def rss_run(minutes: float, rate: int, workers: int) -> None:
    """Offer ``rate`` datagrams/s for ``minutes`` and print the RSS of serve (all processes)."""
    process, sflow_port, http_port = _start_fabricscope(workers)
    try:
        time.sleep(2.0)
        payloads = _payloads()
        seq = [0] * len(payloads)
        pids = [process.pid, *_children(process.pid)]
        start_rss = _rss_kib(pids)
        drops_before = _udp_drops(sflow_port)
        print(f"  rss {start_rss / 1024:.1f} MiB at start", flush=True)
        began = time.monotonic()
        end = began + minutes * 60
        sent_total = 0
        while time.monotonic() < end:
            sent, achieved = _offer(sflow_port, rate, 30.0, payloads, seq)
            sent_total += sent
            print(f"  t={time.monotonic() - began:5.0f} s rss {_rss_kib(pids) / 1024:.1f} MiB "
                  f"after {sent_total} datagrams (achieved {achieved:.0f}/s, kernel drops "
                  f"{_udp_drops(sflow_port) - drops_before})", flush=True)  # fmt: skip
        time.sleep(2)
        dropped = _udp_drops(sflow_port) - drops_before
        counted = _datagrams_total(http_port)
        print(json.dumps({
            "workers": workers, "rate": rate, "minutes": minutes, "sent": sent_total,
            "achieved_per_s": round(sent_total / (time.monotonic() - began - 2)),
            "counted": counted, "kernel_drops": dropped,
            "loss": round(1 - counted / sent_total, 6) if sent_total else 0.0,
            "rss_start_mib": round(start_rss / 1024, 1),
            "rss_end_mib": round(_rss_kib(pids) / 1024, 1),
        }))  # fmt: skip
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def main() -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each step")
    parser.add_argument(
        "--rates",
        default=",".join(str(r) for r in (5000, 10000, *range(20000, 300001, 20000))),
    )
    parser.add_argument("--repeat", type=int, default=3, help="ramps per receiver (median)")
    parser.add_argument("--skip-ramp", action="store_true")
    parser.add_argument("--skip-render", action="store_true")
    parser.add_argument(
        "--render-reference", action="store_true", help="time client_python's rendering as well"
    )
    parser.add_argument("--rss-minutes", type=float, default=0.0)
    parser.add_argument("--rss-rate", type=int, default=0, help="default: half the no-loss rate")
    parser.add_argument("--workers", type=int, default=1, help="serve --workers for the RSS run")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    results: dict[str, int | None] = {}
    if not args.skip_ramp:
        print(f"ramp: {SAMPLES_PER_DATAGRAM} samples/datagram, {len(_payloads()[0])} bytes, "
              f"{args.seconds:g} s per step, loss limit {LOSS_LIMIT:.1%}")  # fmt: skip
        runs: dict[str, list[int]] = {"fabricscope workers=1": [], "fabricscope workers=2": []}
        sfacctd: list[int] = []
        for _ in range(args.repeat):  # interleaved, so slow drifts of the machine hit all alike
            runs["fabricscope workers=1"].append(bench_fabricscope(1, rates, args.seconds))
            runs["fabricscope workers=2"].append(bench_fabricscope(2, rates, args.seconds))
            best = bench_sfacctd(rates, args.seconds)
            if best is not None:
                sfacctd.append(best)
        if sfacctd:
            runs["sfacctd"] = sfacctd
        for name, bests in runs.items():
            results[name] = int(statistics.median(bests))
        print(f"\nhighest rate with < 0.1 % loss, median of {args.repeat} "
              f"(datagrams/s; samples/s = x{SAMPLES_PER_DATAGRAM}):")  # fmt: skip
        reference = results.get("sfacctd")
        for name, best in results.items():
            ratio = f"  {best / reference:.2f} x sfacctd" if best and reference else ""
            top = " (top of the ramp: a lower bound)" if best == rates[-1] else ""
            print(f"  {name:<22} {best}{ratio}  (runs: {runs[name]}){top}")
    if not args.skip_render:
        print("\nrender time:")
        render_time(per_port=False, reference=args.render_reference)
        render_time(per_port=True, reference=args.render_reference)
    if args.rss_minutes > 0:
        rate = args.rss_rate or max(1000, (results.get("fabricscope workers=1") or 20000) // 2)
        rss_run(args.rss_minutes, rate, args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())

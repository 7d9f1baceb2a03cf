"""Simulator benchmarks: samples/s writing pcap, paced UDP send rate, memory at 1,000 switches.

    python bench/simulate.py              # pcap generation, median of 5 runs
    python bench/simulate.py udp          # paced UDP to a loopback receiver: target vs achieved
    python bench/simulate.py memory       # peak RSS of a 1,000-switch fabric (takes minutes)
    python bench/simulate.py all

Each measurement runs in a fresh child process, so one does not warm or bloat the next; the
parent prints the figures. Loopback only; every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.config import SimConfig  # noqa: E402
from simulator.fabric import FabricSpec  # noqa: E402
from simulator.output import NullSink, PcapSink, UdpSink  # noqa: E402
from simulator.run import Simulation  # noqa: E402

# The pcap benchmark fabric: the default demo fabric (4 leaves, 2 spines, 32 × 400G NICs) sampled
# 1-in-2000 so that sample generation, not the per-epoch model, dominates.
PCAP_CONFIG = {"sampling_rate": 2000, "seed": 1}
PCAP_SECONDS = 4.0

# 1,000 switches: 984 leaves of 64 ports (48 × 400G hosts + 16 uplinks) and 16 spines of 984
# ports (a 2-tier Clos needs spines with a port per leaf), default 1-in-400,000 sampling.
BIG_FABRIC = {"leaves": 984, "spines": 16, "hosts_per_leaf": 48, "uplinks_per_leaf": 16}


def _child(kind: str, arg: str) -> dict[str, float]:
    if kind == "pcap":
        with tempfile.TemporaryDirectory() as tmp:
            sink = PcapSink(os.path.join(tmp, "bench.pcap"))
            sim = Simulation(SimConfig(**PCAP_CONFIG), sink, keep_truth=False)  # type: ignore[arg-type]
            t0 = time.perf_counter()
            sim.run_until(PCAP_SECONDS)
            sim.finish()
            wall = time.perf_counter() - t0
            e = sim.truth.totals["emitted"]
            samples = e["flow_samples"] + e["counter_samples"] + e["drop_samples"]
            return {
                "samples": samples,
                "datagrams": e["datagrams"],
                "wall": wall,
                "samples_per_s": samples / wall,
                "bytes": sink.stats.bytes,
            }
    if kind == "udp":
        target = float(arg)
        return _udp(target)
    if kind == "memory":
        seconds = float(arg)
        config = SimConfig(fabric=FabricSpec(**BIG_FABRIC))  # type: ignore[arg-type]
        t0 = time.perf_counter()
        null = NullSink()
        sim = Simulation(config, null, keep_truth=False)
        build = time.perf_counter() - t0
        rss_build = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sim.run_until(seconds)
        wall = time.perf_counter() - t0
        e = sim.truth.totals.get("emitted", {})
        return {
            "switches": sim.fabric.n_switches,
            "ports": sim.fabric.n_ports,
            "nics": sim.fabric.n_nics,
            "subflows": sim.model.n_subs,
            "virtual_seconds": seconds,
            "build_s": build,
            "wall_s": wall,
            "peak_rss_mib_after_build": rss_build,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "flow_samples": e.get("flow_samples", 0),
            "datagrams": null.stats.datagrams,
        }
    raise SystemExit(f"unknown child kind {kind}")


_RECEIVER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
s.bind(("127.0.0.1", 0))
s.settimeout(1.0)
print(s.getsockname()[1], flush=True)
buf = bytearray(65535)
n = 0
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        s.recv_into(buf)
        n += 1
    except TimeoutError:
        if n:
            break
print(n, flush=True)
"""


def _udp(target: float) -> dict[str, float]:
    """Send paced datagrams to a loopback receiver process; report the achieved rates."""
    rx = subprocess.Popen([sys.executable, "-c", _RECEIVER], stdout=subprocess.PIPE, text=True)
    assert rx.stdout is not None
    port = int(rx.stdout.readline())
    sink = UdpSink("127.0.0.1", port, rate_scale=0.0, max_rate=target)
    sim = Simulation(SimConfig(sampling_rate=2000, seed=2), sink, keep_truth=False)
    sim.run_until(3.0)
    sim.finish()
    received = int(rx.stdout.readline() or 0)
    rx.wait(timeout=10)
    return {
        "target": target,
        "sent": sink.stats.datagrams,
        "achieved": sink.stats.rate,
        "received": received,
        "send_errors": sink.stats.errors,
    }


def _run_child(kind: str, arg: str = "", timeout: float = 1800) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", kind, arg],
        capture_output=True,
        text=True,
        check=True,
        timeout=timeout,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def bench_pcap(runs: int) -> None:
    results = [_run_child("pcap") for _ in range(runs)]
    rates = sorted(r["samples_per_s"] for r in results)
    r0 = results[0]
    print(
        f"pcap: {r0['samples']:,.0f} samples in {r0['datagrams']:,.0f} datagrams per run "
        f"({PCAP_SECONDS:g} virtual s, default fabric, 1-in-{PCAP_CONFIG['sampling_rate']})"
    )
    print("  samples/s per run: " + ", ".join(f"{x:,.0f}" for x in rates))
    print(f"  median: {statistics.median(rates):,.0f} samples/s (one core, writing pcap)")


def bench_udp(targets: list[float]) -> None:
    print("udp (paced to 127.0.0.1, 3 virtual s, 1-in-2000):")
    for target in targets:
        r = _run_child("udp", str(target))
        print(
            f"  target {r['target']:>9,.0f}/s: achieved {r['achieved']:>9,.0f} datagrams/s, "
            f"sent {r['sent']:,.0f}, received {r['received']:,.0f}, errors {r['send_errors']:.0f}"
        )


def bench_memory(seconds: float) -> None:
    r = _run_child("memory", str(seconds))
    print(
        f"memory: {r['switches']:.0f} switches, {r['ports']:,.0f} ports, {r['nics']:,.0f} NICs, "
        f"{r['subflows']:,.0f} subflows"
    )
    print(
        f"  peak RSS {r['peak_rss_mib']:.0f} MiB after {r['virtual_seconds']:g} virtual s "
        f"({r['peak_rss_mib_after_build']:.0f} MiB after building); built in {r['build_s']:.1f} s, "
        f"{r['wall_s']:.0f} s wall, {r['flow_samples']:,.0f} flow samples"
    )


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "")))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", default="pcap", choices=("pcap", "udp", "memory", "all"))
    parser.add_argument("--runs", type=int, default=5, help="pcap runs (median reported)")
    parser.add_argument(
        "--udp-targets", default="5000,20000,50000,0", help="datagrams/s (0 = unpaced)"
    )
    parser.add_argument("--memory-seconds", type=float, default=2.0, help="virtual seconds")
    args = parser.parse_args()
    if args.what in ("pcap", "all"):
        bench_pcap(args.runs)
    if args.what in ("udp", "all"):
        bench_udp([float(x) for x in args.udp_targets.split(",")])
    if args.what in ("memory", "all"):
        bench_memory(args.memory_seconds)


if __name__ == "__main__":
    main()

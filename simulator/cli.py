"""``fabricscope simulate`` and ``fabricscope demo``: argument wiring and entry points.

Registered in ``collector.cli`` (``COMMANDS``) with :data:`SIMULATE_HELP` /
:func:`add_simulate_arguments` / :func:`run_simulate` and the demo equivalents; or, for a plain
argparse program, :func:`register` adds both sub-parsers.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any, TextIO

from simulator.agent import DatagramSink
from simulator.config import DEFAULT_DROP_RATES, DEFAULT_START_TIME, DROP_KINDS, SimConfig
from simulator.fabric import LINK_SPEEDS_GBPS, PORT_STYLES, FabricSpec, write_topology
from simulator.faults import FAULT_KINDS, parse_fault
from simulator.output import SFLOW_PORT, PcapSink, UdpSink, parse_hostport
from simulator.run import Simulation
from simulator.scenarios import DEFAULT_START, SCENARIOS
from simulator.traffic import COLLECTIVES, TrafficSpec

__all__ = [
    "DEMO_HELP",
    "SIMULATE_HELP",
    "add_demo_arguments",
    "add_demo_parser",
    "add_simulate_arguments",
    "add_simulate_parser",
    "config_from_args",
    "register",
    "run_demo",
    "run_simulate",
]

SIMULATE_HELP = "simulate an AI fabric's sFlow agents: send over UDP or write a pcap, with truth"
DEMO_HELP = "run the collector and a small simulated fabric in one command (until Ctrl+C)"

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _drop_rate(text: str) -> tuple[str, float]:
    name, eq, rate = text.partition("=")
    if not eq:
        raise argparse.ArgumentTypeError(f"use NAME=RATE, e.g. acl=2 (got {text!r})")
    if name != "all" and name not in DROP_KINDS:
        raise argparse.ArgumentTypeError(
            f"drop kind {name!r} is not one of all, {', '.join(DROP_KINDS)}"
        )
    try:
        value = float(rate)
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad rate in {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"negative rate in {text!r}")
    return name, value


def _common_arguments(p: argparse.ArgumentParser) -> None:
    fab = p.add_argument_group("fabric")
    fab.add_argument("--leaves", type=int, default=4, help="leaf switches (default 4)")
    fab.add_argument("--spines", type=int, default=2, help="spine switches (default 2)")
    fab.add_argument(
        "--hosts-per-leaf", type=int, default=8, help="hosts on each leaf (rails: per pod)"
    )
    fab.add_argument("--nics-per-host", type=int, default=1, help="GPU NICs per host (default 1)")
    fab.add_argument(
        "--rails",
        type=int,
        default=0,
        help="rail-optimised: R leaves per pod, host NIC r on leaf r (default 0: off)",
    )
    fab.add_argument(
        "--uplinks-per-leaf",
        type=int,
        default=0,
        help="leaf uplinks (default: non-blocking, a multiple of the spine count)",
    )
    speeds = ", ".join(str(s) for s in LINK_SPEEDS_GBPS)
    fab.add_argument(
        "--host-speed", type=int, default=400, help=f"host link Gb/s: {speeds} (default 400)"
    )
    fab.add_argument(
        "--fabric-speed", type=int, default=400, help=f"leaf–spine Gb/s: {speeds} (default 400)"
    )
    fab.add_argument("--port-style", choices=PORT_STYLES, default="swp", help="port names")
    fab.add_argument(
        "--agent-base",
        default="10.0.0.1",
        help="first agent address; IPv6 for IPv6 agents (default 10.0.0.1)",
    )
    fab.add_argument(
        "--host-base",
        default="10.128.0.1",
        help="first GPU NIC address; IPv6 for RoCEv2 over IPv6 (default 10.128.0.1)",
    )

    tr = p.add_argument_group("traffic")
    tr.add_argument(
        "--collective",
        default="ring",
        help=f"comma list, one per job, of {', '.join(COLLECTIVES)} (default ring)",
    )
    tr.add_argument("--jobs", type=int, default=1, help="training jobs (default 1)")
    tr.add_argument(
        "--period", type=_positive_float, default=0.5, help="compute+exchange period s (0.5)"
    )
    tr.add_argument("--duty", type=float, default=0.5, help="exchange fraction of the period (0.5)")
    tr.add_argument(
        "--jitter", type=float, default=0.05, help="period jitter, fraction (sdev, 0.05)"
    )
    tr.add_argument("--load", type=float, default=0.8, help="NIC load during exchange (0.8)")
    tr.add_argument("--message-size", type=int, default=524288, help="RDMA message bytes (524288)")
    tr.add_argument("--mtu", type=int, default=4096, help="RoCE MTU (4096)")
    tr.add_argument("--read-fraction", type=float, default=0.1, help="flows using RDMA READ (0.1)")
    tr.add_argument(
        "--write-imm-fraction",
        type=float,
        default=1.0,
        help="multi-packet writes ending in WRITE_LAST_WITH_IMMEDIATE, not WRITE_LAST (1.0)",
    )
    tr.add_argument(
        "--cts-ratio", type=float, default=1.0, help="clear-to-send WRITE_ONLY per message (1.0)"
    )
    tr.add_argument(
        "--background", type=float, default=0.02, help="non-RoCE load per NIC, fraction (0.02)"
    )
    tr.add_argument(
        "--placement",
        choices=("random", "packed"),
        default="random",
        help="rank order of hosts in the collectives (default random)",
    )

    ag = p.add_argument_group("agents")
    ag.add_argument(
        "--sampling-rate",
        type=int,
        default=0,
        help="1-in-N on every port (default: link speed in Mb/s, e.g. 400000 at 400G)",
    )
    ag.add_argument(
        "--polling-interval",
        type=_positive_float,
        default=20.0,
        help="counter polling interval s (default 20)",
    )
    ag.add_argument(
        "--header-bytes", type=int, default=128, help="sampled header bytes (default 128)"
    )
    ag.add_argument(
        "--datagram-size", type=int, default=1400, help="max datagram bytes (default 1400)"
    )
    ag.add_argument("--optics", action="store_true", help="add optics counters (0:10)")
    ag.add_argument("--pfc", action="store_true", help="add PFC counters (0:11)")
    ag.add_argument(
        "--flow-extensions",
        action="store_true",
        help="add egress queue / transit delay / queue depth (1036/1039/1040) to flow samples "
        "(tshark 4.0 flags these malformed)",
    )
    ag.add_argument(
        "--drop-rate",
        type=_drop_rate,
        action="append",
        default=[],
        metavar="KIND=RATE",
        help=f"drops/s over the fabric; kinds: all, {', '.join(DROP_KINDS)} "
        f"(defaults {', '.join(f'{k}={v:g}' for k, v in DEFAULT_DROP_RATES.items())})",
    )
    ag.add_argument(
        "--drop-limit",
        type=float,
        default=10.0,
        help="drop notifications/s per agent (default 10)",
    )
    ag.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help=f"KIND:TARGET[=VALUE][@START[+DURATION]], kinds {', '.join(FAULT_KINDS)}; "
        "e.g. restart:leaf2@30, loss:0.01, linkdown:leaf1-spine1@20+10, unmonitored:spine2, "
        "samplingrate:leaf3=1000",
    )
    sc = p.add_argument_group("scenario")
    sc.add_argument(
        "--scenario",
        choices=SCENARIOS,
        default="healthy",
        help="one cause of trouble with its truth (default healthy: none)",
    )
    sc.add_argument(
        "--scenario-start",
        type=float,
        default=DEFAULT_START,
        metavar="SECONDS",
        help=f"virtual time the scenario's cause starts (default {DEFAULT_START:g})",
    )
    p.add_argument("--seed", type=int, default=1, help="random seed: same seed, same bytes")
    p.add_argument(
        "--topology-out", metavar="FILE", help="write the sFlow-RT topology JSON to FILE"
    )


def add_simulate_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``fabricscope simulate``."""
    out = parser.add_argument_group("output")
    dest = out.add_mutually_exclusive_group()
    dest.add_argument(
        "--collector",
        default=f"127.0.0.1:{SFLOW_PORT}",
        metavar="HOST:PORT",
        help=f"send over UDP to HOST:PORT or [IPv6]:PORT (default 127.0.0.1:{SFLOW_PORT})",
    )
    dest.add_argument("--pcap", metavar="FILE", help="write a pcap file instead of sending")
    out.add_argument("--truth", metavar="FILE", help="write the ground truth JSON to FILE")
    out.add_argument(
        "--duration",
        type=_positive_float,
        default=10.0,
        help="virtual seconds to simulate (default 10)",
    )
    out.add_argument(
        "--forever", action="store_true", help="run until Ctrl+C (UDP only; no --duration)"
    )
    out.add_argument(
        "--rate-scale",
        type=float,
        default=1.0,
        help="UDP pacing: virtual seconds per wall second (1 real time, 0 unpaced)",
    )
    out.add_argument(
        "--max-rate", type=float, default=0.0, help="UDP cap in datagrams/s (default none)"
    )
    out.add_argument(
        "--start-time",
        type=float,
        default=None,
        help="Unix time of virtual time 0 (default: 2025-01-01 for pcap, now for UDP)",
    )
    out.add_argument("--quiet", action="store_true", help="no per-second progress lines")
    _common_arguments(parser)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``fabricscope demo``."""
    parser.add_argument(
        "--sflow-port", type=int, default=SFLOW_PORT, help="UDP port of the collector (6343)"
    )
    parser.add_argument("--http-port", type=int, default=8008, help="HTTP port (8008)")
    parser.add_argument(
        "--http-host",
        default="127.0.0.1",
        help="address the collector's HTTP face binds (default 127.0.0.1; 0.0.0.0 in a container)",
    )
    parser.add_argument(
        "--no-collector",
        action="store_true",
        help="only simulate (send to 127.0.0.1:PORT, e.g. to a collector already running)",
    )
    parser.add_argument(
        "--duration", type=_positive_float, default=None, help="stop after this many seconds"
    )
    _common_arguments(parser)


def _specs(args: argparse.Namespace) -> tuple[FabricSpec, TrafficSpec]:
    fabric = FabricSpec(
        leaves=args.leaves,
        spines=args.spines,
        hosts_per_leaf=args.hosts_per_leaf,
        nics_per_host=args.nics_per_host,
        rails=args.rails,
        uplinks_per_leaf=args.uplinks_per_leaf,
        host_speed_gbps=args.host_speed,
        fabric_speed_gbps=args.fabric_speed,
        port_style=args.port_style,
        agent_base=args.agent_base,
        host_base=args.host_base,
    )
    traffic = TrafficSpec(
        collectives=tuple(c.strip() for c in args.collective.split(",") if c.strip()),
        jobs=args.jobs,
        period=args.period,
        duty=args.duty,
        jitter=args.jitter,
        load=args.load,
        message_size=args.message_size,
        mtu=args.mtu,
        read_fraction=args.read_fraction,
        write_imm_fraction=args.write_imm_fraction,
        cts_ratio=args.cts_ratio,
        background=args.background,
        placement=args.placement,
        ip_version=6 if ":" in args.host_base else 4,
    )
    return fabric, traffic


def config_from_args(
    args: argparse.Namespace, *, duration: float | None, start_time: float
) -> SimConfig:
    """A validated :class:`SimConfig` from parsed flags; ``ValueError`` with one clear line."""
    fabric, traffic = _specs(args)
    drop_rates = dict(DEFAULT_DROP_RATES)
    for name, rate in args.drop_rate:
        if name == "all":
            drop_rates = dict.fromkeys(drop_rates, rate)
        else:
            drop_rates[name] = rate
    config = SimConfig(
        fabric=fabric,
        traffic=traffic,
        seed=args.seed,
        duration=duration,
        start_time=start_time,
        sampling_rate=args.sampling_rate,
        polling_interval=args.polling_interval,
        header_bytes=args.header_bytes,
        datagram_size=args.datagram_size,
        drop_rates=tuple(drop_rates.items()),
        drop_limit=args.drop_limit,
        optics=args.optics,
        pfc=args.pfc,
        flow_extensions=args.flow_extensions,
        faults=tuple(parse_fault(f) for f in args.fault),
        scenario=args.scenario,
        scenario_start=args.scenario_start,
    )
    config.validate()
    return config


def _err(message: str) -> int:
    print(f"fabricscope: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _rate_text(x: float) -> str:
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= scale:
            return f"{x / scale:.1f}{unit}"
    return f"{x:.0f}"


def _progress_line(d: dict[str, Any]) -> str:
    edge = d["edge"]
    emitted = d["emitted"]
    exchange = max(d["exchange"]) if d["exchange"] else 0.0
    drops = sum(d["drops"].values())
    return (
        f"t={d['second'] + 1:>4}s  edge {_rate_text(8 * edge['bytes'])}b/s "
        f"({_rate_text(edge['frames'])} frames/s)  exchange {100 * exchange:3.0f}%  "
        f"ECN {_rate_text(d['ecn']['ingress'])}/s  CNP {_rate_text(d['cnp']['packets'])}/s  "
        f"drops {drops}/s  | sent {emitted['datagrams']} datagrams, "
        f"{emitted['flow_samples']} flow + {emitted['counter_samples']} counter + "
        f"{emitted['drop_samples']} drop samples"
    )


def _run(
    sim: Simulation,
    duration: float | None,
    on_second: Callable[[dict[str, Any]], None] | None,
) -> bool:
    """Run second by second; True when interrupted by Ctrl+C."""
    try:
        k = 0
        while duration is None or k < duration:
            k += 1
            sim.run_until(float(k) if duration is None else min(float(k), duration), on_second)
    except KeyboardInterrupt:
        return True
    return False


def run_simulate(args: argparse.Namespace) -> int:
    """Entry point of ``fabricscope simulate``."""
    out: TextIO = sys.stderr
    duration: float | None = None if args.forever else args.duration
    if args.forever and args.pcap:
        return _err("--forever needs UDP output (a pcap needs --duration)")
    start = args.start_time
    if start is None:
        start = DEFAULT_START_TIME if args.pcap else time.time()
    try:
        config = config_from_args(args, duration=duration, start_time=start)
    except ValueError as exc:
        return _err(str(exc))
    sink: DatagramSink
    try:
        if args.pcap:
            sink = PcapSink(args.pcap)
            where = args.pcap
        else:
            host, port = parse_hostport(args.collector)
            sink = UdpSink(host, port, rate_scale=args.rate_scale, max_rate=args.max_rate)
            where = f"udp {args.collector}"
    except (OSError, ValueError) as exc:
        return _err(str(exc))
    try:
        sim = Simulation(config, sink, keep_truth=bool(args.truth))
    except ValueError as exc:
        sink.close()
        return _err(str(exc))
    if args.topology_out:
        write_topology(sim.fabric, args.topology_out)
    summary = sim.fabric.summary()
    print(
        f"fabricscope simulate: {summary['switches']} switches, {summary['ports']} ports, "
        f"{summary['nics']} GPU NICs → {where}"
        + (f" (seed {config.seed}, {duration:g} s)" if duration else " (until Ctrl+C)"),
        file=out,
    )
    totals = {"flow": 0, "counter": 0, "drop": 0, "datagrams": 0}

    def on_second(d: dict[str, Any]) -> None:
        e = d["emitted"]
        totals["flow"] += e["flow_samples"]
        totals["counter"] += e["counter_samples"]
        totals["drop"] += e["drop_samples"]
        totals["datagrams"] += e["datagrams"]
        if not args.quiet and not args.pcap:
            print(_progress_line(d), file=out, flush=True)

    wall0 = time.perf_counter()
    interrupted = _run(sim, duration, on_second)
    sim.finish()
    wall = time.perf_counter() - wall0
    stats = getattr(sink, "stats", None)
    samples = totals["flow"] + totals["counter"] + totals["drop"]
    if stats is not None:
        totals["datagrams"] = stats.datagrams
    line = (
        f"fabricscope simulate: {sim.t:.1f} virtual s, {totals['datagrams']} datagrams, "
        f"{samples} samples ({totals['flow']} flow) in {wall:.2f} s wall"
    )
    if wall > 0:
        line += f": {samples / wall:,.0f} samples/s, {totals['datagrams'] / wall:,.0f} datagrams/s"
    if isinstance(sink, UdpSink) and stats is not None:
        line += f"; achieved send rate {stats.rate:,.0f} datagrams/s"
        if stats.errors:
            line += f", {stats.errors} send errors"
    print(line, file=out)
    if args.truth:
        sim.truth.write(args.truth, sim.truth_header())
    return 130 if interrupted else EXIT_OK


def _start_collector(args: argparse.Namespace, topology: str) -> subprocess.Popen[bytes]:
    cmd = [
        sys.executable,
        "-m",
        "collector",
        "serve",
        "--sflow-bind",
        f"127.0.0.1:{args.sflow_port}",
        "--http-bind",
        f"{args.http_host}:{args.http_port}",
        "--topology",
        topology,
        "--workers",
        "1",
        "--health",  # a small fabric: the events cost little, and show the scenarios
    ]
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL)


def run_demo(args: argparse.Namespace) -> int:
    """Entry point of ``fabricscope demo``: collector + a small fabric in real time."""
    out: TextIO = sys.stdout
    try:
        config = config_from_args(args, duration=args.duration, start_time=time.time())
    except ValueError as exc:
        return _err(str(exc))
    try:
        sink = UdpSink("127.0.0.1", args.sflow_port, rate_scale=1.0)
        sim = Simulation(config, sink, keep_truth=False)
    except (OSError, ValueError) as exc:
        return _err(str(exc))
    tmpdir = tempfile.mkdtemp(prefix="fabricscope-demo-")
    topology = args.topology_out or os.path.join(tmpdir, "topology.json")
    write_topology(sim.fabric, topology)
    collector: subprocess.Popen[bytes] | None = None
    if not args.no_collector:
        try:
            collector = _start_collector(args, topology)
        except OSError as exc:
            return _err(f"cannot start the collector: {exc}")
    s = sim.fabric.summary()
    print(
        f"fabricscope demo: {s['leaves']} leaves, {s['spines']} spines, {s['nics']} GPU NICs, "
        f"{config.traffic.collectives[0]} collective every {config.traffic.period:g} s; "
        f"sFlow → udp 127.0.0.1:{args.sflow_port}; topology {topology}",
        file=out,
    )
    if collector is not None:
        print(
            f"  web UI:   http://localhost:{args.http_port}/\n"
            f"  metrics:  curl localhost:{args.http_port}/metrics\n"
            f"  sFlow-RT compatible: curl localhost:{args.http_port}"
            "/app/ai-metrics/scripts/metrics.js/prometheus/txt\n"
            "  Ctrl+C to stop",
            file=out,
            flush=True,
        )
    else:
        print("  simulating only (no collector started); Ctrl+C to stop", file=out, flush=True)

    died = False

    def on_second(d: dict[str, Any]) -> None:
        nonlocal died
        if collector is not None and collector.poll() is not None:
            died = True
            raise KeyboardInterrupt  # the collector died: stop too
        print(_progress_line(d), file=out, flush=True)

    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        interrupted = _run(sim, args.duration, on_second)
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.finish()
        status = 0
        if collector is not None:
            if collector.poll() is None:
                collector.send_signal(signal.SIGINT)
                try:
                    collector.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    collector.kill()
                    collector.wait()
            status = collector.returncode or 0
    failed = collector is not None and status not in (0, -signal.SIGINT, 130)
    if died or (failed and not interrupted):
        print(f"fabricscope demo: the collector exited with status {status}", file=sys.stderr)
        return EXIT_ERROR
    return 130 if interrupted else EXIT_OK


def add_simulate_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``simulate`` to an argparse sub-parsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "simulate", help=SIMULATE_HELP, description=SIMULATE_HELP
    )
    add_simulate_arguments(p)
    p.set_defaults(run=run_simulate)
    return p


def add_demo_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``demo`` to an argparse sub-parsers object."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help=DEMO_HELP, description=DEMO_HELP
    )
    add_demo_arguments(p)
    p.set_defaults(run=run_demo)
    return p


def register(subparsers: Any) -> None:
    """Add both sub-commands."""
    add_simulate_parser(subparsers)
    add_demo_parser(subparsers)

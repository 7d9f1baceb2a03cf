"""Decode throughput on a realistic RoCEv2 corpus: fast path (compiled, pure), full decoder,
full decoder + JSON, and a naive dpkt-based parse — medians of several runs, one thread.

    python bench/decode.py [--count 2000] [--runs 7] [--seed 1] [--cpu N] [--json]

The corpus is ``bench/corpus.py``'s: datagrams of up to 1,400 bytes with about 6 RoCEv2 flow
samples each, plus sprinkled counter and drop samples. Paths:

* ``fast path, compiled`` — what the collector runs: ``scan_datagram`` (flow samples → int64
  rows with the fields the metrics need) plus ``decode_sample`` for the counter/drop samples the
  scan locates. ``scan only`` leaves those out. ``pure`` is the same source uncompiled.
* ``full decode`` — ``decode_datagram`` (every record to frozen dataclasses, packet parsed).
* ``full decode + JSON`` — plus ``json_view.datagram_to_dict`` and ``json.dumps``.
* ``naive dpkt`` — the baseline: a ``struct`` walk of the sFlow framing, ``dpkt.ethernet.Ethernet``
  on each sampled header, a manual BTH/RETH/AETH read; the same fields as the fast path rows.

Each run decodes the whole corpus (repeated so that a run lasts about ``--run-seconds``); the
table shows the median run. Ratios are against the dpkt baseline of the same invocation.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import platform
import statistics
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if importlib.util.find_spec("decoders") is None:  # a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import dpkt
from corpus import build_corpus, corpus_stats

from decoders import fast, fastpath
from decoders.json_view import datagram_to_dict
from decoders.parse import decode_datagram, decode_sample
from decoders.rocev2 import EXTENSION_HEADER_SIZES, EXTENSION_HEADERS

TARGET_FLOW_SAMPLES_PER_S = 1_000_000

# ---------------------------------------------------------------------------------------------
# The paths under test: each takes the corpus and returns the number of flow samples seen.


def fast_path(module: Any, with_others: bool) -> Callable[[list[bytes]], int]:
    scan = module.scan_datagram
    rows = module.FlowRows(capacity=64)

    def run(corpus: list[bytes]) -> int:
        flows = 0
        clear = rows.clear
        for data in corpus:
            clear()
            flows += scan(data, rows)
            if with_others:
                for data_format, offset, length, index in rows.others:
                    decode_sample(data, offset, length, data_format, index)
        return flows

    return run


def full_decode(corpus: list[bytes]) -> int:
    flows = 0
    for data in corpus:
        for sample in decode_datagram(data).samples:
            flows += sample.KIND == "flow"
    return flows


def full_decode_json(corpus: list[bytes]) -> int:
    flows = 0
    dumps = json.dumps
    for data in corpus:
        datagram = decode_datagram(data)
        dumps(datagram_to_dict(datagram))
        flows += sum(sample.KIND == "flow" for sample in datagram.samples)
    return flows


# Naive dpkt baseline ------------------------------------------------------------------------

_U32X2 = struct.Struct(">II")
_U32X4 = struct.Struct(">IIII")
_COMPACT = struct.Struct(">8I")
_EXPANDED = struct.Struct(">11I")
_BTH = struct.Struct(">BBHII")


def _layouts() -> dict[int, tuple[int, int]]:
    """opcode → (RETH offset, AETH offset) after the BTH start, -1 when absent."""
    table = {}
    for opcode, names in EXTENSION_HEADERS.items():
        pos, reth, aeth = 12, -1, -1
        for name in names:
            reth = pos if name == "RETH" else reth
            aeth = pos if name == "AETH" else aeth
            pos += EXTENSION_HEADER_SIZES[name]
        table[opcode] = (reth, aeth)
    return table


_DPKT_LAYOUTS = _layouts()
_IP_TYPES = (dpkt.ip.IP, dpkt.ip6.IP6)


def dpkt_parse(data: bytes) -> list[tuple[int, ...]]:
    """One tuple per flow sample: the fields the metrics need (−1 = absent)."""
    out = []
    version, address_type = _U32X2.unpack_from(data, 0)
    if version != 5:
        raise ValueError("not sFlow v5")
    off = 8 + {1: 4, 2: 16}.get(address_type, 0)
    _, _, _, count = _U32X4.unpack_from(data, off)
    off += 16
    for _ in range(count):
        data_format, length = _U32X2.unpack_from(data, off)
        body = off + 8
        off = body + ((length + 3) & ~3)
        if data_format == 1:
            _, _, rate, _, _, in_word, _, n = _COMPACT.unpack_from(data, body)
            in_port = in_word & 0x3FFFFFFF
            roff = body + 32
        elif data_format == 3:
            _, _, _, rate, _, _, _, in_port, _, _, n = _EXPANDED.unpack_from(data, body)
            roff = body + 44
        else:
            continue  # counters and drops: not needed per packet
        frame_length = dscp = ecn = opcode = flags = dest_qp = dma = syndrome = -1
        transit = depth = -1
        for _ in range(n):
            rfmt, rlen = _U32X2.unpack_from(data, roff)
            rbody = roff + 8
            roff = rbody + ((rlen + 3) & ~3)
            if rfmt == 1:
                _, frame_length, _, hlen = _U32X4.unpack_from(data, rbody)
                try:
                    eth = dpkt.ethernet.Ethernet(data[rbody + 16 : rbody + 16 + hlen])
                except dpkt.UnpackError:
                    continue
                ip = eth.data
                if not isinstance(ip, _IP_TYPES):
                    continue
                tclass = ip.tos if isinstance(ip, dpkt.ip.IP) else ip.fc
                dscp, ecn = tclass >> 2, tclass & 3
                udp = ip.data
                if isinstance(udp, dpkt.udp.UDP) and udp.dport == 4791 and len(udp.data) >= 12:
                    ib = udp.data
                    opcode, b1, _, w2, w3 = _BTH.unpack_from(ib, 0)
                    flags = (b1 >> 6) | (w2 >> 28 & 0xC) | (w3 >> 27 & 0x10)
                    dest_qp = w2 & 0xFFFFFF
                    reth, aeth = _DPKT_LAYOUTS.get(opcode, (-1, -1))
                    if reth >= 0 and len(ib) >= reth + 16:
                        dma = struct.unpack_from(">I", ib, reth + 12)[0]
                    if aeth >= 0 and len(ib) >= aeth + 4:
                        syndrome = ib[aeth]
            elif rfmt == 1039:
                transit = struct.unpack_from(">I", data, rbody)[0]
            elif rfmt == 1040:
                depth = struct.unpack_from(">I", data, rbody)[0]
        fields = (rate, in_port, frame_length, dscp, ecn, opcode, flags, dest_qp, dma)
        out.append((*fields, syndrome, transit, depth))
    return out


def naive_dpkt(corpus: list[bytes]) -> int:
    return sum(len(dpkt_parse(data)) for data in corpus)


# ---------------------------------------------------------------------------------------------
# Harness


def cross_check(corpus: list[bytes], modules: list[Any]) -> None:
    """Every path sees the same flow samples with the same key fields before anything is timed."""
    want = [
        (rate, opcode, dma, syndrome, transit)
        for data in corpus
        for rate, _, _, _, _, opcode, _, _, dma, syndrome, transit, _ in dpkt_parse(data)
    ]
    for module in modules:
        rows = module.FlowRows()
        for data in corpus:
            module.scan_datagram(data, rows)
        got = list(
            zip(
                *(
                    rows.column(c)
                    for c in (
                        fastpath.COL_SAMPLING_RATE,
                        fastpath.COL_BTH_OPCODE,
                        fastpath.COL_RETH_DMA_LENGTH,
                        fastpath.COL_AETH_SYNDROME,
                        fastpath.COL_TRANSIT_DELAY,
                    )
                ),
                strict=True,
            )
        )
        if got != want:
            raise SystemExit(f"{module.__name__} disagrees with the dpkt baseline on the corpus")
    if full_decode(corpus) != len(want):
        raise SystemExit("the full decoder sees a different number of flow samples")


def measure(
    run: Callable[[list[bytes]], int], corpus: list[bytes], runs: int, run_seconds: float
) -> dict[str, float]:
    """Median seconds per pass over the corpus (each run repeats passes for ``run_seconds``)."""
    start = time.perf_counter()
    run(corpus)  # warm-up, and a first estimate of a pass
    first = time.perf_counter() - start
    passes = max(1, round(run_seconds / max(first, 1e-9)))
    per_pass = []
    for _ in range(runs):
        gc.collect()
        start = time.perf_counter()
        for _ in range(passes):
            run(corpus)
        per_pass.append((time.perf_counter() - start) / passes)
    return {
        "seconds_per_pass": statistics.median(per_pass),
        "min_seconds_per_pass": min(per_pass),
        "max_seconds_per_pass": max(per_pass),
        "passes_per_run": passes,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=2000, help="corpus datagrams (2000)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (1)")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per path, >= 5 (7)")
    parser.add_argument("--run-seconds", type=float, default=0.4, help="length of a run (0.4)")
    parser.add_argument("--cpu", type=int, help="pin the process to this CPU")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.runs < 5:
        parser.error("--runs must be at least 5 (medians of >= 5 runs)")
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})

    corpus = build_corpus(args.count, args.seed)
    stats = corpus_stats(corpus)
    compiled, why_not = fast.compiled_module()
    modules = [fastpath] if compiled is None else [compiled, fastpath]
    cross_check(corpus, modules)

    paths: list[tuple[str, Callable[[list[bytes]], int]]] = []
    if compiled is not None:
        paths += [
            ("fast path, compiled: scan + decode_sample", fast_path(compiled, True)),
            ("fast path, compiled: scan only", fast_path(compiled, False)),
        ]
    paths += [
        ("fast path, pure Python: scan + decode_sample", fast_path(fastpath, True)),
        ("fast path, pure Python: scan only", fast_path(fastpath, False)),
        ("full decode_datagram", full_decode),
        ("full decode + JSON (json_view, json.dumps)", full_decode_json),
        ("naive dpkt parse (baseline)", naive_dpkt),
    ]
    n_datagrams = len(corpus)
    n_flows = int(stats["flow_samples"])
    n_samples = n_flows + int(stats["counter_samples"]) + int(stats["drop_samples"])
    results = []
    for name, run in paths:
        m = measure(run, corpus, args.runs, args.run_seconds)
        per_pass = m["seconds_per_pass"]
        results.append(
            {
                "path": name,
                "datagrams_per_s": n_datagrams / per_pass,
                "samples_per_s": n_samples / per_pass,
                "flow_samples_per_s": n_flows / per_pass,
                "us_per_datagram": per_pass / n_datagrams * 1e6,
                **m,
            }
        )
    baseline = results[-1]["datagrams_per_s"]
    for r in results:
        r["vs_dpkt"] = r["datagrams_per_s"] / baseline
    headline = results[0]
    report = {
        "corpus": {**stats, "seed": args.seed},
        "runs": args.runs,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "fast_path_compiled": compiled is not None,
        "fast_path_compiled_note": why_not,
        "target_flow_samples_per_s": TARGET_FLOW_SAMPLES_PER_S,
        "target_met": compiled is not None
        and headline["flow_samples_per_s"] >= TARGET_FLOW_SAMPLES_PER_S,
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(report)
    return 0


def print_table(report: dict[str, Any]) -> None:
    c = report["corpus"]
    print(
        f"corpus: {c['datagrams']:,} datagrams (seed {c['seed']}), mean {c['bytes_mean']:,.0f} B,"
        f" {c['flow_samples_per_datagram']:.2f} RoCEv2 flow samples/datagram,"
        f" {c['counter_samples']} counter + {c['drop_samples']} drop samples"
    )
    print(
        f"Python {report['python']} ({report['machine']}), one thread;"
        f" medians of {report['runs']} runs"
    )
    if not report["fast_path_compiled"]:
        print(f"compiled fast path not available: {report['fast_path_compiled_note']}")
    header = f"{'path':<46} {'datagrams/s':>12} {'samples/s':>12} {'flow smp/s':>12}"
    header += f" {'us/dgram':>9} {'vs dpkt':>8}"
    print(header)
    print("-" * len(header))
    for r in report["results"]:
        print(
            f"{r['path']:<46} {r['datagrams_per_s']:>12,.0f} {r['samples_per_s']:>12,.0f}"
            f" {r['flow_samples_per_s']:>12,.0f} {r['us_per_datagram']:>9.2f}"
            f" {r['vs_dpkt']:>7.1f}x"
        )
    target = report["target_flow_samples_per_s"]
    verdict = "met" if report["target_met"] else "NOT met"
    print(
        f"target >= {target:,} flow samples/s (compiled fast path, scan + decode_sample): {verdict}"
    )


if __name__ == "__main__":
    sys.exit(main())

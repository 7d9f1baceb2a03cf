"""Instructions per datagram on the benchmark corpus, counted by callgrind: a figure that does
not move with the load of the machine (timings do), for comparing two commits.

    python bench/instructions.py [--count 500] [--seed 1] [--json]

For each path, the same Python process is run twice under ``valgrind --tool=callgrind``: once
building the corpus and importing everything but decoding nothing, once also decoding the corpus;
the difference, divided by the datagrams, is the path's cost. Paths:

* ``fast path`` — ``decoders.fast.scan_datagram`` plus ``decode_sample`` for the samples it
  locates (what the collector's receive loop runs);
* ``full decode`` — ``decoders.decode_datagram``;
* ``collector`` — ``collector.receive.pipeline.Pipeline`` on the fast path into a
  ``FabricState`` (topology-less), drained every 100 datagrams: decode, state, flow accounting.

Needs valgrind (Debian: ``apt-get install valgrind``); callgrind runs programs about 50 times
slower, so the default corpus is small.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
# bench/collector.py would shadow the collector package: this directory is not on the path,
# the checkout is (for a checkout without an install).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH]
if importlib.util.find_spec("decoders") is None:
    sys.path.insert(0, str(BENCH.parent))


def _corpus_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_corpus", BENCH / "corpus.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


PATHS = ("fast path", "full decode", "collector")
COLLECTED = re.compile(r"(?:Collected\s*:|I\s+refs:)\s*([\d,]+)")


def run_path(path: str, count: int, seed: int, work: bool) -> int:
    """The body of one measured process: build the corpus, import, decode when ``work``."""
    build_corpus = _corpus_module().build_corpus

    from collector.receive.pipeline import Pipeline
    from collector.receive.state import FabricState
    from decoders import decode_datagram
    from decoders import fast as fast_decoder
    from decoders.parse import decode_sample
    from topology.resolver import PortResolver

    corpus = build_corpus(count, seed)
    state = FabricState(PortResolver(None))
    pipeline = Pipeline(state, fast=True)
    rows = fast_decoder.FlowRows(64)
    if not work:
        return 0
    done = 0
    if path == "fast path":
        for data in corpus:
            rows.clear()
            fast_decoder.scan_datagram(data, rows)
            for data_format, offset, length, index in rows.others:
                decode_sample(data, offset, length, data_format, index)
            done += 1
    elif path == "full decode":
        for data in corpus:
            decode_datagram(data)
            done += 1
    elif path == "collector":
        for i, data in enumerate(corpus):
            pipeline.handle(data, 1_000_000.0 + i / 1000)
            if i % 100 == 99:
                state.drain(1_000_000.0 + i / 1000)
            done += 1
    return done


def instructions(path: str, count: int, seed: int, work: bool) -> int:
    """Instructions callgrind counts for one run of ``run_path``."""
    command = [
        "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
        sys.executable, __file__, "--child", path, "--count", str(count), "--seed", str(seed),
    ]  # fmt: skip
    if work:
        command.append("--work")
    result = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    found = COLLECTED.search(result.stderr)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"callgrind run failed ({path}): {result.stderr[-2000:]}")
    return int(found.group(1).replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500, help="corpus datagrams (500)")
    parser.add_argument("--seed", type=int, default=1, help="corpus seed (1)")
    parser.add_argument("--paths", default=",".join(PATHS), help="comma list of paths")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        run_path(args.child, args.count, args.seed, args.work)
        return 0
    if shutil.which("valgrind") is None:
        print("bench/instructions.py: valgrind is not installed", file=sys.stderr)
        return 1
    report = {}
    for path in args.paths.split(","):
        idle = instructions(path, args.count, args.seed, work=False)
        busy = instructions(path, args.count, args.seed, work=True)
        report[path] = {
            "instructions_per_datagram": (busy - idle) / args.count,
            "datagrams": args.count,
        }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"instructions per datagram (callgrind, corpus of {args.count}, seed {args.seed})")
        for path, figures in report.items():
            print(f"  {path:<12} {figures['instructions_per_datagram']:>12,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

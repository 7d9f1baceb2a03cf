"""The aggregator's side of scale-out, in process: what one shard's tick costs to decode and merge.

One shard's tick delta is built the way a receiver builds it: the corpus of
``bench/sample_cost.py`` for a fabric of ``--switches`` switches (every agent's counter
samples, and its RoCEv2 flow samples, for one second of agent time) through the fast-path
``Pipeline`` into a ``FabricState``, drained after a warm-up round. The delta is encoded with
the bus's codec; the figure is the CPU time (``time.process_time``) of ``decode_delta`` +
``Aggregator.merge`` per delta, median of ``--repeat`` runs of ``--merges`` merges, with the
payload's size. An aggregator at a 1 s tick with S shards of R receivers pays S × R of them a
second, which bounds the fabric one aggregator can merge.

    python bench/bus_merge.py --switches 256
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if importlib.util.find_spec("collector") is None:  # a checkout without an install
    sys.path.insert(0, str(_HERE.parent))

from collector.aggregate.aggregator import Aggregator  # noqa: E402
from collector.delta import Delta  # noqa: E402
from collector.delta_codec import decode_delta, encode_delta  # noqa: E402
from collector.receive.pipeline import Pipeline  # noqa: E402
from collector.receive.state import FabricState  # noqa: E402
from topology.index import TopologyIndex  # noqa: E402
from topology.model import parse_topology  # noqa: E402
from topology.resolver import PortResolver  # noqa: E402


def _sample_cost() -> object:
    spec = importlib.util.spec_from_file_location("_bench_sample_cost", _HERE / "sample_cost.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tick_delta(switches: int) -> Delta:
    """One second of counter and flow samples of every agent, as one receiver's delta."""
    corpora = _sample_cost()
    merged = Delta()
    for kind in ("counter", "flow"):
        corpus = corpora.Corpus(kind, switches)  # type: ignore[attr-defined]
        topology = parse_topology(corpus.topology)
        state = FabricState(PortResolver(TopologyIndex(topology)))
        handle = Pipeline(state, fast=True).handler
        for r in range(3):  # two warm-up rounds, then the one drained
            for data in corpus.round(1000 * (r + 1)):
                handle(data, float(r + 1))
            delta = state.drain(float(r + 1))
        merged.absorb(delta)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--switches", type=int, default=256)
    parser.add_argument("--merges", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    payload = encode_delta(tick_delta(args.switches))
    figures = []
    for _ in range(args.repeat):
        aggregator = Aggregator()
        start = time.process_time()
        for shard in range(args.merges):
            aggregator.merge(decode_delta(payload), receiver=-2 - shard % 8)
        figures.append((time.process_time() - start) / args.merges * 1e6)
    per_delta = statistics.median(figures)
    print(
        f"switches {args.switches}: one tick's delta {len(payload) / 1024:.1f} KiB; "
        f"decode + merge {per_delta:.0f} µs per delta (median of {args.repeat} x "
        f"{args.merges}); one aggregator core merges {1e6 / per_delta:.0f} such deltas/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

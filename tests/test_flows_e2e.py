"""End to end: flow definitions on a real ``serve`` fed by ``fabricscope simulate`` over UDP.

The truth file counts each GPU pair's (and each queue pair's) bytes and frames entering the
fabric, RoCEv2 packets by operation and drops by reason and node. The definitions use the
longest smoothing sFlow-RT allows (``t`` = 600 s): then a key's smoothed rate times ``t`` is the
run's total (sampling-scaled) to within the decay over the run, at most ``1 - e^(-T/t)`` of it
(T: the run's wall time), which the bounds add to the sampling error: 5 σ with σ = R·√n for
frames, σ² ≤ R·L_max·(bytes) for bytes, as tests/test_e2e_truth.py states them. Drop
notifications are not sampled: exact up to the decay. Workers 1 and 2 (the partial sums cross
the pipe in the delta codec) must give the same answers.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from simulator.config import SimConfig
from simulator.fabric import build_fabric, topology_json
from tests.e2e_support import load_truth, simulate, start_serve

SEED = 5
DURATION = 4  # virtual seconds
SAMPLING = 20000
RATE_SCALE = 1.5  # virtual seconds per wall second
MAX_RATE = 4000  # datagrams/s, as tests/test_e2e_truth.py: well within one receiver
T = 600.0  # sFlow-RT's largest smoothing: the rate x T is the run's total
K_SIGMA = 5.0
L_FRAME = 4096 + 256

DEFINITIONS = {
    "pair": {"keys": "ipsource,ipdestination", "value": "bytes", "values": "frames", "n": 20},
    "qp": {"keys": "ibbtdestqp", "value": "frames", "n": 20},
    "ops": {"keys": "ibbtoptransport,ibbtopname", "value": "frames", "n": 20},
    "drops": {"keys": "reason,node", "value": "frames", "dropped": True, "n": 20},
}


@pytest.fixture(params=[1, 2], ids=["workers1", "workers2"])
def workers(request: pytest.FixtureRequest) -> int:
    return int(request.param)


def _top(served: Any, name: str, mode: str) -> dict[str, list[float]]:
    status, body = served.get(f"/activeflows/ALL/{name}/json?maxFlows=10000&aggMode={mode}")
    assert status == 200, body
    flows = json.loads(body)
    values = [f["value"] for f in flows]
    assert values == sorted(values, reverse=True)  # largest first
    return {f["key"]: [f["value"] * T, *(v * T for v in f.get("values", []))] for f in flows}


def _within(name: str, estimate: float, truth: float, sigma: float, decay: float) -> None:
    low = truth * decay - K_SIGMA * sigma
    assert low <= estimate <= truth + K_SIGMA * sigma, (name, estimate, truth, sigma, decay)


def test_flow_definitions_match_the_simulators_truth(tmp_path: Path, workers: int) -> None:
    topo = tmp_path / "topology.json"
    topo.write_text(json.dumps(topology_json(build_fabric(SimConfig().fabric))))
    served = start_serve(topo, workers)
    try:
        for name, definition in DEFINITIONS.items():
            body = json.dumps({**definition, "t": T}).encode()
            assert served.put(f"/flow/{name}/json", body)[0] == 204
        started = time.monotonic()
        truth_file = tmp_path / "truth.json"
        simulate(
            ["--seed", str(SEED), "--duration", str(DURATION), "--sampling-rate", str(SAMPLING),
             "--collector", f"127.0.0.1:{served.sflow_port}", "--truth", str(truth_file),
             "--rate-scale", str(RATE_SCALE), "--max-rate", str(MAX_RATE),
             "--drop-limit", "100000"]
        )  # fmt: skip
        truth = load_truth(truth_file)
        metrics = served.wait_settled(truth["totals"]["emitted"]["datagrams"])
        time.sleep(0.5)  # the last tick's partial sums reach the flow tables
        decay = math.exp(-(time.monotonic() - started) / T)
        pairs, qps = _top(served, "pair", "edge"), _top(served, "qp", "edge")
        ops, drops = _top(served, "ops", "edge"), _top(served, "drops", "sum")
    finally:
        served.stop()

    tot = truth["totals"]
    # every datagram arrived (a loaded machine may drop some: then the bounds below cannot hold)
    assert metrics.one("fabricscope_kernel_receive_drops_total") == 0
    assert metrics.one("fabricscope_datagrams_total") == tot["emitted"]["datagrams"]
    pair_truth: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    qp_truth: dict[str, int] = defaultdict(int)
    for sub, (byt, frames) in tot["flows"].items():
        src, dst, qp, _job = truth["subflows"][int(sub)]
        pair_truth[f"{src},{dst}"][0] += byt
        pair_truth[f"{src},{dst}"][1] += frames
        if qp is not None:
            qp_truth[str(qp)] += frames
    # every pair with traffic, and no other, with its bytes and frames
    assert set(pairs) == {k for k, v in pair_truth.items() if v[0]}
    sigma_bytes = {k: math.sqrt(SAMPLING * L_FRAME * max(v[0], 1)) for k, v in pair_truth.items()}
    for key, (byt, frames) in pairs.items():
        _within(key, byt, pair_truth[key][0], sigma_bytes[key], decay)
        _within(key, frames, pair_truth[key][1], SAMPLING * math.sqrt(pair_truth[key][1]), decay)
    # the ranking: a pair listed above another never has less truth beyond the error bound
    ranked = sorted(pairs, key=lambda k: -pairs[k][0])
    for above, below in itertools.pairwise(ranked):
        slack = K_SIGMA * (sigma_bytes[above] + sigma_bytes[below])
        assert pair_truth[above][0] >= pair_truth[below][0] - slack, (above, below)
    # … and the top 5 are pairs whose truth is the largest within the error bound
    best = max(pair_truth, key=lambda k: pair_truth[k][0])
    for key in ranked[:5]:
        slack = K_SIGMA * (sigma_bytes[key] + sigma_bytes[best])
        assert pair_truth[key][0] >= pair_truth[best][0] - slack, (key, best)
    assert pair_truth[ranked[0]][0] > 10 * pair_truth[ranked[-1]][0]  # a ranking that can fail
    # queue pairs: every RoCEv2 QP sampled, frames within the bound
    assert set(qps) <= set(qp_truth)
    for key, (frames,) in qps.items():
        _within(f"qp {key}", frames, qp_truth[key], SAMPLING * math.sqrt(qp_truth[key]), decay)
    missing = [k for k in qp_truth if k not in qps]
    assert all(qp_truth[k] < 3 * SAMPLING for k in missing), missing  # only the rarely sampled
    # operations: each packet once, where it enters the fabric
    assert set(ops) == {label.replace(":", ",", 1) for label in tot["operations"]}
    for label, count in tot["operations"].items():
        _within(label, ops[label.replace(":", ",", 1)][0], count,
                SAMPLING * math.sqrt(count), decay)  # fmt: skip
    # drops by reason and node: not sampled, every one notified
    expected = {f"{r},{node}": n for r, nodes in tot["drops_by_node"].items()
                for node, n in nodes.items()}  # fmt: skip
    assert expected and set(drops) == set(expected)
    for key, n in expected.items():
        assert n * decay - 1e-6 <= drops[key][0] <= n + 1e-6, (key, drops[key], n)

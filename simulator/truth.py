"""Ground truth of a run, computed from the traffic model (never by decoding what was sent).

One :class:`SecondBin` per virtual second collects exact counts as the engine produces them;
:class:`Truth` closes bins into JSON-ready dicts and writes the truth file (format described in
``docs/simulator.md``, ``"format": "fabricscope-sim-truth/1"``).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from typing import Any

from decoders.drop_reasons import drop_reason_name
from simulator.fabric import EDGE, Fabric
from simulator.traffic import N_TYPES, PTYPES

__all__ = ["TRUTH_FORMAT", "SecondBin", "Truth", "five_numbers"]

TRUTH_FORMAT = "fabricscope-sim-truth/1"


def five_numbers(values: list[float]) -> list[float]:
    """min, Q1, median, Q3, max with linear interpolation (empty → zeros)."""
    if not values:
        return [0.0] * 5
    v = sorted(values)
    out = []
    for q in (0.0, 0.25, 0.5, 0.75, 1.0):
        x = q * (len(v) - 1)
        lo = math.floor(x)
        hi = min(lo + 1, len(v) - 1)
        out.append(v[lo] + (v[hi] - v[lo]) * (x - lo))
    return out


def _by_reason(counts: Counter[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (reason, node), n in sorted(counts.items()):
        out.setdefault(reason, {})[node] = n
    return out


class SecondBin:
    """Exact counts for one second of virtual time (fields are updated by the engine)."""

    def __init__(self, second: int, n_ports: int, n_jobs: int) -> None:
        """An empty bin for ``[second, second + 1)``."""
        self.second = second
        self.edge_bytes = 0
        self.edge_frames = 0
        self.roce_bytes = 0
        self.roce_frames = 0
        self.types = [0] * N_TYPES  # packets by type entering the fabric (each packet once)
        self.rdma_ops = 0
        self.rdma_dma_bytes = 0
        self.acks = 0
        self.ack_credits = 0
        self.credit_min: int | None = None
        self.credit_max: int | None = None
        self.ecn_ingress = 0  # CE packets seen at switch ingress ports (hop-weighted)
        self.ecn_marked = 0  # CE packets delivered to NICs (each packet once)
        self.cnp_ingress = 0  # CNPs seen at switch ingress ports (hop-weighted)
        self.port_in_bytes = [0] * n_ports
        self.port_in_frames = [0] * n_ports
        self.port_out_bytes = [0] * n_ports
        self.port_out_frames = [0] * n_ports
        self.errors_in = 0
        self.discards_in = 0
        self.discards_out = 0
        self.drops: Counter[str] = Counter()
        self.drops_by_origin: Counter[str] = Counter()
        self.notifications_sent = 0
        self.notifications_suppressed = 0
        self.datagrams = 0
        self.datagrams_lost = 0
        self.flow_samples = 0
        self.counter_samples = 0
        self.drop_samples = 0
        self.sampled_types = [0] * N_TYPES
        self.exchange = [0.0] * n_jobs  # seconds of exchange per job
        # per subflow: [bytes, frames] entering the fabric (each packet once), for flow keys
        self.flows: dict[int, list[int]] = {}
        self.drops_by_node: Counter[tuple[str, str]] = Counter()  # (reason, switch name)


class Truth:
    """Collects second bins and writes the truth file."""

    def __init__(self, fabric: Fabric, n_jobs: int, start_time: float, keep: bool = True) -> None:
        """Truth for ``fabric``; ``keep`` = keep closed seconds for :meth:`write`."""
        self.fabric = fabric
        self.n_jobs = n_jobs
        self.start_time = start_time
        self.keep = keep
        self.seconds: list[dict[str, Any]] = []
        self.current = SecondBin(0, fabric.n_ports, n_jobs)
        self.cycles: list[list[tuple[float, float, float]]] = [[] for _ in range(n_jobs)]
        self.totals: dict[str, Any] = {}

    def bin(self, t: float) -> SecondBin:
        """The bin of virtual time ``t`` (the current one; epochs never cross a second)."""
        return self.current

    def close(self, next_second: int) -> dict[str, Any]:
        """Close the current bin, start the next one; returns the closed bin as a dict."""
        d = self.bin_dict(self.current)
        if self.keep:
            self.seconds.append(d)
        self._add_totals(d)
        self.current = SecondBin(next_second, self.fabric.n_ports, self.n_jobs)
        return d

    def amend_last(self, datagrams: int, lost: int) -> None:
        """Count datagrams flushed at the very end into the last closed second."""
        if self.keep and self.seconds:
            e = self.seconds[-1]["emitted"]
            e["datagrams"] += datagrams
            e["lost"] += lost
        tot = self.totals.setdefault("emitted", {})
        tot["datagrams"] = tot.get("datagrams", 0) + datagrams
        tot["lost"] = tot.get("lost", 0) + lost

    def _add_totals(self, d: dict[str, Any]) -> None:
        tot = self.totals
        for key in ("edge", "rdma_ops", "ecn", "cnp", "errors", "discards", "emitted"):
            src = d[key] if key != "rdma_ops" else {"ops": d["rdma"]["ops"]}
            dst = tot.setdefault(key, {})
            for k, v in src.items():
                if isinstance(v, int | float):
                    dst[k] = dst.get(k, 0) + v
                elif isinstance(v, dict):
                    sub = dst.setdefault(k, {})
                    for kk, vv in v.items():
                        sub[kk] = sub.get(kk, 0) + vv
        for key in ("operations", "drops"):
            dst = tot.setdefault(key, {})
            for k, v in d[key].items():
                dst[k] = dst.get(k, 0) + v
        flows = tot.setdefault("flows", {})
        for sub, (byt, frames) in d["flows"].items():
            held = flows.setdefault(sub, [0, 0])
            held[0] += byt
            held[1] += frames
        by_node = tot.setdefault("drops_by_node", {})
        for reason, nodes in d["drops_by_node"].items():
            mine = by_node.setdefault(reason, {})
            for node, n in nodes.items():
                mine[node] = mine.get(node, 0) + n
        tot["seconds"] = tot.get("seconds", 0) + 1

    def bin_dict(self, b: SecondBin) -> dict[str, Any]:
        """JSON-ready form of one second."""
        fab = self.fabric
        ops: dict[str, int] = {}
        for t, n in enumerate(b.types):
            if n and PTYPES[t].roce:
                label = PTYPES[t].label
                ops[label] = ops.get(label, 0) + n
        sampled: dict[str, int] = {}
        for t, n in enumerate(b.sampled_types):
            if n:
                label = PTYPES[t].label
                sampled[label] = sampled.get(label, 0) + n
        ports: dict[str, list[int]] = {}
        core_bps: list[float] = []
        edge_bps: list[float] = []
        for p in range(fab.n_ports):
            ib, iff = b.port_in_bytes[p], b.port_in_frames[p]
            ob, of = b.port_out_bytes[p], b.port_out_frames[p]
            (edge_bps if fab.port_role[p] == EDGE else core_bps).append(8.0 * ib)
            if ib or ob:
                ports[fab.port_label(p)] = [ib, iff, ob, of]
        return {
            "second": b.second,
            "time": self.start_time + b.second,
            "exchange": [round(x, 6) for x in b.exchange],
            "edge": {
                "bytes": b.edge_bytes,
                "frames": b.edge_frames,
                "roce_bytes": b.roce_bytes,
                "roce_frames": b.roce_frames,
            },
            "operations": ops,
            "rdma": {
                "ops": b.rdma_ops,
                "bytes_mean": b.rdma_dma_bytes / b.rdma_ops if b.rdma_ops else 0.0,
            },
            "aeth": {
                "acks": b.acks,
                "credits_mean": b.ack_credits / b.acks if b.acks else 0.0,
                "credits_min": b.credit_min or 0,
                "credits_max": b.credit_max or 0,
                "naks": b.types[11],
                "rnr_naks": b.types[12],
            },
            "ecn": {"ingress": b.ecn_ingress, "marked": b.ecn_marked},
            "cnp": {"packets": b.types[13], "ingress": b.cnp_ingress},
            "core_bps": five_numbers(core_bps),
            "edge_bps": five_numbers(edge_bps),
            "ports": ports,
            "errors": {"in": b.errors_in, "out": 0},
            "discards": {"in": b.discards_in, "out": b.discards_out},
            "drops": {k: b.drops[k] for k in sorted(b.drops)},
            "drops_by_origin": {k: b.drops_by_origin[k] for k in sorted(b.drops_by_origin)},
            "drops_by_node": _by_reason(b.drops_by_node),
            "flows": {str(sub): list(v) for sub, v in sorted(b.flows.items())},
            "drop_notifications": {
                "sent": b.notifications_sent,
                "suppressed": b.notifications_suppressed,
            },
            "emitted": {
                "datagrams": b.datagrams,
                "lost": b.datagrams_lost,
                "flow_samples": b.flow_samples,
                "counter_samples": b.counter_samples,
                "drop_samples": b.drop_samples,
                "flow_samples_by_operation": sampled,
            },
        }

    @staticmethod
    def reason_name(code: int) -> str:
        """The drop reason's name as collectors label it."""
        return drop_reason_name(code)

    def period_dict(
        self, configured: float, jitter: float, duty: float, collectives: list[str]
    ) -> dict[str, Any]:
        """The true period: every complete cycle per job, with mean and standard deviation."""
        jobs = []
        for j, cycles in enumerate(self.cycles):
            lengths = [c[2] - c[0] for c in cycles]
            mean = sum(lengths) / len(lengths) if lengths else 0.0
            var = sum((x - mean) ** 2 for x in lengths) / len(lengths) if lengths else 0.0
            jobs.append(
                {
                    "job": j,
                    "collective": collectives[j],
                    "cycles": [[round(x, 6) for x in c] for c in cycles],
                    "mean": mean,
                    "sdev": math.sqrt(var),
                }
            )
        return {"configured": configured, "jitter": jitter, "duty": duty, "jobs": jobs}

    def document(self, header: dict[str, Any]) -> dict[str, Any]:
        """The whole truth document: ``header`` fields, then ``seconds`` and ``totals``."""
        doc = {"format": TRUTH_FORMAT, **header}
        doc["seconds"] = self.seconds
        doc["totals"] = self.totals
        return doc

    def write(self, path: str, header: dict[str, Any]) -> None:
        """Write the truth document as JSON to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.document(header), f, separators=(",", ":"))
            f.write("\n")

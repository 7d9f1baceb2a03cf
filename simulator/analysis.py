"""What a collector would estimate from a run's datagrams, for checking runs against the truth.

Uses only the decoder (``decoders``) and the topology index (``topology``) — nothing of the
generator's internals — so the comparison with the truth file is a real end-to-end check:
flow samples × sampling rate estimate frames and bytes, sampled opcodes estimate operations,
and the RoCEv2 frame rate over time gives back the compute/exchange period.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from decoders import decode_datagram
from decoders.records import CounterSample, DropSample, FlowSample, SampledHeader
from topology.index import TopologyIndex
from topology.model import parse_topology

__all__ = ["Estimate", "estimate", "estimate_period"]


@dataclass
class Estimate:
    """Sums over flow samples (scaled by their sampling rate) and sample counts."""

    datagrams: int = 0
    flow_samples: int = 0
    counter_samples: int = 0
    drop_samples: int = 0
    edge_frames: float = 0.0
    edge_bytes: float = 0.0
    edge_frames_var: float = 0.0  # estimated variance of edge_frames
    edge_bytes_var: float = 0.0
    operations: Counter[str] = field(default_factory=Counter)  # scaled, at edge ports
    operations_var: Counter[str] = field(default_factory=Counter)
    sampled_operations: Counter[str] = field(default_factory=Counter)  # raw counts, all ports
    ecn_ingress: float = 0.0
    ecn_ingress_var: float = 0.0
    drop_reasons: Counter[int] = field(default_factory=Counter)
    roce_edge_times: list[tuple[float, int]] = field(default_factory=list)  # (time, rate)
    unmapped: int = 0


def estimate(
    datagrams: Iterable[tuple[float, bytes]], topology: dict[str, Any] | TopologyIndex
) -> Estimate:
    """Decode ``(timestamp, datagram)`` pairs; classify samples by topology port role."""
    index = (
        topology if isinstance(topology, TopologyIndex) else TopologyIndex(parse_topology(topology))
    )
    est = Estimate()
    for t, data in datagrams:
        d = decode_datagram(data)
        est.datagrams += 1
        agent = d.agent or ""
        for s in d.samples:
            if isinstance(s, CounterSample):
                est.counter_samples += 1
                continue
            if isinstance(s, DropSample):
                est.drop_samples += 1
                est.drop_reasons[s.reason] += 1
                continue
            if not isinstance(s, FlowSample):
                continue
            est.flow_samples += 1
            rate = s.sampling_rate
            header = next((r for r in s.records if isinstance(r, SampledHeader)), None)
            if header is None:
                continue
            info = index.explicit(agent, s.source.index)
            if info is None:
                est.unmapped += 1
                continue
            pkt = header.packet
            roce = pkt.roce
            label = f"{roce.bth.transport}:{roce.bth.operation}" if roce is not None else None
            if label is not None:
                est.sampled_operations[label] += 1
                if pkt.ecn == 3:
                    est.ecn_ingress += rate
                    est.ecn_ingress_var += rate * rate
            if info.role != "edge":
                continue
            length = header.frame_length
            est.edge_frames += rate
            est.edge_frames_var += rate * rate
            est.edge_bytes += rate * length
            est.edge_bytes_var += (rate * length) ** 2
            if label is not None:
                est.operations[label] += rate
                est.operations_var[label] += rate * rate
                est.roce_edge_times.append((t, rate))
    return est


def estimate_period(
    times: list[tuple[float, int]],
    start: float,
    end: float,
    *,
    bin_seconds: float = 0.02,
    min_period: float = 0.15,
    max_period: float = 3.0,
) -> float:
    """The dominant period (s) of the scaled RoCEv2 frame rate, by autocorrelation.

    Bins the samples, removes the mean, and returns the lag (refined by a parabola through the
    peak and its neighbours) of the highest autocorrelation between ``min_period`` and
    ``max_period``; 0.0 when there is too little data.
    """
    n = int((end - start) / bin_seconds)
    if n < 8:
        return 0.0
    bins = [0.0] * n
    for t, rate in times:
        i = int((t - start) / bin_seconds)
        if 0 <= i < n:
            bins[i] += rate
    mean = sum(bins) / n
    x = [b - mean for b in bins]
    lo = max(1, int(min_period / bin_seconds))
    hi = min(n // 2, int(max_period / bin_seconds) + 1)
    if hi <= lo + 1:
        return 0.0
    ac = [0.0] * (hi + 1)
    for lag in range(lo - 1, hi + 1):
        ac[lag] = sum(x[i] * x[i + lag] for i in range(n - lag)) / (n - lag)
    best = max(range(lo, hi), key=lambda k: ac[k])
    if ac[best] <= 0:
        return 0.0
    y0, y1, y2 = ac[best - 1], ac[best], ac[best + 1]
    denom = y0 - 2 * y1 + y2
    shift = 0.5 * (y0 - y2) / denom if denom < 0 else 0.0
    return (best + max(-0.5, min(0.5, shift))) * bin_seconds


def sigma(var: float) -> float:
    """Standard deviation from a variance (helper for bounds)."""
    return math.sqrt(max(0.0, var))

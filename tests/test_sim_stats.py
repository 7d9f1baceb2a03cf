"""Statistics of a simulated run: sampled estimates reproduce the truth, the period comes back.

Every packet is sampled independently with probability 1/N (geometric skips), so the number of
samples is binomial and `samples × N` is an unbiased estimate of the true count; its standard
deviation is estimated from the samples themselves (sqrt of Σ rate² for frames, Σ (rate·len)²
for bytes). The bounds below are 5 σ.
"""

from __future__ import annotations

import math

import pytest

from simulator.analysis import Estimate, estimate, estimate_period
from simulator.config import SimConfig
from simulator.fabric import topology_json
from simulator.output import ListSink
from simulator.run import Simulation
from simulator.traffic import TrafficSpec

# The module-scoped fixture (a collector, a browser or a long simulation) is set up once only if
# the module's tests stay on one xdist worker (make test runs --dist loadgroup).
pytestmark = pytest.mark.xdist_group("sim_stats")

Run = tuple[Simulation, Estimate]


def _run(config: SimConfig, seconds: float) -> Run:
    sink = ListSink()
    sim = Simulation(config, sink)
    sim.run_until(seconds)
    sim.finish()
    est = estimate([(t, d) for t, _, d in sink.datagrams], topology_json(sim.fabric))
    return sim, est


@pytest.fixture(scope="module")
def twenty_seconds() -> Run:
    return _run(SimConfig(sampling_rate=20000, seed=3), 20.0)


def _within(estimate_value: float, var: float, truth: float, k: float = 5.0) -> None:
    sd = math.sqrt(var)
    assert abs(estimate_value - truth) <= k * sd + 1e-9, (estimate_value, truth, sd)


def test_edge_frames_and_bytes_match_the_truth(twenty_seconds: Run) -> None:
    sim, est = twenty_seconds
    tot = sim.truth.totals
    assert est.unmapped == 0
    assert est.edge_frames > 0
    _within(est.edge_frames, est.edge_frames_var, tot["edge"]["frames"])
    _within(est.edge_bytes, est.edge_bytes_var, tot["edge"]["bytes"])
    # and the error is small in relative terms with this many samples
    assert abs(est.edge_bytes / tot["edge"]["bytes"] - 1) < 0.03


def test_operations_match_the_truth(twenty_seconds: Run) -> None:
    sim, est = twenty_seconds
    truth_ops = sim.truth.totals["operations"]
    checked = 0
    for label, true_count in truth_ops.items():
        _within(est.operations[label], est.operations_var[label] or 20000.0**2, true_count)
        checked += 1
    assert checked >= 10
    assert set(est.operations) <= set(truth_ops)


def test_ecn_at_ingress_matches_the_truth(twenty_seconds: Run) -> None:
    sim, est = twenty_seconds
    truth = sim.truth.totals["ecn"]["ingress"]
    assert truth > 0
    _within(est.ecn_ingress, est.ecn_ingress_var, truth)


def test_emitted_counts_match_the_decoded_counts(twenty_seconds: Run) -> None:
    sim, est = twenty_seconds
    emitted = sim.truth.totals["emitted"]
    assert est.datagrams == emitted["datagrams"]
    assert est.flow_samples == emitted["flow_samples"]
    assert est.counter_samples == emitted["counter_samples"]
    assert est.drop_samples == emitted["drop_samples"]
    sampled = {k: v for k, v in emitted["flow_samples_by_operation"].items() if ":" in k}
    assert dict(est.sampled_operations) == sampled


def test_period_is_recovered_from_the_samples(twenty_seconds: Run) -> None:
    sim, est = twenty_seconds
    start = sim.config.start_time
    period = estimate_period(est.roce_edge_times, start + 1.0, start + 20.0)
    true_mean = sim.truth_header()["period"]["jobs"][0]["mean"]
    assert abs(true_mean - 0.5) < 0.05
    assert abs(period - true_mean) < 0.05 * true_mean, (period, true_mean)


def test_another_period_is_recovered() -> None:
    config = SimConfig(
        sampling_rate=50000, seed=5, traffic=TrafficSpec(period=1.2, duty=0.3, jitter=0.02)
    )
    sim, est = _run(config, 16.0)
    start = sim.config.start_time
    period = estimate_period(est.roce_edge_times, start + 1.0, start + 16.0)
    assert abs(period - 1.2) < 0.06, period

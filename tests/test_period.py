"""Period detection: the baseline, the compatible detector and our finer estimate, on synthetic
square and jittered waves fed as 100 ms buckets (time always passed in)."""

from __future__ import annotations

import math
import random

import pytest

from collector.aggregate.period import HIGH, LEARNING, LOW, NORMAL, Baseline, PeriodDetector

H = 1.0e6  # RoCE frames/s while "on"


def square_wave(
    period: float,
    seconds: float,
    *,
    duty: float = 0.5,
    jitter: float = 0.0,
    seed: int = 1,
    noise: float = 0.05,
    start: float = 0.37,
    amplitude: float = H,
) -> tuple[list[float], list[float]]:
    """100 ms buckets of an on/off wave (frames per bucket) and the true rising edges."""
    rng = random.Random(seed)
    n = round(seconds * 10)
    buckets = [0.0] * n
    rises: list[float] = []
    t = start
    while t < seconds:
        length = period * max(0.2, 1.0 + jitter * rng.gauss(0.0, 1.0))
        on_end = t + length * duty
        rises.append(t)
        for i in range(int(t * 10), min(n, int(on_end * 10) + 1)):
            lo, hi = max(t, i / 10), min(on_end, (i + 1) / 10)
            if hi > lo:
                buckets[i] += amplitude * (hi - lo)
        t += length
    if noise:
        buckets = [max(0.0, x * (1.0 + noise * rng.gauss(0.0, 1.0))) for x in buckets]
    return buckets, rises


def feed(
    detector: PeriodDetector, buckets: list[float], t0: float = 0.0, load: list[float] | None = None
) -> list[float]:
    """Observe the buckets in order and tick once a second with a 2 s-smoothed load; returns
    the compatible period after each tick."""
    smoothed: float | None = None if load is None else load[0]
    alpha = 1.0 - math.exp(-0.5)
    periods = []
    for i, frames in enumerate(buckets):
        detector.observe(t0 + i / 10, frames)
        if i % 10 == 9:
            rate = sum(buckets[i - 9 : i + 1])
            smoothed = rate if smoothed is None else smoothed + alpha * (rate - smoothed)
            now = t0 + (i + 1) / 10
            detector.tick(now, smoothed)
            periods.append(detector.period(now))
    return periods


def true_period(rises: list[float], until: float) -> float:
    rises = [r for r in rises if r < until]
    return (rises[-1] - rises[0]) / (len(rises) - 1)


# ---------------------------------------------------------------------------------------------
# Baseline


def test_baseline_learns_then_classifies() -> None:
    baseline = Baseline(window=5, sensitivity=2.0, repeat=2)
    for value in (10.0, 11.0, 9.0, 10.0, 10.0):
        assert baseline.statistics() is None
        assert baseline.check(value) == LEARNING
    stats = baseline.statistics()
    assert stats is not None
    assert stats.mean == pytest.approx(10.0)
    assert stats.variance == pytest.approx(0.4)
    assert stats.sdev == pytest.approx(math.sqrt(0.4))
    assert (stats.min, stats.max) == (9.0, 11.0)
    assert baseline.check(10.5) == NORMAL
    # One outlier is reported normal and kept out of the window
    assert baseline.check(100.0) == NORMAL
    assert baseline.statistics().max == 11.0  # type: ignore[union-attr]
    # A normal value in between breaks the run
    assert baseline.check(10.0) == NORMAL
    assert baseline.check(100.0) == NORMAL
    assert baseline.check(100.0) == HIGH  # repeat 2: confirmed, and learned
    assert baseline.statistics().max == 100.0  # type: ignore[union-attr]


def test_baseline_low_and_reset() -> None:
    baseline = Baseline(window=3, sensitivity=2.0, repeat=2)
    for value in (10.0, 10.5, 9.5):
        baseline.check(value)
    assert baseline.check(0.0) == NORMAL
    assert baseline.check(0.0) == LOW
    baseline.reset()
    assert baseline.learning and baseline.count == 0
    assert baseline.check(5.0) == LEARNING


def test_baseline_opposite_sides_do_not_add_up() -> None:
    baseline = Baseline(window=3, sensitivity=1.0, repeat=2)
    for value in (10.0, 11.0, 9.0):
        baseline.check(value)
    assert baseline.check(50.0) == NORMAL
    assert baseline.check(-50.0) == NORMAL  # the other side: a new run
    assert baseline.check(-50.0) == LOW


# ---------------------------------------------------------------------------------------------
# The detector


@pytest.mark.parametrize("period", [1.0, 0.5])
@pytest.mark.parametrize("jitter", [0.0, 0.05, 0.1])
def test_compatible_period_of_square_waves(period: float, jitter: float) -> None:
    seconds = 60.0 + 25 * period
    buckets, rises = square_wave(
        period, seconds, jitter=jitter, seed=int(period * 10 + jitter * 100)
    )
    detector = PeriodDetector()
    periods = feed(detector, buckets)
    truth = true_period(rises, seconds)
    state = detector.state(seconds)
    assert state.compatible.mean == pytest.approx(truth, rel=0.05)
    reported = [p for p in periods[40:] if p]
    assert reported, "never valid"
    assert all(abs(p / truth - 1) < 0.1 for p in reported)
    assert state.fine.mean == pytest.approx(truth, rel=0.05)


@pytest.mark.parametrize("period", [1.0, 0.5, 0.3])
@pytest.mark.parametrize("jitter", [0.05, 0.2])
def test_fine_period_within_ten_percent(period: float, jitter: float) -> None:
    seconds = 60.0
    buckets, rises = square_wave(period, seconds, jitter=jitter, seed=7)
    detector = PeriodDetector()
    feed(detector, buckets)
    state = detector.state(seconds)
    assert state.fine.valid
    assert state.fine.period == pytest.approx(true_period(rises, seconds), rel=0.1)
    assert state.fine.cycles > 50
    assert 0 < state.fine.cv < 0.5


def test_short_period_only_the_fine_estimate_resolves() -> None:
    """0.3 s on/off 50 %: 0.15 s below threshold is shorter than the 0.2 s re-arm of the
    reference, which misses crossings; the raw-bucket estimate resolves it."""
    buckets, _rises = square_wave(0.3, 60.0, noise=0.02)
    detector = PeriodDetector()
    feed(detector, buckets)
    state = detector.state(60.0)
    assert state.fine.period == pytest.approx(0.3, rel=0.03)
    assert state.compatible.period == 0.0 or state.compatible.period > 0.4


def test_fine_is_sharper_than_compatible_at_half_a_second() -> None:
    buckets, _rises = square_wave(0.512, 80.0, noise=0.0)
    detector = PeriodDetector()
    feed(detector, buckets)
    state = detector.state(80.0)
    assert abs(state.fine.mean - 0.512) <= abs(state.compatible.mean - 0.512) + 0.002
    assert state.fine.mean == pytest.approx(0.512, abs=0.003)


def test_learning_reads_zero() -> None:
    buckets, _ = square_wave(0.5, 40.0)
    detector = PeriodDetector()
    periods = feed(detector, buckets)
    # 20 s of load learning, then 20 intervals (~10 s): nothing before 30 s
    assert periods[:29] == [0.0] * 29
    fresh = PeriodDetector()
    state = fresh.state(0.0)
    assert state.compatible.learning and state.fine.learning
    assert state.compatible.period == 0.0 and not state.compatible.valid
    assert state.baseline_load is None and state.baseline_period is None
    assert fresh.load_status == LEARNING


def test_traffic_stopping_goes_to_zero_after_staleness() -> None:
    buckets, _ = square_wave(0.5, 60.0)
    detector = PeriodDetector()
    periods = feed(detector, buckets)
    assert periods[-1] == pytest.approx(0.5, rel=0.1)
    last = detector.compatible.last
    assert last is not None
    silence = feed(detector, [0.0] * 100, t0=60.0, load=[periods[-1] and 0.0])
    # reported until now - last crossing >= 10 means (5 s), then 0
    for second, value in enumerate(silence, start=61):
        if second - last < 0.5 * 10 - 0.6:
            assert value > 0, second
        elif second - last >= 0.5 * 10 + 0.1:
            assert value == 0.0, second
    assert detector.threshold == 0.0  # the load step removed the threshold
    assert detector.state(70.0).fine.period == 0.0


def test_step_change_resets_the_load_baseline_and_relearns() -> None:
    low, _ = square_wave(0.5, 40.0, amplitude=H, seed=3)
    high, _ = square_wave(0.5, 60.0, amplitude=4 * H, seed=4, start=0.1)
    detector = PeriodDetector()
    feed(detector, low)
    first = detector.threshold
    assert first == pytest.approx(H / 2, rel=0.1)
    statuses = []
    smoothed = None
    alpha = 1.0 - math.exp(-0.5)
    for i, frames in enumerate(high):
        detector.observe(40.0 + i / 10, frames)
        if i % 10 == 9:
            rate = sum(high[i - 9 : i + 1])
            smoothed = sum(low[-10:]) if smoothed is None else smoothed
            smoothed += alpha * (rate - smoothed)
            detector.tick(40.0 + (i + 1) / 10, smoothed)
            statuses.append(detector.load_status)
    assert HIGH in statuses[:5]
    assert LEARNING in statuses
    assert detector.threshold == pytest.approx(4 * H / 2, rel=0.1)
    assert detector.period(100.0) == pytest.approx(0.5, rel=0.1)


def test_misses_recompute_the_threshold() -> None:
    detector = PeriodDetector()
    for seed in range(20):  # a run that ends with a threshold and a known period
        detector = PeriodDetector()
        feed(detector, square_wave(0.5, 60.0, seed=seed)[0])
        if detector.threshold > 0 and detector.compatible.last is not None:
            break
    assert detector.compatible.mean_seconds() == pytest.approx(0.5, rel=0.1)
    threshold = detector.threshold
    # A flat load just under the threshold: no crossings. After 4 periods (2 s) the threshold
    # is set again and the last crossing forgotten, so the period reads 0.
    for i in range(40):
        detector.observe(60.0 + i / 10, threshold / 10 * 0.999)
        if i % 10 == 9:
            detector.tick(60.0 + (i + 1) / 10, threshold)
    assert detector.compatible.last is None
    assert detector.period(64.0) == 0.0


def test_state_carries_the_reference_fields() -> None:
    buckets, _ = square_wave(0.5, 50.0)
    detector = PeriodDetector()
    feed(detector, buckets)
    state = detector.state(50.0)
    assert state.value > 0
    assert state.threshold == pytest.approx(H / 2, rel=0.1)
    assert state.baseline_load is not None
    assert set(state.baseline_load.as_dict()) == {"mean", "variance", "sdev", "min", "max"}
    assert state.baseline_period is not None
    assert state.baseline_period.mean == pytest.approx(500, rel=0.1)  # ms

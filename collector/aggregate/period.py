"""Compute/exchange period detection, the ai-metrics way, plus a finer estimate of our own.

Pure: no clock is read, every time is passed in (seconds, float). Two inputs:

* ``observe(t, frames)`` once per consecutive 100 ms bucket starting at ``t``: the RoCEv2 frames
  (already scaled by the sampling rate) that entered the fabric during the bucket;
* ``tick(now, load)`` once a second with the RoCEv2 frame rate (frames/s) smoothed over ~2 s.

The compatible algorithm (sFlow-RT ai-metrics, docs/compat.md):

1. A *load* baseline (window 20 one-second values, 2 sigma, repeat 2) learns the usual load. When
   it reports ``normal`` and there is no threshold yet, or the threshold left the baseline's
   [min, max], or crossings stopped for ``misses`` periods, the threshold becomes the baseline
   mean and the last crossing is forgotten. ``high``/``low`` (a step change: a job starts or
   stops) removes the threshold and sends the load baseline back to learning.
2. The 100 ms buckets, smoothed with a 100 ms time constant, are compared with the threshold;
   an upward crossing is an event, and the trigger re-arms once the smoothed rate has stayed
   below the threshold for ``threshold_t`` (0.2 s).
3. Intervals between events (ms) feed a *period* baseline (window 20 cycles, 2 sigma, repeat 2).
   The period is its mean in seconds when sdev/mean < ``cv`` and the last crossing is more
   recent than ``stale`` means; otherwise 0.

Ours, beside it (the same threshold and gating): upward crossings found on the raw 100 ms
buckets, with the crossing time interpolated linearly between bucket centres and re-armed as
soon as one bucket falls below the threshold. Bucket values of a square wave are linear in the
part of the bucket that is "on", so interpolation recovers an edge to within ~10 ms, and without
the 0.2 s re-arm periods down to ~0.25 s resolve (the compatible one needs more than ~0.4 s).
Also exported: validity, cycle count and coefficient of variation.

Clock: staleness and misses are measured against the end of the newest bucket observed (the
"data clock"), which trails wall time by the aggregator's lateness allowance; before any
bucket arrives, ``now`` is used.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final

LEARNING: Final = "learning"
NORMAL: Final = "normal"
HIGH: Final = "high"
LOW: Final = "low"

BUCKET_SECONDS: Final = 0.1
MIN_FINE_BUCKETS: Final = 20  # 2 s of data before the fine threshold is used
SIGNAL_BUCKETS: Final = 100  # the fast rate's last 10 s, kept for the UI's periodicity view


@dataclass(frozen=True, slots=True)
class PeriodParams:
    """The detector's settings; defaults are ai-metrics' (docs/compat.md)."""

    flow_fast: float = 0.1  # smoothing of the fast RoCE frame rate (s)
    threshold_t: float = 0.2  # re-arm hysteresis (s)
    load_window: int = 20
    load_sensitivity: float = 2.0
    load_repeat: int = 2
    period_window: int = 20
    period_sensitivity: float = 2.0
    period_repeat: int = 2
    misses: float = 4.0
    stale: float = 10.0
    cv: float = 0.5


@dataclass(frozen=True, slots=True)
class BaselineStats:
    """Statistics of a baseline's window (population variance)."""

    mean: float
    variance: float
    sdev: float
    min: float
    max: float

    def as_dict(self) -> dict[str, float]:
        """JSON form, sFlow-RT's field names."""
        return {
            "mean": self.mean,
            "variance": self.variance,
            "sdev": self.sdev,
            "min": self.min,
            "max": self.max,
        }


class Baseline:
    """A sliding-window baseline: learning until ``window`` values arrived, then each value is
    checked against mean ± ``sensitivity`` × sdev of the window.

    A value inside the band is ``normal`` and joins the window (the oldest leaves). A value
    outside it is held back; ``repeat`` consecutive ones on the same side are reported ``high``
    or ``low`` and then join the window (so a lasting change is learned), fewer are reported
    ``normal`` and forgotten (one outlier, such as a missed crossing, does not skew the mean).
    """

    def __init__(self, window: int, sensitivity: float, repeat: int) -> None:
        self.window = max(1, window)
        self.sensitivity = sensitivity
        self.repeat = max(1, repeat)
        self._values: deque[float] = deque(maxlen=self.window)
        self._pending: list[float] = []
        self._side = 0

    def reset(self) -> None:
        """Back to learning."""
        self._values.clear()
        self._pending = []
        self._side = 0

    @property
    def count(self) -> int:
        """Values in the window."""
        return len(self._values)

    @property
    def learning(self) -> bool:
        """True until the window is full."""
        return len(self._values) < self.window

    def statistics(self) -> BaselineStats | None:
        """Mean, variance, sdev, min, max of the window; None while learning."""
        if self.learning:
            return None
        return _stats(self._values)

    def check(self, value: float) -> str:
        """Classify ``value``: learning, normal, high or low (and learn from it)."""
        if self.learning:
            self._values.append(value)
            return LEARNING
        stats = _stats(self._values)
        band = self.sensitivity * stats.sdev
        side = 1 if value > stats.mean + band else -1 if value < stats.mean - band else 0
        if side == 0:
            self._pending = []
            self._side = 0
            self._values.append(value)
            return NORMAL
        if side != self._side:
            self._pending = []
            self._side = side
        self._pending.append(value)
        if len(self._pending) < self.repeat:
            return NORMAL
        self._values.extend(self._pending)
        self._pending = []
        self._side = 0
        return HIGH if side > 0 else LOW


def _stats(values: deque[float]) -> BaselineStats:
    n = len(values)
    mean = sum(values) / n
    variance = sum((v - mean) ** 2 for v in values) / n
    return BaselineStats(mean, variance, math.sqrt(variance), min(values), max(values))


@dataclass(frozen=True, slots=True)
class PeriodEstimate:
    """One period estimate (seconds) with its quality figures."""

    period: float  # reported value: 0 unless valid
    valid: bool
    mean: float  # mean interval (s), even when not valid; 0 while learning
    cv: float  # sdev / mean of the intervals; 0 while learning
    cycles: int  # intervals measured since the detector started
    learning: bool


@dataclass(frozen=True, slots=True)
class PeriodState:
    """Everything the period endpoint and the metrics show."""

    value: float  # current fast (100 ms smoothed) RoCE frame rate, frames/s
    threshold: float
    load_status: str
    baseline_load: BaselineStats | None
    baseline_period: BaselineStats | None  # intervals in ms, like sFlow-RT
    compatible: PeriodEstimate
    fine: PeriodEstimate
    last_crossing: float | None
    # (bucket end s, fast rate frames/s) of the last SIGNAL_BUCKETS buckets: what the
    # threshold is compared with, at its own 100 ms resolution
    signal: tuple[tuple[float, float], ...] = ()


class _Estimator:
    """Intervals between crossings into a baseline; the reporting rule of the reference."""

    def __init__(self, params: PeriodParams) -> None:
        self.params = params
        self.baseline = Baseline(
            params.period_window, params.period_sensitivity, params.period_repeat
        )
        self.last: float | None = None
        self.cycles = 0

    def crossing(self, t: float) -> None:
        """An upward threshold crossing at ``t``."""
        if self.last is None:
            self.last = t
            return
        interval = t - self.last
        self.last = t
        if interval > 0:
            self.cycles += 1
            self.baseline.check(interval * 1000.0)

    def mean_seconds(self) -> float | None:
        stats = self.baseline.statistics()
        return None if stats is None else stats.mean / 1000.0

    def estimate(self, clock: float) -> PeriodEstimate:
        stats = self.baseline.statistics()
        if stats is None or stats.mean <= 0:
            return PeriodEstimate(0.0, False, 0.0, 0.0, self.cycles, True)
        mean = stats.mean / 1000.0
        cv = stats.sdev / stats.mean
        fresh = self.last is not None and clock - self.last < mean * self.params.stale
        valid = cv < self.params.cv and fresh
        return PeriodEstimate(mean if valid else 0.0, valid, mean, cv, self.cycles, False)


class PeriodDetector:
    """The detector; see the module docstring."""

    def __init__(self, params: PeriodParams | None = None) -> None:
        self.params = params = params or PeriodParams()
        self.load = Baseline(params.load_window, params.load_sensitivity, params.load_repeat)
        self.load_status = LEARNING
        self.threshold = 0.0
        self.compatible = _Estimator(params)
        self.fine = _Estimator(params)
        self._alpha = 1.0 - math.exp(-BUCKET_SECONDS / params.flow_fast)
        self._fast: float | None = None  # smoothed rate, frames/s
        self._armed = True
        self._below_since: float | None = None
        self._fine_armed = True
        self._previous_raw: float | None = None  # rate of the previous bucket
        self._recent: deque[float] = deque(
            maxlen=max(1, round(params.load_window / BUCKET_SECONDS))
        )
        self._recent_sum = 0.0
        self.fine_threshold = 0.0
        self._data_end: float | None = None
        self._signal: deque[tuple[float, float]] = deque(maxlen=SIGNAL_BUCKETS)

    # -----------------------------------------------------------------------------------------

    def _clock(self, now: float) -> float:
        return self._data_end if self._data_end is not None else now

    def observe(self, t: float, frames: float) -> None:
        """One 100 ms bucket starting at ``t`` holding ``frames`` RoCEv2 frames."""
        rate = frames / BUCKET_SECONDS
        end = t + BUCKET_SECONDS
        threshold = self.threshold
        # --- compatible: exponentially smoothed rate, crossing interpolated within the step
        old = self._fast
        new = rate if old is None else old + self._alpha * (rate - old)
        self._fast = new
        self._signal.append((end, new))
        if threshold > 0 and old is not None:
            if new > threshold >= old:
                crossed = t + BUCKET_SECONDS * (threshold - old) / (new - old)
                below = self._below_since
                if self._armed or (
                    below is not None and crossed - below >= self.params.threshold_t - 1e-9
                ):
                    self._armed = False
                    self.compatible.crossing(crossed)
                self._below_since = None
            elif new <= threshold < old:
                self._below_since = t + BUCKET_SECONDS * (old - threshold) / (old - new)
        # --- fine: raw buckets against their own running mean (no re-learning after a step),
        # crossing interpolated between bucket centres
        recent = self._recent
        if len(recent) == recent.maxlen:
            self._recent_sum -= recent[0]
        recent.append(rate)
        self._recent_sum += rate
        if len(recent) >= MIN_FINE_BUCKETS:
            self.fine_threshold = max(0.0, self._recent_sum / len(recent))
        threshold = self.fine_threshold
        previous = self._previous_raw
        self._previous_raw = rate
        if threshold > 0 and previous is not None:
            if rate <= threshold:
                self._fine_armed = True
            elif previous <= threshold and self._fine_armed:
                centre = t + BUCKET_SECONDS / 2
                crossed = (
                    centre
                    - BUCKET_SECONDS
                    + BUCKET_SECONDS * ((threshold - previous) / (rate - previous))
                )
                self._fine_armed = False
                self.fine.crossing(crossed)
        self._data_end = end

    def tick(self, now: float, load: float) -> None:
        """Once a second: check the load baseline and move the threshold."""
        status = self.load.check(load)
        self.load_status = status
        if status == NORMAL:
            stats = self.load.statistics()
            assert stats is not None
            clock = self._clock(now)
            period = self.compatible.mean_seconds()
            last = self.compatible.last
            missed = (
                last is not None
                and period is not None
                and clock - last > period * self.params.misses
            )
            if self.threshold <= 0 or not stats.min <= self.threshold <= stats.max or missed:
                self._set_threshold(stats.mean)
        elif status in (HIGH, LOW):
            # The reference removes the threshold but keeps the last crossing: the period
            # stays reported until it goes stale.
            self.threshold = 0.0
            self._armed = True
            self._below_since = None
            self.load.reset()

    def _set_threshold(self, value: float) -> None:
        self.threshold = value
        self.compatible.last = None
        self._armed = True
        self._below_since = None

    # -----------------------------------------------------------------------------------------

    def period(self, now: float) -> float:
        """The compatible value: seconds, or 0 when not valid."""
        return self.compatible.estimate(self._clock(now)).period

    def state(self, now: float) -> PeriodState:
        """Everything, for the JSON endpoint and the metrics."""
        clock = self._clock(now)
        return PeriodState(
            value=self._fast or 0.0,
            threshold=self.threshold,
            load_status=self.load_status,
            baseline_load=self.load.statistics(),
            baseline_period=self.compatible.baseline.statistics(),
            compatible=self.compatible.estimate(clock),
            fine=self.fine.estimate(clock),
            last_crossing=self.compatible.last,
            signal=tuple(self._signal),
        )

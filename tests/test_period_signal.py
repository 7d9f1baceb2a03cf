"""The fast RoCE signal in ``period/json``: the 100 ms smoothed rate the threshold is compared
with, for the UI's periodicity view (checked against an independent exponential average)."""

from __future__ import annotations

import json
import math

import pytest

from collector.aggregate.period import SIGNAL_BUCKETS, PeriodDetector, PeriodParams
from collector.compat.face import period_json


def test_signal_is_the_fast_rate_of_the_last_buckets() -> None:
    params = PeriodParams()
    detector = PeriodDetector(params)
    alpha = 1.0 - math.exp(-0.1 / params.flow_fast)
    expected: list[tuple[float, float]] = []
    fast: float | None = None
    buckets = 150  # more than the signal keeps
    for i in range(buckets):
        frames = 2.0e5 if (i // 3) % 2 == 0 else 0.0  # 0.3 s on, 0.3 s off
        rate = frames / 0.1
        fast = rate if fast is None else fast + alpha * (rate - fast)
        detector.observe(1000.0 + i / 10, frames)
        expected.append((1000.0 + i / 10 + 0.1, fast))
    signal = detector.state(1016.0).signal
    assert len(signal) == SIGNAL_BUCKETS
    kept = expected[-SIGNAL_BUCKETS:]
    assert [t for t, _ in signal] == pytest.approx([t for t, _ in kept])
    assert [v for _, v in signal] == pytest.approx([v for _, v in kept])
    assert signal[-1][1] == pytest.approx(detector.state(1016.0).value)

    document = period_json(detector.state(1016.0))["fabricscope"]["signal"]
    assert document["times"][0] == round(kept[0][0] * 1000)
    assert document["times"][-1] == 1015000  # the end of bucket 149
    assert document["values"] == pytest.approx([v for _, v in kept])
    json.dumps(document, allow_nan=False)


def test_no_signal_before_any_bucket() -> None:
    document = period_json(PeriodDetector().state(5.0))["fabricscope"]["signal"]
    assert document == {"times": [], "values": []}

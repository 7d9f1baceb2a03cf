"""The generator's memory at 1,000 switches stays under 1 GiB (slow: minutes of CPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "simulate.py"


@pytest.mark.slow
def test_thousand_switch_fabric_under_one_gib() -> None:
    out = subprocess.run(
        [sys.executable, str(BENCH), "--child", "memory", "1.0"],
        capture_output=True,
        text=True,
        check=True,
        timeout=1800,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["switches"] == 1000 and result["ports"] >= 64_000
    assert result["flow_samples"] > 0
    assert result["peak_rss_mib"] < 1024, result

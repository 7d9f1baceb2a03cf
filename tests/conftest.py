"""Shared pytest configuration: Hypothesis profiles.

``dev`` (default) keeps the local suite quick; ``ci`` is bounded and reproducible. Choose with
``HYPOTHESIS_PROFILE=ci`` or pytest's ``--hypothesis-profile=ci``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=300,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


# CI installs tshark, Prometheus, VictoriaMetrics, Chromium, Graphviz and the compiled fast path
# and has the shared captures beside the repo; there a test that would skip for want of one of them
# must fail instead, so a broken install step can never pass as a green run.
_REQUIRED_SKIP = re.compile(
    r"tshark|mergecap|promtool|prometheus|shared|compiled fast path"
    r"|chromium|playwright|victoria|hadolint|check-jsonschema|graphviz"
)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under FABRICSCOPE_REQUIRE_TOOLS=1 a skip for a missing tool or shared data fails."""
    outcome = yield
    report = outcome.get_result()
    if not report.skipped or os.environ.get("FABRICSCOPE_REQUIRE_TOOLS") != "1":
        return
    reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    if _REQUIRED_SKIP.search(reason):
        report.outcome = "failed"
        report.longrepr = f"required by FABRICSCOPE_REQUIRE_TOOLS=1 but skipped: {reason}"

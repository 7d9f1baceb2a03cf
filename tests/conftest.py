"""Shared pytest configuration: Hypothesis profiles.

``dev`` (default) keeps the local suite quick; ``ci`` is bounded and reproducible. Choose with
``HYPOTHESIS_PROFILE=ci`` or pytest's ``--hypothesis-profile=ci``.
"""

from __future__ import annotations

import os

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

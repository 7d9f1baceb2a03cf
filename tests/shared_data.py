"""Where the shared test data lives (captures, vectors, expected.json); never copied into the repo.

Default: ``<repo>/../shared`` (the directory next to the checkout). ``FABRICSCOPE_SHARED`` points
somewhere else. Tests call ``captures_dir()`` / ``vectors_dir()`` / ``expected()``, which skip the
test with the reason when the data is not there.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest

ENV_VAR = "FABRICSCOPE_SHARED"
REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """The shared data directory (it may not exist)."""
    override = os.environ.get(ENV_VAR)
    return Path(override) if override else REPO.parent / "shared"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared test data not found at {path} (set {ENV_VAR} to the shared dir)")
    return path


def captures_dir() -> Path:
    """``shared/captures``; skips the calling test when absent."""
    return _require(shared_dir() / "captures")


def vectors_dir() -> Path:
    """``shared/captures/vectors`` (raw sFlow datagrams); skips the calling test when absent."""
    return _require(shared_dir() / "captures" / "vectors")


def capture(name: str) -> Path:
    """One capture file; skips the calling test when absent."""
    return _require(shared_dir() / "captures" / name)


def vector(name: str) -> bytes:
    """The bytes of one raw datagram vector; skips the calling test when absent."""
    return _require(shared_dir() / "captures" / "vectors" / name).read_bytes()


@cache
def _load_expected(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def expected_path() -> Path:
    """``captures/expected.json`` without skipping (for parametrizing at collection time)."""
    return shared_dir() / "captures" / "expected.json"


def expected() -> dict[str, Any]:
    """The parsed ``expected.json`` (ground truth per capture); skips when absent."""
    return _load_expected(_require(expected_path()))


def expected_or_empty() -> dict[str, Any]:
    """``expected.json`` or ``{}`` when absent; for collection-time parametrization."""
    path = expected_path()
    return _load_expected(path) if path.exists() else {}

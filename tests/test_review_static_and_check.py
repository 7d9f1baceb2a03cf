"""Review findings: odd input to the static-file route and to ``topology check``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from collector.ui_api import static_file
from topology.check import check_text, parse_live
from topology.model import TopologyError

ROOT = Path(__file__).resolve().parent.parent


def test_static_file_with_a_name_too_long_for_the_filesystem_is_not_found(tmp_path: Path) -> None:
    """A /static/ path longer than NAME_MAX (255 bytes on Linux) is simply not a file."""
    (tmp_path / "app.js").write_text("x")
    assert static_file(tmp_path, "a" * 300) is None
    assert static_file(tmp_path, "d/" * 2500 + "f") is None  # longer than PATH_MAX in all
    assert static_file(tmp_path, "app.js") == (tmp_path / "app.js").resolve()

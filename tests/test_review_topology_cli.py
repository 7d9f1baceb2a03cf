"""Review findings in the topology commands: inputs whose size the file system does not tell."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ADDRESS_SPACE = 1 << 30  # 1 GiB: far above the 64 MiB input bound, far below "everything"


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _fabricscope(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        preexec_fn=_limit_memory,
    )


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (("topology", "import", "--from", "netq", "/dev/zero"), 1),
        (("topology", "check", "/dev/zero"), 2),
    ],
    ids=["import", "check"],
)
def test_an_endless_input_stops_at_the_size_bound(args: tuple[str, ...], status: int) -> None:
    """A device or pipe reports size 0, so its size must be bounded while reading it: an endless
    one is refused as too large, with one line naming it, instead of read until memory runs out."""
    done = _fabricscope(*args)
    assert done.returncode == status, done.stderr[-500:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "/dev/zero" in lines[0] and "larger than" in lines[0], lines

"""Review findings in the topology commands: inputs whose size the file system does not tell."""

from __future__ import annotations

import io
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from collector.cli.topology_files import write_output

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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_output_file_gets_the_mode_a_plain_write_would_give(tmp_path: Path) -> None:
    """-o replaces the file atomically, through a temporary file that mkstemp creates 0600: the
    result must still be readable by others as open() would make it (a collector running as
    another user reloads it), and a file that existed keeps its own mode."""
    new = tmp_path / "new.json"
    write_output(str(new), "{}\n", io.StringIO())
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~_umask()
    existing = tmp_path / "existing.json"
    existing.write_text("old\n")
    existing.chmod(0o640)
    write_output(str(existing), "{}\n", io.StringIO())
    assert existing.read_text() == "{}\n"
    assert stat.S_IMODE(existing.stat().st_mode) == 0o640

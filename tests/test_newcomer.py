"""The newcomer path: a fresh clone, the README's run command, data within 30 seconds.

The repository's HEAD is cloned into a temporary directory; ``make venv`` (the first half of
``make run``: a fresh ``.venv`` with ``pip install -e '.[dev]'``) runs under a time bound, then
``make run`` itself starts ``fabricscope demo`` on free ports (``RUN_ARGS``). Once the collector
answers ``/healthz``, ``sflow_ai_bps`` on the sFlow-RT compatible path must be above 0 within 30 s.

The other half of the newcomer path, "the README's test command passes", is what CI itself does:
``.ci/run`` runs ``make test`` on a fresh clone, so it is not repeated here.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from collector.http.ai_metrics import AI_METRICS_BASE
from tests.e2e_support import ROOT

pytestmark = pytest.mark.slow

VENV_TIMEOUT = 600.0  # pip install of the dev extras; about a minute with a warm index
HEALTHZ_TIMEOUT = 60.0
DATA_TIMEOUT = 30.0  # the promise: non-zero sflow_ai_bps within 30 s of the collector answering
# pip's words for an index it could not reach (as opposed to a broken requirement)
_UNREACHABLE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Temporary failure in name resolution"
    r"|Network is unreachable|ConnectTimeoutError|ProxyError|Name or service not known"
)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _clean_env() -> dict[str, str]:
    """The environment of someone who just cloned: nothing pointing into this checkout or venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV", "MAKEFLAGS", "MFLAGS", "MAKELEVEL")
        and not k.startswith("FABRICSCOPE_")
    }
    # Fail fast, not after minutes of retries, when the package index cannot be reached.
    env.update(PIP_DEFAULT_TIMEOUT="20", PIP_RETRIES="1")
    # The plain-Python fast path: compiling it costs about a minute of CPU here, and CI's own
    # `make test` builds and tests the compiled path in its fresh venv on every run.
    env["FABRICSCOPE_PURE"] = "1"
    return env


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return str(r.read().decode())
    except (urllib.error.URLError, OSError):
        return None


def _bps(text: str | None) -> float:
    found = re.search(r"^sflow_ai_bps (\S+)$", text or "", re.M)
    return float(found.group(1)) if found else 0.0


def _stop_group(process: subprocess.Popen[str]) -> str:
    """SIGINT the whole process group (make, demo, collector), as Ctrl+C would; then kill."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            out, _ = process.communicate(timeout=20)
            return out
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
    out, _ = process.communicate()
    return out


def test_fresh_clone_make_run_serves_non_zero_bps(tmp_path: Path) -> None:
    for tool in ("git", "make"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
    clone = tmp_path / "fabricscope"
    subprocess.run(
        ["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, timeout=120
    )  # HEAD of the current branch: what a newcomer gets
    env = _clean_env()

    try:
        venv = subprocess.run(
            ["make", "venv"], cwd=clone, env=env, capture_output=True, text=True,
            timeout=VENV_TIMEOUT,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        pytest.fail(f"make venv took more than {VENV_TIMEOUT:.0f} s")
    if venv.returncode != 0:
        log = venv.stdout + venv.stderr
        unreachable = _UNREACHABLE.search(log)
        if unreachable:
            pytest.skip(f"package index unreachable ({unreachable.group()})")
        pytest.fail("make venv failed:\n" + log[-3000:])

    http_port, sflow_port = _free_port(socket.SOCK_STREAM), _free_port(socket.SOCK_DGRAM)
    run = subprocess.Popen(
        ["make", "run", f"RUN_ARGS=--http-port {http_port} --sflow-port {sflow_port}"],
        cwd=clone, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,  # its own process group: make, demo and the collector
    )  # fmt: skip
    base = f"http://127.0.0.1:{http_port}"
    bps = 0.0
    try:
        deadline = time.monotonic() + HEALTHZ_TIMEOUT
        while _get(f"{base}/healthz") is None:
            assert run.poll() is None, "make run exited before the collector answered"
            assert time.monotonic() < deadline, "the collector never answered /healthz"
            time.sleep(0.2)
        deadline = time.monotonic() + DATA_TIMEOUT
        while time.monotonic() < deadline:
            bps = _bps(_get(f"{base}{AI_METRICS_BASE}/prometheus/txt"))
            if bps > 0:
                break
            time.sleep(0.5)
    finally:
        output = _stop_group(run)
    assert bps > 0, f"sflow_ai_bps still 0 after {DATA_TIMEOUT:.0f} s:\n{output[-3000:]}"
    assert f"localhost:{http_port}/" in output  # the demo told where to look

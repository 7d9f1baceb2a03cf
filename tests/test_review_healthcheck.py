"""Review finding: the container health check must reach the collector directly."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

HEALTHCHECK = Path(__file__).resolve().parent.parent / "docker" / "healthcheck.py"


class _Healthz(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def healthz_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Healthz)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _probe(port: int, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(FABRICSCOPE_HTTP_BIND=f"127.0.0.1:{port}", **extra_env)
    return subprocess.run(
        [sys.executable, str(HEALTHCHECK)],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_healthcheck_passes_against_a_healthy_server(healthz_port: int) -> None:
    done = _probe(healthz_port)
    assert done.returncode == 0, done.stderr


def test_healthcheck_ignores_proxy_variables(healthz_port: int) -> None:
    """An image run behind a corporate proxy (HTTP_PROXY set, no NO_PROXY) still probes the
    collector on loopback, not the proxy: here a proxy address where nothing listens."""
    dead = "http://127.0.0.1:9"  # discard port: nothing listens there
    done = _probe(healthz_port, http_proxy=dead, HTTP_PROXY=dead)
    assert done.returncode == 0, done.stderr

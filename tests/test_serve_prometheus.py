"""A real Prometheus server scrapes ``serve`` on loopback; values are read back over its API."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.e2e_support import terminate
from tests.fabric_builders import LEAF1, LEAF1_EDGE, datagram, flow, wire, write_first
from tests.test_serve import _send, _start, _stop

pytestmark = pytest.mark.skipif(
    shutil.which("prometheus") is None or shutil.which("promtool") is None,
    reason="Debian prometheus not installed",
)
QUERY_TIMEOUT = 40.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _query(port: int, expr: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        body = json.load(response)
    assert body["status"] == "success"
    result: list[dict[str, object]] = body["data"]["result"]
    return result


def test_prometheus_scrapes_and_promtool_checks(tmp_path: Path) -> None:
    served = _start(tmp_path, 1)
    prom_port = _free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: fabricscope\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{served.http_port}']\n"
    )
    prometheus = subprocess.Popen(
        [
            "prometheus",
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        payloads = [
            wire(datagram(LEAF1, seq, (flow(seq, LEAF1_EDGE, (write_first(),), rate=1000),)))
            for seq in range(1, 21)
        ]
        _send(served.sflow_port, payloads)
        assert served.wait_for("fabricscope_datagrams_total", 20) == 20
        _, text = served.get("/metrics")
        check = subprocess.run(
            ["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
        )
        assert check.returncode == 0, check.stderr.decode()
        deadline = time.monotonic() + QUERY_TIMEOUT
        values: dict[str, float] = {}
        wanted = {
            "fabricscope_fabric_ingress_frames_total": 20_000.0,
            "fabricscope_datagrams_total": 20.0,
            'fabricscope_rdma_operations_total{role="edge"}': 20_000.0,
        }
        while time.monotonic() < deadline and values != wanted:
            for expr in wanted:
                try:
                    result = _query(prom_port, expr)
                except OSError:
                    continue  # Prometheus still starting
                if result:
                    values[expr] = float(result[0]["value"][1])  # type: ignore[index]
            time.sleep(0.5)
        assert values == wanted
        up = _query(prom_port, 'up{job="fabricscope"}')
        assert float(up[0]["value"][1]) == 1.0  # type: ignore[index]
    finally:
        terminate(prometheus)
        _stop(served)

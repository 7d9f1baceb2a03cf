"""``fabricscope simulate`` / ``fabricscope demo`` end to end (loopback only, bounded)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from collector.cli.main import main
from decoders import decode_datagram
from simulator.output import read_pcap
from topology.model import load_topology

REPO = Path(__file__).resolve().parent.parent


def _free_port(family: int = socket.AF_INET, kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(family, kind) as s:
        s.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Receiver:
    """Counts UDP datagrams on loopback in a thread, for at most ``timeout`` seconds."""

    def __init__(self, family: int = socket.AF_INET, timeout: float = 30.0) -> None:
        self.sock = socket.socket(family, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("::1" if family == socket.AF_INET6 else "127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port: int = self.sock.getsockname()[1]
        self.datagrams: list[bytes] = []
        self.sources: list[int] = []  # source port of each datagram
        self._stop = threading.Event()
        self._deadline = time.monotonic() + timeout
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            try:
                data, source = self.sock.recvfrom(65535)
                self.datagrams.append(data)
                self.sources.append(source[1])
            except TimeoutError:
                continue

    def close(self) -> list[bytes]:
        time.sleep(0.3)
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        return self.datagrams


def test_simulate_pcap_truth_topology(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pcap, truth, topo = tmp_path / "a.pcap", tmp_path / "t.json", tmp_path / "topo.json"
    args = ["simulate", "--pcap", str(pcap), "--truth", str(truth), "--topology-out", str(topo)]
    args += ["--duration", "3", "--sampling-rate", "40000", "--seed", "4"]
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "samples/s" in err
    topology = load_topology(topo)
    assert len(topology.nodes) == 6 and len(topology.links) == 32
    doc = json.loads(truth.read_text())
    assert doc["format"] == "fabricscope-sim-truth/1"
    assert doc["seed"] == 4 and doc["duration"] == 3.0
    assert [s["second"] for s in doc["seconds"]] == [0, 1, 2]
    assert doc["fabric"]["switches"] == 6
    assert doc["period"]["configured"] == 0.5 and doc["period"]["jobs"][0]["cycles"]
    n = sum(1 for _ in read_pcap(str(pcap)))
    assert n == doc["totals"]["emitted"]["datagrams"] > 0
    again = tmp_path / "b.pcap"
    args[2] = str(again)
    assert main([*args[:3], "--duration", "3", "--sampling-rate", "40000", "--seed", "4"]) == 0
    assert again.read_bytes() == pcap.read_bytes()


@pytest.mark.parametrize(
    "extra",
    [
        ["--fault", "explode:leaf1"],
        ["--fault", "linkdown:nowhere"],
        ["--collective", "alltoall"],
        ["--leaves", "0"],
        ["--host-speed", "300"],
        ["--forever"],
        ["--drop-rate", "acl"],
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, extra: list[str]) -> None:
    assert main(["simulate", "--pcap", str(tmp_path / "x.pcap"), *extra]) == 2


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6])
def test_udp_send_is_paced_to_max_rate(family: int, capsys: pytest.CaptureFixture[str]) -> None:
    rx = Receiver(family)
    host = f"[::1]:{rx.port}" if family == socket.AF_INET6 else f"127.0.0.1:{rx.port}"
    t0 = time.monotonic()
    code = main(
        [
            "simulate",
            "--collector",
            host,
            "--duration",
            "2",
            "--sampling-rate",
            "100000",
            "--rate-scale",
            "0",
            "--max-rate",
            "400",
            "--quiet",
        ]
    )
    wall = time.monotonic() - t0
    got = rx.close()
    assert code == 0
    err = capsys.readouterr().err
    assert "achieved send rate" in err
    sent = int(err.split(" datagrams,")[0].rsplit(" ", 1)[1])
    assert len(got) == sent > 400
    assert wall >= 0.9 * (sent - 1) / 400  # never faster than the cap
    for d in got[:50]:
        decode_datagram(d)
    # each switch sends from a source port of its own, as real agents do
    ports_of: dict[str, set[int]] = {}
    for data, port in zip(got, rx.sources, strict=True):
        ports_of.setdefault(str(decode_datagram(data).agent), set()).add(port)
    assert len(ports_of) > 1 and all(len(ports) == 1 for ports in ports_of.values())
    assert len({next(iter(ports)) for ports in ports_of.values()}) == len(ports_of)


def test_real_time_pacing() -> None:
    rx = Receiver()
    t0 = time.monotonic()
    code = main(
        [
            "simulate",
            "--collector",
            f"127.0.0.1:{rx.port}",
            "--duration",
            "2",
            "--quiet",
            "--rate-scale",
            "4",
        ]
    )
    wall = time.monotonic() - t0
    got = rx.close()
    assert code == 0 and got
    assert wall >= 0.4  # 2 virtual seconds at 4× real time


def test_demo_without_collector(capsys: pytest.CaptureFixture[str]) -> None:
    rx = Receiver()
    code = main(["demo", "--no-collector", "--duration", "2", "--sflow-port", str(rx.port)])
    got = rx.close()
    assert code == 0 and got
    out = capsys.readouterr().out
    assert "simulating only" in out
    assert out.count("t=") == 2


def test_demo_runs_the_collector(tmp_path: Path) -> None:
    sflow, http = _free_port(), _free_port(kind=socket.SOCK_STREAM)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cmd = [sys.executable, "-m", "collector", "demo", "--duration", "6"]
    cmd += ["--sflow-port", str(sflow), "--http-port", str(http)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        body = ""
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=2) as r:
                    body = r.read().decode()
            except OSError:
                continue
            if "fabricscope_fabric_ingress_bytes_total " in body:
                break
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "fabricscope_fabric_ingress_bytes_total " in body, err.decode()[-2000:]
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"curl localhost:" in out
    assert f"web UI:   http://localhost:{http}/".encode() in out

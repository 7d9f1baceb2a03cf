"""End-to-end ``fabricscope serve`` over UDP and HTTP on 127.0.0.1, with 1 and 2 workers."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e_support import Served, start_serve
from tests.fabric_builders import (
    LEAF1,
    LEAF1_CORE,
    LEAF1_EDGE,
    TOPOLOGY,
    ack,
    counters,
    datagram,
    flow,
    if_counters,
    wire,
    write_first,
)

ROOT = Path(__file__).resolve().parent.parent


def _start(tmp_path: Path, workers: int, *extra: str, topology: object = TOPOLOGY) -> Served:
    path = None
    if topology is not None:
        path = tmp_path / "topology.json"
        path.write_text(json.dumps(topology))
    return start_serve(path, workers, *extra)


def _stop(served: Served) -> str:
    served.process.send_signal(signal.SIGTERM)
    try:
        _, err = served.process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        served.process.kill()
        raise
    assert served.process.returncode == 0, "".join(served.log) + err
    return err


@pytest.fixture(params=[1, 2], ids=["workers1", "workers2"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    s = _start(tmp_path, request.param)
    yield s
    if s.process.poll() is None:
        _stop(s)


def _send(port: int, payloads: list[bytes], sock: socket.socket | None = None) -> None:
    own = sock is None
    sock = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i, payload in enumerate(payloads):
        sock.sendto(payload, ("127.0.0.1", port))
        if i % 200 == 199:
            time.sleep(0.01)  # stay well below the receive buffer on a busy CI machine
    if own:
        sock.close()


def test_traffic_counters_and_health(served: Served) -> None:
    payloads = []
    for seq in range(1, 101):
        if seq == 50:
            continue  # one lost datagram
        samples = (
            flow(seq, LEAF1_EDGE, (write_first(),), rate=1000),
            flow(seq + 1000, LEAF1_CORE, (ack(),), rate=500),
        )
        payloads.append(wire(datagram(LEAF1, seq, samples)))
    _send(served.sflow_port, payloads)
    assert served.wait_for("fabricscope_datagrams_total", 99) == 99
    assert served.wait_for("fabricscope_agent_datagrams_total", 99, agent=LEAF1, sub_agent="0")
    m = served.value
    assert m("fabricscope_fabric_ingress_frames_total") == 99 * 1000
    assert m("fabricscope_fabric_ingress_bytes_total") == 99 * 1000 * 1086
    assert m("fabricscope_ingress_frames_total", role="core") == 99 * 500
    assert m("fabricscope_rdma_bytes_total", role="edge") == 99 * 1000 * 32768
    assert m("fabricscope_lost_datagrams_total") == 1
    assert m("fabricscope_lost_samples_total", kind="flow") == 2
    assert m("fabricscope_topology_loaded") == 1
    # every receiver reads its socket through a compiled reader's 32 MiB ring (the default)
    assert m("fabricscope_receive_ring_bytes") == m("fabricscope_workers") * 32 * 1024 * 1024
    assert m("fabricscope_receive_ring_full_total") == 0


def test_bad_datagrams_are_counted_and_good_ones_unaffected(served: Served) -> None:
    rng = random.Random(4)
    good = [
        wire(datagram(LEAF1, seq, (flow(seq, LEAF1_EDGE, (write_first(),)),)))
        for seq in range(1, 41)
    ]
    bad = [rng.randbytes(rng.randrange(0, 300)) for _ in range(40)]
    bad += [g[: rng.randrange(1, len(g) - 1)] for g in good[:20]]  # truncations
    bad += [b"\x00\x00\x00\x05\x00\x00\x00\x07" + rng.randbytes(40) for _ in range(10)]
    mixed = [p for pair in zip(good, bad, strict=False) for p in pair] + bad[len(good) :]
    _send(served.sflow_port, mixed)
    total = len(good) + len(bad)
    assert served.wait_for("fabricscope_datagrams_total", total) == total
    metrics = served.metrics()
    errors = sum(v for (n, _), v in metrics.items() if n == "fabricscope_decode_errors_total")
    assert errors == len(bad)
    assert served.value("fabricscope_fabric_ingress_frames_total") == 40 * 1000
    assert served.value("fabricscope_internal_errors_total") == 0


def test_agent_restart_and_counter_wrap(served: Served) -> None:
    payloads = []
    octets = 0
    packets = 2**32 - 5000
    for seq in range(1, 6):
        octets += 10**9
        packets = (packets + 2000) % 2**32
        sample = counters(
            seq,
            LEAF1_EDGE,
            (if_counters(LEAF1_EDGE, in_octets=octets, in_packets=packets, in_errors=seq),),
        )
        payloads.append(wire(datagram(LEAF1, seq, (sample,), uptime_ms=seq * 10_000)))
    # Restart: sequence and uptime start again, counters from zero.
    for seq in range(1, 3):
        sample = counters(
            seq, LEAF1_EDGE, (if_counters(LEAF1_EDGE, in_octets=seq * 10**9, in_errors=seq),)
        )
        payloads.append(wire(datagram(LEAF1, seq, (sample,), uptime_ms=seq * 10_000)))
    _send(served.sflow_port, payloads)
    assert served.wait_for("fabricscope_datagrams_total", 7) == 7
    assert served.wait_for("fabricscope_restarts_detected_total", 1) == 1
    m = served.value
    assert m("fabricscope_interface_bytes_total", direction="in", role="edge") == 5 * 10**9
    assert m("fabricscope_interface_packets_total", direction="in", role="edge") == 4 * 2000
    assert m("fabricscope_interface_errors_total", direction="in", role="edge") == 4 + 1
    assert m("fabricscope_interface_discontinuities_total", reason="wrap") == 1


def test_topology_put_and_refusal(served: Served) -> None:
    status, body = served.put("/topology/json", b'{"links": {"L1": {"node1": "a"}}}')
    assert status == 400 and body.strip() == "links.L1.port1: field required (and 2 more)"
    status, body = served.get("/topology/json")
    assert status == 200 and json.loads(body)["version"] == 1
    links_only = {"links": {"X": {"node1": "leaf1", "port1": "swp3", "node2": "s", "port2": "p"}}}
    status, body = served.put("/topology/json", json.dumps(links_only).encode())
    assert status == 200 and json.loads(body) == {"version": 2}
    assert served.wait_for("fabricscope_topology_version", 2) == 2
    assert served.value("fabricscope_topology_reloads_total", result="error") == 1


def test_sighup_reload_keeps_old_topology_on_error(tmp_path: Path) -> None:
    served = _start(tmp_path, 1)
    try:
        (tmp_path / "topology.json").write_text('{"links": 3}')
        served.process.send_signal(signal.SIGHUP)
        assert served.wait_for("fabricscope_topology_reloads_total", 1, result="error") == 1
        assert served.value("fabricscope_topology_version") == 1
        (tmp_path / "topology.json").write_text(json.dumps(TOPOLOGY))
        served.process.send_signal(signal.SIGHUP)
        assert served.wait_for("fabricscope_topology_version", 2) == 2
    finally:
        err = _stop(served)
    assert "topology reload refused" in "".join(served.log) + err


def test_without_topology_serve_runs_and_says_so(tmp_path: Path) -> None:
    served = _start(tmp_path, 1, topology=None)
    try:
        _send(
            served.sflow_port, [wire(datagram(LEAF1, 1, (flow(1, LEAF1_EDGE, (write_first(),)),)))]
        )
        assert served.wait_for("fabricscope_ingress_frames_total", 1000, role="unmapped") == 1000
        assert served.value("fabricscope_topology_loaded") == 0
    finally:
        _stop(served)
    assert "no --topology" in "".join(served.log)


def test_two_workers_merge_many_agents(tmp_path: Path) -> None:
    served = _start(tmp_path, 2)
    try:
        socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(8)]
        for n, sock in enumerate(socks):
            agent = f"10.1.0.{n + 1}"
            payloads = [
                wire(datagram(agent, seq, (flow(seq, 9, (write_first(),), rate=10),)))
                for seq in range(1, 26)
            ]
            _send(served.sflow_port, payloads, sock)
        assert served.wait_for("fabricscope_datagrams_total", 200) == 200
        assert served.wait_for("fabricscope_ingress_frames_total", 2000, role="unmapped") == 2000
        assert served.value("fabricscope_workers") == 2
        assert served.value("fabricscope_lost_datagrams_total") == 0
        for sock in socks:
            sock.close()
    finally:
        _stop(served)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--workers", "0"],
            "invalid workers (from --workers): Input should be greater than or equal to 1",
        ),
        (["--sflow-bind", "nohost"], "invalid sflow_bind (from --sflow-bind):"),
        (
            ["--receive-ring-bytes", "1000"],
            "invalid receive_ring_bytes (from --receive-ring-bytes): 0 (off) or at "
            "least 262144 bytes",
        ),
        (
            ["--http-bind", "127.0.0.1:99999"],
            "invalid http_bind (from --http-bind): port 99999 out of range",
        ),
        (
            ["--http-request-timeout", "0"],
            "invalid http_request_timeout (from --http-request-timeout): Input should be greater",
        ),
    ],
)
def test_bad_settings_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector", "serve", *args],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr


def test_bad_env_and_topology_file(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "FABRICSCOPE_TRIM_DSCP": "64"}
    result = subprocess.run(
        [sys.executable, "-m", "collector", "serve"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env,
    )  # fmt: skip
    assert result.returncode == 2
    assert "invalid trim_dscp (from FABRICSCOPE_TRIM_DSCP)" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"links": {"L1": {"node1": "a", "port1": "b", "node2": "c"}}}')
    result = subprocess.run(
        [sys.executable, "-m", "collector", "serve", "--topology", str(bad),
         "--sflow-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0", "--workers", "1"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().endswith(f"{bad}: links.L1.port2: field required")
    assert len(result.stderr.strip().splitlines()) == 1

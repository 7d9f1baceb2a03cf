"""End to end: topology status, locate and drops against a real ``serve`` fed by ``simulate``.

Issue 5: "status, locate and drops right for the simulated faults (unmonitored switch, link
down, an address behind a known port)". One small fabric (2 leaves, 3 spines, one link from
each leaf to each spine, 3 hosts per leaf) with spine2 unmonitored and leaf1-spine1 down, plus a
foreign agent the test sends itself; the simulation is sent over UDP to ``serve`` (1 and 2
workers) and checked through the HTTP endpoints and the CLI (``fabricscope topology status``,
``locate``, ``drops --follow``) as a user runs them.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from decoders.encode import encode_datagram
from decoders.records import CounterSample, Datagram, DataSource, PortName
from simulator.fabric import FabricSpec, build_fabric, topology_json
from tests.e2e_support import ROOT, Served, env, simulate, start_serve

SPEC = FabricSpec(leaves=2, spines=3, hosts_per_leaf=3, uplinks_per_leaf=3)
FOREIGN = "192.0.2.99"
SIM = [
    "--leaves", "2", "--spines", "3", "--hosts-per-leaf", "3", "--uplinks-per-leaf", "3",
    "--seed", "5", "--duration", "3", "--sampling-rate", "20000", "--polling-interval", "1",
    "--rate-scale", "1.5", "--max-rate", "3000",
    "--fault", "unmonitored:spine2", "--fault", "linkdown:leaf1-spine1",
    "--drop-rate", "acl=6", "--drop-rate", "netfilter=4", "--drop-rate", "ttl_exceeded=4",
    "--drop-limit", "1000",
]  # fmt: skip
DROP_FOLLOW = 5


@pytest.fixture(params=[1, 2], ids=["workers1", "workers2"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Served]:
    topo = tmp_path / "topology.json"
    topo.write_text(json.dumps(topology_json(build_fabric(SPEC))))
    s = start_serve(topo, int(request.param))
    yield s
    s.stop()


def _get(s: Served, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}{path}", timeout=10) as r:
        body = r.read()
    return body.decode() if path.endswith("/txt") else json.loads(body)


def _cli(s: Served, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", *args, "--collector", f"127.0.0.1:{s.http_port}"],
        capture_output=True, text=True, timeout=timeout, env=env(), cwd=ROOT,
    )  # fmt: skip


def _send_foreign_agent(port: int) -> None:
    """Three datagrams of an agent no topology node has (tracked from its third)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(1, 4):
            sample = CounterSample(False, seq, DataSource(0, 1), (PortName("eth0"),))
            data = encode_datagram(Datagram(FOREIGN, 1, 0, seq, seq * 1000, (sample,)))
            sock.sendto(data, ("127.0.0.1", port))


def _wait(s: Served, predicate: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        status = _get(s, "/topology/status/json")
        if predicate(status) or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def test_status_locate_and_drops_for_simulated_faults(served: Served, tmp_path: Path) -> None:
    s = served
    follow = subprocess.Popen(
        [sys.executable, "-m", "collector", "drops", "--follow", "--last", "0", "--json",
         "--count", str(DROP_FOLLOW), "--interval", "0.2",
         "--collector", f"http://127.0.0.1:{s.http_port}/"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(), cwd=ROOT,
    )  # fmt: skip
    try:
        time.sleep(1.0)  # the follower has taken its starting point (no drops yet)
        truth_path = tmp_path / "truth.json"
        simulate(["--collector", f"127.0.0.1:{s.sflow_port}", "--truth", str(truth_path), *SIM])
        _send_foreign_agent(s.sflow_port)
        out, err = follow.communicate(timeout=30)
    finally:
        if follow.poll() is None:
            follow.kill()
            follow.communicate()
    truth = json.loads(truth_path.read_text())
    sent_drops = truth["totals"]["emitted"]["drop_samples"]
    assert truth["totals"]["emitted"]["lost"] == 0 and sent_drops >= DROP_FOLLOW

    # -- status: spine2 unmonitored, leaf1-spine1 down, the links to spine2 unmonitored
    status = _wait(s, lambda st: st["agents"]["unknown"] == 1 and st["links"]["up"] == 3)
    assert status["nodes"]["total"] == 5
    assert status["unmonitored_nodes"] == ["spine2"]
    assert status["nodes"]["unmonitored"] == 1
    assert status["nodes"]["flows"] + status["nodes"]["noflows"] == 4
    assert "leaf1" not in status["noflows_nodes"] and "leaf2" not in status["noflows_nodes"]
    assert status["links"] == {"total": 6, "unmonitored": 2, "down": 1, "up": 3}
    assert status["unmonitored_links"] == ["leaf1-spine2", "leaf2-spine2"]
    assert status["down_links"] == ["leaf1-spine1"]
    assert status["agents"] == {"total": 5, "known": 4, "unknown": 1}
    assert [a["agent"] for a in status["unknown_agents"]] == [FOREIGN]
    # the same on the sFlow-RT topology app paths
    app = "/app/topology/scripts/topology.js"
    assert _get(s, f"{app}/status/json")["links"] == status["links"]
    assert [a["agent"] for a in _get(s, f"{app}/unknown/json")] == [FOREIGN]
    assert _get(s, f"{app}/topology/json")["links"].keys() == status_links(SPEC)
    text = _get(s, f"{app}/prometheus/txt")
    assert 'sflow_topology_nodes{status="unmonitored"} 1\n' in text
    assert 'sflow_topology_links{status="down"} 1\n' in text
    assert 'sflow_topology_links{status="unmonitored"} 2\n' in text
    assert 'sflow_topology_agents{status="unknown"} 1\n' in text
    # traffic: every host-facing port is up at the simulated host speed; hosts sent traffic
    edge_ports = SPEC.leaves * SPEC.hosts_per_leaf * SPEC.nics_per_host
    assert status["traffic"]["speed"] == edge_ports * SPEC.host_speed_gbps * 1e9
    assert status["traffic"]["bps"] > 0 and status["traffic"]["pps"] > 0
    assert f"sflow_topology_traffic_speed {status['traffic']['speed']!r}\n" in text
    cli = _cli(s, "topology", "status")
    assert cli.returncode == 0, cli.stderr
    assert "nodes   total 5  unmonitored 1" in cli.stdout
    assert "links   total 6  unmonitored 2  down 1  up 3" in cli.stdout
    assert "down links: leaf1-spine1" in cli.stdout
    assert f"agents not in the topology: {FOREIGN}" in cli.stdout
    cli = _cli(s, "topology", "status", "--json")
    assert json.loads(cli.stdout)["down_links"] == ["leaf1-spine1"]

    # -- locate: every GPU NIC behind its leaf port, by IP and by MAC
    fabric = build_fabric(SPEC)
    located = 0
    for n in range(fabric.n_nics):
        node, port = fabric.port_label(fabric.nic_port[n]).split(":")
        ip = str(ipaddress.ip_address(fabric.nic_ip[n]))
        mac = fabric.nic_mac(n).hex(":")
        rows = _get(s, f"/locate/json?address={ip}")
        if not rows:
            continue
        located += 1
        assert (rows[0]["node"], rows[0]["port"], rows[0]["mac"]) == (node, port, mac)
        assert rows[0]["agent"] == fabric.agents[fabric.port_switch[fabric.nic_port[n]]]
        by_mac = _get(s, f"{app}/locate/json?address={mac.upper()}")
        assert (by_mac[0]["node"], by_mac[0]["port"], by_mac[0]["ip"]) == (node, port, ip)
    assert located == fabric.n_nics
    ip0 = str(ipaddress.ip_address(fabric.nic_ip[0]))
    node0, port0 = fabric.port_label(fabric.nic_port[0]).split(":")
    cli = _cli(s, "locate", ip0)
    assert cli.returncode == 0 and f"node {node0} port {port0}" in cli.stdout, cli.stderr
    cli = _cli(s, "locate", "10.99.99.99", "--json")
    assert cli.returncode == 1 and json.loads(cli.stdout)["locations"] == []
    assert _cli(s, "locate", "not-an-address.invalid").returncode == 1

    # -- drops: every notification once, in order, with where and why
    page = _get(s, "/drops/json?after=0")
    events = page["events"]
    assert page["total"] == len(events) == sent_drops
    assert [e["id"] for e in events] == list(range(1, sent_drops + 1))
    edge_ports = {tuple(fabric.port_label(p).split(":")) for p in fabric.nic_port}
    by_reason = Counter(e["reason_name"] for e in events)
    assert by_reason == truth["totals"]["drops"] and by_reason["acl"] > 0
    for e in events:
        assert (e["node"], e["port"]) in edge_ports
        assert e["src_ip"] is not None and e["protocol"] is not None
    kernel = [e for e in events if e["linux_reason"] == "NETFILTER_DROP"]
    assert kernel and all(
        e["function"] == "nf_hook_slow" and e["reason_name"] == "acl" for e in kernel
    )
    traps = [e for e in events if e["reason_name"] == "ttl_exceeded"]
    assert traps and all(e["trap"] == "ttl_value_is_too_small" for e in traps)  # ~12 expected
    # the follower printed the first ones as they arrived
    assert follow.returncode == 0, err
    followed = [json.loads(line) for line in out.splitlines()]
    assert [e["id"] for e in followed] == list(range(1, DROP_FOLLOW + 1))
    # text lines and a filter
    cli = _cli(s, "drops", "--last", "1000", "--filter", "reason=netfilter_drop")
    assert cli.returncode == 0, cli.stderr
    lines = cli.stdout.splitlines()
    assert len(lines) == len(kernel)
    assert all("acl linux=NETFILTER_DROP function=nf_hook_slow" in line for line in lines)
    assert _cli(s, "drops", "--filter", "colour=red").returncode == 1


def status_links(spec: FabricSpec) -> set[str]:
    """The link names of the fabric."""
    return set(topology_json(build_fabric(spec))["links"])

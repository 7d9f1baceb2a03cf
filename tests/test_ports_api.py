"""``GET /ports/json`` on a real ``serve`` (one process, and two workers whose statuses cross a
pipe), fed hand-built datagrams over UDP.

Every value asserted is one the test put in a datagram (ifName, hostname, ifSpeed, ifStatus,
flow samples) or one the topology file given to ``serve`` implies (node, port, role).
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from decoders.records import HostDescription, PortName, Sample
from tests.e2e_support import Served, start_serve
from tests.fabric_builders import TOPOLOGY, counters, datagram, flow, if_counters, wire, write_first

LEAF1 = "10.0.0.1"
SERVER = "192.0.2.7"
G400 = 400_000_000_000
G100 = 100_000_000_000
DATAGRAMS = 3  # an agent is tracked (and reported) from its third datagram
CLOCK_SLACK = 1.0  # the receiver reads the clock once per batch of datagrams, not per datagram


@pytest.fixture(scope="module", params=[1, 2], ids=["workers1", "workers2"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    topo: Path = tmp_path_factory.mktemp("ports") / "topology.json"
    topo.write_text(json.dumps(TOPOLOGY))
    s = start_serve(topo, int(request.param))
    yield s
    s.stop()


def _host(name: str) -> HostDescription:
    return HostDescription(name, "00000000-0000-0000-0000-000000000000", 0, 0, "")


def _leaf1(sequence: int) -> tuple[Sample, ...]:
    return (
        counters(sequence, 3, (if_counters(3, speed=G400), PortName("swp1"), _host("leaf1"))),
        counters(sequence, 5, (if_counters(5, speed=G100, oper_up=False), PortName("swp3"))),
        counters(sequence, 9, (if_counters(9, speed=G100), PortName("swp7"))),
        flow(sequence, 5, (write_first(),)),
    )


def _server(sequence: int) -> tuple[Sample, ...]:
    return (counters(sequence, 1, (if_counters(1, speed=G100), PortName("eth0"), _host("gpu7"))),)


def _get(s: Served, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}{path}", timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def fed(served: Served) -> tuple[Served, float, float]:
    before = time.time() - CLOCK_SLACK
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(1, DATAGRAMS + 1):
            sock.sendto(wire(datagram(LEAF1, seq, _leaf1(seq))), ("127.0.0.1", served.sflow_port))
            sock.sendto(wire(datagram(SERVER, seq, _server(seq))), ("127.0.0.1", served.sflow_port))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        doc = _get(served, "/ports/json")
        if len(doc["agents"]) == 2 and len(doc["ports"]) == 4:
            break
        time.sleep(0.2)
    return served, before, time.time()


def _port(agent: str, ifindex: int, node: str | None, port: str | None, role: str,
          name: str, speed: int, oper: str, flows: bool) -> dict[str, Any]:  # fmt: skip
    return {
        "agent": agent, "ifindex": ifindex, "node": node, "port": port, "role": role,
        "sflow_name": name, "speed": speed, "oper_status": oper, "admin_status": "up",
        "agent_flows": flows,
    }  # fmt: skip


def test_every_agent_and_interface_as_sent(fed: tuple[Served, float, float]) -> None:
    served, before, after = fed
    doc = _get(served, "/ports/json")
    assert before <= doc["time"] <= time.time()
    assert doc["topology_version"] == 1 and doc["flow_window"] == 60
    agents = {a["agent"]: a for a in doc["agents"]}
    assert agents.keys() == {LEAF1, SERVER}
    assert (agents[LEAF1]["node"], agents[LEAF1]["hostname"]) == ("leaf1", "leaf1")
    assert (agents[SERVER]["node"], agents[SERVER]["hostname"]) == (None, "gpu7")
    assert before <= agents[LEAF1]["last_flow"] <= after
    assert agents[SERVER]["last_flow"] is None
    for row in doc["ports"]:
        assert before <= row.pop("last_counter") <= after
    assert doc["ports"] == [
        # by the nodes block (leaf1's swp1 and swp3 have ifIndexes 3 and 5; swp1 ends link L1)
        _port(LEAF1, 3, "leaf1", "swp1", "core", "swp1", G400, "up", True),
        _port(LEAF1, 5, "leaf1", "swp3", "edge", "swp3", G100, "down", True),
        # not in the nodes block: by the ifName on a known node, so an edge port
        _port(LEAF1, 9, "leaf1", "swp7", "edge", "swp7", G100, "up", True),
        _port(SERVER, 1, None, None, "unmapped", "eth0", G100, "up", False),
    ]


def test_one_agent_and_a_bad_address(fed: tuple[Served, float, float]) -> None:
    served = fed[0]
    doc = _get(served, f"/ports/json?agent={SERVER}")
    assert [a["agent"] for a in doc["agents"]] == [SERVER]
    assert [(p["agent"], p["ifindex"]) for p in doc["ports"]] == [(SERVER, 1)]
    with pytest.raises(urllib.error.HTTPError) as exc:
        _get(served, "/ports/json?agent=leaf1")
    assert exc.value.code == 400
    assert "agent: agent 'leaf1' is not an IPv4 or IPv6 address" in exc.value.read().decode()

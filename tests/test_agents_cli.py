"""``fabricscope agents`` against a real ``fabricscope serve`` fed hand-built datagrams: the
table shows each agent with the figures we sent (node, sampling rate, a sequence gap), the
summary names the agent that is not in the topology, ``--json`` is the collector's document,
and the exit status says whether anything is heard."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.cli.agents import format_agents
from tests.e2e_support import ROOT, Served, env, start_serve
from tests.fabric_builders import (
    LEAF1,
    LEAF1_EDGE,
    TOPOLOGY,
    counters,
    datagram,
    flow,
    if_counters,
    wire,
    write_first,
)

# One collector for the module: keep its tests on one xdist worker (make test: --dist loadgroup).
pytestmark = pytest.mark.xdist_group("agents_cli")

FOREIGN = "192.0.2.9"
LEAF1_SEQUENCES = (1, 2, 3, 5, 6)  # 4 never sent: one datagram lost
RATE = 4096


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    topology = tmp_path_factory.mktemp("agents_cli") / "topology.json"
    topology.write_text(json.dumps(TOPOLOGY))
    s = start_serve(topology, 1)
    yield s
    s.stop()


def _agents(s: Served) -> dict[str, Any]:
    url = f"http://127.0.0.1:{s.http_port}/agents/json"
    with urllib.request.urlopen(url, timeout=10) as response:
        document: dict[str, Any] = json.loads(response.read())
        return document


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector", "agents", *args],
        capture_output=True, text=True, timeout=30, env=env(), cwd=ROOT,
    )  # fmt: skip


@pytest.fixture(scope="module")
def fed(served: Served) -> Served:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in LEAF1_SEQUENCES:
            sample = flow(seq, LEAF1_EDGE, (write_first(),), rate=RATE)
            sock.sendto(wire(datagram(LEAF1, seq, (sample,))), ("127.0.0.1", served.sflow_port))
        for seq in (1, 2, 3):
            sample = counters(seq, 7, (if_counters(7),))
            sock.sendto(wire(datagram(FOREIGN, seq, (sample,))), ("127.0.0.1", served.sflow_port))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        counts = {a["agent"]: a["datagrams"] for a in _agents(served)["agents"]}
        if counts == {LEAF1: len(LEAF1_SEQUENCES), FOREIGN: 3}:
            return served
        time.sleep(0.2)
    raise AssertionError(f"the collector did not count the datagrams: {_agents(served)}")


def test_the_table_shows_what_was_sent(fed: Served) -> None:
    result = _cli("--collector", f"127.0.0.1:{fed.http_port}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "AGENT", "NODE", "SEEN", "DGRAM/S", "FLOW/S", "CNTR/S", "DROP/S", "SAMPLING", "LOST",
        "LATE", "RESTARTS", "ERRORS",
    ]  # fmt: skip
    rows = {line.split()[0]: line.split() for line in lines[1:3]}
    leaf, foreign = rows[LEAF1], rows[FOREIGN]
    assert leaf[1] == "leaf1" and leaf[7] == str(RATE)
    assert leaf[8:12] == ["1", "0", "0", "0"]  # one lost, none late, no restart, no error
    assert foreign[1] == "-" and foreign[7] == "-"  # no flow samples: no sampling rate
    assert foreign[8:12] == ["0", "0", "0", "0"]
    assert lines[3].startswith("2 agents, ")
    assert lines[3].endswith(f"; not in the topology: {FOREIGN}")
    assert len(lines) == 4


def test_json_is_the_collectors_document(fed: Served) -> None:
    result = _cli("--collector", f"http://127.0.0.1:{fed.http_port}/", "--json")
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout)
    assert [a["agent"] for a in printed["agents"]] == [LEAF1, FOREIGN]
    assert printed["agents"][0]["datagrams_lost"] == 1
    assert printed["agents"][0]["sampling_rates"] == [RATE]


def test_nothing_heard_or_nothing_reachable_exits_1(tmp_path: Path) -> None:
    topology = tmp_path / "topology.json"
    topology.write_text(json.dumps(TOPOLOGY))
    quiet = start_serve(topology, 1)
    try:
        result = _cli("--collector", f"127.0.0.1:{quiet.http_port}")
    finally:
        quiet.stop()
    assert result.returncode == 1
    assert result.stdout.startswith("no agents heard from")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    result = _cli("--collector", f"127.0.0.1:{closed}")
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith("fabricscope: error: cannot reach the collector at ")


def test_format_marks_sub_agents_and_unknown_senders() -> None:
    document = {
        "agents": [
            {"agent": "10.0.0.7", "sub_agent": 2, "node": None, "in_topology": False,
             "age_s": 3.4, "datagrams_per_second": 1234.5, "samples_per_second": {"flow": 0.25},
             "sampling_rates": [1000, 2000], "datagrams_lost": 7},
        ],
        "totals": {"datagrams_per_second": 1234.5, "decode_errors_unattributed": 3},
    }  # fmt: skip
    lines = format_agents(document).splitlines()
    cells = lines[1].split()
    assert cells[:5] == ["10.0.0.7/2", "-", "3s", "1,234", "0.2"]
    assert cells[7:9] == ["1000,2000", "7"]
    assert lines[2] == (
        "1 agent, 1,234 datagrams/s; not in the topology: 10.0.0.7; "
        "3 refused datagrams from unknown senders"
    )

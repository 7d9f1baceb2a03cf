"""``fabricscope topology check``: structural findings on hand-built topologies, and the
acceptance run: a real ``serve`` fed by ``simulate`` with injected faults.

Structure: a clean hand-written leaf/spine topology, and one mutation per kind of finding; each
mutation must give exactly that one finding (and the loader must agree: error kinds it refuses
are refused, warning kinds load). Live: spine2 unmonitored (simulator fault), a port renamed in
the file given to ``check`` (the switch reports the old name), and an agent the test sends
itself that no node has — each reported exactly once, nothing else. Odd input (JSON nested
too deeply, numbers beyond a float, NaN and Infinity in the live view) is a located error.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from collector.cli.topology_check import run_topology_check
from decoders.encode import encode_datagram
from decoders.records import CounterSample, Datagram, DataSource, HostDescription, PortName
from simulator.fabric import FabricSpec, build_fabric, topology_json
from tests.e2e_support import ROOT, env, simulate, start_serve
from tests.fabric_builders import if_counters
from topology.check import LiveAgent, LivePort, LiveView, check_live, check_text, parse_live
from topology.model import TopologyError, parse_topology

Doc = dict[str, Any]


def _ports(*names: str, first: int = 3) -> dict[str, dict[str, str]]:
    return {name: {"ifindex": str(first + i)} for i, name in enumerate(names)}


def _link(node1: str, port1: str, node2: str, port2: str) -> dict[str, str]:
    return {"node1": node1, "port1": port1, "node2": node2, "port2": port2}


CLEAN: Doc = {
    "links": {
        "leaf1-spine1": _link("leaf1", "swp3", "spine1", "swp1"),
        "leaf1-spine2": _link("leaf1", "swp4", "spine2", "swp1"),
        "leaf2-spine1": _link("leaf2", "Ethernet1/3", "spine1", "swp2"),
        "leaf2-spine2": _link("leaf2", "Ethernet1/4", "spine2", "swp2"),
    },
    "nodes": {
        "leaf1": {"agent": "10.0.0.1", "ports": _ports("swp1", "swp2", "swp3", "swp4")},
        "leaf2": {
            "agent": "10.0.0.2",
            "ports": _ports("Ethernet1/1", "Ethernet1/2", "Ethernet1/3", "Ethernet1/4"),
        },
        "spine1": {"agent": "10.0.0.3", "ports": _ports("swp1", "swp2")},
        "spine2": {"agent": "2001:db8::4", "ports": _ports("swp1", "swp2")},
    },
}


def _edit(change: Callable[[Doc], None]) -> str:
    doc = copy.deepcopy(CLEAN)
    change(doc)
    return json.dumps(doc, indent=1)


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        *parents, last = path.split("/")
        target = doc
        for key in parents:
            target = target[key]
        target[last] = value

    return change


def _delete(path: str) -> Callable[[Doc], None]:
    def change(doc: Doc) -> None:
        *parents, last = path.split("/")
        target = doc
        for key in parents:
            target = target[key]
        del target[last]

    return change


def _repeat(text: str, after: str, copied: str) -> str:
    """``text`` with ``copied`` (a "key": value member) inserted again right after ``after``."""
    assert text.count(after) == 1 and after.endswith(",")
    return text.replace(after, after + copied + ",")


_CLEAN_TEXT = json.dumps(CLEAN)
_LINK1 = '"leaf1-spine1": ' + json.dumps(CLEAN["links"]["leaf1-spine1"])
_SPINE1 = '"spine1": ' + json.dumps(CLEAN["nodes"]["spine1"])

# (case, text, kind, severity, subject, name); a severity "error" means serve refuses the file
# (except the repeated keys: its JSON parser keeps the last one, silently)
CASES: list[tuple[str, str, str, str, str, str]] = [
    ("self-link", _edit(_set("links/leaf1-spine1", _link("leaf1", "swp3", "leaf1", "swp3"))),
     "self-link", "error", "link", "leaf1-spine1"),
    ("loop-link", _edit(_set("links/leaf1-spine1", _link("leaf1", "swp3", "leaf1", "swp1"))),
     "loop-link", "warning", "link", "leaf1-spine1"),
    ("port on two links",
     _edit(_set("links/extra", _link("leaf1", "swp1", "spine1", "swp1"))),
     "port-on-two-links", "error", "port", "spine1 swp1"),
    ("link twice", _repeat(_CLEAN_TEXT, _LINK1 + ",", _LINK1),
     "duplicate-link", "error", "link", "leaf1-spine1"),
    ("node twice", _repeat(_CLEAN_TEXT, _SPINE1 + ",", _SPINE1),
     "duplicate-node", "error", "node", "spine1"),
    ("port twice", _CLEAN_TEXT.replace('"swp2": {"ifindex": "4"}, ',
                                       '"swp2": {"ifindex": "4"}, "swp2": {"ifindex": "4"}, ', 1),
     "duplicate-port", "error", "port", "leaf1 swp2"),
    ("field twice", _CLEAN_TEXT.replace('"port2": "swp1"}', '"port2": "swp1", "port2": "swp1"}',
                                        1),
     "duplicate-key", "error", "link", "leaf1-spine1"),
    ("ifindex twice", _edit(_set("nodes/leaf1/ports/swp2/ifindex", "3")),
     "duplicate-ifindex", "error", "port", "leaf1 swp2"),
    ("agent twice", _edit(_set("nodes/leaf2/agent", "10.0.0.1")),
     "duplicate-agent", "error", "node", "leaf2"),
    ("agent not an address", _edit(_set("nodes/spine1/agent", "spine1.example.net")),
     "bad-agent", "error", "node", "spine1"),
    ("field missing", _edit(_delete("links/leaf2-spine2/port2")),
     "invalid", "error", "link", "leaf2-spine2"),
    ("unknown field", _edit(_set("links/leaf2-spine2/speed", "400G")),
     "invalid", "error", "link", "leaf2-spine2"),
    ("ifindex not a number", _edit(_set("nodes/spine2/ports/swp2/ifindex", "x2")),
     "invalid", "error", "node", "spine2"),
    ("links not an object", _edit(_set("links", [])), "invalid", "error", "topology", ""),
    ("node missing", _edit(_delete("nodes/spine2")), "unknown-node", "warning", "node", "spine2"),
    ("port missing", _edit(_set("links/leaf1-spine1/port1", "swp9")),
     "unknown-port", "warning", "port", "leaf1 swp9"),
    ("no links", _edit(_set("links", {})), "no-links", "warning", "topology", ""),
]  # fmt: skip


def test_the_clean_topology_has_no_findings() -> None:
    findings, topology = check_text(json.dumps(CLEAN))
    assert findings == []
    assert topology == parse_topology(CLEAN)


@pytest.mark.parametrize(("text", "kind", "severity", "subject", "name"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])  # fmt: skip
def test_each_kind_of_structural_finding_once(
    text: str, kind: str, severity: str, subject: str, name: str
) -> None:
    findings, topology = check_text(text)
    assert [(f.kind, f.severity, f.subject, f.name) for f in findings] == [
        (kind, severity, subject, name)
    ]
    if severity == "warning":
        assert topology is not None and topology == parse_topology(text)
    elif not kind.startswith("duplicate-") or kind in ("duplicate-ifindex", "duplicate-agent"):
        assert topology is None
        with pytest.raises(TopologyError):
            parse_topology(text)


def test_every_problem_at_once_where_the_loader_stops_at_the_first() -> None:
    broken = copy.deepcopy(CLEAN)
    broken["links"]["leaf1-spine2"]["node2"] = "spine1"  # spine1 swp1 now ends three links
    broken["links"]["leaf2-spine1"]["port2"] = "swp1"
    broken["nodes"]["leaf2"]["agent"] = "10.0.0.1"
    broken["nodes"]["spine2"]["agent"] = "not-an-address"
    findings, topology = check_text(json.dumps(broken))
    assert topology is None
    assert sorted((f.kind, f.name, f.location) for f in findings) == [
        ("bad-agent", "spine2", "nodes.spine2.agent"),
        ("duplicate-agent", "leaf2", "nodes.leaf2.agent"),
        ("port-on-two-links", "spine1 swp1", "links.leaf1-spine2.port2"),
        ("port-on-two-links", "spine1 swp1", "links.leaf2-spine1.port2"),
    ]
    with pytest.raises(TopologyError) as refused:
        parse_topology(json.dumps(broken))
    assert refused.value.location in {f.location for f in findings}  # one of the four


def test_check_refuses_deeply_nested_json_with_a_located_error() -> None:
    """JSON nested deeper than the parser's recursion allows is a TopologyError, not a crash."""
    deep = b'{"links": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    with pytest.raises(TopologyError) as caught:
        check_text(deep)
    assert "nested too deeply" in caught.value.message


def _run(path: Path, *extra: str, collector: str | None = None) -> tuple[int, str]:
    args = argparse.Namespace(file=str(path), collector=collector, json="--json" in extra)
    out = io.StringIO()
    return run_topology_check(args, out), out.getvalue()


def test_exit_codes_and_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean, warned, broken = tmp_path / "clean.json", tmp_path / "warned.json", tmp_path / "b.json"
    clean.write_text(json.dumps(CLEAN))
    warned.write_text(_edit(_delete("nodes/spine2")))
    broken.write_text(_edit(_set("nodes/leaf2/agent", "10.0.0.1")))
    assert _run(clean) == (0, f"{clean}: 0 errors, 0 warnings\n")
    code, text = _run(warned)
    assert code == 0 and text.splitlines()[0].startswith("warning: unknown-node: node spine2: ")
    code, text = _run(broken)
    assert (code, text.splitlines()) == (1, [
        "error: duplicate-agent: node leaf2: agent 10.0.0.1 is already the agent of node leaf1 "
        "(nodes.leaf2.agent)",
        f"{broken}: 1 error, 0 warnings",
    ])  # fmt: skip
    code, text = _run(broken, "--json")
    document = json.loads(text)
    assert code == 1 and (document["errors"], document["warnings"]) == (1, 0)
    assert document["findings"][0]["location"] == "nodes.leaf2.agent"
    capsys.readouterr()
    not_json = tmp_path / "not.json"
    not_json.write_text('{"links": {}\n,,')
    assert _run(not_json) == (2, "")
    assert f"{not_json}: line 2 column 2: invalid JSON" in capsys.readouterr().err
    assert _run(tmp_path / "absent.json") == (2, "")
    assert "absent.json: No such file or directory" in capsys.readouterr().err
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        nobody = f"127.0.0.1:{closed.getsockname()[1]}"
    assert _run(clean, collector=nobody) == (2, "")
    assert f"cannot reach the collector at http://{nobody}" in capsys.readouterr().err
    assert _run(broken, collector=nobody) == _run(broken)  # the file's errors; no live check
    assert "not compared with" in capsys.readouterr().err


def test_check_cli_exits_2_with_one_line_on_deeply_nested_json(tmp_path: Path) -> None:
    """The CLI names the file and exits 2 ("could not check"), without a traceback."""
    path = tmp_path / "deep.json"
    path.write_bytes(b"[" * 200_000 + b"]" * 200_000)
    done = subprocess.run(
        [sys.executable, "-m", "collector", "topology", "check", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "nested too deeply" in lines[0]


# ---------------------------------------------------------------------------------------------
# Acceptance: against a real collector fed by the simulator

SPEC = FabricSpec(leaves=2, spines=2, hosts_per_leaf=2, uplinks_per_leaf=2)
SIM = [
    "--leaves", "2", "--spines", "2", "--hosts-per-leaf", "2", "--uplinks-per-leaf", "2",
    "--seed", "8", "--duration", "4", "--sampling-rate", "20000", "--polling-interval", "1",
    "--rate-scale", "2", "--max-rate", "3000", "--drop-rate", "all=0",
    "--fault", "unmonitored:spine2",
]  # fmt: skip
STRAY = "192.0.2.50"
RENAMED = ("leaf1", "swp3", "swp3-renamed")  # node, the port's name on the switch, in the file


def _send_stray_agent(port: int) -> None:
    """Datagrams of an agent no node of the topology has (it is tracked from its third)."""
    host = HostDescription("gpu-server-50", "00000000-0000-0000-0000-000000000000", 0, 0, "")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for seq in range(1, 4):
            records = (if_counters(1), PortName("eth0"), host)
            sample = CounterSample(False, seq, DataSource(0, 1), records)
            data = encode_datagram(Datagram(STRAY, 1, 0, seq, seq * 1000, (sample,)))
            sock.sendto(data, ("127.0.0.1", port))


def _ports_json(http_port: int) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/ports/json", timeout=10) as r:
        return json.loads(r.read())


def _rename_port(path: Path) -> None:
    """The file ``check`` is given names one of leaf1's uplinks differently from the switch."""
    doc = json.loads(path.read_text())
    node, old, new = RENAMED
    doc["nodes"][node]["ports"][new] = doc["nodes"][node]["ports"].pop(old)
    ends = [(link, side) for link in doc["links"].values() for side in ("1", "2")
            if (link[f"node{side}"], link[f"port{side}"]) == (node, old)]  # fmt: skip
    assert len(ends) == 1
    link, side = ends[0]
    link[f"port{side}"] = new
    path.write_text(json.dumps(doc, indent=1))


def test_check_against_a_simulated_fabric_reports_each_fault_once(tmp_path: Path) -> None:
    loaded = tmp_path / "loaded.json"
    loaded.write_text(json.dumps(topology_json(build_fabric(SPEC))))
    served = start_serve(loaded, 1)
    try:
        written = tmp_path / "topology.json"
        simulate(["--collector", f"127.0.0.1:{served.sflow_port}",
                  "--topology-out", str(written), *SIM])  # fmt: skip
        assert json.loads(written.read_text()) == json.loads(loaded.read_text())
        _send_stray_agent(served.sflow_port)
        fabric = build_fabric(SPEC)
        switch_ports = sum(fabric.switch_ports[s][1] for s in range(len(fabric.switch_names)))
        spine2 = fabric.switch_ports[fabric.switch_names.index("spine2")][1]
        expected_ports = switch_ports - spine2 + 1  # spine2 is silent; the stray agent's eth0
        deadline = time.monotonic() + 15
        while len(_ports_json(served.http_port)["ports"]) < expected_ports:
            assert time.monotonic() < deadline, "the collector did not hear every port"
            time.sleep(0.2)
        _rename_port(written)
        result = subprocess.run(
            [sys.executable, "-m", "collector", "topology", "check", str(written),
             "--collector", f"127.0.0.1:{served.http_port}", "--json"],
            capture_output=True, text=True, timeout=30, env=env(), cwd=ROOT,
        )  # fmt: skip
        text = subprocess.run(
            [sys.executable, "-m", "collector", "topology", "check", str(written)],
            capture_output=True, text=True, timeout=30, cwd=ROOT,
            env={**env(), "FABRICSCOPE_COLLECTOR": f"http://127.0.0.1:{served.http_port}"},
        )  # fmt: skip
    finally:
        served.stop()
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    node, old, new = RENAMED
    found = sorted(
        (f["kind"], f["severity"], f["subject"], f["name"]) for f in document["findings"]
    )
    assert found == [
        ("port-name-mismatch", "error", "port", f"{node} {new}"),
        ("stray-agent", "warning", "agent", STRAY),
        ("unmonitored-node", "error", "node", "spine2"),
    ]
    by_kind = {f["kind"]: f["message"] for f in document["findings"]}
    assert f"as {old} " in by_kind["port-name-mismatch"]
    assert "hostname gpu-server-50" in by_kind["stray-agent"]
    assert text.returncode == 1, text.stderr
    assert len(text.stdout.splitlines()) == 4  # three findings and the summary
    assert "2 errors, 1 warning" in text.stdout.splitlines()[-1]


# ---------------------------------------------------------------------------------------------
# Live findings on hand-built live views (the acceptance run below covers the real path)

NOW = 1_800_000_000.0
G400 = 400_000_000_000


def _live_view(
    *,
    drop_agents: tuple[str, ...] = (),
    drop_ports: tuple[tuple[str, int], ...] = (),
    ports: dict[tuple[str, int], dict[str, Any]] | None = None,
    hostnames: dict[str, str] | None = None,
    flows: dict[str, float | None] | None = None,
    extra_agents: tuple[LiveAgent, ...] = (),
    topology: Doc = CLEAN,
) -> LiveView:
    """Every node of ``CLEAN`` heard as it should be, then the changes asked for."""
    agents: list[LiveAgent] = list(extra_agents)
    live_ports: list[LivePort] = []
    for node, spec in topology["nodes"].items():
        agent = spec["agent"]
        if agent in drop_agents:
            continue
        hostname = (hostnames or {}).get(agent, node)
        agents.append(LiveAgent(agent, hostname, (flows or {}).get(agent, NOW - 1)))
        for name, port in spec["ports"].items():
            key = (agent, int(port["ifindex"]))
            if key in drop_ports:
                continue
            fields = {"sflow_name": name, "speed": G400, "oper_up": True, "admin_up": True}
            fields.update((ports or {}).get(key, {}))
            live_ports.append(LivePort(agent, key[1], **fields))
    return LiveView(NOW, 60.0, tuple(agents), tuple(live_ports))


TOPOLOGY = parse_topology(CLEAN)
LEAF1, SPINE1 = "10.0.0.1", "10.0.0.3"
LIVE_CASES: list[tuple[str, LiveView, str, str, str, str]] = [
    ("unmonitored node", _live_view(drop_agents=("2001:db8::4",)),
     "unmonitored-node", "error", "node", "spine2"),
    ("stray agent", _live_view(extra_agents=(LiveAgent("192.0.2.1", "gpu1", NOW),)),
     "stray-agent", "warning", "agent", "192.0.2.1"),
    ("port name", _live_view(ports={(LEAF1, 5): {"sflow_name": "swp5"}}),
     "port-name-mismatch", "error", "port", "leaf1 swp3"),
    ("silent link end", _live_view(drop_ports=((LEAF1, 5),)),
     "unmonitored-link", "warning", "link", "leaf1-spine1"),
    ("speed", _live_view(ports={(SPINE1, 3): {"speed": G400 // 4}}),
     "speed-mismatch", "error", "link", "leaf1-spine1"),
    ("state", _live_view(ports={(SPINE1, 3): {"oper_up": False}}),
     "state-mismatch", "error", "link", "leaf1-spine1"),
    ("down", _live_view(ports={(SPINE1, 3): {"oper_up": False, "speed": 0},
                               (LEAF1, 5): {"oper_up": False}}),
     "link-down", "warning", "link", "leaf1-spine1"),
    ("no flows", _live_view(flows={"10.0.0.2": NOW - 61}),
     "no-flows", "warning", "node", "leaf2"),
    ("agent calls itself another node", _live_view(hostnames={LEAF1: "leaf2"}),
     "agent-name-mismatch", "warning", "agent", LEAF1),
]  # fmt: skip


def test_the_live_view_of_a_healthy_fabric_has_no_findings() -> None:
    assert check_live(TOPOLOGY, _live_view()) == []


@pytest.mark.parametrize(("live", "kind", "severity", "subject", "name"),
                         [c[1:] for c in LIVE_CASES], ids=[c[0] for c in LIVE_CASES])  # fmt: skip
def test_each_kind_of_live_finding_once(
    live: LiveView, kind: str, severity: str, subject: str, name: str
) -> None:
    findings = check_live(TOPOLOGY, live)
    assert [(f.kind, f.severity, f.subject, f.name) for f in findings] == [
        (kind, severity, subject, name)
    ]


def test_an_unknown_speed_is_not_a_mismatch() -> None:
    assert check_live(TOPOLOGY, _live_view(ports={(SPINE1, 3): {"speed": None}})) == []


def test_a_wrong_agent_address_is_found_by_hostname_and_reported() -> None:
    moved = copy.deepcopy(CLEAN)
    moved["nodes"]["spine1"]["agent"] = "10.0.0.33"  # what the switch really sends from
    findings = check_live(TOPOLOGY, _live_view(topology=moved))
    assert [(f.kind, f.name) for f in findings] == [("agent-address-mismatch", "spine1")]
    assert "the file gives agent 10.0.0.3, which sends nothing; 10.0.0.33" in findings[0].message


def test_without_a_nodes_block_agents_and_ports_match_by_the_names_they_send() -> None:
    links_only = parse_topology({"links": CLEAN["links"]})
    assert check_live(links_only, _live_view()) == []
    renamed = _live_view(ports={(LEAF1, 5): {"sflow_name": "swp5"}})
    findings = check_live(links_only, renamed)
    assert [(f.kind, f.name, f.message) for f in findings] == [
        ("unmonitored-link", "leaf1-spine1", "no interface counters from leaf1 swp3")
    ]


def test_a_malformed_live_document_is_named() -> None:
    good = {"time": NOW, "flow_window": 60, "agents": [], "ports": []}
    assert parse_live(good) == LiveView(NOW, 60.0, (), ())
    bad_port = {**good, "ports": [{"agent": LEAF1, "ifindex": "3"}]}
    with pytest.raises(ValueError, match=r"ports\[0\]\.ifindex: unexpected value '3'"):
        parse_live(bad_port)
    with pytest.raises(ValueError, match="not a JSON object"):
        parse_live([])


def _live_document(**changes: object) -> dict[str, object]:
    document: dict[str, object] = {"time": 100.0, "flow_window": 30.0, "agents": [], "ports": []}
    document.update(changes)
    return document


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_live_document(time=10**400), "ports.time"),
        (_live_document(flow_window=-(10**400)), "ports.flow_window"),
        (
            _live_document(agents=[{"agent": "10.0.0.1", "hostname": None, "last_flow": 10**400}]),
            "agents[0].last_flow",
        ),
    ],
)
def test_live_view_with_a_number_beyond_float_names_the_field(
    document: dict[str, object], field: str
) -> None:
    """An integer too large for a float (valid JSON) is a ValueError naming the field."""
    json.dumps(document)  # the document is valid JSON
    with pytest.raises(ValueError) as caught:
        parse_live(document)
    assert str(caught.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_live_document(time=float("nan")), "ports.time"),
        (_live_document(flow_window=float("inf")), "ports.flow_window"),
        (
            _live_document(
                agents=[{"agent": "10.0.0.1", "hostname": None, "last_flow": float("-inf")}]
            ),
            "agents[0].last_flow",
        ),
    ],
)
def test_live_view_with_nan_or_infinity_names_the_field(
    document: dict[str, object], field: str
) -> None:
    """Python's JSON reader takes NaN and Infinity; compared with them, every node would be
    reported without flows (or none would), so they are refused, naming the field."""
    text = json.dumps(document)
    with pytest.raises(ValueError) as caught:
        parse_live(json.loads(text))
    assert str(caught.value).startswith(f"{field}: ")

"""End to end: fabric-health events on a real ``serve`` fed by ``fabricscope simulate`` over UDP.

Each scenario's truth file names its cause (node, port, culprit pairs, link transitions) and
when it starts; the collector must raise the matching event within 5 s of it, naming the same
node, port and culprits, and nothing else. The healthy fabric raises nothing over 5 minutes of
simulated time (sent 20 times faster than real time: port utilisation is reckoned on the
agents' uptime, so the pace changes no threshold a counter decides, and pair rates per wall
second only grow, which makes the no-event check harder, not easier). ``fabricscope events``
reads the same stream.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from collector.families import EVENT_TYPES
from simulator.config import SimConfig
from simulator.fabric import build_fabric, topology_json
from tests.e2e_support import Served, env, load_truth, simulate, start_serve

SEED = 3
SAMPLING = 20000
START = 2.0  # virtual seconds: the collector has its first counter baselines by then
WITHIN = 5.0  # seconds from cause to event
SCENARIO_ARGS = ["--polling-interval", "1", "--sampling-rate", str(SAMPLING), "--seed", str(SEED)]


def _topology(tmp_path: Path) -> Path:
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(topology_json(build_fabric(SimConfig().fabric))))
    return path


def _events(served: Served) -> list[dict[str, Any]]:
    status, body = served.get("/events/json?after=0")
    assert status == 200, body
    document = json.loads(body)
    events: list[dict[str, Any]] = document["events"]
    assert document["last"] == (events[-1]["id"] if events else 0)
    return events


def _run_scenario(
    tmp_path: Path, scenario: str, duration: float, rate_scale: float = 1.0, *extra: str
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, float], str]:
    served = start_serve(_topology(tmp_path), 1, "--health")
    try:
        truth_file = tmp_path / "truth.json"
        simulate(
            ["--collector", f"127.0.0.1:{served.sflow_port}", "--duration", str(duration),
             "--rate-scale", str(rate_scale), "--scenario", scenario,
             "--scenario-start", str(START), "--truth", str(truth_file), *extra]
        )  # fmt: skip
        time.sleep(1.0)  # the last datagrams' tick
        events = _events(served)
        metrics = served.metrics()
        counted = {
            t: metrics.get(("fabricscope_events_total", (("type", t),)), -1.0) for t in EVENT_TYPES
        }
        cli = subprocess.run(
            [sys.executable, "-m", "collector", "events", "--json", "--collector",
             f"http://127.0.0.1:{served.http_port}"],
            capture_output=True, text=True, timeout=30, env=env(), check=False,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
    finally:
        served.stop()
    assert [json.loads(line) for line in cli.stdout.splitlines()] == events[-20:]
    return load_truth(truth_file), events, counted, cli.stdout


def _counted_match(events: list[dict[str, Any]], counted: dict[str, float]) -> None:
    for kind in EVENT_TYPES:
        assert counted[kind] == sum(e["type"] == kind for e in events), kind


def _the_event(
    tmp_path: Path, scenario: str, kind: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(truth, its cause, the one event) of a scenario whose cause raises one ``kind`` event
    at the cause's node and port within ``WITHIN`` s of its start."""
    truth, events, counted, _ = _run_scenario(tmp_path, scenario, 7.0, 1.0, *SCENARIO_ARGS)
    _counted_match(events, counted)
    cause = truth["scenario"]["cause"]
    assert [e["type"] for e in events] == [kind]
    event = events[0]
    assert (event["node"], event["port"]) == (cause["node"], cause["port"])
    started = float(truth["start_time"]) + float(truth["scenario"]["start"])
    assert 0.0 <= event["time"] - started <= WITHIN
    return truth, cause, event


def test_incast_event_names_the_victim_port_and_its_culprits(tmp_path: Path) -> None:
    truth, cause, event = _the_event(tmp_path, "incast", "incast_congestion")
    assert event["utilisation"] >= 0.8
    found = {(p["source"], p["destination"]) for p in event["pairs"]}
    culprits = {tuple(p) for p in cause["pairs"]}
    assert culprits <= found
    # any other pair named is real traffic into the same host (a job's flow), never a stranger
    victim = cause["pairs"][0][1]
    into_victim = {(s, d) for s, d, _qp, _job in truth["subflows"] if d == victim}
    assert found <= into_victim
    floor = 0.2 * 0.8 * cause["speed"]
    assert all(p["bps"] >= floor for p in event["pairs"])
    assert event["ecn_marked_per_second"] > 0 and event["cnp_per_second"] > 0


def test_polarised_hash_is_an_ecmp_collision_on_the_pinned_uplink(tmp_path: Path) -> None:
    _, cause, event = _the_event(tmp_path, "ecmp-polarised", "ecmp_collision")
    assert {(p["source"], p["destination"]) for p in event["pairs"]} == {
        tuple(p) for p in cause["pairs"]
    }
    assert set(cause["idle_uplinks"]) <= set(event["idle_uplinks"])
    assert cause["port"] not in event["idle_uplinks"]


def test_hot_port_is_a_drop_surge_at_that_port(tmp_path: Path) -> None:
    _, cause, event = _the_event(tmp_path, "hot-port", "drop_surge")
    # the agent notifies at most 10 a second; the rest it counts as suppressed
    assert event["drops_per_second"] >= 100.0
    assert 0 < event["notified_per_second"] <= 10.5
    assert set(event["reasons"]) == {"no_buffer_space"}
    assert cause["discards_per_s"] >= event["drops_per_second"] / 2


def test_link_flap_raises_down_and_up_at_each_transition(tmp_path: Path) -> None:
    duration = START + 7.0  # down, up, down, and up again at START + 6
    truth, events, counted, text = _run_scenario(
        tmp_path, "link-flap", duration, 1.0, *SCENARIO_ARGS
    )
    _counted_match(events, counted)
    cause = truth["scenario"]["cause"]
    start = float(truth["start_time"])
    transitions = [t for t in cause["transitions"] if t["time"] < duration]
    assert [e["type"] for e in events] == [f"link_{t['state']}" for t in transitions]
    ends = {(e["node"], e["port"]) for e in cause["ends"]}
    for event, transition in zip(events, transitions, strict=True):
        assert event["link"] == cause["link"]
        assert {(event["node"], event["port"]), (event["peer_node"], event["peer_port"])} == ends
        assert 0.0 <= event["time"] - (start + transition["time"]) <= WITHIN, (event, transition)
    assert cause["link"] in text


@pytest.mark.parametrize("scenario", ["healthy"])
def test_the_healthy_fabric_raises_nothing_in_five_minutes(tmp_path: Path, scenario: str) -> None:
    truth, events, counted, _ = _run_scenario(
        tmp_path, scenario, 300.0, 20.0, "--seed", "1", "--polling-interval", "1"
    )
    assert "scenario" not in truth
    assert truth["duration"] == 300.0
    assert events == []
    assert counted == dict.fromkeys(EVENT_TYPES, 0.0)

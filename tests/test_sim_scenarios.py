"""Simulator scenarios: each cause shows in the exact counts, its truth names what the fabric
tables say, and the healthy fabric stays byte for byte what it was."""

from __future__ import annotations

import socket
import subprocess
import sys
from typing import Any

import pytest

from decoders import decode_datagram
from decoders.records import CounterSample, GenericInterfaceCounters
from simulator.config import SimConfig
from simulator.output import ListSink
from simulator.run import Simulation
from simulator.scenarios import SCENARIOS
from simulator.traffic import SCENARIO_JOB

START = 2.0
SECONDS = 5.0


def run(scenario: str, start: float = START, seconds: float = SECONDS, **kw: Any) -> tuple[
    Simulation, list[bytes], dict[str, Any]
]:  # fmt: skip
    sink = ListSink()
    config = SimConfig(scenario=scenario, scenario_start=start, sampling_rate=20000, **kw)
    sim = Simulation(config, sink)
    sim.run_until(seconds)
    sim.finish()
    return sim, [d for _, _, d in sink.datagrams], sim.truth.document(sim.truth_header())


def _ip(sim: Simulation, nic: int) -> str:
    raw = sim.fabric.nic_ip[nic]
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def _out_bps(doc: dict[str, Any], label: str, second: int) -> float:
    return 8.0 * doc["seconds"][second]["ports"].get(label, [0, 0, 0, 0])[2]


def _port_by_name(sim: Simulation, node: str, name: str) -> int:
    fab = sim.fabric
    s = fab.switch_names.index(node)
    first, count = fab.switch_ports[s]
    return next(p for p in range(first, first + count) if fab.port_name(p) == name)


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "healthy"])
def test_a_scenario_that_has_not_started_leaves_the_healthy_bytes(scenario: str) -> None:
    _, healthy, doc = run("healthy")
    _, late, late_doc = run(scenario, start=SECONDS + 100.0)
    assert late == healthy
    assert "scenario" not in doc
    assert "scenario" not in doc["config"]
    assert late_doc["scenario"]["name"] == scenario


def test_incast_truth_is_the_victims_port_and_the_senders_on_other_leaves() -> None:
    sim, _, doc = run("incast")
    fab = sim.fabric
    cause = doc["scenario"]["cause"]
    victim_port = fab.nic_port[0]
    assert (cause["node"], cause["port"]) == (
        fab.switch_names[fab.port_switch[victim_port]],
        fab.port_name(victim_port),
    )
    victim_leaf = fab.port_switch[victim_port]
    by_ip = {_ip(sim, n): n for n in range(fab.n_nics)}
    assert len(cause["pairs"]) >= 2
    for src, dst in cause["pairs"]:
        assert dst == _ip(sim, 0)
        assert fab.port_switch[fab.nic_port[by_ip[src]]] != victim_leaf
    # the victim's egress: below the threshold before the start, at line rate after it
    label = fab.port_label(victim_port)
    speed = fab.port_speed[victim_port]
    assert _out_bps(doc, label, 0) < 0.8 * speed
    assert _out_bps(doc, label, 3) > 0.95 * speed
    # every scenario subflow carries its pair, and only once the cause started
    subs = [i for i, s in enumerate(doc["subflows"]) if s[3] == SCENARIO_JOB]
    data = [i for i in subs if [*doc["subflows"][i][:2]] in cause["pairs"]]
    assert len(data) == len(cause["pairs"])
    for i in data:
        assert str(i) not in doc["seconds"][0]["flows"]
        assert doc["seconds"][3]["flows"][str(i)][0] * 8 > 0.2 * 0.8 * speed


def test_polarised_elephants_share_one_uplink_and_the_idle_siblings_carry_none() -> None:
    sim, _, doc = run("ecmp-polarised")
    fab, model = sim.fabric, sim.model
    cause = doc["scenario"]["cause"]
    pinned = _port_by_name(sim, cause["node"], cause["port"])
    leaf = fab.port_switch[pinned]
    assert pinned in fab.uplinks_of(leaf)
    paths = model.paths(frozenset())
    elephants = [s for s in model.scenario_subs if model.sub_data[s]]
    assert len(elephants) == len(cause["pairs"]) == 2
    for s in elephants:
        assert any(hop[0] == leaf and hop[2] == pinned for hop in paths[s])
    idle = {_port_by_name(sim, cause["node"], n) for n in cause["idle_uplinks"]}
    assert idle and pinned not in idle
    for s in range(model.n_subs):
        if model.sub_data[s] and model.sub_job[s] != -1:
            assert not any(hop[2] in idle for hop in paths[s])
    # each is an elephant (above 20 % of 80 % of the uplink's speed) once the cause started
    for s in elephants:
        assert str(s) not in doc["seconds"][0]["flows"]
        assert 8 * doc["seconds"][3]["flows"][str(s)][0] > 0.16 * fab.port_speed[pinned]


def test_hot_port_discards_and_errors_show_in_its_counters() -> None:
    sim, _, doc = run("hot-port")
    cause = doc["scenario"]["cause"]
    port = _port_by_name(sim, cause["node"], cause["port"])
    _, _, hdoc = run("healthy")
    for k in (3, 4):
        extra = doc["seconds"][k]["discards"]["out"] - hdoc["seconds"][k]["discards"]["out"]
        assert extra == cause["discards_per_s"]
        errs = doc["seconds"][k]["errors"]["in"] - hdoc["seconds"][k]["errors"]["in"]
        assert errs == cause["errors_per_s"]
    assert sim.out_disc[port] == cause["discards_per_s"] * (SECONDS - START)
    assert sim.in_err[port] >= cause["errors_per_s"] * (SECONDS - START)


def test_link_flap_transitions_are_the_faults_and_the_counters_say_down() -> None:
    sim, raw, doc = run("link-flap", seconds=8.0, polling_interval=0.5)
    cause = doc["scenario"]["cause"]
    fab = sim.fabric
    link = fab.link_index[cause["link"]]
    ends = fab.link_ports[link]
    assert [(e["node"], e["port"]) for e in cause["ends"]] == [
        (fab.switch_names[fab.port_switch[p]], fab.port_name(p)) for p in ends
    ]
    states = [t["state"] for t in cause["transitions"]]
    assert (
        states == ["down", "up"] * (len(states) // 2) and cause["transitions"][0]["time"] == START
    )
    # the port's counter samples report it both up and down (oper status bit 1)
    ifindex = fab.port_ifindex[ends[0]]
    agent = fab.agents[fab.port_switch[ends[0]]]
    seen: list[tuple[float, bool]] = []
    for data in raw:
        dg = decode_datagram(data)
        if dg.agent != agent:
            continue
        for sample in dg.samples:
            if isinstance(sample, CounterSample):
                for rec in sample.records:
                    if isinstance(rec, GenericInterfaceCounters) and rec.if_index == ifindex:
                        seen.append((dg.uptime_ms, bool(rec.if_status & 2)))
    assert any(up for _, up in seen) and any(not up for _, up in seen)


def test_unknown_scenario_is_a_one_line_usage_error() -> None:
    p = subprocess.run(
        [sys.executable, "-m", "collector", "simulate", "--scenario", "meltdown", "--pcap",
         "/dev/null", "--duration", "1"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert p.returncode != 0
    assert "--scenario" in p.stderr and "incast" in p.stderr

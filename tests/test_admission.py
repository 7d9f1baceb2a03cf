"""Agent admission (``allowed_agents``): the rule, one receiver's pipeline, and real collectors.

* parsing: CIDRs, the word ``topology``, a TOML list; a bad item is one line naming it;
* the judge: IPv4, IPv6, IPv4-mapped IPv6, the topology's agents across a swap, headers naming
  no address or none readable, a bounded cache;
* a pipeline on both decode paths (full decoder, fast path with the plain and the compiled
  accounting): a refused agent's datagram is counted as received and rejected and leaves no
  agent, port, locate, drop or traffic state — the same datagram admitted leaves all of them;
* ``serve`` over UDP: a CIDR rule with one worker, the ``topology`` word across a topology
  replaced by PUT with two workers fed from many source ports, the start-up warning once, and
  a bad CIDR refused at start.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from collector.receive import _accounting
from collector.receive import accounting as _accounting_select
from collector.receive.admission import (
    MAX_CACHED_DECISIONS,
    AdmissionRule,
    AgentAdmission,
    parse_allowed_agents,
)
from collector.receive.pipeline import Pipeline
from collector.receive.state import FabricState
from collector.serve.settings import SettingsError, load_settings
from decoders.encode import sampled_header
from decoders.frames import rocev2_frame
from tests import fabric_builders as fb
from tests.e2e_support import ROOT, Served, env, start_serve
from topology import PortResolver, TopologyIndex, parse_topology

HOST_MAC = "02:6e:00:00:00:07"
HOST_IP = "10.128.0.7"
OUTSIDER = "192.0.2.50"


# ---------------------------------------------------------------------------------------------
# The rule


def test_parse_cidrs_the_topology_word_and_lists() -> None:
    rule = parse_allowed_agents(" 10.0.0.0/8, TOPOLOGY ,2001:db8::/32,10.0.0.0/8,,192.0.2.7")
    assert rule == AdmissionRule(("10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"), True)
    assert rule.restricts and str(rule) == "10.0.0.0/8,2001:db8::/32,192.0.2.7/32,topology"
    assert parse_allowed_agents(["topology"]) == AdmissionRule((), True)  # a TOML list
    assert not parse_allowed_agents("").restricts
    assert not parse_allowed_agents(" , ").restricts
    assert not AdmissionRule().restricts


@pytest.mark.parametrize("bad", ["10.0.0.1/8", "10.0.0.0/33", "leaf1", "10.0.0.0/8;x", "::1/129"])
def test_a_bad_item_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a CIDR") as refused:
        parse_allowed_agents(f"10.0.0.0/8,{bad}")
    assert repr(bad) in str(refused.value) and "\n" not in str(refused.value)
    with pytest.raises(SettingsError) as settings_error:
        load_settings({"allowed_agents": bad}, env={})
    assert str(settings_error.value).startswith("invalid allowed_agents (from --allowed-agents)")
    with pytest.raises(ValueError, match="expected"):
        parse_allowed_agents(42)


def _packed(address: str) -> bytes:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    return socket.inet_pton(family, address)


@pytest.mark.parametrize(
    ("address", "admitted"),
    [
        ("10.1.2.3", True),
        ("10.2.0.1", False),
        ("2001:db8::5", True),
        ("2001:db9::5", False),
        ("::ffff:10.1.9.9", True),  # an IPv4 agent written as IPv6 meets the IPv4 networks
        ("::ffff:10.2.9.9", False),
        ("::a01:203", False),  # not mapped: IPv6 networks only
        ("10.0.0.1", True),  # a topology agent
        ("::ffff:10.0.0.2", True),  # a topology agent, mapped
        ("10.0.0.9", False),
    ],
)
def test_the_judge(address: str, admitted: bool) -> None:
    judge = AgentAdmission(
        parse_allowed_agents("10.1.0.0/16,2001:db8::/32,topology"), parse_topology(fb.TOPOLOGY)
    )
    assert judge.admits_address(_packed(address)) is admitted
    assert judge.admits_address(_packed(address)) is admitted  # and from the cache
    assert judge.admits(fb.wire(fb.datagram(address, 1, ()))) is admitted


def test_the_topology_word_follows_a_swap_and_networks_stay() -> None:
    topology = parse_topology(fb.TOPOLOGY)
    judge = AgentAdmission(parse_allowed_agents("topology,192.0.2.0/24"), topology)
    assert judge.admits_address(_packed("10.0.0.3"))
    moved = json.loads(json.dumps(fb.TOPOLOGY))
    moved["nodes"]["spine1"]["agent"] = "10.0.0.33"
    judge.set_topology(parse_topology(moved))
    assert not judge.admits_address(_packed("10.0.0.3"))
    assert judge.admits_address(_packed("10.0.0.33"))
    judge.set_topology(None)
    assert not judge.admits_address(_packed("10.0.0.33"))
    assert judge.admits_address(_packed("192.0.2.9"))
    # a rule without the word ignores topologies
    cidr_only = AgentAdmission(parse_allowed_agents("192.0.2.0/24"), topology)
    assert not cidr_only.admits_address(_packed(fb.LEAF1))


def test_headers_without_an_address_or_unreadable() -> None:
    judge = AgentAdmission(parse_allowed_agents("0.0.0.0/0,::/0"))
    assert judge.admits(fb.wire(fb.datagram("10.9.9.9", 1, ()))) is True
    unknown_type = bytearray(fb.wire(fb.datagram("10.9.9.9", 1, ())))
    unknown_type[4:8] = (0).to_bytes(4, "big")
    assert judge.admits(bytes(unknown_type)) is False  # no address: nothing to admit
    bad_type = bytearray(unknown_type)
    bad_type[4:8] = (7).to_bytes(4, "big")
    assert judge.admits(bytes(bad_type)) is None  # the decoder refuses it, and says why
    version_4 = bytearray(fb.wire(fb.datagram("10.9.9.9", 1, ())))
    version_4[0:4] = (4).to_bytes(4, "big")
    assert judge.admits(bytes(version_4)) is None
    assert judge.admits(b"\x00\x00\x00\x05\x00\x00") is None
    assert judge.admits(b"\x00\x00\x00\x05\x00\x00\x00\x02" + b"\x20" * 8) is None  # short v6
    assert judge.admits_address(b"\x01\x02\x03") is False


def test_the_decision_cache_is_bounded() -> None:
    judge = AgentAdmission(parse_allowed_agents("10.0.0.0/8"))
    for n in range(MAX_CACHED_DECISIONS + 100):
        assert judge.admits_address((0x0A000000 + n).to_bytes(4, "big"))
    assert 0 < judge.cached_decisions <= MAX_CACHED_DECISIONS


# ---------------------------------------------------------------------------------------------
# One receiver's pipeline

_compiled, _why_not = _accounting_select.compiled_module()
PATHS = [
    pytest.param(False, None, id="full"),
    pytest.param(True, _accounting.FlowAccounting, id="fast-pure"),
    pytest.param(
        True,
        _compiled.FlowAccounting if _compiled is not None else None,
        id="fast-compiled",
        marks=pytest.mark.skipif(_compiled is None, reason=f"compiled build: {_why_not}"),
    ),
]


def _leaf1_datagram(sequence: int) -> bytes:
    """LEAF1 (a topology agent): a RoCEv2 flow sample at edge ingress (teaches a host's place),
    a counter sample of the edge port (a port status) and a drop notification."""
    frame = rocev2_frame(
        0x0A, dest_qp=5, psn=1, payload=b"\x00" * 32, src_mac=HOST_MAC, src_ip=HOST_IP,
        dst_ip="10.128.0.9", ecn=3,
    )  # fmt: skip
    header = sampled_header(1, len(frame) + 4, 4, frame[:128])
    samples = (
        fb.flow(sequence, fb.LEAF1_EDGE, (header,)),
        fb.counters(
            sequence, fb.LEAF1_EDGE, (fb.if_counters(fb.LEAF1_EDGE, in_octets=1000 * sequence),)
        ),
        fb.drop(sequence, 259),
    )
    return fb.wire(fb.datagram(fb.LEAF1, sequence, samples))


def _apply(rule: str, fast: bool, accounting_class: Any) -> Any:
    resolver = PortResolver(TopologyIndex(parse_topology(fb.TOPOLOGY)))
    accounting = accounting_class(11, False, 4096) if accounting_class is not None else None
    state = FabricState(resolver, None, accounting)
    admission = AgentAdmission(parse_allowed_agents(rule), parse_topology(fb.TOPOLOGY))
    pipeline = Pipeline(state, fast=fast, admission=admission)
    for sequence in range(1, 5):  # past probation: an admitted agent gets its own series
        pipeline.handler(memoryview(_leaf1_datagram(sequence)), 10.0 + sequence)
    return state.drain(20.0)


@pytest.mark.parametrize(("fast", "accounting_class"), PATHS)
def test_a_refused_agent_leaves_no_state(fast: bool, accounting_class: Any) -> None:
    refused = _apply("10.0.0.2/32", fast, accounting_class)  # LEAF2 only
    assert refused.counters == {
        "datagrams": {(): 4.0},
        "rejected_datagrams": {("agent_not_allowed",): 4.0},
    }
    assert refused.agents == {} and refused.ports == {}
    observed = refused.observed
    assert observed is None or (
        observed.locations == [] and observed.drop_events == [] and observed.flow_agents == {}
    )
    # the control: the same datagrams, admitted, leave every kind of state
    admitted = _apply("10.0.0.0/30", fast, accounting_class)
    assert "rejected_datagrams" not in admitted.counters
    assert admitted.counters["datagrams"] == {(): 4.0}
    assert admitted.counters["ecn_ce_packets"] == {("edge",): 4000.0}
    assert admitted.counters["dropped_packets"] == {("no_buffer_space",): 4.0}
    assert set(admitted.agents) == {(fb.LEAF1, 0)}
    assert (fb.LEAF1, fb.LEAF1_EDGE) in admitted.ports
    assert admitted.observed is not None
    assert {loc[0] for loc in admitted.observed.locations} == {HOST_MAC}
    assert len(admitted.observed.drop_events) == 4


# ---------------------------------------------------------------------------------------------
# Real collectors

REJECTED = "fabricscope_rejected_datagrams_total"
WARNING = "every sFlow agent is admitted"


def _wait_processed(served: Served, sent: int) -> dict[Any, float]:
    """Scrape until the collector has taken every datagram sent (bounded); the scrape."""
    deadline = time.monotonic() + 15
    while True:
        metrics = served.metrics()
        if metrics.get(("fabricscope_datagrams_total", ()), 0) >= sent:
            time.sleep(0.5)  # a tick more: every worker's delta merged
            return served.metrics()
        assert time.monotonic() < deadline, f"only {metrics} of {sent} datagrams taken"
        time.sleep(0.2)


def _rejected(metrics: dict[Any, float]) -> float:
    return metrics.get((REJECTED, (("reason", "agent_not_allowed"),)), 0.0)


class Senders:
    """Datagrams from many UDP source ports (SO_REUSEPORT spreads them over the workers), each
    agent with its own increasing sequence."""

    def __init__(self, port: int, sockets: int = 8) -> None:
        self.port = port
        self.sockets = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(sockets)]
        self.sequence: dict[str, int] = {}
        self.sent = 0

    def send(self, agent: str, per_socket: int = 1) -> int:
        for _ in range(per_socket):
            for sock in self.sockets:
                sequence = self.sequence[agent] = self.sequence.get(agent, 0) + 1
                sample = fb.counters(sequence, 3, (fb.if_counters(3, in_octets=sequence * 1000),))
                sock.sendto(
                    fb.wire(fb.datagram(agent, sequence, (sample,))), ("127.0.0.1", self.port)
                )
                self.sent += 1
                time.sleep(0.001)  # no kernel drops
        return per_socket * len(self.sockets)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


def test_a_cidr_rule_over_udp() -> None:
    served = start_serve(None, 1, "--allowed-agents", "10.1.0.0/16")
    senders = Senders(served.sflow_port, sockets=2)
    try:
        assert not any(WARNING in line for line in served.log)
        senders.send("10.1.2.3", 5)
        refused = senders.send(OUTSIDER, 5)
        metrics = _wait_processed(served, senders.sent)
        assert _rejected(metrics) == refused
        _, body = served.get("/agents/json")
        assert [a["agent"] for a in json.loads(body)["agents"]] == ["10.1.2.3"]
        _, body = served.get("/ports/json")
        assert OUTSIDER not in body and "10.1.2.3" in body
    finally:
        senders.close()
        served.stop()


def test_the_topology_word_follows_a_reload_with_two_workers(tmp_path: Path) -> None:
    first = json.loads(json.dumps(fb.TOPOLOGY))  # agents 10.0.0.1, .2, .3
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(first))
    served = start_serve(path, 2, "--allowed-agents", "topology")
    senders = Senders(served.sflow_port)
    inside, outside = "10.0.0.1", "10.0.0.77"
    try:
        senders.send(inside, 3)
        refused = senders.send(outside, 3)
        metrics = _wait_processed(served, senders.sent)
        assert _rejected(metrics) == refused
        _, body = served.get("/agents/json")
        assert {a["agent"] for a in json.loads(body)["agents"]} == {inside}
        # the topology moves leaf1 to the outside address
        second = json.loads(json.dumps(fb.TOPOLOGY))
        second["nodes"]["leaf1"]["agent"] = outside
        status, _ = served.put("/topology/json", json.dumps(second).encode())
        assert status == 200
        # every worker has it once a round from every source port is admitted (bounded)
        deadline = time.monotonic() + 10
        while True:
            before = _rejected(metrics)
            senders.send(outside)
            metrics = _wait_processed(served, senders.sent)
            if _rejected(metrics) == before:
                break
            assert time.monotonic() < deadline, "the workers did not take the new topology"
        before = _rejected(metrics)
        refused = senders.send(inside, 3)
        senders.send(outside, 3)
        metrics = _wait_processed(served, senders.sent)
        assert _rejected(metrics) - before == refused
        assert metrics[("fabricscope_datagrams_total", ())] == senders.sent
    finally:
        senders.close()
        served.stop()


def test_the_default_admits_every_agent_with_one_warning() -> None:
    served = start_serve(None, 2)
    senders = Senders(served.sflow_port, sockets=2)
    try:
        senders.send(OUTSIDER, 2)
        metrics = _wait_processed(served, senders.sent)
        assert _rejected(metrics) == 0
        assert metrics[("fabricscope_datagrams_total", ())] == senders.sent
    finally:
        senders.close()
        log = "".join(served.log) + served.stop()
    assert log.count(WARNING) == 1
    assert "--allowed-agents" in next(line for line in log.splitlines() if WARNING in line)


def test_a_bad_cidr_stops_serve_with_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector", "serve", "--sflow-bind", "127.0.0.1:0",
         "--http-bind", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
        env={**env(), "FABRICSCOPE_ALLOWED_AGENTS": "10.0.0.0/8,10.0.0.300/32"},
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "allowed_agents (from FABRICSCOPE_ALLOWED_AGENTS)" in result.stderr
    assert "'10.0.0.300/32'" in result.stderr


def test_the_rule_from_a_config_file_and_the_environment(tmp_path: Path) -> None:
    config = tmp_path / "fabricscope.toml"
    config.write_text('allowed_agents = ["10.1.0.0/16", "topology"]\n')
    settings = load_settings({}, env={}, config_file=config)
    assert settings.allowed_agents == AdmissionRule(("10.1.0.0/16",), True)
    # the environment overrides the file; an empty variable (compose's ${VAR:-}) is no rule
    env_rule = load_settings(
        {}, env={"FABRICSCOPE_ALLOWED_AGENTS": "192.0.2.0/24"}, config_file=config
    )
    assert env_rule.allowed_agents == AdmissionRule(("192.0.2.0/24",), False)
    assert not load_settings({}, env={"FABRICSCOPE_ALLOWED_AGENTS": ""}).allowed_agents.restricts
    config.write_text("allowed_agents = 7\n")
    with pytest.raises(SettingsError, match=r"invalid allowed_agents \(from config file"):
        load_settings({}, env={}, config_file=config)


def test_the_topology_word_without_a_topology_says_every_agent_is_refused() -> None:
    served = start_serve(None, 1, "--allowed-agents", "topology")
    senders = Senders(served.sflow_port, sockets=1)
    try:
        refused = senders.send(fb.LEAF1, 3)
        assert _rejected(_wait_processed(served, senders.sent)) == refused
    finally:
        senders.close()
        log = "".join(served.log) + served.stop()
    assert WARNING not in log
    assert log.count("the topology names no agent") == 1

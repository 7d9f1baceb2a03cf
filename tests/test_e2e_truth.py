"""End to end: ``fabricscope simulate`` drives a real ``fabricscope serve`` over UDP on 127.0.0.1.

Issue 4, first acceptance point. Each test starts ``serve`` (1 and 2 workers) with the topology
the simulator wrote, runs the simulator to it (a few virtual seconds, paced to at most
4,000 datagrams/s), waits until every datagram the truth file says was sent has been counted,
scrapes ``/metrics`` and compares with

* the **truth file** (exact counts of the traffic model) for every sampled estimate, within
  5 σ of the sampling error. Every packet is sampled independently with probability 1/R
  (geometric skips), so a count estimate is R × (number of samples n) with σ ≈ R·√n, and a
  byte estimate has variance Σ (R·len)² ≤ R·L_max·(estimated bytes), L_max the largest value
  one sample can carry (a frame: MTU plus headers; an RDMA operation: the message size). n is
  read back from the estimate itself (estimate / R) and never below the expected count;
* the truth file **exactly** for what is not sampled: datagrams and samples sent, drop
  notifications by reason, lost datagrams;
* an **oracle** for counter-derived totals: the same seed and flags written to a pcap give
  the same datagrams (the UDP run's truth is checked equal to the pcap run's), and replaying
  them through the documented counter rules (tests/e2e_support.py) gives the exact totals the
  collector must report; those are in turn checked against the truth (a spike would exceed
  what the traffic model counted).

Bad datagrams (random bytes, truncated sFlow, NetFlow v5) are sent from the test alongside the
simulation and must be counted by reason exactly, leaving the good totals unchanged.
"""

from __future__ import annotations

import json
import math
import random
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from decoders import decode_datagram
from decoders.errors import DecodeError
from simulator.agent import Agent
from simulator.config import SimConfig
from simulator.fabric import topology_json
from simulator.output import DatagramSink, ListSink, UdpSink
from simulator.run import Simulation
from tests.e2e_support import (
    Metrics,
    Oracle,
    Served,
    counter_oracle,
    load_truth,
    notifications_lost,
    pcap_datagrams,
    simulate,
    start_serve,
)

SEED = 3
DURATION = 4  # virtual seconds
SAMPLING = 20000  # 1-in-N: about 18k flow samples and 2.6k datagrams per virtual second
RATE_SCALE = 1.5  # virtual seconds per wall second
MAX_RATE = 4000  # datagrams/s, well within what one receiving process takes on 2 cores
START = 1735689600  # 2025-01-01: the UDP and pcap runs then carry the same bytes
K_SIGMA = 5.0
L_FRAME = 4096 + 256  # the largest sampled frame: RoCE MTU 4096 plus headers and FCS
MESSAGE = 524288  # RDMA message size (the largest RETH DMA length)

COMMON = [
    "--seed", str(SEED), "--duration", str(DURATION), "--sampling-rate", str(SAMPLING),
    "--polling-interval", "1", "--start-time", str(START),
]  # fmt: skip


@pytest.fixture(params=[1, 2], ids=["workers1", "workers2"])
def workers(request: pytest.FixtureRequest) -> int:
    return int(request.param)


# -- bounds -------------------------------------------------------------------------------------


def assert_count_within(name: str, estimate: float, truth: float, rate: int = SAMPLING) -> float:
    """|estimate − truth| ≤ 5 σ with σ = R·√n, n = samples behind the estimate (≥ expected)."""
    n = max(estimate / rate, truth / rate, 1.0)
    sigma = rate * math.sqrt(n)
    assert abs(estimate - truth) <= K_SIGMA * sigma, (name, estimate, truth, sigma)
    return sigma


def assert_bytes_within(
    name: str, estimate: float, truth: float, largest: int, rate: int = SAMPLING
) -> float:
    """|estimate − truth| ≤ 5 σ with σ² = Σ (R·len)² ≤ R·largest·max(estimate, truth)."""
    sigma = math.sqrt(rate * largest * max(estimate, truth, 1.0))
    assert abs(estimate - truth) <= K_SIGMA * sigma, (name, estimate, truth, sigma)
    return sigma


# -- runs ---------------------------------------------------------------------------------------


def _pcap_run(tmp: Path, extra: list[str]) -> tuple[Oracle, dict[str, Any], Path]:
    """The same seed and flags to a pcap: the oracle, the truth and the topology file."""
    pcap, truth, topo = tmp / "run.pcap", tmp / "pcap-truth.json", tmp / "topology.json"
    simulate(["--pcap", str(pcap), "--truth", str(truth), "--topology-out", str(topo), *extra])
    datagrams = pcap_datagrams(pcap)
    return counter_oracle(datagrams), load_truth(truth), topo


def _udp_run(tmp: Path, served: Served, extra: list[str]) -> dict[str, Any]:
    truth = tmp / "truth.json"
    simulate(
        ["--collector", f"127.0.0.1:{served.sflow_port}", "--truth", str(truth),
         "--rate-scale", str(RATE_SCALE), "--max-rate", str(MAX_RATE), *extra]
    )  # fmt: skip
    return load_truth(truth)


def _sum_seconds(truth: dict[str, Any], *path: str) -> float:
    total = 0.0
    for second in truth["seconds"]:
        value: Any = second
        for key in path:
            value = value.get(key, 0) if isinstance(value, dict) else 0
        total += value
    return total


def _assert_health(
    m: Metrics, truth: dict[str, Any], oracle: Oracle, extra_datagrams: int = 0
) -> None:
    """Everything delivered was received and decoded, nothing went wrong on the way.

    ``emitted.datagrams`` excludes lost datagrams but the emitted sample counts include the
    samples that were in them, so samples are compared with what the oracle decoded from the
    delivered datagrams (equal to the truth's when nothing was lost).
    """
    emitted = truth["totals"]["emitted"]
    # first: a receiver that fell behind on a loaded machine shows here, not as a count mismatch
    assert m.one("fabricscope_kernel_receive_drops_total") == 0
    assert m.one("fabricscope_datagrams_total") == emitted["datagrams"] + extra_datagrams
    assert m.sum("fabricscope_agent_datagrams_total") == emitted["datagrams"]
    assert m.one("fabricscope_samples_total", kind="flow") == oracle.flow_samples
    assert m.one("fabricscope_samples_total", kind="counter") == oracle.counter_samples
    assert m.one("fabricscope_samples_total", kind="drop") == oracle.drop_samples
    assert m.one("fabricscope_internal_errors_total") == 0
    assert m.one("fabricscope_out_of_order_datagrams_total") == 0
    assert m.by("fabricscope_lost_samples_total", "kind") == dict(oracle.sample_gaps)
    assert m.sum("fabricscope_topology_misses_total") == 0
    assert m.sum("fabricscope_malformed_records_total") == 0


def _assert_counters_match_oracle(m: Metrics, oracle: Oracle, truth: dict[str, Any]) -> None:
    """Counter-derived totals: exactly the oracle's, and never more than the truth counted."""
    families = {
        "bytes": "fabricscope_interface_bytes_total",
        "packets": "fabricscope_interface_packets_total",
        "errors": "fabricscope_interface_errors_total",
        "discards": "fabricscope_interface_discards_total",
    }
    for what, family in families.items():
        for direction in ("in", "out"):
            got = m.sum(family, direction=direction)
            assert got == oracle.counters[what, direction], (what, direction, got)
    # the truth's view: every port's bytes and frames, errors and discards, over the whole run
    t_in_bytes = sum(v[0] for s in truth["seconds"] for v in s["ports"].values())
    t_in_frames = sum(v[1] for s in truth["seconds"] for v in s["ports"].values())
    t_out_bytes = sum(v[2] for s in truth["seconds"] for v in s["ports"].values())
    t_out_frames = sum(v[3] for s in truth["seconds"] for v in s["ports"].values())
    tot = truth["totals"]
    assert 0 < oracle.counters["bytes", "in"] <= t_in_bytes
    assert 0 < oracle.counters["packets", "in"] <= t_in_frames
    assert 0 < oracle.counters["bytes", "out"] <= t_out_bytes
    assert 0 < oracle.counters["packets", "out"] <= t_out_frames
    # polls every second at a random phase per port: the counted share of a 4 s run is large
    assert oracle.counters["bytes", "in"] > 0.4 * t_in_bytes
    assert oracle.counters["errors", "in"] <= tot["errors"]["in"]
    assert oracle.counters["discards", "in"] <= tot["discards"]["in"]
    assert oracle.counters["discards", "out"] <= tot["discards"]["out"]


# -- bad datagrams ------------------------------------------------------------------------------


def _bad_datagrams(good: list[bytes]) -> list[bytes]:
    rng = random.Random(SEED)
    bad = [rng.randbytes(rng.randrange(0, 400)) for _ in range(60)]
    bad += [g[: rng.randrange(1, len(g) - 1)] for g in rng.sample(good, 60)]  # truncations
    for n in range(30):  # NetFlow v5: version 5 as a 16-bit field, a count, then 24 + 48·count
        count = 1 + n % 5
        header = struct.pack(">HHIIIIBBH", 5, count, 1000 + n, START, 0, n, 0, 0, 0)
        bad.append(header + rng.randbytes(48 * count))
    rng.shuffle(bad)
    return bad


def _reasons(bad: list[bytes]) -> Counter[str]:
    out: Counter[str] = Counter()
    for payload in bad:
        with pytest.raises(DecodeError) as caught:
            decode_datagram(payload)
        out[caught.value.reason] += 1
    return out


class _Sender(threading.Thread):
    """Sends ``payloads`` from its own socket, spread over ``seconds``, while a run goes on."""

    def __init__(self, port: int, payloads: list[bytes], seconds: float) -> None:
        super().__init__(daemon=True)
        self.port, self.payloads, self.seconds = port, payloads, seconds

    def run(self) -> None:
        gap = self.seconds / max(1, len(self.payloads))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            for payload in self.payloads:
                sock.sendto(payload, ("127.0.0.1", self.port))
                time.sleep(gap)


@pytest.fixture
def serve_factory() -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for s in started:
        s.stop()


# -- tests --------------------------------------------------------------------------------------


def test_native_metrics_agree_with_the_truth_with_bad_datagrams_mixed_in(
    workers: int, tmp_path: Path, serve_factory: list[Served]
) -> None:
    # no rate limit: every drop is notified; WRITE_FIRST, WRITE_LAST(_WITH_IMMEDIATE) and the
    # CTS WRITE_ONLY at distinct rates, so that no two operation labels have the same truth
    extra = [
        *COMMON, "--drop-limit", "1000", "--write-imm-fraction", "0.7", "--cts-ratio", "0.4",
    ]  # fmt: skip
    oracle, pcap_truth, topo = _pcap_run(tmp_path, extra)
    served = start_serve(topo, workers)
    serve_factory.append(served)
    bad = _bad_datagrams(pcap_datagrams(tmp_path / "run.pcap"))
    expected_reasons = _reasons(bad)
    sender = _Sender(served.sflow_port, bad, DURATION / RATE_SCALE)
    sender.start()
    truth = _udp_run(tmp_path, served, extra)
    sender.join(timeout=30)
    assert truth["totals"] == pcap_truth["totals"]  # the same run as the oracle's
    tot = truth["totals"]
    assert tot["emitted"]["lost"] == 0
    assert oracle.datagrams == tot["emitted"]["datagrams"]
    m = served.wait_settled(tot["emitted"]["datagrams"] + len(bad))
    assert (oracle.flow_samples, oracle.counter_samples, oracle.drop_samples) == (
        tot["emitted"]["flow_samples"],
        tot["emitted"]["counter_samples"],
        tot["emitted"]["drop_samples"],
    )
    _assert_health(m, truth, oracle, extra_datagrams=len(bad))

    # bad datagrams: every one counted by the decoder's reason, nothing else disturbed
    assert m.by("fabricscope_decode_errors_total", "reason") == dict(expected_reasons)
    assert m.one("fabricscope_lost_datagrams_total") == 0
    assert m.one("fabricscope_restarts_detected_total") == 0
    assert m.one("fabricscope_agents") == truth["fabric"]["switches"]

    # traffic entering the fabric (edge ingress), every frame and byte
    sig = assert_count_within(
        "frames", m.one("fabricscope_fabric_ingress_frames_total"), tot["edge"]["frames"]
    )
    assert sig < 0.01 * tot["edge"]["frames"]  # the bound is tight enough to mean something
    assert_bytes_within(
        "bytes", m.one("fabricscope_fabric_ingress_bytes_total"), tot["edge"]["bytes"], L_FRAME
    )
    assert m.one("fabricscope_ingress_frames_total", role="unmapped") == 0

    # RoCEv2 operations: the truth counts each packet once, where it enters the fabric (edge)
    ops = m.by("fabricscope_rocev2_operations_total", "operation", role="edge")
    assert set(ops) == set(tot["operations"])  # both ways: no label made up, none lost
    # no two labels with the same truth, so a swap of two labels cannot pass; except READ
    # REQUEST / RESPONSE FIRST / RESPONSE LAST, one each per multi-packet read whatever the
    # traffic (their opcodes are held to the IBTA table by tests/test_rocev2.py)
    one_per_read = {f"RC:RDMA_READ_{op}" for op in ("REQUEST", "RESPONSE_FIRST", "RESPONSE_LAST")}
    truths = [n for label, n in tot["operations"].items() if label not in one_per_read]
    assert len(set(truths)) == len(truths), f"operations share a truth: {tot['operations']}"
    for label, true_count in tot["operations"].items():
        assert_count_within(label, ops[label], true_count)
    assert_count_within(
        "rdma ops", m.one("fabricscope_rdma_operations_total", role="edge"), tot["rdma_ops"]["ops"]
    )
    rdma_bytes = sum(s["rdma"]["ops"] * s["rdma"]["bytes_mean"] for s in truth["seconds"])
    assert_bytes_within(
        "rdma bytes", m.one("fabricscope_rdma_bytes_total", role="edge"), rdma_bytes, MESSAGE
    )
    assert_count_within(
        "acks",
        m.one("fabricscope_aeth_acks_total", role="edge"),
        _sum_seconds(truth, "aeth", "acks"),
    )

    # ECN-CE and CNP: per hop (summed over every role) and, for CNP, once (edge)
    assert_count_within("ecn", m.sum("fabricscope_ecn_ce_packets_total"), tot["ecn"]["ingress"])
    assert_count_within(
        "cnp", m.one("fabricscope_cnp_packets_total", role="edge"), tot["cnp"]["packets"]
    )
    assert_count_within("cnp hops", m.sum("fabricscope_cnp_packets_total"), tot["cnp"]["ingress"])

    # drops: not sampled; with the limit out of the way every dropped packet is notified
    assert _sum_seconds(truth, "drop_notifications", "suppressed") == 0
    assert _sum_seconds(truth, "drop_notifications", "sent") == sum(tot["drops"].values())
    assert m.by("fabricscope_dropped_packets_total", "reason") == tot["drops"]
    assert m.one("fabricscope_drop_notifications_lost_total") == 0

    # interface counters
    _assert_counters_match_oracle(m, oracle, truth)
    assert m.one("fabricscope_links", status="up") == truth["fabric"]["links"]
    assert m.sum("fabricscope_interface_discontinuities_total") == 0


def test_faults_restart_loss_and_link_down(
    workers: int, tmp_path: Path, serve_factory: list[Served]
) -> None:
    faults = ["restart:leaf2@2.5", "loss:0.05@0.5+1.5", "linkdown:leaf1-spine1"]
    extra = [*COMMON, *(a for f in faults for a in ("--fault", f))]
    oracle, pcap_truth, topo = _pcap_run(tmp_path, extra)
    served = start_serve(topo, workers, "--per-port-metrics")
    serve_factory.append(served)
    truth = _udp_run(tmp_path, served, extra)
    assert truth["totals"] == pcap_truth["totals"]
    tot = truth["totals"]
    m = served.wait_settled(tot["emitted"]["datagrams"])
    _assert_health(m, truth, oracle)
    assert m.sum("fabricscope_decode_errors_total") == 0

    # lost datagrams: exact. The loss window ends 2 s before the run does, so every lost
    # datagram is followed by a delivered one of the same agent (a gap in its sequence), and
    # one UDP socket on loopback does not reorder (out-of-order is asserted 0 above). The
    # restart's pending datagram is not counted by the truth, and the restart is no gap.
    lost = tot["emitted"]["lost"]
    assert lost > 10
    assert oracle.datagram_gaps == lost
    assert m.one("fabricscope_lost_datagrams_total") == lost
    assert m.sum("fabricscope_agent_lost_datagrams_total") == lost
    # ... and the samples they carried, by kind, from the per-source sequences
    assert oracle.sample_gaps["flow"] > 0
    assert m.by("fabricscope_lost_samples_total", "kind") == dict(oracle.sample_gaps)

    # agent restart: detected once, for leaf2's agent
    leaf2 = "10.0.0.2"
    assert dict(oracle.restarts) == {leaf2: 1}
    assert m.one("fabricscope_restarts_detected_total") == 1
    assert m.one("fabricscope_agent_restarts_total", agent=leaf2, sub_agent="0") == 1
    assert m.one("fabricscope_agent_uptime_seconds", agent=leaf2, sub_agent="0") < DURATION
    # ... and no spike in counter-derived totals: exactly the oracle (baselines of leaf2
    # dropped at the restart), never more than the truth counted
    _assert_counters_match_oracle(m, oracle, truth)
    assert m.one("fabricscope_interface_discontinuities_total", reason="reset") == 0
    assert m.one("fabricscope_interface_discontinuities_total", reason="implausible") == 0

    # drops: the delivered notifications, by reason (some went with the lost datagrams)
    assert m.by("fabricscope_dropped_packets_total", "reason") == dict(oracle.drops_by_reason)

    # link down from the start: one link down, its two ports down and without traffic
    topology = json.loads(topo.read_text())
    link = topology["links"]["leaf1-spine1"]
    ends = [(link["node1"], link["port1"]), (link["node2"], link["port2"])]
    assert m.one("fabricscope_links", status="down") == 1
    assert m.one("fabricscope_links", status="up") == truth["fabric"]["links"] - 1
    assert m.one("fabricscope_ports", role="core", status="down") == 2
    for node, port in ends:
        assert m.one("fabricscope_port_oper_up", node=node, port=port, role="core") == 0
        assert m.one("fabricscope_port_ingress_bytes_total", node=node, port=port, role="core") == 0
        for direction in ("in", "out"):
            assert (
                m.one("fabricscope_port_bytes_total", node=node, port=port, role="core",
                      direction=direction)
                == 0
            )  # fmt: skip
        assert not any(f"{node}:{port}" in s["ports"] for s in truth["seconds"])
    # the other uplinks of leaf1 did carry traffic
    up = m.by("fabricscope_port_ingress_bytes_total", "port", node="leaf1", role="core")
    assert len(up) >= 2 and all(v > 0 for v in up.values())


def test_drop_notifications_under_the_rate_limit(
    workers: int, tmp_path: Path, serve_factory: list[Served]
) -> None:
    """Drops are not sampled: every delivered notification counts once, by reason; the ones the
    agents' token bucket suppressed come back through the samples' drops field."""
    rates = ["acl=40", "ttl_exceeded=10", "blackhole_route=10", "netfilter=10", "no_socket=10"]
    extra = [*COMMON, "--drop-limit", "2", *(a for r in rates for a in ("--drop-rate", r))]
    oracle, pcap_truth, topo = _pcap_run(tmp_path, extra)
    served = start_serve(topo, workers)
    serve_factory.append(served)
    truth = _udp_run(tmp_path, served, extra)
    assert truth["totals"] == pcap_truth["totals"]
    tot = truth["totals"]
    m = served.wait_settled(tot["emitted"]["datagrams"])
    _assert_health(m, truth, oracle)
    sent = _sum_seconds(truth, "drop_notifications", "sent")
    suppressed = _sum_seconds(truth, "drop_notifications", "suppressed")
    assert sent + suppressed == sum(tot["drops"].values())
    assert suppressed > 50 and sent == tot["emitted"]["drop_samples"]
    got = m.by("fabricscope_dropped_packets_total", "reason")
    assert got == dict(oracle.drops_by_reason)
    assert sum(got.values()) == sent
    for reason, count in got.items():
        assert count <= tot["drops"][reason]
    lost = notifications_lost(oracle)
    assert 0 < lost <= suppressed
    assert m.one("fabricscope_drop_notifications_lost_total") == lost


class _Tee(DatagramSink):
    """Sends over UDP and keeps a copy of every datagram."""

    def __init__(self, udp: UdpSink) -> None:
        self.udp = udp
        self.datagrams: list[bytes] = []

    def emit(self, t: float, agent: Agent, data: bytes) -> None:
        self.datagrams.append(data)
        self.udp.emit(t, agent, data)

    def close(self) -> None:
        self.udp.close()


def test_counter_wrap_without_spike(
    workers: int, tmp_path: Path, serve_factory: list[Served]
) -> None:
    """32-bit packet counters that wrap mid-run are taken as wraps, not resets or spikes.

    Packet counters start at 0 in a simulation, and a 400G port needs minutes to wrap one, so
    the engine is run in-process with every port's packet counters started 3·10⁶ below 2³²
    (about half a second of an edge port's traffic), and sends over UDP like ``simulate``.
    """
    config = SimConfig(seed=SEED, sampling_rate=SAMPLING, polling_interval=1.0, start_time=START)
    # the twin: the same run with counters from 0, which never wrap in 4 s
    twin_sink = ListSink()
    twin = Simulation(config, twin_sink)
    twin.run_until(float(DURATION))
    twin.finish()
    unwrapped = counter_oracle(d for _, _, d in twin_sink.datagrams)
    assert unwrapped.wraps == 0
    topo = tmp_path / "topology.json"
    topo.write_text(json.dumps(topology_json(twin.fabric)))
    served = start_serve(topo, workers)
    serve_factory.append(served)
    tee = _Tee(UdpSink("127.0.0.1", served.sflow_port, rate_scale=RATE_SCALE, max_rate=MAX_RATE))
    sim = Simulation(config, tee)
    offset = (1 << 32) - 3_000_000
    sim.in_pkts = [offset] * len(sim.in_pkts)
    sim.out_pkts = [offset] * len(sim.out_pkts)
    sim.run_until(float(DURATION))
    sim.finish()
    truth = {"totals": sim.truth.totals}
    oracle = counter_oracle(tee.datagrams)
    assert oracle.datagrams == truth["totals"]["emitted"]["datagrams"]
    m = served.wait_settled(oracle.datagrams)
    _assert_health(m, truth, oracle)
    assert oracle.wraps > 10
    assert m.one("fabricscope_interface_discontinuities_total", reason="wrap") == oracle.wraps
    assert m.one("fabricscope_interface_discontinuities_total", reason="reset") == 0
    assert m.one("fabricscope_interface_discontinuities_total", reason="implausible") == 0
    # exactly the twin's deltas: no interval counted 2**32 too many (a spike) or skipped
    for direction in ("in", "out"):
        got = m.sum("fabricscope_interface_packets_total", direction=direction)
        assert (
            got == unwrapped.counters["packets", direction] == oracle.counters["packets", direction]
        )
    assert m.sum("fabricscope_interface_bytes_total") == sum(
        v for (what, _), v in unwrapped.counters.items() if what == "bytes"
    )
    in_frames = sum(v[1] for s in sim.truth.seconds for v in s["ports"].values())
    assert 0.4 * in_frames < unwrapped.counters["packets", "in"] <= in_frames

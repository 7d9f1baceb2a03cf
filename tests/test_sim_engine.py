"""Simulator engine: everything decodes, agents behave like sFlow agents, faults, determinism."""

from __future__ import annotations

import io
import itertools
import struct
import zlib
from collections import Counter, defaultdict
from typing import Any

import pytest

from decoders import decode_datagram
from decoders.records import (
    CounterSample,
    Datagram,
    DropSample,
    ExtendedEgressQueue,
    ExtendedFunction,
    ExtendedHwTrap,
    ExtendedLinuxDropReason,
    ExtendedQueue,
    ExtendedTransit,
    FlowSample,
    GenericInterfaceCounters,
    HostDescription,
    PortName,
    SampledHeader,
)
from decoders.rocev2 import CREDIT_TABLE
from simulator.config import SimConfig
from simulator.fabric import FabricSpec
from simulator.faults import parse_fault
from simulator.output import ListSink, PcapSink
from simulator.run import Simulation
from simulator.traffic import TrafficSpec


def run(config: SimConfig, seconds: float) -> tuple[Simulation, list[tuple[float, Datagram]]]:
    sink = ListSink()
    sim = Simulation(config, sink)
    sim.run_until(seconds)
    sim.finish()
    return sim, [(t, decode_datagram(d)) for t, _, d in sink.datagrams]


@pytest.fixture(scope="module")
def basic() -> tuple[Simulation, list[tuple[float, Datagram]], list[bytes]]:
    sink = ListSink()
    sim = Simulation(SimConfig(sampling_rate=20000, polling_interval=2.0), sink)
    sim.run_until(4.0)
    sim.finish()
    raw = [d for _, _, d in sink.datagrams]
    return sim, [(t, decode_datagram(d)) for t, _, d in sink.datagrams], raw


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    def pcap(seed: int) -> bytes:
        buf = io.BytesIO()
        sim = Simulation(SimConfig(seed=seed, sampling_rate=50000), PcapSink(buf))
        sim.run_until(2.0)
        sim.finish()
        return buf.getvalue()

    a, b, c = pcap(7), pcap(7), pcap(8)
    assert a == b
    assert a != c
    assert len(a) > 10_000


def test_datagrams_are_bounded_and_sequenced(basic: Any) -> None:
    sim, dgrams, raw = basic
    assert max(len(d) for d in raw) <= 1400
    seqs: dict[str, list[int]] = defaultdict(list)
    uptimes: dict[str, list[int]] = defaultdict(list)
    for _, d in dgrams:
        assert d.version == 5 and d.agent is not None
        seqs[d.agent].append(d.sequence)
        uptimes[d.agent].append(d.uptime_ms)
    assert set(seqs) == set(sim.fabric.agents)
    for agent, s in seqs.items():
        assert s == list(range(1, len(s) + 1)), agent
        assert uptimes[agent] == sorted(uptimes[agent])
        assert uptimes[agent][0] > 86_400_000  # booted at least a day ago
    times = [t for t, _ in dgrams]
    assert times == sorted(times)


def test_flow_samples_are_consistent_per_data_source(basic: Any) -> None:
    _sim, dgrams, _ = basic
    seq: dict[tuple[str, int], list[int]] = defaultdict(list)
    pool: dict[tuple[str, int], list[int]] = defaultdict(list)
    for _, d in dgrams:
        for s in d.samples:
            if isinstance(s, FlowSample):
                assert not s.expanded and s.sampling_rate == 20000
                assert s.input.value == s.source.index and s.output.ifindex is not None
                assert isinstance(s.records[0], SampledHeader)
                assert s.records[0].stripped == 4
                seq[(d.agent or "", s.source.index)].append(s.sequence)
                pool[(d.agent or "", s.source.index)].append(s.sample_pool)
    assert len(seq) > 40
    for key, values in seq.items():
        assert values == list(range(1, len(values) + 1)), key
        assert pool[key] == sorted(pool[key])
        # every 20,000th packet on average: the pool grows ~20,000 per sample
        if len(values) > 200:
            assert 0.8 < pool[key][-1] / (20000 * len(values)) < 1.25


def test_rocev2_contents(basic: Any) -> None:
    _sim, dgrams, _ = basic
    ops: Counter[str] = Counter()
    dma: Counter[int] = Counter()
    credits: set[int] = set()
    ce = icrc_checked = 0
    for _, d in dgrams:
        for s in d.samples:
            if not isinstance(s, FlowSample):
                continue
            h = s.records[0]
            assert isinstance(h, SampledHeader)
            roce = h.packet.roce
            if roce is None:
                continue
            assert roce.complete
            ops[f"{roce.bth.transport}:{roce.bth.operation}"] += 1
            if roce.reth is not None:
                dma[roce.reth.dma_length] += 1
            if roce.aeth is not None and roce.aeth.kind == "ACK" and roce.bth.opcode == 0x11:
                assert roce.aeth.credits is not None
                credits.add(roce.aeth.credits)
            ce += h.packet.ecn == 3
            if len(h.header) == h.frame_length - 4:  # whole frame: the ICRC must be right
                ip = h.header[14:-4]
                masked = bytearray(ip)
                masked[1] = masked[8] = 0xFF
                masked[10:12] = b"\xff\xff"
                masked[26:28] = b"\xff\xff"
                masked[32] = 0xFF
                want = struct.pack("<I", zlib.crc32(b"\xff" * 8 + bytes(masked)))
                assert h.header[-4:] == want
                icrc_checked += 1
    for op in (
        "RC:RDMA_WRITE_FIRST",
        "RC:RDMA_WRITE_MIDDLE",
        "RC:RDMA_WRITE_LAST_WITH_IMMEDIATE",
        "RC:RDMA_WRITE_ONLY",
        "RC:ACKNOWLEDGE",
        "RC:RDMA_READ_RESPONSE_MIDDLE",
        "CNP:CNP",
    ):
        assert ops[op] > 0, op
    assert set(dma) <= {524288, 64}
    assert credits and credits <= {c for c in CREDIT_TABLE if c is not None}
    assert ce > 0 and icrc_checked > 100


def test_counters_host_and_drops(basic: Any) -> None:
    sim, dgrams, _ = basic
    names: dict[tuple[str, int], str] = {}
    hosts: set[str] = set()
    reasons: Counter[int] = Counter()
    per_agent_drops: Counter[str] = Counter()
    for _, d in dgrams:
        for s in d.samples:
            if isinstance(s, CounterSample):
                if s.source.type == 2:
                    (h,) = s.records
                    assert isinstance(h, HostDescription)
                    hosts.add(h.hostname)
                    continue
                g, _eth, pn = s.records
                assert isinstance(g, GenericInterfaceCounters) and isinstance(pn, PortName)
                assert g.if_index == s.source.index and g.if_speed == 400_000_000_000
                assert g.if_status == 3
                names[(d.agent or "", g.if_index)] = pn.name
            elif isinstance(s, DropSample):
                reasons[s.reason] += 1
                per_agent_drops[d.agent or ""] += 1
                kinds = {type(r) for r in s.records}
                assert SampledHeader in kinds
                assert (
                    ExtendedHwTrap in kinds
                    or {
                        ExtendedFunction,
                        ExtendedLinuxDropReason,
                    }
                    <= kinds
                )
    fab = sim.fabric
    for p in range(fab.n_ports):
        key = (fab.agents[fab.port_switch[p]], fab.port_ifindex[p])
        assert names[key] == fab.port_name(p)  # every port polled within 4 s at 2 s polling
    assert hosts == set(fab.switch_names)
    assert 259 in reasons  # congestion drops
    totals = sim.truth.totals
    assert sum(reasons.values()) == totals["emitted"]["drop_samples"]
    for agent, n in per_agent_drops.items():
        assert n <= 10 * 4 + 10, agent  # the 10/s rate limit, burst 10


def test_counter_packets_wrap_at_32_bits() -> None:
    sink = ListSink()
    sim = Simulation(SimConfig(sampling_rate=100000, polling_interval=1.0), sink)
    p = sim.fabric.nic_port[0]
    sim.in_pkts[p] = (1 << 32) - 5
    sim.in_oct[p] = (1 << 64) - 1000
    sim.run_until(1.0)
    sim.finish()
    agent = sim.fabric.agents[sim.fabric.port_switch[p]]
    for _, _, data in sink.datagrams:
        d = decode_datagram(data)
        if d.agent != agent:
            continue
        for s in d.samples:
            if isinstance(s, CounterSample) and s.source.index == sim.fabric.port_ifindex[p]:
                g = s.records[0]
                assert isinstance(g, GenericInterfaceCounters)
                assert g.in_ucast_pkts < (1 << 31)  # wrapped past 2^32
                assert g.in_octets < (1 << 63)
                return
    pytest.fail("no counter sample for the port")


def test_faults() -> None:
    faults = tuple(
        parse_fault(f)
        for f in (
            "restart:leaf2@1.5",
            "loss:0.2@2+0.9",
            "linkdown:leaf1-spine1@0.5+1",
            "unmonitored:spine2",
            "samplingrate:leaf3=5000",
        )
    )
    sim, dgrams = run(SimConfig(sampling_rate=20000, polling_interval=0.5, faults=faults), 3.0)
    fab = sim.fabric
    agent_of = {fab.switch_names[s]: fab.agents[s] for s in range(fab.n_switches)}
    by_agent: dict[str, list[tuple[float, Datagram]]] = defaultdict(list)
    for t, d in dgrams:
        by_agent[d.agent or ""].append((t - sim.config.start_time, d))
    assert agent_of["spine2"] not in by_agent
    # restart: sequence numbers start again at 1 and uptime restarts near 0
    leaf2 = by_agent[agent_of["leaf2"]]
    after = [d for t, d in leaf2 if t >= 1.5]
    assert after[0].sequence == 1 and after[0].uptime_ms < 100
    # loss: gaps in the other agents' sequences, as many as the truth says
    gaps = 0
    for agent, items in by_agent.items():
        seq = [d.sequence for _, d in items if agent != agent_of["leaf2"]]
        gaps += sum(b - a - 1 for a, b in itertools.pairwise(seq) if b > a)
    lost = sim.truth.totals["emitted"]["lost"]
    assert lost > 0 and gaps <= lost
    # sampling rate override
    rates = {
        s.sampling_rate
        for _, d in by_agent[agent_of["leaf3"]]
        for s in d.samples
        if isinstance(s, FlowSample)
    }
    assert rates == {5000}
    # link down: no traffic sampled on either end while down, oper status down in counters
    leaf_port, _spine_port = fab.link_ports[fab.link_index["leaf1-spine1"]]
    down_if = fab.port_ifindex[leaf_port]
    statuses = []
    for t, d in by_agent[agent_of["leaf1"]]:
        for s in d.samples:
            if isinstance(s, FlowSample) and 0.55 < t < 1.45:
                assert s.source.index != down_if
            if isinstance(s, CounterSample) and s.source.index == down_if and 0.55 < t < 1.45:
                g = s.records[0]
                assert isinstance(g, GenericInterfaceCounters)
                statuses.append(g.if_status)
    assert statuses and set(statuses) == {1}


def test_a_down_link_carries_no_traffic_either_way() -> None:
    # ECMP at every other leaf must avoid spine1 for leaf1's hosts once spine1 has no live link
    # to leaf1 (a routed fabric withdraws the route); otherwise spine1 would keep sending down
    # the dead link.
    fabric = FabricSpec(leaves=2, spines=3, hosts_per_leaf=3, uplinks_per_leaf=3)
    down = (parse_fault("linkdown:leaf1-spine1"),)
    sim, _ = run(SimConfig(fabric=fabric, sampling_rate=20000, faults=down, seed=5), 2.0)
    busy = [set(second["ports"]) for second in sim.truth.seconds]
    assert busy and all("leaf1:swp1" in ports for ports in busy)  # hosts still send
    fab = sim.fabric
    leaf_port, spine_port = fab.link_ports[fab.link_index["leaf1-spine1"]]
    ends = {
        f"{fab.switch_names[fab.port_switch[p]]}:{fab.port_name(p)}"
        for p in (leaf_port, spine_port)
    }
    assert all(not ports & ends for ports in busy), ends
    # with the link up, the same traffic does use it
    sim_up, _ = run(SimConfig(fabric=fabric, sampling_rate=20000, seed=5), 2.0)
    assert any(set(second["ports"]) & ends for second in sim_up.truth.seconds)


def test_ipv6_agents_and_rocev2_over_ipv6() -> None:
    cfg = SimConfig(
        fabric=FabricSpec(agent_base="fd00:5f::1", host_base="fd00:a1::1"),
        traffic=TrafficSpec(ip_version=6),
        sampling_rate=20000,
    )
    _sim, dgrams = run(cfg, 1.0)
    assert dgrams and all(d.agent_address_type == 2 for _, d in dgrams)
    versions = Counter()
    for _, d in dgrams:
        for s in d.samples:
            if isinstance(s, FlowSample):
                h = s.records[0]
                assert isinstance(h, SampledHeader)
                versions[h.packet.ip_version] += 1
                if h.packet.dst_port == 4791:
                    assert h.packet.roce is not None
    assert set(versions) == {6}


def test_flow_extensions_switch() -> None:
    _sim, dgrams = run(SimConfig(sampling_rate=20000, flow_extensions=True), 1.0)
    seen = 0
    for _, d in dgrams:
        for s in d.samples:
            if isinstance(s, FlowSample):
                kinds = [type(r) for r in s.records]
                assert kinds == [SampledHeader, ExtendedEgressQueue, ExtendedTransit, ExtendedQueue]
                seen += 1
    assert seen > 100


def test_truth_is_self_consistent(basic: Any) -> None:
    sim, _, _ = basic
    for sec in sim.truth.seconds:
        edge = sec["edge"]
        assert edge["frames"] >= edge["roce_frames"] > 0
        assert sum(sec["operations"].values()) == edge["roce_frames"]
        ports = sec["ports"]
        fab = sim.fabric
        edge_in = sum(v[1] for k, v in ports.items() if fab.port_role[fab.find_port(k)] == 0)
        assert edge_in == edge["frames"]  # every packet enters the fabric at one edge port
        assert sec["ecn"]["ingress"] >= 0 and sec["cnp"]["ingress"] >= sec["cnp"]["packets"]
        assert 0.3 < sec["exchange"][0] < 0.7

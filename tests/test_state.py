"""FabricState and Aggregator: fixed ``now``, plain asserts, no sockets."""

from __future__ import annotations

import pytest

from collector.aggregate.aggregator import Aggregator, AggregatorSettings
from collector.delta import Delta
from collector.receive.state import FabricState, StateSettings
from decoders.records import (
    CounterSample,
    ExtendedFunction,
    ExtendedLinuxDropReason,
    ExtendedTransit,
    RawRecord,
)
from tests.fabric_builders import (
    LEAF1,
    LEAF1_CORE,
    LEAF1_EDGE,
    RC_SEND_ONLY,
    TOPOLOGY,
    ack,
    cnp,
    counters,
    datagram,
    drop,
    flow,
    if_counters,
    names,
    roce_header,
    wire,
    write_first,
)
from topology import PortResolver, TopologyIndex, parse_topology

GBIT = 1_000_000_000


def _state(topology: bool = True, **settings: object) -> FabricState:
    index = TopologyIndex(parse_topology(TOPOLOGY)) if topology else None
    return FabricState(PortResolver(index), StateSettings(**settings))  # type: ignore[arg-type]


def _c(delta: Delta, family: str, labels: tuple[str, ...] = ()) -> float:
    return delta.counters.get(family, {}).get(labels, 0.0)


def test_edge_ingress_is_scaled_by_each_samples_rate() -> None:
    state = _state()
    samples = (
        flow(1, LEAF1_EDGE, (roce_header(frame_length=1000),), rate=1000),
        flow(2, LEAF1_EDGE, (roce_header(frame_length=500),), rate=400),
        flow(1, LEAF1_CORE, (roce_header(frame_length=1000),), rate=1000),
        flow(1, 99, (roce_header(frame_length=100),), rate=10),
    )
    state.apply(datagram(LEAF1, 1, samples), now=100.0)
    delta = state.drain(100.0)
    assert _c(delta, "fabric_ingress_bytes") == 1000 * 1000 + 500 * 400
    assert _c(delta, "fabric_ingress_frames") == 1400
    assert _c(delta, "ingress_bytes", ("core",)) == 1_000_000
    assert _c(delta, "ingress_bytes", ("unmapped",)) == 1000
    assert _c(delta, "topology_misses", ("flow",)) == 1
    assert _c(delta, "samples", ("flow",)) == 4
    assert _c(delta, "rocev2_operations", ("edge", "RC:RDMA_WRITE_MIDDLE")) == 1400


def test_egress_samples_are_not_traffic() -> None:
    state = _state()
    state.apply(datagram(LEAF1, 1, (flow(1, LEAF1_EDGE, (roce_header(),), source=7),)), 1.0)
    delta = state.drain(1.0)
    assert _c(delta, "fabric_ingress_bytes") == 0
    assert _c(delta, "flow_samples_skipped", ("not_ingress",)) == 1


def test_rocev2_classification() -> None:
    state = _state(trim_dscp=11)
    samples = (
        flow(1, LEAF1_EDGE, (write_first(65536),), rate=100),
        flow(2, LEAF1_EDGE, (roce_header(RC_SEND_ONLY, ecn=3),), rate=100),
        flow(3, LEAF1_EDGE, (cnp(),), rate=100),
        flow(4, LEAF1_EDGE, (ack(12),), rate=100),
        flow(5, LEAF1_EDGE, (ack(48),), rate=100),
        flow(6, LEAF1_EDGE, (ack(kind="NAK", value="PSN_SEQUENCE_ERROR"),), rate=100),
        flow(7, LEAF1_EDGE, (ack(kind="RNR_NAK", value=3),), rate=100),
        flow(8, LEAF1_EDGE, (roce_header(dscp=11),), rate=100),
    )
    state.apply(datagram(LEAF1, 1, samples), 1.0)
    delta = state.drain(1.0)
    assert _c(delta, "rdma_operations", ("edge",)) == 100
    assert _c(delta, "rdma_bytes", ("edge",)) == 65536 * 100
    assert _c(delta, "ecn_ce_packets", ("edge",)) == 100
    assert _c(delta, "cnp_packets", ("edge",)) == 100
    assert _c(delta, "rocev2_operations", ("edge", "CNP:CNP")) == 100
    assert _c(delta, "aeth_acks", ("edge",)) == 200
    assert _c(delta, "aeth_naks", ("edge", "PSN_SEQUENCE_ERROR")) == 100
    assert _c(delta, "aeth_rnr_naks", ("edge",)) == 100
    assert _c(delta, "trimmed_packets", ("edge",)) == 100
    credits = delta.credits["edge"]
    assert (credits.count, credits.low, credits.high, credits.total) == (2, 12, 48, 60)


def test_cnp_with_solicited_event_is_not_a_cnp() -> None:
    state = _state()
    header = roce_header(0x81, ext=b"\x00" * 16, solicited_event=True)
    state.apply(datagram(LEAF1, 1, (flow(1, LEAF1_EDGE, (header,)),)), 1.0)
    assert _c(state.drain(1.0), "cnp_packets", ("edge",)) == 0


def test_sequence_gaps_restarts_and_reordering() -> None:
    state = _state()
    for seq in (1, 2, 3, 7):  # 4, 5, 6 lost
        state.apply(datagram(LEAF1, seq, ()), float(seq))
    delta = state.drain(10.0)
    assert _c(delta, "lost_datagrams") == 3
    assert _c(delta, "agent_lost_datagrams", (LEAF1, "0")) == 3
    assert _c(delta, "agent_datagrams", (LEAF1, "0")) == 4
    state.apply(datagram(LEAF1, 6, ()), 11.0)  # late, not a restart
    state.apply(datagram(LEAF1, 1, (), uptime_ms=500), 12.0)  # restart
    state.apply(datagram(LEAF1, 2, (), uptime_ms=1500), 13.0)
    delta = state.drain(13.0)
    assert _c(delta, "out_of_order_datagrams") == 1
    assert _c(delta, "restarts_detected") == 1
    assert _c(delta, "agent_restarts", (LEAF1, "0")) == 1
    assert _c(delta, "lost_datagrams") == 0


@pytest.mark.parametrize("fast", [False, True])
def test_a_replayed_datagram_counts_once_and_a_late_one_keeps_its_flows_not_its_counters(
    fast: bool,
) -> None:
    from collector.receive.pipeline import Pipeline

    state = _state()
    pipeline = Pipeline(state, fast=fast)
    sample = flow(1, LEAF1_EDGE, (write_first(),))
    frame = write_first().frame_length

    sent: dict[int, bytes] = {}

    def send(seq: int, *more: CounterSample, t: float) -> None:
        sent[seq] = wire(datagram(LEAF1, seq, (sample, *more), uptime_ms=seq * 1000))
        pipeline.handle(memoryview(sent[seq]), t)

    def again(seq: int, t: float) -> None:
        pipeline.handle(memoryview(sent[seq]), t)

    def poll(seq: int, octets: int) -> CounterSample:
        return counters(seq, LEAF1_EDGE, (if_counters(LEAF1_EDGE, in_octets=octets),))

    for seq in range(1, 5):
        send(seq, poll(seq, seq * 10**6), t=float(seq))
    again(4, t=5.0)  # 4 again: a replay
    again(1, t=5.0)  # 1 again, further back (its uptime 3 s behind: still a replay)
    send(6, t=6.0)
    send(5, poll(9, 10**3), t=6.0)  # late: 5 after 6, with an older reading
    again(5, t=6.0)  # and 5 again
    # the same number and uptime but other contents: a restarted agent, not a replay
    pipeline.handle(memoryview(wire(datagram(LEAF1, 1, (), uptime_ms=1000))), 6.5)
    state.apply(datagram(LEAF1, 2, (sample,), uptime_ms=2000), 6.6)
    state.apply(datagram(LEAF1, 3, (sample, poll(3, 2 * 10**6)), uptime_ms=3000), 6.7)
    delta = state.drain(6.7)
    assert _c(delta, "datagrams") == 12
    assert _c(delta, "replayed_datagrams") == 3
    assert _c(delta, "out_of_order_datagrams") == 1
    assert _c(delta, "restarts_detected") == 1
    # the flows of 1..6 once each and 2, 3 after the restart; the octets from 1 to 4 (the late,
    # older reading skipped; the restart drops the baselines)
    assert _c(delta, "fabric_ingress_bytes") == 8 * 1000 * frame
    assert _c(delta, "interface_bytes", ("in", "edge")) == 3 * 10**6


def test_a_resumed_state_counts_the_gap_its_predecessor_left() -> None:
    first = _state()
    for seq in (1, 2, 3):
        first.apply(datagram(LEAF1, seq, (), uptime_ms=seq * 1000), float(seq))
    status = first.drain(3.0).agents[(LEAF1, 0)]
    assert (status.sequence, status.uptime_ms) == (3, 3000)
    # 4 and 5 reached the first state and were never drained: it is gone with them
    first.apply(datagram(LEAF1, 4, (), uptime_ms=4000), 4.0)
    first.apply(datagram(LEAF1, 5, (), uptime_ms=5000), 5.0)
    second = _state()
    second.resume({(LEAF1, 0): (status.sequence, status.uptime_ms)}, 5.0)
    second.apply(datagram(LEAF1, 6, (), uptime_ms=6000), 6.0)
    delta = second.drain(6.0)
    assert _c(delta, "lost_datagrams") == 2
    assert _c(delta, "agent_lost_datagrams", (LEAF1, "0")) == 2
    assert _c(delta, "agent_datagrams", (LEAF1, "0")) == 1  # tracked at once, no probation
    assert delta.agents[(LEAF1, 0)].sequence == 6
    # an agent that restarted meanwhile is a restart, not 4 billion lost datagrams
    third = _state()
    third.resume({(LEAF1, 0): (6, 6000)}, 7.0)
    third.apply(datagram(LEAF1, 1, (), uptime_ms=10), 7.0)
    delta = third.drain(7.0)
    assert (_c(delta, "restarts_detected"), _c(delta, "lost_datagrams")) == (1, 0)


def test_uptime_going_back_is_a_restart_even_when_sequence_moves_on() -> None:
    state = _state()
    state.apply(datagram(LEAF1, 10, (), uptime_ms=50_000), 1.0)
    state.apply(datagram(LEAF1, 11, (), uptime_ms=1_000), 2.0)
    assert _c(state.drain(2.0), "restarts_detected") == 1


def test_sample_sequence_gaps_and_effective_rate() -> None:
    state = _state()
    for i, seq in enumerate((1, 2, 3, 5)):  # flow sample 4 lost
        sample = flow(seq, LEAF1_EDGE, (roce_header(),), rate=1000, pool=seq * 1024)
        state.apply(datagram(LEAF1, i + 1, (sample,)), float(i))
    delta = state.drain(5.0)
    assert _c(delta, "lost_samples", ("flow",)) == 1
    status = delta.agents[(LEAF1, 0)]
    assert status.sampling_rate == 1000
    assert status.effective_sampling_rate == pytest.approx(1024)


def _poll(state: FabricState, seq: int, t: float, **fields: int) -> Delta:
    sample = counters(seq, LEAF1_EDGE, (if_counters(LEAF1_EDGE, speed=GBIT, **fields),))
    state.apply(datagram(LEAF1, seq, (sample,), uptime_ms=int(t * 1000)), t)
    return state.drain(t)


def test_counter_rates_wraps_and_resets() -> None:
    state = _state()
    _poll(state, 1, 10.0, in_octets=0, in_errors=100, in_packets=2**32 - 1000)
    delta = _poll(state, 2, 20.0, in_octets=10 * 62_500_000, in_errors=110, in_packets=1000)
    assert _c(delta, "interface_bytes", ("in", "edge")) == 625_000_000
    assert _c(delta, "interface_errors", ("in", "edge")) == 10
    assert _c(delta, "interface_packets", ("in", "edge")) == 2000  # across the 32-bit wrap
    assert _c(delta, "interface_discontinuities", ("wrap",)) == 1
    hist = delta.histograms["port_utilization_ratio"][("in", "edge")]
    assert hist.total == pytest.approx(0.5)
    # Errors going back without a restart: a reset, skipped (no spike).
    delta = _poll(state, 3, 30.0, in_octets=10 * 62_500_000, in_errors=5, in_packets=1000)
    assert _c(delta, "interface_discontinuities", ("reset",)) == 1
    assert "interface_errors" not in delta.counters
    delta = _poll(state, 4, 40.0, in_octets=10 * 62_500_000, in_errors=6, in_packets=1000)
    assert _c(delta, "interface_errors", ("in", "edge")) == 1


def test_octets_faster_than_the_link_are_a_reset() -> None:
    state = _state()
    _poll(state, 1, 10.0, in_octets=0)
    delta = _poll(state, 2, 20.0, in_octets=10 * GBIT)  # 8 Gbit/s on a 1 Gbit/s port
    assert _c(delta, "interface_discontinuities", ("reset",)) == 1
    assert "interface_bytes" not in delta.counters


def test_agent_restart_never_spikes_counters() -> None:
    state = _state()
    _poll(state, 100, 100.0, in_octets=5_000_000_000, in_errors=1_000_000)
    delta = _poll(state, 1, 1.0, in_octets=1000, in_errors=1)  # restarted: seq and uptime back
    assert _c(delta, "restarts_detected") == 1
    assert "interface_errors" not in delta.counters
    assert "interface_discontinuities" not in delta.counters
    delta = _poll(state, 2, 2.0, in_octets=2000, in_errors=3)
    assert _c(delta, "interface_errors", ("in", "edge")) == 2


def test_port_names_and_hostname_map_ports_without_a_nodes_block() -> None:
    resolver = PortResolver(TopologyIndex(parse_topology({"links": TOPOLOGY["links"]})))
    state = FabricState(resolver)
    agent = "192.0.2.1"
    samples = (
        names(1, 11, "swp1", host="leaf1"),
        names(1, 12, "swp12"),
        flow(1, 11, (roce_header(frame_length=100),), rate=10),
        flow(1, 12, (roce_header(frame_length=100),), rate=10),
    )
    state.apply(datagram(agent, 1, samples), 1.0)
    delta = state.drain(1.0)
    assert _c(delta, "ingress_bytes", ("core",)) == 1000
    assert _c(delta, "fabric_ingress_bytes") == 1000


def test_without_topology_everything_is_unmapped_and_no_misses() -> None:
    state = _state(topology=False)
    state.apply(datagram(LEAF1, 1, (flow(1, LEAF1_EDGE, (roce_header(frame_length=10),)),)), 1.0)
    delta = state.drain(1.0)
    assert _c(delta, "ingress_bytes", ("unmapped",)) == 10_000
    assert _c(delta, "fabric_ingress_bytes") == 0
    assert "topology_misses" not in delta.counters


def test_drops_by_reason_linux_reason_and_function() -> None:
    state = _state()
    records = (ExtendedLinuxDropReason("NO_SOCKET"), ExtendedFunction("udp_queue_rcv_skb"))
    samples = (drop(1, 258), drop(2, 3, records, drops=0), drop(5, 9999, drops=4))
    state.apply(datagram(LEAF1, 1, samples), 1.0)
    delta = state.drain(1.0)
    assert _c(delta, "dropped_packets", ("acl",)) == 1
    assert _c(delta, "dropped_packets", ("port_unreachable",)) == 1
    assert _c(delta, "dropped_packets", ("unknown_9999",)) == 1
    assert _c(delta, "dropped_packets_by_linux_reason", ("NO_SOCKET",)) == 1
    assert _c(delta, "dropped_packets_by_function", ("udp_queue_rcv_skb",)) == 1
    assert _c(delta, "lost_samples", ("drop",)) == 2
    assert _c(delta, "drop_notifications_lost") == 4


def test_transit_delay_histogram_weighted_by_rate() -> None:
    state = _state()
    sample = flow(1, LEAF1_EDGE, (roce_header(), ExtendedTransit(2_000)), rate=50, output=3)
    state.apply(datagram(LEAF1, 1, (sample,)), 1.0)
    hist = state.drain(1.0).histograms["transit_delay_seconds"][("core",)]
    assert sum(hist.counts) == 50
    assert hist.total == pytest.approx(50 * 2e-6)


def test_unknown_and_malformed_records_are_counted() -> None:
    state = _state()
    records = (RawRecord(4413, 7, b""), RawRecord(0, 1, b"", "record_truncated"))
    state.apply(datagram(LEAF1, 1, (flow(1, LEAF1_EDGE, records),)), 1.0)
    delta = state.drain(1.0)
    assert _c(delta, "unknown_records", ("flow", "4413:7")) == 1
    assert _c(delta, "malformed_records", ("flow", "record_truncated")) == 1
    assert _c(delta, "flow_samples_skipped", ("no_header",)) == 1


def test_spoofed_agents_stay_bounded_and_real_agents_keep_their_series() -> None:
    state = _state(max_agents=50, probation_agents=100)
    for seq in range(1, 5):
        state.apply(datagram(LEAF1, seq, ()), float(seq))
    for i in range(20_000):
        state.apply(datagram(f"198.18.{i // 256 % 256}.{i % 256}", 1, (), sub_agent=i), 5.0)
    assert state.agent_count == 1
    assert len(state._probation) <= 100
    state.apply(datagram(LEAF1, 5, ()), 6.0)
    delta = state.drain(6.0)
    assert _c(delta, "agent_datagrams", (LEAF1, "0")) == 5
    assert _c(delta, "datagrams") == 20_005
    assert _c(delta, "lost_datagrams") == 0


def test_silent_agents_expire() -> None:
    state = _state(agent_timeout=60.0)
    for seq in range(1, 4):
        sample = counters(seq, LEAF1_EDGE, (if_counters(LEAF1_EDGE),))
        state.apply(datagram(LEAF1, seq, (sample,)), float(seq))
    state.drain(3.0)
    state.expire(30.0)
    assert state.agent_count == 1
    state.expire(100.0)
    delta = state.drain(100.0)
    assert state.agent_count == 0
    assert delta.expired_agents == [(LEAF1, 0)]
    assert delta.expired_ports == [(LEAF1, LEAF1_EDGE)]
    assert _c(delta, "agents_expired") == 1


LEAF2 = "10.0.0.2"


def test_expired_agents_leave_no_series_behind() -> None:
    """Agents that come and go must not grow the aggregator: an expired agent's per-agent
    counters and rates go with it; the agents still alive and the fabric totals stay."""
    state = _state(agent_timeout=60.0)
    aggregator = Aggregator(AggregatorSettings(smoothing_seconds=2.0))
    for seq in range(1, 4):
        sample = counters(seq, LEAF1_EDGE, (if_counters(LEAF1_EDGE),))
        state.apply(datagram(LEAF1, seq, (sample,)), float(seq))
        state.apply(datagram(LEAF2, seq, ()), float(seq))
    aggregator.merge(state.drain(3.0), 0)
    aggregator.tick(3.0)
    aggregator.merge(state.drain(4.0), 0)
    aggregator.tick(4.0)
    assert aggregator.counters["agent_datagrams"] == {(LEAF1, "0"): 3.0, (LEAF2, "0"): 3.0}
    assert (LEAF1, "0", "counter") in aggregator.counters["agent_samples"]
    assert (LEAF1, "0") in aggregator.rates("agent_datagrams")
    state.apply(datagram(LEAF2, 4, ()), 50.0)
    state.expire(100.0)  # LEAF1 silent since 3 s: gone; LEAF2 heard at 50 s: kept
    aggregator.merge(state.drain(100.0), 0)
    aggregator.tick(100.0)
    assert aggregator.counters["agent_datagrams"] == {(LEAF2, "0"): 4.0}
    assert all(k[0] != LEAF1 for k in aggregator.counters["agent_samples"])
    assert set(aggregator.rates("agent_datagrams")) == {(LEAF2, "0")}
    assert all(k[0] != LEAF1 for k in aggregator.rates("agent_samples"))
    assert aggregator.counters["datagrams"][()] == 7.0  # totals are not per agent: kept


def test_aggregator_merges_receivers_and_smooths() -> None:
    aggregator = Aggregator(AggregatorSettings(smoothing_seconds=2.0))
    aggregator.tick(0.0)
    for second in range(1, 21):
        for receiver in (0, 1):
            delta = Delta()
            delta.add_counter("fabric_ingress_bytes", (), 1000.0)
            delta.gauges["agents"] = 3.0
            aggregator.merge(delta, receiver)
        aggregator.tick(float(second))
    snapshot = aggregator.snapshot()
    assert snapshot.counters["fabric_ingress_bytes"][()] == 40_000
    assert snapshot.smoothed["fabric_ingress_bytes"][()] == pytest.approx(2000, rel=1e-3)
    assert snapshot.gauges["agents"][()] == 6


def test_aggregator_links_and_ports_status() -> None:
    index = TopologyIndex(parse_topology(TOPOLOGY))
    state = FabricState(PortResolver(index))
    aggregator = Aggregator()
    aggregator.set_topology(index)
    for agent, up in (("10.0.0.1", True), ("10.0.0.3", True), ("10.0.0.2", False)):
        ifindexes = (3,) if agent != "10.0.0.3" else (3, 4)
        samples = tuple(counters(1, i, (if_counters(i, oper_up=up),)) for i in ifindexes)
        state.apply(datagram(agent, 1, samples), 1.0)
    aggregator.merge(state.drain(1.0))
    gauges = aggregator.snapshot().gauges
    assert gauges["links"] == {("up",): 1, ("down",): 1, ("unmonitored",): 0}
    assert gauges["ports"][("core", "up")] == 3
    assert gauges["ports"][("core", "down")] == 1
    assert gauges["topology_loaded"] == {(): 1.0}


def test_aggregator_credit_window() -> None:
    state = _state()
    aggregator = Aggregator(AggregatorSettings(credit_window_seconds=5.0))
    state.apply(datagram(LEAF1, 1, (flow(1, LEAF1_EDGE, (ack(12),)),)), 1.0)
    aggregator.merge(state.drain(1.0))
    aggregator.tick(1.0)
    state.apply(datagram(LEAF1, 2, (flow(2, LEAF1_EDGE, (ack(48),)),)), 2.0)
    aggregator.merge(state.drain(2.0))
    aggregator.tick(2.0)
    gauges = aggregator.snapshot().gauges
    assert gauges["aeth_credits_avg"][("edge",)] == 30
    assert gauges["aeth_credits_min"][("edge",)] == 12
    assert gauges["aeth_credits_max"][("edge",)] == 48
    aggregator.tick(10.0)
    assert "aeth_credits_avg" not in aggregator.snapshot().gauges


def test_fast_path_rows_give_the_same_delta_as_the_full_decoder() -> None:
    from collector.receive.pipeline import Pipeline

    samples = (
        flow(1, LEAF1_EDGE, (write_first(65536),), rate=100),
        flow(2, LEAF1_EDGE, (roce_header(RC_SEND_ONLY, ecn=3, dscp=11),), rate=7),
        flow(3, LEAF1_EDGE, (cnp(),), rate=100),
        flow(4, LEAF1_CORE, (ack(48),), rate=100),
        flow(5, LEAF1_EDGE, (ack(kind="NAK", value="PSN_SEQUENCE_ERROR"),), rate=3),
        flow(6, LEAF1_EDGE, (roce_header(), ExtendedTransit(2_000)), rate=50, output=3),
        flow(7, LEAF1_EDGE, (roce_header(),), source=9),
        counters(1, LEAF1_EDGE, (if_counters(LEAF1_EDGE, in_octets=5),)),
        drop(1, 258, (ExtendedLinuxDropReason("NO_SOCKET"),)),
    )
    payloads = [wire(datagram(LEAF1, seq, samples)) for seq in (1, 2, 4)]
    results = []
    for fast in (False, True):
        state = _state()
        pipeline = Pipeline(state, fast=fast)
        for t, payload in enumerate(payloads):
            pipeline.handle(memoryview(payload), float(t))
        pipeline.handle(b"\x00\x00\x00\x05junk", 9.0)
        delta = state.drain(10.0)
        results.append((delta.counters, delta.histograms, delta.credits, delta.agents))
    assert results[0] == results[1]

"""Counter and drop samples on the fast path (scan rows + ``collector.receive._accounting``, plain
and compiled) give the same deltas as the full decoder: interface deltas across wraps, resets,
implausible rates and unknown values, port statuses, learned names, drop reasons, Linux drop
reasons and kernel functions, sequence gaps, the drop log's bound — and both paths mixed on one
port (a sample the scan leaves to the full decoder shares the port's baseline).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.delta import Delta
from collector.receive import _accounting
from collector.receive import accounting as _accounting_select
from collector.receive.drops import MAX_EVENTS_PER_TICK
from collector.receive.pipeline import Pipeline
from collector.receive.state import FabricState, StateSettings
from decoders import fast
from decoders.encode import sampled_header
from decoders.frames import ethernet, ipv4, ipv6, tcp, udp
from decoders.records import (
    CounterSample,
    DataSource,
    DropSample,
    EthernetCounters,
    ExtendedAcl,
    ExtendedEgressQueue,
    ExtendedFunction,
    ExtendedHwTrap,
    ExtendedLinuxDropReason,
    ExtendedTimestamp,
    GenericInterfaceCounters,
    HostAdapter,
    HostAdapters,
    HostDescription,
    LagPortStats,
    PfcCounters,
    PortName,
    ProcessorCounters,
    RawRecord,
    Sample,
    SfpCounters,
    SfpLane,
    VlanCounters,
)
from tests.fabric_builders import (
    LEAF1,
    LEAF1_CORE,
    LEAF1_EDGE,
    TOPOLOGY,
    ack,
    datagram,
    roce_header,
    wire,
)
from topology import PortResolver, TopologyIndex, parse_topology

LEARNER = "192.0.2.1"  # not in the topology's nodes: its ports resolve once it names them
M32 = 2**32 - 1
M64 = 2**64 - 1
SPEED = 100_000_000_000

IMPLEMENTATIONS: list[Any] = [pytest.param(_accounting.FlowAccounting, id="pure")]
_compiled, _why_not = _accounting_select.compiled_module()
IMPLEMENTATIONS.append(
    pytest.param(
        _compiled.FlowAccounting if _compiled is not None else None,
        id="compiled",
        marks=pytest.mark.skipif(_compiled is None, reason=f"compiled build: {_why_not}"),
    )
)


def generic(ifindex: int, t: int, *, speed: int = SPEED, **over: int) -> GenericInterfaceCounters:
    """if_counters of a port ``t`` seconds into the stream (plausible, advancing values)."""
    fields: dict[str, int] = {
        "if_index": ifindex,
        "if_type": 6,
        "if_speed": speed,
        "if_direction": 1,
        "if_status": 3,
        "in_octets": 10**9 * t * ifindex,
        "in_ucast_pkts": (1000 * t) & M32,
        "in_multicast_pkts": 3 * t,
        "in_broadcast_pkts": t,
        "in_discards": t // 2,
        "in_errors": t // 3,
        "in_unknown_protos": 0,
        "out_octets": 2 * 10**9 * t * ifindex,
        "out_ucast_pkts": (2000 * t) & M32,
        "out_multicast_pkts": 2 * t,
        "out_broadcast_pkts": 0,
        "out_discards": t // 4,
        "out_errors": t // 5,
        "promiscuous_mode": 0,
    }
    fields.update(over)
    return GenericInterfaceCounters(**fields)


def counter(seq: int, ifindex: int, *records: Any, expanded: bool = False) -> CounterSample:
    return CounterSample(expanded, seq, DataSource(0, ifindex), records)


def drop_of(seq: int, reason: int, *records: Any, drops: int = 0, ifindex: int = 5) -> DropSample:
    return DropSample(True, seq, DataSource(0, ifindex), drops, ifindex, 3, reason, records)


HEADER = roce_header()
_MAC_A, _MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"
# Sampled headers of every shape a drop event reads fields from (the full decoder's packet
# parse is the oracle): IPv6 TCP behind a VLAN tag, an IPv4 non-first fragment, raw IPv4 (no
# Ethernet), ICMP, an Ethernet header cut after the MACs, a non-IP frame, a RoCEv2 ACK.
HEADERS = (
    sampled_header(
        1, 1500, 4,
        ethernet(_MAC_A, _MAC_B, 0x86DD, ipv6("2001:db8::1", "2001:db8::2", 6, tcp(443, 50000)),
                 vlans=(100,)),
    ),
    sampled_header(1, 1500, 4, ethernet(_MAC_A, _MAC_B, 0x0800, ipv4(
        "10.1.0.1", "10.1.0.2", 17, udp(1, 2), frag_offset=8, dont_fragment=False))),
    sampled_header(11, 1500, 0, ipv4("10.2.0.1", "10.2.0.2", 17, udp(4791, 4791))),
    sampled_header(1, 100, 4, ethernet(_MAC_A, _MAC_B, 0x0800, ipv4("10.3.0.1", "10.3.0.2", 1,
                                                                    b"\x08\x00" + bytes(6)))),
    sampled_header(1, 64, 4, ethernet(_MAC_A, _MAC_B, 0x0800)[:10]),
    sampled_header(1, 64, 4, ethernet(_MAC_A, _MAC_B, 0x88CC, bytes(20))),
    ack(),
)  # fmt: skip


# An ethernet record (0:2) too short for its layout: the full decoder keeps it as a malformed
# record, so the scan leaves its sample (and every later counter or drop sample) to it.
BAD_ETHERNET = RawRecord(0, 2, b"\0" * 8)
# Records a counter row passes over (decoded well-formed by the full decoder), and unknown ones.
PASSED_OVER = (
    VlanCounters(100, 10**9, 1, 2, 3, 4),
    LagPortStats("02:00:00:00:00:01", "02:00:00:00:00:02", 1, 2, 3, 4, 5, *range(8)),
    SfpCounters(1, 2, 3300, 45, (SfpLane(*range(10)), SfpLane(*range(10, 20)))),
    PfcCounters(1, 2, 3, 4, 5),
    ProcessorCounters(5, 10, 15, 2**34, 2**33),
    HostAdapters((HostAdapter(3, ("02:00:00:00:00:03", "02:00:00:00:00:04")),)),
    RawRecord(0, 2003, b"\0" * 12),  # host_cpu: no parser, counted as unknown
    RawRecord(4413, 1, b"\0" * 4),
)


def _leaf_counters(t: int) -> tuple[Sample, ...]:
    """LEAF1's counter samples at second ``t``: every branch of the interface delta."""
    edge = generic(LEAF1_EDGE, t)
    if t == 4:  # a 32-bit packet counter wraps: a plausible wrap, counted and used
        edge = generic(LEAF1_EDGE, t, in_ucast_pkts=100)
    if t == 3:
        edge = generic(LEAF1_EDGE, t, in_ucast_pkts=M32 - 50)
    if t == 6:  # octets go back: a reset, the interval skipped
        edge = generic(LEAF1_EDGE, t, in_octets=5)
    if t == 8:  # far more packets than the speed allows: implausible
        edge = generic(LEAF1_EDGE, t, out_ucast_pkts=(2000 * t + 2**30) & M32)
    core = generic(LEAF1_CORE, t, in_errors=M32 if t in (5, 6) else t)  # unknown, then back
    unknown_speed = generic(7, t, speed=M64)
    no_speed = generic(8, t, speed=0)
    down = generic(9, t, if_status=1 if t % 2 else 0, in_octets=M64 if t == 2 else t)
    ethernet = EthernetCounters(*range(13))
    return (
        counter(t, LEAF1_EDGE, edge, ethernet, PortName("swp3")),
        counter(t, LEAF1_CORE, core, expanded=True),
        counter(t, 7, unknown_speed, PortName("Ethernet7")),
        counter(t + (2 if t == 5 else 0), 8, no_speed),  # a counter sample gap at t=5: 2 lost
        counter(t, 9, down, ethernet),
        counter(t, 1 << 20, *PASSED_OVER),  # a host-style sample: no interface record
    )


def _drops(t: int) -> tuple[Sample, ...]:
    """Drop samples of every record kind a drop row holds, with gaps and lost notifications."""
    return (
        drop_of(t, 259, HEADER, ExtendedEgressQueue(3), drops=t * 7),  # 7 lost a second
        drop_of(
            t,
            0,
            HEADER,
            ExtendedLinuxDropReason("SKB_DROP_REASON_NOT_SPECIFIED" if t % 2 else "NEIGH_FAILED"),
            ExtendedFunction("kfree_skb" if t < 5 else "neigh_invalidate"),
            ifindex=3,
        ),
        drop_of(t, 260, HEADERS[t % len(HEADERS)], ifindex=9),
        drop_of(
            t + (3 if t == 6 else 0),  # a drop sample gap at t=6: 3 lost
            265,
            ExtendedHwTrap("l3_drops", "blackhole_route"),
            ExtendedAcl(7, "deny-all", 1),
            ExtendedTimestamp(123456789 * t),
            ifindex=7,
        ),
    )


def _stream() -> list[tuple[str, Any]]:
    """Datagrams (and drains) of ten seconds, mixing rows and samples left to the full path."""
    events: list[tuple[str, Any]] = []
    for t in range(1, 11):
        samples: tuple[Sample, ...] = _leaf_counters(t) + _drops(t)
        events.append(("datagram", wire(datagram(LEAF1, 2 * t, samples, uptime_ms=1000 * t))))
        # the same ports, but this datagram's counter samples go to the full decoder: an
        # unknown record first, so every later counter and drop sample follows it there
        mixed: tuple[Sample, ...] = (
            counter(100 + t, 99, generic(99, t), BAD_ETHERNET),
            counter(t, 10, generic(10, t), PortName("swp10")),
            drop_of(
                t,
                258,
                HEADER,
                ExtendedLinuxDropReason("A"),
                ExtendedLinuxDropReason("B"),
                ifindex=13,
            ),
        )
        events.append(
            ("datagram", wire(datagram(LEAF1, 2 * t + 1, mixed, uptime_ms=1000 * t + 500)))
        )
        # a port whose samples take either path from one second to the next
        both = counter(t, 11, generic(11, t), *((BAD_ETHERNET,) if t % 3 == 0 else ()))
        names = (
            counter(t, 11, PortName("swp1" if t < 6 else "swp2")),  # renamed at t=6
            counter(t, 12, HostDescription("leaf1" if t > 1 else "", "0" * 32, 0, 0, "")),
        )
        learner = wire(datagram(LEARNER, t, (both, *names), uptime_ms=1000 * t))
        events.append(("datagram", learner))
        events.append(("drain", 1.0 * t))
    # a flood: more drop samples in one tick than the drop log keeps
    flood = [drop_of(1000 + i, 259, HEADER, ExtendedEgressQueue(1), ifindex=5) for i in range(8)]
    for n in range(MAX_EVENTS_PER_TICK // 8 + 10):
        body = tuple(drop_of(s.sequence + 8 * n, s.reason, *s.records, ifindex=5) for s in flood)
        events.append(("datagram", wire(datagram(LEAF1, 100 + n, body, uptime_ms=20_000 + n))))
    events.append(("drain", 11.0))
    events.append(("restart", wire(datagram(LEAF1, 1, _leaf_counters(12), uptime_ms=10))))
    events.append(("datagram", wire(datagram(LEAF1, 2, _leaf_counters(13), uptime_ms=1010))))
    events.append(("drain", 12.0))
    events.append(("expire", 10_000.0))
    events.append(("drain", 10_000.0))
    return events


def _run(
    fast_path: bool, accounting_class: Any, events: list[tuple[str, Any]], **over: Any
) -> list[Any]:
    settings_ = StateSettings(**over)
    accounting = (
        accounting_class(settings_.trim_dscp, settings_.per_port, settings_.max_ports_per_agent)
        if accounting_class is not None
        else None
    )
    state = FabricState(
        PortResolver(TopologyIndex(parse_topology(TOPOLOGY))), settings_, accounting
    )
    pipeline = Pipeline(state, fast=fast_path)
    out = []
    for kind, value in events:
        if kind in ("datagram", "restart"):
            pipeline.handle(memoryview(value), 5.0 + len(out))
        elif kind == "expire":
            state.expire(value)
        else:
            delta: Delta = state.drain(value)
            observed = delta.observed
            out.append(
                (
                    delta.counters,
                    delta.histograms,
                    delta.agents,
                    delta.ports,
                    sorted(delta.expired_ports),
                    (observed.drop_events, observed.drops_skipped)
                    if observed is not None
                    else None,
                )
            )
    return out


def _compare(full: list[Any], fast_: list[Any]) -> None:
    assert len(full) == len(fast_)
    names = ("counters", "histograms", "agents", "ports", "expired ports", "drop events")
    for period, (expected, got) in enumerate(zip(full, fast_, strict=True)):
        for name, e, g in zip(names, expected, got, strict=True):
            assert g == e, f"{name} differ in period {period}"


@pytest.mark.parametrize("accounting_class", IMPLEMENTATIONS)
@pytest.mark.parametrize("over", [{}, {"per_port": True}, {"max_ports_per_agent": 3}],
                         ids=["default", "per-port", "few-ports"])  # fmt: skip
def test_counter_and_drop_rows_give_the_full_decoders_deltas(
    accounting_class: Any, over: dict[str, Any]
) -> None:
    events = _stream()
    full = _run(False, None, events, **over)
    fast_ = _run(True, accounting_class, events, **over)
    _compare(full, fast_)
    # the stream did exercise what it is meant to (figures from the stream's construction)
    first = full[0][0]
    assert first["samples"][("counter",)] == 6 + 2 + 3
    assert first["unknown_records"] == {("counter", "0:2003"): 1.0, ("counter", "4413:1"): 1.0}
    assert first["samples"][("drop",)] == 5
    later = [p[0] for p in full[1:10]]
    discontinuities = {k: sum(c.get("interface_discontinuities", {}).get((k,), 0) for c in later)
                       for k in ("wrap", "reset", "implausible")}  # fmt: skip
    assert discontinuities["wrap"] >= 1 and discontinuities["implausible"] >= 1
    assert discontinuities["reset"] >= 2  # t=6 octets back, then the unknown octets of ifIndex 9
    assert sum(c.get("lost_samples", {}).get(("counter",), 0) for c in later) == 2
    assert sum(c.get("lost_samples", {}).get(("drop",), 0) for c in later) == 3
    assert sum(c.get("drop_notifications_lost", {}).get((), 0) for c in later) == 9 * 7
    linux = full[1][0]["dropped_packets_by_linux_reason"]  # t = 2
    assert set(linux) == {("NEIGH_FAILED",), ("A",), ("B",)}
    assert full[9][0]["dropped_packets_by_function"] == {("neigh_invalidate",): 1.0}
    flood_events, skipped = full[10][5]
    assert len(flood_events) == MAX_EVENTS_PER_TICK
    assert skipped == 8 * (MAX_EVENTS_PER_TICK // 8 + 10) - MAX_EVENTS_PER_TICK
    assert full[11][0]["restarts_detected"] == {(): 1.0}
    assert "port_utilization_ratio" in full[3][1]
    edge = full[3][3][(LEAF1, LEAF1_EDGE)]
    assert (edge.node, edge.port, edge.role, edge.sflow_name) == ("leaf1", "swp3", "edge", "swp3")
    assert full[1][3][(LEARNER, 11)].port is None and full[1][3][(LEARNER, 11)].sflow_name == "swp1"


@pytest.mark.parametrize("accounting_class", IMPLEMENTATIONS)
@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from([0, 1, 3, 1000, 2**31, M32 - 5]),  # packet step (mod 2**32)
            st.sampled_from([0, 1, 10**6, 10**10, 2**40, -5]),  # octet step (-: a reset)
            st.sampled_from([SPEED, 0, M64, 10**6]),
            st.sampled_from([0, 500, 1000, 1000, 30_000, -4000]),  # uptime step (ms)
            st.booleans(),  # the full decoder takes this sample (an unknown record with it)
            st.booleans(),  # an unknown value (all ones) in a 32-bit counter
        ),
        min_size=2,
        max_size=12,
    )
)
def test_interface_deltas_agree_on_any_counter_walk(
    accounting_class: Any, steps: list[Any]
) -> None:
    """Any walk of one port's counters, each sample on either path: the same deltas."""
    octets = packets = 0
    uptime = 10**6
    events: list[tuple[str, Any]] = []
    for n, (packet_step, octet_step, speed, uptime_step, full_path, unknown) in enumerate(steps):
        packets = (packets + packet_step) & M32
        octets = max(0, octets + octet_step) if octet_step >= 0 else 0
        uptime = max(0, uptime + uptime_step)
        record = generic(
            LEAF1_EDGE, n, speed=speed, in_octets=octets, in_ucast_pkts=packets,
            out_discards=M32 if unknown else n,
        )  # fmt: skip
        extra = (BAD_ETHERNET,) if full_path else ()
        sample = counter(n + 1, LEAF1_EDGE, record, *extra)
        events.append(("datagram", wire(datagram(LEAF1, n + 1, (sample,), uptime_ms=uptime))))
        if n % 3 == 2:
            events.append(("drain", float(n)))
    events.append(("drain", 99.0))
    _compare(_run(False, None, events), _run(True, accounting_class, events))


def test_the_scan_makes_rows_of_the_streams_common_samples() -> None:
    """The fast path really takes the row route for the samples meant for it (not all to the
    full decoder, which would make the comparisons above trivially equal)."""
    rows = fast.FlowRows()
    fast.scan_datagram(wire(datagram(LEAF1, 2, _leaf_counters(2) + _drops(2))), rows)
    assert (rows.counter_count, rows.drop_count, rows.others) == (6, 4, [])

"""The worker → aggregator transport: the versioned delta codec, its frames, the sender thread
that never blocks the receive loop, and coalescing that leaves the aggregator's totals unchanged.

Oracles: hand-written payload bytes; equality of decoded dataclasses with the ones encoded; an
``Aggregator`` fed every delta one by one against one fed the coalesced deltas; a real
``os.pipe`` with a reader that does not read.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import struct
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.aggregate.aggregator import Aggregator
from collector.delta import (
    MAX_HELD_EVENTS,
    AgentStatus,
    CreditStats,
    Delta,
    FlowPartial,
    HistogramValue,
    Observations,
    PortStatus,
    PortStatusBlock,
    PortUpdates,
)
from collector.delta_codec import (
    HEADER,
    DeltaCodecError,
    FrameReader,
    decode_delta,
    encode_delta,
    encode_frame,
)
from collector.receive import sender as sender_module
from collector.receive.sender import DeltaSender

# ---------------------------------------------------------------------------------------------
# Building deltas


def rich_delta(seed: int = 0, ports: int = 3) -> Delta:
    """A delta with every field set, including the awkward values (infinite credit bounds,
    None, non-ASCII text)."""
    delta = Delta()
    delta.add_counter("datagrams", (), 10.0 + seed)
    delta.add_counter("interface_bytes", ("in", "edge"), 1e12 + 0.5)
    delta.add_counter("agent_samples", ("10.0.0.1", "0", "flow"), 7.0)
    delta.histograms["port_utilization_ratio"] = {
        ("in", "core"): HistogramValue([1.0, 0.0, 2.5], 0.75)
    }
    delta.credits = {"edge": CreditStats(2, 64.0, 16.0, 48.0), "core": CreditStats()}
    delta.gauges = {"agents": 3.0, "receive_buffer_bytes": 33554432.0}
    delta.agents = {
        ("10.0.0.1", 0): AgentStatus(
            "leaf1", 100.5, 123456, 4096, 4100.25, "léaf-1", (1, 4096), 2**32 - 1
        ),
        ("fd00::2", 3): AgentStatus("", 101.0, 0, None, None),
    }
    delta.expired_agents = [("10.9.9.9", 0)]
    delta.ports = {
        ("10.0.0.1", i): PortStatus(
            "leaf1" if i else None,
            f"swp{i}" if i else None,
            "edge" if i else "unmapped",
            True,
            i % 2 == 0,
            400_000_000_000 if i else 2**64 - 1,
            0.25 if i else None,
            None,
            99.0 + seed,
            f"swp{i}",
        )
        for i in range(ports)
    }
    delta.expired_ports = [("10.9.9.9", 7)]
    delta.roce_buckets = {17000000000 + seed: 12.5}
    delta.observed = Observations(
        [("02:00:00:00:00:01", "10.128.0.1", "10.0.0.1", 5, "leaf1", "swp5", 99.5)],
        [{"time": 99.0, "agent": "10.0.0.1", "reason": 1, "reason_name": "acl", "port": None}],
        2,
        {"10.0.0.1": 99.9},
    )
    delta.flows = {
        "pair": FlowPartial(
            3,
            {
                ("10.0.0.1", "5", "edge", "leaf1", "10.128.0.1", "10.128.1.1"): [
                    4096.0 * 1024,
                    4096.0,
                ],
                ("fd00::2", "0:7", "unmapped", "", "ünï", ""): [0.5, 1e-300],
            },
            2,
        )
    }
    delta.flow_keys = {"ipsource": 99.5, "ibbtdestqp": 99.0}
    return delta


# ---------------------------------------------------------------------------------------------
# Codec


def test_a_delta_comes_back_equal_field_for_field() -> None:
    delta = rich_delta()
    again = decode_delta(encode_delta(delta))
    assert again == delta
    assert math.isinf(again.credits["core"].low) and again.credits["core"].low > 0
    assert again.agents[("10.0.0.1", 0)].hostname == "léaf-1"
    assert again.ports[("10.0.0.1", 0)].speed_bps == 2**64 - 1
    assert decode_delta(encode_delta(Delta())) == Delta()


def test_the_payload_is_versioned_json_as_documented() -> None:
    payload = encode_delta(rich_delta())
    assert payload[:4] == b"FSD\x04"
    document = json.loads(payload[4:])
    assert document["counters"]["datagrams"] == [[[], 10.0]]
    assert document["agents"][1] == ["fd00::2", 3, "", 101.0, 0, None, None, None, [], 0]
    # a payload written by hand, not by the encoder, decodes to the values it says
    hand = HEADER + (
        b'{"counters":{"lost_datagrams":[[[],3]]},'
        b'"ports":[["10.0.0.7",12,"leaf7","swp12","core",true,false,100000000000,'
        b'0.5,null,7.25,null]],"roce":[[42,1.5]]}'
    )
    delta = decode_delta(hand)
    assert delta.counters == {"lost_datagrams": {(): 3.0}}
    assert delta.ports[("10.0.0.7", 12)] == PortStatus(
        "leaf7", "swp12", "core", True, False, 100_000_000_000, 0.5, None, 7.25, None
    )
    assert delta.roce_buckets == {42: 1.5}
    assert delta.agents == {} and delta.observed is None
    assert delta.flows == {} and delta.flow_keys == {}
    assert document["flows"]["pair"][:2] == [3, 2]
    flows = decode_delta(
        HEADER + b'{"flows":{"qp":[7,0,[[["10.0.0.1","3","core","spine1","42"],[1500,1]]]]},'
        b'"flow_keys":{"ibbtdestqp":12.5}}'
    )
    assert flows.flows == {
        "qp": FlowPartial(7, {("10.0.0.1", "3", "core", "spine1", "42"): [1500.0, 1.0]}, 0)
    }
    assert flows.flow_keys == {"ibbtdestqp": 12.5}


def _block(agent: str, rows: list[tuple[int, PortStatus]]) -> PortStatusBlock:
    """A block holding ``rows`` column by column, as lists (the wire's form)."""
    return _blocks([(agent, ifindex, status) for ifindex, status in rows])


def _blocks(rows: list[tuple[str, int, PortStatus]]) -> PortStatusBlock:
    """A block of (agent, ifIndex, status) rows of any agents."""
    return PortStatusBlock(
        [agent for agent, _, _ in rows],
        [ifindex for _, ifindex, _ in rows],
        [s.node for _, _, s in rows],
        [s.port for _, _, s in rows],
        [s.role for _, _, s in rows],
        [(1 if s.oper_up else 0) | (2 if s.admin_up else 0) for _, _, s in rows],
        [s.speed_bps for _, _, s in rows],
        [math.nan if s.in_utilization is None else s.in_utilization for _, _, s in rows],
        [math.nan if s.out_utilization is None else s.out_utilization for _, _, s in rows],
        [s.last_seen for _, _, s in rows],
        [s.sflow_name for _, _, s in rows],
    )


def test_port_blocks_travel_as_columns_and_settle_latest_seen_wins() -> None:
    early = PortStatus("leaf1", "swp1", "edge", True, True, 10**11, 0.1, 0.2, 5.0, "swp1")
    late = PortStatus("leaf1", "swp1", "edge", False, True, 10**11, None, None, 6.0, None)
    other = PortStatus(None, None, "unmapped", True, False, 0, None, 0.5, 5.5, "eth9")
    updates = PortUpdates({("10.0.0.1", 1): early})
    # a block seen later overrides the settled status; the block holds a second agent's row too
    updates.add_block(_blocks([("10.0.0.1", 1, late), ("10.0.0.3", 9, other)]))
    updates.add_block(_block("10.0.0.1", [(1, early)]))  # older than what is held: ignored
    delta = Delta(ports=updates)
    payload = encode_delta(delta)
    document = json.loads(payload[4:])
    # columns on the wire, not one array per port
    assert document["ports"] == [["10.0.0.1", 1, "leaf1", "swp1", "edge", True, True, 10**11,
                                  0.1, 0.2, 5.0, "swp1"]]  # fmt: skip
    assert document["port_blocks"][0][:4] == [
        ["10.0.0.1", "10.0.0.3"], [1, 9], ["leaf1", None], ["swp1", None]
    ]  # fmt: skip
    assert document["port_blocks"][0][5] == [2, 1]  # up bits: admin only, oper only
    again = decode_delta(payload)
    assert again.ports == {("10.0.0.1", 1): late, ("10.0.0.3", 9): other}
    assert dict(delta.ports) == {("10.0.0.1", 1): late, ("10.0.0.3", 9): other}
    # coalescing keeps blocks unsettled and ordered after what the earlier delta held
    first = Delta(ports=PortUpdates())
    first.ports.add_block(_block("10.0.0.2", [(3, early)]))  # type: ignore[attr-defined]
    second = Delta(ports=PortUpdates())
    second.ports.add_block(_block("10.0.0.2", [(3, late)]))  # type: ignore[attr-defined]
    assert first.can_absorb(second)
    first.absorb(second)
    assert len(first.ports.parts()[1]) == 2  # type: ignore[attr-defined]
    assert dict(first.ports) == {("10.0.0.2", 3): late}
    assert not Delta().ports and not Delta(ports=PortUpdates()).ports


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "bad magic"),
        (b"PK\x03\x04", "bad magic"),
        (b"FSD\x03{}", "version 3 is not 4"),
        (b"FSD", "version None"),
        (HEADER + b"{", "not JSON"),
        (HEADER + b"\xff\xfe", "not JSON"),
        (HEADER + b"[]", "delta document: expected an object"),
        (HEADER + b'{"counters":{"x":[[["a"],"1"]]}}', "counters.x: expected a number"),
        (HEADER + b'{"counters":{"x":[[["a"],1,2]]}}', "expected 2 items, got 3"),
        (HEADER + b'{"counters":{"x":[[["a"],NaN]]}}', "expected a finite number"),
        (HEADER + b'{"gauges":{"g":true}}', "gauges: expected a number"),
        (HEADER + b'{"flows":{"f":[1,0]}}', "flows.f: expected 3 items, got 2"),
        (HEADER + b'{"flows":{"f":[1,0,[[["a"],["x"]]]]}}', "flows.f: expected a number"),
        (HEADER + b'{"flows":{"f":[1.5,0,[]]}}', "flows.f: expected an integer"),
        (HEADER + b'{"flows":{"f":[1,0,[[[3],[1]]]]}}', "flows.f: expected a string"),
        (HEADER + b'{"flow_keys":{"k":"x"}}', "flow_keys: expected a number"),
        (HEADER + b'{"agents":[["a",0,"n",1,2,3,4,5]]}', "agents[]: expected 10 items"),
        (
            HEADER + b'{"ports":[["a",1.5,null,null,"edge",true,true,1,null,null,1,null]]}',
            "ports[]: expected an integer",
        ),
        (HEADER + b'{"port_blocks":[[["a"],[1]]]}', "port_blocks[]: expected 11 items, got 2"),
        (
            HEADER + b'{"port_blocks":[[["a","a"],[1,2],[null],[null],["edge"],[3],[1],'
            b"[NaN],[NaN],[1],[null]]]}",
            "port_blocks[]: expected 2 items, got 1",
        ),
        (
            HEADER + b'{"port_blocks":[[["a"],[1],[null],[null],["edge"],[4],[1],'
            b"[NaN],[NaN],[1],[null]]]}",
            "port_blocks[]: 4 is not a set of up bits",
        ),
        (
            HEADER + b'{"port_blocks":[[["a"],[1],[null],[null],["edge"],[3],[1],'
            b"[Infinity],[NaN],[1],[null]]]}",
            "port_blocks[]: expected a finite number or NaN",
        ),
        (
            HEADER + b'{"port_blocks":[[["a"],[1],[null],[null],["edge"],[3],[-1],'
            b"[NaN],[NaN],[1],[null]]]}",
            "port_blocks[]: expected a speed of 0 or more",
        ),
        (HEADER + b'{"observed":{"drop_events":[{"x":[1]}]}}', "expected a string, number"),
        (HEADER + b"[" * 100_000 + b"]" * 100_000, "not JSON"),
    ],
)
def test_anything_but_a_delta_is_refused_with_the_field_named(payload: bytes, message: str) -> None:
    with pytest.raises(DeltaCodecError) as caught:
        decode_delta(payload)
    assert message in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_the_codec_error(data: bytes) -> None:
    for payload in (data, HEADER + data):
        with contextlib.suppress(DeltaCodecError):
            decode_delta(payload)


def test_frames_are_split_wherever_the_bytes_are_cut() -> None:
    deltas = [rich_delta(seed) for seed in range(3)]
    stream = b"".join(encode_frame(d) for d in deltas)
    reader = FrameReader()
    got = []
    for i in range(len(stream)):  # one byte at a time
        got += reader.feed(stream[i : i + 1])
    assert got == deltas and reader.pending == 0 and reader.frames == 3
    with pytest.raises(DeltaCodecError, match="exceeds"):
        FrameReader(max_frame=1024).feed(struct.pack("!I", 1025))


# ---------------------------------------------------------------------------------------------
# Coalescing: the aggregator cannot tell


def _state(aggregator: Aggregator) -> tuple[object, ...]:
    view = aggregator.view
    return (
        aggregator.counters,
        {
            f: {k: (h.counts, h.total) for k, h in s.items()}
            for f, s in aggregator.histograms.items()
        },
        aggregator.agents,
        dict(aggregator.ports),
        aggregator.receiver_gauges,
        view.flow_agents,
        view.drops.after(None),
        [view.locate.lookup(a) for a in ("10.128.0.1", "02:00:00:00:00:01")],
        aggregator._credits_now,
        aggregator._roce_pending,
    )


def _series(seed: int) -> list[Delta]:
    """Deltas of successive ticks: counters, statuses that change, an agent and a port that
    expire and come back (the case that must not be folded together)."""
    out = []
    for tick in range(12):
        d = rich_delta(seed + tick, ports=2 + tick % 3)
        if tick == 4:
            d.expired_agents = [("10.0.0.1", 0)]
            d.agents.pop(("10.0.0.1", 0))
            d.expired_ports = [("10.0.0.1", 1)]
            del d.ports[("10.0.0.1", 1)]
        if tick == 5:  # back, with new counters
            d.add_counter("agent_samples", ("10.0.0.1", "0", "flow"), 1.0)
        out.append(d)
    return out


def _copy(delta: Delta) -> Delta:
    return decode_delta(encode_delta(delta))


def test_coalesced_deltas_give_the_aggregator_the_same_state() -> None:
    one_by_one, coalesced = Aggregator(), Aggregator()
    series = _series(0)
    for delta in series:
        one_by_one.merge(_copy(delta), 1)
    waiting: list[Delta] = []
    for delta in series:  # what DeltaSender does while its reader lags
        delta = _copy(delta)
        if waiting and waiting[-1].can_absorb(delta):
            waiting[-1].absorb(delta)
        else:
            waiting.append(delta)
    assert len(waiting) == 2  # the return of the expired agent waits apart
    for delta in waiting:
        coalesced.merge(delta, 1)
    assert _state(coalesced) == _state(one_by_one)
    assert ("10.0.0.1", 0) in coalesced.agents  # it came back


def test_folding_keeps_observations_bounded_and_counts_what_it_leaves_out() -> None:
    held = Observations()
    later = Observations(drop_events=[{"time": float(i)} for i in range(MAX_HELD_EVENTS - 5)])
    held.absorb(later)
    held.absorb(Observations(drop_events=[{"time": 1.0}] * 20, drops_skipped=3))
    assert len(held.drop_events) == MAX_HELD_EVENTS
    assert held.drops_skipped == 3 + 15


# ---------------------------------------------------------------------------------------------
# The sender over a real pipe


def _read_all(fd: int, reader: FrameReader, until: int, timeout: float = 30.0) -> list[Delta]:
    out: list[Delta] = []
    deadline = time.monotonic() + timeout
    while reader.frames < until and time.monotonic() < deadline:
        data = os.read(fd, 1 << 20)
        if not data:
            break
        out += reader.feed(data)
    return out


def test_a_delta_of_megabytes_crosses_the_pipe_whole() -> None:
    big = rich_delta(ports=90_000)  # about 8.5 MB encoded
    assert len(encode_frame(big)) > 8_000_000
    read_fd, write_fd = os.pipe()
    sender = DeltaSender(write_fd)
    sender.send(_copy(big))
    got = _read_all(read_fd, FrameReader(), 1)
    assert sender.close(5.0)
    assert got == [big]
    assert os.read(read_fd, 1) == b""  # closed after the last frame
    os.close(read_fd)


def test_a_reader_that_does_not_read_never_blocks_the_sender(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_fd, write_fd = os.pipe()
    monkeypatch.setattr(sender_module, "PIPE_SIZE", 4096)  # the smallest pipe the kernel gives
    sender = DeltaSender(write_fd)
    ticks = 200
    started = time.monotonic()
    for seed in range(ticks):  # 200 ticks of ~60 kB each: far more than the pipe holds
        sender.send(rich_delta(seed, ports=400))
    handing_over = time.monotonic() - started
    assert handing_over < 5.0, "send() waited on the pipe"
    assert sender.coalesced >= ticks - 2  # one frame in the writer's hands, one waiting
    reader = FrameReader()
    done = threading.Event()
    got: list[Delta] = []

    def drain() -> None:
        got.extend(_read_all(read_fd, reader, ticks))
        done.set()

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    assert sender.close(10.0)
    thread.join(10.0)
    os.close(read_fd)
    total = sum(d.counters["datagrams"][()] for d in got)
    assert total == sum(10.0 + seed for seed in range(ticks))  # nothing lost, nothing twice
    folded = sum(d.counters.get("worker_deltas_coalesced", {}).get((), 0.0) for d in got)
    assert folded == sender.coalesced and len(got) == ticks - sender.coalesced


def test_a_sender_whose_reader_is_gone_says_so_instead_of_raising() -> None:
    read_fd, write_fd = os.pipe()
    os.close(read_fd)
    sender = DeltaSender(write_fd)
    sender.send(rich_delta())
    deadline = time.monotonic() + 5
    while not sender.broken and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sender.broken
    assert not sender.close(1.0)

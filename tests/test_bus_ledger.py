"""The bus's pure parts: delta ids, the per-shard ledger, checkpoints, and the publisher's
bounded queue while the bus is away (no network; tests/test_bus.py runs the real bus)."""

from __future__ import annotations

import pytest

from collector.bus.ledger import (
    CheckpointError,
    ShardLedger,
    decode_checkpoint,
    encode_checkpoint,
    next_delta_id,
    shard_of_host,
)
from collector.bus.publisher import DeltaPublisher
from collector.bus.settings import BusSettings, PublisherSettings
from collector.delta import Delta, HistogramValue


def test_delta_ids_only_grow_even_when_the_clock_stands_still_or_goes_back() -> None:
    assert next_delta_id(0, 1_000) == 1_000
    assert next_delta_id(1_000, 1_000) == 1_001
    assert next_delta_id(5_000, 1_000) == 5_001  # the clock went back: still above
    ids, last = [], 0
    for now in (10, 10, 10, 9, 50, 49):
        last = next_delta_id(last, now)
        ids.append(last)
    assert ids == [10, 11, 12, 13, 50, 51]


def test_the_ledger_accepts_each_id_once_per_shard_and_keeps_stable_indexes() -> None:
    ledger = ShardLedger()
    assert ledger.accept("a", 100)
    assert not ledger.accept("a", 100)  # a replay
    assert not ledger.accept("a", 99)  # older: merged already
    assert ledger.accept("b", 50)  # another shard's ids are its own
    assert ledger.accept("a", 101)
    assert (ledger.index("a"), ledger.index("b")) == (0, 1)


def test_host_names_become_subject_tokens() -> None:
    assert shard_of_host("rack7.pod2.example") == "rack7_pod2_example"
    assert shard_of_host("") == "shard"


def test_a_checkpoint_round_trips_ledger_and_totals() -> None:
    ledger = ShardLedger(stream_sequence=42)
    ledger.accept("pod-a", 1_700_000_000_000_001)
    ledger.accept("pod-b", 7)
    totals = Delta()
    totals.add_counter("datagrams", (), 1234.0)
    totals.add_counter("ingress_bytes", ("edge",), 5e12)
    totals.histograms["port_utilization_ratio"] = {("in", "edge"): HistogramValue([1.0, 2.0], 0.7)}
    got_ledger, got_totals = decode_checkpoint(encode_checkpoint(ledger, totals))
    assert got_ledger == ledger
    assert got_totals.counters == totals.counters
    assert got_totals.histograms == totals.histograms


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"XXX" + b[3:],  # magic
        lambda b: b[:3] + b"\x09" + b[4:],  # version
        lambda b: b[:8],  # no ledger
        lambda b: b[:4] + b"\xff\xff\xff\xff" + b[8:],  # length beyond the end
        lambda b: b[:-3],  # truncated totals
    ],
)
def test_a_broken_checkpoint_is_refused_with_one_error(mutate) -> None:  # type: ignore[no-untyped-def]
    ledger = ShardLedger(stream_sequence=3)
    ledger.accept("a", 9)
    data = encode_checkpoint(ledger, Delta())
    with pytest.raises(CheckpointError):
        decode_checkpoint(mutate(data))


def test_while_the_bus_is_away_deltas_fold_in_bounded_memory_and_nothing_is_lost() -> None:
    counted: list[str] = []
    publisher = DeltaPublisher(
        PublisherSettings(BusSettings(("nats://127.0.0.1:1",)), "a", max_waiting=4),
        lambda family, labels: counted.append(family),
    )
    for _ in range(1000):  # run() never started: nothing is taken
        delta = Delta()
        delta.add_counter("datagrams", (), 3.0)
        publisher.offer(delta)
    publisher.offer(Delta())  # an empty delta is not queued
    assert publisher.backlog == 1
    waiting = publisher._waiting[0]
    assert waiting.counters["datagrams"][()] == 3000.0
    assert publisher.coalesced == 999 == counted.count("bus_deltas_coalesced")


def test_an_agent_that_expired_and_came_back_waits_apart_up_to_the_bound() -> None:
    publisher = DeltaPublisher(
        PublisherSettings(BusSettings(("nats://127.0.0.1:1",)), "a", max_waiting=3),
        lambda family, labels: None,
    )
    from collector.delta import AgentStatus

    status = AgentStatus("leaf1", 1.0, 10, 1000, 1000.0, None, (), 1)
    for _ in range(5):
        gone = Delta(expired_agents=[("10.0.0.1", 0)])
        back = Delta(agents={("10.0.0.1", 0): status})
        publisher.offer(gone)
        publisher.offer(back)
    assert publisher.backlog == 3  # apart while it can, then folded


def test_restored_totals_continue_the_counters_without_a_jump_in_the_rates() -> None:
    from collector.aggregate.aggregator import Aggregator

    aggregator = Aggregator()
    aggregator.tick(100.0)  # the first tick ran before the checkpoint was read
    totals = Delta()
    totals.add_counter("fabric_ingress_bytes", (), 1_000_000.0)
    aggregator.restore(totals)
    more = Delta()
    more.add_counter("fabric_ingress_bytes", (), 10.0)
    aggregator.merge(more, receiver=-2)
    aggregator.tick(101.0)
    assert aggregator.counters["fabric_ingress_bytes"][()] == 1_000_010.0
    assert aggregator.rates("fabric_ingress_bytes")[()] == 10.0  # 10 in 1 s, not a million


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"publish": "http://bus:4222"}, "invalid publish (from --publish): 'http://bus:4222'"),
        ({"publish": "nats://bus:99999"}, "invalid publish (from --publish): 'nats://bus:99999'"),
        ({"publish": "nats://a:4222", "shard": "pod.a"}, "invalid shard (from --shard)"),
        ({"nats": ","}, "invalid nats (from --nats)"),
    ],
)
def test_bad_bus_settings_are_one_line_naming_the_field(flags: dict, message: str) -> None:
    from collector.serve.settings import SettingsError, load_settings

    with pytest.raises(SettingsError) as raised:
        load_settings(flags, env={})
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_the_bus_settings_reach_publisher_and_consumer() -> None:
    from collector.serve.settings import load_settings, serve_parts

    settings = load_settings(
        {"publish": "nats://a:4222, tls://b:4222", "nats": "nats://c:4222", "shard": "pod-a"},
        env={"FABRICSCOPE_BUS_REPLICAS": "3"},
    )
    serve = serve_parts(settings)
    assert serve.bus_source is None and serve.publisher is not None
    assert serve.publisher.shard == "pod-a"
    assert serve.publisher.bus.servers == ("nats://a:4222", "tls://b:4222")
    assert serve.publisher.bus.replicas == 3
    aggregate = serve_parts(settings, aggregate=True)
    assert aggregate.publisher is None and aggregate.bus_source is not None
    assert aggregate.bus_source.bus.servers == ("nats://c:4222",)
    assert aggregate.bus_source.consumer.startswith("aggregate-")
    lateness = aggregate.aggregator.roce_lateness_buckets
    assert lateness > serve.aggregator.roce_lateness_buckets

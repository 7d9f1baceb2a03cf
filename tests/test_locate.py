"""Locate: learning (MAC, IP) → edge port from flow rows and decoded samples, the LRU table."""

from __future__ import annotations

import pytest

from collector.addresses import normalize_address
from collector.aggregate import fabric_view
from collector.aggregate.fabric_view import FabricView, LocateTable
from collector.receive import observe
from collector.receive.observe import FabricObserver
from decoders import decode_datagram
from decoders import fast as fast_decoder
from decoders.encode import sampled_header
from decoders.frames import rocev2_frame
from decoders.records import FlowSample
from tests.fabric_builders import LEAF1, LEAF1_CORE, LEAF1_EDGE, TOPOLOGY, datagram, flow, wire
from topology import PortResolver, TopologyIndex, parse_topology

HOST_MAC = "02:6e:00:00:00:07"
HOST_IP = "10.128.0.7"


def _resolver() -> PortResolver:
    return PortResolver(TopologyIndex(parse_topology(TOPOLOGY)))


def _header(src_mac: str = HOST_MAC, src_ip: str = HOST_IP, version: int = 4) -> object:
    frame = rocev2_frame(
        0x0A,
        dest_qp=5,
        psn=1,
        payload=b"\x00" * 32,
        src_mac=src_mac,
        ip_version=version,
        src_ip=src_ip,
        dst_ip="10.128.0.9" if version == 4 else "fd00::9",
    )
    return sampled_header(1, len(frame) + 4, 4, frame[:128])


def _rows(ifindex: int, **header: str) -> tuple[object, bytes]:
    data = wire(datagram(LEAF1, 1, (flow(1, ifindex, (_header(**header),)),)))  # type: ignore[arg-type]
    rows = fast_decoder.FlowRows(8)
    fast_decoder.scan_datagram(data, rows)
    return rows, data


def test_edge_ingress_rows_teach_mac_and_ip_core_rows_do_not() -> None:
    observer = FabricObserver()
    resolver = _resolver()
    rows, data = _rows(LEAF1_EDGE)
    observer.observe_rows(rows, data, LEAF1, resolver, 5.0)
    rows2, data2 = _rows(LEAF1_CORE, src_mac="02:6e:00:00:00:99", src_ip="10.128.0.99")
    observer.observe_rows(rows2, data2, LEAF1, resolver, 5.0)
    observed = observer.drain()
    assert observed is not None
    assert observed.locations == [(HOST_MAC, HOST_IP, LEAF1, LEAF1_EDGE, "leaf1", "swp3", 5.0)]
    assert observed.flow_agents == {LEAF1: 5.0}
    view = FabricView()
    view.merge(observed)
    expected = {
        "node": "leaf1",
        "port": "swp3",
        "agent": LEAF1,
        "ifindex": LEAF1_EDGE,
        "mac": HOST_MAC,
        "ip": HOST_IP,
        "last_seen": 5.0,
    }
    assert view.locate.lookup(HOST_IP) == [expected]
    assert view.locate.lookup("02-6E-00-00-00-07") == [expected]
    assert view.locate.lookup("026e.0000.0007") == [expected]
    assert view.locate.lookup("10.128.0.99") == []


def test_known_pairs_are_shipped_again_only_after_the_refresh() -> None:
    observer = FabricObserver()
    resolver = _resolver()
    rows, data = _rows(LEAF1_EDGE)
    observer.observe_rows(rows, data, LEAF1, resolver, 1.0)
    observer.observe_rows(rows, data, LEAF1, resolver, 2.0)
    first = observer.drain()
    assert first is not None and len(first.locations) == 1
    observer.observe_rows(rows, data, LEAF1, resolver, 3.0)
    second = observer.drain()
    assert second is not None and second.locations == []
    observer.observe_rows(rows, data, LEAF1, resolver, 1.0 + observe.REFRESH_SECONDS)
    third = observer.drain()
    assert third is not None and len(third.locations) == 1
    assert observer.drain() is None


def test_rows_examined_per_tick_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observe, "LEARN_ROWS_PER_TICK", 3)
    observer = FabricObserver()
    observer.drain()  # refill with the patched budget
    resolver = _resolver()
    for n in range(10):
        rows, data = _rows(LEAF1_EDGE, src_mac=f"02:6e:00:00:01:{n:02x}", src_ip=f"10.1.0.{n}")
        observer.observe_rows(rows, data, LEAF1, resolver, 1.0)
    observed = observer.drain()
    assert observed is not None and len(observed.locations) == 3
    assert observed.flow_agents == {LEAF1: 1.0}  # flow activity is always recorded


def test_full_decoder_path_learns_too_and_ipv6() -> None:
    observer = FabricObserver()
    resolver = _resolver()
    data = wire(
        datagram(LEAF1, 1, (flow(1, LEAF1_EDGE, (_header(src_ip="fd00::7", version=6),)),))  # type: ignore[arg-type]
    )
    sample = decode_datagram(data).samples[0]
    assert isinstance(sample, FlowSample)
    packet = sample.records[0].packet  # type: ignore[union-attr]
    observer.observe_packet(LEAF1, sample.input.ifindex, packet, resolver, 2.0)
    observed = observer.drain()
    assert observed is not None
    view = FabricView()
    view.merge(observed)
    assert view.locate.lookup("FD00:0::7")[0]["port"] == "swp3"


def test_group_and_unspecified_addresses_are_not_learned() -> None:
    observer = FabricObserver()
    resolver = _resolver()
    rows, data = _rows(LEAF1_EDGE, src_mac="01:00:5e:00:00:01", src_ip="0.0.0.0")
    observer.observe_rows(rows, data, LEAF1, resolver, 1.0)
    observed = observer.drain()
    assert observed is not None and observed.locations == []


def test_table_is_an_lru_with_evictions_and_latest_sighting_wins() -> None:
    table = LocateTable(capacity=4)
    table.learn(("02:00:00:00:00:01", "10.0.0.1", "a", 1, "n1", "p1", 1.0))
    table.learn(("02:00:00:00:00:02", "10.0.0.2", "a", 2, "n1", "p2", 2.0))
    assert len(table) == 4 and table.evictions == 0
    table.learn(("02:00:00:00:00:03", None, "a", 3, "n1", "p3", 3.0))
    assert table.evictions == 1 and table.lookup("02:00:00:00:00:01") == []
    assert table.lookup("10.0.0.1")[0]["port"] == "p1"
    # the host moved: the later sighting wins, an older one arriving late does not
    table.learn((None, "10.0.0.2", "b", 9, "n2", "p9", 5.0))
    table.learn((None, "10.0.0.2", "a", 2, "n1", "p2", 4.0))
    assert table.lookup("10.0.0.2")[0]["node"] == "n2"


def test_another_spelling_of_a_known_address_updates_the_same_entry() -> None:
    """A hit on the canonical key skips normalising; any other spelling still finds that key."""
    table = LocateTable(capacity=8)
    table.learn(("02:00:00:00:00:0a", "fd00::a", "a", 1, "n1", "p1", 1.0))
    table.learn(("02-00-00-00-00-0A", "FD00:0:0::A", "b", 7, "n2", "p7", 2.0))
    assert len(table) == 2
    assert table.lookup("02:00:00:00:00:0a")[0]["port"] == "p7"
    assert table.lookup("fd00::a")[0]["node"] == "n2"
    table.learn(("02:00:00:00:00:0a", "not an address", "c", 3, "n3", "p3", 3.0))
    assert len(table) == 2 and table.lookup("02:00:00:00:00:0A")[0]["agent"] == "c"


def test_normalize_address() -> None:
    assert normalize_address("AA:BB:CC:DD:EE:FF") == "aa:bb:cc:dd:ee:ff"
    assert normalize_address("aabbccddeeff") == "aa:bb:cc:dd:ee:ff"
    assert normalize_address("2001:DB8:0:0::1") == "2001:db8::1"
    assert normalize_address("[fd00::1]") == "fd00::1"
    assert normalize_address(" 10.0.0.1 ") == "10.0.0.1"
    for bad in ("leaf1", "10.0.0.256", "aa:bb:cc", ""):
        with pytest.raises(ValueError):
            normalize_address(bad)


def test_flow_activity_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(observe, "FLOW_AGENTS_PER_TICK", 3)
    monkeypatch.setattr(fabric_view, "MAX_FLOW_AGENTS", 4)
    observer = FabricObserver()
    view = FabricView()
    resolver = _resolver()
    rows, data = _rows(LEAF1_CORE)
    for tick in range(2):
        for n in range(5):
            agent = f"192.0.2.{tick * 5 + n}"
            observer.observe_rows(rows, data, agent, resolver, float(tick * 10 + n))
        observed = observer.drain()
        assert observed is not None and len(observed.flow_agents) == 3
        view.merge(observed)
    # 3 agents per tick shipped; past 4 the aggregator keeps the newest 2
    assert view.flow_agents == {"192.0.2.6": 11.0, "192.0.2.7": 12.0}


# -- through FabricState and the Aggregator (the Delta carries the observations) ---------------


def _state_delta(fast: bool) -> object:
    import pickle

    from collector.receive.pipeline import Pipeline
    from collector.receive.state import FabricState
    from decoders.records import ExtendedLinuxDropReason
    from tests.fabric_builders import drop

    state = FabricState(_resolver())
    pipeline = Pipeline(state, fast=fast)
    samples = (
        flow(1, LEAF1_EDGE, (_header(),)),  # type: ignore[arg-type]
        drop(1, 258, (ExtendedLinuxDropReason("NETFILTER_DROP"),)),
    )
    pipeline.handle(wire(datagram(LEAF1, 1, samples)), 7.0)
    delta = state.drain(7.0)
    return pickle.loads(pickle.dumps(delta))  # as a worker sends it


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_state_ships_observations_in_the_delta_and_the_aggregator_keeps_them(fast: bool) -> None:
    from collector.aggregate.aggregator import Aggregator
    from collector.delta import Delta

    delta = _state_delta(fast)
    assert isinstance(delta, Delta) and delta.observed is not None and not delta.is_empty()
    assert delta.observed.flow_agents == {LEAF1: 7.0}
    aggregator = Aggregator()
    aggregator.merge(delta)
    assert aggregator.view.locate.lookup(HOST_IP)[0]["port"] == "swp3"
    page = aggregator.view.drops.after(0)
    assert len(page["events"]) == 1
    event = page["events"][0]
    assert (event["id"], event["node"], event["port"], event["reason_name"]) == (
        1,
        "leaf1",
        "swp3",
        "acl",
    )
    assert event["linux_reason"] == "NETFILTER_DROP" and event["time"] == 7.0
    assert aggregator.view.flow_agents == {LEAF1: 7.0}

"""Drop events: built from drop samples, the ring with ids, filters, the text line."""

from __future__ import annotations

import pytest

from collector.aggregate.drop_log import DropLog
from collector.drop_events import format_event, parse_filter
from collector.receive import drops as receiver_drops
from collector.receive.drops import DropRecorder, drop_event
from decoders import decode_datagram
from decoders.encode import sampled_header
from decoders.frames import rocev2_frame
from decoders.records import (
    DataSource,
    DropSample,
    ExtendedFunction,
    ExtendedHwTrap,
    ExtendedLinuxDropReason,
)
from tests.fabric_builders import LEAF1, TOPOLOGY, datagram, wire
from topology import PortResolver, TopologyIndex, parse_topology


def _resolver() -> PortResolver:
    return PortResolver(TopologyIndex(parse_topology(TOPOLOGY)))


def _decoded(
    reason: int, records: tuple[object, ...], in_if: int = 5, out_if: int = 3
) -> DropSample:
    sample = DropSample(True, 1, DataSource(0, in_if), 7, in_if, out_if, reason, records)  # type: ignore[arg-type]
    decoded = decode_datagram(wire(datagram(LEAF1, 1, (sample,))))
    result = decoded.samples[0]
    assert isinstance(result, DropSample)
    return result


def _roce_header() -> object:
    frame = rocev2_frame(
        0x06, dest_qp=0x1234, psn=1, payload=b"\x00" * 32, src_ip="10.128.0.1", dst_ip="10.128.0.2"
    )
    return sampled_header(1, len(frame) + 4, 4, frame[:128])


def test_event_of_a_buffer_drop_with_a_roce_header_and_a_trap() -> None:
    sample = _decoded(259, (ExtendedHwTrap("buffer_drops", "tail_drop"), _roce_header()))
    event = drop_event(LEAF1, sample, _resolver(), 12.5)
    assert event["time"] == 12.5 and event["node"] == "leaf1" and event["agent"] == LEAF1
    assert (event["source_ifindex"], event["port"]) == (5, "swp3")
    assert (event["in_ifindex"], event["in_port"]) == (5, "swp3")
    assert (event["out_ifindex"], event["out_port"]) == (3, "swp1")
    assert (event["reason"], event["reason_name"]) == (259, "no_buffer_space")
    assert (event["trap_group"], event["trap"]) == ("buffer_drops", "tail_drop")
    assert (event["src_ip"], event["dst_ip"], event["protocol"]) == (
        "10.128.0.1",
        "10.128.0.2",
        "udp",
    )
    assert (event["src_port"], event["dst_port"]) == (49152, 4791)
    assert (event["roce_opcode"], event["dest_qp"]) == ("RC:RDMA_WRITE_FIRST", 0x1234)
    assert event["drops"] == 7
    line = format_event(event)
    assert " leaf1 swp3 in swp3 out swp1 no_buffer_space " in line
    assert "trap=buffer_drops/tail_drop" in line
    assert "udp 10.128.0.1:49152 > 10.128.0.2:4791" in line
    assert line.endswith("roce=RC:RDMA_WRITE_FIRST qp=4660")


def test_event_of_a_kernel_drop_and_unknown_ports() -> None:
    records = (ExtendedLinuxDropReason("NO_SOCKET"), ExtendedFunction("__udp4_lib_rcv"))
    sample = _decoded(3, records, in_if=0, out_if=0x3FFFFFFF)
    event = drop_event("10.9.9.9", sample, _resolver(), 1.0)
    assert event["node"] is None and event["in_ifindex"] == 0 and event["out_ifindex"] == 0
    assert (event["linux_reason"], event["function"]) == ("NO_SOCKET", "__udp4_lib_rcv")
    assert event["src_ip"] is None and event["roce_opcode"] is None
    line = format_event(event)
    assert "10.9.9.9 - in - out - port_unreachable linux=NO_SOCKET function=__udp4_lib_rcv" in line


def test_recorder_is_bounded_per_tick() -> None:
    assert DropRecorder().max_events == receiver_drops.MAX_EVENTS_PER_TICK
    recorder = DropRecorder(max_events=2)
    sample = _decoded(258, ())
    for _ in range(5):
        recorder.record(LEAF1, sample, _resolver(), 1.0)
    events, skipped = recorder.drain()
    assert len(events) == 2 and skipped == 3
    assert recorder.drain() == ([], 0)


def _events(n: int, **fields: object) -> list[dict[str, object]]:
    return [{"time": float(i), "reason_name": "acl", "node": "leaf1", **fields} for i in range(n)]


def test_ring_ids_after_and_limit() -> None:
    log = DropLog(size=5)
    page = log.after(None)
    assert page["events"] == [] and page["last"] == 0 and page["total"] == 0
    log.extend(_events(3))
    page = log.after(0)
    assert [e["id"] for e in page["events"]] == [1, 2, 3] and page["last"] == 3
    log.extend(_events(4), skipped=2)  # ids 4..7; the ring keeps 3..7
    page = log.after(1)
    assert [e["id"] for e in page["events"]] == [3, 4, 5, 6, 7]
    assert page["first"] == 3 and page["skipped"] == 2
    page = log.after(5, limit=1)
    assert [e["id"] for e in page["events"]] == [6] and page["last"] == 6
    assert log.after(7)["events"] == [] and log.after(7)["last"] == 7
    # a client ahead of the collector (it restarted) gets everything again
    assert [e["id"] for e in log.after(100)["events"]] == [3, 4, 5, 6, 7]


def test_filters() -> None:
    log = DropLog()
    log.extend(_events(2))
    log.extend(_events(1, reason_name="no_buffer_space", node="spine1", dest_qp=77))
    log.extend(_events(1, reason_name="acl", linux_reason="NETFILTER_DROP", node="leaf2"))
    page = log.after(0, filters=parse_filter("reason=no_buffer_space"))
    assert [e["id"] for e in page["events"]] == [3] and page["last"] == 4
    page = log.after(0, filters=parse_filter("reason=acl, node=leaf2"))
    assert [e["id"] for e in page["events"]] == [4]
    page = log.after(0, filters=parse_filter("reason=netfilter_drop"))
    assert [e["id"] for e in page["events"]] == [4]
    page = log.after(0, filters=parse_filter("node=leaf2,node=spine1"))
    assert [e["id"] for e in page["events"]] == [3, 4]
    assert [e["id"] for e in log.after(0, filters=parse_filter("qp=77"))["events"]] == [3]
    assert parse_filter("") == {} and parse_filter(None) == {}
    for bad in ("color=red", "reason", "reason="):
        with pytest.raises(ValueError):
            parse_filter(bad)

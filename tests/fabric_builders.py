"""Builders of decoded sFlow records for the collector tests (state, metrics, serve)."""

from __future__ import annotations

from decoders.encode import encode_datagram, sampled_header
from decoders.frames import aeth, reth, rocev2_frame
from decoders.records import (
    CounterRecord,
    CounterSample,
    Datagram,
    DataSource,
    DropSample,
    FlowRecord,
    FlowSample,
    GenericInterfaceCounters,
    HostDescription,
    Interface,
    PortName,
    Sample,
)
from decoders.rocev2 import CNP_OPCODE

RC_SEND_ONLY = 0x04
RC_WRITE_FIRST = 0x06
RC_WRITE_MIDDLE = 0x07
RC_ACK = 0x11

TOPOLOGY = {
    "links": {
        "L1": {"node1": "leaf1", "port1": "swp1", "node2": "spine1", "port2": "swp1"},
        "L2": {"node1": "leaf2", "port1": "swp1", "node2": "spine1", "port2": "swp2"},
    },
    "nodes": {
        "leaf1": {
            "agent": "10.0.0.1",
            "ports": {"swp1": {"ifindex": "3"}, "swp3": {"ifindex": "5"}},
        },
        "leaf2": {
            "agent": "10.0.0.2",
            "ports": {"swp1": {"ifindex": "3"}, "swp3": {"ifindex": "5"}},
        },
        "spine1": {
            "agent": "10.0.0.3",
            "ports": {"swp1": {"ifindex": "3"}, "swp2": {"ifindex": "4"}},
        },
    },
}
LEAF1 = "10.0.0.1"
LEAF1_EDGE = 5
LEAF1_CORE = 3


def roce_header(
    opcode: int = RC_WRITE_MIDDLE,
    *,
    ext: bytes = b"",
    ecn: int = 2,
    dscp: int = 26,
    frame_length: int = 1086,
    solicited_event: bool = False,
) -> FlowRecord:
    """A sampled_header record holding a RoCEv2 frame (first 128 bytes)."""
    frame = rocev2_frame(
        opcode,
        dest_qp=0x12,
        psn=7,
        ext=ext,
        payload=b"\x00" * 64,
        ecn=ecn,
        dscp=dscp,
        solicited_event=solicited_event,
    )
    return sampled_header(1, frame_length, 4, frame[:128])


def write_first(dma_length: int = 32768, **kwargs: int) -> FlowRecord:
    """RC RDMA WRITE FIRST with a RETH."""
    return roce_header(RC_WRITE_FIRST, ext=reth(0x1000, 0x55, dma_length), **kwargs)


def ack(
    credits: int | None = 12, *, kind: str = "ACK", value: int | str | None = None
) -> FlowRecord:
    """RC ACKNOWLEDGE with an AETH."""
    return roce_header(RC_ACK, ext=aeth(kind, value, credits=credits))


def cnp() -> FlowRecord:
    """A RoCEv2 CNP."""
    return roce_header(CNP_OPCODE, ext=b"\x00" * 16)


def flow(
    sequence: int,
    ifindex: int,
    records: tuple[FlowRecord, ...],
    *,
    rate: int = 1000,
    pool: int | None = None,
    output: int = 7,
    source: int | None = None,
    drops: int = 0,
) -> FlowSample:
    """An ifIndex-sourced flow sample; by default sampled at ingress on ``ifindex``."""
    return FlowSample(
        False,
        sequence,
        DataSource(0, ifindex if source is None else source),
        rate,
        sequence * rate if pool is None else pool,
        drops,
        Interface(0, ifindex),
        Interface(0, output),
        records,
    )


def if_counters(
    ifindex: int,
    *,
    speed: int = 100_000_000_000,
    in_octets: int = 0,
    out_octets: int = 0,
    in_packets: int = 0,
    out_packets: int = 0,
    in_errors: int = 0,
    out_errors: int = 0,
    in_discards: int = 0,
    out_discards: int = 0,
    oper_up: bool = True,
) -> GenericInterfaceCounters:
    """Counter record 0:1 with the fields the collector reads."""
    return GenericInterfaceCounters(
        ifindex,
        6,
        speed,
        1,
        1 | (2 if oper_up else 0),
        in_octets,
        in_packets,
        0,
        0,
        in_discards,
        in_errors,
        0,
        out_octets,
        out_packets,
        0,
        0,
        out_discards,
        out_errors,
        0,
    )


def counters(sequence: int, ifindex: int, records: tuple[CounterRecord, ...]) -> CounterSample:
    """A compact counter sample of data source ``ifindex``."""
    return CounterSample(False, sequence, DataSource(0, ifindex), records)


def names(sequence: int, ifindex: int, port: str, host: str | None = None) -> CounterSample:
    """A counter sample carrying port_name (and optionally host_descr)."""
    records: tuple[CounterRecord, ...] = (PortName(port),)
    if host is not None:
        records += (HostDescription(host, "00000000-0000-0000-0000-000000000000", 0, 0, ""),)
    return counters(sequence, ifindex, records)


def drop(
    sequence: int, reason: int, records: tuple[FlowRecord, ...] = (), *, drops: int = 0
) -> DropSample:
    """A discarded-packet notification on ifIndex 5."""
    return DropSample(True, sequence, DataSource(0, 5), drops, 5, 0, reason, records)


def datagram(
    agent: str,
    sequence: int,
    samples: tuple[Sample, ...],
    *,
    uptime_ms: int | None = None,
    sub_agent: int = 0,
) -> Datagram:
    """An IPv4- or IPv6-agent datagram."""
    return Datagram(
        agent,
        2 if ":" in agent else 1,
        sub_agent,
        sequence,
        sequence * 1000 if uptime_ms is None else uptime_ms,
        samples,
    )


def wire(d: Datagram) -> bytes:
    """The datagram encoded for the wire."""
    return encode_datagram(d)


def leaf_agent(i: int) -> str:
    """The agent address of leaf ``i`` of ``leaf_fabric``: 10.1.0.1, 10.1.0.2, …"""
    return f"10.1.{i // 250}.{i % 250 + 1}"


def leaf_fabric(leaves: int) -> dict[str, object]:
    """A topology of ``leaves`` leaves on one spine: each leaf's swp1 (ifIndex 3, like
    ``LEAF1_CORE``) goes up to the spine, its swp3 (ifIndex 5, ``LEAF1_EDGE``) faces a host."""
    nodes: dict[str, object] = {
        f"leaf{i}": {
            "agent": leaf_agent(i),
            "ports": {"swp1": {"ifindex": str(LEAF1_CORE)}, "swp3": {"ifindex": str(LEAF1_EDGE)}},
        }
        for i in range(leaves)
    }
    nodes["spine0"] = {
        "agent": "10.2.0.1",
        "ports": {f"p{i}": {"ifindex": str(i + 1)} for i in range(leaves)},
    }
    links = {
        f"L{i}": {"node1": f"leaf{i}", "port1": "swp1", "node2": "spine0", "port2": f"p{i}"}
        for i in range(leaves)
    }
    return {"links": links, "nodes": nodes}

"""Receiver side of the drop log: one event per decoded drop sample, bounded per tick.

The event's fields are described in ``collector.drop_events``; at most ``MAX_EVENTS_PER_TICK``
are kept per receiver and tick, the excess is counted as ``skipped``.
"""

from __future__ import annotations

from array import array
from socket import AF_INET, AF_INET6, inet_ntop

from collector.drop_events import Event
from decoders.drop_reasons import drop_reason_name
from decoders.fast import (
    COL_BTH_DEST_QP,
    COL_BTH_OFFSET,
    COL_BTH_OPCODE,
    COL_DST_PORT,
    COL_IP_PROTOCOL,
    COL_IP_VERSION,
    COL_L3_OFFSET,
    COL_SRC_PORT,
    DRP_DROPS,
    DRP_FUNCTION_LENGTH,
    DRP_FUNCTION_OFFSET,
    DRP_HEADER_LENGTH,
    DRP_HEADER_OFFSET,
    DRP_HEADER_PROTOCOL,
    DRP_INPUT,
    DRP_LINUX_LENGTH,
    DRP_LINUX_OFFSET,
    DRP_OUTPUT,
    DRP_REASON,
    DRP_SOURCE_INDEX,
    DRP_SOURCE_TYPE,
    DRP_TRAP_GROUP_LENGTH,
    DRP_TRAP_GROUP_OFFSET,
    DRP_TRAP_LENGTH,
    DRP_TRAP_OFFSET,
    NUM_COLUMNS,
    walk_header,
)
from decoders.records import (
    IFINDEX_INTERNAL,
    DropSample,
    ExtendedFunction,
    ExtendedHwTrap,
    ExtendedLinuxDropReason,
    SampledHeader,
)
from decoders.rocev2 import operation_name, transport_name
from topology.resolver import PortResolver

MAX_EVENTS_PER_TICK = 1_000  # per receiver and tick; more are counted, not kept
PROTOCOL_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}


def _ifindex(value: int) -> int:
    return value if 0 < value < IFINDEX_INTERNAL else 0


def _event(
    agent: str,
    resolver: PortResolver,
    now: float,
    source: tuple[int, int],
    in_if: int,
    out_if: int,
    reason: int,
    drops: int,
) -> Event:
    """The fields every drop event has (ports resolved); the record fields left None."""
    in_if = _ifindex(in_if)
    out_if = _ifindex(out_if)
    source_if = _ifindex(source[1]) if source[0] == 0 else 0
    in_info = resolver.resolve(agent, in_if) if in_if else None
    out_info = resolver.resolve(agent, out_if) if out_if else None
    source_info = resolver.resolve(agent, source_if) if source_if else None
    node = resolver.node_of(agent)
    if node is None:
        for info in (source_info, in_info, out_info):
            if info is not None:
                node = info.node
                break
    return {
        "time": now,
        "agent": agent,
        "node": node,
        "source_ifindex": source_if,
        "port": source_info.port if source_info is not None else None,
        "in_ifindex": in_if,
        "in_port": in_info.port if in_info is not None else None,
        "out_ifindex": out_if,
        "out_port": out_info.port if out_info is not None else None,
        "reason": reason,
        "reason_name": drop_reason_name(reason),
        "linux_reason": None,
        "function": None,
        "trap_group": None,
        "trap": None,
        "src_mac": None,
        "dst_mac": None,
        "src_ip": None,
        "dst_ip": None,
        "protocol": None,
        "src_port": None,
        "dst_port": None,
        "roce_opcode": None,
        "dest_qp": None,
        "drops": drops,
    }


def drop_event(agent: str, sample: DropSample, resolver: PortResolver, now: float) -> Event:
    """The event of one decoded drop sample (see the module docstring for the fields)."""
    event = _event(
        agent, resolver, now, (sample.source.type, sample.source.index),
        sample.input_ifindex, sample.output_ifindex, sample.reason, sample.drops,
    )  # fmt: skip
    header_seen = False
    for record in sample.records:
        kind = type(record)
        if kind is ExtendedLinuxDropReason:
            event["linux_reason"] = record.reason  # type: ignore[union-attr]
        elif kind is ExtendedFunction:
            event["function"] = record.symbol  # type: ignore[union-attr]
        elif kind is ExtendedHwTrap:
            event["trap_group"] = record.group  # type: ignore[union-attr]
            event["trap"] = record.trap  # type: ignore[union-attr]
        elif kind is SampledHeader and not header_seen:
            header_seen = True
            packet = record.packet  # type: ignore[union-attr]
            event["src_mac"] = packet.src_mac
            event["dst_mac"] = packet.dst_mac
            event["src_ip"] = packet.src_ip
            event["dst_ip"] = packet.dst_ip
            if packet.ip_protocol is not None:
                event["protocol"] = PROTOCOL_NAMES.get(packet.ip_protocol, str(packet.ip_protocol))
            event["src_port"] = packet.src_port
            event["dst_port"] = packet.dst_port
            if packet.roce is not None:
                bth = packet.roce.bth
                event["roce_opcode"] = f"{bth.transport}:{bth.operation}"
                event["dest_qp"] = bth.dest_qp
    return event


def _text(data: bytes | memoryview, offset: int, length: int) -> str | None:
    if offset < 0:
        return None
    return str(data[offset : offset + length], "utf-8", "replace")


def drop_row_event(
    agent: str,
    row: tuple[int, ...],
    data: bytes | memoryview,
    resolver: PortResolver,
    now: float,
    packet: array[int],
) -> Event:
    """The event of one drop row (``decoders.fast`` DRP_* columns) of datagram ``data``: the
    same event as ``drop_event`` of the decoded sample; ``packet`` is scratch for the header."""
    event = _event(
        agent, resolver, now, (row[DRP_SOURCE_TYPE], row[DRP_SOURCE_INDEX]),
        row[DRP_INPUT], row[DRP_OUTPUT], row[DRP_REASON], row[DRP_DROPS],
    )  # fmt: skip
    event["linux_reason"] = _text(data, row[DRP_LINUX_OFFSET], row[DRP_LINUX_LENGTH])
    event["function"] = _text(data, row[DRP_FUNCTION_OFFSET], row[DRP_FUNCTION_LENGTH])
    event["trap_group"] = _text(data, row[DRP_TRAP_GROUP_OFFSET], row[DRP_TRAP_GROUP_LENGTH])
    event["trap"] = _text(data, row[DRP_TRAP_OFFSET], row[DRP_TRAP_LENGTH])
    offset = row[DRP_HEADER_OFFSET]
    if offset < 0:
        return event
    length = row[DRP_HEADER_LENGTH]
    protocol = row[DRP_HEADER_PROTOCOL]
    walk_header(data, offset, length, protocol, packet)
    if protocol == 1:  # Ethernet: the MACs are there even when the header stops short after them
        if length >= 6:
            event["dst_mac"] = data[offset : offset + 6].hex(":")
        if length >= 12:
            event["src_mac"] = data[offset + 6 : offset + 12].hex(":")
    l3 = packet[COL_L3_OFFSET]
    if l3 >= 0:
        family, size = (AF_INET, 4) if packet[COL_IP_VERSION] == 4 else (AF_INET6, 16)
        at = l3 + (12 if size == 4 else 8)
        event["src_ip"] = inet_ntop(family, data[at : at + size])
        event["dst_ip"] = inet_ntop(family, data[at + size : at + 2 * size])
    ip_protocol = packet[COL_IP_PROTOCOL]
    if ip_protocol >= 0:
        event["protocol"] = PROTOCOL_NAMES.get(ip_protocol, str(ip_protocol))
    if packet[COL_SRC_PORT] >= 0:
        event["src_port"] = packet[COL_SRC_PORT]
        event["dst_port"] = packet[COL_DST_PORT]
    opcode = packet[COL_BTH_OPCODE]
    if packet[COL_BTH_OFFSET] >= 0 and opcode >= 0:
        event["roce_opcode"] = f"{transport_name(opcode)}:{operation_name(opcode)}"
        event["dest_qp"] = packet[COL_BTH_DEST_QP]
    return event


class DropRecorder:
    """Receiver side: the events of one tick, at most ``max_events`` of them."""

    __slots__ = ("_packet", "events", "max_events", "skipped")

    def __init__(self, max_events: int = MAX_EVENTS_PER_TICK) -> None:
        self.max_events = max_events
        self.events: list[Event] = []
        self.skipped = 0
        self._packet = array("q", [-1] * NUM_COLUMNS)  # scratch for drop_row_event

    def record(self, agent: str, sample: DropSample, resolver: PortResolver, now: float) -> None:
        """Keep one drop sample's event (or count it past the per-tick bound)."""
        if len(self.events) >= self.max_events:
            self.skipped += 1
            return
        self.events.append(drop_event(agent, sample, resolver, now))

    def record_row(
        self, agent: str, row: tuple[int, ...], data: bytes | memoryview, resolver: PortResolver,
        now: float,
    ) -> None:  # fmt: skip
        """Keep the event of one drop row (the caller has checked ``room()``)."""
        self.events.append(drop_row_event(agent, row, data, resolver, now, self._packet))

    def room(self) -> int:
        """How many more events this tick keeps."""
        return self.max_events - len(self.events)

    def drain(self) -> tuple[list[Event], int]:
        """The events and the skipped count since the last drain."""
        events, skipped = self.events, self.skipped
        self.events, self.skipped = [], 0
        return events, skipped

"""Receiver side of the drop log: one event per decoded drop sample, bounded per tick.

The event's fields are described in ``collector.drop_events``; at most ``MAX_EVENTS_PER_TICK``
are kept per receiver and tick, the excess is counted as ``skipped``.
"""

from __future__ import annotations

from collector.drop_events import Event
from decoders.drop_reasons import drop_reason_name
from decoders.records import (
    IFINDEX_INTERNAL,
    DropSample,
    ExtendedFunction,
    ExtendedHwTrap,
    ExtendedLinuxDropReason,
    SampledHeader,
)
from topology.resolver import PortResolver

MAX_EVENTS_PER_TICK = 1_000  # per receiver and tick; more are counted, not kept
PROTOCOL_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}


def _ifindex(value: int) -> int:
    return value if 0 < value < IFINDEX_INTERNAL else 0


def drop_event(agent: str, sample: DropSample, resolver: PortResolver, now: float) -> Event:
    """The event of one decoded drop sample (see the module docstring for the fields)."""
    in_if = _ifindex(sample.input_ifindex)
    out_if = _ifindex(sample.output_ifindex)
    source_if = _ifindex(sample.source.index) if sample.source.type == 0 else 0
    in_info = resolver.resolve(agent, in_if) if in_if else None
    out_info = resolver.resolve(agent, out_if) if out_if else None
    source_info = resolver.resolve(agent, source_if) if source_if else None
    node = resolver.node_of(agent)
    if node is None:
        for info in (source_info, in_info, out_info):
            if info is not None:
                node = info.node
                break
    event: Event = {
        "time": now,
        "agent": agent,
        "node": node,
        "source_ifindex": source_if,
        "port": source_info.port if source_info is not None else None,
        "in_ifindex": in_if,
        "in_port": in_info.port if in_info is not None else None,
        "out_ifindex": out_if,
        "out_port": out_info.port if out_info is not None else None,
        "reason": sample.reason,
        "reason_name": drop_reason_name(sample.reason),
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
        "drops": sample.drops,
    }
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


class DropRecorder:
    """Receiver side: the events of one tick, bounded."""

    __slots__ = ("events", "skipped")

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.skipped = 0

    def record(self, agent: str, sample: DropSample, resolver: PortResolver, now: float) -> None:
        """Keep one drop sample's event (or count it past the per-tick bound)."""
        if len(self.events) >= MAX_EVENTS_PER_TICK:
            self.skipped += 1
            return
        self.events.append(drop_event(agent, sample, resolver, now))

    def room(self) -> int:
        """How many more events this tick keeps."""
        return MAX_EVENTS_PER_TICK - len(self.events)

    def drain(self) -> tuple[list[Event], int]:
        """The events and the skipped count since the last drain."""
        events, skipped = self.events, self.skipped
        self.events, self.skipped = [], 0
        return events, skipped

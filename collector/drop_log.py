"""Dropped-packet notifications as a followable log: "where and why did my packet die".

Each decoded drop sample (sample 0:5, rate-limited by the agents, so rare) becomes one compact
event — a plain dict, cheap to pickle across the worker pipe and ready for JSON:

==================  ===============================================================================
``time``            arrival time at the collector (Unix seconds)
``agent``           the sFlow agent address; ``node`` its topology node (or None)
``port``            ``source_ifindex`` / ``port``: the data source (the port that reported the
                    drop; 0 / None when the source is not an ifIndex)
``in_port`` …       ``in_ifindex`` / ``in_port`` and ``out_ifindex`` / ``out_port``: the ports the
                    drop sample names (0 / None when the agent does not know)
``reason``          the sFlow drop reason code; ``reason_name`` its name (``acl``, …)
``linux_reason``    extended_linux_drop_reason (1042) when present, e.g. ``NETFILTER_DROP``
``function``        extended_function (1038): the kernel function that dropped the packet
``trap_group``      extended_hw_trap (1041): devlink trap group and ``trap`` name
``src_mac`` …       the dropped packet's addresses, ``protocol`` (``tcp``, ``udp``, … or the
                    number), ``src_port`` / ``dst_port`` from the sampled header
``roce_opcode``     RoCEv2 ``TRANSPORT:OPERATION`` and ``dest_qp`` when the packet is RoCEv2
``drops``           the agent's cumulative count of notifications it suppressed (rate limit)
==================  ===============================================================================

Absent fields are None. The receivers buffer at most ``MAX_EVENTS_PER_TICK`` events per tick
(the excess is counted as ``skipped``); the aggregator keeps the last ``RING_SIZE`` in a ring
with a monotonically increasing ``id`` so a client can ask for the events ``after`` the last one
it saw (``GET /drops/json?after=ID``).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from decoders.drop_reasons import drop_reason_name
from decoders.records import (
    DropSample,
    ExtendedFunction,
    ExtendedHwTrap,
    ExtendedLinuxDropReason,
    SampledHeader,
)
from topology.resolver import PortResolver

Event = dict[str, Any]

MAX_EVENTS_PER_TICK = 1_000  # per receiver and tick; more are counted, not kept
RING_SIZE = 10_000  # events the aggregator keeps
MAX_BATCH = 1_000  # events one GET returns at most
IFINDEX_INTERNAL = 0x3FFFFFFF
PROTOCOL_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}

FILTER_KEYS = ("reason", "node", "agent", "port", "ip", "mac", "qp", "function", "opcode")


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

    def drain(self) -> tuple[list[Event], int]:
        """The events and the skipped count since the last drain."""
        events, skipped = self.events, self.skipped
        self.events, self.skipped = [], 0
        return events, skipped


class DropLog:
    """Aggregator side: the last ``size`` events, each with an increasing ``id`` (from 1)."""

    def __init__(self, size: int = RING_SIZE) -> None:
        self._ring: deque[Event] = deque(maxlen=size)
        self.last_id = 0
        self.skipped = 0  # events receivers could not keep (per-tick bound)

    def extend(self, events: Iterable[Event], skipped: int = 0) -> None:
        """Append events in arrival order."""
        self.skipped += skipped
        for event in events:
            self.last_id += 1
            self._ring.append({"id": self.last_id, **event})

    @property
    def first_id(self) -> int:
        """The oldest id still kept (last_id + 1 when empty)."""
        return int(self._ring[0]["id"]) if self._ring else self.last_id + 1

    def after(
        self,
        after: int | None,
        *,
        limit: int = MAX_BATCH,
        filters: Mapping[str, set[str]] | None = None,
    ) -> dict[str, Any]:
        """The events with id > ``after`` (all kept ones when None), oldest first, at most
        ``limit``; ``last`` is the id to pass as ``after`` next time (the last one examined,
        so a filter that matches nothing still moves the client on)."""
        start = 0 if after is None or after > self.last_id else after  # larger: a restart
        ring = self._ring
        events: list[Event] = []
        last = max(start, 0)
        if ring:
            first = ring[0]["id"]
            skip = max(0, start - first + 1)
            for i in range(skip, len(ring)):
                event = ring[i]
                last = event["id"]
                if filters is None or matches(event, filters):
                    events.append(event)
                    if len(events) >= limit:
                        break
        return {
            "events": events,
            "last": last,
            "first": self.first_id,
            "total": self.last_id,
            "skipped": self.skipped,
        }


# ---------------------------------------------------------------------------------------------
# Filters: "reason=acl,node=leaf1" (keys AND, repeated key OR, case-insensitive)


def parse_filter(text: str | None) -> dict[str, set[str]]:
    """``key=value`` pairs separated by commas; ``ValueError`` on an unknown key or bad pair."""
    filters: dict[str, set[str]] = {}
    if not text:
        return filters
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not sep or not value:
            raise ValueError(f"filter {part!r}: expected key=value")
        if key not in FILTER_KEYS:
            raise ValueError(f"filter key {key!r}: one of {', '.join(FILTER_KEYS)}")
        filters.setdefault(key, set()).add(value.lower())
    return filters


def _fields(event: Mapping[str, Any], key: str) -> tuple[Any, ...]:
    if key == "reason":
        return (
            event.get("reason_name"),
            event.get("reason"),
            event.get("linux_reason"),
            event.get("trap"),
        )
    if key == "port":
        return (event.get("port"), event.get("in_port"), event.get("out_port"))
    if key == "ip":
        return (event.get("src_ip"), event.get("dst_ip"))
    if key == "mac":
        return (event.get("src_mac"), event.get("dst_mac"))
    if key == "qp":
        return (event.get("dest_qp"),)
    if key == "opcode":
        opcode = event.get("roce_opcode")
        return (opcode, opcode.partition(":")[2] if isinstance(opcode, str) else None)
    return (event.get(key),)


def matches(event: Mapping[str, Any], filters: Mapping[str, set[str]]) -> bool:
    """True when every filter key has one of its values in the event."""
    for key, wanted in filters.items():
        values = {str(v).lower() for v in _fields(event, key) if v is not None}
        if not values & wanted:
            return False
    return True


# ---------------------------------------------------------------------------------------------
# One line of text per event (the CLI)


def _port(name: Any, ifindex: Any) -> str:
    if name:
        return str(name)
    return f"ifindex {ifindex}" if ifindex else "-"


def format_event(event: Mapping[str, Any]) -> str:
    """``TIME NODE PORT in PORT out PORT REASON [linux …] [function …] 5-tuple [RoCE …]``."""
    stamp = event.get("time")
    if isinstance(stamp, int | float):
        clock = (
            time.strftime("%H:%M:%S", time.localtime(stamp)) + f".{int(stamp * 1000) % 1000:03d}"
        )
    else:
        clock = "-"
    where = event.get("node") or event.get("agent") or "-"
    parts = [
        clock,
        str(where),
        _port(event.get("port"), event.get("source_ifindex")),
        f"in {_port(event.get('in_port'), event.get('in_ifindex'))}",
        f"out {_port(event.get('out_port'), event.get('out_ifindex'))}",
        str(event.get("reason_name") or event.get("reason")),
    ]
    if event.get("linux_reason"):
        parts.append(f"linux={event['linux_reason']}")
    if event.get("function"):
        parts.append(f"function={event['function']}")
    if event.get("trap"):
        parts.append(f"trap={event.get('trap_group')}/{event['trap']}")
    src, dst = event.get("src_ip"), event.get("dst_ip")
    if src or dst:
        proto = event.get("protocol") or "ip"
        sport, dport = event.get("src_port"), event.get("dst_port")
        left = _endpoint(src, sport)
        right = _endpoint(dst, dport)
        parts.append(f"{proto} {left} > {right}")
    elif event.get("src_mac") or event.get("dst_mac"):
        parts.append(f"{event.get('src_mac')} > {event.get('dst_mac')}")
    if event.get("roce_opcode"):
        parts.append(f"roce={event['roce_opcode']} qp={event.get('dest_qp')}")
    return " ".join(parts)


def _endpoint(ip: Any, port: Any) -> str:
    if ip is None:
        return "?"
    text = f"[{ip}]" if ":" in str(ip) and port is not None else str(ip)
    return f"{text}:{port}" if port is not None else text

"""Dropped-packet events: the shape every side agrees on, their filters and their one-line text.

Each decoded drop sample (sample 0:5, rate-limited by the agents, so rare) becomes one compact
event — a plain dict of scalars, ready for the worker pipe (collector.delta_codec) and for JSON:

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

This module is the vocabulary only (no decoding, no state): ``collector.receive.drops`` builds
the events from decoded drop samples, ``collector.aggregate.drop_log`` keeps the ring, the HTTP
face filters it and the ``drops`` command prints it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

Event = dict[str, Any]

MAX_BATCH = 1_000  # events one GET returns at most

FILTER_KEYS = ("reason", "node", "agent", "port", "ip", "mac", "qp", "function", "opcode")


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

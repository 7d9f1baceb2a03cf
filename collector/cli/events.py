"""``fabricscope events [--follow]``: the fabric-health event stream of a running collector.

Reads ``GET /events/json?after=`` (docs/fabric-health.md); standard library only. One line an
event (``--json``: the event's JSON object): its time, type, where, and what it found.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, TextIO

from collector.cli.client import add_stream_arguments, run_stream
from collector.cli.exits import report_error
from collector.families import EVENT_TYPES

EVENTS_HELP = "fabric-health events of a running collector (--follow: as they are raised)"


def add_events_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope events [--follow]``."""
    add_stream_arguments(parser, "events", 20)
    parser.add_argument(
        "--type",
        metavar="TYPE,…",
        help=f"only these types: {', '.join(EVENT_TYPES)}",
    )


def _rate(bps: Any) -> str:
    value = float(bps)
    for unit, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f}{unit}b/s"
    return f"{value:.0f}b/s"


def format_event(event: dict[str, Any]) -> str:
    """One line of an event: time, type, where, and its findings."""
    clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(event.get("time", 0))))
    kind = event.get("type", "?")
    where = f"{event.get('node')}:{event.get('port')}" if event.get("port") else event.get("node")
    parts = [clock, f"#{event.get('id')}", kind]
    if kind in ("incast_congestion", "ecmp_collision"):
        parts.append(f"{where} {100 * float(event.get('utilisation', 0)):.0f}%")
        pairs = event.get("pairs", [])
        parts.append(
            "pairs "
            + ", ".join(f"{p['source']}>{p['destination']} {_rate(p['bps'])}" for p in pairs)
        )
        if kind == "incast_congestion":
            parts.append(
                f"ECN {float(event.get('ecn_marked_per_second', 0)):.0f}/s "
                f"CNP {float(event.get('cnp_per_second', 0)):.0f}/s"
            )
        else:
            parts.append("idle " + ",".join(event.get("idle_uplinks", [])))
    elif kind == "drop_surge":
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(event.get("reasons", {}).items()))
        parts.append(f"{where} {float(event.get('drops_per_second', 0)):.0f} drops/s ({reasons})")
    elif kind in ("link_down", "link_up"):
        parts.append(
            f"{event.get('link')} ({event.get('node')}:{event.get('port')} - "
            f"{event.get('peer_node')}:{event.get('peer_port')})"
        )
    else:
        parts.append(f"{event.get('agent')} ({event.get('node') or 'not in the topology'})")
    return "  ".join(parts)


def run_events(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope events``: print events (``--follow``: until Ctrl+C or ``--count``)."""
    query: dict[str, str] = {}
    if args.type:
        unknown = [t for t in args.type.split(",") if t.strip() not in EVENT_TYPES]
        if unknown:
            return report_error(f"--type: {unknown[0]!r} is not one of {', '.join(EVENT_TYPES)}")
        query["type"] = args.type
    return run_stream(
        args,
        out or sys.stdout,
        "/events/json",
        query,
        start=lambda head: max(0, int(head["last"]) - max(0, args.last)),
        cursor=lambda page: (int(page["next"]), int(page["next"]) < int(page["last"])),
        line=format_event,
    )

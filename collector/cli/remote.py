"""Commands that read a running collector: ``topology status``, ``locate ADDRESS`` and
``drops [--follow]`` (standard library only; docs/cli.md)."""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time
from typing import Any, TextIO

from collector.addresses import normalize_address
from collector.cli.client import (
    CollectorError,
    add_common_arguments,
    add_stream_arguments,
    ago,
    collector_url,
    get_json,
    run_stream,
    show_document,
)
from collector.cli.exits import EXIT_FAIL, EXIT_OK, report_error
from collector.drop_events import format_event, parse_filter

STATUS_HELP = (
    "nodes total / unmonitored / no flows, links total / unmonitored / down, agents "
    "not in the topology"
)
LOCATE_HELP = "where an address (MAC, IPv4, IPv6 or a host name) enters the fabric"
DROPS_HELP = "dropped-packet notifications of a running collector (--follow: as they arrive)"


# ---------------------------------------------------------------------------------------------
# topology status


def format_status(status: dict[str, Any]) -> str:
    """The status document as a few lines of text."""
    n, li, a = status["nodes"], status["links"], status["agents"]
    lines = [
        f"topology version {status['version']}" if status.get("topology") else "no topology loaded",
        f"nodes   total {n['total']}  unmonitored {n['unmonitored']}  no flows {n['noflows']}"
        f"  flows {n['flows']}",
        f"links   total {li['total']}  unmonitored {li['unmonitored']}  down {li['down']}"
        f"  up {li['up']}",
        f"agents  total {a['total']}  not in the topology {a['unknown']}",
    ]
    for title, key in (
        ("unmonitored nodes", "unmonitored_nodes"),
        ("nodes without flows", "noflows_nodes"),
        ("unmonitored links", "unmonitored_links"),
        ("down links", "down_links"),
    ):
        if status.get(key):
            lines.append(f"{title}: {', '.join(status[key])}")
    unknown = status.get("unknown_agents") or []
    if unknown:
        lines.append("agents not in the topology: " + ", ".join(u["agent"] for u in unknown))
    return "\n".join(lines)


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope topology status``."""
    add_common_arguments(parser)


def run_topology_status(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope topology status``."""
    status = show_document(args, "/topology/status/json", format_status, out)
    return EXIT_FAIL if status is None else EXIT_OK


# ---------------------------------------------------------------------------------------------
# locate


def add_locate_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope locate ADDRESS``."""
    parser.add_argument("address", help="MAC, IPv4 or IPv6 address, or a name resolving to one")
    add_common_arguments(parser)


def resolve_address(text: str) -> str:
    """The address itself, or the single address a host name resolves to."""
    try:
        return normalize_address(text)
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(text, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        raise ValueError(f"{text!r} is not an address and does not resolve") from None
    found = sorted({str(info[4][0]) for info in infos})
    if len(found) != 1:
        raise ValueError(f"{text!r} resolves to {len(found)} addresses ({', '.join(found)})")
    return normalize_address(found[0])


def run_locate(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope locate ADDRESS``: exit 0 when found, 1 when not (or on an error)."""
    out = out or sys.stdout
    try:
        address = resolve_address(args.address)
    except ValueError as exc:
        return report_error(str(exc))
    try:
        found = get_json(collector_url(args), "/locate/json", {"address": address})
    except CollectorError as exc:
        return report_error(str(exc))
    if args.json:
        out.write(json.dumps({"address": address, "locations": found}, indent=2) + "\n")
        return EXIT_OK if found else EXIT_FAIL
    if not found:
        out.write(f"{address}: not seen entering the fabric\n")
        return EXIT_FAIL
    now = time.time()
    for row in found:
        out.write(
            f"{address}: node {row['node']} port {row['port']} "
            f"(agent {row['agent']} ifindex {row['ifindex']}) "
            f"mac {row.get('mac') or '-'} ip {row.get('ip') or '-'} "
            f"last seen {ago(row.get('last_seen'), now)}\n"
        )
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# drops


def add_drops_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope drops [--follow]``."""
    add_stream_arguments(parser, "notifications", 10)
    parser.add_argument(
        "--filter",
        metavar="KEY=VALUE,…",
        help="only matching notifications: reason, node, agent, port, ip, mac, qp, function, "
        "opcode (keys AND, a repeated key OR; e.g. reason=acl,node=leaf1)",
    )


def run_drops(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope drops``: print notifications (``--follow``: until Ctrl+C or ``--count``)."""
    out = out or sys.stdout
    try:
        filters = parse_filter(args.filter)
    except ValueError as exc:
        return report_error(str(exc))
    query: dict[str, str] = {}
    if filters:
        query["filter"] = args.filter
    return run_stream(
        args,
        out,
        "/drops/json",
        query,
        start=lambda head: max(0, int(head["total"]) - max(0, args.last)),
        cursor=lambda page: (int(page["last"]), int(page["last"]) < int(page["total"])),
        line=format_event,
    )

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
    ago,
    collector_url,
    get_json,
    show_document,
)
from collector.cli.exits import EXIT_FAIL, EXIT_OK, PROG, report_error
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
    add_common_arguments(parser)
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing notifications as they arrive"
    )
    parser.add_argument(
        "--filter",
        metavar="KEY=VALUE,…",
        help="only matching notifications: reason, node, agent, port, ip, mac, qp, function, "
        "opcode (keys AND, a repeated key OR; e.g. reason=acl,node=leaf1)",
    )
    parser.add_argument(
        "--last",
        type=int,
        default=10,
        metavar="N",
        help="start with the last N notifications already received (default 10; 0: only new)",
    )
    parser.add_argument("--count", type=int, metavar="N", help="stop after N notifications")
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="poll interval (default 1 s)"
    )


def run_drops(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope drops``: print notifications (``--follow``: until Ctrl+C or ``--count``)."""
    out = out or sys.stdout
    try:
        filters = parse_filter(args.filter)
    except ValueError as exc:
        return report_error(str(exc))
    if args.count is not None and args.count <= 0:
        return report_error("--count: must be positive")
    interval = min(max(args.interval, 0.1), 60.0)
    base = collector_url(args)
    query: dict[str, str] = {}
    if filters:
        query["filter"] = args.filter
    printed = 0
    try:
        head = get_json(base, "/drops/json", {"after": "0", "limit": "1"})
        after = max(0, int(head["total"]) - max(0, args.last))
        warned = False
        while True:
            try:
                page = get_json(base, "/drops/json", {**query, "after": str(after)})
            except CollectorError as exc:
                if not args.follow:
                    raise
                if not warned:
                    print(f"{PROG}: {exc} (retrying)", file=sys.stderr)
                    warned = True
                time.sleep(interval)
                continue
            warned = False
            for event in page["events"]:
                out.write((json.dumps(event) if args.json else format_event(event)) + "\n")
                printed += 1
                if args.count is not None and printed >= args.count:
                    out.flush()
                    return EXIT_OK
            out.flush()
            after = int(page["last"])
            if after < int(page["total"]):
                continue  # more than one page waiting
            if not args.follow:
                return EXIT_OK
            time.sleep(interval)
    except CollectorError as exc:
        return report_error(str(exc))
    except KeyboardInterrupt:
        out.flush()
        return EXIT_OK

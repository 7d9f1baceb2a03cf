"""``fabricscope flows top KEYS``: a running collector's top flows (standard library only).

It asks ``/flowquery/{agent}/json``: the collector makes the flow definition on the first
request and forgets it five minutes after the last, as for a Prometheus flow scrape, so nothing
is written and no API token is needed. The first answer comes once a tick has counted samples:
without ``--follow`` the command polls for up to ``--wait`` seconds, prints the table once and
exits; with ``--follow`` it prints a new table every ``--interval`` seconds until Ctrl+C or
``--count``. docs/cli.md and docs/flows.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from typing import Any, TextIO

from collector.cli.client import CollectorError, add_common_arguments, collector_url, get_json
from collector.cli.exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE, report_error

FLOWS_HELP = "flow definitions of a running collector: top KEYS (sFlow-RT keys and filters)"
TOP_HELP = "the largest flows by KEYS (e.g. ipsource,ipdestination), live with --follow"
UNITS = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope flows top KEYS [options]``."""
    sub = parser.add_subparsers(dest="flows_command", metavar="SUBCOMMAND", required=True)
    top = sub.add_parser("top", help=TOP_HELP, description=TOP_HELP)
    add_common_arguments(top)
    top.add_argument("keys", metavar="KEYS", help="comma-separated flow keys (docs/flows.md)")
    top.add_argument(
        "--value", default="bytes", help="bytes, frames or a numeric key (default bytes)"
    )
    top.add_argument("--filter", help="sFlow-RT filter, e.g. 'ipecn=3&ingressrole=edge'")
    top.add_argument(
        "--agent",
        default="ALL",
        help="ALL (default), TOPOLOGY, EDGE, CORE, node names or agent addresses, ';'-separated",
    )
    top.add_argument(
        "--agg-mode", choices=("max", "sum", "edge", "core"), help="combine data sources"
    )
    top.add_argument("--dropped", action="store_true", help="drop notifications, not samples")
    top.add_argument("--max", type=int, default=10, metavar="N", help="flows shown (default 10)")
    top.add_argument("-t", type=float, default=2.0, help="smoothing, seconds (default 2)")
    top.add_argument("--follow", "-f", action="store_true", help="refresh until Ctrl+C")
    top.add_argument("--count", type=int, metavar="N", help="with --follow: stop after N tables")
    top.add_argument(
        "--interval", type=float, default=2.0, metavar="S", help="refresh interval (default 2 s)"
    )
    top.add_argument(
        "--wait", type=float, default=5.0, metavar="S", help="longest wait for a first answer"
    )


def human(value: float, unit: str) -> str:
    """``12.3 M`` style (bytes are shown as bits per second)."""
    if unit == "bytes":
        value, unit = value * 8, "bit/s"
    else:
        unit = f"{unit}/s"
    for scale, prefix in UNITS:
        if abs(value) >= scale:
            return f"{value / scale:.1f} {prefix}{unit}"
    return f"{value:.1f} {unit}"


def table(document: dict[str, Any]) -> str:
    """The flows of one answer as aligned text: value, then one column per key."""
    definition = document["definition"]
    keys = definition["keys"].split(",")
    rows = [[human(f["value"], definition["value"]), *f["keys"]] for f in document["flows"]]
    header = [definition["value"], *keys]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
             for line in [header, *rows]]  # fmt: skip
    if not rows:
        lines.append("(no flows yet)")
    return "\n".join(lines)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope flows top``."""
    out = out or sys.stdout
    if args.count is not None and args.count <= 0:
        return report_error("--count: must be positive", EXIT_USAGE)
    query = {
        "keys": args.keys,
        "value": args.value,
        "t": str(args.t),
        "maxFlows": str(max(1, args.max)),
        "minValue": "0",
        "dropped": "true" if args.dropped else "false",
    }
    if args.filter:
        query["filter"] = args.filter
    if args.agg_mode:
        query["aggMode"] = args.agg_mode
    base = collector_url(args)
    path = f"/flowquery/{urllib.parse.quote(args.agent, safe=';')}/json"
    interval = min(max(args.interval, 0.2), 60.0)
    shown = 0
    try:
        document = get_json(base, path, query)
        deadline = time.monotonic() + max(0.0, args.wait)
        while not document["flows"] and time.monotonic() < deadline:
            time.sleep(0.25)
            document = get_json(base, path, query)
        while True:
            out.write((json.dumps(document) if args.json else table(document)) + "\n")
            out.flush()
            shown += 1
            if not args.follow or (args.count is not None and shown >= args.count):
                return EXIT_OK if document["flows"] or args.follow else EXIT_FAIL
            time.sleep(interval)
            document = get_json(base, path, query)
            if not args.json:
                out.write("\n")
    except CollectorError as exc:  # a refused key or filter is a usage error
        return report_error(str(exc), EXIT_USAGE if ": HTTP 400 " in str(exc) else EXIT_FAIL)
    except KeyboardInterrupt:
        out.flush()
        return EXIT_OK

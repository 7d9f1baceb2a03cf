"""``fabricscope topology check FILE [--collector URL] [--json]``: a topology file's problems.

Without ``--collector`` only the file is checked; with it (or with $FABRICSCOPE_COLLECTOR set),
the file is also compared with what that collector hears (``GET /ports/json``). One line per
finding; exit 0 when there is no error-level finding, 1 when there is, 2 when the check could
not run (bad usage, unreadable file, collector unreachable). See docs/topology.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

from collector.cli.client import COLLECTOR_ENV, CollectorError, collector_url, get_json
from collector.cli.exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE, PROG
from topology.check import Finding, check_live, check_text, has_errors, parse_live
from topology.model import MAX_TOPOLOGY_BYTES, TopologyError

CHECK_HELP = (
    "problems of a topology file: duplicates, self-links, bad agents; with --collector, "
    "unmonitored nodes and links, agents not in the file, port names, speed and state"
)
EXIT_CLEAN = EXIT_OK
EXIT_FINDINGS = EXIT_FAIL
EXIT_CANNOT_CHECK = EXIT_USAGE


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope topology check FILE``."""
    parser.add_argument("file", metavar="FILE", help="the topology file (sFlow-RT JSON)")
    parser.add_argument(
        "--collector",
        metavar="URL",
        help=f"also check against this running collector (default ${COLLECTOR_ENV} when set)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _cannot_check(message: str) -> int:
    print(f"{PROG} topology check: error: {message}", file=sys.stderr)
    return EXIT_CANNOT_CHECK


def _read(path: Path) -> bytes:
    try:
        if path.stat().st_size > MAX_TOPOLOGY_BYTES:
            raise TopologyError(str(path), f"larger than {MAX_TOPOLOGY_BYTES} bytes")
        with path.open("rb") as stream:  # bounded: a pipe or device has no size
            data = stream.read(MAX_TOPOLOGY_BYTES + 1)
    except OSError as exc:
        raise TopologyError(str(path), exc.strerror or str(exc)) from None
    if len(data) > MAX_TOPOLOGY_BYTES:
        raise TopologyError(str(path), f"larger than {MAX_TOPOLOGY_BYTES} bytes")
    return data


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _report(
    out: TextIO, path: str, collector: str | None, findings: list[Finding], as_json: bool
) -> None:
    errors = sum(f.severity == "error" for f in findings)
    warnings = len(findings) - errors
    if as_json:
        document: dict[str, Any] = {
            "file": path,
            "collector": collector,
            "errors": errors,
            "warnings": warnings,
            "findings": [f.to_json() for f in findings],
        }
        out.write(json.dumps(document, indent=2) + "\n")
        return
    for finding in findings:
        out.write(finding.line() + "\n")
    against = f" against {collector}" if collector else ""
    out.write(f"{path}{against}: {_count(errors, 'error')}, {_count(warnings, 'warning')}\n")


def run_topology_check(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope topology check``: exit 0 clean, 1 error findings, 2 cannot check."""
    out = out or sys.stdout
    path = Path(args.file)
    try:
        text = _read(path)
    except TopologyError as exc:
        return _cannot_check(str(exc))
    try:
        findings, topology = check_text(text)
    except TopologyError as exc:
        where = f"{path}: {exc.location}" if exc.location else str(path)
        return _cannot_check(f"{where}: {exc.message}")
    collector: str | None = None
    if args.collector or os.environ.get(COLLECTOR_ENV):
        collector = collector_url(args)
        if topology is None:
            print(f"not compared with {collector}: fix the errors first", file=sys.stderr)
            collector = None
        else:
            try:
                live = parse_live(get_json(collector, "/ports/json"))
            except CollectorError as exc:
                return _cannot_check(str(exc))
            except ValueError as exc:
                return _cannot_check(f"{collector}/ports/json: {exc}")
            findings.extend(check_live(topology, live))
    _report(out, str(path), collector, findings, args.json)
    return EXIT_FINDINGS if has_errors(findings) else EXIT_CLEAN

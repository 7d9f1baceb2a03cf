"""HTTP-client helpers of the commands that ask a running collector (standard library only).

``--collector URL`` (else ``$FABRICSCOPE_COLLECTOR``, else ``http://127.0.0.1:8008``), one GET
that decodes JSON or raises ``CollectorError`` with a one-line message, and the
fetch-and-print step the document commands share, and the polling loop of the stream commands
(``drops``, ``events``). See docs/cli.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any, TextIO

from collector.cli.exits import EXIT_OK, PROG, report_error

COLLECTOR_ENV = "FABRICSCOPE_COLLECTOR"
DEFAULT_COLLECTOR = "http://127.0.0.1:8008"
TIMEOUT = 10.0


class CollectorError(Exception):
    """The collector could not be reached or refused the request (one-line message)."""


def collector_url(args: argparse.Namespace) -> str:
    """``--collector``, else $FABRICSCOPE_COLLECTOR, else http://127.0.0.1:8008; a bare
    HOST:PORT gets ``http://``."""
    url = args.collector or os.environ.get(COLLECTOR_ENV) or DEFAULT_COLLECTOR
    if "://" not in url:
        url = f"http://{url}"
    return url.rstrip("/")


def get_json(base: str, path: str, query: dict[str, str] | None = None) -> Any:
    """GET ``base + path`` and decode its JSON; ``CollectorError`` on any failure."""
    url = base + path
    if query:
        url += "?" + urllib.parse.urlencode(query)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace").strip()
        raise CollectorError(f"{url}: HTTP {exc.code} {detail}".rstrip()) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CollectorError(f"cannot reach the collector at {base}: {reason}") from None
    except ValueError:
        raise CollectorError(f"{url}: not JSON (is this a fabricscope collector?)") from None


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--collector URL`` and ``--json``, shared by the client commands."""
    parser.add_argument(
        "--collector",
        metavar="URL",
        help=f"the collector's HTTP address (default ${COLLECTOR_ENV} or {DEFAULT_COLLECTOR})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def ago(seen: Any, now: float) -> str:
    """``YYYY-MM-DD HH:MM:SS (N s ago)`` of a Unix time, ``-`` when it is not a number."""
    if not isinstance(seen, int | float):
        return "-"
    clock = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seen))
    return f"{clock} ({max(0.0, now - seen):.0f} s ago)"


def show_document(
    args: argparse.Namespace,
    path: str,
    formatter: Callable[[dict[str, Any]], str],
    out: TextIO | None = None,
) -> dict[str, Any] | None:
    """GET ``path`` of the collector and print it (``--json``: as JSON, else through
    ``formatter``); None, with the error reported, when it could not be fetched."""
    out = out or sys.stdout
    try:
        document: dict[str, Any] = get_json(collector_url(args), path)
    except CollectorError as exc:
        report_error(str(exc))
        return None
    text = json.dumps(document, indent=2) if args.json else formatter(document)
    out.write(text + "\n")
    return document


def add_stream_arguments(parser: argparse.ArgumentParser, noun: str, last: int) -> None:
    """``--follow``, ``--last N``, ``--count N`` and ``--interval S`` of a stream command whose
    entries are ``noun``; ``--collector`` and ``--json`` too."""
    add_common_arguments(parser)
    parser.add_argument(
        "--follow", "-f", action="store_true", help=f"keep printing {noun} as they come"
    )
    parser.add_argument(
        "--last",
        type=int,
        default=last,
        metavar="N",
        help=f"start with the last N {noun} already held (default {last}; 0: only new)",
    )
    parser.add_argument("--count", type=int, metavar="N", help=f"stop after N {noun}")
    parser.add_argument(
        "--interval", type=float, default=1.0, metavar="S", help="poll interval (default 1 s)"
    )


# (next ``after``, whether more is waiting) of one page of a stream
Cursor = Callable[[dict[str, Any]], tuple[int, bool]]


def run_stream(
    args: argparse.Namespace,
    out: TextIO,
    path: str,
    query: dict[str, str],
    *,
    start: Callable[[dict[str, Any]], int],
    cursor: Cursor,
    line: Callable[[dict[str, Any]], str],
) -> int:
    """A stream command (``drops``, ``events``): ``start`` picks the first ``after`` from a
    one-entry head page (``--last``), then pages are printed, ``line`` each entry or its JSON
    with ``--json``, until read (``--follow``: until Ctrl+C or ``--count``)."""
    if args.count is not None and args.count <= 0:
        return report_error("--count: must be positive")
    base = collector_url(args)
    try:
        after = start(get_json(base, path, {"after": "0", "limit": "1"}))
    except CollectorError as exc:
        return report_error(str(exc))

    def write(entry: dict[str, Any]) -> None:
        out.write((json.dumps(entry) if args.json else line(entry)) + "\n")

    return follow_stream(
        base,
        path,
        query,
        after,
        out=out,
        follow=args.follow,
        interval=min(max(args.interval, 0.1), 60.0),
        count=args.count,
        write=write,
        cursor=cursor,
    )


def follow_stream(
    base: str,
    path: str,
    query: dict[str, str],
    after: int,
    *,
    out: TextIO,
    follow: bool,
    interval: float,
    count: int | None,
    write: Callable[[dict[str, Any]], None],
    cursor: Cursor,
) -> int:
    """Poll ``path?after=`` and ``write`` each entry of its ``events`` until the stream is read
    (``follow``: until Ctrl+C or ``count`` entries); one line when the collector cannot be
    reached (``follow`` says it once and keeps trying). Returns the exit status."""
    printed = 0
    warned = False
    try:
        while True:
            try:
                page = get_json(base, path, {**query, "after": str(after)})
            except CollectorError as exc:
                if not follow:
                    raise
                if not warned:
                    print(f"{PROG}: {exc} (retrying)", file=sys.stderr)
                    warned = True
                time.sleep(interval)
                continue
            warned = False
            for entry in page["events"]:
                write(entry)
                printed += 1
                if count is not None and printed >= count:
                    out.flush()
                    return EXIT_OK
            out.flush()
            after, more = cursor(page)
            if more:
                continue  # more than one page waiting
            if not follow:
                return EXIT_OK
            time.sleep(interval)
    except CollectorError as exc:
        return report_error(str(exc))
    except KeyboardInterrupt:
        out.flush()
        return EXIT_OK

"""HTTP-client helpers of the commands that ask a running collector (standard library only).

``--collector URL`` (else ``$FABRICSCOPE_COLLECTOR``, else ``http://127.0.0.1:8008``), one GET
that decodes JSON or raises ``CollectorError`` with a one-line message, and the
fetch-and-print step the document commands share. See docs/cli.md.
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

from collector.cli.exits import report_error

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

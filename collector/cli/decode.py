"""``fabricscope decode FILE…``: sFlow from pcap / pcapng / a raw stream, one JSON object per
datagram (``--summary``: totals). Decoding only; no collector state."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from collector.cli.capture import SFLOW_PORT, CaptureError, CaptureStats, open_source
from collector.cli.exits import EXIT_OK, report_error
from decoders import DecodeError, decode_datagram
from decoders.json_view import datagram_to_dict, record_format
from decoders.records import Datagram, RawSample

DECODE_HELP = "decode sFlow datagrams from captures and print them as JSON lines"


def _port(text: str) -> int | None:
    if text.lower() == "any":
        return None
    try:
        port = int(text, 10)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: use 0-65535 or 'any'")
    return port


def add_decode_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope decode``'s arguments."""
    parser.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="pcap or pcapng capture; '-' reads stdin (pcap, pcapng, or raw records: "
        "4-byte big-endian length + sFlow datagram, repeated)",
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=SFLOW_PORT,
        metavar="N|any",
        help=f"UDP destination port to decode (default {SFLOW_PORT}); 'any' takes every UDP "
        "datagram (not applied to raw records)",
    )
    parser.add_argument(
        "--summary",
        action="store_true",
        help="print one JSON object with totals instead of one line per datagram",
    )
    parser.add_argument("--pretty", action="store_true", help="indent the JSON output")


def _format_key(enterprise: int, fmt: int) -> str:
    return f"{enterprise}:{fmt}"


def _sorted_formats(counts: Counter[tuple[int, int]]) -> dict[str, int]:
    return {_format_key(e, f): counts[(e, f)] for e, f in sorted(counts)}


@dataclass
class _Summary:
    """Totals over every datagram and error of a ``decode --summary`` run."""

    files: int = 0
    datagrams: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    samples: dict[str, Counter[str]] = field(default_factory=dict)
    unknown_samples: Counter[tuple[int, int]] = field(default_factory=Counter)
    records: dict[str, Counter[tuple[int, int]]] = field(default_factory=dict)
    agents: Counter[str] = field(default_factory=Counter)
    capture: Counter[str] = field(default_factory=Counter)

    def add(self, d: Datagram) -> None:
        self.datagrams += 1
        self.agents[d.agent if d.agent is not None else "unknown"] += 1
        for sample in d.samples:
            if isinstance(sample, RawSample):
                self.unknown_samples[(sample.enterprise, sample.format)] += 1
                continue
            kind = sample.KIND
            self.samples.setdefault(kind, Counter())[
                "expanded" if sample.expanded else "compact"
            ] += 1
            records = self.records.setdefault(kind, Counter())
            records.update(record_format(r) for r in sample.records)

    def add_stats(self, stats: CaptureStats) -> None:
        self.files += 1
        self.capture.update(stats.as_dict())

    def as_dict(self) -> dict[str, Any]:
        samples: dict[str, Any] = {}
        for kind in (
            "flow",
            "counter",
            "drop",
            *sorted(set(self.samples) - {"flow", "counter", "drop"}),
        ):
            c = self.samples.get(kind, Counter())
            samples[kind] = {
                "total": c["compact"] + c["expanded"],
                "compact": c["compact"],
                "expanded": c["expanded"],
            }
        samples["unknown"] = {
            "total": sum(self.unknown_samples.values()),
            "formats": _sorted_formats(self.unknown_samples),
        }
        capture = {key: self.capture[key] for key in CaptureStats().as_dict()}
        return {
            "files": self.files,
            "capture": capture,
            "datagrams": self.datagrams,
            "decode_errors": sum(self.errors.values()),
            "errors": dict(sorted(self.errors.items())),
            "samples": samples,
            "records": {kind: _sorted_formats(c) for kind, c in sorted(self.records.items())},
            "agents": dict(sorted(self.agents.items())),
        }


def run_decode(args: argparse.Namespace) -> int:
    """``fabricscope decode``: print every datagram (or the totals); 1 on unreadable input."""
    out: TextIO = sys.stdout
    indent = 2 if args.pretty else None
    several = len(args.files) > 1
    summary = _Summary() if args.summary else None
    for name in args.files:
        try:
            with open_source(name, port=args.port) as source:
                for frame in source:
                    body: dict[str, Any]
                    try:
                        datagram = decode_datagram(frame.payload)
                    except DecodeError as exc:
                        if summary is not None:
                            summary.errors[exc.reason] += 1
                            continue
                        body = {
                            "error": str(exc),
                            "reason": exc.reason,
                            "offset": exc.offset,
                            "path": exc.path,
                        }
                    else:
                        if summary is not None:
                            summary.add(datagram)
                            continue
                        body = datagram_to_dict(datagram)
                    head = (
                        {"file": name, "frame": frame.frame} if several else {"frame": frame.frame}
                    )
                    out.write(json.dumps(head | body, indent=indent))
                    out.write("\n")
                if summary is not None:
                    summary.add_stats(source.stats)
        except CaptureError as exc:
            return report_error(f"{name}: {exc}")
    if summary is not None:
        out.write(json.dumps(summary.as_dict(), indent=indent))
        out.write("\n")
    out.flush()
    return EXIT_OK

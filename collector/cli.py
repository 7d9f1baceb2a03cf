"""``fabricscope`` command line: one argparse sub-command per ``Command`` in ``COMMANDS``.

To add a sub-command, write ``add_arguments(parser)`` and ``run(args) -> int`` (in this module or
its own) and append a ``Command`` to ``COMMANDS``. ``main`` never raises: bad arguments return 2
with a one-line message, unreadable input 1, a closed stdout (``| head``) 0.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn, TextIO

from collector import agents_cli, client_cli, serve_cli
from collector.capture import SFLOW_PORT, CaptureError, CaptureStats, open_source
from decoders import DecodeError, decode_datagram
from decoders.json_view import datagram_to_dict, record_format
from decoders.records import Datagram, RawSample
from simulator import cli as sim_cli

PROG = "fabricscope"

EXIT_OK = 0
EXIT_INPUT_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error message instead of usage + error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


@dataclass(frozen=True)
class Command:
    """A sub-command: its name, one-line help, argument setup and entry point."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _fail(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_INPUT_ERROR


# ---------------------------------------------------------------------------------------------
# decode


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


def _add_decode_arguments(parser: argparse.ArgumentParser) -> None:
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


def _run_decode(args: argparse.Namespace) -> int:
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
            return _fail(f"{name}: {exc}")
    if summary is not None:
        out.write(json.dumps(summary.as_dict(), indent=indent))
        out.write("\n")
    out.flush()
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# Sub-command table and entry point

COMMANDS: list[Command] = [
    Command(
        "decode",
        "decode sFlow datagrams from captures and print them as JSON lines",
        _add_decode_arguments,
        _run_decode,
    ),
    Command("serve", serve_cli.HELP, serve_cli.add_arguments, serve_cli.run),
    Command(
        "simulate", sim_cli.SIMULATE_HELP, sim_cli.add_simulate_arguments, sim_cli.run_simulate
    ),
    Command("demo", sim_cli.DEMO_HELP, sim_cli.add_demo_arguments, sim_cli.run_demo),
    Command(
        "topology",
        client_cli.TOPOLOGY_HELP,
        client_cli.add_topology_arguments,
        client_cli.run_topology,
    ),
    Command(
        "locate", client_cli.LOCATE_HELP, client_cli.add_locate_arguments, client_cli.run_locate
    ),
    Command("drops", client_cli.DROPS_HELP, client_cli.add_drops_arguments, client_cli.run_drops),
    Command(
        "agents", agents_cli.AGENTS_HELP, agents_cli.add_agents_arguments, agents_cli.run_agents
    ),
]


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one sub-parser per entry of ``COMMANDS``."""
    parser = _Parser(
        prog=PROG,
        description="sFlow v5 collector for AI/ML GPU fabrics (RoCEv2, drops, link load).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS:
        cmd_parser = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(cmd_parser)
        cmd_parser.set_defaults(run=command.run)
    return parser


def _silence_stdout() -> None:
    """After EPIPE: point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (tests capture stdout)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``fabricscope`` command line; returns the process exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        return 130

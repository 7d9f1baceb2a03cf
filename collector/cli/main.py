"""``fabricscope`` command line: one argparse sub-command per ``Command`` in ``COMMANDS``.

To add a sub-command, write ``add_arguments(parser)`` and ``run(args) -> int`` in a module of
this package and append a ``Command`` to ``COMMANDS`` (a ``topology`` sub-command: to
``TOPOLOGY_COMMANDS``). ``main`` never raises: bad arguments return 2 with a one-line message,
unreadable input 1, a closed stdout (``| head``) 0.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

from collector.cli import (
    agents,
    aggregate,
    decode,
    events,
    flows,
    remote,
    serve,
    topology_check,
    topology_files,
)
from collector.cli.exits import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, PROG
from simulator import cli as sim_cli

TOPOLOGY_HELP = "the fabric topology: import, check, diff and export files; status of a collector"


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


TOPOLOGY_COMMANDS: list[Command] = [
    Command("status", remote.STATUS_HELP, remote.add_status_arguments, remote.run_topology_status),
    Command(
        "check",
        topology_check.CHECK_HELP,
        topology_check.add_check_arguments,
        topology_check.run_topology_check,
    ),
    Command(
        "import",
        topology_files.IMPORT_HELP,
        topology_files.add_import_arguments,
        topology_files.run_import,
    ),
    Command(
        "diff", topology_files.DIFF_HELP, topology_files.add_diff_arguments, topology_files.run_diff
    ),
    Command(
        "export",
        topology_files.EXPORT_HELP,
        topology_files.add_export_arguments,
        topology_files.run_export,
    ),
]


def add_topology_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope topology SUBCOMMAND``."""
    sub = parser.add_subparsers(dest="topology_command", metavar="SUBCOMMAND", required=True)
    for command in TOPOLOGY_COMMANDS:
        cmd = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(cmd)
        cmd.set_defaults(topology_run=command.run)


def run_topology(args: argparse.Namespace) -> int:
    """Dispatch to the chosen ``topology`` sub-command."""
    run: Callable[[argparse.Namespace], int] = args.topology_run
    return run(args)


COMMANDS: list[Command] = [
    Command("decode", decode.DECODE_HELP, decode.add_decode_arguments, decode.run_decode),
    Command("serve", serve.HELP, serve.add_arguments, serve.run),
    Command("aggregate", aggregate.HELP, aggregate.add_arguments, aggregate.run),
    Command(
        "simulate", sim_cli.SIMULATE_HELP, sim_cli.add_simulate_arguments, sim_cli.run_simulate
    ),
    Command("demo", sim_cli.DEMO_HELP, sim_cli.add_demo_arguments, sim_cli.run_demo),
    Command("topology", TOPOLOGY_HELP, add_topology_arguments, run_topology),
    Command("locate", remote.LOCATE_HELP, remote.add_locate_arguments, remote.run_locate),
    Command("drops", remote.DROPS_HELP, remote.add_drops_arguments, remote.run_drops),
    Command("agents", agents.AGENTS_HELP, agents.add_agents_arguments, agents.run_agents),
    Command("flows", flows.FLOWS_HELP, flows.add_arguments, flows.run),
    Command("events", events.EVENTS_HELP, events.add_events_arguments, events.run_events),
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
        return EXIT_INTERRUPTED

"""``fabricscope agents``: the agents a running collector hears, one line each, from
``GET /agents/json`` (docs/api.md) — the terminal's answer to "is anything arriving?".

Exit status 0 when at least one agent is heard, 1 when none is (or the collector cannot be
reached), so scripts and health checks can use it as they are.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from collector.cli.client import add_common_arguments, show_document
from collector.cli.exits import EXIT_FAIL, EXIT_OK

AGENTS_HELP = "the sFlow agents a running collector hears: rates, sampling, losses, errors"

# (heading, minimum width) in print order; the first two left-aligned, the numbers right
_COLUMNS: tuple[tuple[str, int], ...] = (
    ("AGENT", 15),
    ("NODE", 12),
    ("SEEN", 7),
    ("DGRAM/S", 9),
    ("FLOW/S", 9),
    ("CNTR/S", 8),
    ("DROP/S", 8),
    ("SAMPLING", 9),
    ("LOST", 6),
    ("LATE", 6),
    ("RESTARTS", 8),
    ("ERRORS", 6),
)


def _rate(value: Any) -> str:
    if not isinstance(value, int | float):
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def agent_row(agent: dict[str, Any]) -> list[str]:
    """The cells of one ``/agents/json`` entry, in ``_COLUMNS`` order."""
    samples = agent.get("samples_per_second") or {}
    rates = agent.get("sampling_rates") or []
    name = agent["agent"]
    if agent.get("sub_agent"):
        name += f"/{agent['sub_agent']}"
    return [
        name,
        agent.get("node") or "-",
        f"{agent.get('age_s', 0.0):.0f}s",
        _rate(agent.get("datagrams_per_second")),
        _rate(samples.get("flow")),
        _rate(samples.get("counter")),
        _rate(samples.get("drop")),
        ",".join(str(r) for r in rates) or "-",
        str(agent.get("datagrams_lost", 0)),
        str(agent.get("out_of_order", 0)),
        str(agent.get("restarts", 0)),
        str(agent.get("decode_errors", 0)),
    ]


def format_agents(document: dict[str, Any]) -> str:
    """The agents as a table, then a one-line summary."""
    agents = document.get("agents") or []
    totals = document.get("totals") or {}
    if not agents:
        return "no agents heard from (is sFlow arriving? see docs/troubleshooting.md)"
    rows = [[heading for heading, _ in _COLUMNS], *(agent_row(a) for a in agents)]
    widths = [max(width, *(len(row[i]) for row in rows)) for i, (_, width) in enumerate(_COLUMNS)]
    lines = [
        "  ".join(
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    strays = [a["agent"] for a in agents if not a.get("in_topology")]
    summary = f"{len(agents)} agent{'s' if len(agents) != 1 else ''}"
    summary += f", {_rate(totals.get('datagrams_per_second'))} datagrams/s"
    if strays:
        summary += f"; not in the topology: {', '.join(strays)}"
    unattributed = totals.get("decode_errors_unattributed") or 0
    if unattributed:
        summary += f"; {unattributed} refused datagrams from unknown senders"
    return "\n".join([*lines, summary])


def add_agents_arguments(parser: argparse.ArgumentParser) -> None:
    """``--collector``, ``--json``."""
    add_common_arguments(parser)


def run_agents(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope agents``: exit 0 when an agent is heard, 1 when none is or on an error."""
    document = show_document(args, "/agents/json", format_agents, out)
    return EXIT_OK if document and document.get("agents") else EXIT_FAIL

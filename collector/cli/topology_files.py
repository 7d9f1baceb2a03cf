"""``fabricscope topology import | diff | export``: build a topology from what the network
already knows, compare two before a reload, and draw one. Offline: no collector needed.
See docs/topology.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from collector.cli.exits import EXIT_FAIL, EXIT_OK, EXIT_USAGE, PROG, report_error
from topology.dot import topology_to_dot
from topology.importers import (
    IMPORTERS,
    ImportOptions,
    Source,
    TopologyImportError,
    source_from_bytes,
)
from topology.importers.fabric_links import natural_key
from topology.index import TopologyIndex
from topology.model import Topology, TopologyError, load_topology, topology_to_json

EXIT_DIFFERENT = EXIT_FAIL  # diff(1): 1 means different, 2 means trouble
EXIT_TROUBLE = EXIT_USAGE
DOT_TIMEOUT = 120.0
MAX_INPUT_BYTES = 64 * 1024 * 1024

IMPORT_HELP = (
    "build an sFlow-RT topology JSON from Graphviz DOT, containerlab, NetQ or Arista eAPI "
    "LLDP JSON, or NetBox cables"
)
DIFF_HELP = "compare two topology files: links and nodes added, removed, changed (exit 1 if any)"
EXPORT_HELP = "write a topology as Graphviz DOT (and SVG with --svg when Graphviz is installed)"


def _csv(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def _mode_of(target: Path) -> int:
    """The permission bits of ``target``, or those a new file gets (0666 less the umask)."""
    try:
        return stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)  # read it back: there is no call that only reads it
        os.umask(umask)
        return 0o666 & ~umask


def write_output(path: str | None, text: str, out: TextIO) -> None:
    """``text`` to ``path`` (a regular file is replaced atomically, so a collector reloading it
    never sees half a file) or, without a path or with ``-``, to ``out``."""
    if path is None or path == "-":
        out.write(text)
        out.flush()
        return
    target = Path(os.path.realpath(path))  # replace the file a symlink points to, not the link
    if target.exists() and not target.is_file():
        # A device or a pipe (-o /dev/stdout, a FIFO): write into it, never replace it.
        with open(target, "w", encoding="utf-8") as stream:
            stream.write(text)
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        # mkstemp makes the file 0600: give it the mode the file had, or open() would give it
        os.fchmod(fd, _mode_of(target))
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------------------------------------
# import


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope topology import --from SOURCE FILE...``."""
    parser.add_argument(
        "--from",
        dest="source_format",
        required=True,
        choices=sorted(IMPORTERS),
        help="input format: dot (Graphviz), clab (containerlab topology-data.json), netq "
        "(netq show lldp json), eapi (Arista show lldp neighbors JSON, one file per switch), "
        "netbox (/api/dcim/cables/ JSON, plus /api/dcim/devices/ JSON for --roles and agents)",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="input files ('-': stdin)")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write the topology JSON here (default stdout)"
    )
    parser.add_argument(
        "--roles",
        type=_csv,
        default=(),
        metavar="ROLE,…",
        help="netbox: keep cables whose both devices have one of these roles (slug or name)",
    )
    parser.add_argument(
        "--switches",
        type=_csv,
        default=(),
        metavar="GLOB,…",
        help="netq, eapi, clab, netbox: only names matching these patterns are switches "
        "(e.g. 'leaf*,spine*'); other devices are hosts and their switch ports stay edge",
    )
    parser.add_argument(
        "--name",
        metavar="SWITCH",
        help="eapi: the switch of the (single) file, instead of its name",
    )


def _read_sources(files: list[str]) -> list[Source]:
    sources: list[Source] = []
    for name in files:
        if name == "-":
            data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
            shown = "<stdin>"
        else:
            try:
                if os.path.getsize(name) > MAX_INPUT_BYTES:
                    raise TopologyImportError(name, "", f"larger than {MAX_INPUT_BYTES} bytes")
                with open(name, "rb") as stream:  # bounded: a pipe or device has no size
                    data = stream.read(MAX_INPUT_BYTES + 1)
            except OSError as exc:
                raise TopologyImportError(name, "", exc.strerror or str(exc)) from None
            shown = name
        if len(data) > MAX_INPUT_BYTES:
            raise TopologyImportError(shown, "", f"larger than {MAX_INPUT_BYTES} bytes")
        sources.append(source_from_bytes(shown, data))
    return sources


def run_import(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope topology import``: exit 0 with the topology written, 1 on bad input."""
    out = out or sys.stdout
    if args.roles and args.source_format != "netbox":
        return report_error("--roles applies to --from netbox only", EXIT_USAGE)
    if args.name and args.source_format != "eapi":
        return report_error("--name applies to --from eapi only", EXIT_USAGE)
    if args.switches and args.source_format == "dot":
        return report_error(
            "--switches does not apply to --from dot (every DOT node is a switch)", EXIT_USAGE
        )
    options = ImportOptions(switches=args.switches, roles=args.roles, name=args.name)
    try:
        result = IMPORTERS[args.source_format](_read_sources(args.files), options)
    except TopologyImportError as exc:
        return report_error(str(exc))
    topology = result.topology
    if not topology.links:
        return report_error(
            f"no switch-to-switch links found in {', '.join(args.files)} (see --switches / --roles)"
        )
    text = json.dumps(topology_to_json(topology), indent=2) + "\n"
    try:
        write_output(args.output, text, out)
    except OSError as exc:
        return report_error(f"{args.output}: {exc.strerror or exc}")
    index = TopologyIndex(topology)
    print(
        f"{PROG}: {len(index.node_names)} switches, {len(topology.links)} links, "
        f"{len(topology.nodes)} agents from {len(args.files)} file(s) ({args.source_format})",
        file=sys.stderr,
    )
    for note in result.notes:
        print(f"{PROG}: {note}", file=sys.stderr)
    return EXIT_OK


# ---------------------------------------------------------------------------------------------
# diff


def _ends(topology: Topology, name: str) -> str:
    link = topology.links[name]
    return f"{link.node1}/{link.port1} -- {link.node2}/{link.port2}"


def _pair(topology: Topology, name: str) -> frozenset[tuple[str, str]]:
    link = topology.links[name]
    return frozenset(((link.node1, link.port1), (link.node2, link.port2)))


@dataclass
class TopologyDiff:
    """Differences between two topologies: links by their two ends, nodes by name."""

    links_added: list[dict[str, str]] = field(default_factory=list)
    links_removed: list[dict[str, str]] = field(default_factory=list)
    links_renamed: list[dict[str, str]] = field(default_factory=list)
    nodes_added: list[str] = field(default_factory=list)
    nodes_removed: list[str] = field(default_factory=list)
    nodes_changed: list[dict[str, Any]] = field(default_factory=list)

    @property
    def same(self) -> bool:
        """True when nothing differs."""
        return not (
            self.links_added
            or self.links_removed
            or self.links_renamed
            or self.nodes_added
            or self.nodes_removed
            or self.nodes_changed
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``diff --json``."""
        return {
            "same": self.same,
            "links": {
                "added": self.links_added,
                "removed": self.links_removed,
                "renamed": self.links_renamed,
            },
            "nodes": {
                "added": self.nodes_added,
                "removed": self.nodes_removed,
                "changed": self.nodes_changed,
            },
        }


def _link_row(topology: Topology, name: str) -> dict[str, str]:
    return {"name": name, **topology.links[name].model_dump()}


def _node_changes(old: Topology, new: Topology, node: str) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    old_spec, new_spec = old.nodes.get(node), new.nodes.get(node)
    old_agent = old_spec.agent if old_spec else None
    new_agent = new_spec.agent if new_spec else None
    if old_agent != new_agent:
        changes.append({"node": node, "field": "agent", "old": old_agent, "new": new_agent})
    old_ports = {p: s.ifindex for p, s in old_spec.ports.items()} if old_spec else {}
    new_ports = {p: s.ifindex for p, s in new_spec.ports.items()} if new_spec else {}
    for port in sorted(old_ports.keys() | new_ports.keys(), key=natural_key):
        before, after = old_ports.get(port), new_ports.get(port)
        if before != after:
            changes.append(
                {"node": node, "field": "ifindex", "port": port, "old": before, "new": after}
            )
    return changes


def diff_topologies(old: Topology, new: Topology) -> TopologyDiff:
    """What changed from ``old`` to ``new``; a link is its two ends, its name a label."""
    diff = TopologyDiff()
    old_by_pair = {_pair(old, name): name for name in old.links}
    new_by_pair = {_pair(new, name): name for name in new.links}
    for pair, name in old_by_pair.items():
        if pair not in new_by_pair:
            diff.links_removed.append(_link_row(old, name))
        elif new_by_pair[pair] != name:
            diff.links_renamed.append({"old": name, "new": new_by_pair[pair]})
    diff.links_added = [_link_row(new, n) for p, n in new_by_pair.items() if p not in old_by_pair]
    old_nodes, new_nodes = TopologyIndex(old).node_names, TopologyIndex(new).node_names
    diff.nodes_added = sorted(new_nodes - old_nodes, key=natural_key)
    diff.nodes_removed = sorted(old_nodes - new_nodes, key=natural_key)
    for node in sorted(old_nodes & new_nodes, key=natural_key):
        diff.nodes_changed.extend(_node_changes(old, new, node))
    return diff


def _change_text(change: dict[str, Any]) -> str:
    head = f"~ node {change['node']}: "
    if change["field"] == "agent":
        return head + f"agent {change['old'] or '-'} -> {change['new'] or '-'}"
    before = "-" if change["old"] is None else change["old"]
    after = "-" if change["new"] is None else change["new"]
    return head + f"port {change['port']} ifindex {before} -> {after}"


def format_diff(diff: TopologyDiff, old: Topology, new: Topology) -> str:
    """The differences as diff-like lines (``-`` removed, ``+`` added, ``~`` changed)."""
    lines = [f"- link {r['name']}: {_ends(old, r['name'])}" for r in diff.links_removed]
    lines += [f"+ link {r['name']}: {_ends(new, r['name'])}" for r in diff.links_added]
    lines += [
        f"~ link {r['old']} renamed {r['new']}: {_ends(new, r['new'])}" for r in diff.links_renamed
    ]
    lines += [f"- node {n}" for n in diff.nodes_removed]
    lines += [f"+ node {n}" for n in diff.nodes_added]
    lines += [_change_text(c) for c in diff.nodes_changed]
    if diff.same:
        lines.append(f"same topology: {len(old.links)} links")
    else:
        lines.append(
            f"links: {len(diff.links_added)} added, {len(diff.links_removed)} removed, "
            f"{len(diff.links_renamed)} renamed; nodes: {len(diff.nodes_added)} added, "
            f"{len(diff.nodes_removed)} removed, {len(diff.nodes_changed)} changed"
        )
    return "\n".join(lines) + "\n"


def add_diff_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope topology diff OLD NEW``."""
    parser.add_argument("old", metavar="OLD", help="the topology in use (sFlow-RT JSON)")
    parser.add_argument("new", metavar="NEW", help="the topology about to be loaded")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def run_diff(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope topology diff``: exit 0 same, 1 different, 2 trouble (like diff(1))."""
    out = out or sys.stdout
    try:
        old, new = load_topology(args.old), load_topology(args.new)
    except TopologyError as exc:
        return report_error(str(exc), EXIT_TROUBLE)
    diff = diff_topologies(old, new)
    if args.json:
        out.write(json.dumps(diff.as_dict(), indent=2) + "\n")
    else:
        out.write(format_diff(diff, old, new))
    return EXIT_OK if diff.same else EXIT_DIFFERENT


# ---------------------------------------------------------------------------------------------
# export


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """``fabricscope topology export FILE --to dot``."""
    parser.add_argument("file", metavar="FILE", help="topology (sFlow-RT JSON)")
    parser.add_argument("--to", choices=["dot"], default="dot", help="output format (dot)")
    parser.add_argument(
        "-o", "--output", metavar="FILE", help="write the DOT text here (default stdout)"
    )
    parser.add_argument(
        "--svg", metavar="FILE", help="also render an SVG with Graphviz 'dot' (when installed)"
    )


def render_svg(dot_text: str, path: str) -> str | None:
    """Render DOT to an SVG file with Graphviz; the reason when it cannot."""
    dot = shutil.which("dot")
    if dot is None:
        return "--svg needs Graphviz's 'dot' program, which is not installed (apt install graphviz)"
    try:
        done = subprocess.run(
            [dot, "-Tsvg", "-o", path],
            input=dot_text,
            capture_output=True,
            text=True,
            timeout=DOT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"dot did not finish within {DOT_TIMEOUT:.0f} s"
    except OSError as exc:
        return f"cannot run {dot}: {exc.strerror or exc}"
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        return f"dot failed: {first}"
    return None


def run_export(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``fabricscope topology export``: DOT to ``-o`` or stdout, SVG to ``--svg``."""
    out = out or sys.stdout
    try:
        topology = load_topology(args.file)
    except TopologyError as exc:
        return report_error(str(exc))
    try:
        dot_text = topology_to_dot(topology, Path(args.file).stem or "fabric")
    except ValueError as exc:
        return report_error(f"{args.file}: {exc}")
    if args.output is not None or args.svg is None:
        try:
            write_output(args.output, dot_text, out)
        except OSError as exc:
            return report_error(f"{args.output}: {exc.strerror or exc}")
    if args.svg is not None:
        reason = render_svg(dot_text, args.svg)
        if reason is not None:
            return report_error(reason)
    return EXIT_OK

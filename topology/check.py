"""``fabricscope topology check``: every problem of a topology file, and how it fits a live fabric.

Pure. Two passes, each returning ``Finding`` s (severity *error* or *warning*, a kind, the object
it is about and a one-line message):

* **structure** (``check_text``): the file alone. Where the loader (``topology.model``) stops at the
  first problem, this reports them all: JSON keys given twice (the loader keeps the last),
  fields that are missing or malformed, agents that are not IP addresses, self-links, a port
  on two links, two nodes with one agent, two ports with one ifIndex (errors: ``serve`` refuses
  such a file or silently uses part of it); links naming nodes a present ``nodes`` block lacks,
  link ports a node's ``ports`` list lacks, links from a node to itself (warnings: the file
  loads, but those ports are found only by the names the switches send).
* **live** (``check_live``): the file against a collector's ``/ports/json`` (the file need not be
  the topology the collector has loaded). Agents are matched to nodes as the collector does:
  the ``nodes`` block's agent address, else the hostname the agent sends; ports by the
  ``nodes`` block's ifIndex, else by the ifName the switch sends. Reported, each fault once: nodes
  with no agent sending (their links are not reported again), agents sending that are not in
  the file, ports whose ifName differs from the file's name for that ifIndex, links with an
  end that sends no counters, links whose ends disagree on speed or oper state, links down,
  nodes sending no flow samples, and agent addresses the file has wrong.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from pydantic import TypeAdapter, ValidationError

from topology.index import TopologyIndex
from topology.model import (
    MAX_TOPOLOGY_BYTES,
    AgentAddress,
    LinkSpec,
    NodeSpec,
    PortSpec,
    Topology,
    TopologyError,
    parse_topology,
)

ERROR: Final = "error"
WARNING: Final = "warning"
TOP_LEVEL_KEYS: Final = frozenset({"links", "nodes", "version"})
MAX_NAMES_LISTED = 3  # link names quoted in one message before "(and N more)"

_AGENT = TypeAdapter(AgentAddress)


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: severity, kind, the object it is about (``subject`` and ``name``), a message
    and, for the file's own problems, the JSON location."""

    severity: str
    kind: str
    subject: str  # topology, link, node, port, agent
    name: str
    message: str
    location: str = ""

    def to_json(self) -> dict[str, str]:
        """The finding as a JSON object."""
        return {
            "severity": self.severity,
            "kind": self.kind,
            "subject": self.subject,
            "name": self.name,
            "message": self.message,
            "location": self.location,
        }

    def line(self) -> str:
        """One line of text."""
        where = f" ({self.location})" if self.location else ""
        subject = f"{self.subject} {self.name}" if self.name else self.subject
        return f"{self.severity}: {self.kind}: {subject}: {self.message}{where}"


def port_name(node: str, port: str) -> str:
    """How a finding names a port: node and port separated by a space (ports contain slashes)."""
    return f"{node} {port}"


def has_errors(findings: list[Finding]) -> bool:
    """True when any finding is an error."""
    return any(f.severity == ERROR for f in findings)


def agent_address(text: object) -> str:
    """An agent address as the decoders print it; ``ValueError`` when it is not one."""
    try:
        return _AGENT.validate_python(text)
    except ValidationError as exc:
        raise ValueError(_message(exc.errors(include_url=False)[0]["msg"])) from None


# ---------------------------------------------------------------------------------------------
# JSON with its repeated keys


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers the keys given more than once (the last value is kept)."""

    repeated: dict[str, int]


def _object_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    obj.repeated = {}
    for key, value in pairs:
        if key in obj:
            obj.repeated[key] = obj.repeated.get(key, 1) + 1
        obj[key] = value
    return obj


def parse_json(text: str | bytes) -> Any:
    """Parse JSON keeping track of repeated keys; ``TopologyError`` when it is not JSON."""
    if len(text) > MAX_TOPOLOGY_BYTES:
        raise TopologyError("", f"larger than {MAX_TOPOLOGY_BYTES} bytes")
    try:
        return json.loads(text, object_pairs_hook=_object_pairs)
    except UnicodeDecodeError as exc:
        raise TopologyError("", f"not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise TopologyError(where, f"invalid JSON: {exc.msg}") from None
    except RecursionError:  # arrays or objects nested thousands deep
        raise TopologyError("", "invalid JSON: nested too deeply") from None


def _repeated(obj: object) -> dict[str, int]:
    return getattr(obj, "repeated", {}) if isinstance(obj, dict) else {}


# ---------------------------------------------------------------------------------------------
# Structure


def _message(msg: str) -> str:
    msg = msg.removeprefix("Value error, ")
    return msg[:1].lower() + msg[1:]


def _join(*parts: object) -> str:
    return ".".join(str(p) for p in parts if p != "")


class _StructureCheck:
    """Collects the findings of one document."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def add(
        self, severity: str, kind: str, subject: str, name: str, message: str, location: str = ""
    ) -> None:
        self.findings.append(Finding(severity, kind, subject, name, message, location))

    def invalid(self, subject: str, name: str, location: str, message: str) -> None:
        self.add(ERROR, "invalid", subject, name, message, location)

    def repeated_keys(self, obj: object, subject: str, name: str, location: str) -> None:
        """Keys given twice: a link, node or port listed twice is its own kind."""
        for key, times in sorted(_repeated(obj).items()):
            message = f"listed {times} times; only the last is used"
            where = _join(location, key)
            if location == "links":
                self.add(ERROR, "duplicate-link", "link", key, message, where)
            elif location == "nodes":
                self.add(ERROR, "duplicate-node", "node", key, message, where)
            elif location.endswith(".ports"):
                self.add(ERROR, "duplicate-port", "port", port_name(name, key), message, where)
            else:
                message = f"field {key} given {times} times; only the last is used"
                self.add(ERROR, "duplicate-key", subject, name, message, where)

    def pydantic_errors(self, exc: ValidationError, subject: str, name: str, location: str) -> None:
        for error in exc.errors(include_url=False):
            loc = tuple(str(part) for part in error["loc"])
            where = _join(location, *loc)
            if loc == ("agent",) and error["type"] != "missing":
                self.add(ERROR, "bad-agent", subject, name, _message(error["msg"]), where)
            elif error["type"] == "missing":
                self.invalid(subject, name, where, f"{loc[-1]} is missing")
            elif error["type"] == "extra_forbidden":
                self.invalid(subject, name, where, f"unknown field {loc[-1]}")
            else:
                self.invalid(subject, name, where, _message(error["msg"]))


def _check_links(check: _StructureCheck, links: Mapping[str, Any]) -> dict[str, LinkSpec]:
    valid: dict[str, LinkSpec] = {}
    for name, value in links.items():
        where = _join("links", name)
        check.repeated_keys(value, "link", name, where)
        if not name:
            check.invalid("link", name, where, "a link name must not be empty")
            continue
        try:
            valid[name] = LinkSpec.model_validate(value)
        except ValidationError as exc:
            check.pydantic_errors(exc, "link", name, where)
    ends: dict[tuple[str, str], str] = {}
    for name, link in valid.items():
        where = _join("links", name)
        if (link.node1, link.port1) == (link.node2, link.port2):
            check.add(
                ERROR,
                "self-link",
                "link",
                name,
                f"both ends are {port_name(link.node1, link.port1)}",
                where,
            )
            continue
        if link.node1 == link.node2:
            check.add(
                WARNING,
                "loop-link",
                "link",
                name,
                f"connects node {link.node1} to itself (ports {link.port1} and {link.port2})",
                where,
            )
        for side, node, port in ((1, link.node1, link.port1), (2, link.node2, link.port2)):
            owner = ends.setdefault((node, port), name)
            if owner != name:
                check.add(
                    ERROR,
                    "port-on-two-links",
                    "port",
                    port_name(node, port),
                    f"an end of link {owner} and of link {name}",
                    _join(where, f"port{side}"),
                )
    return valid


@dataclass(frozen=True, slots=True)
class _NodeFacts:
    agent: str | None
    port_names: frozenset[str]
    ifindexes: dict[str, int]  # port name → ifIndex, the valid ones


def _node_facts(value: Any) -> _NodeFacts:
    """What can be used of a node even when some of it is invalid."""
    if not isinstance(value, dict):
        return _NodeFacts(None, frozenset(), {})
    try:
        agent: str | None = agent_address(value.get("agent"))
    except ValueError:
        agent = None
    ifindexes: dict[str, int] = {}
    ports = value.get("ports")
    names: frozenset[str] = frozenset()
    if isinstance(ports, dict):
        names = frozenset(ports)
        for port, spec in ports.items():
            try:
                ifindexes[port] = PortSpec.model_validate(spec).ifindex
            except ValidationError:
                continue
    return _NodeFacts(agent, names, ifindexes)


def _check_nodes(check: _StructureCheck, nodes: Mapping[str, Any]) -> dict[str, _NodeFacts]:
    facts: dict[str, _NodeFacts] = {}
    agent_owner: dict[str, str] = {}
    for name, value in nodes.items():
        where = _join("nodes", name)
        check.repeated_keys(value, "node", name, where)
        if isinstance(value, dict):
            check.repeated_keys(value.get("ports"), "node", name, _join(where, "ports"))
        if not name:
            check.invalid("node", name, where, "a node name must not be empty")
            continue
        try:
            NodeSpec.model_validate(value)
        except ValidationError as exc:
            check.pydantic_errors(exc, "node", name, where)
        node = facts[name] = _node_facts(value)
        if node.agent is not None:
            owner = agent_owner.setdefault(node.agent, name)
            if owner != name:
                check.add(
                    ERROR,
                    "duplicate-agent",
                    "node",
                    name,
                    f"agent {node.agent} is already the agent of node {owner}",
                    _join(where, "agent"),
                )
        port_of_ifindex: dict[int, str] = {}
        for port, ifindex in node.ifindexes.items():
            other = port_of_ifindex.setdefault(ifindex, port)
            if other != port:
                check.add(
                    ERROR,
                    "duplicate-ifindex",
                    "port",
                    port_name(name, port),
                    f"ifindex {ifindex} is already the ifindex of port {other}",
                    _join(where, "ports", port, "ifindex"),
                )
    return facts


def _listed(names: list[str]) -> str:
    shown = ", ".join(names[:MAX_NAMES_LISTED])
    more = len(names) - MAX_NAMES_LISTED
    return f"{shown} (and {more} more)" if more > 0 else shown


def _check_references(
    check: _StructureCheck, links: Mapping[str, LinkSpec], nodes: Mapping[str, _NodeFacts]
) -> None:
    """Links against a present ``nodes`` block: nodes and ports it lacks."""
    missing_nodes: dict[str, list[str]] = {}
    missing_ports: dict[tuple[str, str], list[str]] = {}
    for name, link in links.items():
        for node, port in ((link.node1, link.port1), (link.node2, link.port2)):
            facts = nodes.get(node)
            if facts is None:
                missing_nodes.setdefault(node, []).append(name)
            elif facts.port_names and port not in facts.port_names:
                missing_ports.setdefault((node, port), []).append(name)
    for node, names in sorted(missing_nodes.items()):
        check.add(
            WARNING,
            "unknown-node",
            "node",
            node,
            f"named by link {_listed(names)} but absent from the nodes block: its agent "
            "is found only by the hostname it sends",
            _join("links", names[0]),
        )
    for (node, port), names in sorted(missing_ports.items()):
        check.add(
            WARNING,
            "unknown-port",
            "port",
            port_name(node, port),
            f"an end of link {_listed(names)} but not among node {node}'s ports: found "
            "only by the ifName the switch sends",
            _join("links", names[0]),
        )


def check_document(document: Any) -> list[Finding]:
    """Every structural finding of a parsed topology document (see the module docstring)."""
    check = _StructureCheck()
    if not isinstance(document, dict):
        check.invalid("topology", "", "", "the topology must be a JSON object")
        return check.findings
    check.repeated_keys(document, "topology", "", "")
    for key in sorted(set(document) - TOP_LEVEL_KEYS):
        check.invalid("topology", "", key, f"unknown field {key}")
    version = document.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        check.invalid("topology", "", "version", "version must be an integer")
    links = document.get("links")
    valid_links: dict[str, LinkSpec] = {}
    if links is None:
        check.invalid("topology", "", "links", "links is missing")
    elif not isinstance(links, dict):
        check.invalid("topology", "", "links", "links must be an object of named links")
    else:
        check.repeated_keys(links, "topology", "", "links")
        valid_links = _check_links(check, links)
        if not links:
            check.add(
                WARNING, "no-links", "topology", "", "no links: every port is an edge port", "links"
            )
    nodes = document.get("nodes")
    if nodes is not None:
        if not isinstance(nodes, dict):
            check.invalid("topology", "", "nodes", "nodes must be an object of named nodes")
        else:
            check.repeated_keys(nodes, "topology", "", "nodes")
            facts = _check_nodes(check, nodes)
            if nodes:
                _check_references(check, valid_links, facts)
    return check.findings


def check_text(text: str | bytes) -> tuple[list[Finding], Topology | None]:
    """Structural findings of a topology file's text, and the topology when it loads.

    ``TopologyError`` when the text is not JSON at all."""
    document = parse_json(text)
    findings = check_document(document)
    if has_errors(findings):
        return findings, None
    try:
        return findings, parse_topology(text)
    except TopologyError as exc:  # a rule the loader has that the pass above lacks
        findings.append(Finding(ERROR, "invalid", "topology", "", exc.message, exc.location))
        return findings, None


# ---------------------------------------------------------------------------------------------
# Live


@dataclass(frozen=True, slots=True)
class LiveAgent:
    """An agent the collector hears."""

    agent: str
    hostname: str | None
    last_flow: float | None


@dataclass(frozen=True, slots=True)
class LivePort:
    """An interface that sent counters."""

    agent: str
    ifindex: int
    sflow_name: str | None
    speed: int | None
    oper_up: bool
    admin_up: bool


@dataclass(frozen=True, slots=True)
class LiveView:
    """A collector's ``/ports/json`` document, checked."""

    time: float
    flow_window: float
    agents: tuple[LiveAgent, ...]
    ports: tuple[LivePort, ...]


def _field(row: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    value = row.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ValueError(f"{where}.{key}: unexpected value {value!r}")
    return value


def _float(value: int | float, where: str) -> float:
    """A JSON number as a finite float; ``ValueError`` naming ``where`` when it is not one
    (too large, or the NaN and Infinity Python's JSON reader accepts)."""
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"{where}: number too large for a float") from None
    if not math.isfinite(number):
        raise ValueError(f"{where}: {number} is not a finite number")
    return number


def parse_live(document: Any) -> LiveView:
    """Read a ``/ports/json`` document; ``ValueError`` naming the field when it is not one."""
    if not isinstance(document, dict):
        raise ValueError("the /ports/json answer is not a JSON object")
    now = _float(_field(document, "time", (int, float), "ports"), "ports.time")
    window = _float(_field(document, "flow_window", (int, float), "ports"), "ports.flow_window")
    agents: list[LiveAgent] = []
    for i, row in enumerate(_field(document, "agents", list, "ports")):
        where = f"agents[{i}]"
        if not isinstance(row, dict):
            raise ValueError(f"{where}: not an object")
        flow = row.get("last_flow")
        agents.append(
            LiveAgent(
                _field(row, "agent", str, where),
                _field(row, "hostname", (str, type(None)), where),
                _float(flow, f"{where}.last_flow")
                if isinstance(flow, int | float) and not isinstance(flow, bool)
                else None,
            )
        )
    ports: list[LivePort] = []
    for i, row in enumerate(_field(document, "ports", list, "ports")):
        where = f"ports[{i}]"
        if not isinstance(row, dict):
            raise ValueError(f"{where}: not an object")
        ports.append(
            LivePort(
                _field(row, "agent", str, where),
                _field(row, "ifindex", int, where),
                _field(row, "sflow_name", (str, type(None)), where),
                _field(row, "speed", (int, type(None)), where),
                _field(row, "oper_status", str, where) == "up",
                _field(row, "admin_status", str, where) == "up",
            )
        )
    return LiveView(now, window, tuple(agents), tuple(ports))


def _speed(bps: int | None) -> str:
    if bps is None:
        return "unknown speed"
    if bps >= 10**9 and bps % 10**9 == 0:
        return f"{bps // 10**9} Gb/s"
    return f"{bps} b/s"


def _state(port: LivePort) -> str:
    return f"oper {'up' if port.oper_up else 'down'}, admin {'up' if port.admin_up else 'down'}"


class _LiveCheck:
    """The file's topology against one live view."""

    def __init__(self, topology: Topology, live: LiveView) -> None:
        self.index = TopologyIndex(topology)
        self.topology = topology
        self.live = live
        self.findings: list[Finding] = []
        self.hostnames: dict[str, set[str]] = {}
        self.last_flow: dict[str, float] = {}
        for agent in live.agents:
            if agent.hostname:
                self.hostnames.setdefault(agent.agent, set()).add(agent.hostname)
            if agent.last_flow is not None:
                seen = self.last_flow.get(agent.agent, agent.last_flow)
                self.last_flow[agent.agent] = max(seen, agent.last_flow)
        # by node rather than by (agent, ifIndex): also right when the file's agent is wrong
        self.port_of_ifindex = {
            (node, spec.ifindex): port
            for node, node_spec in topology.nodes.items()
            for port, spec in node_spec.ports.items()
        }
        self.node_of_agent: dict[str, str] = {}
        self.node_agents: dict[str, set[str]] = {}

    def add(self, severity: str, kind: str, subject: str, name: str, message: str) -> None:
        self.findings.append(Finding(severity, kind, subject, name, message))

    def agents(self) -> None:
        """Map agents to nodes (address, else hostname); stray agents, names that disagree."""
        index = self.index
        addresses = sorted({a.agent for a in self.live.agents} | {p.agent for p in self.live.ports})
        for agent in addresses:
            names = sorted(self.hostnames.get(agent, ()))
            node = index.node_of_agent.get(agent)
            if node is None:
                node = next((n for n in names if index.is_node(n)), None)
            elif any(n != node and index.is_node(n) for n in names):
                other = next(n for n in names if n != node and index.is_node(n))
                self.add(
                    WARNING,
                    "agent-name-mismatch",
                    "agent",
                    agent,
                    f"the agent of node {node} in the file, but it calls itself {other}, "
                    "another node",
                )
            if node is None:
                said = f" (hostname {', '.join(names)})" if names else ""
                self.add(
                    WARNING,
                    "stray-agent",
                    "agent",
                    agent,
                    f"sends sFlow{said} but is not in the topology",
                )
                continue
            self.node_of_agent[agent] = node
            self.node_agents.setdefault(node, set()).add(agent)

    def nodes(self) -> None:
        """Nodes without telemetry or flow samples; agent addresses the file has wrong."""
        live = self.live
        for node in sorted(self.index.node_names):
            mine = self.node_agents.get(node)
            expected = self.index.agent_of_node.get(node)
            if not mine:
                said = (
                    f"agent {expected} sends nothing, and no agent has hostname {node}"
                    if expected
                    else f"no agent has hostname {node} (the file gives no agent address)"
                )
                message = f"{said}; its links are unmonitored"
                self.add(ERROR, "unmonitored-node", "node", node, message)
                continue
            if expected is not None and expected not in mine:
                self.add(
                    WARNING,
                    "agent-address-mismatch",
                    "node",
                    node,
                    f"the file gives agent {expected}, which sends nothing; "
                    f"{', '.join(sorted(mine))} sends with hostname {node}",
                )
            since = live.time - live.flow_window
            if not any(self.last_flow.get(a, float("-inf")) >= since for a in mine):
                self.add(
                    WARNING,
                    "no-flows",
                    "node",
                    node,
                    f"no flow samples in the last {live.flow_window:g} s "
                    f"(agent {', '.join(sorted(mine))})",
                )

    def ports(self) -> dict[tuple[str, str], LivePort]:
        """Map live interfaces to the file's ports; ifNames that disagree with the file."""
        ends: dict[tuple[str, str], LivePort] = {}
        by_name: list[tuple[tuple[str, str], LivePort]] = []
        for port in sorted(self.live.ports, key=lambda p: (p.agent, p.ifindex)):
            node = self.node_of_agent.get(port.agent)
            if node is None:
                continue
            name = self.port_of_ifindex.get((node, port.ifindex))
            if name is not None:
                if port.sflow_name is not None and port.sflow_name != name:
                    self.add(
                        ERROR,
                        "port-name-mismatch",
                        "port",
                        port_name(node, name),
                        f"the switch reports ifIndex {port.ifindex} as {port.sflow_name} "
                        f"(agent {port.agent})",
                    )
                ends[(node, name)] = port
            elif port.sflow_name:
                by_name.append(((node, port.sflow_name), port))
        for key, port in by_name:
            ends.setdefault(key, port)
        return ends

    def links(self, ends: Mapping[tuple[str, str], LivePort]) -> None:
        """Links with a silent end, with ends that disagree, and links down."""
        unmonitored = {f.name for f in self.findings if f.kind == "unmonitored-node"}
        for name, link in sorted(self.topology.links.items()):
            if link.node1 in unmonitored or link.node2 in unmonitored:
                continue  # reported with its node
            a = ends.get((link.node1, link.port1))
            b = ends.get((link.node2, link.port2))
            end1 = port_name(link.node1, link.port1)
            end2 = port_name(link.node2, link.port2)
            if a is None or b is None:
                silent = [e for e, p in ((end1, a), (end2, b)) if p is None]
                self.add(
                    WARNING,
                    "unmonitored-link",
                    "link",
                    name,
                    f"no interface counters from {' and '.join(silent)}",
                )
                continue
            # a down port's ifSpeed, 0 or unknown says nothing about the link's speed
            comparable = a.oper_up and b.oper_up and a.speed and b.speed
            if comparable and a.speed != b.speed:
                self.add(
                    ERROR,
                    "speed-mismatch",
                    "link",
                    name,
                    f"{end1} at {_speed(a.speed)}, {end2} at {_speed(b.speed)}",
                )
            if a.oper_up != b.oper_up:
                self.add(
                    ERROR, "state-mismatch", "link", name, f"{end1} {_state(a)}; {end2} {_state(b)}"
                )
            elif not a.oper_up:
                self.add(
                    WARNING, "link-down", "link", name, f"{end1} {_state(a)}; {end2} {_state(b)}"
                )


def check_live(topology: Topology, live: LiveView) -> list[Finding]:
    """The file's topology against a collector's live view (see the module docstring)."""
    check = _LiveCheck(topology, live)
    check.agents()
    check.nodes()
    ends = check.ports()
    check.links(ends)
    return check.findings

"""The sFlow-RT topology JSON as frozen pydantic models, and its loader with located errors.

Format (sFlow-RT ``PUT /topology/json``): ``links`` is an object of named links, each
``{node1, port1, node2, port2}``; the optional ``nodes`` object maps a node name to
``{agent, ports: {name: {ifindex}}}``. A ``version`` integer, which sFlow-RT adds on GET, is
accepted and ignored so a fetched topology can be put back as it is.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
)

MAX_TOPOLOGY_BYTES = 64 * 1024 * 1024
MAX_IFINDEX = 2**32 - 1

Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]


class TopologyError(ValueError):
    """A topology that cannot be used; ``str()`` is one line naming the JSON location."""

    def __init__(self, location: str, message: str) -> None:
        self.location = location
        self.message = message
        super().__init__(f"{location}: {message}" if location else message)


def _ifindex(value: object) -> int:
    # sFlow-RT writes ifindex as a string ("3"); accept a JSON integer too, never a bool.
    if isinstance(value, bool):
        raise ValueError("ifindex must be an integer or a string of digits")
    if isinstance(value, str):
        if not value.isdigit() or not value.isascii():
            raise ValueError("ifindex must be an integer or a string of digits")
        value = int(value)
    if not isinstance(value, int):
        raise ValueError("ifindex must be an integer or a string of digits")
    if not 0 < value <= MAX_IFINDEX:
        raise ValueError(f"ifindex must be between 1 and {MAX_IFINDEX}")
    return value


def _agent_address(value: object) -> str:
    # Normalised exactly as the decoders print addresses (inet_ntop), so lookups match.
    if not isinstance(value, str):
        raise ValueError("agent must be an IPv4 or IPv6 address string")
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            return socket.inet_ntop(family, socket.inet_pton(family, value.strip()))
        except OSError:
            continue
    raise ValueError(f"agent {value!r} is not an IPv4 or IPv6 address")


IfIndex = Annotated[int, BeforeValidator(_ifindex)]
AgentAddress = Annotated[str, BeforeValidator(_agent_address)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class PortSpec(_Frozen):
    """One port of a node: its sFlow ifIndex."""

    ifindex: IfIndex


class NodeSpec(_Frozen):
    """A node's sFlow agent address and, optionally, its ports' ifIndexes."""

    agent: AgentAddress
    ports: dict[Name, PortSpec] = Field(default_factory=dict)


class LinkSpec(_Frozen):
    """A link between two (node, port) ends; both ends are core ports."""

    node1: Name
    port1: Name
    node2: Name
    port2: Name


class Topology(_Frozen):
    """A whole sFlow-RT topology document."""

    links: dict[Name, LinkSpec]
    nodes: dict[Name, NodeSpec] = Field(default_factory=dict)
    version: int | None = None


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _first_error(exc: ValidationError) -> TopologyError:
    errors = exc.errors(include_url=False)
    first = errors[0]
    message = str(first["msg"])
    # pydantic prefixes messages raised from validators; the field location says enough.
    message = message.removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if first["type"] == "json_invalid":
        message = message.replace("Invalid JSON", "invalid JSON")
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return TopologyError(_location(tuple(first["loc"])), message)


def _check_consistency(topology: Topology) -> None:
    """Cross-field rules pydantic cannot see: shared endpoints, agents and ifIndexes."""
    endpoint_owner: dict[tuple[str, str], str] = {}
    for link_name, link in topology.links.items():
        if (link.node1, link.port1) == (link.node2, link.port2):
            raise TopologyError(f"links.{link_name}", f"both ends are {link.node1}/{link.port1}")
        for side, node, port in (("1", link.node1, link.port1), ("2", link.node2, link.port2)):
            owner = endpoint_owner.setdefault((node, port), link_name)
            if owner != link_name:
                raise TopologyError(
                    f"links.{link_name}.port{side}",
                    f"{node}/{port} is already an end of link {owner}",
                )
    agent_owner: dict[str, str] = {}
    for node_name, node_spec in topology.nodes.items():
        agent_user = agent_owner.setdefault(node_spec.agent, node_name)
        if agent_user != node_name:
            raise TopologyError(
                f"nodes.{node_name}.agent",
                f"{node_spec.agent} is already the agent of node {agent_user}",
            )
        port_of_ifindex: dict[int, str] = {}
        for port_name, port_spec in node_spec.ports.items():
            other = port_of_ifindex.setdefault(port_spec.ifindex, port_name)
            if other != port_name:
                raise TopologyError(
                    f"nodes.{node_name}.ports.{port_name}.ifindex",
                    f"{port_spec.ifindex} is already the ifindex of port {other}",
                )


def parse_topology(document: str | bytes | dict[str, Any]) -> Topology:
    """Validate a topology given as JSON text or a parsed object; raises ``TopologyError``."""
    if isinstance(document, str | bytes) and len(document) > MAX_TOPOLOGY_BYTES:
        raise TopologyError("", f"topology larger than {MAX_TOPOLOGY_BYTES} bytes")
    try:
        if isinstance(document, dict):
            topology = Topology.model_validate(document)
        else:
            topology = Topology.model_validate_json(document)
    except ValidationError as exc:
        raise _first_error(exc) from None
    _check_consistency(topology)
    return topology


def load_topology(path: str | Path) -> Topology:
    """Read and validate a topology file; the error names the file and the JSON location."""
    path = Path(path)
    try:
        # Read at most one byte past the limit: a pipe or a device reports no size up front.
        with path.open("rb") as stream:
            text = stream.read(MAX_TOPOLOGY_BYTES + 1)
        if len(text) > MAX_TOPOLOGY_BYTES:
            raise TopologyError(str(path), f"larger than {MAX_TOPOLOGY_BYTES} bytes")
    except OSError as exc:
        raise TopologyError(str(path), exc.strerror or str(exc)) from None
    try:
        return parse_topology(text)
    except TopologyError as exc:
        where = f"{path}: {exc.location}" if exc.location else str(path)
        raise TopologyError(where, exc.message) from None


def topology_to_json(topology: Topology, version: int | None = None) -> dict[str, Any]:
    """The topology as sFlow-RT returns it on GET (ifindex as strings, ``version`` added)."""
    out: dict[str, Any] = {
        "links": {name: link.model_dump() for name, link in topology.links.items()}
    }
    if topology.nodes:
        out["nodes"] = {
            name: {
                "agent": node.agent,
                "ports": {p: {"ifindex": str(s.ifindex)} for p, s in node.ports.items()},
            }
            for name, node in topology.nodes.items()
        }
    if version is not None:
        out["version"] = version
    return out


def dumps(topology: Topology, version: int | None = None) -> str:
    """``topology_to_json`` serialised."""
    return json.dumps(topology_to_json(topology, version), sort_keys=True)

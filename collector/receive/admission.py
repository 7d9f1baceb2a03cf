"""Agent admission: whose sFlow datagrams are counted at all (setting ``allowed_agents``).

The rule is a list of CIDRs and/or the word ``topology`` (the agent addresses the topology's
``nodes`` block names). A datagram is judged by the agent address in its sFlow header, before
anything is decoded: one outside the rule is counted as rejected and creates no agent, port or
locate state. The empty rule admits every agent (the default).

``AdmissionRule`` is plain data (it crosses to worker processes inside ``ReceiverSettings``);
``AgentAdmission`` is one receiver's judge: it caches its decision per raw address (bounded)
and learns the topology's agents again whenever the receiver installs a topology. Pure: no
sockets, no clocks, no asyncio.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from topology.model import Topology

TOPOLOGY_WORD = "topology"
MAX_CACHED_DECISIONS = 65_536  # raw agent addresses whose decision is kept; then started again
REJECTED_REASON = "agent_not_allowed"  # the rejected_datagrams label
_HEADER = struct.Struct("!II")
_ADDRESS_SIZE = {1: 4, 2: 16}  # sFlow agent address type → bytes

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class AdmissionRule:
    """Which agents are admitted: these networks (canonical CIDR text) and, with
    ``topology``, the agents of the topology's nodes; neither admits every agent."""

    networks: tuple[str, ...] = ()
    topology: bool = False

    @property
    def restricts(self) -> bool:
        """False when every agent is admitted."""
        return bool(self.networks) or self.topology

    def __str__(self) -> str:
        return ",".join((*self.networks, *((TOPOLOGY_WORD,) if self.topology else ())))


def parse_allowed_agents(value: object) -> AdmissionRule:
    """``allowed_agents`` from its text (``10.0.0.0/8,2001:db8::/32,topology``) or a list of
    such items; ``ValueError`` with a one-line message for anything else."""
    if isinstance(value, AdmissionRule):
        return value
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        items = list(value)
    else:
        raise ValueError("expected comma-separated CIDRs and/or the word topology")
    networks: list[str] = []
    topology = False
    for item in (i.strip() for i in items):
        if not item:
            continue
        if item.lower() == TOPOLOGY_WORD:
            topology = True
            continue
        try:
            network = ipaddress.ip_network(item, strict=True)
        except ValueError as exc:
            raise ValueError(
                f"{item!r} is not a CIDR (like 10.0.0.0/8 or 2001:db8::/32) nor the word "
                f"topology: {exc}"
            ) from None
        if str(network) not in networks:
            networks.append(str(network))
    return AdmissionRule(tuple(networks), topology)


def topology_agents(topology: Topology | None) -> frozenset[bytes]:
    """The packed addresses of the agents the topology's ``nodes`` block names."""
    if topology is None:
        return frozenset()
    out: set[bytes] = set()
    for spec in topology.nodes.values():
        try:
            out.add(ipaddress.ip_address(spec.agent.strip()).packed)
        except ValueError:
            continue  # not an address: no datagram can carry it
    return frozenset(out)


def header_address(data: bytes | memoryview) -> tuple[int, bytes] | None:
    """(address type, raw agent address) of an sFlow v5 datagram header (``b""`` for type 0,
    no address); None when the header is not readable that far."""
    if len(data) < _HEADER.size:
        return None
    version, address_type = _HEADER.unpack_from(data, 0)
    if version != 5:
        return None
    if address_type == 0:
        return 0, b""
    size = _ADDRESS_SIZE.get(address_type)
    if size is None or len(data) < _HEADER.size + size:
        return None
    return address_type, bytes(data[_HEADER.size : _HEADER.size + size])


class AgentAdmission:
    """One receiver's judge of a rule that restricts (``AdmissionRule.restricts``)."""

    __slots__ = ("_cache", "_networks", "_topology_agents", "rule")

    def __init__(self, rule: AdmissionRule, topology: Topology | None = None) -> None:
        self.rule = rule
        self._networks: tuple[Network, ...] = tuple(ipaddress.ip_network(n) for n in rule.networks)
        self._topology_agents: frozenset[bytes] = frozenset()
        self._cache: dict[bytes, bool] = {}
        self.set_topology(topology)

    def set_topology(self, topology: Topology | None) -> None:
        """A topology was installed: its agents are the ones ``topology`` admits now."""
        if self.rule.topology:
            self._topology_agents = topology_agents(topology)
            self._cache = {}

    @property
    def cached_decisions(self) -> int:
        """Addresses whose decision is cached now (bounded by ``MAX_CACHED_DECISIONS``)."""
        return len(self._cache)

    def admits_address(self, packed: bytes) -> bool:
        """The decision for a raw agent address (4 or 16 bytes; anything else is refused)."""
        decision = self._cache.get(packed)
        if decision is None:
            decision = self._decide(packed)
            if len(self._cache) >= MAX_CACHED_DECISIONS:
                self._cache = {}  # bounded: a flood of spoofed addresses costs recomputation
            self._cache[packed] = decision
        return decision

    def admits(self, data: bytes | memoryview) -> bool | None:
        """True / False for a datagram whose header names an IPv4 or IPv6 agent; False for one
        naming no address (type 0: nothing to admit); None when the header is not a readable
        sFlow v5 header (the decoder rejects it and counts why)."""
        found = header_address(data)
        if found is None:
            return None
        return self.admits_address(found[1]) if found[1] else False

    def _decide(self, packed: bytes) -> bool:
        if self.rule.topology and packed in self._topology_agents:
            return True
        if len(packed) == 4:
            address: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(packed)
        elif len(packed) == 16:
            address = ipaddress.IPv6Address(packed)
            mapped = address.ipv4_mapped
            if mapped is not None:  # an IPv4 agent written as ::ffff:a.b.c.d
                if self.rule.topology and mapped.packed in self._topology_agents:
                    return True
                if any(mapped in n for n in self._networks if n.version == 4):
                    return True
        else:
            return False
        return any(address in n for n in self._networks if n.version == address.version)

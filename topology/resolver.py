"""Resolve (agent, ifIndex) to a topology port, from the ``nodes`` block or learned names.

Order (as in the topology format's documentation): the ``nodes`` block's explicit mapping first;
failing that, the agent's node is the one the ``nodes`` block gives it or the hostname it sends
in host_descr (counter record 2000), and the port is the ifName it sends in port_name (counter
record 1005). Without a node and a port name, a port cannot be classified and resolves to None.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from topology.index import PortInfo, TopologyIndex

DEFAULT_MAX_AGENTS = 100_000
DEFAULT_MAX_PORTS_PER_AGENT = 4096
_NO_NAMES: Mapping[int, str] = MappingProxyType({})


class PortResolver:
    """Caches lookups per agent; learning a name invalidates only that agent's entries."""

    __slots__ = (
        "_cache",
        "_hostnames",
        "_index",
        "_port_names",
        "max_agents",
        "max_ports_per_agent",
    )

    def __init__(
        self,
        index: TopologyIndex | None = None,
        *,
        max_agents: int = DEFAULT_MAX_AGENTS,
        max_ports_per_agent: int = DEFAULT_MAX_PORTS_PER_AGENT,
    ) -> None:
        self._index = index
        self.max_agents = max_agents
        self.max_ports_per_agent = max_ports_per_agent
        self._hostnames: dict[str, str] = {}
        self._port_names: dict[str, dict[int, str]] = {}
        self._cache: dict[str, dict[int, PortInfo | None]] = {}

    @property
    def index(self) -> TopologyIndex | None:
        """The topology in use (None: no topology loaded)."""
        return self._index

    def set_index(self, index: TopologyIndex | None) -> None:
        """Swap in another topology; cached results are dropped, learned names kept."""
        self._index = index
        self._cache = {}

    def learn_hostname(self, agent: str, hostname: str) -> None:
        """Remember the hostname an agent reports (host_descr)."""
        if self._hostnames.get(agent) == hostname:
            return
        if agent not in self._hostnames and len(self._hostnames) >= self.max_agents:
            return  # bounded: names of agents past the cap are not learned
        self._hostnames[agent] = hostname
        self._cache.pop(agent, None)

    def learn_port_name(self, agent: str, ifindex: int, name: str) -> None:
        """Remember the ifName an agent reports for one of its ports (port_name)."""
        names = self._port_names.get(agent)
        if names is None:
            if len(self._port_names) >= self.max_agents:
                return
            names = self._port_names[agent] = {}
        if names.get(ifindex) == name:
            return
        if ifindex not in names and len(names) >= self.max_ports_per_agent:
            return
        names[ifindex] = name
        cached = self._cache.get(agent)
        if cached is not None:
            cached.pop(ifindex, None)

    def forget(self, agent: str) -> None:
        """Drop everything learned about an agent (it expired)."""
        self._hostnames.pop(agent, None)
        self._port_names.pop(agent, None)
        self._cache.pop(agent, None)

    def hostname(self, agent: str) -> str | None:
        """The hostname learned for an agent."""
        return self._hostnames.get(agent)

    def port_names(self, agent: str) -> Mapping[int, str]:
        """The ifNames learned for an agent's ports, by ifIndex (read-only use)."""
        return self._port_names.get(agent) or _NO_NAMES

    def port_name(self, agent: str, ifindex: int) -> str | None:
        """The ifName learned for a port."""
        names = self._port_names.get(agent)
        return names.get(ifindex) if names is not None else None

    def node_of(self, agent: str) -> str | None:
        """The topology node an agent belongs to, or None."""
        index = self._index
        if index is None:
            return None
        node = index.node_of_agent.get(agent)
        if node is not None:
            return node
        hostname = self._hostnames.get(agent)
        return hostname if hostname is not None and index.is_node(hostname) else None

    def counts_for_topology(self, agent: str) -> bool:
        """True when ``agent`` is a topology node's, or no topology is loaded (then every agent
        counts): the agents whose figures the topology-wide (compatible) series take."""
        return self._index is None or self.node_of(agent) is not None

    def resolve(self, agent: str, ifindex: int) -> PortInfo | None:
        """The topology port of (agent, ifIndex), or None when it cannot be classified."""
        cached = self._cache.get(agent)
        if cached is None:
            if len(self._cache) >= self.max_agents:
                self._cache.clear()  # bounded; entries are cheap to recompute
            cached = self._cache[agent] = {}
        elif ifindex in cached:
            return cached[ifindex]
        info = self._lookup(agent, ifindex)
        if len(cached) < self.max_ports_per_agent:
            cached[ifindex] = info
        return info

    def _lookup(self, agent: str, ifindex: int) -> PortInfo | None:
        index = self._index
        if index is None:
            return None
        explicit = index.explicit(agent, ifindex)
        if explicit is not None:
            return explicit
        node = self.node_of(agent)
        if node is None:
            return None
        port = self.port_name(agent, ifindex)
        if port is None:
            return None
        return index.port_info(node, port)

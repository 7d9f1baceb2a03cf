"""The sFlow-RT topology: validated models, an immutable index and (agent, ifIndex) resolution.

Public API: ``load_topology`` / ``parse_topology`` (raise ``TopologyError``, one line naming the
JSON location), ``TopologyIndex`` (built once, swapped whole on reload) and ``PortResolver``.
"""

from topology.index import CORE, EDGE, ROLES, UNMAPPED, PortInfo, TopologyIndex
from topology.model import (
    LinkSpec,
    NodeSpec,
    PortSpec,
    Topology,
    TopologyError,
    load_topology,
    parse_topology,
    topology_to_json,
)
from topology.resolver import PortResolver

__all__ = [
    "CORE",
    "EDGE",
    "ROLES",
    "UNMAPPED",
    "LinkSpec",
    "NodeSpec",
    "PortInfo",
    "PortResolver",
    "PortSpec",
    "Topology",
    "TopologyError",
    "TopologyIndex",
    "load_topology",
    "parse_topology",
    "topology_to_json",
]

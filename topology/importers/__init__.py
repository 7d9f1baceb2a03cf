"""Topology importers: DOT, containerlab, NetQ and Arista eAPI LLDP, NetBox cables → sFlow-RT.

Each importer is a pure function ``import_X(sources, options) -> ImportResult`` over ``Source``
objects (a file name and its text); bad input raises ``TopologyImportError`` whose message names
the file and the line or JSON object. ``IMPORTERS`` maps the ``--from`` names to them.
"""

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from topology.importers.clab import import_clab
from topology.importers.dot import import_dot
from topology.importers.eapi import import_eapi
from topology.importers.fabric_links import ImportResult
from topology.importers.netbox import import_netbox
from topology.importers.netq import import_netq
from topology.importers.source import (
    ImportOptions,
    Source,
    TopologyImportError,
    source_from_bytes,
)

Importer = Callable[[Sequence[Source], ImportOptions], ImportResult]

IMPORTERS: Mapping[str, Importer] = MappingProxyType(
    {
        "dot": import_dot,
        "clab": import_clab,
        "netq": import_netq,
        "eapi": import_eapi,
        "netbox": import_netbox,
    }
)

__all__ = [
    "IMPORTERS",
    "ImportOptions",
    "ImportResult",
    "Importer",
    "Source",
    "TopologyImportError",
    "import_clab",
    "import_dot",
    "import_eapi",
    "import_netbox",
    "import_netq",
    "source_from_bytes",
]

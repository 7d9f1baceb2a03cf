"""The topology in use and its version: installed whole, then announced to whoever must know.

The holder does not know the service: it is given two callables, ``on_install(topology,
version)`` (the service broadcasts to the receivers and the aggregator) and ``count(outcome)``
(``ok`` or ``error``, the ``topology_reloads`` counter). Both reload paths, SIGHUP and
``PUT /topology/json``, go through ``reload`` so they validate, count and swap the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from topology.model import Topology, TopologyError, parse_topology, topology_to_json

log = logging.getLogger("fabricscope")


class TopologyHolder:
    """The current topology and its version; swaps are whole-object, then announced."""

    def __init__(
        self,
        on_install: Callable[[Topology | None, int], None],
        count: Callable[[str], None],
    ) -> None:
        self._on_install = on_install
        self._count = count
        self.topology: Topology | None = None
        self.version = 0

    def install(self, topology: Topology | None) -> int:
        """Make ``topology`` current everywhere; returns its version."""
        self.version += 1
        self.topology = topology
        self._on_install(topology, self.version)
        return self.version

    def reload(self, load: Callable[[], Topology]) -> int:
        """Validate with ``load()`` then install; a bad topology is counted and re-raised,
        leaving the current one in place."""
        try:
            topology = load()
        except TopologyError:
            self._count("error")
            raise
        self._count("ok")
        return self.install(topology)

    def current_json(self) -> dict[str, Any] | None:
        """sFlow-RT GET form."""
        if self.topology is None:
            return None
        return topology_to_json(self.topology, self.version)

    def replace_json(self, body: bytes) -> int:
        """PUT /topology/json: validate, then swap; a bad one leaves the old in place."""
        version = self.reload(lambda: parse_topology(body))
        assert self.topology is not None
        log.info("topology replaced over HTTP: %d links", len(self.topology.links))
        return version

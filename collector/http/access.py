"""What the HTTP resources read, as Protocols, and how they answer JSON.

The routes depend on these shapes, not on the classes behind them: ``AggregatorView`` is what
``collector.aggregate.aggregator.Aggregator`` offers the faces, ``TopologyAccess`` what the
serve room's topology holder offers, ``CompatAccess`` what ``collector.compat.face.CompatFace``
offers, ``FlowAccess`` what the serve room's flow store offers, ``EventAccess`` what the
aggregator's health analysis offers. Tests hand the routes small
stand-ins of the same shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from aiohttp import web

if TYPE_CHECKING:
    from collector.aggregate.fabric_view import FabricView
    from collector.delta import AgentStatus, Labels, PortStatus
    from collector.flows.definition import FlowDefinition
    from topology.index import TopologyIndex


class AggregatorView(Protocol):
    """What the routes read from the aggregator: topology, statuses, counters and rates."""

    @property
    def index(self) -> TopologyIndex | None:
        """The topology in use."""

    @property
    def agents(self) -> Mapping[tuple[str, int], AgentStatus]:
        """Latest agent statuses."""

    @property
    def ports(self) -> Mapping[tuple[str, int], PortStatus]:
        """Latest port statuses."""

    @property
    def view(self) -> FabricView:
        """Locate table, drop log, flow activity."""

    @property
    def counters(self) -> Mapping[str, Mapping[Labels, float]]:
        """Cumulative counters by family."""

    def rates(self, family: str) -> Mapping[Labels, float]:
        """Smoothed per-second rates of one family by labels."""


class TopologyAccess(Protocol):
    """What the routes need from the topology holder."""

    def current_json(self) -> dict[str, Any] | None:
        """The topology in sFlow-RT GET form, or None."""

    def replace_json(self, body: bytes) -> int:
        """Validate and install a topology; returns its version, raises ``TopologyError``."""


class CompatAccess(Protocol):
    """What the routes need from the compatible face."""

    def prometheus(self) -> bytes:
        """The ai-metrics Prometheus text."""

    def points(self) -> dict[str, Any]:
        """The latest ``points``."""

    def period(self) -> dict[str, Any]:
        """The period detector's state."""

    def trend(self, after: int | None = None) -> dict[str, Any]:
        """The 1-second trend, after ``after`` ms when given."""


class FlowAccess(Protocol):
    """What the flow routes need from the serve room's flow store."""

    def named(self) -> dict[str, FlowDefinition]:
        """The named definitions."""

    def get(self, name: str) -> FlowDefinition | None:
        """One active definition by name."""

    def put(self, name: str, document: Any) -> FlowDefinition:
        """Install a named definition; raises ``FlowSpecError``."""

    def delete(self, name: str) -> bool:
        """Remove a named definition; False when there was none."""

    def ensure(self, document: dict[str, Any]) -> FlowDefinition:
        """The scrape-made definition of a Prometheus flow query; raises ``FlowSpecError``."""


class EventView(Protocol):
    """One event of the fabric-health stream."""

    @property
    def type(self) -> str:
        """The event type (``collector.families.EVENT_TYPES``)."""

    def to_json(self) -> dict[str, Any]:
        """The event as the stream lists it."""


class EventAccess(Protocol):
    """What the event route needs from the aggregator's health analysis."""

    @property
    def last_id(self) -> int:
        """The number of the latest event (0 before the first)."""

    def after(self, event_id: int, limit: int = 1000) -> Sequence[EventView]:
        """The kept events numbered above ``event_id``, oldest first."""


def json_bytes(document: object) -> bytes:
    """Compact JSON encoding used by every handler."""
    return json.dumps(document, separators=(",", ":")).encode()


def json_response(document: object) -> web.Response:
    """A 200 ``application/json`` response of ``document``, compactly encoded."""
    return web.Response(body=json_bytes(document), content_type="application/json")

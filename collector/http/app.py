"""The aiohttp application: one place that mounts every HTTP resource of ``fabricscope serve``.

=============================  ==============  ============================================
resource                       module          paths
=============================  ==============  ============================================
native scrape, health          ``native``      ``/metrics``, ``/healthz``
topology document              ``topology``    ``/topology/json`` (and the topology app's)
compatible face                ``ai_metrics``  ``/app/ai-metrics/scripts/metrics.js/…``
status, locate, drops          ``fabric``      ``/topology/status/json``, ``/locate/json``,
                                               ``/drops/json`` (and the topology app's)
web UI, agents, links          ``ui``          ``/``, ``/static/…``, ``/agents/json``,
                                               ``/links/json``
port facts                     ``ports``       ``/ports/json``
fabric-health events           ``events``      ``/events/json``
flow definitions, top flows    ``flows``       ``/flow/…``, ``/activeflows/…``,
                                               ``/flowkeys/json``, the prometheus app's
                                               ``…/export.js/flows/{agent}/txt``
=============================  ==============  ============================================

Handlers only read what they are given (``collector.http.access``); none decodes sFlow. Every
request passes ``collector.http.authority`` first: reads are open, writes need the API token
(or, with none set, a loopback client).

Slow clients hold nothing for ever (``collector.http.settings``): a connection that has not
sent a whole request head that long after it opened (or after its last answer) is closed, and a
request body still not read whole by then is answered 408. A body sent to a read path is never
buffered: the answer goes out at once and the rest is read and discarded in 64 KiB pieces.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from collector.http.access import (
    AggregatorView,
    CompatAccess,
    EventAccess,
    FlowAccess,
    TopologyAccess,
)
from collector.http.ai_metrics import add_ai_metrics_routes
from collector.http.authority import authority_middleware
from collector.http.events import add_event_routes
from collector.http.fabric import add_fabric_routes
from collector.http.flows import add_flow_routes
from collector.http.native import add_native_routes
from collector.http.ports import add_ports_routes
from collector.http.settings import HttpSettings
from collector.http.topology import add_topology_routes
from collector.http.ui import add_ui_routes
from topology.model import MAX_TOPOLOGY_BYTES

if TYPE_CHECKING:
    from collector.aggregate.flow_table import FlowTables


def create_app(
    *,
    render_metrics: Callable[[], bytes],
    topology: TopologyAccess,
    compat: CompatAccess | None = None,
    aggregator: AggregatorView | None = None,
    static_dir: Path | None = None,
    health: Callable[[], list[str]] | None = None,
    api_token: str | None = None,
    flows: FlowAccess | None = None,
    flow_tables: FlowTables | None = None,
    settings: HttpSettings | None = None,
    events: EventAccess | None = None,
) -> web.Application:
    """The application: native and topology routes always, the compatible face's when given,
    the aggregator's resources (status, locate, drops, UI, ports) when given; writes need
    ``api_token`` (None: loopback clients only); the flow routes when the flow store and the
    aggregator's flow tables are given; the event stream when ``events`` is given."""
    app = web.Application(
        client_max_size=MAX_TOPOLOGY_BYTES, middlewares=[authority_middleware(api_token)]
    )
    add_native_routes(app, render_metrics, health)
    add_topology_routes(app, topology, (settings or HttpSettings()).request_timeout)
    if compat is not None:
        add_ai_metrics_routes(app, compat)
    if aggregator is not None:
        add_fabric_routes(app, aggregator)
        add_ui_routes(app, aggregator, static_dir)
        add_ports_routes(app, aggregator)
    if flows is not None and flow_tables is not None:
        add_flow_routes(app, flows, flow_tables)
    if events is not None:
        add_event_routes(app, events)
    return app

"""Fabric-health scenarios: one cause of trouble switched on at a known time, with its truth.

``--scenario NAME`` (``simulate`` and ``demo``; ``healthy`` is the default and changes nothing)
adds one cause to the ordinary traffic at ``--scenario-start`` seconds of virtual time:

==================  ===========================================================================
scenario            cause
==================  ===========================================================================
incast              four steady RDMA WRITE elephants from NICs on other leaves onto one host
                    port (each offered at half line rate: the port is offered 200 %)
ecmp-polarised      two steady elephants from one leaf pinned by the hash to one uplink (each
                    offered at 60 % of line rate) while parallel uplinks of that leaf carry none
hot-port            one host port starts discarding (tail drops, notified) and counting input
                    errors, with no change of traffic
link-flap           one leaf–spine link goes down for 2 s, up for 2 s, down again for 2 s
==================  ===========================================================================

:func:`build_scenario` turns a name into a :class:`ScenarioPlan` for a fabric and its traffic
model: the flows it adds to the model, the faults it adds, the discards and errors it injects,
and the ``scenario`` section of the truth file (its name, start, and the cause: node, port,
culprit pairs, the polarised uplink and its idle siblings, the link transitions), derived from
the fabric tables, never from what the collector reports.
"""

from __future__ import annotations

import math
import socket
from dataclasses import dataclass, field
from typing import Any

from simulator.fabric import Fabric
from simulator.faults import Fault
from simulator.traffic import TrafficModel

__all__ = ["DEFAULT_START", "SCENARIOS", "ScenarioPlan", "build_scenario"]

SCENARIOS = ("healthy", "incast", "ecmp-polarised", "hot-port", "link-flap")
DEFAULT_START = 3.0  # seconds of virtual time: after the collector has its first counters
INCAST_SENDERS = 4
INCAST_LOAD = 0.5  # of each sender's line rate: 4 × 0.5 = 200 % of the receiving port
POLARISED_LOAD = 0.6  # of each sender's line rate: 2 × 0.6 = 120 % of the pinned uplink
HOT_DISCARDS = 200.0  # discarded packets/s on the hot port (tail drops, notified)
HOT_ERRORS = 20.0  # input errors/s on the hot port
FLAP_DOWN = 2.0  # seconds down, then as long up, then down again
FLAPS = 2


@dataclass(slots=True)
class ScenarioPlan:
    """What one scenario adds to a run (nothing for ``healthy``)."""

    name: str = "healthy"
    start: float = math.inf
    faults: tuple[Fault, ...] = ()
    discards: dict[int, float] = field(default_factory=dict)  # port → discards/s (out)
    errors: dict[int, float] = field(default_factory=dict)  # port → input errors/s
    cause: dict[str, Any] = field(default_factory=dict)

    def active(self, t: float) -> bool:
        """True once the scenario's cause has started (it lasts to the end of the run)."""
        return t >= self.start

    def truth(self) -> dict[str, Any]:
        """The truth file's ``scenario`` section."""
        return {
            "name": self.name,
            "start": None if math.isinf(self.start) else self.start,
            "cause": self.cause,
        }


def _ip(fabric: Fabric, nic: int) -> str:
    raw = fabric.nic_ip[nic]
    return socket.inet_ntop(socket.AF_INET6 if len(raw) == 16 else socket.AF_INET, raw)


def _nics_of(fabric: Fabric, leaf: int) -> list[int]:
    return [n for n in range(fabric.n_nics) if fabric.port_switch[fabric.nic_port[n]] == leaf]


def _end(fabric: Fabric, port: int) -> dict[str, str]:
    return {"node": fabric.switch_names[fabric.port_switch[port]], "port": fabric.port_name(port)}


def _busy_uplinks(fabric: Fabric, model: TrafficModel, leaf: int) -> set[int]:
    """The leaf's uplinks that carry a job's or a scenario's data subflow (background not)."""
    paths = model.paths(frozenset())
    busy: set[int] = set()
    subs = [s for job in model.job_subs for s in job] + model.scenario_subs
    for s in subs:
        if model.sub_data[s]:
            for hop in paths[s]:
                if hop[0] == leaf:
                    busy.add(hop[2])
    return busy & set(fabric.uplinks_of(leaf))


def _incast(fabric: Fabric, model: TrafficModel, plan: ScenarioPlan) -> None:
    victim = 0  # the first NIC: leaf1's first host port
    target_leaf = fabric.port_switch[fabric.nic_port[victim]]
    others = [_nics_of(fabric, leaf) for leaf in range(fabric.n_leaves) if leaf != target_leaf] or [
        [n for n in _nics_of(fabric, target_leaf) if n != victim]
    ]
    senders: list[int] = []
    depth = 0
    while len(senders) < INCAST_SENDERS and depth < max(len(o) for o in others):
        for nics in others:
            if depth < len(nics) and len(senders) < INCAST_SENDERS:
                senders.append(nics[depth])
        depth += 1
    if len(senders) < 2:
        raise ValueError("scenario incast needs at least three GPU NICs")
    for a in senders:
        model.add_scenario_flow(a, victim, INCAST_LOAD)
    port = fabric.nic_port[victim]
    plan.cause = {
        **_end(fabric, port),
        "speed": fabric.port_speed[port],
        "offered": INCAST_LOAD * len(senders),
        "pairs": [[_ip(fabric, a), _ip(fabric, victim)] for a in senders],
    }


def _polarised(fabric: Fabric, model: TrafficModel, plan: ScenarioPlan) -> None:
    if fabric.n_leaves < 2 or fabric.spec.spines < 1:
        raise ValueError("scenario ecmp-polarised needs two leaves and a spine")
    leaf, other = 0, 1
    uplinks = fabric.uplinks_of(leaf)
    if len(uplinks) < 2:
        raise ValueError("scenario ecmp-polarised needs at least two uplinks per leaf")
    busy = _busy_uplinks(fabric, model, leaf)
    idle = [u for u in uplinks if u not in busy]
    if len(idle) < 2:
        raise ValueError("scenario ecmp-polarised needs two uplinks of leaf1 without elephants")
    pinned = idle[0]
    src, dst = _nics_of(fabric, leaf), _nics_of(fabric, other)
    if len(src) < 2 or len(dst) < 2:
        raise ValueError("scenario ecmp-polarised needs two GPU NICs on each of two leaves")
    pairs = [(src[-1], dst[-1]), (src[-2], dst[-2])]
    for a, b in pairs:
        model.add_scenario_flow(a, b, POLARISED_LOAD, pinned)
    still_idle = [u for u in uplinks if u not in _busy_uplinks(fabric, model, leaf)]
    plan.cause = {
        **_end(fabric, pinned),
        "speed": fabric.port_speed[pinned],
        "offered": POLARISED_LOAD * len(pairs),
        "pairs": [[_ip(fabric, a), _ip(fabric, b)] for a, b in pairs],
        "idle_uplinks": [fabric.port_name(u) for u in still_idle],
    }


def _hot_port(fabric: Fabric, plan: ScenarioPlan) -> None:
    nic = min(fabric.n_nics - 1, fabric.n_nics // 2 + 3)  # a host port away from the others
    port = fabric.nic_port[nic]
    plan.discards[port] = HOT_DISCARDS
    plan.errors[port] = HOT_ERRORS
    plan.cause = {**_end(fabric, port), "discards_per_s": HOT_DISCARDS, "errors_per_s": HOT_ERRORS}


def _link_flap(fabric: Fabric, plan: ScenarioPlan) -> None:
    if not fabric.link_names:
        raise ValueError("scenario link-flap needs a leaf–spine link")
    link = fabric.link_index.get(f"{fabric.switch_names[min(1, fabric.n_leaves - 1)]}-spine1", 0)
    name = fabric.link_names[link]
    a, b = fabric.link_ports[link]
    transitions: list[dict[str, Any]] = []
    faults: list[Fault] = []
    for k in range(FLAPS):
        down = plan.start + 2 * k * FLAP_DOWN
        faults.append(Fault("linkdown", name, 0.0, down, down + FLAP_DOWN))
        transitions += [{"time": down, "state": "down"}, {"time": down + FLAP_DOWN, "state": "up"}]
    plan.faults = tuple(faults)
    plan.cause = {
        "link": name,
        "ends": [_end(fabric, a), _end(fabric, b)],
        "transitions": transitions,
    }


def build_scenario(
    name: str, fabric: Fabric, model: TrafficModel, start: float = DEFAULT_START
) -> ScenarioPlan:
    """The plan of scenario ``name`` (adds its flows to ``model``); ``ValueError`` when the
    name is unknown or the fabric too small for it."""
    if name not in SCENARIOS:
        raise ValueError(f"scenario {name!r} is not one of {', '.join(SCENARIOS)}")
    if name == "healthy":
        return ScenarioPlan()
    if start < 0:
        raise ValueError("scenario start must be ≥ 0")
    plan = ScenarioPlan(name, start)
    if name == "incast":
        _incast(fabric, model, plan)
    elif name == "ecmp-polarised":
        _polarised(fabric, model, plan)
    elif name == "hot-port":
        _hot_port(fabric, plan)
    else:
        _link_flap(fabric, plan)
    return plan

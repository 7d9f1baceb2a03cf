"""NetBox ``/api/dcim/cables/`` JSON (what ``curl …/api/dcim/cables/?limit=0`` returns).

A cable is ``{id, a_terminations: [{object_type, object: {name, device: {name}}}], b_terminations,
status: {value}}`` (NetBox 3.3 and later) or ``{termination_a_type, termination_a: {name, device},
termination_b_type, termination_b, …}`` (earlier). Only connected interface-to-interface cables
with one interface at each end are links. Device roles are not in the cable export: give the
devices export (``/api/dcim/devices/``, recognised by its ``device_type`` objects) as another
FILE and ``--roles leaf,spine`` keeps cables whose both devices have one of those roles; the
devices' primary IP addresses become the agents. Pages (``next``) can be given as several files.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from topology.importers.fabric_links import ImportResult, LinkCollector
from topology.importers.source import (
    ImportOptions,
    Source,
    TopologyImportError,
    agent_address,
    type_name,
)

INTERFACE = "dcim.interface"
KEPT_STATUS = frozenset({"connected"})


@dataclass(frozen=True, slots=True)
class _Device:
    name: str
    roles: frozenset[str]
    agent: str | None


def _results(source: Source) -> list[Any]:
    document = source.json()
    if isinstance(document, list):
        return document
    if not isinstance(document, dict) or not isinstance(document.get("results"), list):
        raise source.error("", 'no "results" array (is this a NetBox API list response?)')
    results: list[Any] = document["results"]
    return results


def _is_devices(results: list[Any]) -> bool:
    first = next((r for r in results if isinstance(r, dict)), None)
    return first is not None and "device_type" in first


def _name_of(obj: Any) -> str | None:
    if isinstance(obj, dict):
        for key in ("name", "display"):
            value = obj.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
    return None


def _device(source: Source, where: str, row: Any) -> _Device:
    name = _name_of(row)
    if name is None:
        raise source.error(where, "device has no name")
    roles: set[str] = set()
    for key in ("role", "device_role"):  # NetBox 4 renamed device_role to role
        role = row.get(key)
        if isinstance(role, dict):
            roles.update(str(role[k]).lower() for k in ("slug", "name") if role.get(k))
    agent = None
    for key in ("primary_ip4", "primary_ip6", "primary_ip"):
        ip = row.get(key)
        if isinstance(ip, dict) and isinstance(ip.get("address"), str):
            agent = agent_address(source, f"{where}.{key}.address", ip["address"])
            break
    return _Device(name, frozenset(roles), agent)


def _end(source: Source, where: str, cable: dict[str, Any], side: str) -> tuple[str, str] | None:
    """The (device, interface) of one side, or None when it is not a single interface."""
    terms = cable.get(f"{side}_terminations")
    if terms is not None:
        if not isinstance(terms, list):
            raise source.error(f"{where}.{side}_terminations", f"not an array ({type_name(terms)})")
        if len(terms) != 1 or not isinstance(terms[0], dict):
            return None
        kind, obj, at = (
            terms[0].get("object_type"),
            terms[0].get("object"),
            f"{side}_terminations[0].object",
        )
    elif f"termination_{side}" in cable:
        kind, obj, at = (
            cable.get(f"termination_{side}_type"),
            cable[f"termination_{side}"],
            f"termination_{side}",
        )
    else:
        raise source.error(where, f"no {side}_terminations or termination_{side}")
    if kind != INTERFACE:
        return None
    port = _name_of(obj)
    device = _name_of(obj.get("device")) if isinstance(obj, dict) else None
    if port is None or device is None:
        raise source.error(f"{where}.{at}", "interface without a name or a device name")
    return device, port


def _status(cable: dict[str, Any]) -> str:
    status = cable.get("status")
    if isinstance(status, dict):
        status = status.get("value")
    return status.lower() if isinstance(status, str) else "connected"


def import_netbox(sources: Sequence[Source], options: ImportOptions) -> ImportResult:
    """Links from NetBox cables between devices of the chosen roles (all devices without
    ``--roles``); agents from the devices export when given."""
    cables: list[tuple[Source, int, Any]] = []
    devices: dict[str, _Device] = {}
    for source in sources:
        results = _results(source)
        if _is_devices(results):
            for i, row in enumerate(results):
                device = _device(source, f"results[{i}]", row)
                devices[device.name] = device
        else:
            cables.extend((source, i, row) for i, row in enumerate(results))
    roles = {r.lower() for r in options.roles}
    if roles and not devices:
        raise TopologyImportError(
            "", "", "--roles needs the devices export (/api/dcim/devices/) as one of the FILEs"
        )

    def is_switch(name: str) -> bool:
        if not options.matches_switch(name):
            return False
        if not devices:
            return True
        device = devices.get(name)
        return device is not None and (not roles or bool(device.roles & roles))

    collector = LinkCollector(sources[0].name if sources else "")
    for name, device in devices.items():
        if is_switch(name):
            collector.add_node(name, device.agent)
    skipped: Counter[str] = Counter()
    for source, i, cable in cables:
        where = f"results[{i}]"
        if not isinstance(cable, dict):
            raise source.error(where, f"expected an object, found {type_name(cable)}")
        if _status(cable) not in KEPT_STATUS:
            skipped["not connected"] += 1
            continue
        a, b = _end(source, where, cable, "a"), _end(source, where, cable, "b")
        if a is None or b is None:
            skipped["not one interface at each end"] += 1
            continue
        if not (is_switch(a[0]) and is_switch(b[0])):
            skipped["to a device that is not a switch"] += 1
            continue
        cable_id = cable.get("id")
        at = f"{where} (cable {cable_id})" if isinstance(cable_id, int) else where
        collector.add_link(a, b, at, source=source.name)
    notes = [f"{n} cables skipped: {why}" for why, n in sorted(skipped.items())]
    return ImportResult(collector.build(), tuple(notes))

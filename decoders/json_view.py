"""JSON-ready view of a decoded datagram: ``datagram_to_dict`` (what ``fabricscope decode`` prints).

The datagram and sample levels have a fixed shape; flow and counter records are rendered
generically from their dataclass fields, so a record type added to ``decoders.records`` shows up
without changes here. Conversions: ``bytes`` → lowercase hex, tuples → lists, nested dataclasses
→ objects, and fields whose value is ``None`` are left out of records (the parsed packet of a
sampled header is sparse: absent layers are simply missing).

Record shape: ``{"enterprise": e, "format": f, "name": NAME, "fields": {...}}``. The decoded
fields are nested rather than merged because several records have fields that would collide with
the record's own keys (``PortName.name``, ``ExtendedAcl.name``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from decoders.drop_reasons import drop_reason_name
from decoders.records import (
    CounterSample,
    Datagram,
    DataSource,
    DropSample,
    FlowSample,
    Interface,
    RawRecord,
    RawSample,
)

__all__ = [
    "datagram_to_dict",
    "interface_to_dict",
    "record_format",
    "record_to_dict",
    "sample_to_dict",
    "to_json_value",
]

# Sample formats (enterprise 0) by kind and encoding, for the "format" key of known samples.
_FLOW_FORMAT = {False: 1, True: 3}
_COUNTER_FORMAT = {False: 2, True: 4}
_DROP_FORMAT = 5


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _field_names(obj: object) -> tuple[str, ...]:
    """Field names of a dataclass instance, cached per class."""
    cls = type(obj)
    names = _FIELD_NAMES.get(cls)
    if names is None:
        fields = dataclasses.fields(obj) if dataclasses.is_dataclass(obj) else ()
        names = _FIELD_NAMES[cls] = tuple(f.name for f in fields)
    return names


def record_format(record: object) -> tuple[int, int]:
    """(enterprise, format) of a decoded record (ClassVars) or a RawRecord (its fields)."""
    if isinstance(record, RawRecord):
        return record.enterprise, record.format
    cls = type(record)
    return int(getattr(cls, "ENTERPRISE", -1)), int(getattr(cls, "FORMAT", -1))


def to_json_value(value: object) -> Any:
    """Convert a decoded value (dataclass, bytes, tuple, scalar) into JSON-serialisable data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, tuple | list):
        return [to_json_value(item) for item in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields_to_dict(value)
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    return str(value)


def _fields_to_dict(obj: object, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _field_names(obj):
        if name in skip:
            continue
        value = getattr(obj, name)
        if value is not None:
            out[name] = to_json_value(value)
    return out


def record_to_dict(record: object) -> dict[str, Any]:
    """One flow or counter record: enterprise, format, name and the decoded ``fields``."""
    if isinstance(record, RawRecord):
        # enterprise/format are already the record's own keys; data as hex, error when set.
        fields = _fields_to_dict(record, skip=("enterprise", "format"))
        return {
            "enterprise": record.enterprise,
            "format": record.format,
            "name": record.NAME,
            "fields": fields,
        }
    enterprise, fmt = record_format(record)
    return {
        "enterprise": enterprise,
        "format": fmt,
        "name": getattr(record, "NAME", type(record).__name__),
        "fields": _fields_to_dict(record),
    }


def interface_to_dict(interface: Interface) -> dict[str, Any]:
    """A flow sample's input/output word as ``{format, value}`` plus what it means."""
    out: dict[str, Any] = {"format": interface.format, "value": interface.value}
    if interface.ifindex is not None:
        out["ifindex"] = interface.ifindex
    if interface.internal:
        out["internal"] = True
    reason = interface.discard_reason
    if reason is not None:
        out["discard_reason"] = reason
        out["discard_reason_name"] = drop_reason_name(reason)
    if interface.multiple is not None:
        out["multiple"] = interface.multiple
    return out


def _source(source: DataSource) -> dict[str, int]:
    return {"type": source.type, "index": source.index}


def sample_to_dict(sample: object) -> dict[str, Any]:
    """One sample; ``kind`` is flow, counter, drop or unknown (a sample we keep raw)."""
    if isinstance(sample, FlowSample):
        return {
            "kind": sample.KIND,
            "format": _FLOW_FORMAT[sample.expanded],
            "expanded": sample.expanded,
            "sequence": sample.sequence,
            "source_id": _source(sample.source),
            "sampling_rate": sample.sampling_rate,
            "sample_pool": sample.sample_pool,
            "drops": sample.drops,
            "input": interface_to_dict(sample.input),
            "output": interface_to_dict(sample.output),
            "records": [record_to_dict(r) for r in sample.records],
        }
    if isinstance(sample, CounterSample):
        return {
            "kind": sample.KIND,
            "format": _COUNTER_FORMAT[sample.expanded],
            "expanded": sample.expanded,
            "sequence": sample.sequence,
            "source_id": _source(sample.source),
            "records": [record_to_dict(r) for r in sample.records],
        }
    if isinstance(sample, DropSample):
        return {
            "kind": sample.KIND,
            "format": _DROP_FORMAT,
            "expanded": sample.expanded,
            "sequence": sample.sequence,
            "source_id": _source(sample.source),
            "drops": sample.drops,
            "input_ifindex": sample.input_ifindex,
            "output_ifindex": sample.output_ifindex,
            "reason": sample.reason,
            "reason_name": drop_reason_name(sample.reason),
            "records": [record_to_dict(r) for r in sample.records],
        }
    if isinstance(sample, RawSample):
        return {
            "kind": sample.KIND,
            "enterprise": sample.enterprise,
            "format": sample.format,
            "length": len(sample.data),
        }
    # A sample type added later: its KIND plus its fields, records rendered like the others.
    out: dict[str, Any] = {"kind": getattr(sample, "KIND", type(sample).__name__)}
    if dataclasses.is_dataclass(sample):
        for name in _field_names(sample):
            value = getattr(sample, name)
            if name == "records":
                out[name] = [record_to_dict(r) for r in value]
            elif value is not None:
                out[name] = to_json_value(value)
    return out


def datagram_to_dict(d: Datagram) -> dict[str, Any]:
    """The JSON object printed per datagram (without the CLI's ``frame``/``file`` keys)."""
    return {
        "agent": d.agent,
        "sub_agent": d.sub_agent,
        "sequence": d.sequence,
        "uptime_ms": d.uptime_ms,
        "samples": [sample_to_dict(s) for s in d.samples],
    }

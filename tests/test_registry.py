"""The record registry in decoders.records: complete, consistent, and what every table follows.

Each flow/counter record class declares (enterprise, format, name) once; the decoder's parser
tables, the encoder's writer tables, the JSON view and the test strategies must all cover exactly
the registered types, and the registry itself must hold what the specs define.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from decoders import records as rec
from decoders.encode import encode_counter_record, encode_flow_record
from decoders.json_view import record_format, record_to_dict
from decoders.parse import COUNTER_RECORD_PARSERS, FLOW_RECORD_PARSERS, decode_datagram
from decoders.records import RECORD_TYPES, RecordType, record_types
from tests import strategies as S

# What the specs define, pinned here so that a lost, renumbered or renamed record fails
# (the names are the "name" key of `fabricscope decode` output). (kind, format, name), enterprise 0.
SPEC_RECORDS = {
    # sflow_version_5.txt flow_data, sflow_drops.txt (1036–1038), sflow_transit.txt (1039–1040),
    # Host sFlow's sflow.h (1041–1043)
    ("flow", 1, "sampled_header"),
    ("flow", 2, "sampled_ethernet"),
    ("flow", 3, "sampled_ipv4"),
    ("flow", 4, "sampled_ipv6"),
    ("flow", 1001, "extended_switch"),
    ("flow", 1002, "extended_router"),
    ("flow", 1003, "extended_gateway"),
    ("flow", 1036, "extended_egress_queue"),
    ("flow", 1037, "extended_acl"),
    ("flow", 1038, "extended_function"),
    ("flow", 1039, "extended_transit"),
    ("flow", 1040, "extended_queue"),
    ("flow", 1041, "extended_hw_trap"),
    ("flow", 1042, "extended_linux_drop_reason"),
    ("flow", 1043, "extended_timestamp"),
    # sflow_version_5.txt counter_data, sflow_lag.txt (7), sflow_optics.txt (10), sflowtool (11),
    # sflow_host.txt (2000–2001)
    ("counter", 1, "generic_interface"),
    ("counter", 2, "ethernet"),
    ("counter", 5, "vlan"),
    ("counter", 7, "lag_port_stats"),
    ("counter", 10, "sfp"),
    ("counter", 11, "pfc"),
    ("counter", 1001, "processor"),
    ("counter", 1005, "port_name"),
    ("counter", 2000, "host_description"),
    ("counter", 2001, "host_adapters"),
}

STRATEGIES: dict[str, Mapping[type[rec.RecordBase], st.SearchStrategy[Any]]] = {
    "flow": S.FLOW_RECORD_STRATEGIES,
    "counter": S.COUNTER_RECORD_STRATEGIES,
}
PARSERS: dict[str, Mapping[int, object]] = {
    "flow": FLOW_RECORD_PARSERS,
    "counter": COUNTER_RECORD_PARSERS,
}
UNIONS: dict[str, object] = {"flow": rec.FlowRecord, "counter": rec.CounterRecord}


def _ids(t: RecordType) -> str:
    return f"{t.kind}-{t.name}"


def test_registry_holds_the_spec_records() -> None:
    assert {t.enterprise for t in RECORD_TYPES} == {0}
    assert {(t.kind, t.format, t.name) for t in RECORD_TYPES} == SPEC_RECORDS
    assert len(RECORD_TYPES) == len(SPEC_RECORDS)


def test_every_record_class_is_registered_once() -> None:
    declared = {
        obj
        for obj in vars(rec).values()
        if isinstance(obj, type) and issubclass(obj, rec.RecordBase) and obj is not rec.RecordBase
    }
    classes = [t.cls for t in RECORD_TYPES]
    assert len(classes) == len(set(classes)) == len(declared)
    assert set(classes) == declared


def test_formats_unique_per_kind_and_names_unique() -> None:
    keys = [(t.kind, t.enterprise, t.format) for t in RECORD_TYPES]
    names = [t.name for t in RECORD_TYPES]
    assert len(keys) == len(set(keys))
    assert len(names) == len(set(names))
    # The same format number means different records in the two kinds (sflow_version_5.txt).
    flow, counter = ({t.format: t.cls for t in record_types(k)} for k in ("flow", "counter"))
    assert flow[1001] is rec.ExtendedSwitch and counter[1001] is rec.ProcessorCounters


@pytest.mark.parametrize("t", RECORD_TYPES, ids=_ids)
def test_class_attributes_are_the_registry_entry(t: RecordType) -> None:
    assert (t.enterprise, t.format, t.name) == (t.cls.ENTERPRISE, t.cls.FORMAT, t.cls.NAME)
    assert t.data_format == (t.enterprise << 12) | t.format
    # Registration left the dataclass frozen and slotted (no per-instance dict).
    assert "__slots__" in vars(t.cls) and t.cls.__dataclass_params__.frozen  # type: ignore[attr-defined]


@pytest.mark.parametrize("kind", ["flow", "counter"])
def test_tables_cover_exactly_the_registry(kind: rec.RecordKind) -> None:
    registered = record_types(kind)
    assert set(PARSERS[kind]) == {t.data_format for t in registered}
    assert set(STRATEGIES[kind]) == {t.cls for t in registered}
    assert set(get_args(UNIONS[kind])) == {t.cls for t in registered} | {rec.RawRecord}


_ENCODERS: dict[str, Callable[[Any], bytes]] = {
    "flow": encode_flow_record,
    "counter": encode_counter_record,
}
_OTHER_KIND: dict[rec.RecordKind, rec.RecordKind] = {"flow": "counter", "counter": "flow"}


def _in_datagram(kind: rec.RecordKind, record: bytes) -> bytes:
    """Frame one encoded record in a compact flow (0:1) or counter (0:2) sample (test-side)."""
    if kind == "flow":
        body, sample_format = struct.pack(">8I", 1, 7, 1, 1, 0, 7, 8, 1) + record, 1
    else:
        body, sample_format = struct.pack(">3I", 1, 7, 1) + record, 2
    head = struct.pack(">7I", 5, 1, 0xC0000201, 0, 1, 1000, 1)
    return head + struct.pack(">II", sample_format, len(body)) + body


@pytest.mark.parametrize("t", RECORD_TYPES, ids=_ids)
@given(data=st.data())
def test_encode_parse_and_json_follow_the_registry(t: RecordType, data: st.DataObject) -> None:
    record = data.draw(STRATEGIES[t.kind][t.cls])
    assert type(record) is t.cls
    encoded = _ENCODERS[t.kind](record)
    assert struct.unpack_from(">I", encoded)[0] == t.data_format
    (sample,) = decode_datagram(_in_datagram(t.kind, encoded)).samples
    assert sample.records == (record,)  # type: ignore[union-attr]
    assert record_format(record) == (t.enterprise, t.format)
    view = record_to_dict(record)
    assert (view["enterprise"], view["format"], view["name"]) == (t.enterprise, t.format, t.name)
    with pytest.raises(TypeError, match=f"cannot encode {t.cls.__name__}"):
        _ENCODERS[_OTHER_KIND[t.kind]](record)


@dataclass(frozen=True, slots=True)
class _Unregistered(rec.RecordBase):
    value: int


@pytest.mark.parametrize(
    ("register", "match"),
    [
        (lambda: rec.flow_record(0, 1, "something_new"), "clashes"),  # flow 0:1 is taken
        (lambda: rec.counter_record(0, 3, "extended_switch"), "clashes"),  # name is taken
        (lambda: rec.flow_record(1 << 20, 1, "too_wide"), "does not fit"),
        (lambda: rec.counter_record(0, 4096, "too_wide"), "does not fit"),
    ],
)
def test_registering_a_clash_fails_and_leaves_the_registry_alone(
    register: object, match: str
) -> None:
    before = list(RECORD_TYPES)
    with pytest.raises(ValueError, match=match):
        register()(_Unregistered)  # type: ignore[operator]
    assert before == RECORD_TYPES
    with pytest.raises(ValueError, match="clashes"):
        rec.flow_record(0, 4095, "port_name_again")(rec.PortName)  # already registered
    assert before == RECORD_TYPES


def test_a_table_missing_or_adding_a_class_fails() -> None:
    complete = {t.cls: t.name for t in record_types("counter")}
    assert rec.by_data_format("counter", complete)[(0 << 12) | 1005] == "port_name"
    missing = {c: n for c, n in complete.items() if c is not rec.PortName}
    with pytest.raises(LookupError, match=r"missing \['PortName'\], not registered \[\]"):
        rec.registered("counter", missing)
    extra = {**complete, rec.SampledHeader: "sampled_header"}
    with pytest.raises(LookupError, match=r"missing \[\], not registered \['SampledHeader'\]"):
        rec.by_data_format("counter", extra)

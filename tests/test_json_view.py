"""``decoders.json_view``: the JSON shape ``fabricscope decode`` prints, built from records here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from decoders import DecodeError, decode_datagram, fast
from decoders.json_view import datagram_to_dict, interface_to_dict, record_to_dict, sample_to_dict
from decoders.packet_types import Aeth, Bth, PacketInfo, Reth, RoceInfo
from decoders.records import (
    AsPathSegment,
    CounterSample,
    Datagram,
    DataSource,
    DropSample,
    ExtendedAcl,
    ExtendedGateway,
    ExtendedRouter,
    FlowSample,
    GenericInterfaceCounters,
    Interface,
    PortName,
    RawRecord,
    RawSample,
    SampledHeader,
)
from tests.shared_data import vectors_dir

BTH = Bth(
    opcode=0x0A,
    transport="RC",
    operation="RDMA_WRITE_ONLY",
    solicited_event=False,
    mig_req=True,
    pad_count=0,
    tver=0,
    pkey=0xFFFF,
    fecn=False,
    becn=False,
    dest_qp=0x123,
    ack_req=True,
    psn=1000,
)
ROCE_PACKET = PacketInfo(
    header_protocol=1,
    src_mac="02:00:00:00:00:01",
    dst_mac="02:00:00:00:00:02",
    vlans=(100,),
    ethertype=0x0800,
    ip_version=4,
    src_ip="10.0.0.1",
    dst_ip="10.0.0.2",
    ip_protocol=17,
    dscp=26,
    ecn=3,
    ttl=64,
    ip_length=1072,
    src_port=49152,
    dst_port=4791,
    roce=RoceInfo(
        bth=BTH,
        reth=Reth(virtual_address=0x7F00_0000_1000, r_key=0xABCD, dma_length=1024),
        aeth=None,
        immediate=None,
        is_cnp=False,
        complete=True,
    ),
)
HEADER = SampledHeader(
    protocol=1, frame_length=1090, stripped=4, header=b"\x02\x00\xff", packet=ROCE_PACKET
)


def flow_sample(**kw: object) -> FlowSample:
    fields: dict[str, object] = {
        "expanded": False,
        "sequence": 7,
        "source": DataSource(0, 3),
        "sampling_rate": 4096,
        "sample_pool": 123456,
        "drops": 2,
        "input": Interface(0, 3),
        "output": Interface(0, 0x3FFFFFFF),
        "records": (HEADER,),
    }
    fields.update(kw)
    return FlowSample(**fields)  # type: ignore[arg-type]


def test_flow_datagram_shape() -> None:
    d = Datagram("192.0.2.1", 1, 5, 1000, 60000, (flow_sample(),))
    out = datagram_to_dict(d)
    assert list(out) == ["agent", "sub_agent", "sequence", "uptime_ms", "samples"]
    assert out["agent"] == "192.0.2.1" and out["sub_agent"] == 5
    assert (out["sequence"], out["uptime_ms"]) == (1000, 60000)
    (sample,) = out["samples"]
    assert sample == {
        "kind": "flow",
        "format": 1,
        "expanded": False,
        "sequence": 7,
        "source_id": {"type": 0, "index": 3},
        "sampling_rate": 4096,
        "sample_pool": 123456,
        "drops": 2,
        "input": {"format": 0, "value": 3, "ifindex": 3},
        "output": {"format": 0, "value": 0x3FFFFFFF, "internal": True},
        "records": [
            {
                "enterprise": 0,
                "format": 1,
                "name": "sampled_header",
                "fields": {
                    "protocol": 1,
                    "frame_length": 1090,
                    "stripped": 4,
                    "header": "0200ff",
                    "packet": {
                        "header_protocol": 1,
                        "src_mac": "02:00:00:00:00:01",
                        "dst_mac": "02:00:00:00:00:02",
                        "vlans": [100],
                        "ethertype": 0x0800,
                        "ip_version": 4,
                        "src_ip": "10.0.0.1",
                        "dst_ip": "10.0.0.2",
                        "ip_protocol": 17,
                        "dscp": 26,
                        "ecn": 3,
                        "ttl": 64,
                        "ip_length": 1072,
                        "src_port": 49152,
                        "dst_port": 4791,
                        "roce": {
                            "bth": {
                                "opcode": 10,
                                "transport": "RC",
                                "operation": "RDMA_WRITE_ONLY",
                                "solicited_event": False,
                                "mig_req": True,
                                "pad_count": 0,
                                "tver": 0,
                                "pkey": 0xFFFF,
                                "fecn": False,
                                "becn": False,
                                "dest_qp": 0x123,
                                "ack_req": True,
                                "psn": 1000,
                            },
                            "reth": {
                                "virtual_address": 0x7F00_0000_1000,
                                "r_key": 0xABCD,
                                "dma_length": 1024,
                            },
                            "is_cnp": False,
                            "complete": True,
                        },
                    },
                },
            }
        ],
    }
    json.dumps(out, allow_nan=False)


def test_none_fields_are_left_out_everywhere_in_records() -> None:
    aeth = Aeth(
        syndrome=0x1F, kind="ACK", value=31, credits=None, rnr_timer_ms=None, nak_code=None, msn=9
    )
    packet = PacketInfo(header_protocol=12, stopped_at="ipv6")
    rendered = record_to_dict(SampledHeader(12, 90, 18, b"", packet))["fields"]["packet"]
    assert rendered == {"header_protocol": 12, "vlans": [], "stopped_at": "ipv6"}
    roce = RoceInfo(BTH, None, aeth, None, False, False)
    info = PacketInfo(header_protocol=1, roce=roce)
    rendered = record_to_dict(SampledHeader(1, 90, 4, b"\x01", info))["fields"]["packet"]
    assert rendered["roce"]["aeth"] == {"syndrome": 31, "kind": "ACK", "value": 31, "msn": 9}
    assert "reth" not in rendered["roce"] and "immediate" not in rendered["roce"]
    router = record_to_dict(ExtendedRouter(None, 24, 16))
    assert router["fields"] == {"src_mask_len": 24, "dst_mask_len": 16}


@pytest.mark.parametrize(
    ("interface", "want"),
    [
        (Interface(0, 0), {"format": 0, "value": 0}),
        (Interface(0, 17), {"format": 0, "value": 17, "ifindex": 17}),
        (Interface(0, 0x3FFFFFFF), {"format": 0, "value": 0x3FFFFFFF, "internal": True}),
        (
            Interface(1, 258),
            {"format": 1, "value": 258, "discard_reason": 258, "discard_reason_name": "acl"},
        ),
        (
            Interface(1, 33),
            {"format": 1, "value": 33, "discard_reason": 33, "discard_reason_name": "dev_hdr"},
        ),
        (
            Interface(1, 9999),
            {
                "format": 1,
                "value": 9999,
                "discard_reason": 9999,
                "discard_reason_name": "unknown_9999",
            },
        ),
        (Interface(2, 7), {"format": 2, "value": 7, "multiple": 7}),
        (Interface(2, 0), {"format": 2, "value": 0, "multiple": 0}),
        (Interface(3, 5), {"format": 3, "value": 5}),
    ],
)
def test_interface_meaning(interface: Interface, want: dict[str, object]) -> None:
    assert interface_to_dict(interface) == want


def test_expanded_flow_sample_format() -> None:
    out = sample_to_dict(flow_sample(expanded=True, records=()))
    assert (out["kind"], out["format"], out["expanded"], out["records"]) == ("flow", 3, True, [])


def test_drop_sample() -> None:
    acl = ExtendedAcl(42, "deny-roce", 2)
    sample = DropSample(True, 11, DataSource(0, 4), 256, 4, 0, 259, (acl,))
    assert sample_to_dict(sample) == {
        "kind": "drop",
        "format": 5,
        "expanded": True,
        "sequence": 11,
        "source_id": {"type": 0, "index": 4},
        "drops": 256,
        "input_ifindex": 4,
        "output_ifindex": 0,
        "reason": 259,
        "reason_name": "no_buffer_space",
        "records": [
            {
                "enterprise": 0,
                "format": 1037,
                "name": "extended_acl",
                "fields": {"number": 42, "name": "deny-roce", "direction": 2},
            }
        ],
    }
    unknown = DropSample(True, 1, DataSource(0, 1), 0, 0, 0, 4000, ())
    assert sample_to_dict(unknown)["reason_name"] == "unknown_4000"


def test_counter_sample_and_colliding_field_names() -> None:
    generic = GenericInterfaceCounters(3, 6, 10**11, 1, 3, *range(14))
    sample = CounterSample(True, 9, DataSource(0, 3), (PortName("Ethernet3"), generic))
    out = sample_to_dict(sample)
    assert (out["kind"], out["format"], out["expanded"]) == ("counter", 4, True)
    assert "sampling_rate" not in out and "input" not in out
    port, counters = out["records"]
    # The record's own "name" and the port name field do not clash.
    assert port == {
        "enterprise": 0,
        "format": 1005,
        "name": "port_name",
        "fields": {"name": "Ethernet3"},
    }
    assert counters["name"] == "generic_interface"
    assert counters["fields"]["if_speed"] == 10**11 and counters["fields"]["promiscuous_mode"] == 13
    assert sample_to_dict(CounterSample(False, 1, DataSource(2, 1), ()))["format"] == 2


def test_raw_records_and_samples() -> None:
    unknown = RawRecord(4413, 1, b"\x00\x01\xfe")
    assert record_to_dict(unknown) == {
        "enterprise": 4413,
        "format": 1,
        "name": "unknown_4413_1",
        "fields": {"data": "0001fe"},
    }
    bad = RawRecord(0, 1001, b"\x00", "record_truncated")
    assert record_to_dict(bad) == {
        "enterprise": 0,
        "format": 1001,
        "name": "malformed_0_1001",
        "fields": {"data": "00", "error": "record_truncated"},
    }
    assert sample_to_dict(RawSample(4300, 1002, b"\0" * 12)) == {
        "kind": "unknown",
        "enterprise": 4300,
        "format": 1002,
        "length": 12,
    }


def test_nested_tuples_of_dataclasses() -> None:
    gateway = ExtendedGateway(
        "2001:db8::1", 65000, 65001, 65002, (AsPathSegment(2, (65002, 65003)),), (1, 2), 100
    )
    assert record_to_dict(gateway)["fields"] == {
        "next_hop": "2001:db8::1",
        "as_number": 65000,
        "src_as": 65001,
        "src_peer_as": 65002,
        "as_path": [{"type": 2, "asns": [65002, 65003]}],
        "communities": [1, 2],
        "local_pref": 100,
    }


@dataclass(frozen=True, slots=True)
class _Lane:
    index: int
    label: str | None


@dataclass(frozen=True, slots=True)
class _FutureRecord:
    """A record type json_view has never heard of."""

    ENTERPRISE: ClassVar[int] = 5703
    FORMAT: ClassVar[int] = 1
    NAME: ClassVar[str] = "nvidia_gpu"
    device_count: int
    uuid: bytes
    lanes: tuple[_Lane, ...]
    note: str | None = None


@dataclass(frozen=True, slots=True)
class _FutureSample:
    KIND: ClassVar[str] = "rtmetric"
    sequence: int
    blob: bytes
    records: tuple[object, ...]


def test_new_record_and_sample_types_need_no_code_changes() -> None:
    record = _FutureRecord(2, b"\xab\xcd", (_Lane(0, "a"), _Lane(1, None)))
    assert record_to_dict(record) == {
        "enterprise": 5703,
        "format": 1,
        "name": "nvidia_gpu",
        "fields": {
            "device_count": 2,
            "uuid": "abcd",
            "lanes": [{"index": 0, "label": "a"}, {"index": 1}],
        },
    }
    sample = _FutureSample(3, b"\x01", (record,))
    out = sample_to_dict(sample)
    assert out["kind"] == "rtmetric" and out["sequence"] == 3 and out["blob"] == "01"
    assert out["records"] == [record_to_dict(record)]


def test_unknown_agent_is_null() -> None:
    out = datagram_to_dict(Datagram(None, 0, 0, 1, 2, ()))
    assert out == {"agent": None, "sub_agent": 0, "sequence": 1, "uptime_ms": 2, "samples": []}


# ---------------------------------------------------------------------------------------------
# Real datagrams: always JSON-serialisable, stable, and every record has the four keys


@cache
def _load_vectors(directory: Path) -> tuple[bytes, ...]:
    return tuple(p.read_bytes() for p in sorted(directory.glob("*.bin")))


def _vectors() -> tuple[bytes, ...]:
    return _load_vectors(vectors_dir())


def _check(out: dict[str, object]) -> None:
    text = json.dumps(out, allow_nan=False)
    assert json.loads(text) == out
    for sample in out["samples"]:  # type: ignore[attr-defined]
        for record in sample.get("records", []):
            assert list(record) == ["enterprise", "format", "name", "fields"]


def test_vectors_render() -> None:
    """Each vector's JSON holds what the fast path's independent scan reads from the bytes."""
    rows = fast.FlowRows()
    for payload in _vectors():
        out = datagram_to_dict(decode_datagram(payload))
        _check(out)
        rows.clear()
        fast.scan_datagram(payload, rows)
        assert (out["agent"], out["sub_agent"], out["sequence"], out["uptime_ms"]) == (
            rows.agent, rows.sub_agent, rows.sequence, rows.uptime_ms,
        )  # fmt: skip
        samples: list[dict[str, object]] = out["samples"]  # type: ignore[assignment]
        assert len(samples) == rows.num_samples
        flows = [s for s in samples if s["kind"] == "flow"]
        assert len(flows) == rows.count
        for k, sample in enumerate(flows):
            row = rows.row(k)
            assert (sample["sequence"], sample["sampling_rate"], sample["sample_pool"]) == (
                row[fast.COL_SEQUENCE], row[fast.COL_SAMPLING_RATE], row[fast.COL_SAMPLE_POOL],
            )  # fmt: skip


@given(data=st.data())
def test_mutated_vectors_render_or_raise_decode_error(data: st.DataObject) -> None:
    vectors = _vectors()
    payload = bytearray(data.draw(st.sampled_from(vectors)))
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(payload) - 1))
        payload[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(24, len(payload)))
    try:
        d = decode_datagram(bytes(payload[:cut]))
    except DecodeError:
        return
    _check(datagram_to_dict(d))

"""Byte-by-byte fixtures for decoders.encode, then decoded back with decode_datagram.

Every expected byte string below is written by hand from the tables in the protocol notes
(sflow-protocol.md §1–8: XDR rules, datagram header, interface words, sample and record layouts),
one line per field — never produced by the encoder. Records are framed into datagrams for
decoding by small struct-based helpers in this file, independent of the encoder.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from decoders import records as rec
from decoders.encode import (
    XdrWriter,
    data_format,
    encode_counter_record,
    encode_datagram,
    encode_flow_record,
    encode_sample,
    sampled_header,
)
from decoders.errors import DecodeError
from decoders.packet import parse_packet
from decoders.parse import decode_datagram
from decoders.records import (
    CounterRecord,
    CounterSample,
    Datagram,
    DataSource,
    DropSample,
    FlowRecord,
    FlowSample,
    Interface,
    RawRecord,
    RawSample,
)
from tests.shared_data import shared_dir


def hx(text: str) -> bytes:
    """Hex digits with ``#`` comments and any whitespace → bytes."""
    return bytes.fromhex("".join(line.split("#", 1)[0] for line in text.splitlines()))


# Test-side framing (plain struct, not the encoder): one record in a compact sample in an
# IPv4-agent datagram, so decode_datagram can read it back.
def _datagram(sample_format: int, sample_body: bytes) -> bytes:
    head = struct.pack(">7I", 5, 1, 0xC0000201, 0, 1, 1000, 1)
    return head + struct.pack(">II", sample_format, len(sample_body)) + sample_body


def decode_flow_record(record: bytes) -> FlowRecord:
    body = struct.pack(">8I", 1, 7, 1, 1, 0, 7, 8, 1) + record
    (sample,) = decode_datagram(_datagram(1, body)).samples
    assert isinstance(sample, FlowSample)
    (decoded,) = sample.records
    return decoded


def decode_counter_record(record: bytes) -> CounterRecord:
    (sample,) = decode_datagram(_datagram(2, struct.pack(">3I", 1, 7, 1) + record)).samples
    assert isinstance(sample, CounterSample)
    (decoded,) = sample.records
    return decoded


# =============================================================================================
# Flow records (sflow-protocol.md §5)

ROCE_HEADER = hx(
    """
    02000000000b 02000000000a 0800      # Ethernet: dst, src, IPv4
    4502 0028 0001 0000 4011 0000       # IPv4: ver/IHL, ECT(0), total 40, id, frag, TTL, UDP
    0a000001 0a000002                   # 10.0.0.1 -> 10.0.0.2
    c000 12b7 0014 0000                 # UDP 49152 -> 4791, length 20
    0a 40 ffff 00000123 80000064        # BTH: RC RDMA WRITE ONLY, MigReq, P_Key, QP, AckReq+PSN
    """
)  # 14 + 20 + 8 + 12 = 54 bytes

FLOW_RECORDS: list[tuple[str, FlowRecord, str]] = [
    (
        "sampled_header_5_bytes",
        sampled_header(1, 1086, 4, bytes.fromhex("0011223344")),
        """
        00000001   # data_format 0:1 sampled_header
        00000018   # record length 24 = 16 + 5 header bytes + 3 pad (the header's pad is body)
        00000001   # header_protocol 1 = Ethernet
        0000043e   # frame_length 1086
        00000004   # stripped 4 (FCS)
        00000005   # header length 5 (pad NOT counted)
        0011223344 000000   # 5 header bytes + 3 zero pad
        """,
    ),
    (
        "sampled_header_roce_54_bytes",
        sampled_header(1, 1086, 4, ROCE_HEADER),
        """
        00000001 00000048   # 0:1, record length 72 = 16 + 54 + 2 pad
        00000001 0000043e 00000004   # Ethernet, frame 1086, stripped 4
        00000036            # header length 54
        02000000000b 02000000000a 0800           # Ethernet
        45020028 00010000 40110000 0a000001 0a000002   # IPv4
        c00012b7 00140000                        # UDP
        0a40ffff 00000123 80000064               # BTH
        0000                # 2 pad
        """,
    ),
    (
        "sampled_ethernet",
        rec.SampledEthernet(1522, "00:11:22:33:44:55", "66:77:88:99:aa:bb", 0x0800),
        """
        00000002 00000018   # 0:2 sampled_ethernet, length 24
        000005f2            # length 1522
        001122334455 0000   # src_mac + 2 pad
        66778899aabb 0000   # dst_mac + 2 pad
        00000800            # type IPv4
        """,
    ),
    (
        "sampled_ipv4",
        rec.SampledIPv4(1500, 17, "10.0.0.1", "10.0.0.2", 49152, 4791, 0, 2),
        """
        00000003 00000020   # 0:3 sampled_ipv4, length 32
        000005dc            # length 1500
        00000011            # protocol 17 UDP
        0a000001            # src 10.0.0.1
        0a000002            # dst 10.0.0.2
        0000c000            # src_port 49152
        000012b7            # dst_port 4791 (RoCEv2)
        00000000            # tcp_flags
        00000002            # tos (ECT(0))
        """,
    ),
    (
        "sampled_ipv6",
        rec.SampledIPv6(4136, 17, "2001:db8::1", "fe80::abcd:1", 50000, 4791, 0x12, 3),
        """
        00000004 00000038   # 0:4 sampled_ipv6, length 56
        00001028            # length 4136
        00000011            # protocol 17
        20010db8 00000000 00000000 00000001   # src 2001:db8::1
        fe800000 00000000 00000000 abcd0001   # dst fe80::abcd:1
        0000c350            # src_port 50000
        000012b7            # dst_port 4791
        00000012            # tcp_flags 0x12
        00000003            # priority 3
        """,
    ),
    (
        "extended_switch",
        rec.ExtendedSwitch(100, 3, 200, 5),
        """
        000003e9 00000010   # 0:1001 extended_switch, length 16
        00000064 00000003   # src_vlan 100, src_priority 3
        000000c8 00000005   # dst_vlan 200, dst_priority 5
        """,
    ),
    (
        "extended_router_ipv4",
        rec.ExtendedRouter("192.0.2.254", 24, 16),
        """
        000003ea 00000010   # 0:1002 extended_router, length 16
        00000001 c00002fe   # next hop IPv4 192.0.2.254
        00000018 00000010   # src_mask_len 24, dst_mask_len 16
        """,
    ),
    (
        "extended_router_ipv6",
        rec.ExtendedRouter("2001:db8::fe", 64, 48),
        """
        000003ea 0000001c   # 0:1002, length 28
        00000002 20010db8 00000000 00000000 000000fe   # next hop IPv6 2001:db8::fe
        00000040 00000030   # masks 64, 48
        """,
    ),
    (
        "extended_router_unknown",
        rec.ExtendedRouter(None, 0, 32),
        """
        000003ea 0000000c   # 0:1002, length 12
        00000000            # next hop type 0 = unknown, no address bytes
        00000000 00000020   # masks 0, 32
        """,
    ),
    (
        "extended_gateway",
        rec.ExtendedGateway(
            "198.51.100.1",
            65001,
            65002,
            65003,
            (rec.AsPathSegment(2, (65010, 4200000000)), rec.AsPathSegment(1, (65030,))),
            (0xFDE80064, 0xFFFFFF01),
            100,
        ),
        """
        000003eb 00000044   # 0:1003 extended_gateway, length 68
        00000001 c6336401   # next hop IPv4 198.51.100.1
        0000fde9            # as 65001
        0000fdea            # src_as 65002
        0000fdeb            # src_peer_as 65003
        00000002            # dst_as_path: 2 segments
        00000002 00000002 0000fdf2 fa56ea00   # AS_SEQUENCE [65010, 4200000000]
        00000001 00000001 0000fe06            # AS_SET [65030]
        00000002 fde80064 ffffff01            # 2 communities: 65000:100, NO_EXPORT
        00000064            # local_pref 100
        """,
    ),
    (
        "extended_egress_queue",
        rec.ExtendedEgressQueue(3),
        """
        0000040c 00000004   # 0:1036 extended_egress_queue, length 4
        00000003            # queue 3
        """,
    ),
    (
        "extended_acl",
        rec.ExtendedAcl(42, "deny-roce", 1),
        """
        0000040d 00000018   # 0:1037 extended_acl, length 24
        0000002a            # number 42
        00000009 64656e792d726f6365 000000   # name "deny-roce" (9) + 3 pad
        00000001            # direction 1 = ingress
        """,
    ),
    (
        "extended_function",
        rec.ExtendedFunction("tcp_v4_rcv"),
        """
        0000040e 00000010   # 0:1038 extended_function, length 16
        0000000a 7463705f76345f726376 0000   # symbol "tcp_v4_rcv" (10) + 2 pad
        """,
    ),
    (
        "extended_transit",
        rec.ExtendedTransit(1_000_000),
        """
        0000040f 00000004   # 0:1039 extended_transit, length 4
        000f4240            # delay 1,000,000 ns
        """,
    ),
    (
        "extended_transit_saturated",
        rec.ExtendedTransit(0xFFFFFFFF),
        """
        0000040f 00000004 ffffffff   # 0:1039, delay saturated
        """,
    ),
    (
        "extended_queue",
        rec.ExtendedQueue(65536),
        """
        00000410 00000004   # 0:1040 extended_queue, length 4
        00010000            # depth 65536 bytes
        """,
    ),
    (
        "extended_hw_trap",
        rec.ExtendedHwTrap("l3_drops", "blackhole_route"),
        """
        00000411 00000020   # 0:1041 extended_hw_trap, length 32
        00000008 6c335f64726f7073                     # group "l3_drops" (8), no pad
        0000000f 626c61636b686f6c655f726f757465 00    # trap "blackhole_route" (15) + 1 pad
        """,
    ),
    (
        "extended_linux_drop_reason",
        rec.ExtendedLinuxDropReason("NO_SOCKET"),
        """
        00000412 00000010   # 0:1042 extended_linux_drop_reason, length 16
        00000009 4e4f5f534f434b4554 000000   # "NO_SOCKET" (9) + 3 pad
        """,
    ),
    (
        "extended_timestamp",
        rec.ExtendedTimestamp(1700000000123456789),
        """
        00000413 00000008   # 0:1043 extended_timestamp, length 8
        17979cfe 3d85cd15   # u64 1700000000123456789 ns
        """,
    ),
    (
        "raw_flow_record_enterprise_4413",
        RawRecord(4413, 1, bytes.fromhex("0102030405")),
        """
        0113d001            # data_format (4413 << 12) | 1
        00000005            # length 5 (pad not counted)
        0102030405 000000   # opaque bytes + 3 pad
        """,
    ),
]


@pytest.mark.parametrize(
    ("record", "expected"), [f[1:] for f in FLOW_RECORDS], ids=[f[0] for f in FLOW_RECORDS]
)
def test_flow_record_bytes(record: FlowRecord, expected: str) -> None:
    assert encode_flow_record(record).hex() == hx(expected).hex()


@pytest.mark.parametrize(
    ("record", "expected"), [f[1:] for f in FLOW_RECORDS], ids=[f[0] for f in FLOW_RECORDS]
)
def test_flow_record_decodes_back(record: FlowRecord, expected: str) -> None:
    assert decode_flow_record(hx(expected)) == record


def test_flow_record_field_values() -> None:
    """Spot checks of decoded field values (equality above covers the rest)."""
    header = decode_flow_record(hx(FLOW_RECORDS[1][2]))
    assert isinstance(header, rec.SampledHeader)
    assert (header.protocol, header.frame_length, header.stripped) == (1, 1086, 4)
    assert header.header == ROCE_HEADER
    assert header.packet == parse_packet(1, ROCE_HEADER)
    fixtures = {f[0]: f[2] for f in FLOW_RECORDS}
    gateway = decode_flow_record(hx(fixtures["extended_gateway"]))
    assert isinstance(gateway, rec.ExtendedGateway)
    assert gateway.next_hop == "198.51.100.1"
    assert gateway.as_path[0].asns == (65010, 4200000000)
    assert gateway.communities == (0xFDE80064, 0xFFFFFF01)
    acl = decode_flow_record(hx(fixtures["extended_acl"]))
    assert acl == rec.ExtendedAcl(number=42, name="deny-roce", direction=1)


# Odd-length opaques: sampled_header bodies with 0–5 header bytes (length word excludes the pad).
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", "00000010 00000001 00000040 00000004 00000000"),
        ("aa", "00000014 00000001 00000040 00000004 00000001 aa000000"),
        ("aabb", "00000014 00000001 00000040 00000004 00000002 aabb0000"),
        ("aabbcc", "00000014 00000001 00000040 00000004 00000003 aabbcc00"),
        ("aabbccdd", "00000014 00000001 00000040 00000004 00000004 aabbccdd"),
        ("aabbccddee", "00000018 00000001 00000040 00000004 00000005 aabbccddee000000"),
    ],
)
def test_opaque_padding(header: str, expected: str) -> None:
    record = sampled_header(1, 64, 4, bytes.fromhex(header))
    full = hx("00000001 " + expected)  # data_format 0:1, record length, fields, opaque
    assert encode_flow_record(record) == full
    decoded = decode_flow_record(full)
    assert isinstance(decoded, rec.SampledHeader)
    assert decoded.header == bytes.fromhex(header)


# Odd-length strings: port names of 1, 2, 3, 4 and 5 bytes.
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a", "00000008 00000001 61000000"),
        ("ab", "00000008 00000002 61620000"),
        ("abc", "00000008 00000003 61626300"),
        ("swp1", "00000008 00000004 73777031"),
        ("swp12", "0000000c 00000005 7377703132 000000"),
        ("", "00000004 00000000"),
    ],
)
def test_string_padding(name: str, expected: str) -> None:
    full = hx("000003ed " + expected)  # data_format 0:1005 port_name, length, string
    assert encode_counter_record(rec.PortName(name)) == full
    assert decode_counter_record(full) == rec.PortName(name)


def test_utf8_string_counts_bytes_not_characters() -> None:
    # "é" is 2 UTF-8 bytes; "gpü" = 67 70 c3 bc = 4 bytes, no pad
    assert encode_counter_record(rec.PortName("gpü")) == hx("000003ed 00000008 00000004 6770c3bc")
    assert encode_flow_record(rec.ExtendedFunction("é")) == hx(
        "0000040e 00000008 00000002 c3a90000"
    )


# =============================================================================================
# Counter records (sflow-protocol.md §6)

COUNTER_RECORDS: list[tuple[str, CounterRecord, str]] = [
    (
        "generic_interface",
        rec.GenericInterfaceCounters(
            if_index=7,
            if_type=6,
            if_speed=100_000_000_000,
            if_direction=1,
            if_status=3,
            in_octets=0x123456789,
            in_ucast_pkts=1000,
            in_multicast_pkts=20,
            in_broadcast_pkts=3,
            in_discards=4,
            in_errors=5,
            in_unknown_protos=6,
            out_octets=0x987654321,
            out_ucast_pkts=2000,
            out_multicast_pkts=21,
            out_broadcast_pkts=7,
            out_discards=8,
            out_errors=9,
            promiscuous_mode=0,
        ),
        """
        00000001 00000058   # 0:1 generic interface, length 88
        00000007            # ifIndex 7
        00000006            # ifType 6 ethernetCsmacd
        00000017 4876e800   # ifSpeed u64 100 Gb/s
        00000001            # ifDirection full duplex
        00000003            # ifStatus admin up + oper up
        00000001 23456789   # ifInOctets u64
        000003e8            # ifInUcastPkts 1000
        00000014            # ifInMulticastPkts 20
        00000003            # ifInBroadcastPkts
        00000004            # ifInDiscards
        00000005            # ifInErrors
        00000006            # ifInUnknownProtos
        00000009 87654321   # ifOutOctets u64
        000007d0            # ifOutUcastPkts 2000
        00000015            # ifOutMulticastPkts 21
        00000007            # ifOutBroadcastPkts
        00000008            # ifOutDiscards
        00000009            # ifOutErrors
        00000000            # ifPromiscuousMode
        """,
    ),
    (
        "ethernet",
        rec.EthernetCounters(*range(1, 14)),
        """
        00000002 00000034   # 0:2 ethernet, length 52
        00000001 00000002 00000003 00000004   # alignment, FCS, single coll., multiple coll.
        00000005 00000006 00000007 00000008   # SQE test, deferred, late coll., excessive coll.
        00000009 0000000a 0000000b 0000000c   # MAC tx errors, carrier sense, too long, MAC rx
        0000000d                              # symbol errors
        """,
    ),
    (
        "vlan",
        rec.VlanCounters(100, 1 << 32, 10, 11, 12, 13),
        """
        00000005 0000001c   # 0:5 vlan, length 28
        00000064            # vlan_id 100
        00000001 00000000   # octets u64 2^32
        0000000a 0000000b 0000000c 0000000d   # ucast, multicast, broadcast, discards
        """,
    ),
    (
        "lag_port_stats",
        rec.LagPortStats(
            "00:00:5e:00:53:01", "00:00:5e:00:53:02", 1000, 0x3D, 0x3F, 0x3D, 0x3F, *range(1, 9)
        ),
        """
        00000007 00000038   # 0:7 lag_port_stats, length 56
        00005e005301 0000   # actor system id + 2 pad
        00005e005302 0000   # partner system id + 2 pad
        000003e8            # attached agg id 1000
        3d 3f 3d 3f         # port state: actor admin/oper, partner admin/oper (one byte each)
        00000001 00000002 00000003 00000004 00000005   # LACPDUs rx, marker rx, marker resp rx,
        00000006 00000007 00000008   # unknown rx, illegal rx, LACPDUs tx, marker tx, resp tx
        """,
    ),
    (
        "sfp",
        rec.SfpCounters(
            1,
            2,
            3300,
            -5000,
            (
                rec.SfpLane(1, 6500, 501, 100, 1000, 1311, 400, 50, 800, 1311),
                rec.SfpLane(2, 6400, 502, 101, 1001, 1310, 0, 0, 0, 0),
            ),
        ),
        """
        0000000a 00000064   # 0:10 sfp, length 100
        00000001            # module_id 1
        00000002            # module_total_lanes 2
        00000ce4            # supply voltage 3300 mV
        ffffec78            # temperature -5000 m°C (signed)
        00000002            # 2 lanes
        00000001 00001964 000001f5 00000064 000003e8 0000051f   # lane 1: bias, tx power/min/max, λ
        00000190 00000032 00000320 0000051f                     #   rx power/min/max, λ
        00000002 00001900 000001f6 00000065 000003e9 0000051e   # lane 2
        00000000 00000000 00000000 00000000
        """,
    ),
    (
        "pfc",
        rec.PfcCounters(1, 2, 3, 4, 5),
        """
        0000000b 00000014   # 0:11 pfc, length 20
        00000001 00000002   # requests, indications
        00000003            # pause duration µs
        00000004 00000005   # storm detected, storm restored
        """,
    ),
    (
        "processor",
        rec.ProcessorCounters(1234, -1, 0, 64 << 30, 8 << 30),
        """
        000003e9 0000001c   # 0:1001 processor, length 28
        000004d2            # 5s cpu 12.34 %
        ffffffff            # 1m cpu -1 = unknown (signed)
        00000000            # 5m cpu
        00000010 00000000   # total memory 64 GiB (u64)
        00000002 00000000   # free memory 8 GiB (u64)
        """,
    ),
    (
        "port_name",
        rec.PortName("Ethernet4"),
        """
        000003ed 00000010   # 0:1005 port_name, length 16
        00000009 45746865726e657434 000000   # "Ethernet4" (9) + 3 pad
        """,
    ),
    (
        "host_description",
        rec.HostDescription("gpu-node-07", "12345678-9abc-def0-1234-56789abcdef0", 3, 2, "6.8.0"),
        """
        000007d0 00000034   # 0:2000 host_descr, length 52
        0000000b 6770752d6e6f64652d3037 00   # hostname "gpu-node-07" (11) + 1 pad
        12345678 9abcdef0 12345678 9abcdef0   # uuid: 16 FIXED bytes, no length word
        00000003            # machine_type 3 = x86_64
        00000002            # os_name 2 = linux
        00000005 362e382e30 000000            # os_release "6.8.0" (5) + 3 pad
        """,
    ),
    (
        "host_adapters",
        rec.HostAdapters(
            (
                rec.HostAdapter(2, ("02:42:ac:11:00:02", "02:42:ac:11:00:03")),
                rec.HostAdapter(3, ()),
            )
        ),
        """
        000007d1 00000024   # 0:2001 host_adapters, length 36
        00000002            # 2 adapters
        00000002 00000002   # ifIndex 2, 2 MACs
        0242ac110002 0000   # MAC + 2 pad
        0242ac110003 0000
        00000003 00000000   # ifIndex 3, no MACs
        """,
    ),
    (
        "raw_counter_record_nvml",
        RawRecord(5703, 1, bytes.fromhex("beef")),
        """
        01647001            # data_format (5703 << 12) | 1
        00000002 beef 0000  # length 2, bytes + 2 pad
        """,
    ),
    (
        "raw_counter_record_3_bytes",
        RawRecord(0, 2010, bytes.fromhex("010203")),
        """
        000007da 00000003 01020300   # 0:2010 (not decoded, kept raw), 3 bytes + 1 pad
        """,
    ),
]


@pytest.mark.parametrize(
    ("record", "expected"), [f[1:] for f in COUNTER_RECORDS], ids=[f[0] for f in COUNTER_RECORDS]
)
def test_counter_record_bytes(record: CounterRecord, expected: str) -> None:
    assert encode_counter_record(record).hex() == hx(expected).hex()


@pytest.mark.parametrize(
    ("record", "expected"), [f[1:] for f in COUNTER_RECORDS], ids=[f[0] for f in COUNTER_RECORDS]
)
def test_counter_record_decodes_back(record: CounterRecord, expected: str) -> None:
    assert decode_counter_record(hx(expected)) == record


def test_counter_record_field_values() -> None:
    fixtures = {f[0]: f[2] for f in COUNTER_RECORDS}
    generic = decode_counter_record(hx(fixtures["generic_interface"]))
    assert isinstance(generic, rec.GenericInterfaceCounters)
    assert generic.if_speed == 100_000_000_000
    assert generic.admin_up and generic.oper_up
    assert generic.out_octets == 0x987654321
    sfp = decode_counter_record(hx(fixtures["sfp"]))
    assert isinstance(sfp, rec.SfpCounters)
    assert sfp.temperature_mc == -5000
    assert [lane.tx_bias_current_ua for lane in sfp.lanes] == [6500, 6400]
    cpu = decode_counter_record(hx(fixtures["processor"]))
    assert isinstance(cpu, rec.ProcessorCounters)
    assert (cpu.cpu_5s, cpu.cpu_1m, cpu.total_memory) == (1234, -1, 64 << 30)
    host = decode_counter_record(hx(fixtures["host_description"]))
    assert isinstance(host, rec.HostDescription)
    assert host.uuid == "12345678-9abc-def0-1234-56789abcdef0"
    assert host.os_release == "6.8.0"
    lag = decode_counter_record(hx(fixtures["lag_port_stats"]))
    assert isinstance(lag, rec.LagPortStats)
    assert lag.partner_system_id == "00:00:5e:00:53:02"
    assert (lag.actor_oper_state, lag.marker_response_pdus_tx) == (0x3F, 8)


# =============================================================================================
# Samples (sflow-protocol.md §3–4)

SWITCH_RECORD = "000003e9 00000010 00000064 00000003 00000064 00000003"  # 1001: vlan 100 prio 3

COMPACT_FLOW = FlowSample(
    expanded=False,
    sequence=1,
    source=DataSource(0, 7),
    sampling_rate=4096,
    sample_pool=409600,
    drops=0,
    input=Interface(0, 7),
    output=Interface(1, 258),
    records=(rec.ExtendedSwitch(100, 3, 100, 3),),
)
COMPACT_FLOW_HEX = f"""
    00000001 00000038   # sample 0:1 flow_sample (compact), length 56
    00000001            # sequence 1
    00000007            # source id: type 0 (ifIndex) << 24 | index 7
    00001000            # sampling rate 1 in 4096
    00064000            # sample pool 409600
    00000000            # drops
    00000007            # input: format 0, ifIndex 7
    40000102            # output: format 1 = discarded, reason 258 (acl)
    00000001            # 1 flow record
    {SWITCH_RECORD}
"""

EXPANDED_FLOW = FlowSample(
    expanded=True,
    sequence=2,
    source=DataSource(0, 0x4B000000),
    sampling_rate=1000,
    sample_pool=1_000_000,
    drops=3,
    input=Interface(0, 0x4B000001),
    output=Interface(2, 7),
    records=(rec.ExtendedEgressQueue(5), rec.ExtendedQueue(65536), rec.ExtendedTransit(2500)),
)
EXPANDED_FLOW_HEX = """
    00000003 00000050   # sample 0:3 flow_sample_expanded, length 80
    00000002            # sequence 2
    00000000 4b000000   # source type 0, index 0x4B000000 (>= 2^24: expanded only)
    000003e8            # sampling rate 1000
    000f4240            # sample pool 1,000,000
    00000003            # drops 3
    00000000 4b000001   # input: format 0, ifIndex 0x4B000001
    00000002 00000007   # output: format 2 = multiple, 7 ports
    00000003            # 3 flow records
    0000040c 00000004 00000005   # 1036 egress queue 5
    00000410 00000004 00010000   # 1040 queue depth 65536
    0000040f 00000004 000009c4   # 1039 transit 2500 ns
"""

COMPACT_COUNTERS = CounterSample(False, 5, DataSource(0, 7), (rec.PfcCounters(1, 2, 3, 4, 5),))
COMPACT_COUNTERS_HEX = """
    00000002 00000028   # sample 0:2 counters_sample (compact), length 40
    00000005            # sequence 5
    00000007            # source id 0:7
    00000001            # 1 counter record
    0000000b 00000014 00000001 00000002 00000003 00000004 00000005   # 0:11 pfc
"""

EXPANDED_COUNTERS = CounterSample(True, 6, DataSource(2, 0x01000000), (rec.PortName("swp1"),))
EXPANDED_COUNTERS_HEX = """
    00000004 00000020   # sample 0:4 counters_sample_expanded, length 32
    00000006            # sequence 6
    00000002 01000000   # source type 2 (entPhysical), index 2^24
    00000001            # 1 counter record
    000003ed 00000008 00000004 73777031   # 0:1005 port_name "swp1"
"""

DROP = DropSample(
    expanded=True,
    sequence=9,
    source=DataSource(0, 12),
    drops=0,
    input_ifindex=12,
    output_ifindex=0,
    reason=258,
    records=(
        rec.ExtendedEgressQueue(0),
        rec.ExtendedAcl(7, "rdma", 1),
        rec.ExtendedFunction("ip_rcv"),
        rec.ExtendedHwTrap("acl_drops", "ingress_flow_action_drop"),
        rec.ExtendedLinuxDropReason("NETFILTER_DROP"),
        rec.ExtendedTimestamp(1700000000000000000),
    ),
)
DROP_HEX = """
    00000005 000000b8   # sample 0:5 discarded_packet, length 184
    00000009            # sequence 9
    00000000 0000000c   # source type 0, index 12 (always expanded)
    00000000            # drops 0
    0000000c            # input ifIndex 12 (plain, not an interface word)
    00000000            # output ifIndex 0 (ingress drop)
    00000102            # reason 258 acl
    00000006            # 6 flow records
    0000040c 00000004 00000000                             # 1036 egress queue 0
    0000040d 00000010 00000007 00000004 72646d61 00000001  # 1037 acl 7 "rdma" ingress
    0000040e 0000000c 00000006 69705f726376 0000           # 1038 function "ip_rcv" + 2 pad
    00000411 0000002c                                      # 1041 hw trap, length 44
    00000009 61636c5f64726f7073 000000                     #   group "acl_drops" + 3 pad
    00000018 696e67726573735f666c6f775f616374696f6e5f64726f70   # trap (24 bytes)
    00000412 00000014 0000000e 4e455446494c5445525f44524f50 0000  # 1042 "NETFILTER_DROP" + 2 pad
    00000413 00000008 17979cfe 362a0000                    # 1043 timestamp 1.7e18 ns
"""

RAW_SAMPLE = RawSample(4300, 1002, bytes.fromhex("abcdef"))
RAW_SAMPLE_HEX = """
    010cc3ea            # data_format (4300 << 12) | 1002 (sFlow-RT rtmetric)
    00000003 abcdef 00  # length 3, bytes + 1 pad
"""

SAMPLES = [
    ("compact_flow", COMPACT_FLOW, COMPACT_FLOW_HEX),
    ("expanded_flow", EXPANDED_FLOW, EXPANDED_FLOW_HEX),
    ("compact_counters", COMPACT_COUNTERS, COMPACT_COUNTERS_HEX),
    ("expanded_counters", EXPANDED_COUNTERS, EXPANDED_COUNTERS_HEX),
    ("drop", DROP, DROP_HEX),
    ("raw_sample", RAW_SAMPLE, RAW_SAMPLE_HEX),
]


def _one_sample_datagram(sample_hex: str) -> bytes:
    return hx("00000005 00000001 c0000201 00000000 00000001 000003e8 00000001" + sample_hex)


@pytest.mark.parametrize(
    ("sample", "expected"), [s[1:] for s in SAMPLES], ids=[s[0] for s in SAMPLES]
)
def test_sample_bytes(sample: object, expected: str) -> None:
    assert encode_sample(sample).hex() == hx(expected).hex()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("sample", "expected"), [s[1:] for s in SAMPLES], ids=[s[0] for s in SAMPLES]
)
def test_sample_decodes_back(sample: object, expected: str) -> None:
    assert decode_datagram(_one_sample_datagram(expected)).samples == (sample,)


def test_compact_flow_sample_fields() -> None:
    (s,) = decode_datagram(_one_sample_datagram(COMPACT_FLOW_HEX)).samples
    assert isinstance(s, FlowSample)
    assert not s.expanded
    assert (s.sequence, s.source, s.sampling_rate, s.sample_pool, s.drops) == (
        1,
        DataSource(0, 7),
        4096,
        409600,
        0,
    )
    assert s.input.ifindex == 7
    assert s.output.discard_reason == 258 and s.output.ifindex is None
    assert s.records == (rec.ExtendedSwitch(100, 3, 100, 3),)


def test_expanded_flow_sample_fields() -> None:
    (s,) = decode_datagram(_one_sample_datagram(EXPANDED_FLOW_HEX)).samples
    assert isinstance(s, FlowSample)
    assert s.expanded
    assert s.source == DataSource(0, 0x4B000000)
    assert s.input.ifindex == 0x4B000001
    assert s.output.multiple == 7
    assert [type(r).__name__ for r in s.records] == [
        "ExtendedEgressQueue",
        "ExtendedQueue",
        "ExtendedTransit",
    ]


def test_counter_sample_fields() -> None:
    (c,) = decode_datagram(_one_sample_datagram(COMPACT_COUNTERS_HEX)).samples
    assert isinstance(c, CounterSample)
    assert (c.expanded, c.sequence, c.source) == (False, 5, DataSource(0, 7))
    (e,) = decode_datagram(_one_sample_datagram(EXPANDED_COUNTERS_HEX)).samples
    assert isinstance(e, CounterSample)
    assert (e.expanded, e.sequence, e.source) == (True, 6, DataSource(2, 1 << 24))
    assert e.records == (rec.PortName("swp1"),)


def test_drop_sample_fields() -> None:
    (d,) = decode_datagram(_one_sample_datagram(DROP_HEX)).samples
    assert isinstance(d, DropSample)
    assert (d.sequence, d.source, d.drops) == (9, DataSource(0, 12), 0)
    assert (d.input_ifindex, d.output_ifindex, d.reason) == (12, 0, 258)
    assert [r.FORMAT for r in d.records] == [1036, 1037, 1038, 1041, 1042, 1043]  # type: ignore[union-attr]
    trap = d.records[3]
    assert isinstance(trap, rec.ExtendedHwTrap)
    assert trap.trap == "ingress_flow_action_drop"
    assert d.records[5] == rec.ExtendedTimestamp(1700000000000000000)


# Interface words of compact flow samples: top 2 bits format, low 30 bits value.
@pytest.mark.parametrize(
    ("interface", "word", "check"),
    [
        (Interface(0, 2), "00000002", lambda i: i.ifindex == 2),
        (Interface(0, 0), "00000000", lambda i: i.ifindex is None and not i.internal),
        (Interface(1, 258), "40000102", lambda i: i.discard_reason == 258),
        (Interface(2, 7), "80000007", lambda i: i.multiple == 7),
        (Interface(2, 0), "80000000", lambda i: i.multiple == 0),
        (Interface(0, 0x3FFFFFFF), "3fffffff", lambda i: i.internal and i.ifindex is None),
    ],
)
def test_interface_words(interface: Interface, word: str, check: object) -> None:
    sample = FlowSample(False, 1, DataSource(0, 1), 1, 1, 0, interface, interface, ())
    expected = f"""
        00000001 00000020   # 0:1 compact flow sample, length 32
        00000001 00000001 00000001 00000001 00000000   # seq, source 0:1, rate, pool, drops
        {word} {word}       # input and output interface words
        00000000            # no records
    """
    assert encode_sample(sample) == hx(expected)
    (decoded,) = decode_datagram(_one_sample_datagram(expected)).samples
    assert isinstance(decoded, FlowSample)
    assert decoded.input == decoded.output == interface
    assert check(decoded.output)  # type: ignore[operator]


def test_expanded_interface_pairs() -> None:
    sample = FlowSample(
        True, 1, DataSource(3, 9), 1, 1, 0, Interface(0, 0x3FFFFFFF), Interface(1, 1), ()
    )
    assert encode_sample(sample) == hx(
        """
        00000003 0000002c   # 0:3, length 44
        00000001 00000003 00000009 00000001 00000001 00000000   # seq, source 3:9, rate, pool, drops
        00000000 3fffffff   # input format 0, internal
        00000001 00000001   # output format 1 (discarded), reason 1 host_unreachable
        00000000            # no records
        """
    )


# =============================================================================================
# Datagram headers (sflow-protocol.md §2)


def test_datagram_ipv4_agent() -> None:
    d = Datagram("192.0.2.1", 1, 0, 1, 60000, (COMPACT_FLOW,))
    expected = hx(
        """
        00000005            # version 5
        00000001 c0000201   # agent address IPv4 192.0.2.1
        00000000            # sub_agent_id 0
        00000001            # sequence 1
        0000ea60            # uptime 60000 ms
        00000001            # 1 sample
        """
        + COMPACT_FLOW_HEX
    )
    assert encode_datagram(d) == expected
    got = decode_datagram(expected)
    assert got == d
    assert (got.agent, got.agent_address_type, got.uptime_ms) == ("192.0.2.1", 1, 60000)


def test_datagram_ipv6_agent() -> None:
    d = Datagram("2001:db8::1", 2, 100000, 0xFFFFFFFF, 1, (EXPANDED_COUNTERS, DROP))
    expected = hx(
        """
        00000005                              # version 5
        00000002                              # agent address type IPv6
        20010db8 00000000 00000000 00000001   # 2001:db8::1
        000186a0                              # sub_agent_id 100000
        ffffffff                              # sequence 2^32 - 1
        00000001                              # uptime 1 ms
        00000002                              # 2 samples
        """
        + EXPANDED_COUNTERS_HEX
        + DROP_HEX
    )
    assert encode_datagram(d) == expected
    got = decode_datagram(expected)
    assert got == d
    assert (got.agent, got.sub_agent, got.sequence, len(got.samples)) == (
        "2001:db8::1",
        100000,
        0xFFFFFFFF,
        2,
    )


def test_datagram_unknown_agent() -> None:
    d = Datagram(None, 0, 7, 8, 9, ())
    expected = hx(
        """
        00000005            # version 5
        00000000            # agent address type 0 = unknown: no address bytes
        00000007 00000008 00000009   # sub-agent, sequence, uptime
        00000000            # no samples
        """
    )
    assert encode_datagram(d) == expected
    got = decode_datagram(expected)
    assert got == d and got.agent is None


def test_datagram_with_raw_sample_and_counters() -> None:
    d = Datagram("10.1.2.3", 1, 1, 2, 3, (RAW_SAMPLE, COMPACT_COUNTERS))
    expected = hx(
        "00000005 00000001 0a010203 00000001 00000002 00000003 00000002"
        + RAW_SAMPLE_HEX
        + COMPACT_COUNTERS_HEX
    )
    assert encode_datagram(d) == expected
    assert decode_datagram(expected) == d


# =============================================================================================
# Rejections: values that do not fit the wire (ValueError) and foreign types (TypeError)


def _flow(expanded: bool, source: DataSource, inp: Interface, out: Interface) -> FlowSample:
    return FlowSample(expanded, 0, source, 1, 0, 0, inp, out, ())


@pytest.mark.parametrize(
    "sample",
    [
        _flow(False, DataSource(0, 1 << 24), Interface(0, 1), Interface(0, 1)),
        _flow(False, DataSource(256, 1), Interface(0, 1), Interface(0, 1)),
        _flow(False, DataSource(0, 1), Interface(0, 1 << 30), Interface(0, 1)),
        _flow(False, DataSource(0, 1), Interface(0, 1), Interface(4, 1)),
        _flow(False, DataSource(0, -1), Interface(0, 1), Interface(0, 1)),
        _flow(True, DataSource(0, 1 << 32), Interface(0, 1), Interface(0, 1)),
        _flow(True, DataSource(0, 1), Interface(0, 1), Interface(0, -1)),
        CounterSample(False, 0, DataSource(0, 1 << 24), ()),
        CounterSample(True, 1 << 32, DataSource(0, 1), ()),
        DropSample(False, 0, DataSource(0, 1), 0, 0, 0, 0, ()),
        RawSample(1 << 20, 1, b""),
        RawSample(0, 1 << 12, b""),
    ],
)
def test_unrepresentable_samples_raise_value_error(sample: object) -> None:
    with pytest.raises(ValueError):
        encode_sample(sample)  # type: ignore[arg-type]


def test_compact_limits_are_exclusive() -> None:
    ok = _flow(False, DataSource(255, (1 << 24) - 1), Interface(3, (1 << 30) - 1), Interface(0, 0))
    assert encode_sample(ok)[12:16] == hx("ffffffff")  # source 255:0xFFFFFF
    assert encode_sample(ok)[28:32] == hx("ffffffff")  # input format 3, value 2^30 - 1


@pytest.mark.parametrize(
    "record",
    [
        rec.ExtendedSwitch(1 << 32, 0, 0, 0),
        rec.ExtendedSwitch(-1, 0, 0, 0),
        rec.ExtendedTimestamp(1 << 64),
        rec.SampledIPv4(0, 0, "10.0.0.256", "10.0.0.1", 0, 0, 0, 0),
        rec.SampledIPv6(0, 0, "10.0.0.1", "::1", 0, 0, 0, 0),
        rec.SampledEthernet(0, "00:11:22:33:44", "00:11:22:33:44:55", 0),
        rec.ExtendedRouter("not-an-address", 0, 0),
        rec.ExtendedFunction("x" * 1025),
        RawRecord(1 << 20, 0, b""),
    ],
)
def test_unrepresentable_flow_records_raise_value_error(record: FlowRecord) -> None:
    with pytest.raises(ValueError):
        encode_flow_record(record)


@pytest.mark.parametrize(
    "record",
    [
        rec.PortName("p" * 256),
        rec.HostDescription("h" * 65, "12345678-9abc-def0-1234-56789abcdef0", 0, 0, ""),
        rec.HostDescription("h", "12345678-9abc-def0-1234-56789abcdef0", 0, 0, "r" * 33),
        rec.HostDescription("h", "not-a-uuid", 0, 0, ""),
        rec.ProcessorCounters(1 << 31, 0, 0, 0, 0),
        rec.SfpCounters(0, 0, 0, -(1 << 31) - 1, ()),
        rec.LagPortStats("00:00:5e:00:53:01", "00:00:5e:00:53:02", 0, 256, 0, 0, 0, *[0] * 8),
    ],
)
def test_unrepresentable_counter_records_raise_value_error(record: CounterRecord) -> None:
    with pytest.raises(ValueError):
        encode_counter_record(record)


def test_string_limits_are_inclusive() -> None:
    assert len(encode_counter_record(rec.PortName("p" * 255))) == 8 + 4 + 256
    host = rec.HostDescription("h" * 64, "12345678-9abc-def0-1234-56789abcdef0", 0, 0, "r" * 32)
    assert decode_counter_record(encode_counter_record(host)) == host


def test_datagram_rejections() -> None:
    with pytest.raises(ValueError):
        encode_datagram(Datagram("192.0.2.1", 2, 0, 0, 0, ()))  # IPv4 text, IPv6 type
    with pytest.raises(ValueError):
        encode_datagram(Datagram(None, 1, 0, 0, 0, ()))
    with pytest.raises(ValueError):
        encode_datagram(Datagram("192.0.2.1", 0, 0, 0, 0, ()))
    with pytest.raises(ValueError):
        encode_datagram(Datagram("192.0.2.1", 1, 0, 0, 0, (), version=4))
    with pytest.raises(ValueError):
        encode_datagram(Datagram("192.0.2.1", 1, 1 << 32, 0, 0, ()))


def test_wrong_types_raise_type_error() -> None:
    with pytest.raises(TypeError):
        encode_flow_record(rec.PortName("x"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_counter_record(rec.ExtendedSwitch(1, 2, 3, 4))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_sample(rec.PortName("x"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        encode_sample(
            FlowSample(
                True,
                0,
                DataSource(0, 1),
                1,
                0,
                0,
                Interface(0, 1),
                Interface(0, 1),
                (rec.PortName("x"),),
            )  # type: ignore[arg-type]
        )


# =============================================================================================
# XdrWriter primitives


def test_writer_primitives() -> None:
    w = XdrWriter()
    w.u32(0xDEADBEEF)
    w.i32(-2)
    w.u64(0x0102030405060708)
    w.opaque(b"\x01\x02\x03")
    w.string("abcde")
    w.fixed(bytes.fromhex("aabbccddeeff"))  # a MAC: 6 bytes + 2 pad, no length
    w.address("192.0.2.1")
    w.address("::1")
    w.address(None)
    assert w.getvalue() == hx(
        """
        deadbeef            # u32
        fffffffe            # i32 -2
        01020304 05060708   # u64
        00000003 010203 00  # opaque<> of 3 + 1 pad
        00000005 6162636465 000000   # string "abcde" + 3 pad
        aabbccddeeff 0000   # fixed opaque[6] + 2 pad
        00000001 c0000201   # address IPv4
        00000002 00000000 00000000 00000000 00000001   # address IPv6 ::1
        00000000            # address unknown
        """
    )
    assert len(w) == len(w.getvalue())
    w.clear()
    assert w.getvalue() == b""


@pytest.mark.parametrize(
    ("method", "value"),
    [("u32", 1 << 32), ("u32", -1), ("i32", 1 << 31), ("u64", 1 << 64), ("u64", -1)],
)
def test_writer_range_errors(method: str, value: int) -> None:
    w = XdrWriter()
    with pytest.raises(ValueError):
        getattr(w, method)(value)
    assert w.getvalue() == b""


def test_writer_tagged_back_patches_length_without_pad() -> None:
    w = XdrWriter()
    mark = w.begin_tagged(data_format(4413, 3))
    w.fixed(b"\x01\x02\x03\x04\x05")  # 5 bytes + 3 pad
    w.end_tagged(mark)
    with w.tagged(data_format(0, 1039)):
        w.u32(1000)
    w.buf += b"\x09"  # raw append: the tagged helper pads an odd body and counts only the body
    mark = w.begin_tagged(7)
    w.buf += b"\x0a\x0b"
    w.end_tagged(mark)
    assert w.getvalue() == hx(
        """
        0113d003 00000008 0102030405000000   # (4413,3): body 8 (fixed pad is part of the body)
        0000040f 00000004 000003e8           # 0:1039 transit 1000
        09                                   # stray byte
        00000007 00000002 0a0b 0000          # length 2, then 2 pad
        """
    )


def test_writer_samples_and_records_append() -> None:
    w = XdrWriter()
    w.datagram_header("192.0.2.1", 1, 0, 1, 60000, 1)
    w.sample(COMPACT_FLOW)
    assert w.getvalue() == encode_datagram(Datagram("192.0.2.1", 1, 0, 1, 60000, (COMPACT_FLOW,)))
    w.clear()
    w.flow_record(rec.ExtendedSwitch(100, 3, 100, 3))
    w.counter_record(rec.PfcCounters(1, 2, 3, 4, 5))
    assert w.getvalue() == hx(
        SWITCH_RECORD + " 0000000b 00000014 00000001 00000002 00000003 00000004 00000005"
    )


def test_writer_leaves_no_partial_output_on_error() -> None:
    w = XdrWriter()
    w.u32(1)
    bad = FlowSample(
        False,
        0,
        DataSource(0, 1),
        1,
        0,
        0,
        Interface(0, 1),
        Interface(0, 1),
        (rec.ExtendedSwitch(1, 2, 3, 4), rec.ExtendedSwitch(1 << 32, 0, 0, 0)),
    )
    with pytest.raises(ValueError):
        w.sample(bad)
    with pytest.raises(ValueError):
        w.flow_record(rec.ExtendedAcl(1, "x" * 2000, 0))
    assert w.getvalue() == hx("00000001")


def test_data_format() -> None:
    assert data_format(0, 1) == 1
    assert data_format(4413, 3) == 0x0113D003
    assert data_format((1 << 20) - 1, 0xFFF) == 0xFFFFFFFF
    with pytest.raises(ValueError):
        data_format(-1, 0)


def test_sampled_header_helper_fills_packet() -> None:
    record = sampled_header(1, 1086, 4, ROCE_HEADER)
    assert record.packet == parse_packet(1, ROCE_HEADER)
    assert (record.protocol, record.frame_length, record.stripped) == (1, 1086, 4)
    assert isinstance(sampled_header(1, 64, 4, bytearray(b"\x00")).header, bytes)


# =============================================================================================
# Real test vectors from the shared captures (never copied into the repo)


def _shared_captures() -> Path:
    return shared_dir() / "captures"


# Every stored vector is canonical XDR (zero pads, no trailing bytes): re-encoding is byte-exact.
# A non-canonical vector would go to NON_CANONICAL with the reason, and be checked with equality
# of the decoded values only.
CANONICAL_VECTORS = [
    "goflow2_TestSFlowDecode.bin",  # compact flow sample, 78-byte header → 2 pad bytes
    "goflow2_TestSFlowDecodeDropEgressQueue.bin",  # 0:5 with 1036
    "goflow2_TestSFlowDecodeDropExtendedACL.bin",  # 0:5 with 1037 "foo!"
    "telegraf_sflow_issue_15918.bin",  # counters 1+2, 6 flow samples, 0x8000000a outputs
    "telegraf_sflow_v5_example.bin",  # counters with port_name 1005 "eno1" + generic
]


def _vector(name: str) -> bytes:
    path = _shared_captures() / "vectors" / name
    if not path.is_file():
        pytest.skip(
            f"shared test vector {name} not found under {_shared_captures()} "
            "(set FABRICSCOPE_SHARED to the shared data directory)"
        )
    return path.read_bytes()


@pytest.mark.captures
@pytest.mark.parametrize("name", CANONICAL_VECTORS)
def test_vector_reencodes_byte_exact(name: str) -> None:
    data = _vector(name)
    decoded = decode_datagram(data)
    assert encode_datagram(decoded).hex() == data.hex()


@pytest.mark.captures
def test_no_unlisted_vectors() -> None:
    directory = _shared_captures() / "vectors"
    if not directory.is_dir():
        pytest.skip(f"shared test vectors not found under {_shared_captures()}")
    assert sorted(p.name for p in directory.glob("*.bin")) == sorted(CANONICAL_VECTORS)


@pytest.mark.captures
def test_vector_drop_acl_values() -> None:
    d = decode_datagram(_vector("goflow2_TestSFlowDecodeDropExtendedACL.bin"))
    assert (d.agent, d.sub_agent, d.sequence) == ("192.168.119.184", 100000, 3)
    (s,) = d.samples
    assert isinstance(s, DropSample)
    assert (s.source, s.drops, s.input_ifindex, s.output_ifindex, s.reason) == (
        DataSource(0, 1),
        256,
        1,
        2,
        1,
    )
    assert s.records == (rec.ExtendedAcl(42, "foo!", 2),)


@pytest.mark.captures
def test_vector_flow_sample_header_padding() -> None:
    d = decode_datagram(_vector("goflow2_TestSFlowDecode.bin"))
    (s,) = d.samples
    assert isinstance(s, FlowSample) and not s.expanded
    (record,) = s.records
    assert isinstance(record, rec.SampledHeader)
    assert len(record.header) == 78  # not a multiple of 4: 2 pad bytes on the wire
    assert encode_flow_record(record)[4:8] == hx("00000060")  # record length 16 + 80


def _udp_payloads(path: Path) -> list[bytes]:
    """UDP payloads of an Ethernet or Linux-cooked pcap (dpkt), in capture order."""
    import dpkt

    payloads = []
    with path.open("rb") as f:
        reader = dpkt.pcap.Reader(f)
        link = reader.datalink()
        for _, frame in reader:
            if link == dpkt.pcap.DLT_EN10MB:
                ip = dpkt.ethernet.Ethernet(frame).data
            elif link == dpkt.pcap.DLT_LINUX_SLL:
                ip = dpkt.sll.SLL(frame).data
            else:
                pytest.skip(f"{path.name}: link type {link} not handled here")
            if isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6) and isinstance(ip.data, dpkt.udp.UDP):
                payloads.append(bytes(ip.data.data))
    return payloads


def _pcap_names() -> list[str]:
    directory = _shared_captures()
    return sorted(p.name for p in directory.glob("*.pcap")) if directory.is_dir() else []


@pytest.mark.captures
@pytest.mark.parametrize("name", _pcap_names() or ["(absent)"])
def test_capture_datagrams_reencode(name: str) -> None:
    """Every sFlow datagram of every shared capture: decode → encode → decode is the identity,
    and the bytes match except where agents were not canonical: non-zero XDR pad bytes (hsflowd
    leaves garbage in pads) and bytes after num_samples (akvorado multiple-interfaces)."""
    path = _shared_captures() / name
    if not path.is_file():
        pytest.skip(
            f"shared captures not found under {_shared_captures()} (set FABRICSCOPE_SHARED)"
        )
    decoded_any = False
    for data in _udp_payloads(path):
        if data[:4] != b"\x00\x00\x00\x05":  # NetFlow v5 frames in the tcpdump capture
            with pytest.raises(DecodeError) as info:
                decode_datagram(data)
            assert info.value.reason == "bad_version"
            continue
        decoded = decode_datagram(data)
        ours = encode_datagram(decoded)
        assert decode_datagram(ours) == decoded
        assert len(ours) <= len(data)
        differing = [i for i in range(len(ours)) if ours[i] != data[i]]
        assert all(ours[i] == 0 for i in differing), differing[:8]
        decoded_any = True
    assert decoded_any

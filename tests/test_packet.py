"""Sampled-header walk (decoders.packet.parse_packet) against hand-written frames.

Every frame below is typed out byte by byte with the expected field values next to it, so the
expectations do not depend on the frame builders in ``decoders.frames``; the last section checks
those builders against hand-written bytes in turn.
"""

from __future__ import annotations

import pytest

from decoders import frames as F
from decoders.packet import PARSER_ERROR, parse_packet
from decoders.packet_types import PacketInfo, Reth


def h(text: str) -> bytes:
    """Hex with spaces/newlines allowed."""
    return bytes.fromhex("".join(text.split()))


# Building blocks (hex). MACs deliberately in upper case: output must be lower case.
ETH_MACS = "0A 1B 2C 3D 4E 5F  02 00 00 00 00 01"  # dst 0a:1b:2c:3d:4e:5f, src 02:..:01
# IPv4, IHL 5, TOS 0x68 (DSCP 26, ECN 0), total length 0x0074 = 116, id 1, DF, TTL 64,
# proto 17, checksum (not verified), 10.1.2.3 -> 192.168.200.7
IPV4_UDP = "45 68 00 74  00 01 40 00  40 11 00 00  0a 01 02 03  c0 a8 c8 07"
UDP_4791 = "c3 50 12 b7 00 60 00 00"  # 50000 -> 4791, length 96, no checksum
BTH_WRITE_FIRST = "06 00 ff ff  00 00 12 34  80 00 00 64"  # RC RDMA_WRITE_FIRST QP 0x1234 PSN 100
RETH = "00 00 7f 00 00 00 10 00  00 00 ab cd  00 10 00 00"  # VA, R_Key 0xabcd, 1 MiB


# --------------------------------------------------------------------------------------------
# Ethernet / VLAN


def test_ethernet_ipv4_udp_rocev2() -> None:
    frame = h(ETH_MACS + "08 00" + IPV4_UDP + UDP_4791 + BTH_WRITE_FIRST + RETH + "00" * 20)
    info = parse_packet(1, frame)
    assert info.header_protocol == 1
    assert info.dst_mac == "0a:1b:2c:3d:4e:5f" and info.src_mac == "02:00:00:00:00:01"
    assert info.vlans == () and info.ethertype == 0x0800
    assert (info.ip_version, info.src_ip, info.dst_ip) == (4, "10.1.2.3", "192.168.200.7")
    assert (info.ip_protocol, info.dscp, info.ecn, info.ttl, info.ip_length) == (17, 26, 0, 64, 116)
    assert (info.src_port, info.dst_port) == (50000, 4791)
    assert info.tcp_flags is None and info.icmp_type is None and info.icmp_code is None
    assert info.stopped_at is None
    roce = info.roce
    assert roce is not None and roce.complete
    assert (roce.bth.opcode, roce.bth.transport, roce.bth.operation) == (
        6,
        "RC",
        "RDMA_WRITE_FIRST",
    )
    assert (roce.bth.dest_qp, roce.bth.psn, roce.bth.ack_req) == (0x1234, 100, True)
    assert roce.reth == Reth(0x7F0000001000, 0xABCD, 0x100000)


def test_udp_source_port_4791_is_not_rocev2() -> None:
    frame = h(ETH_MACS + "08 00" + IPV4_UDP + "12 b7 c3 50 00 60 00 00" + BTH_WRITE_FIRST)
    info = parse_packet(1, frame)
    assert (info.src_port, info.dst_port, info.roce, info.stopped_at) == (4791, 50000, None, None)


def test_single_vlan() -> None:
    # 802.1Q TCI 0x6064: PCP 3, DEI 0, VID 100
    frame = h(ETH_MACS + "81 00 60 64  08 00" + IPV4_UDP + "04 d2 00 35 00 08 00 00")
    info = parse_packet(1, frame)
    assert info.vlans == (100,) and info.ethertype == 0x0800
    assert (info.src_port, info.dst_port) == (1234, 53)
    assert info.stopped_at is None


@pytest.mark.parametrize("outer_tpid", ["88 a8", "91 00", "81 00"])
def test_qinq(outer_tpid: str) -> None:
    # outer VID 10 (TCI 0x000a), inner VID 4094 with DEI set (TCI 0x1ffe), then IPv6
    ipv6_udp = (
        "60 00 00 00 00 08 11 40"
        + "20 01 0d b8"
        + "00" * 11
        + "01"
        + "20 01 0d b8"
        + "00" * 11
        + "02"
    )
    frame = h(
        ETH_MACS + outer_tpid + "00 0a  81 00 1f fe  86 dd" + ipv6_udp + "00 07 00 09 00 08 00 00"
    )
    info = parse_packet(1, frame)
    assert info.vlans == (10, 4094) and info.ethertype == 0x86DD
    assert (info.src_ip, info.dst_ip) == ("2001:db8::1", "2001:db8::2")
    assert (info.src_port, info.dst_port) == (7, 9) and info.stopped_at is None


def test_three_tags() -> None:
    frame = h(ETH_MACS + "88 a8 00 01  81 00 00 02  81 00 00 03  08 06" + "00 01 08 00")
    info = parse_packet(1, frame)
    assert info.vlans == (1, 2, 3) and info.ethertype == 0x0806
    assert info.ip_version is None and info.stopped_at is None


def test_non_ip_ethertype() -> None:
    arp = "00 01 08 00 06 04 00 01" + "00" * 20
    info = parse_packet(1, h(ETH_MACS + "08 06" + arp))
    assert info.ethertype == 0x0806 and info.stopped_at is None
    assert info.src_ip is None and info.ip_protocol is None and info.roce is None


# --------------------------------------------------------------------------------------------
# IPv4


def test_ipv4_options_skipped() -> None:
    # IHL 6: 4 bytes of options (router alert 94 04 00 00); TOS 0xb9: DSCP 46 (EF), ECN 1
    ip = "46 b9 00 24  12 34 00 00  01 11 00 00  c0 00 02 01  c6 33 64 02" + "94 04 00 00"
    info = parse_packet(1, h(ETH_MACS + "08 00" + ip + "00 44 00 43 00 10 00 00" + "00" * 8))
    assert (info.src_ip, info.dst_ip) == ("192.0.2.1", "198.51.100.2")
    assert (info.dscp, info.ecn, info.ttl, info.ip_length) == (46, 1, 1, 36)
    assert (info.src_port, info.dst_port) == (68, 67) and info.stopped_at is None


def test_ipv4_max_options() -> None:
    # IHL 15: 40 bytes of options (NOPs then EOL), UDP 1 -> 2
    ip = "4f 00 00 44  00 00 00 00  40 11 00 00  01 01 01 01  02 02 02 02" + "01" * 39 + "00"
    info = parse_packet(11, h(ip + "00 01 00 02 00 08 00 00"))
    assert (info.src_port, info.dst_port, info.stopped_at) == (1, 2, None)


@pytest.mark.parametrize(
    ("tos", "dscp", "ecn"),
    [("00", 0, 0), ("03", 0, 3), ("02", 0, 2), ("68", 26, 0), ("6a", 26, 2), ("6b", 26, 3),
     ("b8", 46, 0), ("fc", 63, 0), ("ff", 63, 3), ("20", 8, 0)],
)  # fmt: skip
def test_ipv4_dscp_ecn(tos: str, dscp: int, ecn: int) -> None:
    ip = f"45 {tos} 00 1c  00 00 00 00  40 11 00 00  0a 00 00 01  0a 00 00 02"
    info = parse_packet(11, h(ip + "00 01 00 02 00 08 00 00"))
    assert (info.dscp, info.ecn) == (dscp, ecn)


def test_ipv4_tcp_flags() -> None:
    # TCP 443 -> 51000, data offset 5; byte 12 = 0x51 (offset 5, NS bit set), byte 13 = 0x12
    ip = "45 00 00 28  00 00 40 00  80 06 00 00  0a 00 00 01  0a 00 00 02"
    tcp = "01 bb c7 38  00 00 00 01  00 00 00 02  51 12 ff ff  00 00 00 00"
    info = parse_packet(1, h(ETH_MACS + "08 00" + ip + tcp))
    assert (info.ip_protocol, info.ttl) == (6, 128)
    assert (info.src_port, info.dst_port, info.tcp_flags) == (443, 51000, 0x12)
    assert info.stopped_at is None and info.roce is None


def test_ipv4_icmp() -> None:
    ip = "45 00 00 54  ab cd 00 00  40 01 00 00  08 08 08 08  0a 00 00 05"
    icmp = "00 00 ff ff 00 01 00 02"  # echo reply
    info = parse_packet(1, h(ETH_MACS + "08 00" + ip + icmp))
    assert (info.ip_protocol, info.icmp_type, info.icmp_code) == (1, 0, 0)
    info = parse_packet(1, h(ETH_MACS + "08 00" + ip + "03 0d 00 00 00 00 00 00"))
    assert (info.icmp_type, info.icmp_code) == (3, 13)
    assert info.src_port is None and info.stopped_at is None


def test_ipv4_fragments() -> None:
    base = "45 00 05 dc  00 07 {frag} 40 11 00 00  0a 00 00 01  0a 00 00 02"
    udp = "30 39 12 b7 05 c8 00 00" + BTH_WRITE_FIRST + RETH
    # first fragment (MF set, offset 0): L4 walked
    first = parse_packet(11, h(base.format(frag="20 00") + udp))
    assert (first.src_port, first.dst_port) == (12345, 4791) and first.roce is not None
    # later fragment (offset 185 * 8): no L4 header, nothing missing
    later = parse_packet(11, h(base.format(frag="00 b9") + udp))
    assert later.ip_protocol == 17 and later.src_port is None and later.roce is None
    assert later.stopped_at is None
    # last fragment (MF clear, offset 1)
    last = parse_packet(11, h(base.format(frag="00 01") + udp))
    assert last.src_port is None and last.stopped_at is None


def test_ipv4_bad_version_or_ihl() -> None:
    six = parse_packet(1, h(ETH_MACS + "08 00" + "65" + IPV4_UDP[2:] + UDP_4791))
    assert six.stopped_at == "ipv4" and six.ip_version is None and six.src_ip is None
    ihl4 = parse_packet(1, h(ETH_MACS + "08 00" + "44" + IPV4_UDP[2:] + UDP_4791))
    assert ihl4.stopped_at == "ipv4" and ihl4.src_port is None
    assert ihl4.src_ip == "10.1.2.3"  # the fixed header itself was readable


def test_raw_ipv4_protocol_11() -> None:
    info = parse_packet(11, h(IPV4_UDP + UDP_4791 + BTH_WRITE_FIRST + RETH))
    assert info.header_protocol == 11
    assert info.src_mac is None and info.ethertype is None and info.vlans == ()
    assert (info.ip_version, info.src_ip, info.dst_port) == (4, "10.1.2.3", 4791)
    assert info.roce is not None and info.roce.reth is not None and info.stopped_at is None


# --------------------------------------------------------------------------------------------
# IPv6

SRC6 = "fe 80 00 00 00 00 00 00  02 00 5e ff fe 00 53 01"  # fe80::200:5eff:fe00:5301
DST6 = "ff 02 00 00 00 00 00 00  00 00 00 00 00 00 00 01"  # ff02::1


def test_ipv6_udp_traffic_class_and_hop_limit() -> None:
    # version 6, traffic class 0xb9 (DSCP 46, ECN 1), flow label 0x12345 -> 6b 91 23 45
    ip6 = "6b 91 23 45  00 10 11 ff" + SRC6 + DST6
    info = parse_packet(1, h(ETH_MACS + "86 dd" + ip6 + "02 22 02 23 00 10 00 00" + "00" * 8))
    assert info.ethertype == 0x86DD and info.ip_version == 6
    assert (info.src_ip, info.dst_ip) == ("fe80::200:5eff:fe00:5301", "ff02::1")
    assert (info.dscp, info.ecn, info.ttl, info.ip_length) == (46, 1, 255, 56)
    assert (info.ip_protocol, info.src_port, info.dst_port) == (17, 546, 547)
    assert info.stopped_at is None


def test_ipv6_extension_header_chain() -> None:
    hop = "2b 00 01 04 00 00 00 00"  # hop-by-hop -> routing(43), PadN
    routing = "2c 02 04 00 00 00 00 00" + "00" * 16  # routing -> fragment(44), len 2 = 24 bytes
    frag = "3c 00 00 01 00 00 00 2a"  # fragment -> dest opts(60), offset 0, M=1
    dst = "06 01 01 0a" + "00" * 12  # dest opts -> TCP, len 1 = 16 bytes
    tcp = "00 16 d4 31 00 00 00 00 00 00 00 00 50 18 01 00 00 00 00 00"
    ext = hop + routing + frag + dst
    plen = f"{(len(h(ext + tcp))):04x}"
    ip6 = f"60 00 00 00 {plen} 00 40" + SRC6 + DST6
    info = parse_packet(12, h(ip6 + ext + tcp))
    assert info.ip_protocol == 6 and info.ip_length == 40 + 76
    assert (info.src_port, info.dst_port, info.tcp_flags) == (22, 54321, 0x18)
    assert info.stopped_at is None


def test_ipv6_authentication_header() -> None:
    ah = "11 04 00 00 00 00 01 00 00 00 00 01" + "00" * 12  # -> UDP; (4 + 2) * 4 = 24 bytes
    ip6 = "60 00 00 00 00 20 33 40" + SRC6 + DST6
    info = parse_packet(12, h(ip6 + ah + "00 35 00 35 00 08 00 00"))
    assert (info.ip_protocol, info.src_port, info.dst_port, info.stopped_at) == (17, 53, 53, None)


def test_ipv6_later_fragment_has_no_l4() -> None:
    frag = "11 00 05 a9 00 00 00 2a"  # -> UDP, offset 180, M=1
    ip6 = "60 00 00 00 00 10 2c 40" + SRC6 + DST6
    info = parse_packet(12, h(ip6 + frag + "00 35 00 35 00 08 00 00"))
    assert info.ip_protocol == 17 and info.src_port is None and info.stopped_at is None


def test_ipv6_icmpv6() -> None:
    ip6 = "60 00 00 00 00 18 3a ff" + SRC6 + DST6
    icmp6 = "87 00 12 34 00 00 00 00" + "20 01 0d b8" + "00" * 12  # neighbour solicitation
    info = parse_packet(12, h(ip6 + icmp6))
    assert (info.ip_protocol, info.icmp_type, info.icmp_code) == (58, 135, 0)
    assert info.ethertype is None and info.stopped_at is None


def test_raw_ipv6_rocev2() -> None:
    # Traffic class 0x6a: DSCP 26, ECN 2 (ECT(0)); UDP 4791; RC ACKNOWLEDGE with AETH
    ip6 = "66 a0 00 00 00 1c 11 40" + SRC6 + "20 01 0d b8" + "00" * 11 + "09"
    udp = "c0 00 12 b7 00 1c 00 00"
    ack = "11 00 ff ff 00 00 00 99 00 00 10 00" + "00 00 00 05"  # ACK credits 0, MSN 5
    info = parse_packet(12, h(ip6 + udp + ack))
    assert (info.dscp, info.ecn, info.dst_ip) == (26, 2, "2001:db8::9")
    assert info.roce is not None and info.roce.aeth is not None
    assert info.roce.bth.operation == "ACKNOWLEDGE" and info.roce.bth.dest_qp == 0x99
    assert (info.roce.aeth.kind, info.roce.aeth.credits, info.roce.aeth.msn) == ("ACK", 0, 5)
    assert info.stopped_at is None


def test_ipv6_bad_version() -> None:
    info = parse_packet(12, h("40 00 00 00 00 00 11 40" + SRC6 + DST6))
    assert info.stopped_at == "ipv6" and info.ip_version is None


# --------------------------------------------------------------------------------------------
# Unsupported / degenerate input


@pytest.mark.parametrize("protocol", [0, 2, 7, 13, 14, 15, 18, 255, -1, 2**32])
def test_unsupported_protocols(protocol: int) -> None:
    info = parse_packet(protocol, h(ETH_MACS + "08 00" + IPV4_UDP))
    assert info == PacketInfo(header_protocol=protocol, stopped_at="unsupported_protocol")


@pytest.mark.parametrize(("protocol", "layer"), [(1, "ethernet"), (11, "ipv4"), (12, "ipv6")])
def test_empty_header(protocol: int, layer: str) -> None:
    assert parse_packet(protocol, b"") == PacketInfo(header_protocol=protocol, stopped_at=layer)


# --------------------------------------------------------------------------------------------
# Truncation at every byte offset


def expected_layer(cut: int, bounds: list[tuple[int, str]]) -> str | None:
    """Layer named when the header is cut to ``cut`` bytes; bounds = (end offset, layer)."""
    for end, layer in bounds:
        if cut < end:
            return layer
    return None


TRUNCATION_CASES = {
    # Eth 14 | VLAN 4 (18) | IPv4 20 (38) | UDP 8 (46) | BTH 12 (58) | RETH 16 (74)
    "vlan_ipv4_rocev2": (
        1,
        ETH_MACS + "81 00 00 64 08 00" + IPV4_UDP + UDP_4791 + BTH_WRITE_FIRST + RETH,
        [(14, "ethernet"), (18, "vlan"), (38, "ipv4"), (46, "udp"), (58, "bth"), (74, "reth")],
    ),
    # Eth 14 | QinQ 8 (22) | IPv4+opts 24 (46) | TCP 20 (66)
    "qinq_ipv4_options_tcp": (
        1,
        ETH_MACS
        + "88 a8 00 0a 81 00 00 14 08 00"
        + "46 00 00 2c 00 00 00 00 40 06 00 00 0a 00 00 01 0a 00 00 02 01 01 01 00"
        + "00 50 9c 40 00 00 00 00 00 00 00 00 50 02 ff ff 00 00 00 00",
        [(14, "ethernet"), (18, "vlan"), (22, "vlan"), (46, "ipv4"), (66, "tcp")],
    ),
    # IPv6 40 | hop-by-hop 8 (48) | fragment 8 (56) | ICMPv6 4 (60)
    "ipv6_ext_icmpv6": (
        12,
        "60 00 00 00 00 18 00 40" + SRC6 + DST6 + "2c 00 00 00 00 00 00 00"
        "3a 00 00 00 00 00 00 01" + "80 00 00 00",
        [(40, "ipv6"), (48, "ipv6"), (56, "ipv6"), (60, "icmpv6")],
    ),
    # IPv4 20 | ICMP 4 (24)
    "ipv4_icmp": (
        11,
        "45 00 00 1c 00 00 00 00 40 01 00 00 0a 00 00 01 0a 00 00 02" + "08 00 f7 ff",
        [(20, "ipv4"), (24, "icmp")],
    ),
    # IPv4 20 | UDP 8 (28) | BTH 12 (40) | RDETH 4 (44) | AETH 4 (48) : RD ACKNOWLEDGE
    "ipv4_rd_ack": (
        11,
        IPV4_UDP + UDP_4791 + "51 00 ff ff 00 00 00 01 00 00 00 01" + "00 00 00 01" + "60 00 00 01",
        [(20, "ipv4"), (28, "udp"), (40, "bth"), (44, "rdeth"), (48, "aeth")],
    ),
}


@pytest.mark.parametrize("case", sorted(TRUNCATION_CASES))
def test_truncation_every_offset(case: str) -> None:
    protocol, text, bounds = TRUNCATION_CASES[case]
    frame = h(text)
    assert len(frame) == bounds[-1][0]
    full = parse_packet(protocol, frame)
    assert full.stopped_at is None
    for cut in range(len(frame) + 1):
        info = parse_packet(protocol, frame[:cut])
        assert info.stopped_at == expected_layer(cut, bounds), cut
        # What a truncated parse reports agrees with the full parse.
        for name in PacketInfo.__slots__:
            value = getattr(info, name)
            if value not in (None, ()) and name not in ("stopped_at", "roce", "vlans"):
                assert value == getattr(full, name), (cut, name)
        assert set(info.vlans) <= set(full.vlans)
        if info.roce is not None:
            assert full.roce is not None and info.roce.bth == full.roce.bth
            assert info.roce.complete is (cut == len(frame))


def test_partial_fields_when_cut() -> None:
    frame = h(ETH_MACS + "81 00 00 64 08 00" + IPV4_UDP + UDP_4791)
    assert parse_packet(1, frame[:5]).dst_mac is None
    six = parse_packet(1, frame[:6])
    assert six.dst_mac == "0a:1b:2c:3d:4e:5f" and six.src_mac is None
    assert parse_packet(1, frame[:12]).src_mac == "02:00:00:00:00:01"
    tci_only = parse_packet(1, frame[:16])
    assert tci_only.vlans == (100,) and tci_only.ethertype is None
    assert tci_only.stopped_at == "vlan"
    ports_only = parse_packet(1, frame[:42])
    assert (ports_only.src_port, ports_only.dst_port, ports_only.stopped_at) == (
        50000,
        4791,
        "udp",
    )


def test_never_raises_on_garbage() -> None:
    samples = [b"", b"\x00", b"\xff" * 200, bytes(range(256)), b"\x45" * 64, b"\x60" * 80]
    for protocol in (1, 11, 12, 0, 99):
        for data in samples:
            assert parse_packet(protocol, data).stopped_at != PARSER_ERROR


# --------------------------------------------------------------------------------------------
# L2-L4 builders (decoders.frames) against hand-written bytes


def test_ipv4_builder_checksum_known_vector() -> None:
    # Classic worked example: 192.168.0.1 -> 192.168.0.199, UDP, total length 0x73, TTL 64, DF;
    # header checksum 0xb861.
    ip = F.ipv4("192.168.0.1", "192.168.0.199", 17, bytes(0x73 - 20), ttl=64)
    assert ip[:20] == h("45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7")
    assert F.inet_checksum(ip[:20]) == 0  # a correct header sums to 0xffff


def test_ipv4_builder_options_and_fragments() -> None:
    ip = F.ipv4(
        "10.0.0.1",
        "10.0.0.2",
        6,
        b"",
        options=b"\x94\x04",
        dont_fragment=False,
        more_fragments=True,
        frag_offset=185,
        dscp=46,
        ecn=3,
    )
    assert ip[0] == 0x46 and ip[1] == 0xBB and ip[2:4] == h("00 18")
    assert ip[6:8] == h("20 b9") and ip[20:24] == h("94 04 00 00")
    assert F.inet_checksum(ip) == 0


def test_ethernet_builder_tags() -> None:
    mac1, mac2 = "0a:1b:2c:3d:4e:5f", "02-00-00-00-00-01"
    assert F.ethernet(mac1, mac2, 0x0800) == h(ETH_MACS + "08 00")
    assert F.ethernet(mac1, mac2, 0x0800, b"", (100,), pcp=3) == h(ETH_MACS + "81 00 60 64 08 00")
    qinq = F.ethernet(mac1, mac2, 0x86DD, b"xy", (10, 20))
    assert qinq == h(ETH_MACS + "88 a8 00 0a 81 00 00 14 86 dd") + b"xy"
    legacy = F.ethernet(mac1, mac2, 0x0800, b"", (1, 2), tpids=(0x9100, 0x8100))
    assert legacy[12:22] == h("91 00 00 01 81 00 00 02 08 00")
    with pytest.raises(ValueError):
        F.ethernet("00:11", mac2, 0x0800)


def test_ipv6_builders() -> None:
    ip6 = F.ipv6("2001:db8::1", "ff02::1", 17, b"abcd", dscp=46, ecn=1, hop_limit=255)
    assert ip6[:8] == h("6b 90 00 00 00 04 11 ff")
    assert F.ipv6_ext_header(6) == h("06 00 00 00 00 00 00 00")
    assert F.ipv6_ext_header(17, bytes(7)) == h("11 01") + bytes(14)
    assert F.ipv6_fragment_header(17, offset=180, more=True, ident=42) == h(
        "11 00 05 a1 00 00 00 2a"
    )


def test_l4_builders() -> None:
    assert F.udp(50000, 4791, b"abc") == h("c3 50 12 b7 00 0b 00 00") + b"abc"
    tcp = F.tcp(443, 51000, flags=0x112, seq=1, ack=2, window=0xFFFF)
    assert tcp == h("01 bb c7 38 00 00 00 01 00 00 00 02 51 12 ff ff 00 00 00 00")
    assert F.tcp(1, 2, options=b"\x02\x04\x05\xb4")[12] == 0x60  # data offset 6
    echo = F.icmp(8, 0, rest=h("00 01 00 02"))
    assert echo == h("08 00 f7 fc 00 01 00 02")

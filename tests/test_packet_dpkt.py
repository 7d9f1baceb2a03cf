"""Property tests: parse_packet agrees with dpkt (the oracle) on generated frames.

Two directions: frames assembled with dpkt's own classes, and frames from our builders in
``decoders.frames`` read back by dpkt. Both are parsed by us and by dpkt and the views compared.
Plus: arbitrary or corrupted bytes never make the parser fail.
"""

from __future__ import annotations

import socket
from typing import Any

import dpkt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from decoders import frames as F
from decoders.packet import PARSER_ERROR, parse_packet
from decoders.packet_types import PacketInfo
from decoders.rocev2 import EXTENSION_HEADER_SIZES, EXTENSION_HEADERS, OPCODES

# Example counts come from the active Hypothesis profile (tests/conftest.py: dev 100, ci 300).
SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

FIELDS = (
    "dst_mac",
    "src_mac",
    "vlans",
    "ethertype",
    "ip_version",
    "src_ip",
    "dst_ip",
    "ip_protocol",
    "dscp",
    "ecn",
    "ttl",
    "ip_length",
    "src_port",
    "dst_port",
    "tcp_flags",
    "icmp_type",
    "icmp_code",
)

IP_FIELDS = FIELDS[4:]


def dpkt_view(frame: bytes) -> dict[str, Any]:
    """The PacketInfo fields as dpkt sees the frame."""
    eth = dpkt.ethernet.Ethernet(frame)
    tags = getattr(eth, "vlan_tags", [])
    v: dict[str, Any] = dict.fromkeys(FIELDS)
    v["dst_mac"] = eth.dst.hex(":")
    v["src_mac"] = eth.src.hex(":")
    v["vlans"] = tuple(t.id for t in tags)
    v["ethertype"] = tags[-1].type if tags else eth.type
    ip = eth.data
    if isinstance(ip, dpkt.ip.IP):
        v.update(
            ip_version=4,
            src_ip=socket.inet_ntop(socket.AF_INET, ip.src),
            dst_ip=socket.inet_ntop(socket.AF_INET, ip.dst),
            ip_protocol=ip.p,
            dscp=ip.tos >> 2,
            ecn=ip.tos & 3,
            ttl=ip.ttl,
            ip_length=ip.len,
        )
    elif isinstance(ip, dpkt.ip6.IP6):
        v.update(
            ip_version=6,
            src_ip=socket.inet_ntop(socket.AF_INET6, ip.src),
            dst_ip=socket.inet_ntop(socket.AF_INET6, ip.dst),
            ip_protocol=ip.p,
            dscp=ip.fc >> 2,
            ecn=ip.fc & 3,
            ttl=ip.hlim,
            ip_length=ip.plen + 40,
        )
    else:
        return v
    l4 = ip.data
    if isinstance(l4, dpkt.udp.UDP | dpkt.tcp.TCP):
        v["src_port"], v["dst_port"] = l4.sport, l4.dport
    if isinstance(l4, dpkt.tcp.TCP):
        v["tcp_flags"] = l4.flags & 0xFF  # byte 13 only; dpkt's 9-bit value includes NS
    if isinstance(l4, dpkt.icmp.ICMP | dpkt.icmp6.ICMP6):
        v["icmp_type"], v["icmp_code"] = l4.type, l4.code
    return v


def our_view(info: PacketInfo) -> dict[str, Any]:
    return {name: getattr(info, name) for name in FIELDS}


# --------------------------------------------------------------------------------------------
# Strategies

u8 = st.integers(0, 255)
u16 = st.integers(0, 0xFFFF)
vid = st.integers(0, 4095)
macs = st.binary(min_size=6, max_size=6)
payloads = st.binary(max_size=48)


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    ip_version = draw(st.sampled_from([4, 6]))
    n_tags = draw(st.integers(0, 2))
    spec: dict[str, Any] = {
        "dst": draw(macs),
        "src": draw(macs),
        "vlans": tuple(draw(vid) for _ in range(n_tags)),
        "pcp": draw(st.integers(0, 7)),
        "outer_tpid": draw(st.sampled_from([0x8100, 0x88A8, 0x9100])),
        "ip_version": ip_version,
        "src_ip": draw(st.binary(min_size=4, max_size=4) if ip_version == 4 else st.binary(
            min_size=16, max_size=16
        )),
        "dst_ip": draw(st.binary(min_size=4, max_size=4) if ip_version == 4 else st.binary(
            min_size=16, max_size=16
        )),
        "tos": draw(u8),
        "ttl": draw(u8),
        "l4": draw(st.sampled_from(["udp", "tcp", "icmp"])),
        "sport": draw(u16),
        "dport": draw(u16.filter(lambda p: p != 4791)),
        "tcp_flags": draw(st.integers(0, 0x1FF)),
        "icmp_type": draw(u8),
        "icmp_code": draw(u8),
        "payload": draw(payloads),
    }  # fmt: skip
    return spec


def build_with_dpkt(s: dict[str, Any]) -> bytes:
    l4: dpkt.Packet
    if s["l4"] == "udp":
        l4 = dpkt.udp.UDP(sport=s["sport"], dport=s["dport"], data=s["payload"])
        l4.ulen = 8 + len(s["payload"])
        proto = 17
    elif s["l4"] == "tcp":
        l4 = dpkt.tcp.TCP(sport=s["sport"], dport=s["dport"], flags=s["tcp_flags"])
        l4.data = s["payload"]
        proto = 6
    elif s["ip_version"] == 4:
        l4 = dpkt.icmp.ICMP(type=s["icmp_type"], code=s["icmp_code"], data=s["payload"])
        proto = 1
    else:
        l4 = dpkt.icmp6.ICMP6(type=s["icmp_type"], code=s["icmp_code"], data=s["payload"])
        proto = 58
    ip: dpkt.Packet
    if s["ip_version"] == 4:
        ip = dpkt.ip.IP(src=s["src_ip"], dst=s["dst_ip"], p=proto, tos=s["tos"], ttl=s["ttl"])
        ip.data = l4
        ip.len = 20 + len(bytes(l4))
        ethertype = dpkt.ethernet.ETH_TYPE_IP
    else:
        ip = dpkt.ip6.IP6(src=s["src_ip"], dst=s["dst_ip"], nxt=proto, hlim=s["ttl"])
        ip.fc = s["tos"]
        ip.data = l4
        ip.plen = len(bytes(l4))
        ethertype = dpkt.ethernet.ETH_TYPE_IP6
    tags = [dpkt.ethernet.VLANtag8021Q(id=v, pri=s["pcp"]) for v in s["vlans"]]
    eth = dpkt.ethernet.Ethernet(dst=s["dst"], src=s["src"], type=ethertype)
    if tags:
        eth.vlan_tags = tags
        eth.type = s["outer_tpid"] if len(tags) == 2 else 0x8100
    eth.data = ip
    return bytes(eth)


def build_with_ours(s: dict[str, Any]) -> bytes:
    if s["l4"] == "udp":
        l4, proto = F.udp(s["sport"], s["dport"], s["payload"]), F.IPPROTO_UDP
    elif s["l4"] == "tcp":
        l4 = F.tcp(s["sport"], s["dport"], s["payload"], flags=s["tcp_flags"])
        proto = F.IPPROTO_TCP
    else:
        l4 = F.icmp(s["icmp_type"], s["icmp_code"], s["payload"])
        proto = F.IPPROTO_ICMP if s["ip_version"] == 4 else F.IPPROTO_ICMPV6
    dscp, ecn = s["tos"] >> 2, s["tos"] & 3
    if s["ip_version"] == 4:
        ip = F.ipv4(s["src_ip"], s["dst_ip"], proto, l4, dscp=dscp, ecn=ecn, ttl=s["ttl"])
        ethertype = F.ETHERTYPE_IPV4
    else:
        ip = F.ipv6(s["src_ip"], s["dst_ip"], proto, l4, dscp=dscp, ecn=ecn, hop_limit=s["ttl"])
        ethertype = F.ETHERTYPE_IPV6
    tpids = None
    if len(s["vlans"]) == 2:
        tpids = [s["outer_tpid"], 0x8100]
    return F.ethernet(s["dst"], s["src"], ethertype, ip, s["vlans"], tpids=tpids, pcp=s["pcp"])


def spec_view(s: dict[str, Any]) -> dict[str, Any]:
    """What the generated spec says each field must be (independent of both parsers)."""
    family = socket.AF_INET if s["ip_version"] == 4 else socket.AF_INET6
    icmp = s["l4"] == "icmp"
    ports = s["l4"] in ("udp", "tcp")
    return {
        "dst_mac": s["dst"].hex(":"),
        "src_mac": s["src"].hex(":"),
        "vlans": s["vlans"],
        "ethertype": 0x0800 if s["ip_version"] == 4 else 0x86DD,
        "ip_version": s["ip_version"],
        "src_ip": socket.inet_ntop(family, s["src_ip"]),
        "dst_ip": socket.inet_ntop(family, s["dst_ip"]),
        "ip_protocol": {"udp": 17, "tcp": 6}.get(s["l4"], 1 if s["ip_version"] == 4 else 58),
        "dscp": s["tos"] >> 2,
        "ecn": s["tos"] & 3,
        "ttl": s["ttl"],
        "src_port": s["sport"] if ports else None,
        "dst_port": s["dport"] if ports else None,
        "tcp_flags": s["tcp_flags"] & 0xFF if s["l4"] == "tcp" else None,
        "icmp_type": s["icmp_type"] if icmp else None,
        "icmp_code": s["icmp_code"] if icmp else None,
    }


# --------------------------------------------------------------------------------------------
# Properties


@SETTINGS
@given(specs())
def test_dpkt_built_frames(spec: dict[str, Any]) -> None:
    frame = build_with_dpkt(spec)
    info = parse_packet(1, frame)
    assert info.stopped_at is None
    ours = our_view(info)
    assert ours == dpkt_view(frame)
    expected = spec_view(spec)
    assert {k: ours[k] for k in expected} == expected


@SETTINGS
@given(specs())
def test_our_builder_frames_read_by_dpkt(spec: dict[str, Any]) -> None:
    frame = build_with_ours(spec)
    info = parse_packet(1, frame)
    assert info.stopped_at is None
    ours = our_view(info)
    assert ours == dpkt_view(frame)
    expected = spec_view(spec)
    assert {k: ours[k] for k in expected} == expected
    # And the raw-IP header protocols see the same IP and L4 fields.
    ip_start = 14 + 4 * len(spec["vlans"])
    raw = parse_packet(11 if spec["ip_version"] == 4 else 12, frame[ip_start:])
    assert raw.stopped_at is None and raw.src_mac is None and raw.ethertype is None
    assert {k: v for k, v in our_view(raw).items() if k in IP_FIELDS} == {
        k: v for k, v in ours.items() if k in IP_FIELDS
    }


@SETTINGS
@given(specs(), st.data())
def test_ipv6_extension_headers_vs_dpkt(spec: dict[str, Any], data: st.DataObject) -> None:
    spec = spec | {"ip_version": 6, "src_ip": bytes(15) + b"\x01", "dst_ip": bytes(15) + b"\x02"}
    kinds = data.draw(st.lists(st.sampled_from([0, 60, 44]), max_size=3, unique=True))
    # RFC 8200 order: hop-by-hop, destination options, fragment. (dpkt 1.9.8 also fails on a
    # fragment header that is followed by another extension header.)
    kinds = sorted(kinds, key=[0, 60, 44].index)
    frame = build_with_ours(spec)
    ip_start = 14 + 4 * len(spec["vlans"])
    ip6, upper = frame[ip_start : ip_start + 40], frame[ip_start + 40 :]
    final_proto = ip6[6]
    chain = upper
    nexts = [*kinds[1:], final_proto] if kinds else []
    for kind, nxt in reversed(list(zip(kinds, nexts, strict=True))):
        if kind == 44:
            chain = F.ipv6_fragment_header(nxt, chain, ident=7)
        else:
            chain = F.ipv6_ext_header(nxt, b"\x01\x04\x00\x00\x00\x00", chain)  # PadN
    first = kinds[0] if kinds else final_proto
    new_ip6 = ip6[:4] + len(chain).to_bytes(2, "big") + bytes([first]) + ip6[7:]
    frame = frame[:ip_start] + new_ip6 + chain
    info = parse_packet(1, frame)
    assert info.stopped_at is None
    assert our_view(info) == dpkt_view(frame)
    assert info.ip_protocol == final_proto


@st.composite
def rocev2_specs(draw: st.DrawFn) -> tuple[dict[str, Any], bytes]:
    opcode = draw(st.sampled_from(sorted(OPCODES)))
    ext = b"".join(
        draw(st.binary(min_size=EXTENSION_HEADER_SIZES[n], max_size=EXTENSION_HEADER_SIZES[n]))
        for n in EXTENSION_HEADERS[opcode]
    )
    kw: dict[str, Any] = {
        "opcode": opcode,
        "dest_qp": draw(st.integers(0, 0xFFFFFF)),
        "psn": draw(st.integers(0, 0xFFFFFF)),
        "pkey": draw(u16),
        "ack_req": draw(st.booleans()),
        "fecn": draw(st.booleans()),
        "becn": draw(st.booleans()),
        "vlans": tuple(draw(st.lists(vid, max_size=2))),
        "ip_version": draw(st.sampled_from([4, 6])),
        "dscp": draw(st.integers(0, 63)),
        "ecn": draw(st.integers(0, 3)),
        "src_port": draw(u16),
        "payload": draw(st.binary(max_size=64)),
    }
    return kw, ext


@SETTINGS
@given(rocev2_specs(), st.integers(0, 200))
def test_rocev2_frames(spec: tuple[dict[str, Any], bytes], cut: int) -> None:
    kw, ext = spec
    frame = F.rocev2_frame(ext=ext, **kw)
    full = parse_packet(1, frame)
    assert full.stopped_at is None and full.roce is not None and full.roce.complete
    assert our_view(full) == dpkt_view(frame)
    assert full.dst_port == 4791 and (full.dscp, full.ecn) == (kw["dscp"], kw["ecn"])
    bth = full.roce.bth
    assert (bth.opcode, bth.dest_qp, bth.psn, bth.pkey) == (
        kw["opcode"],
        kw["dest_qp"],
        kw["psn"],
        kw["pkey"],
    )
    assert (bth.ack_req, bth.fecn, bth.becn) == (kw["ack_req"], kw["fecn"], kw["becn"])
    assert bth.pad_count == -len(kw["payload"]) % 4
    # dpkt's UDP payload starts with the same BTH and extension header bytes.
    udp = dpkt.ethernet.Ethernet(frame).data.data
    assert bytes(udp.data)[: 12 + len(ext)] == frame[len(frame) - len(udp.data) :][: 12 + len(ext)]
    # A sampled header cut anywhere agrees with the full parse on what it has.
    info = parse_packet(1, frame[:cut])
    assert info.stopped_at != PARSER_ERROR
    if info.roce is not None:
        assert info.roce.bth == bth
        assert info.roce.complete is (info.stopped_at is None)
        for name in ("reth", "aeth", "immediate"):
            got = getattr(info.roce, name)
            assert got is None or got == getattr(full.roce, name)


@SETTINGS
@given(st.sampled_from([1, 11, 12, 0, 13, 18]), st.binary(max_size=160))
def test_arbitrary_bytes_never_fail(protocol: int, data: bytes) -> None:
    info = parse_packet(protocol, data)
    assert info.header_protocol == protocol and info.stopped_at != PARSER_ERROR


@SETTINGS
@given(specs(), st.data())
def test_corrupted_frames_never_fail(spec: dict[str, Any], data: st.DataObject) -> None:
    frame = bytearray(build_with_ours(spec))
    for _ in range(data.draw(st.integers(1, 6))):
        pos = data.draw(st.integers(0, len(frame) - 1))
        frame[pos] = data.draw(u8)
    cut = data.draw(st.integers(0, len(frame)))
    for protocol in (1, 11, 12):
        info = parse_packet(protocol, bytes(frame[:cut]))
        assert info.stopped_at != PARSER_ERROR

"""Frame builders: realistic Ethernet/IP/UDP/TCP/ICMP/RoCEv2 bytes for tests, the simulator and
benchmarks.

Each builder returns ``bytes`` for one header plus whatever payload it is given, so frames are
stacked inside out::

    ethernet(dst, src, ETHERTYPE_IPV4, ipv4(src_ip, dst_ip, IPPROTO_UDP, udp(sport, 4791, ...)))

or in one call with :func:`rocev2_frame`. Lengths and the IPv4 header checksum are computed;
the UDP checksum defaults to 0 (RoCEv2 senders commonly leave it unset). Field layouts: see
``decoders.rocev2`` and the project protocol notes (section 9 for the IB headers).
"""

from __future__ import annotations

import socket
import struct
import zlib
from collections.abc import Sequence

from decoders.rocev2 import CREDIT_TABLE, NAK_CODES, ROCEV2_UDP_PORT

__all__ = [
    "ETHERTYPE_IPV4",
    "ETHERTYPE_IPV6",
    "IPPROTO_ICMP",
    "IPPROTO_ICMPV6",
    "IPPROTO_TCP",
    "IPPROTO_UDP",
    "aeth",
    "atomic_ack_eth",
    "atomic_eth",
    "bth",
    "deth",
    "ethernet",
    "feth",
    "icmp",
    "icrc",
    "ieth",
    "immdt",
    "inet_checksum",
    "ipv4",
    "ipv6",
    "ipv6_ext_header",
    "ipv6_fragment_header",
    "mac_bytes",
    "rdeth",
    "reth",
    "rocev2_frame",
    "tcp",
    "udp",
    "xrceth",
]

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
TPID_8021Q = 0x8100
TPID_8021AD = 0x88A8
IPPROTO_ICMP = 1
IPPROTO_TCP = 6
IPPROTO_UDP = 17
IPPROTO_ICMPV6 = 58

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")
_ETH_TAG = struct.Struct(">HH")
_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_IPV6 = struct.Struct(">IHBB16s16s")
_UDP = struct.Struct(">HHHH")
_TCP = struct.Struct(">HHIIBBHHH")
_BTH = struct.Struct(">BBHII")
_RETH = struct.Struct(">QII")
_ATOMIC_ETH = struct.Struct(">QIQQ")
_ICRC = struct.Struct("<I")


# ---------------------------------------------------------------------------------------------
# Helpers


def mac_bytes(mac: str | bytes) -> bytes:
    """6 raw bytes from ``aa:bb:cc:dd:ee:ff`` / ``aa-bb-…`` / ``aabbccddeeff`` text or bytes."""
    raw = mac if isinstance(mac, bytes) else bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"MAC address must be 6 bytes: {mac!r}")
    return raw


def _ip_bytes(family: int, addr: str | bytes) -> bytes:
    return addr if isinstance(addr, bytes) else socket.inet_pton(family, addr)


def inet_checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum (one's complement of the one's complement sum)."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# ---------------------------------------------------------------------------------------------
# Layer 2-4


def ethernet(
    dst: str | bytes,
    src: str | bytes,
    ethertype: int,
    payload: bytes = b"",
    vlans: Sequence[int] = (),
    *,
    tpids: Sequence[int] | None = None,
    pcp: int = 0,
) -> bytes:
    """Ethernet II header (no FCS) with optional VLAN tags, outermost first.

    ``tpids`` gives each tag's TPID; by default a single tag is 802.1Q (0x8100) and with
    several tags the outer ones are 802.1ad (0x88A8) and the innermost 802.1Q (QinQ).
    ``pcp`` (priority code point, 0-7) is put into every tag.
    """
    if tpids is None:
        tpids = [TPID_8021AD] * (len(vlans) - 1) + [TPID_8021Q] if vlans else []
    if len(tpids) != len(vlans):
        raise ValueError("tpids and vlans differ in length")
    parts = [mac_bytes(dst), mac_bytes(src)]
    for tpid, vid in zip(tpids, vlans, strict=True):
        parts.append(_ETH_TAG.pack(tpid, ((pcp & 7) << 13) | (vid & 0x0FFF)))
    parts.append(_U16.pack(ethertype))
    parts.append(payload)
    return b"".join(parts)


def ipv4(
    src: str | bytes,
    dst: str | bytes,
    proto: int,
    payload: bytes = b"",
    *,
    dscp: int = 0,
    ecn: int = 0,
    ttl: int = 64,
    ident: int = 0,
    dont_fragment: bool = True,
    more_fragments: bool = False,
    frag_offset: int = 0,
    options: bytes = b"",
    total_length: int | None = None,
) -> bytes:
    """IPv4 header + payload with IHL, total length and header checksum filled in.

    ``options`` is padded with zero (end-of-options) bytes to a multiple of 4; ``frag_offset``
    is in 8-byte units; ``total_length`` overrides the computed length (e.g. to describe a
    packet whose payload is cut, as in a sampled header).
    """
    if len(options) % 4:
        options += b"\x00" * (4 - len(options) % 4)
    ihl = 5 + len(options) // 4
    if total_length is None:
        total_length = ihl * 4 + len(payload)
    flags = (0x4000 if dont_fragment else 0) | (0x2000 if more_fragments else 0)
    header = (
        _IPV4.pack(
            0x40 | ihl,
            ((dscp & 0x3F) << 2) | (ecn & 3),
            total_length,
            ident,
            flags | (frag_offset & 0x1FFF),
            ttl,
            proto,
            0,
            _ip_bytes(socket.AF_INET, src),
            _ip_bytes(socket.AF_INET, dst),
        )
        + options
    )
    checksum = inet_checksum(header)
    return header[:10] + _U16.pack(checksum) + header[12:] + payload


def ipv6(
    src: str | bytes,
    dst: str | bytes,
    next_header: int,
    payload: bytes = b"",
    *,
    dscp: int = 0,
    ecn: int = 0,
    hop_limit: int = 64,
    flow_label: int = 0,
    payload_length: int | None = None,
) -> bytes:
    """IPv6 header + payload (which may start with extension headers built below)."""
    tclass = ((dscp & 0x3F) << 2) | (ecn & 3)
    if payload_length is None:
        payload_length = len(payload)
    return (
        _IPV6.pack(
            (6 << 28) | (tclass << 20) | (flow_label & 0xFFFFF),
            payload_length,
            next_header,
            hop_limit,
            _ip_bytes(socket.AF_INET6, src),
            _ip_bytes(socket.AF_INET6, dst),
        )
        + payload
    )


def ipv6_ext_header(next_header: int, data: bytes = b"", payload: bytes = b"") -> bytes:
    """Hop-by-hop (0), routing (43) or destination options (60) header + payload.

    ``data`` is everything after the 2-byte (next header, length) prefix; it is padded with
    zero bytes (Pad1/PadN-compatible for options) to a multiple of 8 bytes in total.
    """
    body = data
    rem = (2 + len(body)) % 8
    if rem:
        body += b"\x00" * (8 - rem)
    return bytes((next_header, (2 + len(body)) // 8 - 1)) + body + payload


def ipv6_fragment_header(
    next_header: int,
    payload: bytes = b"",
    *,
    offset: int = 0,
    more: bool = False,
    ident: int = 0,
) -> bytes:
    """IPv6 fragment header (44); ``offset`` in 8-byte units."""
    return (
        bytes((next_header, 0))
        + _U16.pack(((offset & 0x1FFF) << 3) | int(more))
        + _U32.pack(ident)
        + payload
    )


def udp(sport: int, dport: int, payload: bytes = b"", *, checksum: int = 0) -> bytes:
    """UDP header + payload; length computed, checksum as given (0 = none)."""
    return _UDP.pack(sport, dport, 8 + len(payload), checksum) + payload


def tcp(
    sport: int,
    dport: int,
    payload: bytes = b"",
    *,
    flags: int = 0x02,
    seq: int = 0,
    ack: int = 0,
    window: int = 65535,
    options: bytes = b"",
    checksum: int = 0,
) -> bytes:
    """TCP header + payload; ``flags`` is byte 13 (CWR ECE URG ACK PSH RST SYN FIN), bit 8 (NS)
    goes into byte 12. Options are padded with zeros to a multiple of 4."""
    if len(options) % 4:
        options += b"\x00" * (4 - len(options) % 4)
    doff = 5 + len(options) // 4
    return (
        _TCP.pack(
            sport,
            dport,
            seq,
            ack,
            (doff << 4) | ((flags >> 8) & 1),
            flags & 0xFF,
            window,
            checksum,
            0,
        )
        + options
        + payload
    )


def icmp(
    icmp_type: int, code: int, payload: bytes = b"", *, rest: bytes = b"\x00\x00\x00\x00"
) -> bytes:
    """ICMP (or ICMPv6) message: type, code, checksum, 4-byte rest-of-header, payload.

    The checksum is the ICMPv4 one (over the message); ICMPv6 would also cover a pseudo-header,
    which this builder does not compute.
    """
    body = rest + payload
    checksum = inet_checksum(bytes((icmp_type, code, 0, 0)) + body)
    return bytes((icmp_type, code)) + _U16.pack(checksum) + body


# ---------------------------------------------------------------------------------------------
# InfiniBand transport headers


def bth(
    opcode: int,
    *,
    dest_qp: int,
    psn: int,
    pkey: int = 0xFFFF,
    solicited_event: bool = False,
    mig_req: bool = False,
    pad_count: int = 0,
    tver: int = 0,
    fecn: bool = False,
    becn: bool = False,
    ack_req: bool = False,
) -> bytes:
    """12-byte Base Transport Header."""
    b1 = (
        (0x80 if solicited_event else 0)
        | (0x40 if mig_req else 0)
        | ((pad_count & 3) << 4)
        | (tver & 0x0F)
    )
    w2 = (0x80000000 if fecn else 0) | (0x40000000 if becn else 0) | (dest_qp & 0xFFFFFF)
    w3 = (0x80000000 if ack_req else 0) | (psn & 0xFFFFFF)
    return _BTH.pack(opcode & 0xFF, b1, pkey, w2, w3)


def reth(virtual_address: int, r_key: int, dma_length: int) -> bytes:
    """16-byte RDMA Extended Transport Header."""
    return _RETH.pack(virtual_address, r_key, dma_length)


_AETH_KIND_BITS = {"ACK": 0x00, "RNR_NAK": 0x20, "RESERVED": 0x40, "NAK": 0x60}
_NAK_VALUES = {name: code for code, name in NAK_CODES.items()}


def aeth(
    kind: str = "ACK",
    value: int | str | None = None,
    *,
    credits: int | None = None,
    msn: int = 0,
) -> bytes:
    """4-byte ACK Extended Transport Header.

    ``kind`` is ACK, RNR_NAK, NAK or RESERVED; ``value`` the raw 5-bit code (for NAK also a name
    such as ``"PSN_SEQUENCE_ERROR"``). For an ACK, ``credits`` may be given instead: it is
    encoded as the largest table entry not above it; ``credits=None`` without ``value`` gives
    code 31 (no end-to-end credits).
    """
    if kind not in _AETH_KIND_BITS:
        raise ValueError(f"unknown AETH kind {kind!r}")
    if isinstance(value, str):
        code = _NAK_VALUES[value]
    elif value is not None:
        code = value & 0x1F
    elif kind == "ACK":
        code = 31 if credits is None else _credit_code(credits)
    else:
        code = 0
    return _U32.pack(((_AETH_KIND_BITS[kind] | code) << 24) | (msn & 0xFFFFFF))


def _credit_code(credits: int) -> int:
    code = 0
    for i, c in enumerate(CREDIT_TABLE):
        if c is not None and c <= credits:
            code = i
    return code


def immdt(value: int) -> bytes:
    """4-byte immediate data."""
    return _U32.pack(value & 0xFFFFFFFF)


def ieth(r_key: int) -> bytes:
    """4-byte Invalidate ETH (R_Key to invalidate)."""
    return _U32.pack(r_key & 0xFFFFFFFF)


def deth(q_key: int, src_qp: int) -> bytes:
    """8-byte Datagram ETH (UD, RD requests)."""
    return _U32.pack(q_key & 0xFFFFFFFF) + _U32.pack(src_qp & 0xFFFFFF)


def rdeth(ee_context: int) -> bytes:
    """4-byte Reliable Datagram ETH."""
    return _U32.pack(ee_context & 0xFFFFFF)


def xrceth(xrc_srq: int) -> bytes:
    """4-byte XRC ETH (XRC requests)."""
    return _U32.pack(xrc_srq & 0xFFFFFF)


def atomic_eth(virtual_address: int, r_key: int, swap_add: int, compare: int = 0) -> bytes:
    """28-byte Atomic ETH (COMPARE_SWAP / FETCH_ADD)."""
    return _ATOMIC_ETH.pack(virtual_address, r_key, swap_add, compare)


def atomic_ack_eth(original_data: int) -> bytes:
    """8-byte Atomic Acknowledge ETH."""
    return _U64.pack(original_data)


def feth(placement_type: int = 0, selectivity_level: int = 0) -> bytes:
    """4-byte Flush ETH: selectivity level in bits 5-4, placement type in bits 3-0 (low byte)."""
    return _U32.pack(((selectivity_level & 3) << 4) | (placement_type & 0x0F))


def icrc(ip_udp_ib: bytes, ip_version: int) -> bytes:
    """RoCEv2 invariant CRC over an IP packet (IP header through the end of the IB payload).

    Per IBTA RoCEv2 Annex A17 as implemented by Linux rxe_icrc.c: 8 bytes of 0xFF stand in for
    the LRH; the variant fields are set to all ones (IPv4 TOS, TTL and header checksum; IPv6
    traffic class, flow label and hop limit; the UDP checksum; BTH byte 4 = FECN/BECN/reserved);
    the CRC-32 is stored least significant byte first. Assumes an IPv4 header without options
    or an IPv6 header without extension headers.
    """
    data = bytearray(ip_udp_ib)
    if ip_version == 4:
        data[1] = 0xFF
        data[8] = 0xFF
        data[10:12] = b"\xff\xff"
        udp_off = 20
    else:
        data[0] |= 0x0F
        data[1:4] = b"\xff\xff\xff"
        data[7] = 0xFF
        udp_off = 40
    data[udp_off + 6 : udp_off + 8] = b"\xff\xff"
    data[udp_off + 12] = 0xFF
    return _ICRC.pack(zlib.crc32(b"\xff" * 8 + bytes(data)))


def rocev2_frame(
    opcode: int,
    *,
    dest_qp: int,
    psn: int,
    ext: bytes = b"",
    payload: bytes = b"",
    src_mac: str | bytes = "02:00:00:00:00:01",
    dst_mac: str | bytes = "02:00:00:00:00:02",
    vlans: Sequence[int] = (),
    pcp: int = 3,
    ip_version: int = 4,
    src_ip: str | bytes | None = None,
    dst_ip: str | bytes | None = None,
    dscp: int = 26,
    ecn: int = 2,
    ttl: int = 64,
    src_port: int = 49152,
    with_icrc: bool = True,
    pkey: int = 0xFFFF,
    ack_req: bool = False,
    solicited_event: bool = False,
    mig_req: bool = False,
    fecn: bool = False,
    becn: bool = False,
    pad_count: int | None = None,
) -> bytes:
    """Ethernet [/VLAN] / IPv4 or IPv6 / UDP 4791 / BTH / ``ext`` / payload [/ pad / ICRC].

    ``ext`` is the concatenated extension headers for the opcode (e.g. ``reth(...)``); the
    payload is padded to a multiple of 4 bytes and PadCnt set accordingly unless ``pad_count`` is
    given. Defaults: DSCP 26 and ECN ECT(0), the usual RoCEv2 marking; PCP 3 on VLAN tags.
    """
    if pad_count is None:
        pad_count = -len(payload) % 4
    ib = (
        bth(
            opcode,
            dest_qp=dest_qp,
            psn=psn,
            pkey=pkey,
            solicited_event=solicited_event,
            mig_req=mig_req,
            pad_count=pad_count,
            fecn=fecn,
            becn=becn,
            ack_req=ack_req,
        )
        + ext
        + payload
        + b"\x00" * pad_count
    )
    if ip_version == 4:
        ip = ipv4(
            src_ip or "10.0.0.1",
            dst_ip or "10.0.0.2",
            IPPROTO_UDP,
            udp(src_port, ROCEV2_UDP_PORT, ib + (b"\x00" * 4 if with_icrc else b"")),
            dscp=dscp,
            ecn=ecn,
            ttl=ttl,
        )
        ethertype = ETHERTYPE_IPV4
    else:
        ip = ipv6(
            src_ip or "fd00::1",
            dst_ip or "fd00::2",
            IPPROTO_UDP,
            udp(src_port, ROCEV2_UDP_PORT, ib + (b"\x00" * 4 if with_icrc else b"")),
            dscp=dscp,
            ecn=ecn,
            hop_limit=ttl,
        )
        ethertype = ETHERTYPE_IPV6
    if with_icrc:
        ip = ip[:-4] + icrc(ip[:-4], ip_version)
    return ethernet(dst_mac, src_mac, ethertype, ip, vlans, pcp=pcp)

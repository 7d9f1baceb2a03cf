"""Best-effort walk of an sFlow sampled header: Ethernet/VLAN → IPv4/IPv6 → UDP/TCP/ICMP → RoCEv2.

``parse_packet`` is pure and never raises: sampled headers are routinely cut (128 bytes by
default), so truncation is normal and reported in ``PacketInfo.stopped_at`` as the name of the
layer that ran out or could not be parsed:

========================  ================================================================
``stopped_at``            meaning
========================  ================================================================
None                      every header the walk expected was present (unknown ethertypes,
                          unknown IP protocols and non-first fragments end the walk cleanly)
``unsupported_protocol``  header_protocol other than 1 (Ethernet), 11 (IPv4), 12 (IPv6)
``ethernet``              fewer than 14 bytes (MACs still filled when 6/12 bytes exist)
``vlan``                  an 802.1Q/802.1ad tag (4 bytes) was cut; a VLAN ID is kept when its
                          2-byte TCI is present, the inner ethertype stays None
``ipv4``                  fewer than 20 bytes, version ≠ 4, IHL < 5 or options cut
``ipv6``                  fewer than 40 bytes, version ≠ 6, or an extension header was cut
``udp`` / ``tcp``         fewer than 8 / 20 bytes (ports are kept when the first 4 bytes
                          exist, TCP flags when byte 13 exists)
``icmp`` / ``icmpv6``     fewer than 4 bytes (type and code kept when present)
``bth`` … ``aeth``        RoCEv2 (UDP destination port 4791): see ``decoders.rocev2``
========================  ================================================================

Field conventions: MACs as lower-case ``aa:bb:cc:dd:ee:ff``; IP addresses as
``socket.inet_ntop`` text; ``vlans`` are VLAN IDs (low 12 bits of the TCI), outermost first,
for TPIDs 0x8100, 0x88A8 and 0x9100; ``ethertype`` is the one after the tags; DSCP = traffic
class >> 2, ECN = traffic class & 3; ``ip_length`` = IPv4 total length or IPv6 payload length +
40; ``ip_protocol`` is the IPv6 next header after the hop-by-hop (0), routing (43), fragment (44),
destination options (60) and authentication (51) headers, None if one of those was cut.
``tcp_flags`` is TCP header byte 13 (CWR ECE URG ACK PSH RST SYN FIN); the NS/AE bit that lives in
byte 12 is not included. Only the first fragment (offset 0) of an IPv4/IPv6 packet is walked
into its upper-layer header. The IP length fields are reported, not used to bound the walk: a
sampled header is a prefix of the frame, so the bytes after the IP header are read as they come.
"""

from __future__ import annotations

import socket
import struct

from decoders.packet_types import PacketInfo, RoceInfo
from decoders.rocev2 import ROCEV2_UDP_PORT, parse_rocev2

__all__ = [
    "HEADER_PROTOCOL_ETHERNET",
    "HEADER_PROTOCOL_IPV4",
    "HEADER_PROTOCOL_IPV6",
    "PARSER_ERROR",
    "parse_packet",
]

HEADER_PROTOCOL_ETHERNET = 1
HEADER_PROTOCOL_IPV4 = 11
HEADER_PROTOCOL_IPV6 = 12

PARSER_ERROR = "parser_error"
"""``stopped_at`` if the walk hit an internal error (a bug); the parser still does not raise."""

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_IPV6 = 0x86DD
_VLAN_TPIDS = frozenset((0x8100, 0x88A8, 0x9100))

_IP_ICMP = 1
_IP_TCP = 6
_IP_UDP = 17
_IP_ICMPV6 = 58
# IPv6 extension headers with the generic (next header, length in 8-octet units − 1) form.
_IPV6_EXT_8 = frozenset((0, 43, 60))
_IPV6_FRAGMENT = 44
_IPV6_AH = 51  # length in 4-octet units − 2
_MAX_IPV6_EXT = 16

_AF_INET = socket.AF_INET
_AF_INET6 = socket.AF_INET6
_ntop = socket.inet_ntop

_U16 = struct.Struct(">H")
_U16X2 = struct.Struct(">HH")
_IPV4 = struct.Struct(">BBHHHBB2x4s4s")  # ver/ihl tos totlen id frag ttl proto [csum] src dst
_IPV6 = struct.Struct(">IHBB16s16s")  # ver/tc/flow paylen next hoplim src dst
_BB = struct.Struct(">BB")
_TCP_FLAGS_OFF = 13

_L4 = tuple[int | None, int | None, int | None, int | None, int | None, RoceInfo | None, str | None]
_NO_L4: _L4 = (None, None, None, None, None, None, None)


def parse_packet(protocol: int, header: bytes) -> PacketInfo:
    """Parse a sampled header best-effort; never raises (see the module docstring)."""
    try:
        return _parse(protocol, header)
    except Exception:  # pragma: no cover - defensive: a bug must not kill the datagram decoder
        return PacketInfo(header_protocol=protocol, stopped_at=PARSER_ERROR)


def _parse(protocol: int, buf: bytes) -> PacketInfo:
    n = len(buf)
    src_mac: str | None = None
    dst_mac: str | None = None
    vlans: tuple[int, ...] = ()
    ethertype: int | None = None
    stopped: str | None = None
    off = 0
    l3 = 0

    if protocol == HEADER_PROTOCOL_ETHERNET:
        if n < 14:
            if n >= 6:
                dst_mac = buf[0:6].hex(":")
                if n >= 12:
                    src_mac = buf[6:12].hex(":")
            return PacketInfo(
                header_protocol=protocol, src_mac=src_mac, dst_mac=dst_mac, stopped_at="ethernet"
            )
        dst_mac = buf[0:6].hex(":")
        src_mac = buf[6:12].hex(":")
        etype = _U16.unpack_from(buf, 12)[0]
        off = 14
        if etype in _VLAN_TPIDS:
            tags: list[int] = []
            while etype in _VLAN_TPIDS:
                if n - off < 4:
                    if n - off >= 2:
                        tags.append(_U16.unpack_from(buf, off)[0] & 0x0FFF)
                    return PacketInfo(
                        header_protocol=protocol,
                        src_mac=src_mac,
                        dst_mac=dst_mac,
                        vlans=tuple(tags),
                        stopped_at="vlan",
                    )
                tci, etype = _U16X2.unpack_from(buf, off)
                tags.append(tci & 0x0FFF)
                off += 4
            vlans = tuple(tags)
        ethertype = etype
        if etype == ETHERTYPE_IPV4:
            l3 = 4
        elif etype == ETHERTYPE_IPV6:
            l3 = 6
    elif protocol == HEADER_PROTOCOL_IPV4:
        l3 = 4
    elif protocol == HEADER_PROTOCOL_IPV6:
        l3 = 6
    else:
        return PacketInfo(header_protocol=protocol, stopped_at="unsupported_protocol")

    if l3 == 0:
        return PacketInfo(
            header_protocol=protocol,
            src_mac=src_mac,
            dst_mac=dst_mac,
            vlans=vlans,
            ethertype=ethertype,
        )

    src_ip: str | None = None
    dst_ip: str | None = None
    ip_protocol: int | None = None
    dscp: int | None = None
    ecn: int | None = None
    ttl: int | None = None
    ip_length: int | None = None
    ip_version: int | None = None
    walk_l4 = False

    if l3 == 4:
        if n - off < 20:
            stopped = "ipv4"
        else:
            vihl, tos, ip_length, _ident, frag, ttl, ip_protocol, src, dst = _IPV4.unpack_from(
                buf, off
            )
            if vihl >> 4 != 4:
                stopped = "ipv4"
                ip_length = ttl = ip_protocol = None
            else:
                ip_version = 4
                dscp = tos >> 2
                ecn = tos & 3
                src_ip = _ntop(_AF_INET, src)
                dst_ip = _ntop(_AF_INET, dst)
                ihl = (vihl & 0x0F) * 4
                if ihl < 20 or n - off < ihl:
                    stopped = "ipv4"
                else:
                    off += ihl
                    walk_l4 = frag & 0x1FFF == 0
    else:
        if n - off < 40:
            stopped = "ipv6"
        else:
            w0, paylen, nxt, hlim, src, dst = _IPV6.unpack_from(buf, off)
            if w0 >> 28 != 6:
                stopped = "ipv6"
            else:
                ip_version = 6
                tclass = (w0 >> 20) & 0xFF
                dscp = tclass >> 2
                ecn = tclass & 3
                ttl = hlim
                ip_length = paylen + 40
                src_ip = _ntop(_AF_INET6, src)
                dst_ip = _ntop(_AF_INET6, dst)
                off += 40
                walk_l4 = True
                # Extension headers: each needs its first 2 bytes to find the next one.
                for _ in range(_MAX_IPV6_EXT):
                    if nxt in _IPV6_EXT_8 or nxt == _IPV6_FRAGMENT:
                        size = 8
                    elif nxt == _IPV6_AH:
                        size = 4
                    else:
                        break
                    if n - off < size:
                        stopped = "ipv6"
                        break
                    nh, hlen = _BB.unpack_from(buf, off)
                    if nxt == _IPV6_FRAGMENT:
                        if _U16.unpack_from(buf, off + 2)[0] & 0xFFF8:
                            walk_l4 = False  # not the first fragment: no upper-layer header
                    elif nxt == _IPV6_AH:
                        size = (hlen + 2) * 4
                    else:
                        size = (hlen + 1) * 8
                    off += size
                    nxt = nh
                    if not walk_l4:
                        break
                else:
                    stopped = "ipv6"  # more extension headers than any sane packet carries
                if stopped is None:
                    if off > n:
                        stopped = "ipv6"  # the last extension header's body was cut
                    else:
                        ip_protocol = nxt
        if stopped is not None:
            walk_l4 = False

    l4 = _l4(buf, off, ip_protocol) if walk_l4 and ip_protocol is not None else _NO_L4
    src_port, dst_port, tcp_flags, icmp_type, icmp_code, roce, l4_stopped = l4
    return PacketInfo(
        header_protocol=protocol,
        src_mac=src_mac,
        dst_mac=dst_mac,
        vlans=vlans,
        ethertype=ethertype,
        ip_version=ip_version,
        src_ip=src_ip,
        dst_ip=dst_ip,
        ip_protocol=ip_protocol,
        dscp=dscp,
        ecn=ecn,
        ttl=ttl,
        ip_length=ip_length,
        src_port=src_port,
        dst_port=dst_port,
        tcp_flags=tcp_flags,
        icmp_type=icmp_type,
        icmp_code=icmp_code,
        roce=roce,
        stopped_at=stopped if stopped is not None else l4_stopped,
    )


def _l4(buf: bytes, off: int, proto: int) -> _L4:
    avail = len(buf) - off
    if proto == _IP_UDP:
        if avail < 4:
            return (None, None, None, None, None, None, "udp")
        sport, dport = _U16X2.unpack_from(buf, off)
        if avail < 8:
            return (sport, dport, None, None, None, None, "udp")
        if dport == ROCEV2_UDP_PORT:
            roce, stopped = parse_rocev2(buf, off + 8)
            return (sport, dport, None, None, None, roce, stopped)
        return (sport, dport, None, None, None, None, None)
    if proto == _IP_TCP:
        if avail < 4:
            return (None, None, None, None, None, None, "tcp")
        sport, dport = _U16X2.unpack_from(buf, off)
        flags = buf[off + _TCP_FLAGS_OFF] if avail > _TCP_FLAGS_OFF else None
        return (sport, dport, flags, None, None, None, None if avail >= 20 else "tcp")
    if proto in (_IP_ICMP, _IP_ICMPV6):
        name = "icmp" if proto == _IP_ICMP else "icmpv6"
        if avail < 2:
            return (None, None, None, None, None, None, name)
        itype, icode = _BB.unpack_from(buf, off)
        return (None, None, None, itype, icode, None, None if avail >= 4 else name)
    return _NO_L4

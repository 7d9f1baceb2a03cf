"""Flow-sample byte templates: built once per (subflow, hop, packet type, ECN), patched per use.

A template is a complete compact flow sample (0:1) carrying one ``sampled_header`` record (and
optionally the transit/queue extensions): everything but the sample sequence number, the sample
pool, the drops counter, the BTH PSN and, when the whole frame fits in the header, the RoCEv2
ICRC. The engine appends the template to an agent's datagram and patches those fields in place
with ``struct.pack_into``. Frames are built with ``decoders.frames`` (our own builders).

Flow sample layout (offsets from the sample's first byte)::

     0 data_format = 1     4 length        8 sequence     12 source_id    16 sampling_rate
    20 sample_pool        24 drops        28 input       32 output       36 record count
    40 record data_format = 1   44 record length   48 header protocol = 1   52 frame_length
    56 stripped = 4       60 header length  64 header bytes …
"""

from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

from decoders import frames as F
from simulator.fabric import Fabric
from simulator.traffic import (
    NAK_SYNDROME,
    PTYPES,
    RNR_SYNDROME,
    T_CNP,
    T_NAK,
    T_RNR_NAK,
    T_TCP_ACK,
    T_WRITE_LAST_IMM,
    TrafficModel,
)

__all__ = ["HEADER_OFFSET", "Template", "TemplateCache", "build_frame"]

HEADER_OFFSET = 64
ROCE_DSCP = 26
CNP_DSCP = 48
ECT0 = 2
CE = 3
STORAGE_PORT = 9000
UDP_PORT = 5001

_HEAD = struct.Struct(">10I")
_REC_HEAD = struct.Struct(">6I")
_EXT = struct.Struct(">9I")


class Template(NamedTuple):
    """A flow-sample template and where to patch it (−1: nothing to patch)."""

    data: bytes
    psn_off: int  # offset of the BTH word holding AckReq + PSN
    ack_bit: int  # 0x80000000 when the packet asks for an ACK
    icrc_off: int  # offset of the ICRC when the whole frame is in the header
    crc_prefix: int  # CRC-32 state after the masked bytes before the PSN word
    crc_suffix: bytes  # masked bytes after the PSN word (to the end of the IB payload)
    ext_off: int  # offset of the extended_transit delay (then +12: extended_queue depth)


def build_frame(
    model: TrafficModel, sub: int, ptype: int, ttl: int, src_mac: bytes, dst_mac: bytes, ce: bool
) -> tuple[bytes, int, int]:
    """The full frame (no FCS) of one packet of ``sub`` at a hop; (frame, bth offset, l3 off).

    The BTH offset is −1 for non-RoCE packets.
    """
    fab, _spec = model.fabric, model.spec
    prof = model.sub_profile[sub]
    i = prof.types.index(ptype)
    payload = bytes(prof.payload[i])
    src_ip = fab.nic_ip[model.sub_src[sub]]
    dst_ip = fab.nic_ip[model.sub_dst[sub]]
    v6 = len(src_ip) == 16
    pt = PTYPES[ptype]
    ip_len = 40 if v6 else 20
    if pt.l4 == "tcp":
        flags = 0x10 if ptype == T_TCP_ACK else 0x18
        sport, dport = model.sub_sport[sub], STORAGE_PORT
        if not model.sub_data[sub]:
            sport, dport = dport, sport
        opts = b"\x01\x01\x08\x0a" + bytes(8)  # NOP NOP timestamps
        l4 = F.tcp(sport, dport, payload, flags=flags, seq=1, ack=1, options=opts)
        proto = F.IPPROTO_TCP
        dscp, ecn = 0, 0
    elif pt.l4 == "udp":
        l4 = F.udp(model.sub_sport[sub], UDP_PORT, payload)
        proto = F.IPPROTO_UDP
        dscp, ecn = 0, 0
    else:
        qp = model.sub_qp[sub]
        if pt.cnp:
            ext = bytes(16)
        elif pt.reth:
            dma = prof.dma[i]
            ext = F.reth(0x7F0000000000 + (sub << 20), 0x1000 + sub % 4096, dma)
        elif ptype == T_NAK:
            ext = F.aeth("NAK", NAK_SYNDROME & 0x1F)
        elif ptype == T_RNR_NAK:
            ext = F.aeth("RNR_NAK", RNR_SYNDROME & 0x1F)
        elif pt.aeth:
            ext = F.aeth("ACK", model.sub_credit[sub])
        elif pt.immdt:
            ext = F.immdt(sub)
        else:
            ext = b""
        pad = -len(payload) % 4
        ib = (
            F.bth(
                pt.opcode,
                dest_qp=qp,
                psn=0,
                pad_count=pad,
                ack_req=ptype == T_WRITE_LAST_IMM,
            )
            + ext
            + payload
            + bytes(pad)
        )
        l4 = F.udp(model.sub_sport[sub], 4791, ib + bytes(4))
        proto = F.IPPROTO_UDP
        dscp = CNP_DSCP if ptype == T_CNP else ROCE_DSCP
        ecn = 0 if ptype == T_CNP else (CE if ce else ECT0)
    if v6:
        ip = F.ipv6(src_ip, dst_ip, proto, l4, dscp=dscp, ecn=ecn, hop_limit=ttl)
        ethertype = F.ETHERTYPE_IPV6
    else:
        ip = F.ipv4(src_ip, dst_ip, proto, l4, dscp=dscp, ecn=ecn, ttl=ttl)
        ethertype = F.ETHERTYPE_IPV4
    if pt.roce:
        ip = ip[:-4] + F.icrc(ip[:-4], 6 if v6 else 4)
    frame = F.ethernet(dst_mac, src_mac, ethertype, ip)
    bth = 14 + ip_len + 8 if pt.roce else -1
    return frame, bth, 14


def _masked(ip_udp_ib: bytes, v6: bool) -> bytes:
    """The ICRC input with variant fields set to ones (same rules as ``frames.icrc``)."""
    data = bytearray(ip_udp_ib)
    if v6:
        data[0] |= 0x0F
        data[1:4] = b"\xff\xff\xff"
        data[7] = 0xFF
        udp_off = 40
    else:
        data[1] = 0xFF
        data[8] = 0xFF
        data[10:12] = b"\xff\xff"
        udp_off = 20
    data[udp_off + 6 : udp_off + 8] = b"\xff\xff"
    data[udp_off + 12] = 0xFF
    return bytes(data)


class TemplateCache:
    """Templates keyed by ``(code << 1) | ce`` with code = sub << 8 | hop << 5 | type.

    Cleared when paths change (a link goes down or up) or when it grows past ``limit``.
    """

    def __init__(
        self,
        model: TrafficModel,
        header_bytes: int,
        flow_extensions: bool,
        limit: int = 100_000,
    ) -> None:
        """Templates for ``model``'s subflows with sampled headers of ``header_bytes``."""
        self.model = model
        self.fabric: Fabric = model.fabric
        self.header_bytes = header_bytes
        self.flow_extensions = flow_extensions
        self.limit = limit
        self.cache: dict[int, Template] = {}

    def clear(self) -> None:
        """Forget every template (paths changed)."""
        self.cache.clear()

    def build(
        self,
        key: int,
        hop: tuple[int, int, int, int, bytes, bytes],
        rate: int,
    ) -> Template:
        """Build, cache and return the template for ``key`` at ``hop`` (sampling 1-in-rate)."""
        if len(self.cache) >= self.limit:
            self.cache.clear()
        fab = self.fabric
        ce = bool(key & 1)
        code = key >> 1
        sub, ptype = code >> 8, code & 31
        _, in_port, out_port, ttl, src_mac, dst_mac = hop
        frame, bth, l3 = build_frame(self.model, sub, ptype, ttl, src_mac, dst_mac, ce)
        frame_length = len(frame) + 4  # + FCS
        header = frame[: self.header_bytes]
        n = len(header)
        padded = (n + 3) & ~3
        records = 2 if not self.flow_extensions else 5
        ext_len = 36 if self.flow_extensions else 0
        rec_len = 16 + padded
        total = 40 + 8 + rec_len + ext_len
        in_if = fab.port_ifindex[in_port]
        out_if = fab.port_ifindex[out_port]
        head = _HEAD.pack(1, total - 8, 0, in_if, rate, 0, 0, in_if, out_if, records - 1)
        rec = _REC_HEAD.pack(1, rec_len, 1, frame_length, 4, n)
        parts = [head, rec, header, bytes(padded - n)]
        ext_off = -1
        if self.flow_extensions:
            ext_off = total - ext_len + 20
            parts.append(_EXT.pack(1036, 4, 3, 1039, 4, 0, 1040, 4, 0))
        data = b"".join(parts)
        psn_off = icrc_off = -1
        ack_bit = 0
        crc_prefix = 0
        suffix = b""
        if bth >= 0 and bth + 12 <= n:
            psn_off = HEADER_OFFSET + bth + 8
            ack_bit = int.from_bytes(frame[bth + 8 : bth + 12], "big") & 0x80000000
            if len(frame) <= self.header_bytes:
                icrc_off = HEADER_OFFSET + len(frame) - 4
                masked = _masked(frame[l3:-4], bth - l3 == 48)
                rel = bth - l3 + 8
                crc_prefix = zlib.crc32(masked[:rel], zlib.crc32(b"\xff" * 8))
                suffix = masked[rel + 4 :]
        tpl = Template(data, psn_off, ack_bit, icrc_off, crc_prefix, suffix, ext_off)
        self.cache[key] = tpl
        return tpl

"""Typed results of parsing a sampled packet header (Ethernet … RoCEv2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Bth:
    """InfiniBand Base Transport Header (12 bytes after UDP in RoCEv2)."""

    opcode: int
    transport: str  # RC, UC, RD, UD, CNP, XRC, MANUFACTURER, RESERVED
    operation: str  # e.g. RDMA_WRITE_FIRST, ACKNOWLEDGE, CNP
    solicited_event: bool
    mig_req: bool
    pad_count: int
    tver: int
    pkey: int
    fecn: bool
    becn: bool
    dest_qp: int
    ack_req: bool
    psn: int


@dataclass(frozen=True, slots=True)
class Reth:
    """RDMA Extended Transport Header: remote address, key and message length."""

    virtual_address: int
    r_key: int
    dma_length: int


@dataclass(frozen=True, slots=True)
class Aeth:
    """ACK Extended Transport Header with its syndrome decoded."""

    syndrome: int  # raw 8-bit syndrome
    kind: str  # ACK, RNR_NAK, NAK, RESERVED
    value: int  # low 5 bits of the syndrome
    credits: int | None  # ACK only; None for the "invalid / unlimited" code 31
    rnr_timer_ms: float | None  # RNR NAK only
    nak_code: str | None  # NAK only, e.g. PSN_SEQUENCE_ERROR
    msn: int


@dataclass(frozen=True, slots=True)
class RoceInfo:
    """RoCEv2 transport headers found after UDP destination port 4791."""

    bth: Bth
    reth: Reth | None
    aeth: Aeth | None
    immediate: int | None
    is_cnp: bool
    complete: bool  # False when the sampled header ended before every header the opcode carries


@dataclass(frozen=True, slots=True)
class PacketInfo:
    """What a best-effort walk of a sampled header found; None = not present or not reached."""

    header_protocol: int
    src_mac: str | None = None
    dst_mac: str | None = None
    vlans: tuple[int, ...] = ()  # VLAN IDs, outermost first
    ethertype: int | None = None
    ip_version: int | None = None
    src_ip: str | None = None
    dst_ip: str | None = None
    ip_protocol: int | None = None  # IPv4 protocol / IPv6 next header after extension headers
    dscp: int | None = None
    ecn: int | None = None
    ttl: int | None = None  # IPv4 TTL / IPv6 hop limit
    ip_length: int | None = None  # IPv4 total length / IPv6 payload length + 40
    src_port: int | None = None
    dst_port: int | None = None
    tcp_flags: int | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    roce: RoceInfo | None = None
    stopped_at: str | None = (
        None  # layer where the header ran out or became unparseable; None = complete
    )

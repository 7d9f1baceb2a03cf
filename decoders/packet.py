"""Sampled packet header walk (placeholder until the packet parser lands)."""

from __future__ import annotations

from decoders.packet_types import PacketInfo


def parse_packet(protocol: int, header: bytes) -> PacketInfo:
    """Parse a sampled header best-effort; never raises."""
    return PacketInfo(header_protocol=protocol, stopped_at="not_parsed")

"""sFlow v5 decoding: pure functions from datagram bytes to frozen, typed records.

Public API: ``decode_datagram`` and ``DecodeError``; record types in ``decoders.records`` and
``decoders.packet_types``.
"""

from decoders.errors import DecodeError
from decoders.parse import decode_datagram

__all__ = ["DecodeError", "decode_datagram"]

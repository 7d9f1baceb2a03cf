"""Canonical text of the addresses a user may look up: MAC, IPv4 and IPv6.

Shared by the aggregator's locate table (its keys) and the ``locate`` command (what it sends),
so both spell an address the same way; standard library only.
"""

from __future__ import annotations

import ipaddress
import re

_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")


def normalize_address(text: str) -> str:
    """Canonical text of a MAC (``aa:bb:cc:dd:ee:ff``), IPv4 or IPv6 address; ``ValueError``
    when it is none of them."""
    value = text.strip().lower()
    try:
        return str(ipaddress.ip_address(value.strip("[]")))
    except ValueError:
        pass
    compact = re.sub(r"[:\-.]", "", value)
    if _MAC_HEX.match(compact) and len(value) in (12, 14, 17):
        return ":".join(compact[i : i + 2] for i in range(0, 12, 2))
    raise ValueError(f"{text!r} is not a MAC, IPv4 or IPv6 address")

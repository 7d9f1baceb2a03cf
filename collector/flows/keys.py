"""The flow key vocabulary: sFlow-RT's names wherever it defines one, plus topology keys.

Each key is text (compared as text in filters); the ``numeric`` ones may also be a definition's
``value``. ``dropped`` keys exist only in drop notifications; every packet key exists in both
packet samples and drop notifications (from the dropped packet's header).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True, slots=True)
class KeySpec:
    """One flow key: its meaning, whether it is a number, and where it exists."""

    description: str
    numeric: bool = False
    dropped_only: bool = False


KEYS: Final[dict[str, KeySpec]] = {
    "agent": KeySpec("sFlow agent address"),
    "inputifindex": KeySpec("input ifIndex", numeric=True),
    "outputifindex": KeySpec("output ifIndex", numeric=True),
    "macsource": KeySpec("source MAC (12 upper-case hex digits)"),
    "macdestination": KeySpec("destination MAC (12 upper-case hex digits)"),
    "ethernetprotocol": KeySpec("EtherType (decimal) after any VLAN tags", numeric=True),
    "vlan": KeySpec("802.1Q VLAN id", numeric=True),
    "ipsource": KeySpec("IPv4 source address"),
    "ipdestination": KeySpec("IPv4 destination address"),
    "ip6source": KeySpec("IPv6 source address"),
    "ip6destination": KeySpec("IPv6 destination address"),
    "ipprotocol": KeySpec("IP protocol / IPv6 next header (decimal)", numeric=True),
    "ipdscp": KeySpec("DSCP (decimal)", numeric=True),
    "ipecn": KeySpec("ECN bits (0-3; 3 = CE)", numeric=True),
    "tcpsourceport": KeySpec("TCP source port", numeric=True),
    "tcpdestinationport": KeySpec("TCP destination port", numeric=True),
    "udpsourceport": KeySpec("UDP source port", numeric=True),
    "udpdestinationport": KeySpec("UDP destination port", numeric=True),
    "ibbtopcode": KeySpec("RoCEv2 BTH opcode (decimal)", numeric=True),
    "ibbtopname": KeySpec("RoCEv2 BTH operation name, e.g. RDMA_WRITE_ONLY"),
    "ibbtoptransport": KeySpec("RoCEv2 BTH transport: RC UC RD UD CNP XRC"),
    "ibbtdestqp": KeySpec("RoCEv2 destination queue pair (decimal)", numeric=True),
    "ibbtpkey": KeySpec("RoCEv2 partition key (decimal)", numeric=True),
    "ibbtse": KeySpec("RoCEv2 BTH solicited-event bit (0/1)", numeric=True),
    "ibbtm": KeySpec("RoCEv2 BTH MigReq bit (0/1)", numeric=True),
    "ibbtrdmalen": KeySpec("RoCEv2 RETH DMA length in bytes", numeric=True),
    "ibbtaethack": KeySpec("RoCEv2 AETH syndrome kind: ACK RNR_NAK NAK RESERVED"),
    "reason": KeySpec("drop reason name", dropped_only=True),
    "linuxreason": KeySpec("Linux drop reason (skb_drop_reason)", dropped_only=True),
    "function": KeySpec("kernel function that dropped the packet", dropped_only=True),
    "node": KeySpec("topology node of the agent"),
    "ingressnode": KeySpec("topology node of the input port"),
    "ingressport": KeySpec("topology port name of the input port"),
    "ingressrole": KeySpec("role of the input port: edge, core or unmapped"),
    "egressnode": KeySpec("topology node of the output port"),
    "egressport": KeySpec("topology port name of the output port"),
    "egressrole": KeySpec("role of the output port: edge, core or unmapped"),
}

# Values a definition may sum besides the numeric keys: each sample stands for sampling_rate
# frames of frame_length bytes (a drop notification for one frame).
BASE_VALUES: Final = ("bytes", "frames")


def is_value(name: str) -> bool:
    """True when ``name`` may be a definition's value (bytes, frames or a numeric key)."""
    spec = KEYS.get(name)
    return name in BASE_VALUES or (spec is not None and spec.numeric)

"""Flow keys and values read off a fast-path row: the columns ``decoders.fast`` already fills.

Every extractor takes ``(row, base, data, sample)``: ``row[base + COL_…]`` is one flow row (the
``FlowRows`` storage itself on the fast path, or a scratch row the engine fills for a drop
notification or a fully decoded sample, by the same header walk), ``data`` the bytes its offsets
index, ``sample`` the ``SampleContext`` of the row (agent, resolver, drop fields). A key the
sample does not have is None. Nothing is decoded twice and no record object is made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from socket import AF_INET, AF_INET6, inet_ntop
from typing import Any

from collector.flows.keys import KEYS
from decoders.fast import (
    BTH_M,
    BTH_SE,
    COL_AETH_SYNDROME,
    COL_BTH_DEST_QP,
    COL_BTH_FLAGS,
    COL_BTH_OFFSET,
    COL_BTH_OPCODE,
    COL_BTH_PKEY,
    COL_DSCP,
    COL_DST_PORT,
    COL_ECN,
    COL_ETHERTYPE,
    COL_FRAME_LENGTH,
    COL_HEADER_LENGTH,
    COL_HEADER_OFFSET,
    COL_HEADER_PROTOCOL,
    COL_INPUT_FORMAT,
    COL_INPUT_VALUE,
    COL_IP_PROTOCOL,
    COL_IP_VERSION,
    COL_L3_OFFSET,
    COL_OUTPUT_FORMAT,
    COL_OUTPUT_VALUE,
    COL_RETH_DMA_LENGTH,
    COL_SRC_PORT,
    COL_SRC_VLAN,
    COL_VLAN,
)
from decoders.rocev2 import AETH_KINDS, operation_name, transport_name
from topology.index import UNMAPPED, PortInfo
from topology.resolver import PortResolver

Row = Sequence[int]
Text = Callable[[Row, int, Any, "SampleContext"], str | None]
Number = Callable[[Row, int], int]  # -1 = absent


class SampleContext:
    """What a row's keys need beyond its columns: the agent and the drop notification's
    fields (None for packet samples); port resolutions are looked up once per row."""

    __slots__ = ("_input", "_output", "agent", "function", "linux_reason", "reason", "resolver")

    def __init__(self, agent: str, resolver: PortResolver) -> None:
        self.agent = agent
        self.resolver = resolver
        self.reason: str | None = None
        self.linux_reason: str | None = None
        self.function: str | None = None
        self._input: PortInfo | bool | None = False
        self._output: PortInfo | bool | None = False

    def next_row(self) -> None:
        """Forget the previous row's port resolutions."""
        self._input = self._output = False

    def input_port(self, row: Row, base: int) -> PortInfo | None:
        """The topology port of the row's input ifIndex."""
        found = self._input
        if found is False:
            ifindex = _input(row, base)
            found = self._input = (
                self.resolver.resolve(self.agent, ifindex) if ifindex > 0 else None
            )
        return found  # type: ignore[return-value]

    def output_port(self, row: Row, base: int) -> PortInfo | None:
        """The topology port of the row's output ifIndex."""
        found = self._output
        if found is False:
            ifindex = _output(row, base)
            found = self._output = (
                self.resolver.resolve(self.agent, ifindex) if ifindex > 0 else None
            )
        return found  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# Numbers (-1 = absent)


def _column(column: int) -> Number:
    return lambda row, base: row[base + column]


def _input(row: Row, base: int) -> int:
    return row[base + COL_INPUT_VALUE] if row[base + COL_INPUT_FORMAT] == 0 else -1


def _output(row: Row, base: int) -> int:
    return row[base + COL_OUTPUT_VALUE] if row[base + COL_OUTPUT_FORMAT] == 0 else -1


def _vlan(row: Row, base: int) -> int:
    vlan = row[base + COL_VLAN]
    return vlan if vlan >= 0 else row[base + COL_SRC_VLAN]


def _port_of(protocol: int, column: int) -> Number:
    def port(row: Row, base: int) -> int:
        return row[base + column] if row[base + COL_IP_PROTOCOL] == protocol else -1

    return port


def _bth(column: int) -> Number:
    def field(row: Row, base: int) -> int:
        return row[base + column] if row[base + COL_BTH_OFFSET] >= 0 else -1

    return field


def _bth_flag(bit: int) -> Number:
    def flag(row: Row, base: int) -> int:
        if row[base + COL_BTH_OFFSET] < 0:
            return -1
        return 1 if row[base + COL_BTH_FLAGS] & bit else 0

    return flag


NUMBERS: dict[str, Number] = {
    "inputifindex": _input,
    "outputifindex": _output,
    "ethernetprotocol": _column(COL_ETHERTYPE),
    "vlan": _vlan,
    "ipprotocol": _column(COL_IP_PROTOCOL),
    "ipdscp": _column(COL_DSCP),
    "ipecn": _column(COL_ECN),
    "tcpsourceport": _port_of(6, COL_SRC_PORT),
    "tcpdestinationport": _port_of(6, COL_DST_PORT),
    "udpsourceport": _port_of(17, COL_SRC_PORT),
    "udpdestinationport": _port_of(17, COL_DST_PORT),
    "ibbtopcode": _bth(COL_BTH_OPCODE),
    "ibbtdestqp": _bth(COL_BTH_DEST_QP),
    "ibbtpkey": _bth(COL_BTH_PKEY),
    "ibbtse": _bth_flag(BTH_SE),
    "ibbtm": _bth_flag(BTH_M),
    "ibbtrdmalen": _column(COL_RETH_DMA_LENGTH),
}


# ---------------------------------------------------------------------------------------------
# Texts


def _number_text(number: Number) -> Text:
    def text(row: Row, base: int, data: Any, sample: SampleContext) -> str | None:
        value = number(row, base)
        return str(value) if value >= 0 else None

    return text


# Address bytes → text: a fabric has a bounded set of hosts, and the text of one costs more than
# the lookup (6-byte MACs and 4/16-byte addresses never collide: the lengths differ).
_TEXT_OF: dict[bytes, str] = {}
TEXT_CACHE = 65_536


def _remember(raw: bytes, text: str) -> str:
    if len(_TEXT_OF) >= TEXT_CACHE:
        _TEXT_OF.clear()  # bounded; cheap to recompute
    _TEXT_OF[raw] = text
    return text


def _mac(at: int) -> Text:
    def mac(row: Row, base: int, data: Any, sample: SampleContext) -> str | None:
        offset = row[base + COL_HEADER_OFFSET]
        if row[base + COL_HEADER_PROTOCOL] != 1 or offset < 0:
            return None
        if row[base + COL_HEADER_LENGTH] < at + 6:
            return None
        raw = bytes(data[offset + at : offset + at + 6])
        text = _TEXT_OF.get(raw)
        if text is None:
            text = _remember(raw, raw.hex().upper())
        return text

    return mac


def _address(version: int, source: bool) -> Text:
    family, size, first = (AF_INET, 4, 12) if version == 4 else (AF_INET6, 16, 8)
    skip = 0 if source else size

    def address(row: Row, base: int, data: Any, sample: SampleContext) -> str | None:
        l3 = row[base + COL_L3_OFFSET]
        if l3 < 0 or row[base + COL_IP_VERSION] != version:
            return None
        at = l3 + first + skip
        raw = bytes(data[at : at + size])
        text = _TEXT_OF.get(raw)
        if text is None:
            text = _remember(raw, inet_ntop(family, raw))
        return text

    return address


def _opcode_text(name: Callable[[int], str]) -> Text:
    def text(row: Row, base: int, data: Any, sample: SampleContext) -> str | None:
        if row[base + COL_BTH_OFFSET] < 0 or row[base + COL_BTH_OPCODE] < 0:
            return None
        return name(row[base + COL_BTH_OPCODE])

    return text


def _aeth_kind(row: Row, base: int, data: Any, sample: SampleContext) -> str | None:
    syndrome = row[base + COL_AETH_SYNDROME]
    if syndrome < 0:
        return None
    return "RESERVED" if syndrome & 0x80 else AETH_KINDS[syndrome & 0x60]


def _port_text(which: str, part: str) -> Text:
    def text(row: Row, base: int, data: Any, sample: SampleContext) -> str | None:
        info = sample.input_port(row, base) if which == "in" else sample.output_port(row, base)
        if part == "role":
            return info.role if info is not None else UNMAPPED
        if info is None:
            return None
        return info.node if part == "node" else info.port

    return text


TEXTS: dict[str, Text] = {
    "agent": lambda row, base, data, sample: sample.agent,
    "macsource": _mac(6),
    "macdestination": _mac(0),
    "ipsource": _address(4, True),
    "ipdestination": _address(4, False),
    "ip6source": _address(6, True),
    "ip6destination": _address(6, False),
    "ibbtopname": _opcode_text(operation_name),
    "ibbtoptransport": _opcode_text(transport_name),
    "ibbtaethack": _aeth_kind,
    "reason": lambda row, base, data, sample: sample.reason,
    "linuxreason": lambda row, base, data, sample: sample.linux_reason,
    "function": lambda row, base, data, sample: sample.function,
    "node": lambda row, base, data, sample: sample.resolver.node_of(sample.agent),
    "ingressnode": _port_text("in", "node"),
    "ingressport": _port_text("in", "port"),
    "ingressrole": _port_text("in", "role"),
    "egressnode": _port_text("out", "node"),
    "egressport": _port_text("out", "port"),
    "egressrole": _port_text("out", "role"),
    **{name: _number_text(number) for name, number in NUMBERS.items()},
}

assert set(TEXTS) == set(KEYS), sorted(set(TEXTS) ^ set(KEYS))


# ---------------------------------------------------------------------------------------------
# Raw inputs: what a key's text is made of, cheap to read (no text made). Within one tick (the
# topology may change between ticks), the agent, the data source and the raw inputs of a row
# determine every key text, so the engine looks texts up by them instead of making them again.

Raw = Callable[[Row, int, Any, "SampleContext"], object]


def _raw_bytes(offset_column: int, at: int, size: int, check: Callable[[Row, int], bool]) -> Raw:
    def raw(row: Row, base: int, data: Any, sample: SampleContext) -> object:
        offset = row[base + offset_column]
        if offset < 0 or not check(row, base):
            return None
        return bytes(data[offset + at : offset + at + size])

    return raw


def _mac_raw(row: Row, base: int, data: Any, sample: SampleContext) -> object:
    offset = row[base + COL_HEADER_OFFSET]
    if offset < 0 or row[base + COL_HEADER_PROTOCOL] != 1:
        return None
    return bytes(data[offset : offset + min(12, row[base + COL_HEADER_LENGTH])])


def _ipv4(row: Row, base: int) -> bool:
    return row[base + COL_IP_VERSION] == 4


def _ipv6(row: Row, base: int) -> bool:
    return row[base + COL_IP_VERSION] == 6


def _number_raw(number: Number) -> Raw:
    return lambda row, base, data, sample: number(row, base)


_MAC_RAW = _mac_raw  # both addresses at once (as far as the header holds them)
_V4_RAW = _raw_bytes(COL_L3_OFFSET, 12, 8, _ipv4)  # source and destination
_V6_RAW = _raw_bytes(COL_L3_OFFSET, 8, 32, _ipv6)
_IN_RAW = _number_raw(_input)
_OUT_RAW = _number_raw(_output)
_OPCODE_RAW = _number_raw(NUMBERS["ibbtopcode"])

RAWS: dict[str, Raw | None] = {
    "agent": None,  # the agent is part of every lookup already
    "node": None,  # a function of the agent
    "macsource": _MAC_RAW,
    "macdestination": _MAC_RAW,
    "ipsource": _V4_RAW,
    "ipdestination": _V4_RAW,
    "ip6source": _V6_RAW,
    "ip6destination": _V6_RAW,
    "ibbtopname": _OPCODE_RAW,
    "ibbtoptransport": _OPCODE_RAW,
    "ibbtaethack": _number_raw(_column(COL_AETH_SYNDROME)),
    "reason": lambda row, base, data, sample: sample.reason,
    "linuxreason": lambda row, base, data, sample: sample.linux_reason,
    "function": lambda row, base, data, sample: sample.function,
    **{f"ingress{part}": _IN_RAW for part in ("node", "port", "role")},
    **{f"egress{part}": _OUT_RAW for part in ("node", "port", "role")},
    **{name: _number_raw(number) for name, number in NUMBERS.items()},
}
RAWS.update({"inputifindex": _IN_RAW, "outputifindex": _OUT_RAW, "ibbtopcode": _OPCODE_RAW})

assert set(RAWS) == set(KEYS), sorted(set(RAWS) ^ set(KEYS))


def frame_length(row: Row, base: int) -> int:
    """The sampled frame's length in bytes (-1 when no record says)."""
    return row[base + COL_FRAME_LENGTH]

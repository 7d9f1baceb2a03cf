# cython: language_level=3, annotation_typing=False
"""Fast sFlow v5 scan: flow samples → rows of int64 columns; other samples located, not decoded.

One source, two builds. This file is Cython "pure Python mode": run as it is, it is an ordinary
Python module (``decoders.fastpath``); ``setup.py`` also has Cython compile this same file to C
under another module name, ``decoders._fastpath_c``. ``decoders.fast`` picks one (see there).
Annotations are for mypy only (``annotation_typing=False``); the C types come from the
``cython.locals``/``cython.declare`` declarations.

What a scan does, per datagram:

* the framing is checked exactly as ``decoders.parse.decode_datagram`` checks it — same
  ``DecodeError`` reason, offset and path, in the same order — including the record framing inside
  counter (0:2/0:4) and drop (0:5) samples, so a datagram the scan accepts is one the full decoder
  accepts and vice versa (the tests and ``bench/fuzz_decode.py`` hold the two to that);
* every flow sample (0:1 compact, 0:3 expanded) becomes ONE ROW of ``NUM_COLUMNS`` int64 values
  appended to a reusable :class:`FlowRows` buffer (``COL_*`` below; -1 = absent). The sampled
  header is walked like ``decoders.packet.parse_packet`` (Ethernet, 802.1Q/QinQ, IPv4, IPv6 with
  extension headers, UDP, TCP) and, on UDP destination port 4791, the RoCEv2 BTH plus RETH/AETH at
  the offsets ``decoders.rocev2.EXTENSION_HEADERS`` gives for the opcode (read into C tables at
  import: one source of truth for the opcode layouts);
* every other sample (counters, drops, unknown formats) is reported as
  ``(data_format, offset, length, index)`` in ``FlowRows.others``, ready for
  ``decoders.parse.decode_sample(data, offset, length, data_format, index)``;
* the datagram header lands in ``FlowRows`` attributes (``agent_address_type``, raw
  ``agent_address`` bytes, ``sub_agent``, ``sequence``, ``uptime_ms``, ``num_samples``).

Addresses for "locate" are not copied: ``COL_HEADER_OFFSET`` is where the sampled header starts
in the datagram (destination MAC at +0, source MAC at +6 when ``COL_HEADER_PROTOCOL`` is 1 and
``COL_HEADER_LENGTH`` >= 12) and ``COL_L3_OFFSET`` where the IP header starts (IPv4 source/
destination at +12/+16, IPv6 at +8/+24). Offsets cost nothing in the scan, need no 128-bit
splitting for IPv6, and the few consumers that want an address slice it out of the datagram they
still hold (``addresses()`` does it). They index the datagram of that row's scan, so keep the
datagram while using them.

When one flow sample carries several records of a kind, the first well-formed one fills the row.
A record of a kind the scan reads whose body is too short for its layout (the full decoder keeps
it as a malformed ``RawRecord``) is skipped and flagged with ``REC_MALFORMED``.
"""

from __future__ import annotations

import socket
import struct
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from decoders.errors import DecodeError
from decoders.rocev2 import EXTENSION_HEADER_SIZES, EXTENSION_HEADERS

if TYPE_CHECKING:
    from decoders import _cython_shim as cython
else:
    try:
        import cython
    except ImportError:  # Cython is a build-time requirement only
        from decoders import _cython_shim as cython

Buffer = bytes | bytearray | memoryview

# ---------------------------------------------------------------------------------------------
# Columns. The C constants (``_NAME``) are what the compiled scan indexes with; the public
# ``COL_NAME`` integers below are the same values for Python consumers.

# Sample
_SAMPLE_FORMAT = cython.declare(cython.Py_ssize_t, 0)  # 1 = compact (0:1), 3 = expanded (0:3)
_SAMPLE_INDEX = cython.declare(cython.Py_ssize_t, 1)  # position in the datagram's samples
_SAMPLE_OFFSET = cython.declare(cython.Py_ssize_t, 2)  # sample body offset in the datagram
_SAMPLE_LENGTH = cython.declare(cython.Py_ssize_t, 3)  # sample body length
_SEQUENCE = cython.declare(cython.Py_ssize_t, 4)  # flow sample sequence number
_SOURCE_TYPE = cython.declare(cython.Py_ssize_t, 5)  # 0 ifIndex, 1 VLAN, 2 entPhysical, ...
_SOURCE_INDEX = cython.declare(cython.Py_ssize_t, 6)
_SAMPLING_RATE = cython.declare(cython.Py_ssize_t, 7)  # 1 in N: each row stands for N packets
_SAMPLE_POOL = cython.declare(cython.Py_ssize_t, 8)
_DROPS = cython.declare(cython.Py_ssize_t, 9)
_INPUT_FORMAT = cython.declare(cython.Py_ssize_t, 10)  # 0 ifIndex
_INPUT_VALUE = cython.declare(cython.Py_ssize_t, 11)
_OUTPUT_FORMAT = cython.declare(cython.Py_ssize_t, 12)  # 0 ifIndex, 1 discarded, 2 multiple
_OUTPUT_VALUE = cython.declare(cython.Py_ssize_t, 13)
_RECORDS = cython.declare(cython.Py_ssize_t, 14)  # REC_* bits of the flow records present
# sampled_header (0:1) record
_HEADER_PROTOCOL = cython.declare(cython.Py_ssize_t, 15)  # 1 Ethernet, 11 IPv4, 12 IPv6, ...
_FRAME_LENGTH = cython.declare(cython.Py_ssize_t, 16)  # original frame length (bytes)
_STRIPPED = cython.declare(cython.Py_ssize_t, 17)
_HEADER_OFFSET = cython.declare(cython.Py_ssize_t, 18)  # sampled header bytes in the datagram
_HEADER_LENGTH = cython.declare(cython.Py_ssize_t, 19)
# ... and what the walk of the sampled header found
_ETHERTYPE = cython.declare(cython.Py_ssize_t, 20)  # after any VLAN tags
_VLAN = cython.declare(cython.Py_ssize_t, 21)  # outermost VLAN ID
_L3_OFFSET = cython.declare(cython.Py_ssize_t, 22)  # IP header in the datagram
_IP_VERSION = cython.declare(cython.Py_ssize_t, 23)  # 4 or 6
_IP_PROTOCOL = cython.declare(cython.Py_ssize_t, 24)  # IPv6: after extension headers
_DSCP = cython.declare(cython.Py_ssize_t, 25)
_ECN = cython.declare(cython.Py_ssize_t, 26)  # 3 = CE
_SRC_PORT = cython.declare(cython.Py_ssize_t, 27)
_DST_PORT = cython.declare(cython.Py_ssize_t, 28)
_TCP_FLAGS = cython.declare(cython.Py_ssize_t, 29)
_BTH_OFFSET = cython.declare(cython.Py_ssize_t, 30)  # RoCEv2 BTH in the datagram (>= 0: RoCE)
_BTH_OPCODE = cython.declare(cython.Py_ssize_t, 31)  # 0x81 = CNP
_BTH_FLAGS = cython.declare(cython.Py_ssize_t, 32)  # BTH_* bits, pad count, TVer
_BTH_PKEY = cython.declare(cython.Py_ssize_t, 33)
_BTH_DEST_QP = cython.declare(cython.Py_ssize_t, 34)
_BTH_PSN = cython.declare(cython.Py_ssize_t, 35)
_RETH_DMA_LENGTH = cython.declare(cython.Py_ssize_t, 36)  # RDMA message length (RETH)
_AETH_SYNDROME = cython.declare(cython.Py_ssize_t, 37)  # raw 8 bits (ACK credits: low 5)
_AETH_MSN = cython.declare(cython.Py_ssize_t, 38)
# other flow records
_SRC_VLAN = cython.declare(cython.Py_ssize_t, 39)  # extended_switch (1001)
_DST_VLAN = cython.declare(cython.Py_ssize_t, 40)  # extended_switch (1001)
_EGRESS_QUEUE = cython.declare(cython.Py_ssize_t, 41)  # extended_egress_queue (1036)
_TRANSIT_DELAY = cython.declare(cython.Py_ssize_t, 42)  # extended_transit (1039), ns
_QUEUE_DEPTH = cython.declare(cython.Py_ssize_t, 43)  # extended_queue (1040), bytes
_NUM_COLUMNS = cython.declare(cython.Py_ssize_t, 44)

COL_SAMPLE_FORMAT: int = _SAMPLE_FORMAT
COL_SAMPLE_INDEX: int = _SAMPLE_INDEX
COL_SAMPLE_OFFSET: int = _SAMPLE_OFFSET
COL_SAMPLE_LENGTH: int = _SAMPLE_LENGTH
COL_SEQUENCE: int = _SEQUENCE
COL_SOURCE_TYPE: int = _SOURCE_TYPE
COL_SOURCE_INDEX: int = _SOURCE_INDEX
COL_SAMPLING_RATE: int = _SAMPLING_RATE
COL_SAMPLE_POOL: int = _SAMPLE_POOL
COL_DROPS: int = _DROPS
COL_INPUT_FORMAT: int = _INPUT_FORMAT
COL_INPUT_VALUE: int = _INPUT_VALUE
COL_OUTPUT_FORMAT: int = _OUTPUT_FORMAT
COL_OUTPUT_VALUE: int = _OUTPUT_VALUE
COL_RECORDS: int = _RECORDS
COL_HEADER_PROTOCOL: int = _HEADER_PROTOCOL
COL_FRAME_LENGTH: int = _FRAME_LENGTH
COL_STRIPPED: int = _STRIPPED
COL_HEADER_OFFSET: int = _HEADER_OFFSET
COL_HEADER_LENGTH: int = _HEADER_LENGTH
COL_ETHERTYPE: int = _ETHERTYPE
COL_VLAN: int = _VLAN
COL_L3_OFFSET: int = _L3_OFFSET
COL_IP_VERSION: int = _IP_VERSION
COL_IP_PROTOCOL: int = _IP_PROTOCOL
COL_DSCP: int = _DSCP
COL_ECN: int = _ECN
COL_SRC_PORT: int = _SRC_PORT
COL_DST_PORT: int = _DST_PORT
COL_TCP_FLAGS: int = _TCP_FLAGS
COL_BTH_OFFSET: int = _BTH_OFFSET
COL_BTH_OPCODE: int = _BTH_OPCODE
COL_BTH_FLAGS: int = _BTH_FLAGS
COL_BTH_PKEY: int = _BTH_PKEY
COL_BTH_DEST_QP: int = _BTH_DEST_QP
COL_BTH_PSN: int = _BTH_PSN
COL_RETH_DMA_LENGTH: int = _RETH_DMA_LENGTH
COL_AETH_SYNDROME: int = _AETH_SYNDROME
COL_AETH_MSN: int = _AETH_MSN
COL_SRC_VLAN: int = _SRC_VLAN
COL_DST_VLAN: int = _DST_VLAN
COL_EGRESS_QUEUE: int = _EGRESS_QUEUE
COL_TRANSIT_DELAY: int = _TRANSIT_DELAY
COL_QUEUE_DEPTH: int = _QUEUE_DEPTH
NUM_COLUMNS: int = _NUM_COLUMNS

COLUMNS: tuple[str, ...] = tuple(
    name[4:].lower()
    for name, _ in sorted(
        ((k, v) for k, v in globals().items() if k.startswith("COL_")), key=lambda kv: kv[1]
    )
)
"""Column names in index order, e.g. ``COLUMNS[COL_SAMPLING_RATE] == "sampling_rate"``."""

# COL_RECORDS bits: which flow records the sample carries (any enterprise-0 record of that
# format, well-formed or not); REC_OTHER = any other record; REC_MALFORMED = a record of a kind
# the scan reads (1, 1001, 1036, 1039, 1040) was too short for its layout and was skipped.
_REC_SAMPLED_HEADER = cython.declare(cython.longlong, 0x001)
_REC_SAMPLED_ETHERNET = cython.declare(cython.longlong, 0x002)
_REC_SAMPLED_IPV4 = cython.declare(cython.longlong, 0x004)
_REC_SAMPLED_IPV6 = cython.declare(cython.longlong, 0x008)
_REC_EXTENDED_SWITCH = cython.declare(cython.longlong, 0x010)
_REC_EGRESS_QUEUE = cython.declare(cython.longlong, 0x020)
_REC_TRANSIT = cython.declare(cython.longlong, 0x040)
_REC_QUEUE = cython.declare(cython.longlong, 0x080)
_REC_OTHER = cython.declare(cython.longlong, 0x100)
_REC_MALFORMED = cython.declare(cython.longlong, 0x200)

REC_SAMPLED_HEADER: int = _REC_SAMPLED_HEADER
REC_SAMPLED_ETHERNET: int = _REC_SAMPLED_ETHERNET
REC_SAMPLED_IPV4: int = _REC_SAMPLED_IPV4
REC_SAMPLED_IPV6: int = _REC_SAMPLED_IPV6
REC_EXTENDED_SWITCH: int = _REC_EXTENDED_SWITCH
REC_EGRESS_QUEUE: int = _REC_EGRESS_QUEUE
REC_TRANSIT: int = _REC_TRANSIT
REC_QUEUE: int = _REC_QUEUE
REC_OTHER: int = _REC_OTHER
REC_MALFORMED: int = _REC_MALFORMED

# COL_BTH_FLAGS: one bit per BTH flag, then the pad count (bits 8-9) and TVer (bits 12-15).
_BTH_SE = cython.declare(cython.longlong, 0x01)  # solicited event
_BTH_M = cython.declare(cython.longlong, 0x02)  # MigReq
_BTH_FECN = cython.declare(cython.longlong, 0x04)
_BTH_BECN = cython.declare(cython.longlong, 0x08)
_BTH_ACKREQ = cython.declare(cython.longlong, 0x10)
_BTH_COMPLETE = cython.declare(cython.longlong, 0x20)  # all the opcode's extension headers fit
_BTH_PAD_SHIFT = cython.declare(cython.longlong, 8)
_BTH_TVER_SHIFT = cython.declare(cython.longlong, 12)

BTH_SE: int = _BTH_SE
BTH_M: int = _BTH_M
BTH_FECN: int = _BTH_FECN
BTH_BECN: int = _BTH_BECN
BTH_ACKREQ: int = _BTH_ACKREQ
BTH_COMPLETE: int = _BTH_COMPLETE
BTH_PAD_SHIFT: int = _BTH_PAD_SHIFT
BTH_TVER_SHIFT: int = _BTH_TVER_SHIFT

ABSENT = -1

# ---------------------------------------------------------------------------------------------
# Limits and constants shared with decoders.parse (same values: the framing must agree).

_MAX_SAMPLES = cython.declare(cython.longlong, 4096)  # parse.MAX_SAMPLES_PER_DATAGRAM
_MAX_RECORDS = cython.declare(cython.longlong, 1024)  # parse.MAX_RECORDS_PER_SAMPLE
_ROCEV2_PORT = cython.declare(cython.longlong, 4791)
_BTH_BYTES = cython.declare(cython.longlong, 12)

# Opcode → extension header layout, relative to the BTH start (-1 = absent), filled from
# decoders.rocev2.EXTENSION_HEADERS at import.
_RETH_AT = cython.declare(cython.short[256])
_AETH_AT = cython.declare(cython.short[256])
_EXT_END = cython.declare(cython.short[256])


def _load_opcode_layouts() -> None:
    for opcode in range(256):
        reth = aeth = -1
        pos = 12
        for name in EXTENSION_HEADERS.get(opcode, ()):
            if name == "RETH":
                reth = pos
            elif name == "AETH":
                aeth = pos
            pos += EXTENSION_HEADER_SIZES[name]
        _RETH_AT[opcode] = reth
        _AETH_AT[opcode] = aeth
        _EXT_END[opcode] = pos


_load_opcode_layouts()

_NEG_ROW = array("q", [ABSENT] * NUM_COLUMNS)

# ---------------------------------------------------------------------------------------------
# Big-endian reads. Every caller has checked the bound first.

_unpack_u32: Callable[[Buffer, int], tuple[int]] = struct.Struct(">I").unpack_from
_unpack_u16: Callable[[Buffer, int], tuple[int]] = struct.Struct(">H").unpack_from


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.locals(b=cython.const_uchar[::1], o=cython.Py_ssize_t, v=cython.longlong)
@cython.returns(cython.longlong)
def _u32(b: Buffer, o: int) -> int:
    if cython.compiled:
        v = b[o]
        return (v << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]
    return _unpack_u32(b, o)[0]  # plain Python: one C call beats four index operations


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.locals(b=cython.const_uchar[::1], o=cython.Py_ssize_t)
@cython.returns(cython.longlong)
def _u16(b: Buffer, o: int) -> int:
    if cython.compiled:
        return (b[o] << 8) | b[o + 1]
    return _unpack_u16(b, o)[0]


# ---------------------------------------------------------------------------------------------
# The row buffer


@cython.cclass
class FlowRows:
    """Reusable columnar buffer: ``count`` rows of ``NUM_COLUMNS`` int64 values, row-major.

    Scans append rows (``clear()`` empties it); a scan that raises leaves it as it was. The
    header fields and ``others`` describe the last scanned datagram.
    """

    _mv = cython.declare(cython.longlong[::1])
    _array = cython.declare(object)
    capacity = cython.declare(cython.Py_ssize_t, visibility="readonly")
    count = cython.declare(cython.Py_ssize_t, visibility="readonly")
    agent_address_type = cython.declare(cython.longlong, visibility="readonly")
    agent_address = cython.declare(bytes, visibility="readonly")
    sub_agent = cython.declare(cython.longlong, visibility="readonly")
    sequence = cython.declare(cython.longlong, visibility="readonly")
    uptime_ms = cython.declare(cython.longlong, visibility="readonly")
    num_samples = cython.declare(cython.longlong, visibility="readonly")
    others = cython.declare(list, visibility="readonly")

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = 0
        self.count = 0
        self._array = array("q")
        self._mv = self._array
        self.agent_address_type = 0
        self.agent_address = b""
        self.sub_agent = self.sequence = self.uptime_ms = self.num_samples = 0
        self.others = []
        self.reserve(capacity)

    def clear(self) -> None:
        """Forget every row (the storage is kept)."""
        self.count = 0

    @cython.ccall
    @cython.locals(rows=cython.Py_ssize_t, need=cython.Py_ssize_t, new_capacity=cython.Py_ssize_t)
    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` more rows without reallocating during a scan."""
        need = self.count + rows
        if need <= self.capacity:
            return
        new_capacity = max(need, 2 * self.capacity, 16)
        grown = array("q", bytes(8 * new_capacity * _NUM_COLUMNS))
        grown[: self.count * _NUM_COLUMNS] = self.storage[: self.count * _NUM_COLUMNS]
        self._array = grown
        self._mv = grown
        self.capacity = new_capacity

    @property
    def storage(self) -> array[int]:
        """The storage: ``count * NUM_COLUMNS`` valid values, row-major (no copy)."""
        return cast("array[int]", self._array)

    @cython.locals(i=cython.Py_ssize_t, c=cython.Py_ssize_t)
    def get(self, i: int, c: int) -> int:
        """The value in row ``i``, column ``c``."""
        if not (0 <= i < self.count and 0 <= c < _NUM_COLUMNS):
            raise IndexError("row or column out of range")
        return int(self._mv[i * _NUM_COLUMNS + c])

    def row(self, i: int) -> tuple[int, ...]:
        """Row ``i`` as a tuple indexed by the ``COL_*`` constants."""
        if not 0 <= i < self.count:
            raise IndexError("row out of range")
        start = i * _NUM_COLUMNS
        return tuple(self.storage[start : start + _NUM_COLUMNS])

    def column(self, c: int) -> list[int]:
        """Column ``c`` of every row."""
        if not 0 <= c < _NUM_COLUMNS:
            raise IndexError("column out of range")
        return self.storage[c : self.count * _NUM_COLUMNS : _NUM_COLUMNS].tolist()

    def as_dicts(self) -> list[dict[str, int]]:
        """Every row as ``{column name: value}`` (for tests and debugging)."""
        return [dict(zip(COLUMNS, self.row(i), strict=True)) for i in range(self.count)]

    @property
    def agent(self) -> str | None:
        """The agent address as text, like ``Datagram.agent`` (None when its type is unknown)."""
        return agent_text(self.agent_address_type, self.agent_address)

    def __len__(self) -> int:
        return self.count

    def __repr__(self) -> str:
        return f"FlowRows(count={self.count}, capacity={self.capacity})"


def agent_text(address_type: int, raw: bytes) -> str | None:
    """Text form of a raw agent address (IPv4 type 1, IPv6 type 2; None otherwise)."""
    if address_type == 1 and len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if address_type == 2 and len(raw) == 16:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return None


def addresses(
    data: Buffer, rows: FlowRows, i: int
) -> tuple[str | None, str | None, str | None, str | None]:
    """(src MAC, dst MAC, src IP, dst IP) of row ``i``, sliced out of its datagram ``data``."""
    src_mac = dst_mac = src_ip = dst_ip = None
    hoff = rows.get(i, COL_HEADER_OFFSET)
    if rows.get(i, COL_HEADER_PROTOCOL) == 1 and hoff >= 0:
        hlen = rows.get(i, COL_HEADER_LENGTH)
        if hlen >= 6:
            dst_mac = bytes(data[hoff : hoff + 6]).hex(":")
        if hlen >= 12:
            src_mac = bytes(data[hoff + 6 : hoff + 12]).hex(":")
    l3 = rows.get(i, COL_L3_OFFSET)
    version = rows.get(i, COL_IP_VERSION)
    if l3 >= 0 and version == 4:
        src_ip = socket.inet_ntop(socket.AF_INET, bytes(data[l3 + 12 : l3 + 16]))
        dst_ip = socket.inet_ntop(socket.AF_INET, bytes(data[l3 + 16 : l3 + 20]))
    elif l3 >= 0 and version == 6:
        src_ip = socket.inet_ntop(socket.AF_INET6, bytes(data[l3 + 8 : l3 + 24]))
        dst_ip = socket.inet_ntop(socket.AF_INET6, bytes(data[l3 + 24 : l3 + 40]))
    return src_mac, dst_mac, src_ip, dst_ip


# ---------------------------------------------------------------------------------------------
# Sampled header walk (mirrors decoders.packet.parse_packet for the fields above)


@cython.cfunc
@cython.exceptval(check=False)
@cython.locals(
    b=cython.const_uchar[::1],
    p=cython.Py_ssize_t,
    avail=cython.Py_ssize_t,
    out=cython.longlong[::1],
    base=cython.Py_ssize_t,
    opcode=cython.Py_ssize_t,
    b1=cython.longlong,
    w2=cython.longlong,
    w3=cython.longlong,
    flags=cython.longlong,
    at=cython.Py_ssize_t,
)
@cython.returns(cython.void)
def _roce(b: Buffer, p: int, avail: int, out: memoryview, base: int) -> None:
    """BTH at ``p`` with ``avail`` bytes of sampled header left, plus its RETH/AETH."""
    if avail < _BTH_BYTES:
        return
    opcode = b[p]
    b1 = b[p + 1]
    w2 = _u32(b, p + 4)
    w3 = _u32(b, p + 8)
    flags = ((b1 >> 4) & 3) << _BTH_PAD_SHIFT | (b1 & 15) << _BTH_TVER_SHIFT
    if b1 & 0x80:
        flags |= _BTH_SE
    if b1 & 0x40:
        flags |= _BTH_M
    if w2 >> 31:
        flags |= _BTH_FECN
    if w2 & 0x40000000:
        flags |= _BTH_BECN
    if w3 >> 31:
        flags |= _BTH_ACKREQ
    if _EXT_END[opcode] <= avail:
        flags |= _BTH_COMPLETE
    out[base + _BTH_OFFSET] = p
    out[base + _BTH_OPCODE] = opcode
    out[base + _BTH_FLAGS] = flags
    out[base + _BTH_PKEY] = _u16(b, p + 2)
    out[base + _BTH_DEST_QP] = w2 & 0xFFFFFF
    out[base + _BTH_PSN] = w3 & 0xFFFFFF
    at = _RETH_AT[opcode]
    if at >= 0 and at + 16 <= avail:
        out[base + _RETH_DMA_LENGTH] = _u32(b, p + at + 12)
    at = _AETH_AT[opcode]
    if at >= 0 and at + 4 <= avail:
        out[base + _AETH_SYNDROME] = b[p + at]
        out[base + _AETH_MSN] = _u32(b, p + at) & 0xFFFFFF


@cython.cfunc
@cython.exceptval(check=False)
@cython.locals(
    b=cython.const_uchar[::1],
    h=cython.Py_ssize_t,
    n=cython.Py_ssize_t,
    protocol=cython.longlong,
    out=cython.longlong[::1],
    base=cython.Py_ssize_t,
    off=cython.Py_ssize_t,
    p=cython.Py_ssize_t,
    l3=cython.longlong,
    etype=cython.longlong,
    tci=cython.longlong,
    vlan=cython.longlong,
    first=cython.longlong,
    tclass=cython.longlong,
    proto=cython.longlong,
    ihl=cython.Py_ssize_t,
    walk=cython.bint,
    stopped=cython.bint,
    nxt=cython.longlong,
    size=cython.Py_ssize_t,
    hops=cython.Py_ssize_t,
    avail=cython.Py_ssize_t,
    dport=cython.longlong,
)
@cython.returns(cython.void)
def _packet(b: Buffer, h: int, n: int, protocol: int, out: memoryview, base: int) -> None:
    """Walk the ``n``-byte sampled header at ``h`` (best effort, never raises)."""
    off = 0
    l3 = 0
    if protocol == 1:
        if n < 14:
            return
        etype = _u16(b, h + 12)
        off = 14
        vlan = -1
        while etype == 0x8100 or etype == 0x88A8 or etype == 0x9100:
            if n - off < 4:
                if vlan < 0 and n - off >= 2:
                    out[base + _VLAN] = _u16(b, h + off) & 0x0FFF
                return
            tci = _u16(b, h + off)
            etype = _u16(b, h + off + 2)
            if vlan < 0:
                vlan = tci & 0x0FFF
                out[base + _VLAN] = vlan
            off += 4
        out[base + _ETHERTYPE] = etype
        if etype == 0x0800:
            l3 = 4
        elif etype == 0x86DD:
            l3 = 6
        else:
            return
    elif protocol == 11:
        l3 = 4
    elif protocol == 12:
        l3 = 6
    else:
        return

    p = h + off
    if l3 == 4:
        if n - off < 20:
            return
        first = b[p]
        if first >> 4 != 4:
            return
        tclass = b[p + 1]
        proto = b[p + 9]
        out[base + _L3_OFFSET] = p
        out[base + _IP_VERSION] = 4
        out[base + _DSCP] = tclass >> 2
        out[base + _ECN] = tclass & 3
        out[base + _IP_PROTOCOL] = proto
        ihl = (first & 0x0F) * 4
        if ihl < 20 or n - off < ihl:
            return
        if _u16(b, p + 6) & 0x1FFF:
            return  # not the first fragment: no upper-layer header
        off += ihl
    else:
        if n - off < 40:
            return
        first = b[p]
        if first >> 4 != 6:
            return
        tclass = ((first & 0x0F) << 4) | (b[p + 1] >> 4)
        out[base + _L3_OFFSET] = p
        out[base + _IP_VERSION] = 6
        out[base + _DSCP] = tclass >> 2
        out[base + _ECN] = tclass & 3
        nxt = b[p + 6]
        off += 40
        walk = True
        stopped = False
        hops = 0
        while True:
            if hops == 16:
                stopped = True  # more extension headers than any sane packet carries
                break
            hops += 1
            if nxt == 0 or nxt == 43 or nxt == 60 or nxt == 44:
                size = 8
            elif nxt == 51:
                size = 4
            else:
                break
            if n - off < size:
                stopped = True
                break
            p = h + off
            if nxt == 44:
                if _u16(b, p + 2) & 0xFFF8:
                    walk = False  # not the first fragment
            elif nxt == 51:
                size = (b[p + 1] + 2) * 4
            else:
                size = (b[p + 1] + 1) * 8
            nxt = b[p]
            off += size
            if not walk:
                break
        if stopped or off > n:
            return
        out[base + _IP_PROTOCOL] = nxt
        if not walk:
            return
        proto = nxt

    avail = n - off
    if avail < 4 or (proto != 17 and proto != 6):
        return
    p = h + off
    dport = _u16(b, p + 2)
    out[base + _SRC_PORT] = _u16(b, p)
    out[base + _DST_PORT] = dport
    if proto == 6:
        if avail > 13:
            out[base + _TCP_FLAGS] = b[p + 13]
    elif avail >= 8 and dport == _ROCEV2_PORT:
        _roce(b, p + 8, avail - 8, out, base)


# ---------------------------------------------------------------------------------------------
# Framing (mirrors decoders.parse: same checks, same order, same DecodeError)


@cython.cfunc
@cython.exceptval(-1, check=True)
@cython.locals(
    b=cython.const_uchar[::1],
    off=cython.Py_ssize_t,
    end=cython.Py_ssize_t,
    index=cython.Py_ssize_t,
    count=cython.longlong,
    i=cython.longlong,
    length=cython.longlong,
    body=cython.Py_ssize_t,
)
@cython.returns(cython.longlong)
def _skip_records(b: Buffer, off: int, end: int, index: int) -> int:
    """Check the framing of the record array at ``off`` (counter and drop samples)."""
    count = _u32(b, off)
    off += 4
    if count > _MAX_RECORDS or count * 8 > end - off:
        raise DecodeError("record_count_exceeds_data", off - 4, f"sample[{index}]")
    for i in range(count):
        if off + 8 > end:
            raise DecodeError("truncated", off, f"sample[{index}]/record[{i}]")
        length = _u32(b, off + 4)
        body = off + 8
        if length > end - body:
            raise DecodeError("record_length_overrun", off, f"sample[{index}]/record[{i}]")
        off = min(body + ((length + 3) & ~3), end)
    return 0


@cython.cfunc
@cython.exceptval(-1, check=True)
@cython.locals(
    b=cython.const_uchar[::1],
    body=cython.Py_ssize_t,
    end=cython.Py_ssize_t,
    expanded=cython.bint,
    index=cython.Py_ssize_t,
    out=cython.longlong[::1],
    base=cython.Py_ssize_t,
    k=cython.Py_ssize_t,
    off=cython.Py_ssize_t,
    word=cython.longlong,
    count=cython.longlong,
    i=cython.longlong,
    data_format=cython.longlong,
    length=cython.longlong,
    rbody=cython.Py_ssize_t,
    seen=cython.longlong,
    n=cython.longlong,
    protocol=cython.longlong,
)
@cython.returns(cython.longlong)
def _flow_sample(
    b: Buffer, body: int, end: int, expanded: bool, index: int, out: memoryview, base: int
) -> int:
    """Fill the row at ``base`` from the flow sample body ``[body, end)``."""
    if cython.compiled:
        for k in range(_NUM_COLUMNS):
            out[base + k] = -1
    else:
        out[base : base + _NUM_COLUMNS] = _NEG_ROW
    if body + (44 if expanded else 32) > end:
        raise DecodeError("truncated", body, f"sample[{index}]")
    out[base + _SAMPLE_INDEX] = index
    out[base + _SAMPLE_OFFSET] = body
    out[base + _SAMPLE_LENGTH] = end - body
    out[base + _SEQUENCE] = _u32(b, body)
    if expanded:
        out[base + _SAMPLE_FORMAT] = 3
        out[base + _SOURCE_TYPE] = _u32(b, body + 4)
        out[base + _SOURCE_INDEX] = _u32(b, body + 8)
        out[base + _SAMPLING_RATE] = _u32(b, body + 12)
        out[base + _SAMPLE_POOL] = _u32(b, body + 16)
        out[base + _DROPS] = _u32(b, body + 20)
        out[base + _INPUT_FORMAT] = _u32(b, body + 24)
        out[base + _INPUT_VALUE] = _u32(b, body + 28)
        out[base + _OUTPUT_FORMAT] = _u32(b, body + 32)
        out[base + _OUTPUT_VALUE] = _u32(b, body + 36)
        off = body + 40
    else:
        out[base + _SAMPLE_FORMAT] = 1
        word = _u32(b, body + 4)
        out[base + _SOURCE_TYPE] = word >> 24
        out[base + _SOURCE_INDEX] = word & 0xFFFFFF
        out[base + _SAMPLING_RATE] = _u32(b, body + 8)
        out[base + _SAMPLE_POOL] = _u32(b, body + 12)
        out[base + _DROPS] = _u32(b, body + 16)
        word = _u32(b, body + 20)
        out[base + _INPUT_FORMAT] = word >> 30
        out[base + _INPUT_VALUE] = word & 0x3FFFFFFF
        word = _u32(b, body + 24)
        out[base + _OUTPUT_FORMAT] = word >> 30
        out[base + _OUTPUT_VALUE] = word & 0x3FFFFFFF
        off = body + 28

    count = _u32(b, off)
    off += 4
    if count > _MAX_RECORDS or count * 8 > end - off:
        raise DecodeError("record_count_exceeds_data", off - 4, f"sample[{index}]")
    seen = 0
    for i in range(count):
        if off + 8 > end:
            raise DecodeError("truncated", off, f"sample[{index}]/record[{i}]")
        data_format = _u32(b, off)
        length = _u32(b, off + 4)
        rbody = off + 8
        if length > end - rbody:
            raise DecodeError("record_length_overrun", off, f"sample[{index}]/record[{i}]")
        if data_format == 1:
            n = _u32(b, rbody + 12) if length >= 16 else -1
            if 0 <= n <= length - 16:
                if out[base + _HEADER_OFFSET] < 0:
                    protocol = _u32(b, rbody)
                    out[base + _HEADER_PROTOCOL] = protocol
                    out[base + _FRAME_LENGTH] = _u32(b, rbody + 4)
                    out[base + _STRIPPED] = _u32(b, rbody + 8)
                    out[base + _HEADER_OFFSET] = rbody + 16
                    out[base + _HEADER_LENGTH] = n
                    _packet(b, rbody + 16, n, protocol, out, base)
            else:
                seen |= _REC_MALFORMED
            seen |= _REC_SAMPLED_HEADER
        elif data_format == 1001:
            if length >= 16:
                if out[base + _SRC_VLAN] < 0:
                    out[base + _SRC_VLAN] = _u32(b, rbody)
                    out[base + _DST_VLAN] = _u32(b, rbody + 8)
            else:
                seen |= _REC_MALFORMED
            seen |= _REC_EXTENDED_SWITCH
        elif data_format == 1036 or data_format == 1039 or data_format == 1040:
            k = (
                _EGRESS_QUEUE
                if data_format == 1036
                else (_TRANSIT_DELAY if data_format == 1039 else _QUEUE_DEPTH)
            )
            if length >= 4:
                if out[base + k] < 0:
                    out[base + k] = _u32(b, rbody)
            else:
                seen |= _REC_MALFORMED
            seen |= (
                _REC_EGRESS_QUEUE
                if data_format == 1036
                else (_REC_TRANSIT if data_format == 1039 else _REC_QUEUE)
            )
        elif data_format == 2:
            seen |= _REC_SAMPLED_ETHERNET
        elif data_format == 3:
            seen |= _REC_SAMPLED_IPV4
        elif data_format == 4:
            seen |= _REC_SAMPLED_IPV6
        else:
            seen |= _REC_OTHER
        off = min(rbody + ((length + 3) & ~3), end)
    out[base + _RECORDS] = seen
    return 0


@cython.cfunc
@cython.locals(
    b=cython.const_uchar[::1],
    rows=FlowRows,
    out=cython.longlong[::1],
    end=cython.Py_ssize_t,
    off=cython.Py_ssize_t,
    address_type=cython.longlong,
    count=cython.longlong,
    i=cython.longlong,
    data_format=cython.longlong,
    length=cython.longlong,
    body=cython.Py_ssize_t,
    row=cython.Py_ssize_t,
    header=cython.Py_ssize_t,
    others=list,
)
def _scan(data: Buffer, rows: FlowRows) -> int:
    b = data
    end = len(b)
    if end < 8:
        raise DecodeError("truncated", 0, "header")
    if _u32(b, 0) != 5:
        raise DecodeError("bad_version", 0, "header/version")
    address_type = _u32(b, 4)
    if address_type == 1:
        if end < 28:
            raise DecodeError("truncated", 8, "header")
        off = 12
    elif address_type == 2:
        if end < 40:
            raise DecodeError("truncated", 8, "header")
        off = 24
    elif address_type == 0:
        if end < 24:
            raise DecodeError("truncated", 8, "header")
        off = 8
    else:
        raise DecodeError("bad_agent_address_type", 4, "header/agent_address")
    header = off
    count = _u32(b, off + 12)
    off += 16
    if count > _MAX_SAMPLES or count * 8 > end - off:
        raise DecodeError("sample_count_exceeds_data", off - 4, "header/num_samples")
    others = []
    rows.reserve(count)
    out = rows._mv
    row = rows.count
    for i in range(count):
        if off + 8 > end:
            raise DecodeError("truncated", off, f"sample[{i}]")
        data_format = _u32(b, off)
        length = _u32(b, off + 4)
        body = off + 8
        if length > end - body:
            raise DecodeError("sample_length_overrun", off, f"sample[{i}]")
        if data_format == 1 or data_format == 3:
            _flow_sample(b, body, body + length, data_format == 3, i, out, row * _NUM_COLUMNS)
            row += 1
        else:
            if data_format == 2:
                if body + 12 > body + length:
                    raise DecodeError("truncated", body, f"sample[{i}]")
                _skip_records(b, body + 8, body + length, i)
            elif data_format == 4:
                if body + 16 > body + length:
                    raise DecodeError("truncated", body, f"sample[{i}]")
                _skip_records(b, body + 12, body + length, i)
            elif data_format == 5:
                if body + 32 > body + length:
                    raise DecodeError("truncated", body, f"sample[{i}]")
                _skip_records(b, body + 28, body + length, i)
            others.append((data_format, body, length, i))
        off = min(body + ((length + 3) & ~3), end)
    # Accepted: commit the rows and the header (a raise above left ``rows`` untouched).
    added = row - rows.count
    rows.count = row
    rows.others = others
    rows.agent_address_type = address_type
    rows.agent_address = bytes(data[8:header])
    rows.sub_agent = _u32(b, header)
    rows.sequence = _u32(b, header + 4)
    rows.uptime_ms = _u32(b, header + 8)
    rows.num_samples = count
    return added


def scan_datagram(data: Buffer, rows: FlowRows) -> int:
    """Scan one datagram into ``rows``; returns the number of flow-sample rows appended.

    Raises ``DecodeError`` exactly when ``decode_datagram`` would (same reason, offset, path),
    leaving ``rows`` unchanged; nothing else escapes.
    """
    try:
        return _scan(data, rows)
    except DecodeError:
        raise
    except Exception as exc:  # a bug, never expected: still only DecodeError leaves
        raise DecodeError("internal_error", 0, type(exc).__name__) from exc


def is_compiled() -> bool:
    """True in the C build (``decoders._fastpath_c``), False when running as plain Python."""
    return bool(cython.compiled)

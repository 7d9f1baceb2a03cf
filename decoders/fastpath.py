# cython: language_level=3, annotation_typing=False
"""Fast sFlow v5 scan: flow, counter and drop samples → rows of numbers; others located only.

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
* a counter sample (0:2/0:4) becomes one COUNTER ROW (``CTR_*``: its sequence, data source,
  port name position and the generic interface counters) and a drop sample (0:5) one DROP ROW
  (``DRP_*``: its header fields, Linux drop reason and kernel function positions), when every
  record in it is one the collector's accounting reads or may ignore (see the column tables);
* every other sample (counter or drop samples with other records, and every sample after the
  first such one, unknown formats) is reported as ``(data_format, offset, length, index)`` in
  ``FlowRows.others``, ready for
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
from typing import TYPE_CHECKING

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

# Counter rows: one per counter sample (0:2 compact, 0:4 expanded) whose records the full decoder
# would all decode without error: at most one generic_interface (0:1), port_name (0:1005) and
# host_descr (0:2000), any ethernet, vlan, lag, sfp, pfc, processor and host_adapters records
# (2, 5, 7, 10, 11, 1001, 2001: the collector passes over them), and up to four records of
# formats no parser knows (counted by the accounting as unknown). A malformed known record, or
# anything beyond that, sends the sample to ``others`` (decoded in full). Unsigned 64-bit values
# (``array("Q")``): the position, the sample header, the generic record's 19 fields in record
# order, where the hostname is, the unknown records' data_format words.
_C_INDEX = cython.declare(cython.Py_ssize_t, 0)
_C_OFFSET = cython.declare(cython.Py_ssize_t, 1)  # sample body offset in the datagram
_C_LENGTH = cython.declare(cython.Py_ssize_t, 2)
_C_SEQUENCE = cython.declare(cython.Py_ssize_t, 3)
_C_SOURCE_TYPE = cython.declare(cython.Py_ssize_t, 4)
_C_SOURCE_INDEX = cython.declare(cython.Py_ssize_t, 5)
_C_FLAGS = cython.declare(cython.Py_ssize_t, 6)  # CTR_GENERIC | CTR_PORT_NAME
_C_NAME_OFFSET = cython.declare(cython.Py_ssize_t, 7)  # port name bytes in the datagram
_C_NAME_LENGTH = cython.declare(cython.Py_ssize_t, 8)
_C_GENERIC = cython.declare(cython.Py_ssize_t, 9)  # if_index, if_type, if_speed, ... (19)
_C_HOST_OFFSET = cython.declare(cython.Py_ssize_t, 28)  # host_descr (2000) hostname bytes
_C_HOST_LENGTH = cython.declare(cython.Py_ssize_t, 29)
_C_UNKNOWN_COUNT = cython.declare(cython.Py_ssize_t, 30)  # records of a format no parser has
_C_UNKNOWN = cython.declare(cython.Py_ssize_t, 31)  # ... their data_format words, in order
_MAX_UNKNOWN = cython.declare(cython.Py_ssize_t, 4)  # more: the sample goes to ``others``
_NUM_COUNTER_COLUMNS = cython.declare(cython.Py_ssize_t, 35)
_CTR_GENERIC = cython.declare(cython.ulonglong, 1)
_CTR_PORT_NAME = cython.declare(cython.ulonglong, 2)
_CTR_HOST = cython.declare(cython.ulonglong, 4)

CTR_INDEX: int = _C_INDEX
CTR_OFFSET: int = _C_OFFSET
CTR_LENGTH: int = _C_LENGTH
CTR_SEQUENCE: int = _C_SEQUENCE
CTR_SOURCE_TYPE: int = _C_SOURCE_TYPE
CTR_SOURCE_INDEX: int = _C_SOURCE_INDEX
CTR_FLAGS: int = _C_FLAGS
CTR_NAME_OFFSET: int = _C_NAME_OFFSET
CTR_NAME_LENGTH: int = _C_NAME_LENGTH
CTR_GENERIC: int = _C_GENERIC
NUM_COUNTER_COLUMNS: int = _NUM_COUNTER_COLUMNS
CTR_HOST_OFFSET: int = _C_HOST_OFFSET
CTR_HOST_LENGTH: int = _C_HOST_LENGTH
CTR_UNKNOWN_COUNT: int = _C_UNKNOWN_COUNT
CTR_UNKNOWN: int = _C_UNKNOWN
CTR_MAX_UNKNOWN: int = _MAX_UNKNOWN
CTR_HAS_GENERIC: int = _CTR_GENERIC
CTR_HAS_PORT_NAME: int = _CTR_PORT_NAME
CTR_HAS_HOST: int = _CTR_HOST

# Drop rows: one per drop sample (0:5) whose records are all well-formed ones of the kinds
# sflow_drops.txt and sflow_version_5.txt give it (sampled header/ethernet/IPv4/IPv6, switch,
# egress queue, ACL, function, transit, queue, hw trap, Linux drop reason, timestamp), with at
# most one function, one Linux drop reason and one hw trap; anything else goes to ``others``.
# int64 values (-1 = absent).
_D_INDEX = cython.declare(cython.Py_ssize_t, 0)
_D_OFFSET = cython.declare(cython.Py_ssize_t, 1)  # sample body offset in the datagram
_D_LENGTH = cython.declare(cython.Py_ssize_t, 2)
_D_SEQUENCE = cython.declare(cython.Py_ssize_t, 3)
_D_SOURCE_TYPE = cython.declare(cython.Py_ssize_t, 4)
_D_SOURCE_INDEX = cython.declare(cython.Py_ssize_t, 5)
_D_DROPS = cython.declare(cython.Py_ssize_t, 6)
_D_INPUT = cython.declare(cython.Py_ssize_t, 7)
_D_OUTPUT = cython.declare(cython.Py_ssize_t, 8)
_D_REASON = cython.declare(cython.Py_ssize_t, 9)
_D_LINUX_OFFSET = cython.declare(cython.Py_ssize_t, 10)  # Linux drop reason text (1042)
_D_LINUX_LENGTH = cython.declare(cython.Py_ssize_t, 11)
_D_FUNCTION_OFFSET = cython.declare(cython.Py_ssize_t, 12)  # kernel function text (1038)
_D_FUNCTION_LENGTH = cython.declare(cython.Py_ssize_t, 13)
_D_HEADER_PROTOCOL = cython.declare(cython.Py_ssize_t, 14)  # the first sampled header (0:1)
_D_HEADER_OFFSET = cython.declare(cython.Py_ssize_t, 15)
_D_HEADER_LENGTH = cython.declare(cython.Py_ssize_t, 16)
_D_TRAP_GROUP_OFFSET = cython.declare(cython.Py_ssize_t, 17)  # hw trap (1041) group text
_D_TRAP_GROUP_LENGTH = cython.declare(cython.Py_ssize_t, 18)
_D_TRAP_OFFSET = cython.declare(cython.Py_ssize_t, 19)  # hw trap (1041) trap text
_D_TRAP_LENGTH = cython.declare(cython.Py_ssize_t, 20)
_D_FRAME_LENGTH = cython.declare(cython.Py_ssize_t, 21)  # the first sampled header's frame length
_NUM_DROP_COLUMNS = cython.declare(cython.Py_ssize_t, 22)

DRP_INDEX: int = _D_INDEX
DRP_OFFSET: int = _D_OFFSET
DRP_LENGTH: int = _D_LENGTH
DRP_SEQUENCE: int = _D_SEQUENCE
DRP_SOURCE_TYPE: int = _D_SOURCE_TYPE
DRP_SOURCE_INDEX: int = _D_SOURCE_INDEX
DRP_DROPS: int = _D_DROPS
DRP_INPUT: int = _D_INPUT
DRP_OUTPUT: int = _D_OUTPUT
DRP_REASON: int = _D_REASON
DRP_LINUX_OFFSET: int = _D_LINUX_OFFSET
DRP_LINUX_LENGTH: int = _D_LINUX_LENGTH
DRP_FUNCTION_OFFSET: int = _D_FUNCTION_OFFSET
DRP_FUNCTION_LENGTH: int = _D_FUNCTION_LENGTH
DRP_HEADER_PROTOCOL: int = _D_HEADER_PROTOCOL
DRP_HEADER_OFFSET: int = _D_HEADER_OFFSET
DRP_HEADER_LENGTH: int = _D_HEADER_LENGTH
DRP_TRAP_GROUP_OFFSET: int = _D_TRAP_GROUP_OFFSET
DRP_TRAP_GROUP_LENGTH: int = _D_TRAP_GROUP_LENGTH
DRP_TRAP_OFFSET: int = _D_TRAP_OFFSET
DRP_TRAP_LENGTH: int = _D_TRAP_LENGTH
DRP_FRAME_LENGTH: int = _D_FRAME_LENGTH
NUM_DROP_COLUMNS: int = _NUM_DROP_COLUMNS

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
_MAX_STRING = cython.declare(cython.longlong, 1024)  # parse.MAX_STRING
_MAX_PORT_NAME = cython.declare(cython.longlong, 255)  # sflow_host: port_name string<255>
_MAX_ARRAY = cython.declare(cython.longlong, 4096)  # parse.MAX_ARRAY_ITEMS
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
    # counter and drop rows (see CTR_* and DRP_*), appended and committed like the flow rows
    _cmv = cython.declare(cython.ulonglong[::1])
    _counter_array = cython.declare(object)
    counter_count = cython.declare(cython.Py_ssize_t, visibility="readonly")
    _counter_capacity = cython.declare(cython.Py_ssize_t)
    _dmv = cython.declare(cython.longlong[::1])
    _drop_array = cython.declare(object)
    drop_count = cython.declare(cython.Py_ssize_t, visibility="readonly")
    _drop_capacity = cython.declare(cython.Py_ssize_t)

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = 0
        self.count = 0
        self._array = array("q")
        self._mv = self._array
        self.counter_count = self._counter_capacity = 0
        self._counter_array = array("Q")
        self._cmv = self._counter_array
        self.drop_count = self._drop_capacity = 0
        self._drop_array = array("q")
        self._dmv = self._drop_array
        self.agent_address_type = 0
        self.agent_address = b""
        self.sub_agent = self.sequence = self.uptime_ms = self.num_samples = 0
        self.others = []
        self.reserve(capacity)

    def clear(self) -> None:
        """Forget every row (the storage is kept)."""
        self.count = 0
        self.counter_count = 0
        self.drop_count = 0

    @cython.ccall
    @cython.locals(rows=cython.Py_ssize_t, need=cython.Py_ssize_t, new_capacity=cython.Py_ssize_t)
    def _reserve_others(self, rows: int) -> None:
        """Room for ``rows`` more counter rows and as many drop rows."""
        need = self.counter_count + rows
        if need > self._counter_capacity:
            new_capacity = max(need, 2 * self._counter_capacity, 16)
            grown = array("Q", bytes(8 * new_capacity * _NUM_COUNTER_COLUMNS))
            used = self.counter_count * _NUM_COUNTER_COLUMNS
            grown[:used] = self.counter_storage[:used]
            self._counter_array = grown
            self._cmv = grown
            self._counter_capacity = new_capacity
        need = self.drop_count + rows
        if need > self._drop_capacity:
            new_capacity = max(need, 2 * self._drop_capacity, 16)
            grown_drops = array("q", bytes(8 * new_capacity * _NUM_DROP_COLUMNS))
            used = self.drop_count * _NUM_DROP_COLUMNS
            grown_drops[:used] = self.drop_storage[:used]
            self._drop_array = grown_drops
            self._dmv = grown_drops
            self._drop_capacity = new_capacity

    @property
    def counter_storage(self) -> array[int]:
        """Counter rows: ``counter_count * NUM_COUNTER_COLUMNS`` u64 values (no copy)."""
        return self._counter_array  # type: ignore[return-value]  # typing.cast costs a call

    @property
    def drop_storage(self) -> array[int]:
        """Drop rows: ``drop_count * NUM_DROP_COLUMNS`` int64 values (no copy)."""
        return self._drop_array  # type: ignore[return-value]  # typing.cast costs a call

    def counter_row(self, i: int) -> tuple[int, ...]:
        """Counter row ``i`` as a tuple indexed by the ``CTR_*`` constants."""
        if not 0 <= i < self.counter_count:
            raise IndexError("counter row out of range")
        start = i * _NUM_COUNTER_COLUMNS
        return tuple(self.counter_storage[start : start + _NUM_COUNTER_COLUMNS])

    def drop_row(self, i: int) -> tuple[int, ...]:
        """Drop row ``i`` as a tuple indexed by the ``DRP_*`` constants."""
        if not 0 <= i < self.drop_count:
            raise IndexError("drop row out of range")
        start = i * _NUM_DROP_COLUMNS
        return tuple(self.drop_storage[start : start + _NUM_DROP_COLUMNS])

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
        return self._array  # type: ignore[return-value]  # typing.cast costs a call

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
@cython.inline
@cython.exceptval(check=False)
@cython.locals(
    b=cython.const_uchar[::1],
    at=cython.Py_ssize_t,
    end=cython.Py_ssize_t,
    limit=cython.longlong,
    n=cython.longlong,
)
@cython.returns(cython.longlong)
def _string_length(b: Buffer, at: int, end: int, limit: int) -> int:
    """Length of the XDR string at ``at`` that ``decoders.parse`` would accept, else -1."""
    if at + 4 > end:
        return -1
    n = _u32(b, at)
    if n > limit or n > end - at - 4:
        return -1
    return n


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.locals(b=cython.const_uchar[::1], o=cython.Py_ssize_t)
@cython.returns(cython.ulonglong)
def _u64(b: Buffer, o: int) -> int:
    if cython.compiled:
        return (cython.cast(cython.ulonglong, _u32(b, o)) << 32) | _u32(b, o + 4)
    return (_unpack_u32(b, o)[0] << 32) | _unpack_u32(b, o + 4)[0]


# The counter record formats ``decoders.parse`` has a parser for (enterprise 0): a record of any
# other format is unknown (kept raw, counted). Held equal to the registry by the tests.
KNOWN_COUNTER_FORMATS: tuple[int, ...] = (1, 2, 5, 7, 10, 11, 1001, 1005, 2000, 2001)


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.locals(f=cython.longlong)
@cython.returns(cython.bint)
def _known_counter(f: int) -> bool:
    return (
        f == 2 or f == 1 or f == 5 or f == 7 or f == 10 or f == 11 or f == 1001 or f == 1005
        or f == 2000 or f == 2001
    )  # fmt: skip


@cython.cfunc
@cython.exceptval(check=False)
@cython.locals(
    b=cython.const_uchar[::1],
    rbody=cython.Py_ssize_t,
    end=cython.Py_ssize_t,
    n=cython.longlong,
    at=cython.Py_ssize_t,
)
@cython.returns(cython.longlong)
def _host_descr_ok(b: Buffer, rbody: int, end: int) -> int:
    """The hostname length of a host_descr (0:2000) ``decoders.parse`` decodes, else -1."""
    n = _string_length(b, rbody, end, 64)
    if n < 0:
        return -1
    at = min(rbody + 4 + ((n + 3) & ~3), end)
    if at + 24 > end or _string_length(b, at + 24, end, 32) < 0:
        return -1
    return n


@cython.cfunc
@cython.exceptval(check=False)
@cython.locals(
    b=cython.const_uchar[::1],
    rbody=cython.Py_ssize_t,
    length=cython.longlong,
    data_format=cython.longlong,
    off=cython.Py_ssize_t,
    end=cython.Py_ssize_t,
    n=cython.longlong,
    count=cython.longlong,
    i=cython.longlong,
)
@cython.returns(cython.bint)
def _passed_over_ok(b: Buffer, rbody: int, length: int, data_format: int) -> bool:
    """True when ``decoders.parse`` decodes this known counter record without error (the
    collector reads generic, port name and host records; it passes over these)."""
    end = rbody + length
    if data_format == 2:  # ethernet
        return length >= 52
    if data_format == 5:  # vlan
        return length >= 28
    if data_format == 7:  # lag_port_stats
        return length >= 56
    if data_format == 11:  # pfc
        return length >= 20
    if data_format == 1001:  # processor
        return length >= 28
    if data_format == 10:  # sfp: a 20-byte head whose last word counts 40-byte lanes
        if length < 20:
            return False
        n = _u32(b, rbody + 16)
        return n <= _MAX_ARRAY and n * 40 <= length - 20
    if data_format == 2001:  # host_adapters: adapters of (ifIndex, MACs of 8 bytes)
        off = rbody
        if off + 4 > end:
            return False
        count = _u32(b, off)
        if count > _MAX_ARRAY or count * 8 > end - off - 4:
            return False
        for _adapter in range(count):
            off += 4
            if off + 8 > end:  # its ifIndex and its MAC count
                return False
            n = _u32(b, off + 4)
            if n > _MAX_ARRAY or n * 8 > end - off - 8:
                return False
            off += 8 + 8 * n - 4
        return True
    return False  # generic, port name, host_descr: read by the caller


# Byte offset of each generic_interface (0:1) field in its record, in record order.
_GENERIC_AT = cython.declare(cython.Py_ssize_t[19])
_GENERIC_WIDE = cython.declare(cython.bint[19])  # the u64 fields: speed and the octets


def _load_generic_layout() -> None:
    at = 0
    for k, wide in enumerate((0, 0, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)):
        _GENERIC_AT[k] = at
        _GENERIC_WIDE[k] = wide
        at += 8 if wide else 4


_load_generic_layout()


@cython.cfunc
@cython.exceptval(-1, check=True)
@cython.locals(
    b=cython.const_uchar[::1],
    body=cython.Py_ssize_t,
    end=cython.Py_ssize_t,
    expanded=cython.bint,
    index=cython.Py_ssize_t,
    out=cython.ulonglong[::1],
    base=cython.Py_ssize_t,
    take=cython.bint,
    off=cython.Py_ssize_t,
    count=cython.longlong,
    i=cython.longlong,
    k=cython.Py_ssize_t,
    data_format=cython.longlong,
    length=cython.longlong,
    rbody=cython.Py_ssize_t,
    flags=cython.ulonglong,
    generic=cython.Py_ssize_t,
    name_at=cython.Py_ssize_t,
    n=cython.longlong,
    word=cython.longlong,
    host_at=cython.Py_ssize_t,
    host_n=cython.longlong,
    unknown=cython.Py_ssize_t,
)
@cython.returns(cython.longlong)
def _counter_sample(
    b: Buffer, body: int, end: int, expanded: bool, index: int, out: memoryview, base: int,
    take: bool,
) -> int:  # fmt: skip
    """Check a counter sample's framing (as ``decoders.parse``); with ``take``, fill the counter
    row at ``base`` and return 1 when the accounting reads every record, else return 0."""
    if body + (16 if expanded else 12) > end:
        raise DecodeError("truncated", body, f"sample[{index}]")
    off = body + (12 if expanded else 8)
    count = _u32(b, off)
    off += 4
    if count > _MAX_RECORDS or count * 8 > end - off:
        raise DecodeError("record_count_exceeds_data", off - 4, f"sample[{index}]")
    flags = 0
    generic = name_at = host_at = -1
    n = host_n = 0
    unknown = 0
    for i in range(count):
        if off + 8 > end:
            raise DecodeError("truncated", off, f"sample[{index}]/record[{i}]")
        data_format = _u32(b, off)
        length = _u32(b, off + 4)
        rbody = off + 8
        if length > end - rbody:
            raise DecodeError("record_length_overrun", off, f"sample[{index}]/record[{i}]")
        if take:
            if data_format == 1 and length >= 88 and not flags & _CTR_GENERIC:
                flags |= _CTR_GENERIC
                generic = rbody
            elif data_format == 1005 and not flags & _CTR_PORT_NAME:
                n = _string_length(b, rbody, rbody + length, _MAX_PORT_NAME)
                if n < 0:
                    take = False
                flags |= _CTR_PORT_NAME
                name_at = rbody + 4
            elif data_format == 2000 and not flags & _CTR_HOST:
                host_n = _host_descr_ok(b, rbody, rbody + length)
                if host_n < 0:
                    take = False
                flags |= _CTR_HOST
                host_at = rbody + 4
            elif _known_counter(data_format):
                take = _passed_over_ok(b, rbody, length, data_format)
            elif unknown < _MAX_UNKNOWN:
                out[base + _C_UNKNOWN + unknown] = data_format
                unknown += 1
            else:
                take = False
        off = min(rbody + ((length + 3) & ~3), end)
    if not take:
        return 0
    out[base + _C_HOST_OFFSET] = host_at if host_at >= 0 else 0
    out[base + _C_HOST_LENGTH] = host_n if host_at >= 0 else 0
    out[base + _C_UNKNOWN_COUNT] = unknown
    out[base + _C_INDEX] = index
    out[base + _C_OFFSET] = body
    out[base + _C_LENGTH] = end - body
    out[base + _C_SEQUENCE] = _u32(b, body)
    if expanded:
        out[base + _C_SOURCE_TYPE] = _u32(b, body + 4)
        out[base + _C_SOURCE_INDEX] = _u32(b, body + 8)
    else:
        word = _u32(b, body + 4)
        out[base + _C_SOURCE_TYPE] = word >> 24
        out[base + _C_SOURCE_INDEX] = word & 0xFFFFFF
    out[base + _C_FLAGS] = flags
    out[base + _C_NAME_OFFSET] = name_at if name_at >= 0 else 0
    out[base + _C_NAME_LENGTH] = n if name_at >= 0 else 0
    for k in range(19):
        if generic < 0:
            out[base + _C_GENERIC + k] = 0
        elif _GENERIC_WIDE[k]:
            out[base + _C_GENERIC + k] = _u64(b, generic + _GENERIC_AT[k])
        else:
            out[base + _C_GENERIC + k] = _u32(b, generic + _GENERIC_AT[k])
    return 1


@cython.cfunc
@cython.exceptval(check=False)
@cython.locals(
    b=cython.const_uchar[::1],
    rbody=cython.Py_ssize_t,
    length=cython.longlong,
    data_format=cython.longlong,
    n=cython.longlong,
    at=cython.Py_ssize_t,
    rend=cython.Py_ssize_t,
)
@cython.returns(cython.bint)
def _drop_record_ok(b: Buffer, rbody: int, length: int, data_format: int) -> bool:
    """True when ``decoders.parse`` decodes this flow record of a drop sample without error
    (the accounting ignores its contents), False for other and malformed records."""
    rend = rbody + length
    if data_format == 1:
        return length >= 16 and _u32(b, rbody + 12) <= length - 16
    if data_format == 2:
        return length >= 24
    if data_format == 3:
        return length >= 32
    if data_format == 4:
        return length >= 56
    if data_format == 1001:
        return length >= 16
    if data_format == 1036 or data_format == 1039 or data_format == 1040:
        return length >= 4
    if data_format == 1043:
        return length >= 8
    if data_format == 1037:  # ACL: number, name, direction
        n = _string_length(b, rbody + 4, rend, _MAX_STRING) if length >= 4 else -1
        if n < 0:
            return False
        at = min(rbody + 8 + ((n + 3) & ~3), rend)
        return at + 4 <= rend
    return False


@cython.cfunc
@cython.exceptval(-1, check=True)
@cython.locals(
    b=cython.const_uchar[::1],
    body=cython.Py_ssize_t,
    end=cython.Py_ssize_t,
    index=cython.Py_ssize_t,
    out=cython.longlong[::1],
    base=cython.Py_ssize_t,
    take=cython.bint,
    off=cython.Py_ssize_t,
    count=cython.longlong,
    i=cython.longlong,
    data_format=cython.longlong,
    length=cython.longlong,
    rbody=cython.Py_ssize_t,
    n=cython.longlong,
    linux_at=cython.longlong,
    linux_n=cython.longlong,
    function_at=cython.longlong,
    function_n=cython.longlong,
    header_protocol=cython.longlong,
    header_at=cython.longlong,
    header_n=cython.longlong,
    header_frame=cython.longlong,
    trap_group_at=cython.longlong,
    trap_group_n=cython.longlong,
    trap_at=cython.longlong,
    trap_n=cython.longlong,
    trap_n2=cython.longlong,
    at=cython.Py_ssize_t,
)
@cython.returns(cython.longlong)
def _drop_sample(
    b: Buffer, body: int, end: int, index: int, out: memoryview, base: int, take: bool
) -> int:
    """Check a drop sample's framing (as ``decoders.parse``); with ``take``, fill the drop row
    at ``base`` and return 1 when the accounting reads every record, else return 0."""
    if body + 32 > end:
        raise DecodeError("truncated", body, f"sample[{index}]")
    off = body + 28
    count = _u32(b, off)
    off += 4
    if count > _MAX_RECORDS or count * 8 > end - off:
        raise DecodeError("record_count_exceeds_data", off - 4, f"sample[{index}]")
    linux_at = linux_n = function_at = function_n = -1
    header_protocol = header_at = header_n = header_frame = -1
    trap_group_at = trap_group_n = trap_at = trap_n2 = -1
    for i in range(count):
        if off + 8 > end:
            raise DecodeError("truncated", off, f"sample[{index}]/record[{i}]")
        data_format = _u32(b, off)
        length = _u32(b, off + 4)
        rbody = off + 8
        if length > end - rbody:
            raise DecodeError("record_length_overrun", off, f"sample[{index}]/record[{i}]")
        if take:
            if data_format == 1041:  # hw trap: group, trap
                n = _string_length(b, rbody, rbody + length, _MAX_STRING)
                at = min(rbody + 4 + ((n + 3) & ~3), rbody + length)
                trap_n = _string_length(b, at, rbody + length, _MAX_STRING) if n >= 0 else -1
                if trap_n < 0 or trap_group_at >= 0:
                    take = False
                else:
                    trap_group_at, trap_group_n = rbody + 4, n
                    trap_at, trap_n2 = at + 4, trap_n
            elif data_format == 1042 or data_format == 1038:
                n = _string_length(b, rbody, rbody + length, _MAX_STRING)
                if n < 0 or (linux_at if data_format == 1042 else function_at) >= 0:
                    take = False  # malformed, or a second one: the full decoder counts each
                elif data_format == 1042:
                    linux_at, linux_n = rbody + 4, n
                else:
                    function_at, function_n = rbody + 4, n
            elif not _drop_record_ok(b, rbody, length, data_format):
                take = False
            elif data_format == 1 and header_at < 0:
                header_protocol = _u32(b, rbody)
                header_at, header_n = rbody + 16, _u32(b, rbody + 12)
                header_frame = _u32(b, rbody + 4)
        off = min(rbody + ((length + 3) & ~3), end)
    if not take:
        return 0
    out[base + _D_HEADER_PROTOCOL] = header_protocol
    out[base + _D_HEADER_OFFSET] = header_at
    out[base + _D_HEADER_LENGTH] = header_n
    out[base + _D_FRAME_LENGTH] = header_frame
    out[base + _D_TRAP_GROUP_OFFSET] = trap_group_at
    out[base + _D_TRAP_GROUP_LENGTH] = trap_group_n
    out[base + _D_TRAP_OFFSET] = trap_at
    out[base + _D_TRAP_LENGTH] = trap_n2
    out[base + _D_INDEX] = index
    out[base + _D_OFFSET] = body
    out[base + _D_LENGTH] = end - body
    out[base + _D_SEQUENCE] = _u32(b, body)
    out[base + _D_SOURCE_TYPE] = _u32(b, body + 4)
    out[base + _D_SOURCE_INDEX] = _u32(b, body + 8)
    out[base + _D_DROPS] = _u32(b, body + 12)
    out[base + _D_INPUT] = _u32(b, body + 16)
    out[base + _D_OUTPUT] = _u32(b, body + 20)
    out[base + _D_REASON] = _u32(b, body + 24)
    out[base + _D_LINUX_OFFSET] = linux_at
    out[base + _D_LINUX_LENGTH] = linux_n
    out[base + _D_FUNCTION_OFFSET] = function_at
    out[base + _D_FUNCTION_LENGTH] = function_n
    return 1


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
    cout=cython.ulonglong[::1],
    dout=cython.longlong[::1],
    counter=cython.Py_ssize_t,
    drop=cython.Py_ssize_t,
    fallback=cython.bint,
    taken=cython.longlong,
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
    rows._reserve_others(count)
    out = rows._mv
    row = rows.count
    cout = rows._cmv
    counter = rows.counter_count
    dout = rows._dmv
    drop = rows.drop_count
    # Counter and drop rows are accounted before ``others`` are decoded: once one such sample
    # goes to ``others``, every later one does too, so each kind stays in sample order.
    fallback = False
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
        elif data_format == 2 or data_format == 4:
            taken = _counter_sample(
                b, body, body + length, data_format == 4, i, cout, counter * _NUM_COUNTER_COLUMNS,
                not fallback,
            )  # fmt: skip
            if taken:
                counter += 1
            else:
                fallback = True
                others.append((data_format, body, length, i))
        elif data_format == 5:
            taken = _drop_sample(
                b, body, body + length, i, dout, drop * _NUM_DROP_COLUMNS, not fallback
            )
            if taken:
                drop += 1
            else:
                fallback = True
                others.append((data_format, body, length, i))
        else:
            others.append((data_format, body, length, i))
        off = min(body + ((length + 3) & ~3), end)
    # Accepted: commit the rows and the header (a raise above left ``rows`` untouched).
    added = row - rows.count
    rows.count = row
    rows.counter_count = counter
    rows.drop_count = drop
    rows.others = others
    rows.agent_address_type = address_type
    rows.agent_address = bytes(data[8:header])
    rows.sub_agent = _u32(b, header)
    rows.sequence = _u32(b, header + 4)
    rows.uptime_ms = _u32(b, header + 8)
    rows.num_samples = count
    return added


@cython.locals(view=cython.longlong[::1], k=cython.Py_ssize_t)
def walk_header(data: Buffer, offset: int, length: int, protocol: int, out: array[int]) -> None:
    """Walk the sampled header at ``offset`` (``length`` bytes) of ``data`` as a flow row's is
    walked, into ``out`` (``NUM_COLUMNS`` values, reset to -1 first): the packet fields of a
    drop row's header, for its drop log event."""
    view = out
    for k in range(_NUM_COLUMNS):
        view[k] = -1
    if offset < 0 or length < 0 or offset + length > len(data):
        return
    _packet(data, offset, length, protocol, view, 0)  # type: ignore[arg-type]


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

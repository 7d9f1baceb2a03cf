"""The decoder fast path to use: the compiled build when it is there, else plain Python.

``decoders/fastpath.py`` is one source with two builds: the module itself (plain Python) and
``decoders._fastpath_c``, the same file compiled by Cython at install time (see ``setup.py``).
This module picks one at import:

* ``FABRICSCOPE_PURE`` set (to anything but ``""``/``0``) → the plain-Python module;
* else the compiled module if it imports and is not older than ``fastpath.py`` (an editable
  checkout whose source changed after the last build; rebuild with ``pip install -e .``);
* else the plain-Python module.

``IMPLEMENTATION`` says which ("compiled" or "pure") and ``REASON`` why. Both builds have the same
API and give the same results; the column constants are the same numbers in both.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from types import ModuleType
from typing import cast

from decoders import fastpath as _pure
from decoders.build_select import PURE_ENV, compiled_build, select_build
from decoders.fastpath import (
    ABSENT,
    BTH_ACKREQ,
    BTH_BECN,
    BTH_COMPLETE,
    BTH_FECN,
    BTH_M,
    BTH_PAD_SHIFT,
    BTH_SE,
    BTH_TVER_SHIFT,
    COL_AETH_MSN,
    COL_AETH_SYNDROME,
    COL_BTH_DEST_QP,
    COL_BTH_FLAGS,
    COL_BTH_OFFSET,
    COL_BTH_OPCODE,
    COL_BTH_PKEY,
    COL_BTH_PSN,
    COL_DROPS,
    COL_DSCP,
    COL_DST_PORT,
    COL_DST_VLAN,
    COL_ECN,
    COL_EGRESS_QUEUE,
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
    COL_QUEUE_DEPTH,
    COL_RECORDS,
    COL_RETH_DMA_LENGTH,
    COL_SAMPLE_FORMAT,
    COL_SAMPLE_INDEX,
    COL_SAMPLE_LENGTH,
    COL_SAMPLE_OFFSET,
    COL_SAMPLE_POOL,
    COL_SAMPLING_RATE,
    COL_SEQUENCE,
    COL_SOURCE_INDEX,
    COL_SOURCE_TYPE,
    COL_SRC_PORT,
    COL_SRC_VLAN,
    COL_STRIPPED,
    COL_TCP_FLAGS,
    COL_TRANSIT_DELAY,
    COL_VLAN,
    COLUMNS,
    CTR_FLAGS,
    CTR_GENERIC,
    CTR_HAS_GENERIC,
    CTR_HAS_HOST,
    CTR_HAS_PORT_NAME,
    CTR_HOST_LENGTH,
    CTR_HOST_OFFSET,
    CTR_INDEX,
    CTR_LENGTH,
    CTR_MAX_UNKNOWN,
    CTR_NAME_LENGTH,
    CTR_NAME_OFFSET,
    CTR_OFFSET,
    CTR_SEQUENCE,
    CTR_SOURCE_INDEX,
    CTR_SOURCE_TYPE,
    CTR_UNKNOWN,
    CTR_UNKNOWN_COUNT,
    DRP_DROPS,
    DRP_FRAME_LENGTH,
    DRP_FUNCTION_LENGTH,
    DRP_FUNCTION_OFFSET,
    DRP_HEADER_LENGTH,
    DRP_HEADER_OFFSET,
    DRP_HEADER_PROTOCOL,
    DRP_INDEX,
    DRP_INPUT,
    DRP_LENGTH,
    DRP_LINUX_LENGTH,
    DRP_LINUX_OFFSET,
    DRP_OFFSET,
    DRP_OUTPUT,
    DRP_REASON,
    DRP_SEQUENCE,
    DRP_SOURCE_INDEX,
    DRP_SOURCE_TYPE,
    DRP_TRAP_GROUP_LENGTH,
    DRP_TRAP_GROUP_OFFSET,
    DRP_TRAP_LENGTH,
    DRP_TRAP_OFFSET,
    KNOWN_COUNTER_FORMATS,
    NUM_COLUMNS,
    NUM_COUNTER_COLUMNS,
    NUM_DROP_COLUMNS,
    REC_EGRESS_QUEUE,
    REC_EXTENDED_SWITCH,
    REC_MALFORMED,
    REC_OTHER,
    REC_QUEUE,
    REC_SAMPLED_ETHERNET,
    REC_SAMPLED_HEADER,
    REC_SAMPLED_IPV4,
    REC_SAMPLED_IPV6,
    REC_TRANSIT,
    Buffer,
)
from decoders.parse import decode_sample
from decoders.records import Sample

__all__ = [
    "ABSENT",
    "BTH_ACKREQ",
    "BTH_BECN",
    "BTH_COMPLETE",
    "BTH_FECN",
    "BTH_M",
    "BTH_PAD_SHIFT",
    "BTH_SE",
    "BTH_TVER_SHIFT",
    "COLUMNS",
    "COL_AETH_MSN",
    "COL_AETH_SYNDROME",
    "COL_BTH_DEST_QP",
    "COL_BTH_FLAGS",
    "COL_BTH_OFFSET",
    "COL_BTH_OPCODE",
    "COL_BTH_PKEY",
    "COL_BTH_PSN",
    "COL_DROPS",
    "COL_DSCP",
    "COL_DST_PORT",
    "COL_DST_VLAN",
    "COL_ECN",
    "COL_EGRESS_QUEUE",
    "COL_ETHERTYPE",
    "COL_FRAME_LENGTH",
    "COL_HEADER_LENGTH",
    "COL_HEADER_OFFSET",
    "COL_HEADER_PROTOCOL",
    "COL_INPUT_FORMAT",
    "COL_INPUT_VALUE",
    "COL_IP_PROTOCOL",
    "COL_IP_VERSION",
    "COL_L3_OFFSET",
    "COL_OUTPUT_FORMAT",
    "COL_OUTPUT_VALUE",
    "COL_QUEUE_DEPTH",
    "COL_RECORDS",
    "COL_RETH_DMA_LENGTH",
    "COL_SAMPLE_FORMAT",
    "COL_SAMPLE_INDEX",
    "COL_SAMPLE_LENGTH",
    "COL_SAMPLE_OFFSET",
    "COL_SAMPLE_POOL",
    "COL_SAMPLING_RATE",
    "COL_SEQUENCE",
    "COL_SOURCE_INDEX",
    "COL_SOURCE_TYPE",
    "COL_SRC_PORT",
    "COL_SRC_VLAN",
    "COL_STRIPPED",
    "COL_TCP_FLAGS",
    "COL_TRANSIT_DELAY",
    "COL_VLAN",
    "COMPILED_MODULE",
    "CTR_FLAGS",
    "CTR_GENERIC",
    "CTR_HAS_GENERIC",
    "CTR_HAS_HOST",
    "CTR_HAS_PORT_NAME",
    "CTR_HOST_LENGTH",
    "CTR_HOST_OFFSET",
    "CTR_INDEX",
    "CTR_LENGTH",
    "CTR_MAX_UNKNOWN",
    "CTR_NAME_LENGTH",
    "CTR_NAME_OFFSET",
    "CTR_OFFSET",
    "CTR_SEQUENCE",
    "CTR_SOURCE_INDEX",
    "CTR_SOURCE_TYPE",
    "CTR_UNKNOWN",
    "CTR_UNKNOWN_COUNT",
    "DRP_DROPS",
    "DRP_FRAME_LENGTH",
    "DRP_FUNCTION_LENGTH",
    "DRP_FUNCTION_OFFSET",
    "DRP_HEADER_LENGTH",
    "DRP_HEADER_OFFSET",
    "DRP_HEADER_PROTOCOL",
    "DRP_INDEX",
    "DRP_INPUT",
    "DRP_LENGTH",
    "DRP_LINUX_LENGTH",
    "DRP_LINUX_OFFSET",
    "DRP_OFFSET",
    "DRP_OUTPUT",
    "DRP_REASON",
    "DRP_SEQUENCE",
    "DRP_SOURCE_INDEX",
    "DRP_SOURCE_TYPE",
    "DRP_TRAP_GROUP_LENGTH",
    "DRP_TRAP_GROUP_OFFSET",
    "DRP_TRAP_LENGTH",
    "DRP_TRAP_OFFSET",
    "IMPLEMENTATION",
    "KNOWN_COUNTER_FORMATS",
    "NUM_COLUMNS",
    "NUM_COUNTER_COLUMNS",
    "NUM_DROP_COLUMNS",
    "PURE_ENV",
    "REASON",
    "REC_EGRESS_QUEUE",
    "REC_EXTENDED_SWITCH",
    "REC_MALFORMED",
    "REC_OTHER",
    "REC_QUEUE",
    "REC_SAMPLED_ETHERNET",
    "REC_SAMPLED_HEADER",
    "REC_SAMPLED_IPV4",
    "REC_SAMPLED_IPV6",
    "REC_TRANSIT",
    "FlowRows",
    "addresses",
    "agent_text",
    "compiled_module",
    "other_samples",
    "row_samples",
    "scan_datagram",
    "walk_header",
]

COMPILED_MODULE = "decoders._fastpath_c"


def compiled_module() -> tuple[ModuleType | None, str]:
    """The compiled build and "" if it is usable, else None and why not."""
    return compiled_build(COMPILED_MODULE, _pure)


_impl, IMPLEMENTATION, REASON = select_build(COMPILED_MODULE, _pure)

FlowRows = cast("type[_pure.FlowRows]", _impl.FlowRows)
"""Reusable columnar row buffer of the selected build (see ``decoders.fastpath.FlowRows``)."""
scan_datagram = cast("Callable[[Buffer, _pure.FlowRows], int]", _impl.scan_datagram)
"""Scan one datagram into a ``FlowRows`` (see ``decoders.fastpath.scan_datagram``)."""
addresses = _pure.addresses
agent_text = _pure.agent_text
walk_header = cast("Callable[[Buffer, int, int, int, array[int]], None]", _impl.walk_header)
"""Walk a drop row's sampled header into a flow row's columns (``fastpath.walk_header``)."""


def _format_of(buf: bytes, body: int) -> int:
    """The data_format word in front of the sample body at ``body``."""
    return int.from_bytes(buf[body - 8 : body - 4], "big")


def row_samples(data: Buffer, rows: _pure.FlowRows) -> list[Sample]:
    """Decode in full the counter and drop samples the last scan of ``data`` made rows of, in
    sample order (what the rows stand for; for tests and the few events that need records)."""
    buf = data if isinstance(data, bytes) else bytes(data)
    located = [
        (row[CTR_INDEX], _format_of(buf, row[CTR_OFFSET]), row[CTR_OFFSET], row[CTR_LENGTH])
        for row in map(rows.counter_row, range(rows.counter_count))
    ] + [
        (row[DRP_INDEX], 5, row[DRP_OFFSET], row[DRP_LENGTH])
        for row in map(rows.drop_row, range(rows.drop_count))
    ]
    return [
        decode_sample(buf, offset, length, fmt, index)
        for index, fmt, offset, length in sorted(located)
    ]


def other_samples(data: Buffer, rows: _pure.FlowRows) -> list[Sample]:
    """Decode the counter, drop and unknown samples the last scan of ``data`` located.

    Same records and errors as ``decode_datagram`` gives for them (the scan has already checked
    their framing, so this does not raise for a datagram the scan accepted).
    """
    buf = data if isinstance(data, bytes) else bytes(data)
    return [
        decode_sample(buf, offset, length, fmt, index) for fmt, offset, length, index in rows.others
    ]

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
    NUM_COLUMNS,
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
    "IMPLEMENTATION",
    "NUM_COLUMNS",
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
    "scan_datagram",
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


def other_samples(data: Buffer, rows: _pure.FlowRows) -> list[Sample]:
    """Decode the counter, drop and unknown samples the last scan of ``data`` located.

    Same records and errors as ``decode_datagram`` gives for them (the scan has already checked
    their framing, so this does not raise for a datagram the scan accepted).
    """
    buf = data if isinstance(data, bytes) else bytes(data)
    return [
        decode_sample(buf, offset, length, fmt, index) for fmt, offset, length, index in rows.others
    ]

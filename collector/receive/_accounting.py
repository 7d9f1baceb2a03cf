# cython: language_level=3, annotation_typing=False
"""Per-row accounting of fast-path flow, counter and drop samples into flat numeric accumulators.

One source, two builds, like ``decoders/fastpath.py``: run as it is, this is a plain Python module
(``collector.receive._accounting``); ``setup.py`` also compiles this same file with Cython
(pure-Python mode) as ``collector.receive._accounting_c``. ``collector.receive.accounting``
picks one.

``FlowAccounting.account(...)`` folds the flow rows of ONE datagram (a ``decoders.fast.FlowRows``
storage) in: the per-sample work of ``FabricState._count_flow`` (sample sequence tracking, the
ingress test, role resolution, traffic, RoCEv2 operations, ECN, CNP, RDMA, AETH) lands in a flat
array of doubles indexed by small enumerations (role x family, role x opcode, role x NAK code,
scalars) instead of ~15 dict updates per sample. ``flush(count, credits, histogram)`` adds every
cell touched since the last flush to the state's dicts, with the same family names and labels
``FabricState.count`` would have used, so the resulting ``Delta`` is the same. Sums are doubles
added in sample order, exactly like the Python ``float`` sums they replace.

``FlowAccounting.account_samples(...)`` does the same for the datagram's counter and drop rows,
in sample order: counter sample sequences, learned port names (the state is called only when a
port's name bytes change), interface deltas across wraps, resets and implausible rates
(docs/metrics.md), utilisation histograms, port statuses; drop reasons (also apart for agents of
topology nodes: what the compatible face counts), Linux drop reasons and kernel functions, drop
sequences and lost notifications. Each agent's ``PortTable`` holds one slot
per interface (baseline counters, the latest status); ``interface(...)`` feeds it a generic
interface record the full decoder decoded, so both paths share one baseline per port and one
order of floating-point sums.

What the arrays do not hold goes to the state's Python hooks, row by row in sample order: the
histograms of transit delay / queue depth (weighted, keyed by the output port's role), the
opt-in per-port series, a learned port name, a drop log event (bounded per tick) and the label of
a text never seen. Every counter series the arrays hold is fed by the arrays alone, so its sum is
the same sequence of double additions as the Python path's.

Role resolution is cached per agent (ifIndex → role code, and for counters the port's
``PortInfo``). The cache is dropped whole when the resolver's topology index changes (an
identity check per datagram) and per agent by ``forget(agent)``, which the state calls whenever
it teaches the resolver a name or forgets an agent.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from collector.families import UTILIZATION_BUCKETS
from decoders.drop_reasons import drop_reason_name
from decoders.fastpath import (
    BTH_M,
    BTH_SE,
    COL_AETH_SYNDROME,
    COL_BTH_FLAGS,
    COL_BTH_OFFSET,
    COL_BTH_OPCODE,
    COL_DROPS,
    COL_DSCP,
    COL_ECN,
    COL_FRAME_LENGTH,
    COL_INPUT_FORMAT,
    COL_INPUT_VALUE,
    COL_QUEUE_DEPTH,
    COL_RECORDS,
    COL_RETH_DMA_LENGTH,
    COL_SAMPLE_POOL,
    COL_SAMPLING_RATE,
    COL_SEQUENCE,
    COL_SOURCE_INDEX,
    COL_SOURCE_TYPE,
    COL_TRANSIT_DELAY,
    CTR_FLAGS,
    CTR_GENERIC,
    CTR_HAS_GENERIC,
    CTR_HAS_HOST,
    CTR_HAS_PORT_NAME,
    CTR_HOST_LENGTH,
    CTR_HOST_OFFSET,
    CTR_INDEX,
    CTR_NAME_LENGTH,
    CTR_NAME_OFFSET,
    CTR_SEQUENCE,
    CTR_SOURCE_INDEX,
    CTR_SOURCE_TYPE,
    CTR_UNKNOWN,
    CTR_UNKNOWN_COUNT,
    DRP_DROPS,
    DRP_FUNCTION_LENGTH,
    DRP_FUNCTION_OFFSET,
    DRP_INDEX,
    DRP_LENGTH,
    DRP_LINUX_LENGTH,
    DRP_LINUX_OFFSET,
    DRP_OFFSET,
    DRP_REASON,
    DRP_SEQUENCE,
    DRP_SOURCE_INDEX,
    DRP_SOURCE_TYPE,
    NUM_COLUMNS,
    NUM_COUNTER_COLUMNS,
    NUM_DROP_COLUMNS,
    REC_MALFORMED,
)
from decoders.records import IFINDEX_INTERNAL
from decoders.rocev2 import CNP_OPCODE, CREDIT_TABLE, NAK_CODES, OPCODES
from topology.index import CORE, EDGE, UNMAPPED

if TYPE_CHECKING:
    from decoders import _cython_shim as cython
else:
    try:
        import cython
    except ImportError:  # Cython is a build-time requirement only
        from decoders import _cython_shim as cython

# Roles
ROLE_EDGE = cython.declare(cython.Py_ssize_t, 0)
ROLE_CORE = cython.declare(cython.Py_ssize_t, 1)
ROLE_UNMAPPED = cython.declare(cython.Py_ssize_t, 2)
_ROLE_MISS = cython.declare(cython.Py_ssize_t, 3)  # unmapped, and a topology is loaded: a miss
ROLE_NAMES: tuple[str, ...] = (EDGE, CORE, UNMAPPED)

# Per-role families: cell = _ROLE_BASE + role * _NUM_ROLE_FAMILIES + family
ROLE_FAMILIES: tuple[str, ...] = (
    "ingress_bytes",
    "ingress_frames",
    "trimmed_packets",
    "ecn_ce_packets",
    "cnp_packets",
    "rdma_operations",
    "rdma_bytes",
    "aeth_acks",
    "aeth_rnr_naks",
)
_F_INGRESS_BYTES = cython.declare(cython.Py_ssize_t, 0)
_F_INGRESS_FRAMES = cython.declare(cython.Py_ssize_t, 1)
_F_TRIMMED = cython.declare(cython.Py_ssize_t, 2)
_F_ECN_CE = cython.declare(cython.Py_ssize_t, 3)
_F_CNP = cython.declare(cython.Py_ssize_t, 4)
_F_RDMA_OPS = cython.declare(cython.Py_ssize_t, 5)
_F_RDMA_BYTES = cython.declare(cython.Py_ssize_t, 6)
_F_ACKS = cython.declare(cython.Py_ssize_t, 7)
_F_RNR = cython.declare(cython.Py_ssize_t, 8)
_NUM_ROLE_FAMILIES = cython.declare(cython.Py_ssize_t, 9)
_ROLE_BASE = cython.declare(cython.Py_ssize_t, 0)
# rocev2_operations{role, operation}: cell = _OPS_BASE + role * 256 + opcode
_OPS_BASE = cython.declare(cython.Py_ssize_t, 27)
# aeth_naks{role, code}: cell = _NAK_BASE + role * 32 + code
_NAK_BASE = cython.declare(cython.Py_ssize_t, 27 + 3 * 256)
# Scalars
_SCALAR_BASE = cython.declare(cython.Py_ssize_t, 27 + 3 * 256 + 3 * 32)
SCALARS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("datagrams", ()),
    ("samples", ("flow",)),
    ("malformed_records", ("flow", "record_truncated")),
    ("flow_samples_skipped", ("zero_sampling_rate",)),
    ("flow_samples_skipped", ("not_ingress",)),
    ("flow_samples_skipped", ("no_header",)),
    ("topology_misses", ("flow",)),
    ("lost_samples", ("flow",)),
    ("fabric_ingress_bytes", ()),
    ("fabric_ingress_frames", ()),
    ("samples", ("counter",)),
    ("samples", ("drop",)),
    ("lost_samples", ("counter",)),
    ("lost_samples", ("drop",)),
    ("topology_misses", ("counter",)),
    ("drop_notifications_lost", ()),
)
_S_DATAGRAMS = cython.declare(cython.Py_ssize_t, 0)
_S_SAMPLES = cython.declare(cython.Py_ssize_t, 1)
_S_MALFORMED = cython.declare(cython.Py_ssize_t, 2)
_S_ZERO_RATE = cython.declare(cython.Py_ssize_t, 3)
_S_NOT_INGRESS = cython.declare(cython.Py_ssize_t, 4)
_S_NO_HEADER = cython.declare(cython.Py_ssize_t, 5)
_S_MISSES = cython.declare(cython.Py_ssize_t, 6)
_S_LOST = cython.declare(cython.Py_ssize_t, 7)
_S_FABRIC_BYTES = cython.declare(cython.Py_ssize_t, 8)
_S_FABRIC_FRAMES = cython.declare(cython.Py_ssize_t, 9)
_S_COUNTER_SAMPLES = cython.declare(cython.Py_ssize_t, 10)
_S_DROP_SAMPLES = cython.declare(cython.Py_ssize_t, 11)
_S_COUNTER_LOST = cython.declare(cython.Py_ssize_t, 12)
_S_DROP_LOST = cython.declare(cython.Py_ssize_t, 13)
_S_COUNTER_MISSES = cython.declare(cython.Py_ssize_t, 14)
_S_NOTIFICATIONS_LOST = cython.declare(cython.Py_ssize_t, 15)
# Interface counters of counter samples {direction, role}:
# cell = _IF_BASE + (family * 2 + direction) * 3 + role
IF_FAMILIES: tuple[str, ...] = (
    "interface_bytes",
    "interface_packets",
    "interface_errors",
    "interface_discards",
)
DIRECTIONS: tuple[str, ...] = ("in", "out")
_IF_BASE = cython.declare(cython.Py_ssize_t, 27 + 3 * 256 + 3 * 32 + 16)
_IF_BYTES = cython.declare(cython.Py_ssize_t, 0)
_IF_PACKETS = cython.declare(cython.Py_ssize_t, 1)
_IF_ERRORS = cython.declare(cython.Py_ssize_t, 2)
_IF_DISCARDS = cython.declare(cython.Py_ssize_t, 3)
# interface_discontinuities{kind}: cell = _DISC_BASE + kind
DISCONTINUITIES: tuple[str, ...] = ("reset", "wrap", "implausible")
_DISC_BASE = cython.declare(cython.Py_ssize_t, 27 + 3 * 256 + 3 * 32 + 16 + 24)
_DISC_RESET = cython.declare(cython.Py_ssize_t, 0)
_DISC_WRAP = cython.declare(cython.Py_ssize_t, 1)
_DISC_IMPLAUSIBLE = cython.declare(cython.Py_ssize_t, 2)
NUM_CELLS: int = 27 + 3 * 256 + 3 * 32 + 16 + 24 + 3

# port_utilization_ratio{direction, role}: per (direction, role) the bucket counts, then the sum
_UTIL_BOUNDS = cython.declare(cython.double[16])
_NUM_UTIL_BOUNDS = cython.declare(cython.Py_ssize_t, len(UTILIZATION_BUCKETS))
_UTIL_STRIDE = cython.declare(cython.Py_ssize_t, len(UTILIZATION_BUCKETS) + 2)


def _load_util_bounds() -> None:
    assert len(UTILIZATION_BUCKETS) < 16
    for k, bound in enumerate(UTILIZATION_BUCKETS):
        _UTIL_BOUNDS[k] = bound


_load_util_bounds()

# Row columns and flags as C constants
_NC = cython.declare(cython.Py_ssize_t, NUM_COLUMNS)
_C_RECORDS = cython.declare(cython.Py_ssize_t, COL_RECORDS)
_C_SOURCE_TYPE = cython.declare(cython.Py_ssize_t, COL_SOURCE_TYPE)
_C_SOURCE_INDEX = cython.declare(cython.Py_ssize_t, COL_SOURCE_INDEX)
_C_SEQUENCE = cython.declare(cython.Py_ssize_t, COL_SEQUENCE)
_C_RATE = cython.declare(cython.Py_ssize_t, COL_SAMPLING_RATE)
_C_POOL = cython.declare(cython.Py_ssize_t, COL_SAMPLE_POOL)
_C_DROPS = cython.declare(cython.Py_ssize_t, COL_DROPS)
_C_IN_FORMAT = cython.declare(cython.Py_ssize_t, COL_INPUT_FORMAT)
_C_IN_VALUE = cython.declare(cython.Py_ssize_t, COL_INPUT_VALUE)
_C_FRAME_LENGTH = cython.declare(cython.Py_ssize_t, COL_FRAME_LENGTH)
_C_DSCP = cython.declare(cython.Py_ssize_t, COL_DSCP)
_C_ECN = cython.declare(cython.Py_ssize_t, COL_ECN)
_C_BTH_OFFSET = cython.declare(cython.Py_ssize_t, COL_BTH_OFFSET)
_C_BTH_OPCODE = cython.declare(cython.Py_ssize_t, COL_BTH_OPCODE)
_C_BTH_FLAGS = cython.declare(cython.Py_ssize_t, COL_BTH_FLAGS)
_C_RETH = cython.declare(cython.Py_ssize_t, COL_RETH_DMA_LENGTH)
_C_SYNDROME = cython.declare(cython.Py_ssize_t, COL_AETH_SYNDROME)
_C_TRANSIT = cython.declare(cython.Py_ssize_t, COL_TRANSIT_DELAY)
_C_DEPTH = cython.declare(cython.Py_ssize_t, COL_QUEUE_DEPTH)
_REC_MALFORMED_BIT = cython.declare(cython.longlong, REC_MALFORMED)
_SE_OR_M = cython.declare(cython.longlong, BTH_SE | BTH_M)
_CNP = cython.declare(cython.longlong, CNP_OPCODE)
_INTERNAL = cython.declare(cython.longlong, IFINDEX_INTERNAL)
_M32 = cython.declare(cython.longlong, 0xFFFFFFFF)
_MAX_GAP = cython.declare(cython.longlong, 1_000_000)  # state.MAX_SEQUENCE_GAP

# ACK credits (-1 = "invalid", the table's None), filled from decoders.rocev2.CREDIT_TABLE
_CREDITS = cython.declare(cython.longlong[32])


def _load_credits() -> None:
    for code in range(32):
        value = CREDIT_TABLE[code]
        _CREDITS[code] = -1 if value is None else value


_load_credits()

MAX_CACHED_AGENTS = 100_000
MAX_CACHED_PORTS = 4_096
_OPERATION_LABELS: dict[int, str] = {op: f"{t}:{name}" for op, (t, name) in OPCODES.items()}


def operation_label_of(opcode: int) -> str:
    """``TRANSPORT:OPERATION`` for any opcode (unassigned ones as ``UNKNOWN:0xNN``)."""
    label = _OPERATION_LABELS.get(opcode)
    return label if label is not None else f"UNKNOWN:0x{opcode & 0xFF:02X}"


def nak_code_of(code: int) -> str:
    """The ``code`` label of ``aeth_naks`` for the low 5 bits of a NAK syndrome."""
    return NAK_CODES.get(code, f"CODE_{code}")


# Counter and drop row columns as C constants
_NCC = cython.declare(cython.Py_ssize_t, NUM_COUNTER_COLUMNS)
_R_INDEX = cython.declare(cython.Py_ssize_t, CTR_INDEX)
_R_SEQUENCE = cython.declare(cython.Py_ssize_t, CTR_SEQUENCE)
_R_SOURCE_TYPE = cython.declare(cython.Py_ssize_t, CTR_SOURCE_TYPE)
_R_SOURCE_INDEX = cython.declare(cython.Py_ssize_t, CTR_SOURCE_INDEX)
_R_FLAGS = cython.declare(cython.Py_ssize_t, CTR_FLAGS)
_R_NAME_OFFSET = cython.declare(cython.Py_ssize_t, CTR_NAME_OFFSET)
_R_NAME_LENGTH = cython.declare(cython.Py_ssize_t, CTR_NAME_LENGTH)
_R_GENERIC = cython.declare(cython.Py_ssize_t, CTR_GENERIC)
_HAS_GENERIC = cython.declare(cython.ulonglong, CTR_HAS_GENERIC)
_HAS_NAME = cython.declare(cython.ulonglong, CTR_HAS_PORT_NAME)
_HAS_HOST = cython.declare(cython.ulonglong, CTR_HAS_HOST)
_R_HOST_OFFSET = cython.declare(cython.Py_ssize_t, CTR_HOST_OFFSET)
_R_HOST_LENGTH = cython.declare(cython.Py_ssize_t, CTR_HOST_LENGTH)
_R_UNKNOWN_COUNT = cython.declare(cython.Py_ssize_t, CTR_UNKNOWN_COUNT)
_R_UNKNOWN = cython.declare(cython.Py_ssize_t, CTR_UNKNOWN)
_NDC = cython.declare(cython.Py_ssize_t, NUM_DROP_COLUMNS)
_Q_INDEX = cython.declare(cython.Py_ssize_t, DRP_INDEX)
_Q_OFFSET = cython.declare(cython.Py_ssize_t, DRP_OFFSET)
_Q_LENGTH = cython.declare(cython.Py_ssize_t, DRP_LENGTH)
_Q_SEQUENCE = cython.declare(cython.Py_ssize_t, DRP_SEQUENCE)
_Q_SOURCE_TYPE = cython.declare(cython.Py_ssize_t, DRP_SOURCE_TYPE)
_Q_SOURCE_INDEX = cython.declare(cython.Py_ssize_t, DRP_SOURCE_INDEX)
_Q_DROPS = cython.declare(cython.Py_ssize_t, DRP_DROPS)
_Q_REASON = cython.declare(cython.Py_ssize_t, DRP_REASON)
_Q_LINUX_OFFSET = cython.declare(cython.Py_ssize_t, DRP_LINUX_OFFSET)
_Q_LINUX_LENGTH = cython.declare(cython.Py_ssize_t, DRP_LINUX_LENGTH)
_Q_FUNCTION_OFFSET = cython.declare(cython.Py_ssize_t, DRP_FUNCTION_OFFSET)
_Q_FUNCTION_LENGTH = cython.declare(cython.Py_ssize_t, DRP_FUNCTION_LENGTH)
_NAN = cython.declare(cython.double, float("nan"))
_INF = cython.declare(cython.double, float("inf"))
_U64_UNKNOWN = cython.declare(cython.ulonglong, 0xFFFFFFFFFFFFFFFF)  # an unsupported counter
_U32_UNKNOWN = cython.declare(cython.ulonglong, 0xFFFFFFFF)
_SPIKE = cython.declare(cython.double, 1.5)  # state.SPIKE_FACTOR
_MIN_FRAME_BITS = cython.declare(cython.double, 84 * 8)  # state.MIN_FRAME_BITS
_PACKETS_CAP = cython.declare(cython.double, 2.0**31)
_BASE_VALUES = cython.declare(cython.Py_ssize_t, 12)
# The baseline values of a port, as offsets into the 19 generic fields: octets in and out first,
# then the 32-bit packet, error and discard counters (state._interface's order).
_BASE_FIELD = cython.declare(cython.Py_ssize_t[12])


def _load_base_fields() -> None:
    for k, field in enumerate((5, 12, 6, 7, 8, 13, 14, 15, 10, 9, 17, 16)):
        _BASE_FIELD[k] = field


_load_base_fields()
_NO_INFO = object()  # a port not resolved yet (None is "resolved: unmapped")
MAX_CACHED_LABELS = 4_096  # raw Linux drop reason / function strings whose label is cached


@cython.cfunc
@cython.exceptval(check=False)
@cython.locals(
    cached=bytes,
    b=cython.const_uchar[::1],
    offset=cython.Py_ssize_t,
    length=cython.Py_ssize_t,
    k=cython.Py_ssize_t,
)
@cython.returns(cython.bint)
def _same_name(cached: bytes | None, b: Any, offset: int, length: int) -> bool:
    """True when the port name bytes at ``offset`` equal ``cached`` (None: never seen)."""
    if cached is None or len(cached) != length:
        return False
    if not cython.compiled:
        return bytes(b[offset : offset + length]) == cached
    for k in range(length):  # noqa: SIM110 - a C loop; all() over a generator is not one
        if cached[k] != b[offset + k]:
            return False
    return True


@cython.cclass
class FlowSource:
    """The last sequence number, sample pool and drop count of one flow-sample data source of
    an agent (``AgentTrack.flow_sources``, shared by both decoder paths). C fields in the
    compiled build: updating them per sample allocates no integer objects."""

    sequence = cython.declare(cython.longlong, visibility="public")
    pool = cython.declare(cython.longlong, visibility="public")
    drops = cython.declare(cython.longlong, visibility="public")

    def __init__(self, sequence: int, pool: int, drops: int) -> None:
        self.sequence = sequence
        self.pool = pool
        self.drops = drops


@cython.cclass
class PortTable:
    """Counter baselines and latest status of one agent's interfaces, one slot per ifIndex.

    Held by the agent's ``AgentTrack`` (``ports``); filled only by ``FlowAccounting`` so that
    both decoder paths share one baseline per port. ``FlowAccounting.port_block`` hands the
    statuses updated since the last call to the state's drain, column by column.
    """

    agent = cython.declare(str, visibility="readonly")
    slots = cython.declare(dict, visibility="readonly")  # ifIndex → slot
    raw_names = cython.declare(dict)  # ifIndex → bytes of the last port_name record seen
    raw_host = cython.declare(object, visibility="public")  # the last host_descr hostname bytes
    listed = cython.declare(cython.bint, visibility="public")  # waits in the state's drain list
    _info = cython.declare(list)  # PortInfo or None, at the last sample
    _values_array = cython.declare(object)
    _values = cython.declare(cython.ulonglong[::1])  # slot * 12: the baseline counters
    _numbers_array = cython.declare(object)
    _numbers = cython.declare(cython.double[::1])  # slot * 5: uptime, at, in/out util, seen
    _flags_array = cython.declare(object)
    _flags = cython.declare(cython.ulonglong[::1])  # slot * 3: has baseline|dirty, status, speed
    _ident_array = cython.declare(object)
    # slot * 3: the ifIndex, the accounting's place epoch at which _info and the role were
    # resolved (0: not since the slot was added, or unresolvable), and the role code (ROLE_*):
    # read without touching an object
    _ident = cython.declare(cython.ulonglong[::1])
    capacity = cython.declare(cython.Py_ssize_t)

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.slots = {}
        self.raw_names = {}
        self.raw_host = None
        self.listed = False
        self._info = []
        self.capacity = 0
        self._values_array = array("Q")
        self._values = self._values_array
        self._numbers_array = array("d")
        self._numbers = self._numbers_array
        self._flags_array = array("Q")
        self._flags = self._flags_array
        self._ident_array = array("Q")
        self._ident = self._ident_array

    def __len__(self) -> int:
        return len(self.slots)

    def __iter__(self) -> Any:
        return iter(list(self.slots))

    def __contains__(self, ifindex: object) -> bool:
        return ifindex in self.slots

    @cython.locals(slot=cython.Py_ssize_t)
    def clear(self) -> None:
        """Drop every baseline (after an agent restart); statuses not yet drained stay."""
        for slot in range(len(self.slots)):
            self._flags[slot * 3] &= ~cython.cast(cython.ulonglong, 1)

    def forget_name(self, ifindex: int) -> None:
        """The port's name was learned elsewhere: compare the next port_name record again."""
        self.raw_names.pop(ifindex, None)

    @cython.ccall
    @cython.locals(slot=cython.Py_ssize_t, new_capacity=cython.Py_ssize_t)
    def _add(self, ifindex: int) -> int:
        slot = len(self.slots)  # slots are only ever added
        if slot == self.capacity:
            new_capacity = max(16, 2 * self.capacity)
            old: Any = (
                self._values_array, self._numbers_array, self._flags_array, self._ident_array
            )  # fmt: skip
            values = array("Q", bytes(8 * 12 * new_capacity))
            values[: 12 * slot] = old[0][: 12 * slot]
            numbers = array("d", bytes(8 * 5 * new_capacity))
            numbers[: 5 * slot] = old[1][: 5 * slot]
            flags = array("Q", bytes(8 * 3 * new_capacity))
            flags[: 3 * slot] = old[2][: 3 * slot]
            ident = array("Q", bytes(8 * 3 * new_capacity))
            ident[: 3 * slot] = old[3][: 3 * slot]
            self._values_array, self._numbers_array, self._flags_array = values, numbers, flags
            self._values, self._numbers, self._flags = values, numbers, flags
            self._ident_array, self._ident = ident, ident
            self.capacity = new_capacity
        self.slots[ifindex] = slot
        self._ident[slot * 3] = ifindex
        self._ident[slot * 3 + 1] = 0
        self._ident[slot * 3 + 2] = ROLE_UNMAPPED
        self._info.append(None)
        return slot


@cython.cclass
class FlowAccounting:
    """Accumulators for the flow rows of many datagrams; ``flush`` hands them to the state."""

    _acc_array = cython.declare(object)
    _acc = cython.declare(cython.double[::1])
    _touched_array = cython.declare(object)
    _touched = cython.declare(cython.uchar[::1])
    _credit_count_array = cython.declare(object)
    _credit_count = cython.declare(cython.longlong[::1])
    _credit_stats_array = cython.declare(object)
    _credit_stats = cython.declare(cython.double[::1])  # role * 3 + (total, low, high)
    _roles = cython.declare(dict)
    _index = cython.declare(object)
    trim_dscp = cython.declare(cython.longlong, visibility="public")
    per_port = cython.declare(cython.bint, visibility="public")
    # period detection: edge-ingress RoCEv2 frames x rate since the state last took them
    roce_edge_frames = cython.declare(cython.double, visibility="public")
    max_ports = cython.declare(cython.Py_ssize_t, visibility="public")
    _util_array = cython.declare(object)
    _util = cython.declare(cython.double[::1])  # (direction * 3 + role) * _UTIL_STRIDE
    _util_touched = cython.declare(cython.uchar[6])
    _infos = cython.declare(dict)  # agent → {ifIndex: (PortInfo | None, role code)}
    # the typed views of the scan's row arrays, kept while their ``base`` is the same array (a
    # scan's buffer grows into new arrays): acquiring a view costs more than a row's work
    _flow_view = cython.declare(cython.longlong[::1])
    _counter_view = cython.declare(cython.ulonglong[::1])
    _drop_view = cython.declare(cython.longlong[::1])
    # bumped whenever a cached PortInfo may be wrong (another topology, a name learned), so
    # that port tables' per-slot resolutions of an older epoch are looked up again
    _place_epoch = cython.declare(cython.ulonglong)
    _reasons = cython.declare(dict)  # drop reason code → drop samples
    _topology_reasons = cython.declare(dict)  # the same, of agents of topology nodes only
    _linux = cython.declare(dict)  # bounded Linux drop reason label → drop samples
    _functions = cython.declare(dict)  # bounded kernel function label → drop samples
    _labels = cython.declare(dict)  # (kind, raw text) → bounded label
    _unknown_labels = cython.declare(dict)  # data_format of an unknown counter record → label
    _unknown = cython.declare(dict)  # bounded label → unknown counter records
    _in_util = cython.declare(cython.double)  # what the last _deltas call measured (NaN: none)
    _out_util = cython.declare(cython.double)

    def __init__(self, trim_dscp: int = -1, per_port: bool = False, max_ports: int = 4096) -> None:
        self.trim_dscp = trim_dscp
        self.per_port = per_port
        self.max_ports = max_ports
        self._util_array = array("d", bytes(8 * 6 * _UTIL_STRIDE))
        self._util = self._util_array
        for k in range(6):
            self._util_touched[k] = 0
        self._infos = {}
        self._flow_view = array("q", bytes(8))
        self._counter_view = array("Q", bytes(8))
        self._drop_view = array("q", bytes(8))
        self._place_epoch = 1
        self._reasons = {}
        self._topology_reasons = {}
        self._linux = {}
        self._functions = {}
        self._labels = {}
        self._unknown_labels = {}
        self._unknown = {}
        self.roce_edge_frames = 0.0
        self._acc_array = array("d", bytes(8 * NUM_CELLS))
        self._acc = self._acc_array
        self._touched_array = array("B", bytes(NUM_CELLS))
        self._touched = self._touched_array
        self._credit_count_array = array("q", bytes(8 * 3))
        self._credit_count = self._credit_count_array
        self._credit_stats_array = array("d", bytes(8 * 9))
        self._credit_stats = self._credit_stats_array
        self._reset_credits()
        self._roles = {}
        self._index = None

    @cython.locals(role=cython.Py_ssize_t)
    def _reset_credits(self) -> None:
        for role in range(3):
            self._credit_count[role] = 0
            self._credit_stats[role * 3] = 0.0
            self._credit_stats[role * 3 + 1] = float("inf")
            self._credit_stats[role * 3 + 2] = float("-inf")

    @cython.locals(
        table=PortTable, slot=cython.Py_ssize_t, f=cython.ulonglong, n=cython.Py_ssize_t,
        row=cython.Py_ssize_t, ifindexes=cython.longlong[::1], ups=cython.uchar[::1],
        speeds=cython.ulonglong[::1], ins=cython.double[::1], outs=cython.double[::1],
        seens=cython.double[::1], agents=list, nodes=list, ports=list, roles=list,
        sflow_names=list, role_names=tuple,
    )  # fmt: skip
    def port_block(self, tables: list[Any], resolver: Any, make_block: Callable[..., Any]) -> Any:
        """A ``make_block(columns…)`` (a ``PortStatusBlock``) of the status of each port of
        ``tables`` updated since the last call, numbers in arrays; None when there is none."""
        n = 0
        for table in tables:
            table.listed = False
            for slot in range(len(table.slots)):
                if table._flags[slot * 3] & 2:
                    n += 1
        if n == 0:
            return None
        ifindex_array, up_array = array("q", bytes(8 * n)), array("B", bytes(n))
        speed_array, in_array = array("Q", bytes(8 * n)), array("d", bytes(8 * n))
        out_array, seen_array = array("d", bytes(8 * n)), array("d", bytes(8 * n))
        ifindexes, ups, speeds = ifindex_array, up_array, speed_array
        ins, outs, seens = in_array, out_array, seen_array
        agents, nodes, ports = [None] * n, [None] * n, [None] * n
        roles, sflow_names = [None] * n, [None] * n
        row = 0
        role_names = ROLE_NAMES
        for table in tables:
            agent = table.agent
            names = resolver.port_names(agent)
            for slot in range(len(table.slots)):
                f = table._flags[slot * 3]
                if not f & 2:
                    continue
                table._flags[slot * 3] = f & ~cython.cast(cython.ulonglong, 2)
                info = table._info[slot]
                agents[row] = agent
                if info is not None:
                    nodes[row] = info.node
                    ports[row] = info.port
                roles[row] = role_names[table._ident[slot * 3 + 2]]
                f = table._flags[slot * 3 + 1]
                ups[row] = (1 if f & 2 else 0) | (2 if f & 1 else 0)  # OPER_UP | ADMIN_UP
                speeds[row] = table._flags[slot * 3 + 2]
                ifindexes[row] = table._ident[slot * 3]
                ins[row] = table._numbers[slot * 5 + 2]  # NaN: no utilisation this time
                outs[row] = table._numbers[slot * 5 + 3]
                seens[row] = table._numbers[slot * 5 + 4]
                if names:
                    sflow_names[row] = names.get(table._ident[slot * 3])
                row += 1
        return make_block(
            agents, ifindex_array, nodes, ports, roles, up_array, speed_array, in_array,
            out_array, seen_array, sflow_names,
        )  # fmt: skip

    def port_table(self, agent: str) -> PortTable:
        """A new, empty port table for an agent's track (this build's type)."""
        return PortTable(agent)

    def count_datagram(self) -> None:
        """One datagram without flow rows (``account`` counts the others)."""
        self._acc[_SCALAR_BASE + _S_DATAGRAMS] += 1
        self._touched[_SCALAR_BASE + _S_DATAGRAMS] = 1

    def forget(self, agent: str) -> None:
        """Drop the cached roles of one agent (a name was learned, or the agent expired)."""
        self._roles.pop(agent, None)
        self._infos.pop(agent, None)
        self._place_epoch += 1

    def cached_agents(self) -> int:
        """Agents with cached roles (for tests)."""
        return len(self._roles)

    @cython.locals(
        v=cython.longlong[::1],
        n=cython.Py_ssize_t,
        i=cython.Py_ssize_t,
        b=cython.Py_ssize_t,
        cell=cython.Py_ssize_t,
        role=cython.Py_ssize_t,
        records=cython.longlong,
        src_type=cython.longlong,
        src_index=cython.longlong,
        seq=cython.longlong,
        rate=cython.longlong,
        pool=cython.longlong,
        drops=cython.longlong,
        in_if=cython.longlong,
        frame_length=cython.longlong,
        dscp=cython.longlong,
        ecn=cython.longlong,
        opcode=cython.longlong,
        reth=cython.longlong,
        syndrome=cython.longlong,
        kind=cython.longlong,
        credits=cython.longlong,
        last_seq=cython.longlong,
        last_pool=cython.longlong,
        last_drops=cython.longlong,
        gap=cython.longlong,
        generated=cython.longlong,
        dropped=cython.longlong,
        pool_delta=cython.longlong,
        generated_delta=cython.longlong,
        last_rate=cython.longlong,
        have_rate=cython.bint,
        tracked=cython.bint,
        rated=cython.double,
        sources=dict,
        roles=dict,
        source=FlowSource,
        acc=cython.double[::1],
        touched=cython.uchar[::1],
    )
    def account(
        self,
        storage: Any,
        count: int,
        track: Any,
        agent: str,
        resolver: Any,
        hooks: Any,
    ) -> None:
        """Fold the ``count`` flow rows in ``storage`` (one datagram of ``agent``) in.

        ``track`` is the agent's ``AgentTrack`` (or None); ``resolver`` its ``PortResolver``;
        ``hooks`` (the ``FabricState``) does what the arrays do not hold, in sample order:
        ``hooks.row_histograms(storage, i, agent)`` for a row with a transit delay or queue
        depth, ``hooks.port_ingress(agent, ifindex, frame_length, rate)`` for per-port series.
        """
        if not cython.compiled:
            v = storage
        else:
            if storage is not self._flow_view.base:
                self._flow_view = storage
            v = self._flow_view
        n = count
        acc = self._acc
        touched = self._touched
        acc[_SCALAR_BASE + _S_DATAGRAMS] += 1
        touched[_SCALAR_BASE + _S_DATAGRAMS] = 1
        if n <= 0:
            return
        index = resolver.index
        if index is not self._index:
            self._roles = {}
            self._infos = {}
            self._index = index
            self._place_epoch += 1
        roles = self._roles.get(agent)
        if roles is None:
            if len(self._roles) >= MAX_CACHED_AGENTS:
                self._roles = {}
            roles = {}
            self._roles[agent] = roles
        tracked = track is not None
        sources = track.flow_sources if tracked else None
        pool_delta = generated_delta = 0
        last_rate = 0
        have_rate = False
        for i in range(n):
            b = i * _NC
            rate = v[b + _C_RATE]
            last_rate = rate
            have_rate = True
            records = v[b + _C_RECORDS]
            if records & _REC_MALFORMED_BIT:
                acc[_SCALAR_BASE + _S_MALFORMED] += 1
                touched[_SCALAR_BASE + _S_MALFORMED] = 1
            acc[_SCALAR_BASE + _S_SAMPLES] += 1
            touched[_SCALAR_BASE + _S_SAMPLES] = 1
            src_type = v[b + _C_SOURCE_TYPE]
            src_index = v[b + _C_SOURCE_INDEX]
            if tracked:
                seq = v[b + _C_SEQUENCE]
                pool = v[b + _C_POOL]
                drops = v[b + _C_DROPS]
                key = (src_type << 32) | src_index
                found = sources.get(key)  # type: ignore[union-attr]
                if found is None:
                    sources[key] = FlowSource(seq, pool, drops)  # type: ignore[index]
                else:
                    source = found
                    last_seq = source.sequence
                    last_pool = source.pool
                    last_drops = source.drops
                    gap = (seq - last_seq) & _M32
                    if 1 < gap <= _MAX_GAP:
                        acc[_SCALAR_BASE + _S_LOST] += gap - 1
                        touched[_SCALAR_BASE + _S_LOST] = 1
                    generated = gap
                    dropped = (drops - last_drops) & _M32
                    if 0 < generated <= _MAX_GAP and dropped <= _MAX_GAP:
                        pool_delta += (pool - last_pool) & _M32
                        generated_delta += generated + dropped
                    source.sequence = seq
                    source.pool = pool
                    source.drops = drops
            if rate <= 0:
                acc[_SCALAR_BASE + _S_ZERO_RATE] += 1
                touched[_SCALAR_BASE + _S_ZERO_RATE] = 1
                continue
            if v[b + _C_TRANSIT] >= 0 or v[b + _C_DEPTH] >= 0:
                hooks.row_histograms(storage, i, agent)
            in_if = v[b + _C_IN_VALUE]
            if (
                v[b + _C_IN_FORMAT] != 0
                or in_if <= 0
                or in_if == _INTERNAL
                or src_type != 0
                or src_index != in_if
            ):
                acc[_SCALAR_BASE + _S_NOT_INGRESS] += 1
                touched[_SCALAR_BASE + _S_NOT_INGRESS] = 1
                continue
            frame_length = v[b + _C_FRAME_LENGTH]
            if frame_length < 0:
                acc[_SCALAR_BASE + _S_NO_HEADER] += 1
                touched[_SCALAR_BASE + _S_NO_HEADER] = 1
                continue
            code = roles.get(in_if)
            if code is None:
                role = _role_code(resolver.resolve(agent, in_if), index)
                if len(roles) < MAX_CACHED_PORTS:
                    roles[in_if] = role
            else:
                role = code
            if role == _ROLE_MISS:
                acc[_SCALAR_BASE + _S_MISSES] += 1
                touched[_SCALAR_BASE + _S_MISSES] = 1
                role = ROLE_UNMAPPED
            elif self.per_port and role != ROLE_UNMAPPED:
                hooks.port_ingress(agent, in_if, frame_length, rate)
            cell = _ROLE_BASE + role * _NUM_ROLE_FAMILIES
            rated = _product(frame_length, rate)
            acc[cell + _F_INGRESS_BYTES] += rated
            touched[cell + _F_INGRESS_BYTES] = 1
            acc[cell + _F_INGRESS_FRAMES] += rate
            touched[cell + _F_INGRESS_FRAMES] = 1
            if role == ROLE_EDGE:
                acc[_SCALAR_BASE + _S_FABRIC_BYTES] += rated
                touched[_SCALAR_BASE + _S_FABRIC_BYTES] = 1
                acc[_SCALAR_BASE + _S_FABRIC_FRAMES] += rate
                touched[_SCALAR_BASE + _S_FABRIC_FRAMES] = 1
            dscp = v[b + _C_DSCP]
            if self.trim_dscp >= 0 and dscp == self.trim_dscp:
                acc[cell + _F_TRIMMED] += rate
                touched[cell + _F_TRIMMED] = 1
            opcode = v[b + _C_BTH_OPCODE]
            if v[b + _C_BTH_OFFSET] < 0 or opcode < 0:
                continue
            acc[_OPS_BASE + role * 256 + (opcode & 0xFF)] += rate
            touched[_OPS_BASE + role * 256 + (opcode & 0xFF)] = 1
            if role == ROLE_EDGE:
                self.roce_edge_frames += rate
            ecn = v[b + _C_ECN]
            if ecn == 3:
                acc[cell + _F_ECN_CE] += rate
                touched[cell + _F_ECN_CE] = 1
            if opcode == _CNP and not (v[b + _C_BTH_FLAGS] & _SE_OR_M):
                acc[cell + _F_CNP] += rate
                touched[cell + _F_CNP] = 1
            reth = v[b + _C_RETH]
            if reth >= 0:
                acc[cell + _F_RDMA_OPS] += rate
                touched[cell + _F_RDMA_OPS] = 1
                acc[cell + _F_RDMA_BYTES] += _product(reth, rate)
                touched[cell + _F_RDMA_BYTES] = 1
            syndrome = v[b + _C_SYNDROME]
            if syndrome < 0 or syndrome & 0x80:
                continue
            kind = syndrome & 0x60
            if kind == 0x00:
                acc[cell + _F_ACKS] += rate
                touched[cell + _F_ACKS] = 1
                credits = _CREDITS[syndrome & 0x1F]
                if credits >= 0:
                    self._observe_credits(role, credits)
            elif kind == 0x20:
                acc[cell + _F_RNR] += rate
                touched[cell + _F_RNR] = 1
            elif kind == 0x60:
                acc[_NAK_BASE + role * 32 + (syndrome & 0x1F)] += rate
                touched[_NAK_BASE + role * 32 + (syndrome & 0x1F)] = 1
        if tracked:
            if have_rate:
                track.sampling_rate = last_rate
            if pool_delta or generated_delta:
                track.pool_delta += pool_delta
                track.generated_delta += generated_delta

    def _agent_infos(self, agent: str, index: object) -> dict[int, tuple[Any, int]]:
        """The cached (PortInfo, role code) of one agent's ports (dropped with ``forget``)."""
        if index is not self._index:
            self._roles = {}
            self._infos = {}
            self._index = index
            self._place_epoch += 1
        infos = self._infos.get(agent)
        if infos is None:
            if len(self._infos) >= MAX_CACHED_AGENTS:
                self._infos = {}
            infos = {}
            self._infos[agent] = infos
        return infos

    @cython.locals(
        c=cython.ulonglong[::1],
        d=cython.longlong[::1],
        b=cython.const_uchar[::1],
        have_bytes=cython.bint,
        nc=cython.Py_ssize_t,
        nd=cython.Py_ssize_t,
        ci=cython.Py_ssize_t,
        di=cython.Py_ssize_t,
        base=cython.Py_ssize_t,
        room=cython.Py_ssize_t,
        skipped=cython.Py_ssize_t,
        seq=cython.longlong,
        gap=cython.longlong,
        drops=cython.longlong,
        lost=cython.longlong,
        src_type=cython.longlong,
        src_index=cython.longlong,
        flags=cython.ulonglong,
        k=cython.Py_ssize_t,
        noff=cython.Py_ssize_t,
        nlen=cython.Py_ssize_t,
        uptime=cython.longlong,
        t=cython.double,
        member=cython.bint,
        table=PortTable,
        infos=dict,
        sources=dict,
        drop_sources=dict,
        state=list,
        acc=cython.double[::1],
        touched=cython.uchar[::1],
    )
    def account_samples(
        self,
        rows: Any,
        data: Any,
        track: Any,
        agent: str,
        resolver: Any,
        hooks: Any,
        now: float,
        room: int,
    ) -> int:
        """Fold the counter and drop rows of one scanned datagram of ``agent`` in, in sample
        order; returns how many drop samples came past ``room`` (their events are not kept).

        ``track`` is the agent's ``AgentTrack`` (its ``ports`` a ``PortTable``). ``hooks`` (the
        ``FabricState``) does what the arrays do not hold: ``learn_port_name(agent, ifindex,
        raw)`` when a port_name record differs from the last one of that port,
        ``learn_hostname(agent, raw)`` likewise for host_descr, ``unknown_label(data_format)``
        for an unknown counter record's format not seen yet,
        ``drop_event(rows, k, data, agent, now)`` for each of the first ``room`` drop rows,
        ``bounded_text(family, raw)`` for a Linux drop reason or function not seen yet,
        ``port_counters(...)`` for the opt-in per-port series; ``hooks.pending_tables`` lists
        the port tables whose statuses wait for the drain. A drop row also counts apart when
        ``agent`` is a topology node (or no topology is loaded), decided once per datagram and
        again after a host_descr taught the agent's hostname, as the full decoder's path does
        per sample.
        """
        nc = rows.counter_count
        nd = rows.drop_count
        if nc == 0 and nd == 0:
            return 0
        if not cython.compiled:
            c, d = rows.counter_storage, rows.drop_storage
        else:
            if rows.counter_storage is not self._counter_view.base:
                self._counter_view = rows.counter_storage
            if rows.drop_storage is not self._drop_view.base:
                self._drop_view = rows.drop_storage
            c, d = self._counter_view, self._drop_view
        have_bytes = False  # the datagram's view, taken the first time a name is compared
        acc = self._acc
        touched = self._touched
        table = track.ports
        uptime = track.uptime_ms
        t = now
        index = resolver.index
        infos = self._agent_infos(agent, index)
        member = resolver.counts_for_topology(agent)
        sources = track.counter_sources
        drop_sources = track.drop_sources
        ci = di = 0
        skipped = 0
        while ci < nc or di < nd:
            if di >= nd or (
                ci < nc
                and c[ci * _NCC + _R_INDEX] < cython.cast(cython.ulonglong, d[di * _NDC + _Q_INDEX])
            ):
                base = ci * _NCC
                ci += 1
                acc[_SCALAR_BASE + _S_COUNTER_SAMPLES] += 1
                touched[_SCALAR_BASE + _S_COUNTER_SAMPLES] = 1
                seq = c[base + _R_SEQUENCE]
                src_type = c[base + _R_SOURCE_TYPE]
                src_index = c[base + _R_SOURCE_INDEX]
                key = (src_type << 32) | src_index
                last = sources.get(key)
                if last is not None:
                    gap = (seq - cython.cast(cython.longlong, last)) & _M32
                    if 1 < gap <= _MAX_GAP:
                        acc[_SCALAR_BASE + _S_COUNTER_LOST] += gap - 1
                        touched[_SCALAR_BASE + _S_COUNTER_LOST] = 1
                sources[key] = seq
                flags = c[base + _R_FLAGS]
                if flags & _HAS_NAME and src_type == 0:
                    noff = c[base + _R_NAME_OFFSET]
                    nlen = c[base + _R_NAME_LENGTH]
                    if not have_bytes:
                        b = data
                        have_bytes = True
                    if not _same_name(table.raw_names.get(src_index), b, noff, nlen):
                        raw = bytes(data[noff : noff + nlen])
                        if len(table.raw_names) < self.max_ports:
                            table.raw_names[src_index] = raw
                        hooks.learn_port_name(agent, src_index, raw)
                        infos = self._agent_infos(agent, index)  # learning may drop the cache
                if flags & _HAS_HOST:
                    noff = c[base + _R_HOST_OFFSET]
                    nlen = c[base + _R_HOST_LENGTH]
                    if not have_bytes:
                        b = data
                        have_bytes = True
                    if not _same_name(table.raw_host, b, noff, nlen):
                        table.raw_host = bytes(data[noff : noff + nlen])
                        hooks.learn_hostname(agent, table.raw_host)
                        infos = self._agent_infos(agent, index)  # learning may drop the cache
                        member = resolver.counts_for_topology(agent)
                for k in range(c[base + _R_UNKNOWN_COUNT]):
                    fmt = c[base + _R_UNKNOWN + k]
                    label = self._unknown_labels.get(fmt)
                    if label is None:
                        label = hooks.unknown_label(fmt)
                        if len(self._unknown_labels) >= MAX_CACHED_LABELS:
                            self._unknown_labels = {}
                        self._unknown_labels[fmt] = label
                    self._unknown[label] = self._unknown.get(label, 0) + 1
                if flags & _HAS_GENERIC:
                    self._interface(table, infos, agent, resolver, hooks, t, uptime, c, base)
            else:
                base = di * _NDC
                di += 1
                acc[_SCALAR_BASE + _S_DROP_SAMPLES] += 1
                touched[_SCALAR_BASE + _S_DROP_SAMPLES] = 1
                if room > 0:
                    room -= 1
                    hooks.drop_event(rows, di - 1, data, agent, now)
                else:
                    skipped += 1
                seq = d[base + _Q_SEQUENCE]
                drops = d[base + _Q_DROPS]
                key = (d[base + _Q_SOURCE_TYPE] << 32) | d[base + _Q_SOURCE_INDEX]
                state = drop_sources.get(key)
                if state is None:
                    drop_sources[key] = [seq, drops]
                else:
                    gap = (seq - cython.cast(cython.longlong, state[0])) & _M32
                    if 1 < gap <= _MAX_GAP:
                        acc[_SCALAR_BASE + _S_DROP_LOST] += gap - 1
                        touched[_SCALAR_BASE + _S_DROP_LOST] = 1
                    lost = (drops - cython.cast(cython.longlong, state[1])) & _M32
                    if 0 < lost <= _MAX_GAP:
                        acc[_SCALAR_BASE + _S_NOTIFICATIONS_LOST] += lost
                        touched[_SCALAR_BASE + _S_NOTIFICATIONS_LOST] = 1
                    state[0] = seq
                    state[1] = drops
                reason = d[base + _Q_REASON]
                self._reasons[reason] = self._reasons.get(reason, 0) + 1
                if member:
                    self._topology_reasons[reason] = self._topology_reasons.get(reason, 0) + 1
                noff = d[base + _Q_LINUX_OFFSET]
                if noff >= 0:
                    nlen = d[base + _Q_LINUX_LENGTH]
                    label = self._label(hooks, "linux_reason", data, noff, nlen)
                    self._linux[label] = self._linux.get(label, 0) + 1
                noff = d[base + _Q_FUNCTION_OFFSET]
                if noff >= 0:
                    nlen = d[base + _Q_FUNCTION_LENGTH]
                    label = self._label(hooks, "function", data, noff, nlen)
                    self._functions[label] = self._functions.get(label, 0) + 1
        return skipped

    def _label(self, hooks: Any, family: str, data: Any, offset: int, length: int) -> str:
        """The bounded label of a text record of a drop sample (cached by its bytes)."""
        raw = bytes(data[offset : offset + length])
        key = (family, raw)
        label = self._labels.get(key)
        if label is None:
            label = hooks.bounded_text(family, raw)
            if len(self._labels) >= MAX_CACHED_LABELS:
                self._labels = {}
            self._labels[key] = label
        return label  # type: ignore[no-any-return]

    @cython.locals(
        fields=cython.ulonglong[::1], table=PortTable, t=cython.double, up=cython.longlong
    )
    def interface(
        self,
        table: PortTable,
        agent: str,
        resolver: Any,
        hooks: Any,
        now: float,
        uptime: int,
        values: Any,
    ) -> None:
        """One generic_interface record (its 19 fields in record order, an ``array("Q")``)
        decoded by the full decoder: the same accounting as a counter row gets."""
        fields = values
        t = now
        up = uptime
        infos = self._agent_infos(agent, resolver.index)
        self._interface(table, infos, agent, resolver, hooks, t, up, fields, -_R_GENERIC)

    @cython.cfunc
    @cython.exceptval(-1, check=True)
    @cython.returns(cython.longlong)
    @cython.locals(
        table=PortTable,
        infos=dict,
        now=cython.double,
        uptime=cython.longlong,
        v=cython.ulonglong[::1],
        row=cython.Py_ssize_t,
        g=cython.Py_ssize_t,
        k=cython.Py_ssize_t,
        role=cython.Py_ssize_t,
        slot=cython.Py_ssize_t,
        f=cython.ulonglong,
        elapsed=cython.double,
        resolved=cython.bint,
    )
    def _interface(
        self,
        table: PortTable,
        infos: dict[Any, Any],
        agent: str,
        resolver: Any,
        hooks: Any,
        now: float,
        uptime: int,
        v: Any,
        row: int,
    ) -> int:
        """The generic counters at ``row + CTR_GENERIC`` of ``v``: baseline, deltas, status."""
        g = row + _R_GENERIC
        ifindex = v[g]
        known = table.slots.get(ifindex)
        if known is not None and table._ident[cython.cast(cython.Py_ssize_t, known) * 3 + 1] == (
            self._place_epoch
        ):
            slot = known  # resolved in this epoch: the slot's place stands, no lookup
            info = table._info[slot]
            role = table._ident[slot * 3 + 2]
        else:
            cached = infos.get(ifindex)
            if cached is None:
                info = resolver.resolve(agent, ifindex)
                cached = (info, _role_code(info, self._index))
                if len(infos) < MAX_CACHED_PORTS:
                    infos[ifindex] = cached
            info = cached[0]
            role = cached[1]
            resolved = role != _ROLE_MISS
            if not resolved:
                self._acc[_SCALAR_BASE + _S_COUNTER_MISSES] += 1
                self._touched[_SCALAR_BASE + _S_COUNTER_MISSES] = 1
                role = ROLE_UNMAPPED
            if known is None:
                if len(table.slots) >= self.max_ports:
                    return 0
                slot = table._add(ifindex)
            else:
                slot = known
            table._info[slot] = info
            table._ident[slot * 3 + 1] = self._place_epoch if resolved else 0
            table._ident[slot * 3 + 2] = role
        self._in_util = self._out_util = _NAN
        f = table._flags[slot * 3]
        if f & 1:
            # Agent uptime is the sampling clock; arrival time only when uptime cannot be used.
            elapsed = (uptime - table._numbers[slot * 5]) / 1000.0
            if elapsed <= 0:
                elapsed = now - table._numbers[slot * 5 + 1]
            if elapsed > 0:
                self._deltas(table, slot, v, g, elapsed, role, info, hooks)
        for k in range(12):
            table._values[slot * 12 + k] = v[g + _BASE_FIELD[k]]
        table._numbers[slot * 5] = uptime
        table._numbers[slot * 5 + 1] = now
        table._numbers[slot * 5 + 2] = self._in_util
        table._numbers[slot * 5 + 3] = self._out_util
        table._numbers[slot * 5 + 4] = now
        table._flags[slot * 3] = 3  # a baseline, and a status to hand over
        table._flags[slot * 3 + 1] = v[g + 4]
        table._flags[slot * 3 + 2] = v[g + 2]
        if not table.listed:
            table.listed = True
            hooks.pending_tables.append(table)
        return 0

    @cython.cfunc
    @cython.exceptval(-1, check=True)
    @cython.returns(cython.longlong)
    @cython.locals(
        table=PortTable,
        slot=cython.Py_ssize_t,
        v=cython.ulonglong[::1],
        g=cython.Py_ssize_t,
        elapsed=cython.double,
        role=cython.Py_ssize_t,
        k=cython.Py_ssize_t,
        at=cython.Py_ssize_t,
        cell=cython.Py_ssize_t,
        speed=cython.ulonglong,
        speed_d=cython.double,
        byte_limit=cython.double,
        packet_limit=cython.double,
        limit=cython.double,
        old=cython.ulonglong,
        new=cython.ulonglong,
        in_bytes=cython.ulonglong,
        out_bytes=cython.ulonglong,
        delta=cython.ulonglong,
        in_packets=cython.ulonglong,
        out_packets=cython.ulonglong,
        wrapped=cython.bint,
        reset=cython.bint,
        in_util=cython.double,
        out_util=cython.double,
    )
    def _deltas(
        self,
        table: PortTable,
        slot: int,
        v: Any,
        g: int,
        elapsed: float,
        role: int,
        info: Any,
        hooks: Any,
    ) -> int:
        """Counter increases since the port's baseline (state docstring: wraps, resets,
        implausible rates); the utilisation lands in ``_in_util``/``_out_util``."""
        small = cython.declare(cython.ulonglong[10])
        speed = v[g + 2]
        if speed == _U64_UNKNOWN:
            speed = 0
        speed_d = cython.cast(cython.double, speed)
        if speed:
            byte_limit = speed_d / 8.0 * elapsed * _SPIKE
            packet_limit = speed_d / _MIN_FRAME_BITS * elapsed * _SPIKE
        else:
            byte_limit = _INF
            packet_limit = _PACKETS_CAP
        at = slot * 12
        old = table._values[at]
        new = v[g + 5]
        in_bytes = 0 if new == _U64_UNKNOWN or old == _U64_UNKNOWN else new - old
        reset = new < old and new != _U64_UNKNOWN and old != _U64_UNKNOWN
        old = table._values[at + 1]
        new = v[g + 12]
        out_bytes = 0 if new == _U64_UNKNOWN or old == _U64_UNKNOWN else new - old
        reset = reset or (new < old and new != _U64_UNKNOWN and old != _U64_UNKNOWN)
        if (
            reset
            or max(cython.cast(cython.double, in_bytes), cython.cast(cython.double, out_bytes))
            > byte_limit
        ):
            self._count_cell(_DISC_BASE + _DISC_RESET, 1.0)
            return 0
        limit = min(packet_limit, _PACKETS_CAP)
        wrapped = False
        for k in range(2, 12):
            old = table._values[at + k]
            new = v[g + _BASE_FIELD[k]]
            if new == _U32_UNKNOWN or old == _U32_UNKNOWN:
                delta = 0
            elif new >= old:
                delta = new - old
            else:
                delta = new + 0x100000000 - old
                if cython.cast(cython.double, delta) > limit:
                    self._count_cell(_DISC_BASE + _DISC_RESET, 1.0)
                    return 0
            if new < old and new != _U32_UNKNOWN:
                wrapped = True
            small[k - 2] = delta
        if wrapped:
            self._count_cell(_DISC_BASE + _DISC_WRAP, 1.0)
        in_packets = small[0] + small[1] + small[2]
        out_packets = small[3] + small[4] + small[5]
        if (
            max(cython.cast(cython.double, in_packets), cython.cast(cython.double, out_packets))
            > packet_limit
        ):
            self._count_cell(_DISC_BASE + _DISC_IMPLAUSIBLE, 1.0)
            return 0
        cell = _IF_BASE + role
        self._count_cell(cell + (_IF_BYTES * 2 + 0) * 3, in_bytes)
        self._count_cell(cell + (_IF_BYTES * 2 + 1) * 3, out_bytes)
        self._count_cell(cell + (_IF_PACKETS * 2 + 0) * 3, in_packets)
        self._count_cell(cell + (_IF_PACKETS * 2 + 1) * 3, out_packets)
        self._count_cell(cell + (_IF_ERRORS * 2 + 0) * 3, small[6])
        self._count_cell(cell + (_IF_ERRORS * 2 + 1) * 3, small[8])
        self._count_cell(cell + (_IF_DISCARDS * 2 + 0) * 3, small[7])
        self._count_cell(cell + (_IF_DISCARDS * 2 + 1) * 3, small[9])
        if not speed:
            return 0
        in_util = cython.cast(cython.double, in_bytes) * 8.0 / elapsed / speed_d
        out_util = cython.cast(cython.double, out_bytes) * 8.0 / elapsed / speed_d
        self._observe_util(role, in_util)
        self._observe_util(3 + role, out_util)
        if self.per_port and info is not None:
            hooks.port_counters(
                info, ROLE_NAMES[role], in_bytes, small[6], small[7], out_bytes, small[8], small[9]
            )
        self._in_util = in_util
        self._out_util = out_util
        return 0

    @cython.cfunc
    @cython.inline
    @cython.exceptval(check=False)
    @cython.locals(cell=cython.Py_ssize_t, value=cython.double)
    @cython.returns(cython.void)
    def _count_cell(self, cell: int, value: float) -> None:
        self._acc[cell] += value
        self._touched[cell] = 1

    @cython.cfunc
    @cython.exceptval(check=False)
    @cython.locals(
        series=cython.Py_ssize_t, value=cython.double, k=cython.Py_ssize_t, base=cython.Py_ssize_t
    )
    @cython.returns(cython.void)
    def _observe_util(self, series: int, value: float) -> None:
        base = series * _UTIL_STRIDE
        k = 0
        while k < _NUM_UTIL_BOUNDS and not value <= _UTIL_BOUNDS[k]:
            k += 1
        self._util[base + k] += 1.0
        self._util[base + _NUM_UTIL_BOUNDS + 1] += value * 1.0
        self._util_touched[series] = 1

    @cython.cfunc
    @cython.locals(role=cython.Py_ssize_t, credits=cython.longlong, value=cython.double)
    def _observe_credits(self, role: int, credits: int) -> None:
        value = credits
        self._credit_count[role] += 1
        self._credit_stats[role * 3] += value
        if value < self._credit_stats[role * 3 + 1]:
            self._credit_stats[role * 3 + 1] = value
        if value > self._credit_stats[role * 3 + 2]:
            self._credit_stats[role * 3 + 2] = value

    @cython.locals(
        cell=cython.Py_ssize_t,
        role=cython.Py_ssize_t,
        k=cython.Py_ssize_t,
        i=cython.Py_ssize_t,
        base=cython.Py_ssize_t,
    )
    def flush(
        self,
        count: Callable[..., None],
        credits: Callable[[str, int, float, float, float], None],
        histogram: Callable[[str, tuple[str, ...], list[float], float], None],
    ) -> None:
        """Hand every touched cell to ``count(family, labels, value)``, the ACK credit
        statistics to ``credits(role, count, total, low, high)`` and the utilisation buckets to
        ``histogram(family, labels, bucket counts, sum)``; then start from zero."""
        for cell in range(NUM_CELLS):
            if not self._touched[cell]:
                continue
            value = self._acc[cell]
            self._acc[cell] = 0.0
            self._touched[cell] = 0
            if cell < _OPS_BASE:
                role, k = divmod(cell - _ROLE_BASE, _NUM_ROLE_FAMILIES)
                count(ROLE_FAMILIES[k], (ROLE_NAMES[role],), value)
            elif cell < _NAK_BASE:
                role, k = divmod(cell - _OPS_BASE, 256)
                count("rocev2_operations", (ROLE_NAMES[role], operation_label_of(k)), value)
            elif cell < _SCALAR_BASE:
                role, k = divmod(cell - _NAK_BASE, 32)
                count("aeth_naks", (ROLE_NAMES[role], nak_code_of(k)), value)
            elif cell < _IF_BASE:
                family, labels = SCALARS[cell - _SCALAR_BASE]
                count(family, labels, value)
            elif cell < _DISC_BASE:
                k, role = divmod(cell - _IF_BASE, 3)
                count(IF_FAMILIES[k // 2], (DIRECTIONS[k % 2], ROLE_NAMES[role]), value)
            else:
                count("interface_discontinuities", (DISCONTINUITIES[cell - _DISC_BASE],), value)
        for k in range(6):
            if not self._util_touched[k]:
                continue
            self._util_touched[k] = 0
            base = k * _UTIL_STRIDE
            buckets = [self._util[base + i] for i in range(_NUM_UTIL_BOUNDS + 1)]
            total = self._util[base + _NUM_UTIL_BOUNDS + 1]
            for i in range(_UTIL_STRIDE):
                self._util[base + i] = 0.0
            histogram(
                "port_utilization_ratio", (DIRECTIONS[k // 3], ROLE_NAMES[k % 3]), buckets, total
            )
        for code, n in self._reasons.items():
            count("dropped_packets", (drop_reason_name(code),), float(n))
        for code, n in self._topology_reasons.items():
            count("topology_dropped_packets", (drop_reason_name(code),), float(n))
        for label, n in self._linux.items():
            count("dropped_packets_by_linux_reason", (label,), float(n))
        for label, n in self._functions.items():
            count("dropped_packets_by_function", (label,), float(n))
        for label, n in self._unknown.items():
            count("unknown_records", ("counter", label), float(n))
        self._unknown = {}
        self._reasons = {}
        self._topology_reasons = {}
        self._linux = {}
        self._functions = {}
        for role in range(3):
            if self._credit_count[role]:
                credits(
                    ROLE_NAMES[role],
                    self._credit_count[role],
                    self._credit_stats[role * 3],
                    self._credit_stats[role * 3 + 1],
                    self._credit_stats[role * 3 + 2],
                )
        self._reset_credits()


@cython.cfunc
@cython.inline
@cython.exceptval(check=False)
@cython.locals(a=cython.longlong, b=cython.longlong)
@cython.returns(cython.double)
def _product(a: int, b: int) -> float:
    """``float(a * b)`` for two u32 values: exact 64-bit product, rounded once (as Python)."""
    if cython.compiled:
        return cython.cast(
            cython.double, cython.cast(cython.ulonglong, a) * cython.cast(cython.ulonglong, b)
        )
    return float(a * b)


def _role_code(info: Any, index: object) -> int:
    """The role code of a resolved port (``ROLE_MISS`` when unmapped with a topology loaded)."""
    if info is None:
        return _ROLE_MISS if index is not None else ROLE_UNMAPPED
    role = info.role
    if role == EDGE:
        return ROLE_EDGE
    if role == CORE:
        return ROLE_CORE
    raise KeyError(role)  # as FabricState's role label lookup would

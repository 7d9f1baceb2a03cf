# cython: language_level=3, annotation_typing=False
"""Per-row accounting of fast-path flow samples into flat numeric accumulators.

One source, two builds, like ``decoders/fastpath.py``: run as it is, this is a plain Python module
(``collector.receive._accounting``); ``setup.py`` also compiles this same file with Cython
(pure-Python mode) as ``collector.receive._accounting_c``. ``collector.receive.accounting``
picks one.

``FlowAccounting.account(...)`` folds the flow rows of ONE datagram (a ``decoders.fast.FlowRows``
storage) in: the per-sample work of ``FabricState._count_flow`` (sample sequence tracking, the
ingress test, role resolution, traffic, RoCEv2 operations, ECN, CNP, RDMA, AETH) lands in a flat
array of doubles indexed by small enumerations (role x family, role x opcode, role x NAK code,
scalars) instead of ~15 dict updates per sample. ``flush(count, credits)`` adds every cell touched
since the last flush to the state's dicts, with the same family names and labels
``FabricState.count`` would have used, so the resulting ``Delta`` is the same. Sums are doubles
added in sample order, exactly like the Python ``float`` sums they replace.

What the arrays do not hold goes to the state's Python hooks, row by row in sample order: the
histograms of transit delay / queue depth (weighted, keyed by the output port's role) and the
opt-in per-port series. Every counter series the arrays hold is fed by the arrays alone, so its
sum is the same sequence of double additions as the Python path's.

Role resolution is cached per agent (ifIndex → role code). The cache is dropped whole when the
resolver's topology index changes (an identity check per datagram) and per agent by
``forget(agent)``, which the state calls whenever it teaches the resolver a name or forgets an
agent.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

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
    NUM_COLUMNS,
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
NUM_CELLS: int = 27 + 3 * 256 + 3 * 32 + 10

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

    def __init__(self, trim_dscp: int = -1, per_port: bool = False) -> None:
        self.trim_dscp = trim_dscp
        self.per_port = per_port
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

    def forget(self, agent: str) -> None:
        """Drop the cached roles of one agent (a name was learned, or the agent expired)."""
        self._roles.pop(agent, None)

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
        state=list,
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
        v = storage
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
            self._index = index
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
                state = sources.get(key)  # type: ignore[union-attr]
                if state is None:
                    sources[key] = [seq, pool, drops]  # type: ignore[index]
                else:
                    last_seq = state[0]
                    last_pool = state[1]
                    last_drops = state[2]
                    gap = (seq - last_seq) & _M32
                    if 1 < gap <= _MAX_GAP:
                        acc[_SCALAR_BASE + _S_LOST] += gap - 1
                        touched[_SCALAR_BASE + _S_LOST] = 1
                    generated = gap
                    dropped = (drops - last_drops) & _M32
                    if 0 < generated <= _MAX_GAP and dropped <= _MAX_GAP:
                        pool_delta += (pool - last_pool) & _M32
                        generated_delta += generated + dropped
                    state[0] = seq
                    state[1] = pool
                    state[2] = drops
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

    @cython.locals(cell=cython.Py_ssize_t, role=cython.Py_ssize_t, k=cython.Py_ssize_t)
    def flush(
        self, count: Callable[..., None], credits: Callable[[str, int, float, float, float], None]
    ) -> None:
        """Hand every touched cell to ``count(family, labels, value)`` and the ACK credit
        statistics to ``credits(role, count, total, low, high)``; then start from zero."""
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
            else:
                family, labels = SCALARS[cell - _SCALAR_BASE]
                count(family, labels, value)
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

"""The receiver side of the flows: rows → per-definition partial sums, handed over each tick.

A ``FlowEngine`` holds the active definitions of one receiver (``compile_definitions``). The
state calls it only while a definition is active (``FabricState.flows`` is None otherwise, so
no definition costs nothing): ``account_rows`` for a datagram's fast-path flow rows,
``account_drop_row`` for a drop row, ``account_flow_sample`` / ``account_drop_sample`` for the
samples the full decoder decoded (their header walked into a scratch row, so both paths read
keys the same way). Each sample adds ``sampling_rate`` frames of ``frame_length`` bytes (a drop
notification one frame) to the key tuple of every definition whose filter it passes, under its
data source: ``(agent, data source, data source role, node, key texts…)`` → sums of
``definition.sums``. A sample missing one of a definition's keys does not count for it.

``drain()`` hands the tick's ``FlowPartial``s over (they ride in the ``Delta``). Keys beyond
``MAX_KEYS_PER_TICK`` per definition and tick are not kept but counted in the partial.

Flow keys seen: a few packet samples and a few drop notifications per tick (``KEY_PROBE_ROWS``
each, also while no definition is active) have their keys noted, for ``GET /flowkeys/json``;
``busy_rows`` / ``busy_drops`` tell the state whether to call in at all.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable, Sequence
from operator import itemgetter
from typing import Any

from collector.delta import FlowPartial
from collector.flows.definition import FlowDefinition
from collector.flows.extract import (
    NUMBERS,
    RAWS,
    TEXTS,
    Raw,
    Row,
    SampleContext,
    Text,
    frame_length,
)
from collector.flows.filter import Predicate, compile_filter, filter_keys
from decoders.drop_reasons import drop_reason_name
from decoders.fast import (
    COL_FRAME_LENGTH,
    COL_INPUT_FORMAT,
    COL_INPUT_VALUE,
    COL_OUTPUT_FORMAT,
    COL_OUTPUT_VALUE,
    COL_SAMPLING_RATE,
    COL_SOURCE_INDEX,
    COL_SOURCE_TYPE,
    DRP_FRAME_LENGTH,
    DRP_FUNCTION_LENGTH,
    DRP_FUNCTION_OFFSET,
    DRP_HEADER_LENGTH,
    DRP_HEADER_OFFSET,
    DRP_HEADER_PROTOCOL,
    DRP_INPUT,
    DRP_LINUX_LENGTH,
    DRP_LINUX_OFFSET,
    DRP_OUTPUT,
    DRP_REASON,
    DRP_SOURCE_INDEX,
    DRP_SOURCE_TYPE,
    NUM_COLUMNS,
    walk_header,
)
from decoders.records import (
    DropSample,
    ExtendedFunction,
    ExtendedLinuxDropReason,
    FlowSample,
    SampledHeader,
)
from topology.index import UNMAPPED
from topology.resolver import PortResolver

MAX_KEYS_PER_TICK = 20_000  # per definition and receiver; more are counted, not kept
KEY_PROBE_ROWS = 64  # rows per tick whose keys are noted for /flowkeys/json
Sum = Callable[[Row, int, int], float]
_BYTES, _FRAMES, _GENERIC = 0, 1, 2
SOURCE_CACHE = 65_536  # (agent, data source) → key prefix, cleared every tick
SEEN_CACHE = 100_000  # rows' raw inputs → their definitions' sums, per kind, cleared every tick


def _sum_of(name: str) -> Sum:
    """What one sample adds to a sum: frames, bytes or a numeric key, times its rate."""
    if name == "frames":
        return lambda row, base, rate: float(rate)
    if name == "bytes":

        def sampled_bytes(row: Row, base: int, rate: int) -> float:
            length = frame_length(row, base)
            return float(length * rate) if length > 0 else 0.0

        return sampled_bytes
    number = NUMBERS[name]

    def numeric(row: Row, base: int, rate: int) -> float:
        value = number(row, base)
        return float(value * rate) if value > 0 else 0.0

    return numeric


class _Compiled:
    """One definition, bound to the engine's key slots."""

    __slots__ = (
        "definition", "dropped", "generation", "key_of", "mode", "predicate", "slots", "sums",
        "table",
    )  # fmt: skip

    def __init__(
        self, definition: FlowDefinition, generation: int, slot_of: dict[str, int]
    ) -> None:
        self.definition = definition
        self.generation = generation
        self.slots = tuple(slot_of[key] for key in definition.keys)
        # the key texts of a row as one tuple, by a C-level getter
        if len(self.slots) == 1:
            only = self.slots[0]
            self.key_of: Callable[[list[str | None]], tuple[str | None, ...]] = lambda t: (t[only],)
        else:
            self.key_of = itemgetter(*self.slots)
        self.sums = tuple(_sum_of(name) for name in definition.sums)
        # the common sums without a call per sample: bytes alone, frames alone
        common: dict[tuple[str, ...], int] = {("bytes",): _BYTES, ("frames",): _FRAMES}
        self.mode = common.get(definition.sums, _GENERIC)
        tree = definition.tree
        self.predicate: Predicate | None = (
            compile_filter(tree, slot_of) if tree is not None else None
        )
        self.table: dict[tuple[str, ...], list[float]] = {}
        self.dropped = 0


class _Kind:
    """The definitions of one kind (packet samples or drop notifications) and the keys they
    read, in slot order."""

    def __init__(self, entries: Sequence[tuple[FlowDefinition, int]]) -> None:
        names: list[str] = []
        for definition, _ in entries:
            wanted = list(definition.keys)
            if definition.tree is not None:
                wanted += sorted(filter_keys(definition.tree))
            for key in wanted:
                if key not in names:
                    names.append(key)
        slot_of = {name: i for i, name in enumerate(names)}
        self.texts: tuple[Text, ...] = tuple(TEXTS[name] for name in names)
        raws: list[Raw] = []
        for name in names:
            raw = RAWS[name]
            if raw is not None and raw not in raws:
                raws.append(raw)
        self.raws = tuple(raws)
        self.flows = [_Compiled(d, g, slot_of) for d, g in entries]
        # (agent, data source, raw inputs) → [(definition, its sums of the key, or None when
        # the tick's table is full)]: the texts, filters and keys of a row seen before this tick
        self.seen: dict[tuple[object, ...], list[tuple[_Compiled, list[float] | None]]] = {}


class FlowEngine:
    """Per-receiver flow accounting (module docstring)."""

    def __init__(
        self,
        definitions: Iterable[tuple[FlowDefinition, int]] = (),
        previous: FlowEngine | None = None,
    ) -> None:
        entries = list(definitions)
        self.sampled = _Kind([e for e in entries if not e[0].dropped])
        self.dropped = _Kind([e for e in entries if e[0].dropped])
        if previous is not None:  # unchanged definitions keep this tick's sums
            held = {(f.definition.name, f.generation): f for f in previous._flows()}
            for flow in self._flows():
                old = held.get((flow.definition.name, flow.generation))
                if old is not None:
                    flow.table, flow.dropped = old.table, old.dropped
        self.active = bool(entries)
        self._scratch = array("q", [-1] * NUM_COLUMNS)
        self._probe = KEY_PROBE_ROWS
        self._probe_drops = KEY_PROBE_ROWS  # apart: packet samples would use up a shared budget
        self._sources: dict[tuple[str, int, int], tuple[str, str, str, str]] = {}
        self.keys_seen: set[str] = set()
        # the state calls in while a definition of the kind is active or its keys are probed
        self.busy_rows = self.busy_drops = True

    def _flows(self) -> list[_Compiled]:
        return [*self.sampled.flows, *self.dropped.flows]

    # -----------------------------------------------------------------------------------------
    # Input

    def account_rows(self, rows: Any, data: Any, agent: str, resolver: PortResolver) -> None:
        """The flow rows of one fast-path datagram."""
        storage = rows.storage
        sample = SampleContext(agent, resolver)
        kind = self.sampled
        for i in range(rows.count):
            base = i * NUM_COLUMNS
            if self._probe > 0:
                self._probed()
                self._note_keys(storage, base, data, sample)
            if kind.flows:
                rate = storage[base + COL_SAMPLING_RATE]
                if rate > 0:
                    _account(kind, storage, base, data, sample, rate, self._sources)
            sample.next_row()

    def account_drop_row(
        self, row: Sequence[int], data: Any, agent: str, resolver: PortResolver
    ) -> None:
        """One drop row (``decoders.fast`` DRP_* columns) of a fast-path datagram."""
        scratch = self._scratch
        walk_header(
            data, row[DRP_HEADER_OFFSET], row[DRP_HEADER_LENGTH], row[DRP_HEADER_PROTOCOL], scratch
        )
        scratch[COL_FRAME_LENGTH] = row[DRP_FRAME_LENGTH]
        sample = SampleContext(agent, resolver)
        sample.reason = drop_reason_name(row[DRP_REASON])
        sample.linux_reason = _text(data, row[DRP_LINUX_OFFSET], row[DRP_LINUX_LENGTH])
        sample.function = _text(data, row[DRP_FUNCTION_OFFSET], row[DRP_FUNCTION_LENGTH])
        self._drop(scratch, data, sample, row[DRP_SOURCE_TYPE], row[DRP_SOURCE_INDEX],
                   row[DRP_INPUT], row[DRP_OUTPUT])  # fmt: skip

    def account_flow_sample(self, sample: FlowSample, agent: str, resolver: PortResolver) -> None:
        """One flow sample the full decoder decoded."""
        header = next((r for r in sample.records if type(r) is SampledHeader), None)
        scratch = self._scratch
        data = b""
        if header is not None:
            data = header.header
            walk_header(data, 0, len(data), header.protocol, scratch)
            scratch[COL_FRAME_LENGTH] = header.frame_length
        else:
            for k in range(NUM_COLUMNS):
                scratch[k] = -1
        _ports(scratch, sample.source.type, sample.source.index, sample.input.format,
               sample.input.value, sample.output.format, sample.output.value)  # fmt: skip
        context = SampleContext(agent, resolver)
        if self._probe > 0:
            self._probed()
            self._note_keys(scratch, 0, data, context)
        if self.sampled.flows and sample.sampling_rate > 0:
            _account(self.sampled, scratch, 0, data, context, sample.sampling_rate, self._sources)

    def account_drop_sample(self, sample: DropSample, agent: str, resolver: PortResolver) -> None:
        """One drop sample the full decoder decoded."""
        scratch = self._scratch
        context = SampleContext(agent, resolver)
        context.reason = drop_reason_name(sample.reason)
        data = b""
        header: SampledHeader | None = None
        for record in sample.records:
            kind = type(record)
            if kind is SampledHeader and header is None:
                header = record  # type: ignore[assignment]
            elif kind is ExtendedLinuxDropReason:
                context.linux_reason = record.reason  # type: ignore[union-attr]
            elif kind is ExtendedFunction:
                context.function = record.symbol  # type: ignore[union-attr]
        if header is not None:
            data = header.header
            walk_header(data, 0, len(data), header.protocol, scratch)
            scratch[COL_FRAME_LENGTH] = header.frame_length
        else:
            walk_header(b"", -1, 0, 0, scratch)
        self._drop(scratch, data, context, sample.source.type, sample.source.index,
                   sample.input_ifindex, sample.output_ifindex)  # fmt: skip

    def _drop(
        self, scratch: array[int], data: Any, sample: SampleContext,
        source_type: int, source_index: int, in_if: int, out_if: int,
    ) -> None:  # fmt: skip
        _ports(scratch, source_type, source_index, 0, in_if, 0, out_if)
        scratch[COL_SAMPLING_RATE] = 1
        if self._probe_drops > 0:
            self._probe_drops -= 1
            if self._probe_drops <= 0:
                self.busy_drops = bool(self.dropped.flows)
            self._note_keys(scratch, 0, data, sample)
        if self.dropped.flows:
            _account(self.dropped, scratch, 0, data, sample, 1, self._sources)

    def _probed(self) -> None:
        """One packet sample's keys noted."""
        self._probe -= 1
        if self._probe <= 0:
            self.busy_rows = bool(self.sampled.flows)

    def _note_keys(self, row: Row, base: int, data: Any, sample: SampleContext) -> None:
        seen = self.keys_seen
        for name, text in TEXTS.items():
            if name not in seen and text(row, base, data, sample) is not None:
                seen.add(name)

    # -----------------------------------------------------------------------------------------
    # Output

    def drain(self) -> tuple[dict[str, FlowPartial], set[str]]:
        """This tick's partial sums by definition name and the keys seen; starts a new tick."""
        partials: dict[str, FlowPartial] = {}
        for flow in self._flows():
            if flow.table or flow.dropped:
                partials[flow.definition.name] = FlowPartial(
                    flow.generation, flow.table, flow.dropped
                )
                flow.table = {}
                flow.dropped = 0
        seen = self.keys_seen
        self.keys_seen = set()
        self._sources = {}  # a new topology reaches the keys within a tick
        for kind in (self.sampled, self.dropped):
            kind.seen = {}  # they point into the tables just handed over
        self._probe = self._probe_drops = KEY_PROBE_ROWS
        self.busy_rows = self.busy_drops = True
        return partials, seen


def _ports(
    row: array[int], source_type: int, source_index: int,
    in_format: int, in_value: int, out_format: int, out_value: int,
) -> None:  # fmt: skip
    row[COL_SOURCE_TYPE] = source_type
    row[COL_SOURCE_INDEX] = source_index
    row[COL_INPUT_FORMAT] = in_format
    row[COL_INPUT_VALUE] = in_value
    row[COL_OUTPUT_FORMAT] = out_format
    row[COL_OUTPUT_VALUE] = out_value


def _text(data: Any, offset: int, length: int) -> str | None:
    if offset < 0:
        return None
    return bytes(data[offset : offset + length]).decode("utf-8", "replace")


def _account(
    kind: _Kind,
    row: Row,
    base: int,
    data: Any,
    sample: SampleContext,
    rate: int,
    sources: dict[tuple[str, int, int], tuple[str, str, str, str]],
) -> None:
    """Add one sample to every definition of ``kind`` it passes."""
    signature = (
        sample.agent,
        row[base + COL_SOURCE_TYPE],
        row[base + COL_SOURCE_INDEX],
        *[raw(row, base, data, sample) for raw in kind.raws],
    )
    entry = kind.seen.get(signature)
    if entry is None:
        if len(kind.seen) >= SEEN_CACHE:
            kind.seen.clear()
        entry = kind.seen[signature] = _entry(kind, row, base, data, sample, sources)
    for flow, sums in entry:
        if sums is None:
            flow.dropped += 1
            continue
        mode = flow.mode
        if mode == _BYTES:
            length = row[base + COL_FRAME_LENGTH]
            if length > 0:
                sums[0] += length * rate
        elif mode == _FRAMES:
            sums[0] += rate
        else:
            for i, add in enumerate(flow.sums):
                sums[i] += add(row, base, rate)


def _entry(
    kind: _Kind,
    row: Row,
    base: int,
    data: Any,
    sample: SampleContext,
    sources: dict[tuple[str, int, int], tuple[str, str, str, str]],
) -> list[tuple[_Compiled, list[float] | None]]:
    """Which definitions a row counts for, each with the sums of its key (texts made here)."""
    texts = [text(row, base, data, sample) for text in kind.texts]
    entry: list[tuple[_Compiled, list[float] | None]] = []
    source: tuple[str, ...] | None = None
    for flow in kind.flows:
        predicate = flow.predicate
        if predicate is not None and not predicate(texts):
            continue
        values = flow.key_of(texts)
        if None in values:
            continue
        if source is None:
            where = (sample.agent, row[base + COL_SOURCE_TYPE], row[base + COL_SOURCE_INDEX])
            source = sources.get(where)
            if source is None:
                if len(sources) >= SOURCE_CACHE:
                    sources.clear()
                source = sources[where] = _source(where, sample.resolver)
        key: tuple[str, ...] = source + values  # type: ignore[operator]
        sums = flow.table.get(key)
        if sums is None and len(flow.table) < MAX_KEYS_PER_TICK:
            sums = flow.table[key] = [0.0] * len(flow.sums)
        entry.append((flow, sums))
    return entry


def _source(where: tuple[str, int, int], resolver: PortResolver) -> tuple[str, str, str, str]:
    """(agent, data source, its role, the agent's node) of (agent, source type, index)."""
    agent, source_type, index = where
    role = UNMAPPED
    if source_type == 0:
        info = resolver.resolve(agent, index) if index > 0 else None
        if info is not None:
            role = info.role
        data_source = str(index)
    else:
        data_source = f"{source_type}:{index}"
    return agent, data_source, role, resolver.node_of(agent) or ""

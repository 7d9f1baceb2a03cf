"""The rule the fast path's scan follows for counter and drop samples, as an oracle built on the
full decoder's records: which samples become counter rows, drop rows or ``others``, and the
values each row must hold. Shared by tests/test_fastpath.py and bench/fuzz_decode.py."""

from __future__ import annotations

from typing import Any

from decoders import fastpath as pure
from decoders.parse import decode_sample
from decoders.records import (
    CounterSample,
    Datagram,
    DropSample,
    EthernetCounters,
    ExtendedAcl,
    ExtendedEgressQueue,
    ExtendedFunction,
    ExtendedHwTrap,
    ExtendedLinuxDropReason,
    ExtendedQueue,
    ExtendedSwitch,
    ExtendedTimestamp,
    ExtendedTransit,
    FlowSample,
    GenericInterfaceCounters,
    HostAdapters,
    HostDescription,
    LagPortStats,
    PfcCounters,
    PortName,
    ProcessorCounters,
    RawRecord,
    RawSample,
    SampledEthernet,
    SampledHeader,
    SampledIPv4,
    SampledIPv6,
    SfpCounters,
    VlanCounters,
)


def sample_format(sample: Any) -> int:
    """The data_format of a decoded non-flow sample."""
    if isinstance(sample, RawSample):
        return (sample.enterprise << 12) | sample.format
    if isinstance(sample, CounterSample):
        return 4 if sample.expanded else 2
    assert isinstance(sample, DropSample)
    return 5


# A counter sample becomes a counter row when it holds nothing but these records (at most one
# generic_interface, port_name and host_descr) and up to four unknown ones; a drop sample a drop
# row when it holds only these (at most one function, one Linux drop reason and one hw trap).
# After the first sample of either kind that does not, every later one of either kind is left to
# the full decoder (``others``).
_COUNTER_ROW_RECORDS = (
    GenericInterfaceCounters, EthernetCounters, VlanCounters, LagPortStats, SfpCounters,
    PfcCounters, ProcessorCounters, PortName, HostDescription, HostAdapters,
)  # fmt: skip
_COUNTER_ONCE = (GenericInterfaceCounters, PortName, HostDescription)
_DROP_ROW_RECORDS = (
    SampledHeader, SampledEthernet, SampledIPv4, SampledIPv6, ExtendedSwitch,
    ExtendedEgressQueue, ExtendedAcl, ExtendedFunction, ExtendedTransit, ExtendedQueue,
    ExtendedHwTrap, ExtendedLinuxDropReason, ExtendedTimestamp,
)  # fmt: skip


_DROP_ONCE = (ExtendedFunction, ExtendedLinuxDropReason, ExtendedHwTrap)


def _row_kind(sample: object) -> str | None:
    """ "counter" or "drop" when the scan should make a row of ``sample`` (module rule)."""
    if isinstance(sample, CounterSample):
        kinds = [type(r) for r in sample.records]
        unknown = [r for r in sample.records if isinstance(r, RawRecord) and r.error is None]
        fits = all(k in _COUNTER_ROW_RECORDS for k in kinds if k is not RawRecord)
        fits = fits and kinds.count(RawRecord) == len(unknown) <= pure.CTR_MAX_UNKNOWN
        once = all(kinds.count(k) <= 1 for k in _COUNTER_ONCE)
        return "counter" if fits and once else None
    if isinstance(sample, DropSample):
        kinds = [type(r) for r in sample.records]
        fits = all(k in _DROP_ROW_RECORDS for k in kinds)
        once = all(kinds.count(k) <= 1 for k in _DROP_ONCE)
        return "drop" if fits and once else None
    return None


def text_at(data: bytes, offset: int, length: int) -> str:
    """The text a row points at, decoded as ``decoders.parse`` decodes strings."""
    return data[offset : offset + length].decode("utf-8", "replace")


def check_counter_and_drop_rows(data: bytes, datagram: Datagram, rows: Any) -> None:
    """Counter rows, drop rows and ``others`` hold exactly the non-flow samples (module rule),
    each row's values equal to the decoded sample's."""
    want_counters, want_drops, want_others = [], [], []
    fallback = False
    for i, sample in enumerate(datagram.samples):
        if isinstance(sample, FlowSample):
            continue
        kind = None if fallback else _row_kind(sample)
        if kind == "counter":
            want_counters.append((i, sample))
        elif kind == "drop":
            want_drops.append((i, sample))
        else:
            fallback = fallback or isinstance(sample, CounterSample | DropSample)
            want_others.append((i, sample))
    assert [(fmt, i) for fmt, _, _, i in rows.others] == [
        (sample_format(s), i) for i, s in want_others
    ]
    for (fmt, offset, length, index), (_, sample) in zip(rows.others, want_others, strict=True):
        assert decode_sample(data, offset, length, fmt, index) == sample
    assert rows.counter_count == len(want_counters)
    for k, (index, sample) in enumerate(want_counters):
        row = rows.counter_row(k)
        fmt = 4 if sample.expanded else 2
        offset, length = row[pure.CTR_OFFSET], row[pure.CTR_LENGTH]
        assert decode_sample(data, offset, length, fmt, index) == sample
        assert row[pure.CTR_INDEX] == index
        assert row[pure.CTR_SEQUENCE] == sample.sequence
        assert (row[pure.CTR_SOURCE_TYPE], row[pure.CTR_SOURCE_INDEX]) == (
            sample.source.type,
            sample.source.index,
        )
        generic = [r for r in sample.records if isinstance(r, GenericInterfaceCounters)]
        names = [r for r in sample.records if isinstance(r, PortName)]
        flags = (pure.CTR_HAS_GENERIC if generic else 0) | (pure.CTR_HAS_PORT_NAME if names else 0)
        assert row[pure.CTR_FLAGS] & ~pure.CTR_HAS_HOST == flags
        if generic:
            fields = row[pure.CTR_GENERIC : pure.CTR_GENERIC + 19]
            assert GenericInterfaceCounters(*fields) == generic[0]
        if names:
            text = text_at(data, row[pure.CTR_NAME_OFFSET], row[pure.CTR_NAME_LENGTH])
            assert text == names[0].name
        hosts = [r for r in sample.records if isinstance(r, HostDescription)]
        assert bool(row[pure.CTR_FLAGS] & pure.CTR_HAS_HOST) == bool(hosts)
        if hosts:
            text = text_at(data, row[pure.CTR_HOST_OFFSET], row[pure.CTR_HOST_LENGTH])
            assert text == hosts[0].hostname
        unknown = [
            (r.enterprise << 12) | r.format for r in sample.records if isinstance(r, RawRecord)
        ]
        count = row[pure.CTR_UNKNOWN_COUNT]
        assert list(row[pure.CTR_UNKNOWN : pure.CTR_UNKNOWN + count]) == unknown
    assert rows.drop_count == len(want_drops)
    for k, (index, sample) in enumerate(want_drops):
        row = rows.drop_row(k)
        offset, length = row[pure.DRP_OFFSET], row[pure.DRP_LENGTH]
        assert decode_sample(data, offset, length, 5, index) == sample
        assert row[pure.DRP_INDEX] == index
        assert (
            row[pure.DRP_SEQUENCE],
            row[pure.DRP_SOURCE_TYPE],
            row[pure.DRP_SOURCE_INDEX],
            row[pure.DRP_DROPS],
            row[pure.DRP_INPUT],
            row[pure.DRP_OUTPUT],
            row[pure.DRP_REASON],
        ) == (
            sample.sequence,
            sample.source.type,
            sample.source.index,
            sample.drops,
            sample.input_ifindex,
            sample.output_ifindex,
            sample.reason,
        )
        for kind, field, at, size in (
            (ExtendedLinuxDropReason, "reason", pure.DRP_LINUX_OFFSET, pure.DRP_LINUX_LENGTH),
            (ExtendedFunction, "symbol", pure.DRP_FUNCTION_OFFSET, pure.DRP_FUNCTION_LENGTH),
            (ExtendedHwTrap, "group", pure.DRP_TRAP_GROUP_OFFSET, pure.DRP_TRAP_GROUP_LENGTH),
            (ExtendedHwTrap, "trap", pure.DRP_TRAP_OFFSET, pure.DRP_TRAP_LENGTH),
        ):
            found = [r for r in sample.records if isinstance(r, kind)]
            if found:
                assert text_at(data, row[at], row[size]) == getattr(found[0], field)
            else:
                assert (row[at], row[size]) == (-1, -1)
        headers = [r for r in sample.records if isinstance(r, SampledHeader)]
        got = (
            row[pure.DRP_HEADER_PROTOCOL],
            bytes(data[row[pure.DRP_HEADER_OFFSET] :][: row[pure.DRP_HEADER_LENGTH]])
            if headers
            else None,
        )
        assert got == ((headers[0].protocol, headers[0].header) if headers else (-1, None))
        assert row[pure.DRP_FRAME_LENGTH] == (headers[0].frame_length if headers else -1)

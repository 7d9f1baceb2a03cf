"""Property tests: decode_datagram(encode_datagram(x)) == x for every record/sample/datagram."""

from __future__ import annotations

import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from decoders.encode import (
    encode_counter_record,
    encode_datagram,
    encode_flow_record,
    encode_sample,
)
from decoders.errors import DecodeError
from decoders.parse import decode_datagram
from decoders.records import (
    CounterRecord,
    CounterSample,
    Datagram,
    DataSource,
    FlowRecord,
    FlowSample,
    Interface,
    Sample,
)
from tests import strategies as S

_HEADER = struct.Struct(">IIIIIII")  # version, agent type 1, agent, sub-agent, seq, uptime, count


def _in_datagram(sample: bytes) -> bytes:
    """Frame one encoded sample in a hand-packed IPv4-agent datagram header (test-side framing)."""
    return _HEADER.pack(5, 1, 0xC0000201, 0, 1, 1000, 1) + sample


def _in_flow_sample(records: list[bytes]) -> bytes:
    body = struct.pack(">8I", 1, 7, 100, 100, 0, 7, 8, len(records)) + b"".join(records)
    return _in_datagram(struct.pack(">II", 1, len(body)) + body)


def _in_counter_sample(records: list[bytes]) -> bytes:
    body = struct.pack(">3I", 1, 7, len(records)) + b"".join(records)
    return _in_datagram(struct.pack(">II", 2, len(body)) + body)


def _aligned(data: bytes) -> None:
    assert len(data) % 4 == 0, f"{len(data)} bytes is not a multiple of 4"


# ---------------------------------------------------------------------------------------------
# One record per type, each inside a minimal datagram framed by the test


# Keyed by the registry's record name (the test ids), plus the raw record of each kind.
FLOW_RECORD_STRATEGIES = {cls.NAME: s for cls, s in S.FLOW_RECORD_STRATEGIES.items()} | {
    "raw_flow_record": S.raw_flow_records
}

COUNTER_RECORD_STRATEGIES = {cls.NAME: s for cls, s in S.COUNTER_RECORD_STRATEGIES.items()} | {
    "raw_counter_record": S.raw_counter_records
}


@pytest.mark.parametrize("name", sorted(FLOW_RECORD_STRATEGIES))
def test_flow_record_roundtrip(name: str) -> None:
    @given(FLOW_RECORD_STRATEGIES[name])
    def check(record: FlowRecord) -> None:
        data = encode_flow_record(record)
        _aligned(data)
        (sample,) = decode_datagram(_in_flow_sample([data])).samples
        assert isinstance(sample, FlowSample)
        assert sample.records == (record,)

    check()


@pytest.mark.parametrize("name", sorted(COUNTER_RECORD_STRATEGIES))
def test_counter_record_roundtrip(name: str) -> None:
    @given(COUNTER_RECORD_STRATEGIES[name])
    def check(record: CounterRecord) -> None:
        data = encode_counter_record(record)
        _aligned(data)
        (sample,) = decode_datagram(_in_counter_sample([data])).samples
        assert isinstance(sample, CounterSample)
        assert sample.records == (record,)

    check()


# ---------------------------------------------------------------------------------------------
# Samples and datagrams


@given(S.samples)
def test_sample_roundtrip(sample: Sample) -> None:
    data = encode_sample(sample)
    _aligned(data)
    assert decode_datagram(_in_datagram(data)).samples == (sample,)


@given(S.datagrams())
@example(Datagram(None, 0, 0, 0, 0, ()))
@example(Datagram("0.0.0.0", 1, 2**32 - 1, 2**32 - 1, 2**32 - 1, ()))
@example(Datagram("::", 2, 0, 0, 0, ()))
def test_datagram_roundtrip(datagram: Datagram) -> None:
    data = encode_datagram(datagram)
    _aligned(data)
    assert decode_datagram(data) == datagram


@given(S.datagrams())
def test_datagram_is_concatenation_of_samples(datagram: Datagram) -> None:
    """encode_datagram = header + encode_sample(s) for each s (the simulator may batch samples)."""
    data = encode_datagram(datagram)
    body = b"".join(encode_sample(s) for s in datagram.samples)
    assert data.endswith(body)
    assert len(data) - len(body) == {0: 24, 1: 28, 2: 40}[datagram.agent_address_type]


@given(
    S.u32,
    S.u32,
    S.u32,
    st.tuples(S.interface_formats, S.u32),
    st.tuples(S.interface_formats, S.u32),
)
def test_expanded_flow_sample_takes_any_u32(
    src_type: int,
    src_index: int,
    rate: int,
    inp: tuple[int, int],
    out: tuple[int, int],
) -> None:
    """Expanded samples carry full u32 source/interface fields (ifIndex ≥ 2^24 needs them)."""
    sample = FlowSample(
        True, 1, DataSource(src_type, src_index), rate, 0, 0, Interface(*inp), Interface(*out), ()
    )
    assert decode_datagram(_in_datagram(encode_sample(sample))).samples == (sample,)


# ---------------------------------------------------------------------------------------------
# The decoder's image: whatever decode_datagram accepts re-encodes to the same datagram


@given(S.datagram_bytes, st.data())
def test_decode_encode_decode_is_stable_on_mutated_input(
    original: bytes, data: st.DataObject
) -> None:
    """Mutate a valid datagram; if it still decodes, re-encoding must give back the same value.

    Covers decoder output the strategies never build directly: malformed known records kept raw
    (with ``error``), strings decoded with U+FFFD replacements, missing final pads, trailing bytes.
    """
    mutated = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4), label="mutations")):
        pos = data.draw(st.integers(8, len(mutated) - 1), label="pos")  # keep version/type
        mutated[pos] = data.draw(S.u8, label="byte")
    if data.draw(st.booleans(), label="truncate"):
        del mutated[data.draw(st.integers(24, len(mutated)), label="cut") :]
    try:
        decoded = decode_datagram(bytes(mutated))
    except DecodeError:
        return
    try:
        again = encode_datagram(decoded)
    except ValueError:
        # Only legitimate: a replaced (U+FFFD, 3 bytes) string that now exceeds its limit.
        return
    assert decode_datagram(again) == decoded

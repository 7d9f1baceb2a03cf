"""Hostile input: decode_datagram returns a Datagram or raises DecodeError, never an internal error.

``internal_error`` is the slug decode_datagram's safety net gives to any other exception (a bug);
every property here asserts it never shows up, whatever the bytes: random, truncated, bit-flipped,
overwritten, or with length/count fields set to hostile values (up to 4 GiB, which must be
rejected from the bounds, never allocated).
"""

from __future__ import annotations

import re
import struct
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from decoders.encode import encode_sample
from decoders.errors import DecodeError
from decoders.parse import decode_datagram
from decoders.records import Datagram, RawRecord, Sample
from tests import strategies as S
from tests.shared_data import shared_dir

_SLUG = re.compile(r"[a-z][a-z0-9_]*\Z")
_U32 = struct.Struct(">I")

# Sample formats whose record array we can locate: format → bytes before the record count.
_RECORDS_AT = {1: 28, 2: 8, 3: 40, 4: 12, 5: 28}
_AGENT_BYTES = {0: 0, 1: 4, 2: 16}


def _decode(data: bytes) -> Datagram | None:
    """Decode; a DecodeError is fine when its reason is a real slug and its offset is in range."""
    try:
        return decode_datagram(data)
    except DecodeError as exc:
        assert exc.reason != "internal_error", f"decoder bug caught by the safety net: {exc!r}"
        assert _SLUG.match(exc.reason), exc.reason
        assert 0 <= exc.offset <= len(data), (exc.offset, len(data))
        assert isinstance(exc.path, str)
        return None


def _framing_offsets(data: bytes) -> list[int]:
    """Offsets of the length/count words of a VALID datagram: num_samples, sample lengths,
    record counts, record lengths and each record body's first word (often a length or count)."""
    words = []
    off = 8 + _AGENT_BYTES[_U32.unpack_from(data, 4)[0]]
    words.append(off + 12)
    count = _U32.unpack_from(data, off + 12)[0]
    off += 16
    for _ in range(count):
        fmt, length = struct.unpack_from(">II", data, off)
        words.append(off + 4)
        body = off + 8
        if fmt in _RECORDS_AT:
            at = body + _RECORDS_AT[fmt]
            words.append(at)
            roff = at + 4
            for _ in range(_U32.unpack_from(data, at)[0]):
                rfmt, rlen = struct.unpack_from(">II", data, roff)
                words.append(roff + 4)
                if rlen >= 4:
                    words.append(roff + 8)
                if rfmt == 1 and rlen >= 16:  # sampled_header: header length word
                    words.append(roff + 20)
                roff += 8 + ((rlen + 3) & ~3)
        off = body + ((length + 3) & ~3)
    return words


HOSTILE_U32 = st.one_of(
    st.sampled_from(
        [0, 1, 2, 3, 4, 5, 7, 8, 0xFF, 0x1000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFF8, 0xFFFFFFFC]
    ),
    st.just(0xFFFFFFFF),
    S.u32,
)

# ---------------------------------------------------------------------------------------------
# Random bytes


@given(st.binary(max_size=600))
@example(b"")
@example(b"\x00\x00\x00\x05")
@example(b"\x00\x00\x00\x05" + b"\xff" * 36)
def test_arbitrary_bytes(data: bytes) -> None:
    _decode(data)


@given(st.one_of(st.integers(0, 3), S.u32), st.binary(max_size=600))
def test_arbitrary_bytes_after_a_v5_header(address_type: int, rest: bytes) -> None:
    _decode(struct.pack(">II", 5, address_type) + rest)


@given(st.binary(min_size=24, max_size=24), S.samples, st.binary(max_size=64))
def test_valid_sample_between_random_header_fields_and_garbage(
    header: bytes, sample: Sample, garbage: bytes
) -> None:
    data = struct.pack(">II", 5, 0) + header[:12] + b"\x00\x00\x00\x01"
    _decode(data + encode_sample(sample) + garbage)


@given(
    st.one_of(st.sampled_from([1, 11, 12, 18]), S.u32),
    st.one_of(S.packet_headers, S.ethernet_frames().map(lambda b: bytes(x ^ 0x5A for x in b))),
    st.data(),
)
def test_hostile_sampled_header_bytes_never_break_the_datagram(
    protocol: int, header: bytes, draw: st.DataObject
) -> None:
    """Header bytes do not affect framing: decoding must succeed and keep a SampledHeader
    (parse_packet must not raise; a ValueError there would silently turn it into a RawRecord)."""
    if header and draw.draw(st.booleans(), label="flip"):
        mutated = bytearray(header)
        mutated[draw.draw(st.integers(0, len(header) - 1), label="pos")] ^= 0xFF
        header = bytes(mutated)
    rec = struct.pack(">6I", 1, 16 + ((len(header) + 3) & ~3), protocol, 1500, 4, len(header))
    rec += header + bytes(-len(header) % 4)
    sample = struct.pack(">8I", 1, 7, 1, 1, 0, 1, 2, 1) + rec
    data = _hex(_V4_HEADER + " 00000001 00000001") + struct.pack(">I", len(sample)) + sample
    got = _decode(data)
    assert got is not None
    (record,) = got.samples[0].records  # type: ignore[union-attr]
    assert not isinstance(record, RawRecord), record
    assert record.header == header  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------
# Truncations, bit flips, overwrites and hostile length fields of valid datagrams


@settings(max_examples=min(settings.default.max_examples, 40))
@given(S.datagram_bytes)
def test_every_truncation(data: bytes) -> None:
    full = decode_datagram(data)
    for cut in range(len(data)):
        got = _decode(data[:cut])
        # A prefix can only decode when nothing but the final XDR pad was cut: same datagram.
        assert got is None or got == full, cut


@given(S.datagram_bytes, st.data())
def test_bit_flip(data: bytes, draw: st.DataObject) -> None:
    mutated = bytearray(data)
    pos = draw.draw(st.integers(0, len(data) - 1), label="pos")
    mutated[pos] ^= 1 << draw.draw(st.integers(0, 7), label="bit")
    _decode(bytes(mutated))


@given(S.datagram_bytes, st.data())
def test_random_byte_overwrites(data: bytes, draw: st.DataObject) -> None:
    mutated = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 8), label="n")):
        pos = draw.draw(st.integers(0, len(data) - 1), label="pos")
        mutated[pos] = draw.draw(S.u8, label="byte")
    _decode(bytes(mutated))


@given(S.datagram_bytes, st.data())
def test_hostile_length_fields(data: bytes, draw: st.DataObject) -> None:
    framing = _framing_offsets(data)
    aligned = list(range(0, len(data) - 3, 4))
    mutated = bytearray(data)
    for _ in range(draw.draw(st.integers(1, 3), label="n")):
        pos = draw.draw(st.one_of(st.sampled_from(framing), st.sampled_from(aligned)), label="at")
        _U32.pack_into(mutated, pos, draw.draw(HOSTILE_U32, label="value"))
    _decode(bytes(mutated))


# ---------------------------------------------------------------------------------------------
# Lengths claiming 4 GiB: rejected from the bounds, no allocation, fast

_V4_HEADER = "00000005 00000001 c0000201 00000000 00000001 00000064"  # up to num_samples
_FLOW_HEAD = "00000001 00000007 00000001 00000001 00000000 00000001 00000002"  # 0:1 fields
_COUNTER_HEAD = "00000001 00000007"  # 0:2 fields


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


def _flow_datagram(record: str) -> bytes:
    body = _hex(record)
    rec = _hex("00000001") + body  # 1 record
    sample = _hex(_FLOW_HEAD) + rec
    return _hex(_V4_HEADER + " 00000001 00000001") + struct.pack(">I", len(sample)) + sample


def _counter_datagram(record: str) -> bytes:
    sample = _hex(_COUNTER_HEAD + " 00000001" + record)
    return _hex(_V4_HEADER + " 00000001 00000002") + struct.pack(">I", len(sample)) + sample


HUGE_CASES = {
    # whole-datagram framing → DecodeError reason
    "num_samples": (_hex(_V4_HEADER + " ffffffff 00000001 00000000"), "sample_count_exceeds_data"),
    "sample_length": (
        _hex(_V4_HEADER + " 00000001 00000001 ffffffff" + _FLOW_HEAD + "00000000"),
        "sample_length_overrun",
    ),
    "record_count": (
        _hex(_V4_HEADER + " 00000001 00000001 00000024" + _FLOW_HEAD + "ffffffff 00000000"),
        "record_count_exceeds_data",
    ),
    "record_length": (
        _flow_datagram("000003e9 ffffffff 00000000 00000000 00000000 00000000"),
        "record_length_overrun",
    ),
    # inside one record → the record is kept raw with this error, the datagram survives
    "sampled_header_length": (
        _flow_datagram("00000001 00000014 00000001 00000040 00000004 ffffffff 00000000"),
        "record_truncated",
    ),
    "acl_name_length": (
        _flow_datagram("0000040d 0000000c 00000001 ffffffff 00000000"),
        "string_too_long",
    ),
    "gateway_as_path_count": (
        _flow_datagram(
            "000003eb 00000020 00000000 00000001 00000002 00000003 ffffffff"
            " 00000000 00000000 00000000"
        ),
        "array_too_long",
    ),
    "gateway_segment_asn_count": (
        _flow_datagram(
            "000003eb 00000024 00000000 00000001 00000002 00000003 00000001"
            " 00000002 ffffffff 00000000 00000000"
        ),
        "array_too_long",
    ),
    "sfp_lane_count": (
        _counter_datagram(" 0000000a 00000014 00000001 00000001 00000ce4 00001388 ffffffff"),
        "array_too_long",
    ),
    "host_adapters_count": (_counter_datagram(" 000007d1 00000004 ffffffff"), "array_too_long"),
    "host_adapter_mac_count": (
        _counter_datagram(" 000007d1 0000000c 00000001 00000002 ffffffff"),
        "array_too_long",
    ),
    "port_name_length": (_counter_datagram(" 000003ed 00000004 ffffffff"), "string_too_long"),
    "hostname_length": (_counter_datagram(" 000007d0 00000004 ffffffff"), "string_too_long"),
}


@pytest.mark.parametrize("case", sorted(HUGE_CASES))
def test_4gib_lengths_are_rejected_without_allocating(case: str) -> None:
    data, reason = HUGE_CASES[case]
    tracemalloc.start()
    try:
        started = time.perf_counter()
        try:
            result: Datagram | DecodeError = decode_datagram(data)
        except DecodeError as exc:
            result = exc
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 256 * 1024, f"decoding {len(data)} bytes peaked at {peak} bytes"
    assert elapsed < 0.5
    if isinstance(result, DecodeError):
        assert result.reason == reason
    else:
        (sample,) = result.samples
        (record,) = sample.records  # type: ignore[union-attr]
        assert isinstance(record, RawRecord)
        assert record.error == reason


# ---------------------------------------------------------------------------------------------
# Wrong versions: NetFlow v5 (0x0005xxxx) and anything else that is not exactly 5


@given(S.u16, st.binary(min_size=20, max_size=200))
@example(1, bytes(20))
@example(0, bytes(20))
@example(0xFFFF, b"\xff" * 20)
def test_netflow_v5_header_is_bad_version(count: int, rest: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decode_datagram(struct.pack(">HH", 5, count) + rest)
    assert info.value.reason == "bad_version"
    assert info.value.offset == 0


@given(S.u32.filter(lambda v: v != 5), st.binary(min_size=4, max_size=64))
@example(2, bytes(40))
@example(4, bytes(40))
@example(0x05000000, bytes(40))
def test_any_other_version_is_bad_version(version: int, rest: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decode_datagram(_U32.pack(version) + rest)
    assert info.value.reason == "bad_version"


# ---------------------------------------------------------------------------------------------
# Real test vectors (shared data, never copied into the repo): every truncation + bit flips


def _vectors_dir() -> Path:
    return shared_dir() / "captures" / "vectors"


def _vector_names() -> list[str]:
    directory = _vectors_dir()
    return sorted(p.name for p in directory.glob("*.bin")) if directory.is_dir() else []


@pytest.mark.captures
@pytest.mark.parametrize("name", _vector_names() or ["(absent)"])
def test_every_truncation_and_bit_flip_of_vectors(name: str) -> None:
    path = _vectors_dir() / name
    if not path.is_file():
        pytest.skip(f"shared test vectors not found in {_vectors_dir()} (set FABRICSCOPE_SHARED)")
    data = path.read_bytes()
    full = decode_datagram(data)
    for cut in range(len(data)):
        got = _decode(data[:cut])
        assert got is None or got == full, cut
    for pos in range(len(data)):
        for bit in (0, 3, 7):
            mutated = bytearray(data)
            mutated[pos] ^= 1 << bit
            _decode(bytes(mutated))

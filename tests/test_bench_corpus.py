"""The benchmark corpus and its sender: shape, mix, patch offsets, sequences on the wire."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from decoders import decode_datagram
from topology import TopologyIndex, parse_topology

BENCH = Path(__file__).resolve().parents[1] / "bench"
SENDER = BENCH / "sflow_send.c"
# Loaded by path: putting bench/ on sys.path would let bench/collector.py shadow the package.
_spec = importlib.util.spec_from_file_location("bench_fabric_corpus", BENCH / "fabric_corpus.py")
assert _spec is not None and _spec.loader is not None
fc = importlib.util.module_from_spec(_spec)
sys.modules["bench_fabric_corpus"] = fc  # dataclasses look their module up
_spec.loader.exec_module(fc)


@pytest.fixture(scope="module")
def small() -> tuple[fc.Fabric, fc.Corpus]:
    fabric = fc.build_fabric(leaves=40, spines=8, leaf_ports=8)
    return fabric, fc.build_corpus("mixed", fabric, datagrams=1500, seed=3)


def _kind(sample: object) -> str:
    kind = sample.KIND  # type: ignore[attr-defined]
    return "flow-expanded" if kind == "flow" and sample.expanded else kind  # type: ignore[attr-defined]


def test_default_fabric_is_fabric_sized() -> None:
    fabric = fc.build_fabric()
    assert len(set(fabric.agents)) >= 500
    assert fabric.port_count >= 10_000
    index = TopologyIndex(parse_topology(fabric.topology))
    for agent, ports in zip(fabric.agents, fabric.ports, strict=True):
        assert index.explicit(agent, ports[0]) is not None
        assert index.explicit(agent, ports[-1]) is not None


def test_mixed_corpus_shape_from_the_full_decoder(small: tuple[fc.Fabric, fc.Corpus]) -> None:
    fabric, corpus = small
    index = TopologyIndex(parse_topology(fabric.topology))
    kinds: Counter[str] = Counter()
    agents, ports = set(), set()
    counter_datagrams = 0
    sizes = []
    for entry in corpus.entries:
        d = decode_datagram(entry.data)
        sizes.append(len(entry.data))
        assert d.agent == fabric.agents[entry.agent]
        agents.add(d.agent)
        counter_datagrams += all(s.KIND == "counter" for s in d.samples)
        for s in d.samples:
            kinds[_kind(s)] += 1
            ports.add((d.agent, s.source.index))
            assert index.explicit(d.agent, s.source.index) is not None
            if s.KIND == "drop":
                queue = any(type(r).__name__ == "ExtendedEgressQueue" for r in s.records)
                assert type(s.records[0]).__name__ == "SampledHeader"
                assert queue == (s.reason in fc.BUFFER_REASONS)
    assert kinds == corpus.counts()
    assert len(agents) == len(fabric.agents)
    assert len(ports) >= 0.9 * fabric.port_count
    flows = kinds["flow"] + kinds["flow-expanded"]
    total = sum(kinds.values())
    assert 0.07 < kinds["flow-expanded"] / flows < 0.13
    assert 0.02 < kinds["drop"] / total < 0.04
    assert 0.03 < counter_datagrams / len(corpus.entries) < 0.07
    assert 1200 < sum(sizes) / len(sizes) <= fc.DATAGRAM_LIMIT
    assert 5.5 < total / len(sizes) < 7.5


def test_single_kind_corpora(small: tuple[fc.Fabric, fc.Corpus]) -> None:
    fabric, _ = small
    expect = {
        "drops": {"drop"},
        "counters": {"counter"},
        "flow-compact": {"flow"},
        "flow-expanded": {"flow-expanded"},
    }
    for kind, names in expect.items():
        corpus = fc.build_corpus(kind, fabric, datagrams=100, seed=1)
        assert set(corpus.counts()) == names
    counters = fc.build_corpus("counters", fabric)
    polled = Counter(
        (e.agent, s.source.index) for e in counters.entries for s in decode_datagram(e.data).samples
    )
    assert len(polled) == fabric.port_count and set(polled.values()) == {1}


def _fields(data: bytes) -> tuple[tuple[int, int], list[tuple]]:
    d = decode_datagram(data)
    head = (d.sequence, d.uptime_ms)
    samples = []
    for s in d.samples:
        pool = getattr(s, "sample_pool", None)
        samples.append((s.sequence, pool, s.__class__.__name__, s.source, s.records))
    return head, samples


def test_patching_changes_exactly_the_sequence_fields(small: tuple[fc.Fabric, fc.Corpus]) -> None:
    _, corpus = small
    first = fc.patch_pass(corpus, 0)
    assert first == [e.data for e in corpus.entries]  # pass 0 is the corpus itself
    second = fc.patch_pass(corpus, 1)
    per_agent = Counter(e.agent for e in corpus.entries)
    per_stream = Counter(s.stream for e in corpus.entries for s in e.samples)
    for entry, before, after in zip(corpus.entries, first, second, strict=True):
        changed = {i for i in range(len(before)) if before[i] != after[i]}
        allowed = set(range(entry.sequence_offset, entry.sequence_offset + 4))
        for s in entry.samples:
            allowed |= set(range(s.offset, s.offset + 4))
            if s.pool_offset:
                allowed |= set(range(s.offset + s.pool_offset, s.offset + s.pool_offset + 4))
        assert changed <= allowed
        (seq0, _), samples0 = _fields(before)
        (seq1, _), samples1 = _fields(after)
        assert (seq1 - seq0) & 0xFFFFFFFF == per_agent[entry.agent]
        for patch, a, b in zip(entry.samples, samples0, samples1, strict=True):
            assert (b[0] - a[0]) & 0xFFFFFFFF == per_stream[patch.stream]
            assert a[2:] == b[2:]  # kind, source and records untouched
            if a[1] is not None:
                assert b[1] == (b[0] * fc.SAMPLING_RATE) & 0xFFFFFFFF
    # Within a pass every stream advances by one per sample, in send order.
    last: dict[int, int] = {}
    for entry, data in zip(corpus.entries, second, strict=True):
        for patch, fields in zip(entry.samples, _fields(data)[1], strict=True):
            if patch.stream in last:
                assert fields[0] == (last[patch.stream] + 1) & 0xFFFFFFFF
            last[patch.stream] = fields[0]


def test_sender_sends_advancing_sequences(small: tuple[fc.Fabric, fc.Corpus]) -> None:
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc not installed: the C sender cannot be compiled")
    _, corpus = small
    n = len(corpus.entries)
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp, "sflow_send")
        subprocess.run([gcc, "-O2", "-o", str(binary), str(SENDER)], check=True, timeout=60)
        path = Path(tmp, "corpus.bin")
        fc.write_corpus(corpus, path)
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 23)
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        port = rx.getsockname()[1]
        total = n + n // 2  # one pass and a half: the second pass must carry on the sequences
        out = subprocess.run(
            [str(binary), "--corpus", str(path), "--dest", f"127.0.0.1:{port}",
             "--rate", "20000", "--seconds", "10", "--max-datagrams", str(total)],
            check=True, capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        report = dict(kv.split("=") for kv in out.stdout.split())
        assert int(report["datagrams"]) == total
        got = []
        sources = {}
        while len(got) < total:
            data, addr = rx.recvfrom(65536)
            got.append(data)
            sources.setdefault(decode_datagram(data).agent, set()).add(addr)
        rx.close()
    passes = [fc.patch_pass(corpus, 0), fc.patch_pass(corpus, 1)]
    kinds: Counter[str] = Counter()
    uptimes: dict[int, int] = {}
    for i, data in enumerate(got):
        assert _masked(data) == _masked(passes[i // n][i % n])  # only the uptime is the sender's
        d = decode_datagram(data)
        entry = corpus.entries[i % n]
        assert d.uptime_ms >= uptimes.get(entry.agent, 0)
        uptimes[entry.agent] = d.uptime_ms
        for s in d.samples:
            kinds[_kind(s)] += 1
    sent = {k: int(report[k]) for k in ("flow", "flow-expanded", "counter", "drop")}
    assert sent == dict(kinds)
    # Every agent from one source address of its own, so SO_REUSEPORT can spread them.
    assert all(len(a) == 1 for a in sources.values())
    assert len({next(iter(a)) for a in sources.values()}) == len(sources)
    seq0 = struct.unpack_from(">I", got[0], 16)[0]
    agent0 = corpus.entries[0].agent
    per_agent = sum(e.agent == agent0 for e in corpus.entries)
    assert struct.unpack_from(">I", got[n], 16)[0] == (seq0 + per_agent) & 0xFFFFFFFF


def _masked(data: bytes) -> bytes:
    """The datagram with its uptime zeroed (IPv4 agent: bytes 20..23)."""
    return data[:20] + bytes(4) + data[24:]


def test_corpus_from_datagrams_finds_the_same_patch_points(
    small: tuple[fc.Fabric, fc.Corpus],
) -> None:
    _, corpus = small
    again = fc.corpus_from_datagrams([e.data for e in corpus.entries])
    for a, b in zip(corpus.entries, again.entries, strict=True):
        assert (a.sequence_offset, a.uptime_offset) == (b.sequence_offset, b.uptime_offset)
        assert [(s.offset, s.format, s.pool_offset, s.rate) for s in a.samples] == [
            (s.offset, s.format, s.pool_offset, s.rate) for s in b.samples
        ]
    assert fc.patch_pass(again, 1) == fc.patch_pass(corpus, 1)

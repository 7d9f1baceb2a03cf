"""Fabric-shaped benchmark corpora for ``bench/collector.py``, with the patch table a sender needs.

A leaf/spine fabric (default 480 leaves of 32 ports, 16 uplinks each, and 32 spines of 240
ports: 512 agents, 23,040 (agent, ifIndex) ports) and its sFlow-RT topology JSON. Corpora:

* ``mixed``: datagrams of up to 1,400 bytes (about 1,300, about 6 samples) of RoCEv2 flow
  samples (10 % expanded 0:3, the rest compact 0:1), about 3 % of the samples dropped-packet
  samples 0:5 (sampled header, reason code, egress queue for buffer drops); about 5 % of the
  datagrams are counter datagrams (0:2 with generic 0:1 + ethernet 0:2, port name 0:1005 on a
  quarter of them), walking each agent's ports in turn.
* ``drops``: a drop flood, every switch at its notification limit: datagrams full of 0:5.
* ``counters``: every port's counters once, as at a polling instant.
* ``flow-compact``, ``flow-expanded``: one kind of sample only (for CPU per sample by kind).

The bytes are made once (seeded, so the same on every run); a sender replays them in order,
and on every datagram writes the next datagram sequence number of its agent, the uptime, and
the next sequence number of each sample's (agent, kind, data source) stream, plus a flow
sample's pool (sequence × sampling rate) — so every stream keeps advancing across passes.

File layout (little-endian), read by ``bench/sflow_send.c``::

    header   "FSBCORP1", u32 datagrams, u32 agents, u32 streams, u32 0
    u32 agent_sequence_base[agents], u32 agent_uptime_base[agents], u32 stream_base[streams]
    per datagram: u32 agent, u16 length, u16 samples, u16 sequence_offset, u16 uptime_offset,
                  per sample: u16 sequence_offset, u8 format, u8 pool_offset (from the sequence,
                  0 = none), u32 stream, u32 sampling_rate
                  then the datagram bytes
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import struct
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

_HERE = Path(__file__).resolve().parent
if str(_HERE.parent) not in sys.path:  # a checkout without an install
    sys.path.insert(0, str(_HERE.parent))


def _load_sibling(name: str) -> ModuleType:
    # By path, not through sys.path: bench/collector.py would shadow the collector package.
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", _HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


_roce_frame = _load_sibling("corpus")._roce_frame  # bench/corpus.py: the RoCEv2 operation mix

from decoders.encode import encode_datagram, encode_sample, sampled_header  # noqa: E402
from decoders.records import (  # noqa: E402
    CounterSample,
    Datagram,
    DataSource,
    DropSample,
    EthernetCounters,
    ExtendedEgressQueue,
    ExtendedSwitch,
    FlowSample,
    GenericInterfaceCounters,
    Interface,
    PortName,
    Sample,
)

MAGIC = b"FSBCORP1"
DATAGRAM_LIMIT = 1400
HEADER_BYTES = 28  # IPv4 agent
SAMPLING_RATE = 10_000
KINDS = ("mixed", "drops", "counters", "flow-compact", "flow-expanded")
# Buffer drops (no_buffer_space, red) carry the egress queue; the rest are forwarding drops.
BUFFER_REASONS = (259, 260)
OTHER_REASONS = (257, 258, 265, 279, 281)

_HEAD = struct.Struct("<8sIIII")
_ENTRY = struct.Struct("<IHHHH")
_SAMPLE = struct.Struct("<HBBII")


@dataclass(frozen=True)
class Fabric:
    """Agents (address, ifIndexes) and the sFlow-RT topology that names them."""

    agents: tuple[str, ...]
    ports: tuple[tuple[int, ...], ...]
    topology: dict

    @property
    def port_count(self) -> int:
        """(agent, ifIndex) pairs in the fabric."""
        return sum(map(len, self.ports))


def agent_address(n: int) -> str:
    """The sFlow agent address of switch ``n``: 10.0.0.1, 10.0.0.2, ..."""
    v = 0x0A000001 + n
    return f"{v >> 24}.{(v >> 16) & 255}.{(v >> 8) & 255}.{v & 255}"


def build_fabric(leaves: int = 480, spines: int = 32, leaf_ports: int = 32) -> Fabric:
    """A 2-tier Clos: leaf ports 1..half are edge, the rest uplinks spread over the spines."""
    uplinks = leaf_ports // 2
    if spines % uplinks or leaves % (spines // uplinks):
        raise ValueError("spines must be a multiple of the uplinks and divide the leaves")
    groups = spines // uplinks  # leaves of group g use spines g*uplinks .. g*uplinks+uplinks-1
    spine_ports = leaves // groups
    agents, ports, nodes, links = [], [], {}, {}
    for n in range(leaves + spines):
        count = leaf_ports if n < leaves else spine_ports
        name = f"leaf{n}" if n < leaves else f"spine{n - leaves}"
        agents.append(agent_address(n))
        ports.append(tuple(range(1, count + 1)))
        nodes[name] = {
            "agent": agents[-1],
            "ports": {f"swp{p}": {"ifindex": str(p)} for p in range(1, count + 1)},
        }
    for leaf in range(leaves):
        group, slot = leaf % groups, leaf // groups
        for u in range(uplinks):
            links[f"leaf{leaf}-up{u}"] = {
                "node1": f"leaf{leaf}",
                "port1": f"swp{uplinks + u + 1}",
                "node2": f"spine{group * uplinks + u}",
                "port2": f"swp{slot + 1}",
            }
    return Fabric(tuple(agents), tuple(ports), {"links": links, "nodes": nodes})


@dataclass
class SamplePatch:
    """Where a sender writes one sample's sequence (and pool) and which stream it follows."""

    offset: int
    format: int
    pool_offset: int
    stream: int
    rate: int


@dataclass
class Entry:
    """One datagram of a corpus and its patch points."""

    agent: int
    data: bytes
    sequence_offset: int
    uptime_offset: int
    samples: list[SamplePatch]


@dataclass
class Corpus:
    """Datagrams in send order, with the first values of every sequence stream."""

    kind: str
    entries: list[Entry]
    agent_base: list[int]
    uptime_base: list[int]
    stream_base: list[int]
    streams: dict[tuple[int, str, int], int] = field(default_factory=dict)

    def counts(self) -> Counter[str]:
        """Samples by format name (flow, flow-expanded, counter, drop) in one pass."""
        names = {1: "flow", 3: "flow-expanded", 2: "counter", 5: "drop"}
        return Counter(names[s.format] for e in self.entries for s in e.samples)


class _Builder:
    def __init__(self, fabric: Fabric, kind: str, seed: int) -> None:
        self.fabric = fabric
        self.kind = kind
        self.rng = random.Random(f"{kind}:{seed}")
        n = len(fabric.agents)
        self.agent_base = [self.rng.getrandbits(24) for _ in range(n)]
        self.uptime_base = [self.rng.getrandbits(28) for _ in range(n)]
        self.agent_seq = list(self.agent_base)
        self.streams: dict[tuple[int, str, int], int] = {}
        self.stream_base: list[int] = []
        self.stream_seq: list[int] = []
        self.cursor = [0] * n  # next port to poll, per agent
        self.last_agent = 0

    def next_sequence(self, agent: int, family: str, ifindex: int) -> int:
        self.last_agent = agent
        key = (agent, family, ifindex)
        stream = self.streams.get(key)
        if stream is None:
            stream = self.streams[key] = len(self.stream_base)
            base = self.rng.getrandbits(16)
            self.stream_base.append(base)
            self.stream_seq.append(base)
        self.stream_seq[stream] = (self.stream_seq[stream] + 1) & 0xFFFFFFFF
        return self.stream_seq[stream]

    def flow(self, agent: int, expanded: bool) -> FlowSample:
        ports = self.fabric.ports[agent]
        in_port = self.rng.choice(ports)
        header, frame_length = _roce_frame(self.rng)
        seq = self.next_sequence(agent, "flow", in_port)
        return FlowSample(
            expanded=expanded,
            sequence=seq,
            source=DataSource(0, in_port),
            sampling_rate=SAMPLING_RATE,
            sample_pool=(seq * SAMPLING_RATE) & 0xFFFFFFFF,
            drops=0,
            input=Interface(0, in_port),
            output=Interface(0, self.rng.choice(ports)),
            records=(sampled_header(1, frame_length, 4, header), ExtendedSwitch(100, 3, 100, 3)),
        )

    def drop(self, agent: int) -> DropSample:
        ports = self.fabric.ports[agent]
        in_port = self.rng.choice(ports)
        header, frame_length = _roce_frame(self.rng)
        buffer_drop = self.rng.random() < 0.7  # congestion dominates an AI fabric's drops
        reason = self.rng.choice(BUFFER_REASONS if buffer_drop else OTHER_REASONS)
        records: tuple = (sampled_header(1, frame_length, 4, header),)
        if buffer_drop:
            records += (ExtendedEgressQueue(self.rng.randrange(8)),)
        return DropSample(
            expanded=True,
            sequence=self.next_sequence(agent, "drop", in_port),
            source=DataSource(0, in_port),
            drops=0,
            input_ifindex=in_port,
            output_ifindex=self.rng.choice(ports),
            reason=reason,
            records=records,
        )

    def counter(self, agent: int) -> CounterSample:
        ports = self.fabric.ports[agent]
        port = ports[self.cursor[agent] % len(ports)]
        self.cursor[agent] += 1
        octets = self.rng.getrandbits(48)
        generic = GenericInterfaceCounters(
            port, 6, 400_000_000_000, 1, 3,
            octets, (octets // 4000) & 0xFFFFFFFF, 10, 2, self.rng.randrange(3), 0, 0,
            octets * 2, (octets // 3000) & 0xFFFFFFFF, 12, 1, self.rng.randrange(5), 0, 0,
        )  # fmt: skip
        records: tuple = (generic, EthernetCounters(*([0] * 13)))
        if self.rng.random() < 0.25:
            records += (PortName(f"swp{port}"),)
        seq = self.next_sequence(agent, "counter", port)
        return CounterSample(False, seq, DataSource(0, port), records)

    def fill(self, make: Callable[[], Sample], first: Sample | None = None) -> list[Sample]:
        """Samples from ``make()`` until a few candidates in a row do not fit the datagram."""
        samples: list[Sample] = [first] if first is not None else []
        size = HEADER_BYTES + sum(len(encode_sample(s)) for s in samples)
        misses = 0
        while misses < 3:
            sample = make()
            grown = size + len(encode_sample(sample))
            if grown > DATAGRAM_LIMIT:
                self.unwind(sample)
                misses += 1
                continue
            samples.append(sample)
            size = grown
        return samples

    def unwind(self, sample: Sample) -> None:
        """Give back the sequence number a sample that did not fit took."""
        stream = self.streams[(self.last_agent, sample.KIND, sample.source.index)]
        assert self.stream_seq[stream] == sample.sequence
        self.stream_seq[stream] = (sample.sequence - 1) & 0xFFFFFFFF


def _entry(data: bytes, agent: int, builder: _Builder, samples: list[Sample]) -> Entry:
    """Patch points of an encoded IPv4-agent datagram, found by walking its bytes."""
    patches = []
    pos = HEADER_BYTES
    for sample in samples:
        tag, length = struct.unpack_from(">II", data, pos)
        fmt = tag & 0xFFF
        seq = struct.unpack_from(">I", data, pos + 8)[0]
        assert seq == sample.sequence
        family = sample.KIND
        stream = builder.streams[(agent, family, sample.source.index)]
        pool = {1: 12, 3: 16}.get(fmt, 0)
        rate = sample.sampling_rate if isinstance(sample, FlowSample) else 0
        patches.append(SamplePatch(pos + 8, fmt, pool, stream, rate))
        pos += 8 + length
    assert pos == len(data)
    return Entry(agent, data, 16, 20, patches)


def build_corpus(
    kind: str = "mixed", fabric: Fabric | None = None, datagrams: int = 0, seed: int = 1
) -> Corpus:
    """A corpus of ``kind`` (see the module docstring); ``datagrams`` 0 = the kind's default."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}")
    fabric = fabric or build_fabric()
    b = _Builder(fabric, kind, seed)
    n_agents = len(fabric.agents)
    order = list(range(n_agents))
    b.rng.shuffle(order)  # agents interleave, as datagrams from many switches do on the wire
    entries: list[Entry] = []

    share = {"mixed": 0.1, "flow-expanded": 1.0}.get(kind, 0.0)

    def make(agent: int, what: str) -> Callable[[], Sample]:
        if what == "drop":
            return lambda: b.drop(agent)
        if what == "counter":
            return lambda: b.counter(agent)
        if kind == "mixed":  # about 3 % of the samples of flow datagrams are drops
            return lambda: (
                b.drop(agent) if b.rng.random() < 0.03 else b.flow(agent, b.rng.random() < share)
            )
        return lambda: b.flow(agent, b.rng.random() < share)

    def emit(agent: int, samples: list[Sample]) -> None:
        b.agent_seq[agent] = (b.agent_seq[agent] + 1) & 0xFFFFFFFF
        uptime = (b.uptime_base[agent] + len(entries)) & 0xFFFFFFFF
        data = encode_datagram(
            Datagram(fabric.agents[agent], 1, 0, b.agent_seq[agent], uptime, tuple(samples))
        )
        entries.append(_entry(data, agent, b, samples))

    if kind == "counters":
        for agent in order:
            ports = len(fabric.ports[agent])
            while b.cursor[agent] < ports:
                samples = []
                size = HEADER_BYTES
                while b.cursor[agent] < ports:
                    s = b.counter(agent)
                    if size + len(encode_sample(s)) > DATAGRAM_LIMIT:
                        b.cursor[agent] -= 1
                        b.stream_seq[b.streams[(agent, "counter", s.source.index)]] -= 1
                        break
                    samples.append(s)
                    size += len(encode_sample(s))
                emit(agent, samples)
    else:
        count = datagrams or {"drops": 4 * n_agents}.get(kind, 32 * n_agents)
        for n in range(count):
            agent = order[n % n_agents]
            if kind == "drops":
                emit(agent, b.fill(make(agent, "drop")))
            elif kind == "mixed" and b.rng.random() < 0.05:
                emit(agent, b.fill(make(agent, "counter")))
            else:
                emit(agent, b.fill(make(agent, "flow")))
    stream_base = b.stream_base
    return Corpus(kind, entries, b.agent_base, b.uptime_base, stream_base, b.streams)


def corpus_from_datagrams(datagrams: list[bytes], kind: str = "capture") -> Corpus:
    """A corpus (patch table included) from encoded datagrams, e.g. a simulator capture: the
    sequence fields are found by walking the XDR; every stream restarts from its first value."""
    agents: dict[bytes, int] = {}
    streams: dict[tuple[int, str, int], int] = {}
    agent_base: list[int] = []
    uptime_base: list[int] = []
    stream_base: list[int] = []
    entries = []
    families = {1: "flow", 3: "flow", 2: "counter", 4: "counter", 5: "drop"}
    for data in datagrams:
        address_len = 16 if struct.unpack_from(">I", data, 4)[0] == 2 else 4
        seq_off = 12 + address_len
        address = data[8 : 8 + address_len]
        agent = agents.get(address)
        if agent is None:
            agent = agents[address] = len(agent_base)
            agent_base.append((struct.unpack_from(">I", data, seq_off)[0] - 1) & 0xFFFFFFFF)
            uptime_base.append(struct.unpack_from(">I", data, seq_off + 4)[0])
        count = struct.unpack_from(">I", data, seq_off + 8)[0]
        pos = seq_off + 12
        patches = []
        for _ in range(count):
            tag, length = struct.unpack_from(">II", data, pos)
            fmt = tag & 0xFFF
            family = families.get(fmt) if tag >> 12 == 0 else None
            if family is not None:
                seq, a, b, c = struct.unpack_from(">IIII", data, pos + 8)
                source = a if fmt in (1, 2) else (a << 32) | b
                key = (agent, family, source)
                stream = streams.get(key)
                if stream is None:
                    stream = streams[key] = len(stream_base)
                    stream_base.append((seq - 1) & 0xFFFFFFFF)
                rate = {1: b, 3: c}.get(fmt, 0)
                pool = {1: 12, 3: 16}.get(fmt, 0)
                patches.append(SamplePatch(pos + 8, fmt, pool, stream, rate))
            pos += 8 + length
        entries.append(Entry(agent, data, seq_off, seq_off + 4, patches))
    return Corpus(kind, entries, agent_base, uptime_base, stream_base, streams)


def write_corpus(corpus: Corpus, path: Path) -> None:
    """The corpus and its patch table in the layout of the module docstring."""
    out = bytearray(
        _HEAD.pack(MAGIC, len(corpus.entries), len(corpus.agent_base), len(corpus.stream_base), 0)
    )
    out += struct.pack(f"<{len(corpus.agent_base)}I", *corpus.agent_base)
    out += struct.pack(f"<{len(corpus.uptime_base)}I", *corpus.uptime_base)
    out += struct.pack(f"<{len(corpus.stream_base)}I", *corpus.stream_base)
    for e in corpus.entries:
        out += _ENTRY.pack(e.agent, len(e.data), len(e.samples), e.sequence_offset, e.uptime_offset)
        for s in e.samples:
            out += _SAMPLE.pack(s.offset, s.format, s.pool_offset, s.stream, s.rate)
        out += e.data
    path.write_bytes(bytes(out))


def patch_pass(corpus: Corpus, passes: int) -> list[bytes]:
    """The datagrams as a sender writes them on pass ``passes`` (0 = the corpus bytes): the
    Python mirror of the sender's patching, for tests."""
    agent_seq = list(corpus.agent_base)
    stream_seq = list(corpus.stream_base)
    out: list[bytes] = []
    per_agent = Counter(e.agent for e in corpus.entries)
    per_stream = Counter(s.stream for e in corpus.entries for s in e.samples)
    for a, n in per_agent.items():
        agent_seq[a] = (agent_seq[a] + passes * n) & 0xFFFFFFFF
    for st, n in per_stream.items():
        stream_seq[st] = (stream_seq[st] + passes * n) & 0xFFFFFFFF
    for e in corpus.entries:
        data = bytearray(e.data)
        agent_seq[e.agent] = (agent_seq[e.agent] + 1) & 0xFFFFFFFF
        struct.pack_into(">I", data, e.sequence_offset, agent_seq[e.agent])
        for s in e.samples:
            stream_seq[s.stream] = seq = (stream_seq[s.stream] + 1) & 0xFFFFFFFF
            struct.pack_into(">I", data, s.offset, seq)
            if s.pool_offset:
                struct.pack_into(">I", data, s.offset + s.pool_offset, (seq * s.rate) & 0xFFFFFFFF)
        out.append(bytes(data))
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: build a corpus, print its statistics, optionally write it and the topology."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("kind", choices=KINDS, nargs="?", default="mixed")
    parser.add_argument("--datagrams", type=int, default=0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, help="write the corpus file here")
    parser.add_argument("--topology-out", type=Path, help="write the topology JSON here")
    args = parser.parse_args(argv)
    import json

    fabric = build_fabric()
    corpus = build_corpus(args.kind, fabric, args.datagrams, args.seed)
    sizes = [len(e.data) for e in corpus.entries]
    ports = {(e.agent, s.stream) for e in corpus.entries for s in e.samples}
    print(f"{args.kind}: {len(sizes)} datagrams, mean {sum(sizes) / len(sizes):.0f} bytes, "
          f"{sum(len(e.samples) for e in corpus.entries) / len(sizes):.2f} samples each, "
          f"{len(set(e.agent for e in corpus.entries))} agents, {len(ports)} streams, "
          f"samples {dict(corpus.counts())}")  # fmt: skip
    if args.out:
        write_corpus(corpus, args.out)
    if args.topology_out:
        args.topology_out.write_text(json.dumps(fabric.topology))
    return 0


if __name__ == "__main__":
    sys.exit(main())

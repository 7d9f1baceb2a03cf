"""Deterministic benchmark corpus: what a GPU-fabric switch sends to an sFlow collector.

Each datagram is filled up to 1,400 bytes (IPv4 agent, 28-byte header) with:

* RoCEv2 flow samples (about 6 per datagram): 128-byte sampled headers of Ethernet [/802.1Q] /
  IPv4 (sometimes IPv6) / UDP 4791 / BTH frames, built with ``decoders.frames``. Operation mix of
  an RDMA-heavy job: RDMA WRITE FIRST/MIDDLE/LAST/ONLY (RETH on FIRST/ONLY), READ REQUEST (RETH)
  and READ RESPONSE FIRST/MIDDLE/LAST/ONLY (AETH), ACKs with AETH credit codes, SEND ONLY, a few
  CNPs (opcode 0x81), ECN CE on some data packets. Every flow sample carries extended_switch
  (1001); a third also carry extended_egress_queue/transit/queue (1036/1039/1040).
* Sprinkled counter samples (generic 1 + ethernet 2 + port_name 1005), about one datagram in 8,
  and drop notifications (0:5 with a sampled header and egress queue), about one in 40.

Everything comes from ``random.Random(seed)``, so a corpus is the same bytes on every run.
``python bench/corpus.py`` prints its statistics; ``--pcap FILE`` writes it as a capture
(UDP 192.0.2.x → 192.0.2.254:6343).
"""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
from dataclasses import dataclass
from pathlib import Path

if importlib.util.find_spec("decoders") is None:  # a checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from decoders.encode import encode_datagram, encode_sample, sampled_header
from decoders.frames import aeth, reth, rocev2_frame
from decoders.records import (
    CounterSample,
    Datagram,
    DataSource,
    DropSample,
    EthernetCounters,
    ExtendedEgressQueue,
    ExtendedQueue,
    ExtendedSwitch,
    ExtendedTransit,
    FlowSample,
    GenericInterfaceCounters,
    Interface,
    PortName,
    Sample,
)

DATAGRAM_BYTES = 1400
HEADER_BYTES = 128
SAMPLING_RATE = 10_000
MTU_PAYLOAD = 4096
AGENTS = 32
PORTS = 64

# (weight, opcode, what it carries) — an RDMA WRITE / READ heavy collective plus ACKs and CNPs.
_OPERATIONS: tuple[tuple[int, int, str], ...] = (
    (8, 0x06, "reth"),  # RC RDMA WRITE FIRST
    (30, 0x07, "data"),  # RC RDMA WRITE MIDDLE
    (8, 0x08, "data"),  # RC RDMA WRITE LAST
    (5, 0x0A, "reth"),  # RC RDMA WRITE ONLY
    (4, 0x0C, "read"),  # RC RDMA READ REQUEST
    (3, 0x0D, "aeth-data"),  # RC RDMA READ RESPONSE FIRST
    (8, 0x0E, "data"),  # RC RDMA READ RESPONSE MIDDLE
    (3, 0x0F, "aeth-data"),  # RC RDMA READ RESPONSE LAST
    (2, 0x10, "aeth-data"),  # RC RDMA READ RESPONSE ONLY
    (18, 0x11, "ack"),  # RC ACKNOWLEDGE
    (6, 0x04, "data"),  # RC SEND ONLY
    (3, 0x81, "cnp"),  # CNP
)
_WEIGHTS = [w for w, _, _ in _OPERATIONS]


@dataclass
class _Agent:
    address: str
    sequence: int
    uptime_ms: int
    flow_sequence: int
    counter_sequence: int
    drop_sequence: int
    pool: int


def _roce_frame(rng: random.Random) -> tuple[bytes, int]:
    """One sampled RoCEv2 frame: (first 128 bytes, original frame length incl. FCS)."""
    _, opcode, kind = rng.choices(_OPERATIONS, _WEIGHTS)[0]
    ext = b""
    payload_len = MTU_PAYLOAD
    if kind in ("reth", "read"):
        ext = reth(rng.getrandbits(48) << 12, rng.getrandbits(32), rng.choice((1, 2, 4, 8)) << 15)
        payload_len = 0 if kind == "read" else MTU_PAYLOAD
    elif kind == "aeth-data":
        ext = aeth("ACK", credits=rng.choice((8, 16, 32)), msn=rng.getrandbits(24))
    elif kind == "ack":
        ext = aeth("ACK", credits=rng.choice((4, 8, 12, 16, 64)), msn=rng.getrandbits(24))
        payload_len = 0
    elif kind == "cnp":
        ext = bytes(16)
        payload_len = 0
    elif opcode in (0x08, 0x04):  # a last or only segment: any size
        payload_len = rng.randrange(64, MTU_PAYLOAD + 1, 64)
    ip_version = 6 if rng.random() < 0.1 else 4
    host = rng.randrange(1, 250)
    peer = rng.randrange(1, 250)
    src_ip = f"10.{host >> 4}.{host & 15}.{host}" if ip_version == 4 else f"fd00::{host:x}"
    dst_ip = f"10.{peer >> 4}.{peer & 15}.{peer}" if ip_version == 4 else f"fd00::{peer:x}"
    frame = rocev2_frame(
        opcode,
        dest_qp=rng.getrandbits(24),
        psn=rng.getrandbits(24),
        ext=ext,
        payload=bytes(payload_len),
        src_mac=bytes((2, 0, 0, 0, 0, host)),
        dst_mac=bytes((2, 0, 0, 0, 1, peer)),
        vlans=(rng.choice((100, 200)),) if rng.random() < 0.5 else (),
        ip_version=ip_version,
        src_ip=src_ip,
        dst_ip=dst_ip,
        dscp=0 if opcode == 0x81 else 26,
        ecn=3 if kind in ("data", "reth") and rng.random() < 0.08 else (1 if opcode == 0x81 else 2),
        src_port=rng.randrange(49152, 65536),
        with_icrc=False,  # only the first 128 bytes are kept; ICRC changes nothing there
        solicited_event=opcode == 0x11 and rng.random() < 0.1,
        ack_req=kind in ("reth", "read") or rng.random() < 0.05,
    )
    return frame[:HEADER_BYTES], len(frame) + 4 + 4  # + ICRC + FCS


def _flow_sample(rng: random.Random, agent: _Agent) -> FlowSample:
    header, frame_length = _roce_frame(rng)
    agent.flow_sequence += 1
    agent.pool += SAMPLING_RATE + rng.randrange(-50, 50)
    in_port = rng.randrange(1, PORTS + 1)
    out_port = rng.randrange(1, PORTS + 1)
    records: list = [
        sampled_header(1, frame_length, 4, header),
        ExtendedSwitch(100, 3, 100, 3),
    ]
    if rng.random() < 1 / 3:
        queue = rng.randrange(8)
        records += [
            ExtendedEgressQueue(queue),
            ExtendedTransit(rng.randrange(600, 40_000)),
            ExtendedQueue(rng.randrange(0, 2_000_000)),
        ]
    return FlowSample(
        expanded=rng.random() < 0.1,
        sequence=agent.flow_sequence,
        source=DataSource(0, in_port),
        sampling_rate=SAMPLING_RATE,
        sample_pool=agent.pool & 0xFFFFFFFF,
        drops=0,
        input=Interface(0, in_port),
        output=Interface(0, out_port),
        records=tuple(records),
    )


def _counter_sample(rng: random.Random, agent: _Agent) -> CounterSample:
    port = rng.randrange(1, PORTS + 1)
    agent.counter_sequence += 1
    octets = rng.getrandbits(48)
    generic = GenericInterfaceCounters(
        port, 6, 400_000_000_000, 1, 3,
        octets, (octets // 4000) & 0xFFFFFFFF, 10, 2, rng.randrange(3), 0, 0,
        octets * 2, (octets // 3000) & 0xFFFFFFFF, 12, 1, rng.randrange(5), 0, 0,
    )  # fmt: skip
    ethernet = EthernetCounters(*([0] * 13))
    name = PortName(f"Ethernet{port * 8}")
    return CounterSample(
        False, agent.counter_sequence, DataSource(0, port), (generic, ethernet, name)
    )


def _drop_sample(rng: random.Random, agent: _Agent) -> DropSample:
    header, frame_length = _roce_frame(rng)
    agent.drop_sequence += 1
    in_port = rng.randrange(1, PORTS + 1)
    return DropSample(
        expanded=True,
        sequence=agent.drop_sequence,
        source=DataSource(0, in_port),
        drops=0,
        input_ifindex=in_port,
        output_ifindex=rng.randrange(1, PORTS + 1),
        reason=rng.choice((259, 259, 260, 258, 265)),
        records=(sampled_header(1, frame_length, 4, header), ExtendedEgressQueue(3)),
    )


def build_corpus(count: int = 2000, seed: int = 1) -> list[bytes]:
    """``count`` datagrams of at most 1,400 bytes (see the module docstring)."""
    rng = random.Random(seed)
    agents = [
        _Agent(f"192.0.2.{i + 1}", rng.getrandbits(20), rng.getrandbits(30), 0, 0, 0, 0)
        for i in range(AGENTS)
    ]
    corpus = []
    for n in range(count):
        agent = agents[n % AGENTS]
        agent.sequence += 1
        agent.uptime_ms += rng.randrange(1, 20)
        samples: list[Sample] = []
        size = 28
        if rng.random() < 1 / 8:
            samples.append(_counter_sample(rng, agent))
        if rng.random() < 1 / 40:
            samples.append(_drop_sample(rng, agent))
        size += sum(len(encode_sample(s)) for s in samples)
        misses = 0
        while misses < 4:  # close the datagram when a few candidates in a row do not fit
            sample = _flow_sample(rng, agent)
            grown = size + len(encode_sample(sample))
            if grown > DATAGRAM_BYTES:
                agent.flow_sequence -= 1
                misses += 1
                continue
            samples.append(sample)
            size = grown
        rng.shuffle(samples)
        datagram = Datagram(
            agent.address, 1, 0, agent.sequence, agent.uptime_ms & 0xFFFFFFFF, tuple(samples)
        )
        data = encode_datagram(datagram)
        assert len(data) == size <= DATAGRAM_BYTES
        corpus.append(data)
    return corpus


def corpus_stats(corpus: list[bytes]) -> dict[str, float]:
    """Counts and sizes, from the full decoder."""
    from decoders.parse import decode_datagram

    flows = counters = drops = 0
    for data in corpus:
        for sample in decode_datagram(data).samples:
            kind = sample.KIND
            flows += kind == "flow"
            counters += kind == "counter"
            drops += kind == "drop"
    n = len(corpus)
    return {
        "datagrams": n,
        "bytes_mean": sum(map(len, corpus)) / n,
        "flow_samples": flows,
        "flow_samples_per_datagram": flows / n,
        "counter_samples": counters,
        "drop_samples": drops,
    }


def write_pcap(corpus: list[bytes], path: Path) -> None:
    """The corpus as UDP datagrams to 192.0.2.254:6343, one per frame."""
    import dpkt

    with path.open("wb") as handle:
        writer = dpkt.pcap.Writer(handle)
        for i, data in enumerate(corpus):
            udp = dpkt.udp.UDP(sport=50000, dport=6343, data=data)
            udp.ulen = len(udp)
            ip = dpkt.ip.IP(
                src=bytes((192, 0, 2, 1 + i % AGENTS)), dst=bytes((192, 0, 2, 254)), p=17, data=udp
            )
            ip.len = len(ip)
            eth = dpkt.ethernet.Ethernet(
                src=bytes((2, 0, 0, 0, 9, 1)), dst=bytes((2, 0, 0, 0, 9, 2)), data=ip
            )
            writer.writepkt(bytes(eth), ts=1_700_000_000 + i / 1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=2000, help="datagrams (default 2000)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--pcap", type=Path, help="also write the corpus to this pcap file")
    args = parser.parse_args(argv)
    corpus = build_corpus(args.count, args.seed)
    for key, value in corpus_stats(corpus).items():
        print(f"{key:>26}: {value:,.2f}" if isinstance(value, float) else f"{key:>26}: {value:,}")
    if args.pcap:
        write_pcap(corpus, args.pcap)
        print(f"wrote {args.pcap}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

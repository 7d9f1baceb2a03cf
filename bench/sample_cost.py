"""Receive-side cost per sample, by sample kind: one receiver's decode + state, in process.

For each kind (compact and expanded RoCEv2 flow samples, interface counter samples, switch and
kernel drop notifications) a corpus is built for a 512-switch fabric (the simulator's leaf/spine
generator, its topology loaded): every agent sends datagrams of one kind in rounds, one round a
second of agent time, with advancing datagram and per-source sample sequence numbers and
counters that advance at a plausible rate. A ``FabricState`` behind the fast-path ``Pipeline``
(what ``fabricscope serve`` runs in each worker) takes one warm-up round (baselines, agents past
probation), then the timed rounds, with a ``drain`` after each (the once-a-tick hand-over is
part of the cost, and so are the drop log's events: at most 1,000 a tick, each decoding its
sample in full), under the garbage collector thresholds a receiver sets. The figure is CPU time
(``time.process_time``) per sample, median of ``--repeat`` runs. ``--flow-definitions N``
makes the first N of ``bench/flow_set.py`` active in the state (what they cost per sample).

The drop log is a bounded cost per tick, not per sample: a tick of this corpus carries 16,384
drop samples per receiver, so its 1,000 events weigh on every one of them. For drop samples the
run is repeated with the log's bound at 0 (every event skipped and counted, as past the bound in
a flood): that figure is the cost of one more drop sample, and the difference, per tick, is
what the log costs (printed in ms per tick and µs per event).

    python bench/sample_cost.py                  # the selected build (compiled if present)
    FABRICSCOPE_PURE=1 python bench/sample_cost.py   # the plain-Python build
    python bench/sample_cost.py --kinds counter,drop --rounds 5
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# bench/collector.py would shadow the collector package: look for packages from the checkout.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
if importlib.util.find_spec("collector") is None:  # a checkout without an install
    sys.path.insert(0, str(_HERE.parent))

from collector.flows.definition import FlowDefinition, parse_definition  # noqa: E402
from collector.receive import accounting  # noqa: E402
from collector.receive.drops import MAX_EVENTS_PER_TICK, DropRecorder  # noqa: E402
from collector.receive.pipeline import Pipeline  # noqa: E402
from collector.receive.receivers import GC_THRESHOLDS  # noqa: E402
from collector.receive.state import FabricState  # noqa: E402
from decoders import fast  # noqa: E402
from decoders.encode import encode_datagram, sampled_header  # noqa: E402
from decoders.frames import aeth, reth, rocev2_frame  # noqa: E402
from decoders.records import (  # noqa: E402
    CounterSample,
    Datagram,
    DataSource,
    DropSample,
    EthernetCounters,
    ExtendedEgressQueue,
    ExtendedFunction,
    ExtendedLinuxDropReason,
    ExtendedSwitch,
    FlowSample,
    GenericInterfaceCounters,
    Interface,
    PortName,
    Sample,
)
from simulator.fabric import FabricSpec, build_fabric, topology_json  # noqa: E402
from topology import TopologyIndex, parse_topology  # noqa: E402
from topology.resolver import PortResolver  # noqa: E402

KINDS = ("flow", "expanded", "counter", "drop")
SAMPLES_PER_DATAGRAM = {"flow": 7, "expanded": 6, "counter": 7, "drop": 8}
RATE = 4096
SPEED = 400_000_000_000


class Corpus:
    """Datagrams of one kind for every agent of a fabric, round by round."""

    def __init__(self, kind: str, switches: int, seed: int = 1) -> None:
        self.kind = kind
        spines = max(1, switches // 16)
        self.fabric = build_fabric(FabricSpec(leaves=switches - spines, spines=spines))
        self.topology = topology_json(self.fabric)
        self.rng = random.Random(seed)
        f = self.fabric
        self.ports = [
            [f.port_ifindex[p] for p in range(first, first + count)]
            for first, count in f.switch_ports
        ]
        self.names = [
            [f.port_name(p) for p in range(first, first + count)] for first, count in f.switch_ports
        ]
        n = len(f.agents)
        self.sequence = [0] * n
        self.sample_sequence: dict[tuple[int, int], int] = {}
        self.octets: dict[tuple[int, int], int] = {}
        self.cursor = [0] * n
        self.frames = [self._frame(i) for i in range(64)]

    def _frame(self, i: int) -> bytes:
        opcode = (0x06, 0x07, 0x08, 0x0A, 0x11, 0x0E)[i % 6]
        ext = b""
        if opcode in (0x06, 0x0A):
            ext = reth(0x1000, 0x22, 65536)
        elif opcode == 0x11:
            ext = aeth("ACK", credits=i)
        frame = rocev2_frame(
            opcode,
            dest_qp=0x100 + i,
            psn=i,
            ext=ext,
            payload=bytes(256),
            src_ip=f"10.128.{i}.1",
            dst_ip=f"10.128.{i}.2",
            src_port=49152 + i,
            ecn=3 if i % 9 == 0 else 2,
        )
        return frame[:128]

    def _next(self, agent: int, source: int) -> int:
        key = (agent, source)
        value = self.sample_sequence.get(key, 0) + 1
        self.sample_sequence[key] = value
        return value

    def _sample(self, agent: int, port_slot: int) -> Sample:
        ifindex = self.ports[agent][port_slot]
        kind = self.kind
        if kind in ("flow", "expanded"):
            frame = self.frames[self.rng.randrange(len(self.frames))]
            seq = self._next(agent, ifindex)
            return FlowSample(
                kind == "expanded",
                seq,
                DataSource(0, ifindex),
                RATE,
                seq * RATE,
                0,
                Interface(0, ifindex),
                Interface(0, self.ports[agent][(port_slot + 1) % len(self.ports[agent])]),
                (sampled_header(1, len(frame) + 4000, 4, frame), ExtendedSwitch(1, 0, 1, 0)),
            )
        if kind == "counter":
            key = (agent, ifindex)
            octets = self.octets.get(key, 0) + self.rng.randrange(10**9, 10**10)
            self.octets[key] = octets
            packets = (octets // 4000) & 0xFFFFFFFF
            generic = GenericInterfaceCounters(
                ifindex, 6, SPEED, 1, 3,
                octets, packets, 10, 2, 1, 0, 0,
                octets * 2, packets * 2, 12, 1, 2, 0, 0,
            )  # fmt: skip
            records = (generic, EthernetCounters(*([0] * 13)))
            if port_slot % 2 == 0:
                records += (PortName(self.names[agent][port_slot]),)
            sequence = self._next(agent, -ifindex)
            return CounterSample(False, sequence, DataSource(0, ifindex), records)
        frame = self.frames[self.rng.randrange(len(self.frames))]
        out_if = self.ports[agent][(port_slot + 3) % len(self.ports[agent])]
        header = sampled_header(1, len(frame) + 4000, 4, frame)
        if port_slot % 4 == 0:  # a kernel drop: Linux reason and function
            records: tuple[object, ...] = (
                header,
                ExtendedLinuxDropReason("SKB_DROP_REASON_NEIGH_FAILED"),
                ExtendedFunction("neigh_invalidate"),
            )
            reason = 0
        else:  # a switch buffer drop: reason code and egress queue
            records = (header, ExtendedEgressQueue(3))
            reason = 259
        return DropSample(
            True,
            self._next(agent, -(1 << 20)),
            DataSource(0, ifindex),
            0,
            ifindex,
            out_if,
            reason,
            records,  # type: ignore[arg-type]
        )

    def round(self, uptime_ms: int) -> list[bytes]:
        """One second of agent time: per agent a counter datagram per ``per`` ports, or 4."""
        out = []
        per = SAMPLES_PER_DATAGRAM[self.kind]
        for agent, address in enumerate(self.fabric.agents):
            ports = len(self.ports[agent])
            for _ in range(max(1, ports // per) if self.kind == "counter" else 4):
                samples = []
                for _ in range(per):
                    slot = self.cursor[agent] % ports
                    self.cursor[agent] += 1
                    samples.append(self._sample(agent, slot))
                self.sequence[agent] += 1
                datagram = Datagram(address, 1, 0, self.sequence[agent], uptime_ms, tuple(samples))
                out.append(encode_datagram(datagram))
        return out


def _flow_set(n: int) -> list[tuple[FlowDefinition, int]]:
    spec = importlib.util.spec_from_file_location("_bench_flow_set", _HERE / "flow_set.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    chosen = module.FLOW_DEFINITIONS[:n]
    return [(parse_definition(f"bench{i}", d), i + 1) for i, d in enumerate(chosen)]


def measure(
    kind: str, switches: int, rounds: int, repeat: int, flows: int = 0, drop_log: bool = True
) -> tuple[float, int, int]:
    """(median CPU µs per sample, samples per run, ports of the fabric) for one kind; without
    ``drop_log`` no drop event is kept (each is counted as skipped)."""
    corpus = Corpus(kind, switches)
    warmup = [corpus.round(1000 * (r + 1)) for r in range(2)]
    timed = [corpus.round(1000 * (r + 3)) for r in range(rounds)]
    per = SAMPLES_PER_DATAGRAM[kind]
    samples = sum(len(batch) for batch in timed) * per
    topology = parse_topology(corpus.topology)
    figures = []
    gc.set_threshold(*GC_THRESHOLDS)  # as a receiver runs
    for _ in range(repeat):
        state = FabricState(PortResolver(TopologyIndex(topology)))
        if flows:
            state.set_flows(_flow_set(flows))
        if not drop_log:
            state.observer.drops = DropRecorder(max_events=0)
        handle: Callable[[bytes, float], None] = Pipeline(state, fast=True).handler
        for r, batch in enumerate(warmup):
            for data in batch:
                handle(data, float(r + 1))
            state.drain(float(r + 1))
        now = float(len(warmup))
        start = time.process_time()
        for batch in timed:
            now += 1.0
            for data in batch:
                handle(data, now)
            state.drain(now)
        figures.append((time.process_time() - start) / samples * 1e6)
        errors = state.drain(now).counters.get("decode_errors")
        if errors:
            raise SystemExit(f"{kind}: the corpus has decode errors: {errors}")
    return statistics.median(figures), samples, sum(len(p) for p in corpus.ports)


def main(argv: list[str] | None = None) -> int:
    """Print the cost per sample of each kind."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma list: " + ", ".join(KINDS))
    parser.add_argument("--switches", type=int, default=512)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds (agent seconds)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--flow-definitions", type=int, default=0, choices=(0, 5, 20))
    args = parser.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown kind {unknown[0]!r}")
    print(
        f"scan: {fast.IMPLEMENTATION}, accounting: {accounting.IMPLEMENTATION}; "
        f"{args.switches} switches, median of {args.repeat}; "
        f"flow definitions active: {args.flow_definitions}"
    )
    for kind in kinds:
        cost, samples, ports = measure(
            kind, args.switches, args.rounds, args.repeat, args.flow_definitions
        )
        print(f"  {kind:<9} {cost:7.2f} µs/sample  ({samples:,} samples per run, {ports:,} ports)")
        if kind == "drop":
            bare, _, _ = measure(
                kind, args.switches, args.rounds, args.repeat, args.flow_definitions, False
            )
            per_tick = (cost - bare) * samples / args.rounds  # µs of the log in one tick
            print(
                f"  {'drop, past the log bound':<9} {bare:7.2f} µs/sample; the drop log: "
                f"{per_tick / 1000:.1f} ms per tick ({per_tick / MAX_EVENTS_PER_TICK:.1f} µs "
                f"per event, {MAX_EVENTS_PER_TICK:,} a tick)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

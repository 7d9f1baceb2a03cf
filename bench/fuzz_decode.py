"""Fuzz ``decode_datagram`` and the fast path (plain and compiled) against each other.

    python bench/fuzz_decode.py [--count 1000000] [--seconds S] [--engine atheris|mutate]
                                [--seed N] [--compiled-path FILE] [--artifacts DIR]

Every input goes through the full decoder and every fast path build. A failure is:

* any exception other than ``DecodeError`` from either decoder, or a ``DecodeError`` with the
  reason ``internal_error`` (a bug caught by the decoder's last-resort handler);
* the fast path accepting a datagram the full decoder rejects or the other way round, or
  rejecting it with another reason, offset or path;
* for an accepted datagram: a different number of flow-sample rows, counter and drop rows or
  other samples that do not follow the scan's rule or hold other values than the full decoder's
  samples (``tests/row_oracle.py``), key flow row fields (sequence,
  sampling rate, interfaces, frame length, DSCP/ECN, protocol, ports, BTH opcode, QP, RETH DMA
  length, AETH syndrome, transit delay, queue depth) that differ from the decoded records, or
  compiled rows (flow, counter, drop) that differ in any column from the plain-Python rows.

On a failure the input is printed as hex with the traceback (and saved under ``--artifacts``) and
the exit status is 1. Engines: ``atheris`` (coverage-guided libFuzzer, Python code instrumented;
the default when atheris is installed) or ``mutate`` (seeded mutations: bit flips, byte and word
overwrites, length/count nudges, truncations, insertions, deletions, splices of corpus datagrams
and random bytes; reproducible with ``--seed``). Seeds: the benchmark corpus, the shared capture
vectors and payloads when present, and small edge cases. Meant to run outside CI.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import importlib.util
import os
import random
import struct
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if importlib.util.find_spec("decoders") is None:  # a checkout without an install
    sys.path.insert(0, str(REPO))


class Failure(AssertionError):
    """The decoders disagree, or one raised something it must not."""


# ---------------------------------------------------------------------------------------------
# The check


class Checker:
    """Runs one input through every decoder and compares (see the module docstring)."""

    def __init__(self, builds: list[tuple[str, ModuleType]]) -> None:
        from decoders import fastpath
        from decoders.errors import DecodeError
        from decoders.parse import decode_datagram, decode_sample
        from decoders.records import (
            ExtendedEgressQueue,
            ExtendedQueue,
            ExtendedTransit,
            FlowSample,
            SampledHeader,
        )

        sys.path.insert(0, str(REPO))  # the row rule's oracle lives with the tests
        from tests.row_oracle import check_counter_and_drop_rows

        self.check_rows = check_counter_and_drop_rows
        self.fp = fastpath
        self.DecodeError = DecodeError
        self.decode_datagram = decode_datagram
        self.decode_sample = decode_sample
        self.FlowSample = FlowSample
        self.SampledHeader = SampledHeader
        self.extended = (
            (ExtendedTransit, fastpath.COL_TRANSIT_DELAY, "delay_ns"),
            (ExtendedQueue, fastpath.COL_QUEUE_DEPTH, "depth_bytes"),
            (ExtendedEgressQueue, fastpath.COL_EGRESS_QUEUE, "queue"),
        )
        self.builds = [(name, module, module.FlowRows()) for name, module in builds]
        self.inputs = 0
        self.outcomes: collections.Counter[str] = collections.Counter()

    def __call__(self, data: bytes) -> None:
        self.inputs += 1
        err = None
        datagram = None
        try:
            datagram = self.decode_datagram(data)
        except self.DecodeError as exc:
            err = exc
            if exc.reason == "internal_error":
                raise Failure(f"decode_datagram: internal_error ({exc.path})") from exc
        self.outcomes["accepted" if err is None else err.reason] += 1
        previous = None
        for name, module, rows in self.builds:
            rows.clear()
            got = None
            try:
                added = module.scan_datagram(data, rows)
            except self.DecodeError as exc:
                got = exc
            if err is not None:
                if got is None:
                    raise Failure(f"{name} accepts what decode_datagram rejects: {err}")
                if (got.reason, got.offset, got.path) != (err.reason, err.offset, err.path):
                    raise Failure(f"{name} raised {got!r} ({got}), decode_datagram {err}")
                continue
            if got is not None:
                if got.reason == "internal_error":
                    raise Failure(f"{name}: internal_error ({got.path})") from got
                raise Failure(f"{name} rejects what decode_datagram accepts: {got}")
            assert datagram is not None
            self._compare(name, data, datagram, rows, added)
            values = (
                rows.storage[: rows.count * self.fp.NUM_COLUMNS],
                rows.counter_storage[: rows.counter_count * self.fp.NUM_COUNTER_COLUMNS],
                rows.drop_storage[: rows.drop_count * self.fp.NUM_DROP_COLUMNS],
            )
            if previous is not None and values != previous[1]:
                raise Failure(f"{name} rows differ from {previous[0]} rows")
            previous = (name, values)

    def _compare(self, name: str, data: bytes, datagram: Any, rows: Any, added: int) -> None:
        fp = self.fp
        flows = [(i, s) for i, s in enumerate(datagram.samples) if isinstance(s, self.FlowSample)]
        if added != len(flows) or rows.count != len(flows):
            raise Failure(f"{name}: {added} rows for {len(flows)} flow samples")
        if rows.num_samples != len(datagram.samples) or rows.sequence != datagram.sequence:
            raise Failure(f"{name}: datagram header differs")
        try:
            self.check_rows(data, datagram, rows)
        except AssertionError as exc:
            raise Failure(f"{name}: counter/drop rows or other samples differ: {exc}") from exc
        for k, (index, s) in enumerate(flows):
            row = rows.row(k)
            want = {
                fp.COL_SAMPLE_INDEX: index,
                fp.COL_SEQUENCE: s.sequence,
                fp.COL_SAMPLING_RATE: s.sampling_rate,
                fp.COL_INPUT_VALUE: s.input.value,
                fp.COL_OUTPUT_FORMAT: s.output.format,
                fp.COL_OUTPUT_VALUE: s.output.value,
            }
            header = next((r for r in s.records if isinstance(r, self.SampledHeader)), None)
            p = header.packet if header is not None else None
            roce = p.roce if p is not None else None
            want[fp.COL_FRAME_LENGTH] = header.frame_length if header is not None else -1
            want[fp.COL_HEADER_LENGTH] = len(header.header) if header is not None else -1
            for column, value in (
                (fp.COL_DSCP, p and p.dscp),
                (fp.COL_ECN, p and p.ecn),
                (fp.COL_IP_PROTOCOL, p and p.ip_protocol),
                (fp.COL_DST_PORT, p and p.dst_port),
                (fp.COL_BTH_OPCODE, roce and roce.bth.opcode),
                (fp.COL_BTH_DEST_QP, roce and roce.bth.dest_qp),
                (fp.COL_RETH_DMA_LENGTH, roce and roce.reth and roce.reth.dma_length),
                (fp.COL_AETH_SYNDROME, roce and roce.aeth and roce.aeth.syndrome),
            ):
                want[column] = -1 if value is None else value
            for kind, column, field in self.extended:
                found = next((r for r in s.records if isinstance(r, kind)), None)
                want[column] = -1 if found is None else getattr(found, field)
            for column, value in want.items():
                if row[column] != value:
                    raise Failure(
                        f"{name}: sample[{index}] {fp.COLUMNS[column]} = {row[column]},"
                        f" decoded {value}"
                    )


# ---------------------------------------------------------------------------------------------
# Builds and seeds


def load_builds(compiled_path: Path | None) -> tuple[list[tuple[str, ModuleType]], str]:
    from decoders import fast, fastpath

    builds: list[tuple[str, ModuleType]] = [("pure", fastpath)]
    if compiled_path is not None:
        spec = importlib.util.spec_from_file_location("decoders._fastpath_c", compiled_path)
        if spec is None or spec.loader is None:
            raise SystemExit(f"cannot load {compiled_path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return [*builds, ("compiled", module)], f"compiled from {compiled_path}"
    module, why_not = fast.compiled_module()
    if module is None:
        return builds, f"plain Python only ({why_not})"
    return [*builds, ("compiled", module)], "plain Python and compiled"


def _shared_payloads() -> list[bytes]:
    override = os.environ.get("FABRICSCOPE_SHARED")
    captures = (Path(override) if override else REPO.parent / "shared") / "captures"
    if not captures.is_dir():
        return []
    out = [p.read_bytes() for p in sorted((captures / "vectors").glob("*.bin"))]
    import dpkt

    for pcap in sorted(captures.glob("*.pcap")):
        with pcap.open("rb") as handle:
            reader = dpkt.pcap.Reader(handle)
            for _, frame in reader:
                packet: Any = dpkt.ethernet.Ethernet(frame).data
                if isinstance(packet, dpkt.ip.IP | dpkt.ip6.IP6) and isinstance(
                    packet.data, dpkt.udp.UDP
                ):
                    out.append(bytes(packet.data.data))
    return out


def _record_kind_seeds() -> list[bytes]:
    """Datagrams with every record kind a counter or drop row reads or passes over."""
    from decoders.encode import encode_datagram
    from decoders.records import (
        CounterSample,
        Datagram,
        DataSource,
        DropSample,
        EthernetCounters,
        ExtendedAcl,
        ExtendedEgressQueue,
        ExtendedFunction,
        ExtendedHwTrap,
        ExtendedLinuxDropReason,
        ExtendedSwitch,
        ExtendedTimestamp,
        GenericInterfaceCounters,
        HostAdapter,
        HostAdapters,
        HostDescription,
        PfcCounters,
        PortName,
        ProcessorCounters,
        RawRecord,
        SfpCounters,
        SfpLane,
        VlanCounters,
    )

    generic = GenericInterfaceCounters(3, 6, 10**11, 1, 3, *range(1, 15))
    counters = CounterSample(
        False, 7, DataSource(0, 3), (generic, EthernetCounters(*range(13)), PortName("swp3"))
    )
    host = CounterSample(
        True, 8, DataSource(2, 1), (HostDescription("leaf1", "0" * 32, 2, 3, "6.1"),)
    )
    drop = DropSample(
        True, 9, DataSource(0, 3), 4, 3, 5, 0,
        (
            ExtendedLinuxDropReason("SKB_DROP_REASON_NO_SOCKET"),
            ExtendedFunction("udp_queue_rcv_skb"),
            ExtendedHwTrap("l2_drops", "ingress_vlan_filter"),
            ExtendedAcl(1, "acl-in", 1),
            ExtendedTimestamp(10**15),
            ExtendedEgressQueue(2),
            ExtendedSwitch(1, 0, 2, 0),
        ),
    )  # fmt: skip
    unknown = RawRecord(0, 2003, bytes(12))
    passed_over = CounterSample(
        True, 9, DataSource(0, 4),
        (VlanCounters(1, 2, 3, 4, 5, 6), PfcCounters(1, 2, 3, 4, 5),
         ProcessorCounters(1, 2, 3, 4, 5), SfpCounters(1, 2, 3, 4, (SfpLane(*range(10)),)), unknown,
         HostAdapters((HostAdapter(3, ("02:00:00:00:00:03",)),))),
    )  # fmt: skip
    samples = (counters, host, drop, passed_over, counters, drop)
    return [
        encode_datagram(Datagram("10.0.0.9", 1, 0, 5, 1000, samples[: n + 1]))
        for n in range(len(samples))
    ]


def build_seeds(count: int) -> list[bytes]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from corpus import build_corpus

    seeds = build_corpus(count, seed=7)
    seeds += _shared_payloads()
    seeds += _record_kind_seeds()
    header = struct.pack(">IIIIIII", 5, 1, 0x0A000001, 0, 1, 1, 0)
    seeds += [
        header,
        struct.pack(">IIIIII", 5, 0, 0, 1, 1, 0),
        struct.pack(">II16sIIII", 5, 2, bytes(16), 0, 1, 1, 0),
        struct.pack(">I", 0x00050001) + bytes(20),
    ]
    return seeds


# ---------------------------------------------------------------------------------------------
# Mutation engine

_INTERESTING_BYTES = (0x00, 0x01, 0x03, 0x04, 0x05, 0x0C, 0x11, 0x7F, 0x80, 0x81, 0xFE, 0xFF)
_INTERESTING_WORDS = (
    0, 1, 2, 3, 4, 5, 8, 12, 16, 1001, 1024, 1025, 4096, 4097, 0x3FFFFFFF, 0x7FFFFFFF,
    0x80000000, 0xFFFFFFFF, 4791, 0x8100, 0x0800, 0x86DD,
)  # fmt: skip


def mutate(rng: random.Random, seeds: list[bytes]) -> bytes:
    """A seed with one to four random changes."""
    buf = bytearray(rng.choice(seeds))
    for _ in range(rng.randrange(1, 5)):
        n = len(buf)
        op = rng.randrange(10)
        if n == 0 or op == 0:  # splice: head of this one, tail of another
            other = rng.choice(seeds)
            cut = rng.randrange(n + 1)
            at = rng.randrange(len(other) + 1)
            if rng.random() < 0.5:
                cut, at = cut & ~3, at & ~3
            buf = buf[:cut] + other[at:]
        elif op == 1:
            for _ in range(rng.randrange(1, 9)):
                i = rng.randrange(n)
                buf[i] ^= 1 << rng.randrange(8)
        elif op == 2:
            buf[rng.randrange(n)] = rng.choice(_INTERESTING_BYTES)
        elif op in (3, 4) and n >= 4:  # a (probable) length or count word
            i = rng.randrange(n // 4) * 4
            (word,) = struct.unpack_from(">I", buf, i)
            if op == 3 and word < 0x10000:
                word += rng.choice((-12, -8, -4, -3, -2, -1, 1, 2, 3, 4, 8, 12, 64))
            else:
                word = rng.choice(_INTERESTING_WORDS)
            struct.pack_into(">I", buf, i, word & 0xFFFFFFFF)
        elif op == 5:
            del buf[rng.randrange(n + 1) :]
        elif op == 6:
            i = rng.randrange(n + 1)
            buf[i:i] = rng.randbytes(rng.choice((1, 2, 3, 4, 8, rng.randrange(1, 64))))
        elif op == 7:
            i = rng.randrange(n)
            del buf[i : i + rng.choice((1, 2, 3, 4, 8, rng.randrange(1, 64)))]
        elif op == 8:  # repeat a chunk (duplicated samples or records)
            i = rng.randrange(n) & ~3
            j = min(n, i + rng.randrange(4, 400))
            buf[j:j] = buf[i:j]
        else:
            i = rng.randrange(n)
            buf[i : i + 4] = rng.randbytes(4)
    return bytes(buf[:65535])


def run_mutate(
    checker: Checker, seeds: list[bytes], count: int, seconds: float, seed: int, artifacts: Path
) -> int:
    rng = random.Random(seed)
    start = time.monotonic()
    report_every = max(1, count // 20)
    for i in range(count):
        data = mutate(rng, seeds) if rng.random() > 0.02 else rng.randbytes(rng.randrange(64))
        try:
            checker(data)
        except Exception:
            return fail(data, artifacts)
        if (i + 1) % report_every == 0:
            print(f"  {i + 1:>10,} inputs  {time.monotonic() - start:7.1f} s", flush=True)
        if seconds and time.monotonic() - start > seconds:
            break
    return 0


def fail(data: bytes, artifacts: Path) -> int:
    print("FAILURE on input (hex):", file=sys.stderr)
    print(data.hex(), file=sys.stderr)
    traceback.print_exc()
    with contextlib.suppress(OSError):
        artifacts.mkdir(parents=True, exist_ok=True)
        path = artifacts / f"crash-{hashlib.sha1(data).hexdigest()}"
        path.write_bytes(data)
        print(f"saved {path}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------------------------
# atheris engine


def run_atheris(
    builds_arg: Path | None, count: int, seconds: float, seed: int, artifacts: Path
) -> int:
    import atheris

    with atheris.instrument_imports(include=["decoders"]):
        import decoders.fastpath
        import decoders.packet
        import decoders.parse
        import decoders.rocev2  # noqa: F401
    builds, note = load_builds(builds_arg)
    checker = Checker(builds)
    seeds = build_seeds(300)
    print(f"atheris: {note}; {len(seeds)} seeds", flush=True)
    started = time.monotonic()
    report_every = max(1, count // 20)

    def one_input(data: bytes) -> None:
        checker(data)
        if checker.inputs % report_every == 0:
            print(
                f"  {checker.inputs:>10,} inputs  {time.monotonic() - started:7.1f} s", flush=True
            )

    seed_dir = REPO / "build" / "fuzz-corpus"  # libFuzzer adds what it finds here
    seed_dir.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seeds):
        (seed_dir / f"seed-{i:05d}").write_bytes(s)
    artifacts.mkdir(parents=True, exist_ok=True)
    libfuzzer_args = [
        sys.argv[0],
        f"-runs={count}",
        f"-seed={seed}",
        "-max_len=4096",
        f"-artifact_prefix={artifacts}/",
        "-print_final_stats=1",
        str(seed_dir),
    ]
    if seconds:
        libfuzzer_args.insert(2, f"-max_total_time={int(seconds)}")
    atheris.Setup(libfuzzer_args, one_input)
    atheris.Fuzz()  # exits the process: libFuzzer prints "Done N runs"
    return 0


# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="inputs (1,000,000)")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long")
    parser.add_argument("--engine", choices=("atheris", "mutate"), help="default: atheris if found")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument(
        "--compiled-path", type=Path, help="fuzz this build of decoders._fastpath_c (.so)"
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=REPO / "build" / "fuzz-artifacts",
        help="where failing inputs go (build/fuzz-artifacts)",
    )
    args = parser.parse_args(argv)
    engine = args.engine
    if engine is None:
        engine = "atheris" if importlib.util.find_spec("atheris") else "mutate"
    if engine == "atheris":
        return run_atheris(args.compiled_path, args.count, args.seconds, args.seed, args.artifacts)

    builds, note = load_builds(args.compiled_path)
    checker = Checker(builds)
    seeds = build_seeds(300)
    print(f"mutate: {note}; {len(seeds)} seeds; seed {args.seed}", flush=True)
    start = time.monotonic()
    status = run_mutate(checker, seeds, args.count, args.seconds, args.seed, args.artifacts)
    elapsed = time.monotonic() - start
    outcomes = ", ".join(f"{k} {v:,}" for k, v in checker.outcomes.most_common())
    result = "FAILED" if status else "0 failures"
    print(f"{checker.inputs:,} inputs in {elapsed:.0f} s: {result}")
    print(f"outcomes: {outcomes}")
    return status


if __name__ == "__main__":
    sys.exit(main())

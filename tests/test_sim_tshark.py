"""tshark (Wireshark 4.0, Debian) reads the simulator's default output without malformed frames,
and its sample and RoCEv2 opcode counts equal our decoder's and the truth file's.

What tshark 4.0 can and cannot walk (found by experiment, see docs/simulator.md):
it reads an unknown record's tag and length but does not skip its body, so one unknown record is
harmless only as the *last* record of a sample. The default output keeps to that (port name
1005 last in the counter samples, host_descr 2000 alone in its own sample); discarded-packet
samples (0:5) are skipped whole. Two unknown records in one sample — PFC + port name, optics +
port name, or the flow extensions 1036/1039/1040 — make tshark flag the frame malformed, so
those are switches, off by default.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from decoders import decode_datagram
from decoders.records import CounterSample, DropSample, FlowSample, SampledHeader
from simulator.config import SimConfig
from simulator.output import PcapSink, read_pcap
from simulator.run import Simulation

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark is not installed")


def _tshark_version() -> str:
    assert TSHARK is not None
    out = subprocess.run([TSHARK, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[2] if out.stdout.startswith("TShark") else ""


def _write(path: Path, config: SimConfig, seconds: float) -> Simulation:
    sim = Simulation(config, PcapSink(str(path)))
    sim.run_until(seconds)
    sim.finish()
    return sim


def _fields(path: Path, *fields: str) -> list[list[str]]:
    assert TSHARK is not None
    cmd = [TSHARK, "-r", str(path), "-T", "fields", "-E", "occurrence=a", "-E", "separator=\t"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120)
    return [line.split("\t") for line in out.stdout.splitlines()]


def _values(cell: str) -> list[str]:
    return [v for v in cell.split(",") if v]


def test_tshark_our_decoder_and_truth_agree(tmp_path: Path) -> None:
    pcap = tmp_path / "sim.pcap"
    sim = _write(pcap, SimConfig(sampling_rate=20000, polling_interval=2.0, seed=11), 5.0)
    rows = _fields(
        pcap, "sflow_245.sampletype", "infiniband.bth.opcode", "_ws.malformed", "_ws.expert"
    )
    tshark_samples: Counter[str] = Counter()
    tshark_ops: Counter[int] = Counter()
    for sampletypes, opcodes, malformed, expert in rows:
        assert not malformed and not expert
        tshark_samples.update(_values(sampletypes))
        tshark_ops.update(int(v) for v in _values(opcodes))

    ours_samples: Counter[str] = Counter()
    ours_ops: Counter[int] = Counter()
    datagrams = 0
    for _, payload in read_pcap(str(pcap)):
        datagrams += 1
        for s in decode_datagram(payload).samples:
            if isinstance(s, FlowSample):
                ours_samples["1"] += 1
                header = s.records[0]
                assert isinstance(header, SampledHeader)
                if header.packet.roce is not None:
                    ours_ops[header.packet.roce.bth.opcode] += 1
            elif isinstance(s, CounterSample):
                ours_samples["2"] += 1
            elif isinstance(s, DropSample):
                ours_samples["5"] += 1

    emitted = sim.truth.totals["emitted"]
    assert len(rows) == datagrams == emitted["datagrams"]
    assert tshark_samples == ours_samples
    assert ours_samples["1"] == emitted["flow_samples"]
    assert ours_samples["2"] == emitted["counter_samples"] > 0
    assert ours_samples["5"] == emitted["drop_samples"] > 0
    assert tshark_ops == ours_ops
    truth_ops = {k: v for k, v in emitted["flow_samples_by_operation"].items() if ":" in k}
    assert sum(ours_ops.values()) == sum(truth_ops.values())
    assert {0x06, 0x07, 0x09, 0x0A, 0x11, 0x81} <= set(ours_ops)


@pytest.mark.skipif(
    TSHARK is not None and not _tshark_version().startswith("4.0"),
    reason="documents tshark 4.0's limits only",
)
def test_tshark_4_0_limits_behind_the_switches(tmp_path: Path) -> None:
    # Flow extensions 1036/1039/1040: two unknown records in a flow sample → flagged malformed.
    pcap = tmp_path / "extensions.pcap"
    _write(pcap, SimConfig(sampling_rate=50000, flow_extensions=True), 1.0)
    assert [r for r in _fields(pcap, "_ws.malformed") if r[0]]
    # PFC (11) or optics (10) before the port name (1005): tshark silently mis-walks the rest of
    # the counter sample and reports record formats that are not there (0, or lane values).
    for name, config in (
        ("pfc", SimConfig(sampling_rate=400000, polling_interval=1.0, pfc=True)),
        ("optics", SimConfig(sampling_rate=400000, polling_interval=1.0, optics=True)),
    ):
        pcap = tmp_path / f"{name}.pcap"
        _write(pcap, config, 1.0)
        seen = Counter(
            v for row in _fields(pcap, "sflow_245.counters_record_format") for v in _values(row[0])
        )
        # every port counter sample has exactly one generic (1) and one ethernet (2) record
        phantom = seen["1"] > seen["2"] or set(seen) - {"1", "2", "10", "11", "2000"}
        assert phantom, (name, seen)
        for _, payload in read_pcap(str(pcap)):
            decode_datagram(payload)  # ours walks them

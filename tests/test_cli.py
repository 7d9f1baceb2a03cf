"""``fabricscope decode`` and the capture reader on small captures built from the shared vectors.

Frames are assembled by hand (Ethernet / VLAN / SLL / SLL2 / raw / loopback, IPv4 / IPv6, UDP)
around the raw sFlow datagrams in ``shared/captures/vectors`` and garbage payloads, then written
with dpkt's pcap and pcapng writers into a tmp dir.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import struct
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dpkt
import pytest

from collector.cli.capture import CaptureError, UdpFrame, open_source, read_raw_stream
from collector.cli.main import main
from decoders import DecodeError, decode_datagram
from decoders.json_view import datagram_to_dict
from decoders.records import CounterSample, DropSample, FlowSample, RawRecord, RawSample
from tests.shared_data import REPO, vectors_dir

VECTOR_NAMES = (
    "goflow2_TestSFlowDecode.bin",
    "telegraf_sflow_v5_example.bin",
    "goflow2_TestSFlowDecodeDropEgressQueue.bin",
    "telegraf_sflow_issue_15918.bin",
    "goflow2_TestSFlowDecodeDropExtendedACL.bin",
)
GARBAGE = b"this is not an sFlow datagram"
TRUNCATED = b"\x00\x00\x00\x05\x00\x00\x00\x01\xc0\x00"  # version 5, IPv4 agent, then nothing


@pytest.fixture(scope="module")
def vectors() -> dict[str, bytes]:
    directory = vectors_dir()
    return {name: (directory / name).read_bytes() for name in VECTOR_NAMES}


# ---------------------------------------------------------------------------------------------
# Frame builders


def udp(payload: bytes, sport: int = 50000, dport: int = 6343) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def ipv4(
    l4: bytes, proto: int = 17, src: str = "192.0.2.1", dst: str = "192.0.2.2", frag: int = 0
) -> bytes:
    header = struct.pack(
        ">BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(l4),
        1,
        frag,
        64,
        proto,
        0,
        socket.inet_aton(src),
        socket.inet_aton(dst),
    )
    return header + l4


def ipv6(
    l4: bytes, next_header: int = 17, src: str = "2001:db8::1", dst: str = "2001:db8::2"
) -> bytes:
    return (
        struct.pack(">IHBB", 0x60000000, len(l4), next_header, 64)
        + socket.inet_pton(socket.AF_INET6, src)
        + socket.inet_pton(socket.AF_INET6, dst)
        + l4
    )


def ether(l3: bytes, ethertype: int = 0x0800, vlans: tuple[int, ...] = ()) -> bytes:
    tags = b"".join(struct.pack(">HH", 0x8100, vid) for vid in vlans)
    return (
        b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
        + tags
        + struct.pack(">H", ethertype)
        + l3
    )


def eth_udp(payload: bytes, dport: int = 6343, **kw: Any) -> bytes:
    return ether(ipv4(udp(payload, dport=dport)), **kw)


def write_pcap(path: Path, frames: list[bytes], linktype: int = dpkt.pcap.DLT_EN10MB) -> Path:
    with path.open("wb") as f:
        writer = dpkt.pcap.Writer(f, linktype=linktype)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=1_700_000_000 + i)
    return path


def write_pcapng(path: Path, frames: list[bytes]) -> Path:
    with path.open("wb") as f:
        writer = dpkt.pcapng.Writer(f)
        for i, frame in enumerate(frames):
            writer.writepkt(frame, ts=1_700_000_000 + i)
    return path


def raw_stream(payloads: list[bytes]) -> bytes:
    return b"".join(struct.pack(">I", len(p)) + p for p in payloads)


# ---------------------------------------------------------------------------------------------
# The mixed capture: good datagrams, garbage, and frames the reader must skip


def mixed_frames(v: dict[str, bytes]) -> tuple[list[bytes], dict[int, bytes]]:
    """Frames plus {frame number: payload} of those sent to udp/6343."""
    names = list(v)
    frames = [
        eth_udp(v[names[0]]),  # 1 good
        eth_udp(GARBAGE),  # 2 bad_version
        eth_udp(v[names[1]], vlans=(100,)),  # 3 good, 802.1Q
        eth_udp(TRUNCATED),  # 4 truncated
        ether(ipv6(udp(v[names[2]])), ethertype=0x86DD),  # 5 good over IPv6
        eth_udp(v[names[3]], dport=9999),  # 6 other port
        ether(ipv4(b"\0" * 20, proto=6)),  # 7 TCP
        ether(ipv4(udp(v[names[0]]), frag=0x2000)),  # 8 IPv4 first fragment (MF)
        ether(b"\0" * 28, ethertype=0x0806),  # 9 ARP
        eth_udp(v[names[4]], vlans=(10, 20)),  # 10 good, QinQ
        eth_udp(b""),  # 11 empty payload
    ]
    on_port = {1: v[names[0]], 2: GARBAGE, 3: v[names[1]], 4: TRUNCATED, 5: v[names[2]]}
    on_port |= {10: v[names[4]], 11: b""}
    return frames, on_port


@pytest.fixture
def mixed_pcap(tmp_path: Path, vectors: dict[str, bytes]) -> tuple[Path, dict[int, bytes]]:
    frames, on_port = mixed_frames(vectors)
    return write_pcap(tmp_path / "mixed.pcap", frames), on_port


def expected_line(frame: int, payload: bytes) -> dict[str, Any]:
    """What the CLI must print for one payload, built from the library directly."""
    try:
        d = decode_datagram(payload)
    except DecodeError as exc:
        return {
            "frame": frame,
            "error": str(exc),
            "reason": exc.reason,
            "offset": exc.offset,
            "path": exc.path,
        }
    line: dict[str, Any] = json.loads(json.dumps({"frame": frame, **datagram_to_dict(d)}))
    return line


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def lines_of(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


# ---------------------------------------------------------------------------------------------
# decode: lines


def test_decode_mixed_pcap(capsys: pytest.CaptureFixture[str], mixed_pcap: Any) -> None:
    path, on_port = mixed_pcap
    code, out, err = run_cli(capsys, "decode", str(path))
    assert (code, err) == (0, "")
    lines = lines_of(out)
    assert lines == [expected_line(n, p) for n, p in sorted(on_port.items())]
    errors = {line["frame"]: line["reason"] for line in lines if "error" in line}
    assert errors == {2: "bad_version", 4: "truncated", 11: "truncated"}
    for line in lines:
        if "error" in line:
            assert set(line) == {"frame", "error", "reason", "offset", "path"}
        else:
            assert list(line)[:2] == ["frame", "agent"]


def test_decode_port_any_and_other_port(
    capsys: pytest.CaptureFixture[str], mixed_pcap: Any, vectors: dict[str, bytes]
) -> None:
    path, on_port = mixed_pcap
    code, out, _ = run_cli(capsys, "decode", "--port", "any", str(path))
    assert code == 0
    frames = [line["frame"] for line in lines_of(out)]
    assert frames == sorted([*on_port, 6])
    code, out, _ = run_cli(capsys, "decode", "--port", "9999", str(path))
    assert lines_of(out) == [expected_line(6, vectors[VECTOR_NAMES[3]])]


def test_decode_several_files_adds_file(
    capsys: pytest.CaptureFixture[str], mixed_pcap: Any, tmp_path: Path, vectors: dict[str, bytes]
) -> None:
    path, on_port = mixed_pcap
    other = write_pcap(tmp_path / "one.pcap", [eth_udp(vectors[VECTOR_NAMES[1]])])
    code, out, _ = run_cli(capsys, "decode", str(path), str(other))
    assert code == 0
    lines = lines_of(out)
    assert [(line["file"], line["frame"]) for line in lines] == [
        *((str(path), n) for n in sorted(on_port)),
        (str(other), 1),
    ]
    assert list(lines[0])[:2] == ["file", "frame"]


def test_decode_pcapng_equals_pcap(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mixed_pcap: Any, vectors: dict[str, bytes]
) -> None:
    path, _ = mixed_pcap
    frames, _ = mixed_frames(vectors)
    ng = write_pcapng(tmp_path / "mixed.pcapng", frames)
    assert ng.read_bytes()[:4] == bytes.fromhex("0a0d0d0a")
    _, out_pcap, _ = run_cli(capsys, "decode", str(path))
    code, out_ng, err = run_cli(capsys, "decode", str(ng))
    assert (code, err) == (0, "")
    assert out_ng == out_pcap


def test_decode_pretty(capsys: pytest.CaptureFixture[str], mixed_pcap: Any) -> None:
    path, on_port = mixed_pcap
    code, out, _ = run_cli(capsys, "decode", "--pretty", str(path))
    assert code == 0
    assert out.startswith("{\n  ")
    decoder, objects, pos = json.JSONDecoder(), [], 0
    while pos < len(out):
        obj, end = decoder.raw_decode(out, pos)
        objects.append(obj)
        pos = end + 1  # newline after each object
    assert objects == [expected_line(n, p) for n, p in sorted(on_port.items())]


# ---------------------------------------------------------------------------------------------
# decode --summary: totals computed here independently


def independent_summary(payloads: list[bytes]) -> dict[str, Any]:
    datagrams, errors, agents = 0, Counter[str](), Counter[str]()
    kinds = {FlowSample: "flow", CounterSample: "counter", DropSample: "drop"}
    samples = {k: Counter[str]() for k in ("flow", "counter", "drop")}
    unknown: Counter[str] = Counter()
    records: dict[str, Counter[str]] = {}
    for payload in payloads:
        try:
            d = decode_datagram(payload)
        except DecodeError as exc:
            errors[exc.reason] += 1
            continue
        datagrams += 1
        agents[d.agent or "unknown"] += 1
        for s in d.samples:
            if isinstance(s, RawSample):
                unknown[f"{s.enterprise}:{s.format}"] += 1
                continue
            kind = kinds[type(s)]
            samples[kind]["expanded" if s.expanded else "compact"] += 1
            for r in s.records:
                if isinstance(r, RawRecord):
                    key = f"{r.enterprise}:{r.format}"
                else:
                    key = f"{type(r).ENTERPRISE}:{type(r).FORMAT}"
                records.setdefault(kind, Counter())[key] += 1
    return {
        "datagrams": datagrams,
        "decode_errors": sum(errors.values()),
        "errors": dict(errors),
        "samples": {
            **{
                k: {
                    "total": c["compact"] + c["expanded"],
                    "compact": c["compact"],
                    "expanded": c["expanded"],
                }
                for k, c in samples.items()
            },
            "unknown": {"total": sum(unknown.values()), "formats": dict(unknown)},
        },
        "records": {k: dict(c) for k, c in records.items()},
        "agents": dict(agents),
    }


def test_summary_totals(capsys: pytest.CaptureFixture[str], mixed_pcap: Any) -> None:
    path, on_port = mixed_pcap
    code, out, err = run_cli(capsys, "decode", "--summary", str(path))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert len(lines) == 1
    summary = json.loads(lines[0])
    want = independent_summary([on_port[n] for n in sorted(on_port)])
    assert {k: summary[k] for k in want} == want
    assert summary["errors"] == {"bad_version": 1, "truncated": 2}
    assert summary["files"] == 1
    assert summary["capture"] == {
        "frames": 11,
        "udp": 7,
        "other_port": 1,
        "ipv4_fragments": 1,
        "ipv6_fragments": 0,
        "not_udp": 2,
        "malformed": 0,
    }


def test_summary_over_two_files_adds_up(
    capsys: pytest.CaptureFixture[str], mixed_pcap: Any, tmp_path: Path
) -> None:
    path, on_port = mixed_pcap
    copy = tmp_path / "copy.pcap"
    copy.write_bytes(path.read_bytes())
    code, out, _ = run_cli(capsys, "decode", "--summary", "--pretty", str(path), str(copy))
    assert code == 0
    summary = json.loads(out)
    assert out.count("\n") > 10  # indented
    want = independent_summary([on_port[n] for n in sorted(on_port)] * 2)
    assert {k: summary[k] for k in want} == want
    assert summary["files"] == 2 and summary["capture"]["frames"] == 22


# ---------------------------------------------------------------------------------------------
# Link types and IP variants (library and CLI)


LINK_CASES = {
    "sll": (113, lambda l3, et: struct.pack(">HHH8sH", 0, 772, 6, b"\0" * 8, et) + l3),
    "sll2": (276, lambda l3, et: struct.pack(">HHIHBB8s", et, 0, 1, 772, 0, 6, b"\0" * 8) + l3),
    "raw": (101, lambda l3, et: l3),
    "ipv4_or_6": (228, lambda l3, et: l3),  # fixed up below for IPv6 (229)
    "null": (0, lambda l3, et: struct.pack("<I", 2 if et == 0x0800 else 30) + l3),
    "loop": (108, lambda l3, et: struct.pack(">I", 2 if et == 0x0800 else 24) + l3),
    "ethernet": (1, lambda l3, et: ether(l3, et)),
}


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
@pytest.mark.parametrize("link", sorted(LINK_CASES))
def test_link_types(
    tmp_path: Path,
    vectors: dict[str, bytes],
    capsys: pytest.CaptureFixture[str],
    link: str,
    family: str,
) -> None:
    linktype, wrap = LINK_CASES[link]
    payload = vectors[VECTOR_NAMES[0]]
    if family == "ipv4":
        l3, ethertype = ipv4(udp(payload, sport=1234)), 0x0800
        src, dst = "192.0.2.1", "192.0.2.2"
    else:
        l3, ethertype = ipv6(udp(payload, sport=1234)), 0x86DD
        src, dst = "2001:db8::1", "2001:db8::2"
        linktype = 229 if linktype == 228 else linktype
    path = write_pcap(tmp_path / f"{link}.pcap", [wrap(l3, ethertype)], linktype=linktype)
    with open_source(str(path)) as source:
        frames = list(source)
    assert frames == [UdpFrame(1, 1_700_000_000.0, src, dst, 1234, 6343, payload)]
    code, out, _ = run_cli(capsys, "decode", str(path))
    assert code == 0 and lines_of(out) == [expected_line(1, payload)]


def test_ethernet_padding_and_ipv6_extension_headers(
    tmp_path: Path, vectors: dict[str, bytes]
) -> None:
    payload = vectors[VECTOR_NAMES[1]]
    short = b"\0\0\0\5"
    hop_by_hop = bytes([17, 0]) + b"\0" * 6  # next header UDP, 8 bytes
    frames = [
        eth_udp(short) + b"\0" * 30,  # Ethernet minimum-size padding after the IP packet
        ether(ipv6(hop_by_hop + udp(payload), next_header=0), ethertype=0x86DD),
        ether(ipv6(bytes([17, 0, 0, 1, 0, 0, 0, 0]) + udp(payload), next_header=44), 0x86DD),
        ether(ipv4(udp(payload), frag=100)),  # a later IPv4 fragment (offset ≠ 0)
        ether(b"\x45"),  # truncated IP header
    ]
    path = write_pcap(tmp_path / "odd.pcap", frames)
    with open_source(str(path)) as source:
        found = [(f.frame, f.payload) for f in source]
        stats = source.stats
    assert found == [(1, short), (2, payload)]
    assert (stats.ipv6_fragments, stats.ipv4_fragments, stats.malformed) == (1, 1, 1)


# ---------------------------------------------------------------------------------------------
# Standard input: raw length-prefixed stream (and pcap)


class _Stdin(io.TextIOWrapper):
    pass


def feed_stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", _Stdin(io.BytesIO(data)))


def test_raw_stream_on_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, vectors: dict[str, bytes]
) -> None:
    payloads = [vectors[VECTOR_NAMES[0]], GARBAGE, vectors[VECTOR_NAMES[3]], b""]
    feed_stdin(monkeypatch, raw_stream(payloads))
    code, out, err = run_cli(capsys, "decode", "-")
    assert (code, err) == (0, "")
    assert lines_of(out) == [expected_line(i, p) for i, p in enumerate(payloads, 1)]


def test_raw_stream_ignores_port_filter(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, vectors: dict[str, bytes]
) -> None:
    feed_stdin(monkeypatch, raw_stream([vectors[VECTOR_NAMES[2]]]))
    code, out, _ = run_cli(capsys, "decode", "--port", "1", "-")
    assert code == 0 and len(lines_of(out)) == 1


def test_pcap_on_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, mixed_pcap: Any
) -> None:
    path, on_port = mixed_pcap
    feed_stdin(monkeypatch, path.read_bytes())
    code, out, _ = run_cli(capsys, "decode", "-")
    assert code == 0
    assert lines_of(out) == [expected_line(n, p) for n, p in sorted(on_port.items())]


def test_empty_stdin_is_no_datagrams(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_stdin(monkeypatch, b"")
    assert run_cli(capsys, "decode", "-") == (0, "", "")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (struct.pack(">I", 65536) + b"\0" * 16, "claims 65536 bytes"),
        (struct.pack(">I", 0xFFFFFFFF), "claims 4294967295 bytes"),
        (struct.pack(">I", 100) + b"\0" * 10, "ends inside record 2 (10 of 100 bytes)"),
        (b"\0\0", "ends inside the length of record 2"),
    ],
    ids=["over_65535", "huge", "short_record", "short_length"],
)
def test_raw_stream_errors(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    vectors: dict[str, bytes],
    data: bytes,
    message: str,
) -> None:
    good = vectors[VECTOR_NAMES[0]]
    feed_stdin(monkeypatch, raw_stream([good]) + data)
    code, out, err = run_cli(capsys, "decode", "-")
    assert code == 1
    assert lines_of(out) == [expected_line(1, good)]  # what came before the bad record
    assert err.count("\n") == 1 and err.startswith("fabricscope: error: -: ")
    assert message in err


def test_read_raw_stream_api(vectors: dict[str, bytes]) -> None:
    payloads = [vectors[n] for n in VECTOR_NAMES]
    frames = list(read_raw_stream(io.BytesIO(raw_stream(payloads))))
    assert [(f.frame, f.payload) for f in frames] == list(enumerate(payloads, 1))
    assert all(f.src is None and f.dport is None and f.timestamp is None for f in frames)
    with pytest.raises(
        CaptureError, match=re.escape("claims 70000 bytes (more than 65535): not a pcap")
    ):
        list(read_raw_stream(io.BytesIO(struct.pack(">I", 70000))))
    with pytest.raises(CaptureError, match="expected a raw stream, found a pcap"):
        read_raw_stream(io.BytesIO(bytes.fromhex("d4c3b2a1") + b"\0" * 20))


def test_raw_stream_via_real_stdin(vectors: dict[str, bytes]) -> None:
    payloads = [vectors[VECTOR_NAMES[4]], GARBAGE]
    run = subprocess.run(
        [sys.executable, "-m", "collector", "decode", "--summary", "-"],
        input=raw_stream(payloads),
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0 and run.stderr == b""
    summary = json.loads(run.stdout)
    want = independent_summary(payloads)
    assert {k: summary[k] for k in want} == want


# ---------------------------------------------------------------------------------------------
# Unreadable input and bad arguments: non-zero exit, one line on stderr


def _one_line_error(err: str) -> str:
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("fabricscope")
    return err


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("missing", "cannot open: No such file or directory"),
        ("directory", "cannot open: Is a directory"),
        ("empty", "empty file"),
        ("text", "not a pcap or pcapng capture (starts with 0x68656c6c)"),
        ("raw_stream_file", "not a pcap or pcapng capture"),
        ("short_pcap_header", "bad pcap header"),
        ("short_pcapng_header", "bad pcapng header"),
    ],
)
def test_unreadable_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, kind: str, message: str
) -> None:
    path = tmp_path / kind
    if kind == "directory":
        path.mkdir()
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("hello, world\n")
    elif kind == "raw_stream_file":
        path.write_bytes(raw_stream([GARBAGE]))
    elif kind == "short_pcap_header":
        path.write_bytes(bytes.fromhex("d4c3b2a1") + b"\x02\x00")
    elif kind == "short_pcapng_header":
        path.write_bytes(bytes.fromhex("0a0d0d0a") + b"\x1c\x00")
    code, out, err = run_cli(capsys, "decode", str(path))
    assert code == 1 and out == ""
    line = _one_line_error(err)
    assert line.startswith(f"fabricscope: error: {path}: ")
    assert message in line


def test_truncated_pcap_prints_what_it_can_then_fails(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mixed_pcap: Any
) -> None:
    path, on_port = mixed_pcap
    data = path.read_bytes()
    cut = tmp_path / "cut.pcap"
    # Cut inside the record header of frame 11 (the last frame): 16-byte header, then 42 bytes.
    cut.write_bytes(data[: len(data) - (16 + 42) + 7])
    code, out, err = run_cli(capsys, "decode", str(cut))
    assert code == 1
    assert [line["frame"] for line in lines_of(out)] == [n for n in sorted(on_port) if n < 11]
    assert "truncated or corrupt pcap after frame 10" in _one_line_error(err)


def test_missing_second_file_stops_with_error(
    capsys: pytest.CaptureFixture[str], mixed_pcap: Any, tmp_path: Path
) -> None:
    path, _ = mixed_pcap
    code, _, err = run_cli(capsys, "decode", "--summary", str(path), str(tmp_path / "nope.pcap"))
    assert code == 1
    assert "nope.pcap: cannot open" in _one_line_error(err)


@pytest.mark.parametrize(
    "argv",
    [
        ["decode", "--port", "70000", "x.pcap"],
        ["decode", "--port", "http", "x.pcap"],
        ["decode", "--port", "-1", "x.pcap"],
        ["decode"],
        ["frobnicate"],
        [],
        ["decode", "--bogus", "x.pcap"],
    ],
    ids=[
        "port_too_big",
        "port_name",
        "port_negative",
        "no_file",
        "unknown_cmd",
        "no_cmd",
        "bad_flag",
    ],
)
def test_bad_arguments(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    code, out, err = run_cli(capsys, *argv)
    assert code == 2 and out == ""
    assert "error:" in _one_line_error(err)


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys, "--help")
    assert code == 0 and "decode" in out
    code, out, _ = run_cli(capsys, "decode", "--help")
    assert code == 0
    for option in ("--port", "--summary", "--pretty", "FILE"):
        assert option in out


# ---------------------------------------------------------------------------------------------
# Closed stdout (| head)


class _ClosedPipe(io.StringIO):
    def write(self, s: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_pipe_in_process(monkeypatch: pytest.MonkeyPatch, mixed_pcap: Any) -> None:
    path, _ = mixed_pcap
    monkeypatch.setattr(sys, "stdout", _ClosedPipe())
    assert main(["decode", str(path)]) == 0


def test_broken_pipe_subprocess(tmp_path: Path, vectors: dict[str, bytes]) -> None:
    """``fabricscope decode big.pcap | head -n 1``: no traceback, exit 0."""
    frame = eth_udp(vectors[VECTOR_NAMES[3]])  # ~1.4 kB datagram → ~10 kB of JSON per line
    path = write_pcap(tmp_path / "big.pcap", [frame] * 300)
    proc = subprocess.Popen(
        [sys.executable, "-m", "collector", "decode", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 0
    assert json.loads(first)["frame"] == 1
    assert err == b""


# ---------------------------------------------------------------------------------------------
# The reader on its own


def test_source_stats_and_close(mixed_pcap: Any) -> None:
    path, on_port = mixed_pcap
    source = open_source(str(path), port=None)
    assert (source.format, source.linktype) == ("pcap", 1)
    frames: Iterator[UdpFrame] = iter(source)
    got = [f.frame for f in frames]
    source.close()
    assert got == sorted([*on_port, 6])
    assert source.stats.frames == 11 and source.stats.udp == 8

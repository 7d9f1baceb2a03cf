"""``/agents/json``, ``/links/json`` and the UI's static files, against a real ``serve``.

The datagrams are built with our encoder so every figure is known by construction: leaf1 sends
a sequence with a gap of two, a late duplicate, a restart and one truncated datagram; leaf2 sends
at a steady pace (its datagram rate) and reports its link end down; spine1 sends two counter
intervals of known octet deltas; a foreign agent is not in the topology; two datagrams name no
tracked agent. Link loads are octet deltas over the agent-uptime interval.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.aggregate.aggregator import Aggregator
from collector.http.ui import agents_document, content_type_of, static_file
from collector.receive.pipeline import Pipeline, header_agent
from collector.receive.state import FabricState
from decoders import DecodeError, decode_datagram
from decoders.records import Sample
from tests.e2e_support import Served, start_serve
from tests.fabric_builders import (
    TOPOLOGY,
    counters,
    datagram,
    drop,
    flow,
    if_counters,
    wire,
    write_first,
)
from topology import PortResolver, TopologyIndex, parse_topology
from web import STATIC_DIR

LEAF1, LEAF2, SPINE1, FOREIGN = "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.9"
STRANGER = "10.9.9.9"  # sends one truncated datagram only
WARMUP = "10.0.0.8"  # one datagram (never listed: an agent is listed from its third)
GBIT = 1_000_000_000
LEAF2_DATAGRAMS = 40
LEAF2_PACE = 0.05  # seconds between two leaf2 datagrams
# L1: leaf1 swp1 (ifIndex 3) → spine1 swp1 (ifIndex 3); L2: leaf2 swp1 (3) → spine1 swp2 (4);
# L3 has no ifIndex on either end (never monitored).
L1_OUT_LEAF1 = 2_500_000_000  # bytes in leaf1's last 1 s interval → 20 Gbit/s
L1_OUT_SPINE1 = 1_250_000_000  # spine1 swp1, 1 s → 10 Gbit/s
L2_IN_SPINE1 = 500_000_000  # spine1 swp2 in, 1 s → 4 Gbit/s
L2_OUT_SPINE1 = 250_000_000  # spine1 swp2 out, 1 s → 2 Gbit/s
L2_SPINE_SPEED = 25 * GBIT
SETTLE = 20.0


def _topology() -> dict[str, Any]:
    topology = json.loads(json.dumps(TOPOLOGY))
    topology["links"]["L3"] = {
        "node1": "leaf1",
        "port1": "swp2",
        "node2": "spine1",
        "port2": "swp3",
    }
    return topology


def _leaf1_samples(
    sequence: int, *, counter_octets: int | None, with_drop: bool = False
) -> tuple[Sample, ...]:
    """Two flow samples (rates 1000 and 2000), optionally a counter sample of ifIndex 3."""
    samples: list[Sample] = [
        flow(sequence, 5, (write_first(),), rate=1000),
        flow(sequence, 3, (write_first(),), rate=2000),
    ]
    if counter_octets is not None:
        samples.append(counters(sequence, 3, (if_counters(3, out_octets=counter_octets),)))
    if with_drop:
        samples.append(drop(sequence, 3))
    return tuple(samples)


def _leaf1() -> tuple[list[bytes], bytes]:
    """leaf1's datagrams in order, and a truncated one whose header names leaf1."""
    out: list[bytes] = []
    for seq in (1, 2, 3, 6, 7, 8):  # 4 and 5 never sent: 2 lost
        samples = _leaf1_samples(seq, counter_octets=seq * GBIT, with_drop=seq == 8)
        out.append(wire(datagram(LEAF1, seq, samples)))
    out.append(wire(datagram(LEAF1, 7, _leaf1_samples(7, counter_octets=None))))  # late copy
    # Restart: sequence and uptime start again; the interval after it is uptime 1100 → 2100.
    for seq, uptime, octets in ((1, 100, 0), (2, 1_100, GBIT), (3, 2_100, GBIT + L1_OUT_LEAF1)):
        samples = _leaf1_samples(seq, counter_octets=octets)
        out.append(wire(datagram(LEAF1, seq, samples, uptime_ms=uptime)))
    whole = wire(datagram(LEAF1, 4, _leaf1_samples(4, counter_octets=GBIT)))
    return out, whole[: len(whole) - 40]


def _spine1() -> list[bytes]:
    """Three datagrams; counter intervals of 1 s (uptime 2000 → 3000) on swp1 and swp2."""
    out = [wire(datagram(SPINE1, 1, ()))]
    for seq, k in ((2, 0), (3, 1)):
        swp1 = if_counters(3, out_octets=k * L1_OUT_SPINE1)
        swp2 = if_counters(
            4, speed=L2_SPINE_SPEED, in_octets=k * L2_IN_SPINE1, out_octets=k * L2_OUT_SPINE1
        )
        samples = (counters(seq, 3, (swp1,)), counters(seq, 4, (swp2,)))
        out.append(wire(datagram(SPINE1, seq, samples)))
    return out


def _send(sock: socket.socket, port: int, payloads: list[bytes], pace: float = 0.0) -> float:
    """Send in order; returns the seconds from the first send to the last."""
    start = time.monotonic()
    for i, payload in enumerate(payloads):
        if pace and i:
            time.sleep(pace)
        sock.sendto(payload, ("127.0.0.1", port))
    return time.monotonic() - start


def _get(s: Served, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}{path}", timeout=10) as r:
        return json.loads(r.read())


def _raw_get(s: Served, target: str) -> tuple[int, bytes]:
    """One HTTP/1.1 GET with ``target`` sent byte for byte (no client-side normalising)."""
    with socket.create_connection(("127.0.0.1", s.http_port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        for _ in range(10_000):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def _wait_datagrams(s: Served, count: int) -> None:
    """Until ``count`` datagrams are merged (each receiver's delta carries all that its
    datagrams did), then one more tick so the smoothed rates include them."""
    deadline = time.monotonic() + SETTLE
    while s.metrics().get(("fabricscope_datagrams_total", ()), 0.0) < count:
        assert time.monotonic() < deadline, f"fewer than {count} datagrams arrived"
        time.sleep(0.05)
    time.sleep(0.3)  # ticks are 0.2 s


@pytest.fixture(scope="module", params=[1, 2], ids=["workers1", "workers2"])
def fed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Served, dict[str, Any]]]:
    """A ``serve`` fed with every datagram above; yields it and what the test measured.
    With two workers each agent's datagrams (one socket each) stay on one worker."""
    topo = tmp_path_factory.mktemp("ui_api") / "topology.json"
    topo.write_text(json.dumps(_topology()))
    s = start_serve(topo, int(request.param))
    try:
        leaf2 = [
            wire(datagram(LEAF2, seq, (flow(seq, 5, (write_first(),), rate=4000),)))
            for seq in range(1, LEAF2_DATAGRAMS)
        ]
        down = counters(LEAF2_DATAGRAMS, 3, (if_counters(3, oper_up=False),))
        leaf2.append(wire(datagram(LEAF2, LEAF2_DATAGRAMS, (down,))))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            # The pace is measured from when the receiver (same socket, same worker) is up.
            _send(sock, s.sflow_port, [wire(datagram(WARMUP, 1, ()))])
            _wait_datagrams(s, 1)
            elapsed = _send(sock, s.sflow_port, leaf2, LEAF2_PACE)
        time.sleep(0.5)  # a couple of ticks
        measured = {"leaf2_rate": (LEAF2_DATAGRAMS - 1) / elapsed, "early": _get(s, "/agents/json")}
        leaf1, truncated = _leaf1()
        foreign = [wire(datagram(FOREIGN, seq, (flow(seq, 5, (), rate=500),))) for seq in (1, 2, 3)]
        stranger = wire(datagram(STRANGER, 1, (flow(1, 5, (write_first(),)),)))
        garbage = [b"\x00\x00\x00\x04" + bytes(40), stranger[:-40]]  # bad version; unknown
        sent = [*leaf1, truncated, *_spine1(), *foreign, *garbage]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            _send(sock, s.sflow_port, sent)
        _wait_datagrams(s, 1 + LEAF2_DATAGRAMS + len(sent))
        measured["truncated"] = truncated
        yield s, measured
    finally:
        s.stop()


def _agents(s: Served) -> dict[str, dict[str, Any]]:
    document = _get(s, "/agents/json")
    return {entry["agent"]: entry for entry in document["agents"]}


def test_agents_and_links_from_known_datagrams(fed: tuple[Served, dict[str, Any]]) -> None:
    """One test per collector (with xdist, one fixture set-up each)."""
    s, measured = fed
    _check_agents(s, measured)
    _check_rate(measured)
    _check_links(s)


def _check_agents(s: Served, measured: dict[str, Any]) -> None:
    document = _get(s, "/agents/json")
    assert abs(document["time"] / 1000 - time.time()) < 5
    entries = document["agents"]
    assert [e["agent"] for e in entries] == [LEAF1, LEAF2, SPINE1, FOREIGN]
    agents = {e["agent"]: e for e in entries}
    leaf1 = agents[LEAF1]
    with pytest.raises(DecodeError) as refused:
        decode_datagram(measured["truncated"])
    reason = refused.value.reason
    # 6 in the first run (4 and 5 missing), the late copy of 7, then 3 after the restart.
    assert (
        leaf1
        | {
            "datagrams": 10,
            "datagrams_lost": 2,
            "out_of_order": 1,
            "restarts": 1,
            "samples": {"flow": 20, "counter": 9, "drop": 1},
            "sampling_rates": [1000, 2000],
            "decode_errors": 1,
            "decode_errors_by_reason": {reason: 1},
            "node": "leaf1",
            "in_topology": True,
            "sub_agent": 0,
        }
        == leaf1
    )
    # Two flow sources advancing one sample per datagram at 1 in 1000 and 1 in 2000.
    assert leaf1["effective_sampling_rate"] == pytest.approx(1500.0)
    assert leaf1["last_seen"] <= document["time"]
    assert leaf1["age_s"] == pytest.approx((document["time"] - leaf1["last_seen"]) / 1000, abs=2e-3)
    # Every leaf1 datagram carries two flow samples: the smoothed rates keep that ratio.
    assert leaf1["datagrams_per_second"] > 0
    assert leaf1["samples_per_second"]["flow"] == pytest.approx(
        2 * leaf1["datagrams_per_second"], rel=1e-9
    )
    assert leaf1["samples_per_second"]["counter"] > 0
    assert leaf1["samples_per_second"]["drop"] > 0

    leaf2 = agents[LEAF2]
    assert leaf2["datagrams"] == LEAF2_DATAGRAMS
    assert leaf2["samples"] == {"flow": LEAF2_DATAGRAMS - 1, "counter": 1, "drop": 0}
    assert (leaf2["datagrams_lost"], leaf2["out_of_order"], leaf2["restarts"]) == (0, 0, 0)
    assert leaf2["sampling_rates"] == [4000]
    assert leaf2["decode_errors"] == 0 and leaf2["decode_errors_by_reason"] == {}

    spine1 = agents[SPINE1]
    assert spine1["samples"] == {"flow": 0, "counter": 4, "drop": 0}
    assert spine1["sampling_rates"] == [] and spine1["effective_sampling_rate"] is None

    foreign = agents[FOREIGN]
    assert (foreign["node"], foreign["in_topology"]) == (None, False)
    assert foreign["datagrams"] == 3 and foreign["sampling_rates"] == [500]

    totals = document["totals"]
    assert totals["agents"] == 4
    assert totals["datagrams"] == 10 + LEAF2_DATAGRAMS + 3 + 3
    assert totals["samples"] == {
        "flow": 20 + LEAF2_DATAGRAMS - 1 + 3,
        "counter": 9 + 1 + 4,
        "drop": 1,
    }
    assert (totals["datagrams_lost"], totals["out_of_order"], totals["restarts"]) == (2, 1, 1)
    assert totals["decode_errors_by_reason"] == {reason: 1}
    # The bad-version datagram and the truncated header of an agent never seen.
    assert totals["decode_errors_unattributed"] == 2
    assert totals["datagrams_per_second"] == pytest.approx(
        sum(e["datagrams_per_second"] for e in entries)
    )


def _check_rate(measured: dict[str, Any]) -> None:
    leaf2 = {e["agent"]: e for e in measured["early"]["agents"]}[LEAF2]
    # Smoothed over 2 s (from a first interval of a few datagrams), read half a second after the
    # last one: close to the pace, not exact.
    assert (
        0.5 * measured["leaf2_rate"] < leaf2["datagrams_per_second"] < 1.5 * measured["leaf2_rate"]
    )
    assert leaf2["samples_per_second"]["flow"] > 0


def _check_links(s: Served) -> None:
    document = _get(s, "/links/json")
    assert abs(document["time"] / 1000 - time.time()) < 5
    links = {link["name"]: link for link in document["links"]}
    assert [link["name"] for link in document["links"]] == ["L1", "L2", "L3"]
    l1 = links["L1"]
    assert (l1["node1"], l1["port1"], l1["node2"], l1["port2"]) == (
        "leaf1",
        "swp1",
        "spine1",
        "swp1",
    )
    assert l1["status"] == "up"
    assert l1["speed_bps"] == 100 * GBIT
    assert l1["bps_1to2"] == pytest.approx(8 * L1_OUT_LEAF1)  # leaf1's interval after its restart
    assert l1["bps_2to1"] == pytest.approx(8 * L1_OUT_SPINE1)
    assert l1["utilization"] == pytest.approx(8 * L1_OUT_LEAF1 / (100 * GBIT))
    l2 = links["L2"]
    assert l2["status"] == "down"  # leaf2 reports its end oper down
    assert l2["speed_bps"] == L2_SPINE_SPEED  # the slower end
    # leaf2 sent one counter sample (no interval): 1→2 is what spine1 received.
    assert l2["bps_1to2"] == pytest.approx(8 * L2_IN_SPINE1)
    assert l2["bps_2to1"] == pytest.approx(8 * L2_OUT_SPINE1)
    assert l2["utilization"] == pytest.approx(8 * L2_IN_SPINE1 / L2_SPINE_SPEED)
    assert (
        links["L3"]
        | {
            "status": "unmonitored",
            "speed_bps": None,
            "bps_1to2": None,
            "bps_2to1": None,
            "utilization": None,
        }
        == links["L3"]
    )


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A ``serve`` with the topology and no datagram yet."""
    topo = tmp_path_factory.mktemp("ui_api_idle") / "topology.json"
    topo.write_text(json.dumps(_topology()))
    s = start_serve(topo, 1)
    yield s
    s.stop()


def test_ui_page_and_static_files(idle: Served) -> None:
    s = idle
    page = (STATIC_DIR / "index.html").read_bytes()
    for path in ("/", "/app/ai-metrics/html/", "/app/ai-metrics/html/index.html"):
        with urllib.request.urlopen(f"http://127.0.0.1:{s.http_port}{path}", timeout=10) as r:
            assert r.read() == page
            assert r.headers["Content-Type"] == "text/html; charset=utf-8"
            assert r.headers["Cache-Control"] == "no-cache"
    status, _ = _raw_get(s, "/app/ai-metrics/html")
    assert status == 301
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file() and not p.name.startswith(".")]
    suffixes = {p.suffix for p in files}
    assert {".html", ".js", ".css"} <= suffixes  # the page, its scripts, the chart library
    for file in files:
        relative = file.relative_to(STATIC_DIR).as_posix()
        url = f"http://127.0.0.1:{s.http_port}/static/{relative}"
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.read() == file.read_bytes(), relative
            expected = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}
            if file.suffix in expected:
                assert r.headers["Content-Type"].startswith(expected[file.suffix]), relative


@pytest.mark.parametrize(
    "target",
    [
        "/static/../pyproject.toml",
        "/static/%2e%2e/pyproject.toml",
        "/static/%2E%2E%2Fpyproject.toml",
        "/static/..%2f..%2fpyproject.toml",
        "/static/vendor/../../pyproject.toml",
        "/static/%2fetc%2fpasswd",
        "/static//etc/passwd",
        "/static/..%5cpyproject.toml",
        "/static/",
        "/static/vendor",
        "/static/vendor/",
    ],
)
def test_static_refuses_traversal_and_listing(idle: Served, target: str) -> None:
    status, body = _raw_get(idle, target)
    assert status in (400, 403, 404), (target, status)
    assert b"[project]" not in body and b"root:" not in body
    assert b"uplot" not in body.lower()  # no listing of the vendor folder


def test_static_file_rules(tmp_path: Path) -> None:
    root = tmp_path / "static"
    (root / "sub").mkdir(parents=True)
    (root / "app.js").write_text("x")
    (root / "sub" / "a.css").write_text("y")
    (root / ".hidden").write_text("z")
    (tmp_path / "secret.txt").write_text("s")
    (root / "out.txt").symlink_to(tmp_path / "secret.txt")
    assert static_file(root, "app.js") == (root / "app.js").resolve()
    assert static_file(root, "sub/a.css") == (root / "sub" / "a.css").resolve()
    for refused in ("", "sub", "sub/", ".hidden", "../secret.txt", "out.txt", "/etc/passwd",
                    "sub/../app.js", "a\\b", "app.js\x00"):  # fmt: skip
        assert static_file(root, refused) is None, refused
    assert content_type_of(Path("x.js")) == "text/javascript; charset=utf-8"
    assert content_type_of(Path("LICENSE")) == "text/plain; charset=utf-8"
    assert content_type_of(Path("blob.bin")) == "application/octet-stream"


def test_static_file_with_a_name_too_long_for_the_filesystem_is_not_found(tmp_path: Path) -> None:
    """A /static/ path longer than NAME_MAX (255 bytes on Linux) is simply not a file."""
    (tmp_path / "app.js").write_text("x")
    assert static_file(tmp_path, "a" * 300) is None
    assert static_file(tmp_path, "d/" * 2500 + "f") is None  # longer than PATH_MAX in all
    assert static_file(tmp_path, "app.js") == (tmp_path / "app.js").resolve()


def test_ui_api_is_empty_but_valid_before_any_datagram(idle: Served) -> None:
    agents = _get(idle, "/agents/json")
    assert agents["agents"] == [] and agents["totals"]["agents"] == 0
    links = _get(idle, "/links/json")
    assert [link["status"] for link in links["links"]] == ["unmonitored"] * 3
    with pytest.raises(urllib.error.HTTPError) as missing:
        _get(idle, "/static/nothing-here.js")
    assert missing.value.code == 404


# ---------------------------------------------------------------------------------------------
# The same figures without sockets: real state, pipeline and aggregator, fixed clocks.


def _fed_aggregator(fast: bool) -> Aggregator:
    """Agents 10.0.0.10, 10.0.0.2 (sub-agents 0 and 1) and 2001:db8::1 through one pipeline."""
    state = FabricState(PortResolver(TopologyIndex(parse_topology(_topology()))))
    pipeline = Pipeline(state, fast=fast)
    aggregator = Aggregator()
    aggregator.set_topology(TopologyIndex(parse_topology(_topology())))
    aggregator.tick(0.0)
    one_flow = (flow(1, 5, (write_first(),), rate=300),)
    for t, (agent, sub_agent) in enumerate(
        [("10.0.0.10", 0), ("10.0.0.2", 1), ("2001:db8::1", 0), ("10.0.0.2", 0)]
    ):
        for seq in (1, 2, 3, 5, 4):  # 3 → 5 counts 4 lost; 4 then arrives out of order
            d = datagram(agent, seq, one_flow, sub_agent=sub_agent)
            pipeline.handle(memoryview(wire(d)), 1.0 + t)
        bad = wire(datagram(agent, 6, one_flow, sub_agent=sub_agent))
        pipeline.handle(memoryview(bad[:-8]), 1.5 + t)
    pipeline.handle(memoryview(bytes(4)), 9.0)  # too short for a header
    aggregator.merge(state.drain(10.0))
    aggregator.tick(10.0)
    return aggregator


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_agents_document_order_and_attribution(fast: bool) -> None:
    aggregator = _fed_aggregator(fast)
    document = agents_document(aggregator, now=10.0)
    keys = [(e["agent"], e["sub_agent"]) for e in document["agents"]]
    # Numeric address order (not text: "10.0.0.10" < "10.0.0.2" as text), IPv4 first.
    assert keys == [("10.0.0.2", 0), ("10.0.0.2", 1), ("10.0.0.10", 0), ("2001:db8::1", 0)]
    with pytest.raises(DecodeError) as refused:
        decode_datagram(wire(datagram("10.0.0.2", 6, (flow(1, 5, (write_first(),)),)))[:-8])
    for entry in document["agents"]:
        assert entry["datagrams"] == 5
        assert (entry["datagrams_lost"], entry["out_of_order"], entry["restarts"]) == (1, 1, 0)
        assert entry["samples"] == {"flow": 5, "counter": 0, "drop": 0}
        assert entry["sampling_rates"] == [300]
        assert entry["decode_errors_by_reason"] == {refused.value.reason: 1}
        # One tick 10 s after the first: 5 datagrams / 10 s, smoothing starts at the first rate.
        assert entry["datagrams_per_second"] == pytest.approx(0.5)
        assert entry["samples_per_second"]["flow"] == pytest.approx(0.5)
    leaf2 = document["agents"][0]
    assert (leaf2["node"], leaf2["in_topology"]) == ("leaf2", True)
    assert document["agents"][1]["node"] == "leaf2"  # a sub-agent of leaf2's agent
    assert [e["in_topology"] for e in document["agents"][2:]] == [False, False]
    assert document["totals"]["decode_errors"] == 4
    assert document["totals"]["decode_errors_unattributed"] == 1  # the 4-byte datagram
    assert document["time"] == 10_000


def test_header_agent_reads_only_a_complete_header() -> None:
    v4 = wire(datagram("10.1.2.3", 7, (), sub_agent=4))
    v6 = wire(datagram("2001:db8::9", 7, ()))
    assert header_agent(v4) == ("10.1.2.3", 4)
    assert header_agent(memoryview(v6)) == ("2001:db8::9", 0)
    assert header_agent(v4[:15]) is None  # sub-agent cut off
    assert header_agent(b"\x00\x00\x00\x04" + v4[4:]) is None  # not version 5
    assert header_agent(v4[:4] + b"\x00\x00\x00\x03" + v4[8:]) is None  # unknown address type
    assert header_agent(b"") is None

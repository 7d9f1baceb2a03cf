"""Flow definitions against a real ``fabricscope serve`` over UDP and HTTP on 127.0.0.1.

The datagrams are built by hand, so every expected value is arithmetic: each datagram carries
the same samples (frame length x sampling rate bytes each), sent at a steady pace, so the ratio
of two keys' rates is exact and each rate is the bytes per datagram times the datagrams per
second (within the jitter of the pacing). The Prometheus flow scrape is checked with
``promtool check metrics``; a restart with the same flows file keeps the definitions.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from prometheus_client.parser import text_string_to_metric_families

from decoders.encode import sampled_header
from decoders.records import DataSource, DropSample, ExtendedLinuxDropReason
from tests.e2e_support import ROOT, Served, env, start_serve
from tests.fabric_builders import LEAF1, LEAF1_CORE, LEAF1_EDGE, TOPOLOGY, datagram, wire
from tests.test_flows import SAMPLES, A, B, C, _frame, _sample

PACE = 0.02  # seconds between datagrams
SEND_SECONDS = 3.0
WEIRD = 'we"ird\\reason'  # a Linux drop reason a label value must escape


def _datagram(sequence: int) -> bytes:
    samples = tuple(
        _sample(sequence * 10 + i, _frame(src, dst, qp), length, rate, source)
        for i, (src, dst, qp, length, rate, source) in enumerate(SAMPLES)
    )
    drop = DropSample(True, sequence, DataSource(0, LEAF1_EDGE), 0, LEAF1_EDGE, LEAF1_CORE, 259,
                      (ExtendedLinuxDropReason(WEIRD),
                       sampled_header(1, 1086, 4, _frame(A, C, 18)[:128])))  # fmt: skip
    return wire(datagram(LEAF1, sequence, (*samples, drop)))


class _Sender(threading.Thread):
    """Paced datagrams until stopped (bounded: at most 10,000 and 30 s), from a thread, so
    the answers are read while the traffic still flows (no decay since the last sample)."""

    def __init__(self, served: Served) -> None:
        super().__init__(daemon=True)
        self.port = served.sflow_port
        self.sent = 0
        self.started = time.monotonic()
        self.done = threading.Event()

    def run(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            while not self.done.is_set() and self.sent < 10_000:
                if time.monotonic() - self.started > 30:
                    break
                self.sent += 1
                sock.sendto(_datagram(self.sent), ("127.0.0.1", self.port))
                time.sleep(max(0.0, self.started + self.sent * PACE - time.monotonic()))
        finally:
            sock.close()

    def rate(self) -> float:
        """Datagrams per second so far."""
        return self.sent / (time.monotonic() - self.started)


def _delete(served: Served, path: str) -> int:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{served.http_port}{path}", method="DELETE")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.fixture
def topology(tmp_path: Path) -> Path:
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(TOPOLOGY))
    return path


@pytest.fixture
def served(tmp_path: Path, topology: Path) -> Iterator[Served]:
    s = start_serve(topology, 1, "--flows-file", str(tmp_path / "flows.json"))
    try:
        yield s
    finally:
        s.stop()


def test_flows_over_udp_rest_and_the_prometheus_scrape(served: Served, tmp_path: Path) -> None:
    pair = {"keys": "ipsource,ipdestination", "value": "bytes", "t": 1}
    assert served.put("/flow/pair/json", json.dumps(pair).encode())[0] == 204
    qp = {"keys": "ibbtdestqp", "value": "frames", "filter": "ingressrole=edge", "t": 1}
    assert served.put("/flow/qp/json", json.dumps(qp).encode())[0] == 204
    status, body = served.put("/flow/bad/json", b'{"keys":"ipsource","filter":"ipsource=1&("}')
    assert status == 400 and "filter: expected a key at 'end of filter' (offset 12)" in body
    status, body = served.put("/flow/bad/json", b'{"keys":"ipsauce"}')
    assert status == 400 and "unknown key at 'ipsauce'" in body
    status, body = served.put("/flow/bad/json", b"\xff{not json")
    assert status == 400 and body.startswith("definition: not JSON")
    assert served.put("/flow/bad/json", b"[" * 70_000)[0] == 413  # bounded body
    assert served.put("/flow/a%2Fb/json", b'{"keys":"agent"}')[0] in (400, 404)
    status, body = served.get("/flow/json")
    assert status == 200 and sorted(json.loads(body)) == ["pair", "qp"]
    assert json.loads(served.get("/flow/pair/json")[1])["keys"] == "ipsource,ipdestination"
    assert served.get("/flow/nothing/json")[0] == 404
    scrape = (
        "/app/prometheus/scripts/export.js/flows/ALL/txt?metric=fabric%20drops&key=linuxreason"
        "&key=ipsource&label=why&value=frames&dropped=true&t=1&minValue=0"
    )
    assert served.get(scrape)[0] == 200  # the first scrape defines the flow

    cli = [sys.executable, "-m", "collector", "flows", "top", "--collector",
           f"127.0.0.1:{served.http_port}", "--wait", "20", "--max", "2"]  # fmt: skip
    top_json = subprocess.Popen(
        [*cli, "ipsource,ipdestination", "--json"], stdout=subprocess.PIPE, text=True, env=env()
    )
    top_text = subprocess.Popen(
        [*cli, "ibbtdestqp,ingressport", "--value", "frames", "--filter", "ingressrole=edge"],
        stdout=subprocess.PIPE, text=True, env=env(),
    )  # fmt: skip
    sender = _Sender(served)
    sender.start()
    try:
        _check_answers(served, sender, top_json, top_text, cli, scrape, tmp_path)
    finally:
        sender.done.set()
        sender.join(timeout=10)


def _check_answers(
    served: Served,
    sender: _Sender,
    top_json: subprocess.Popen[str],
    top_text: subprocess.Popen[str],
    cli: list[str],
    scrape: str,
    tmp_path: Path,
) -> None:
    time.sleep(SEND_SECONDS)
    answer = json.loads(top_json.communicate(timeout=30)[0])
    assert top_json.returncode == 0
    assert [f["keys"] for f in answer["flows"]] == [[A, B], [B, A]]
    text = top_text.communicate(timeout=30)[0].splitlines()
    assert top_text.returncode == 0
    assert text[0].split() == ["frames", "ibbtdestqp", "ingressport"]
    assert [line.split()[-2:] for line in text[1:]] == [["17", "swp3"], ["18", "swp3"]]
    assert text[1].split()[1] in ("frames/s", "kframes/s")
    follow = subprocess.run(
        [*cli, "ibbtopname", "--value", "frames", "--follow", "--count", "2", "--interval", "0.3",
         "--json"],
        capture_output=True, text=True, env=env(), timeout=30,
    )  # fmt: skip
    assert follow.returncode == 0, follow.stderr
    tables = [json.loads(line) for line in follow.stdout.splitlines()]
    assert len(tables) == 2 and tables[1]["definition"]["keys"] == "ibbtopname"
    refused = subprocess.run(
        [*cli, "ipsource", "--filter", "ipsource=1&"],
        capture_output=True, text=True, env=env(), timeout=30,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "expected a key at 'end of filter' (offset 11)" in refused.stderr
    rate = sender.rate()
    pairs = json.loads(served.get("/activeflows/ALL/pair/json?maxFlows=10")[1])
    got = {f["key"]: f["value"] for f in pairs}
    assert [f["key"] for f in pairs] == [f"{A},{B}", f"{B},{A}", f"{A},{C}"]
    ab, ac, ba = 2 * 4158 * 1000, 1086 * 500, 1086 * 2000  # bytes per datagram
    assert got[f"{A},{C}"] / got[f"{A},{B}"] == pytest.approx(ac / ab, rel=1e-9)
    # t = 1 s after 3 s of steady traffic: 1 - e^-3 = 95 % of the rate, pacing jitter aside
    assert 0.8 * ab * rate < got[f"{A},{B}"] < 1.1 * ab * rate
    assert set(pairs[0]) == {"key", "value", "agent", "dataSource"}  # sFlow-RT's shape
    assert pairs[0]["agent"] == LEAF1 and pairs[0]["dataSource"] == str(LEAF1_EDGE)
    assert got[f"{B},{A}"] / got[f"{A},{B}"] == pytest.approx(ba / ab, rel=1e-9)
    edge = json.loads(served.get("/activeflows/ALL/pair/json?aggMode=edge")[1])
    assert [f["key"] for f in edge] == [f"{A},{B}", f"{A},{C}"]
    core = json.loads(served.get("/activeflows/CORE/pair/json?aggMode=sum")[1])
    assert [f["key"] for f in core] == [f"{B},{A}"]
    assert json.loads(served.get(f"/activeflows/{LEAF1}/pair/json?maxFlows=1")[1])[0]["key"] == (
        f"{A},{B}"
    )
    assert json.loads(served.get("/activeflows/10.9.9.9/pair/json")[1]) == []
    assert served.get("/activeflows/ALL/pair/json?aggMode=avg")[0] == 400
    qps = json.loads(served.get("/activeflows/ALL/qp/json")[1])
    assert [f["key"] for f in qps] == ["17", "18"]  # 19 entered on a core port
    assert qps[0]["value"] / qps[1]["value"] == pytest.approx(2000 / 500, rel=1e-9)
    keys = json.loads(served.get("/flowkeys/json")[1])
    assert {"ipsource", "ibbtdestqp", "linuxreason", "reason", "ingressport"} <= set(keys)

    status, text = served.get(scrape)
    assert status == 200
    families = list(text_string_to_metric_families(text))
    assert [f.name for f in families] == ["fabric_drops"]
    (sample,) = families[0].samples
    assert sample.labels == {"why": WEIRD, "ipsource": A}
    rate = sender.rate()
    assert 0.8 * rate < sample.value < 1.1 * rate  # one drop notification per datagram
    if shutil.which("promtool"):
        check = subprocess.run(
            ["promtool", "check", "metrics"], input=text.encode(), capture_output=True, timeout=60
        )
        assert check.returncode == 0, check.stdout + check.stderr
        assert check.stdout.decode().strip() == "" and check.stderr.decode().strip() == ""
    assert served.get(scrape.replace("metric=fabric%20drops&", ""))[0] == 400
    assert served.get(scrape + "&aggMode=" + quote("none"))[0] == 400
    metrics = served.metrics()
    assert metrics[("fabricscope_flow_definitions", ())] == 6.0  # 2 named, 4 made by queries
    assert metrics[("fabricscope_flow_keys", (("flow", "pair"),))] == 3.0

    assert _delete(served, "/flow/qp/json") == 204
    assert _delete(served, "/flow/qp/json") == 404
    saved = json.loads((tmp_path / "flows.json").read_text())
    assert sorted(saved["flows"]) == ["pair"]  # the scrape-made one is not persisted


def test_definitions_persist_across_a_restart(tmp_path: Path, topology: Path) -> None:
    flows = tmp_path / "flows.json"
    first = start_serve(topology, 1, "--flows-file", str(flows))
    try:
        qp = {"keys": "ibbtdestqp,ibbtopname", "value": "ibbtrdmalen", "n": 12}
        assert first.put("/flow/qp/json", json.dumps(qp).encode())[0] == 204
        # sFlow-RT's define_flow.php example attributes, its logging ones accepted and ignored
        example = {"keys": "ipsource,ipdestination", "value": "bytes", "values": ["frames"],
                   "filter": "ipsource=10.0.0.1", "n": 10, "t": 10, "dropped": False,
                   "fs": "_SEP_", "log": True, "flowStart": True, "activeTimeout": 10}  # fmt: skip
        assert first.put("/flow/example/json", json.dumps(example).encode())[0] == 204
        shown = json.loads(first.get("/flow/example/json")[1])
        assert shown == {"keys": "ipsource,ipdestination", "value": "bytes", "values": ["frames"],
                         "filter": "ipsource=10.0.0.1", "n": 10, "t": 10.0, "dropped": False,
                         "fs": "_SEP_"}  # fmt: skip
    finally:
        first.stop()
    second = start_serve(topology, 1, "--flows-file", str(flows))
    try:
        again = json.loads(second.get("/flow/qp/json")[1])
        assert (again["keys"], again["value"], again["n"]) == ("ibbtdestqp,ibbtopname",
                                                              "ibbtrdmalen", 12)  # fmt: skip
        assert sorted(json.loads(second.get("/flow/json")[1])) == ["example", "qp"]
    finally:
        second.stop()
    flows.write_text('{"flows": {"x": {"keys": "nokey"}}}')
    result = subprocess.run(
        [sys.executable, "-m", "collector", "serve", "--flows-file", str(flows),
         "--sflow-bind", "127.0.0.1:0", "--http-bind", "127.0.0.1:0", "--workers", "1"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env(),
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "flow x: keys: unknown key at 'nokey'" in lines[0], result.stderr

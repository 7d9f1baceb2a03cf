"""The direct InfluxDB push: end to end into a real VictoriaMetrics, and through an outage.

* A real ``fabricscope serve`` fed by the simulator pushes into VictoriaMetrics (which accepts
  InfluxDB's ``/api/v2/write`` and names a field ``{measurement}_{field}``); what it stored is
  compared with ``/metrics`` once the counters are still, and with the simulator's truth.
* A stand-in write endpoint on 127.0.0.1 refuses connections, then answers 429 with
  ``Retry-After`` (seconds, then an HTTP date), 503, 400, then accepts: the buffer stays at its
  bound with exactly the overflow counted as dropped, the waits follow ``Retry-After``, the
  rejected batch is counted, and the points arrive in order after the recovery — with a
  hand-made point source (exact counts) and with a real ``serve`` that keeps counting datagrams.
* Odd answers and secrets: a refusal whose body never ends is dropped at its status line,
  Retry-After takes ASCII digits only, and credentials in the URL never reach the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import logging
import math
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from collector.aggregate.aggregator import Aggregator
from collector.compat.face import NUMERIC_POINTS
from collector.influx.push import (
    MAX_RETRY_AFTER,
    AggregatorHealth,
    InfluxPusher,
    LineBuffer,
    PushLimits,
    PushTarget,
    backoff_delay,
    exposition_lines,
    parse_retry_after,
    token_from,
)
from collector.serve.settings import SettingsError, load_settings
from tests.e2e_support import ROOT, Metrics, Served, env, load_truth, simulate, start_serve

FABRIC = [
    "--leaves", "2", "--spines", "1", "--hosts-per-leaf", "4", "--sampling-rate", "5000",
    "--polling-interval", "1", "--seed", "11",
]  # fmt: skip
TOKEN = "t0ken-under-test"
WAIT = 20.0  # seconds any single wait in these tests may take at most
ENDLESS_BODY_S = 60.0  # the refusal's body never ends within the test


# ---------------------------------------------------------------------------------------------
# Pieces


def test_buffer_drops_the_oldest_beyond_its_bounds() -> None:
    buffer = LineBuffer(max_points=4, max_bytes=1000)
    assert buffer.add([b"1\n", b"2\n", b"3\n"]) == 0
    assert buffer.add([b"4\n", b"5\n", b"6\n"]) == 2  # 1 and 2 go
    assert (buffer.points, buffer.size) == (4, 8)
    batch = buffer.take(3, 1000)
    assert batch == [b"3\n", b"4\n", b"5\n"]
    assert buffer.points == 4  # the batch out still counts
    assert buffer.add([b"7\n"]) == 1  # only "6" waits: it goes, though newer than the batch
    assert buffer.give_back(batch) == 0
    assert buffer.take(10, 1000) == [b"3\n", b"4\n", b"5\n", b"7\n"]
    buffer.done()
    assert (buffer.points, buffer.size) == (0, 0)


def test_buffer_bytes_bound_and_batch_bytes() -> None:
    buffer = LineBuffer(max_points=100, max_bytes=10)
    assert buffer.add([b"aaaa\n", b"bbbb\n", b"cccc\n"]) == 1  # 15 bytes > 10: the oldest goes
    assert buffer.take(10, 6) == [b"bbbb\n"]  # the second line would pass 6 bytes
    buffer.give_back([b"bbbb\n"])
    assert buffer.take(10, 1) == [b"bbbb\n"]  # one line at least, even over the byte limit


def test_retry_after_seconds_and_dates() -> None:
    now = 1_767_225_600.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 0 ", now) == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now) == 0.0  # already past
    assert parse_retry_after("999999999", now) == MAX_RETRY_AFTER
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None


def test_retry_after_with_non_ascii_digits_is_unreadable() -> None:
    """'²' and '٣' are str.isdigit() but not the ASCII digits RFC 9110 delay-seconds allows."""
    assert parse_retry_after("\u00b2", now=0.0) is None
    assert parse_retry_after("\u0663", now=0.0) is None
    assert parse_retry_after("3", now=0.0) == 3.0


def test_backoff_doubles_up_to_the_cap_with_jitter() -> None:
    limits = PushLimits(min_backoff=0.5, max_backoff=4.0)
    rng = random.Random(3)
    for attempt, ceiling in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0), (500, 4.0)):
        waits = [backoff_delay(attempt, limits, rng) for _ in range(50)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits), (attempt, waits)
        assert len(set(waits)) > 1  # jittered


def test_token_comes_from_the_environment_only() -> None:
    assert token_from({"FABRICSCOPE_INFLUX_TOKEN": "a", "INFLUX_TOKEN": "b"}) == "a"
    assert token_from({"FABRICSCOPE_INFLUX_TOKEN": "", "INFLUX_TOKEN": "b"}) == "b"
    assert token_from({}) is None
    target = PushTarget("http://db:8086", "my org", "ai/metrics", TOKEN, "ms")
    assert TOKEN not in repr(target)
    assert target.write_url == (
        "http://db:8086/api/v2/write?org=my+org&bucket=ai%2Fmetrics&precision=ms"
    )


def test_settings_flags_env_and_file(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('influx_interval = 2.5\ninflux_precision = "s"\ninflux_org = "file-org"\n')
    settings = load_settings(
        {"influx_url": "https://db.example:8086/", "influx_bucket": "ai"},
        env={"FABRICSCOPE_INFLUX_ORG": "env-org"},
        config_file=config,
    )
    assert settings.influx_url == "https://db.example:8086"  # trailing slash dropped
    assert (settings.influx_org, settings.influx_bucket) == ("env-org", "ai")
    assert (settings.influx_interval, settings.influx_precision) == (2.5, "s")
    assert load_settings({}, env={}).influx_url is None  # off by default


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"influx_url": "db:8086"}, "invalid influx_url (from --influx-url): 'db:8086' is not"),
        ({"influx_url": "http://db?x=1"}, "invalid influx_url (from --influx-url): "),
        ({"influx_url": "http://db", "influx_org": "o"}, "missing influx_bucket: influx_url"),
        ({"influx_precision": "m"}, "invalid influx_precision (from --influx-precision)"),
        ({"influx_interval": "0"}, "invalid influx_interval (from --influx-interval)"),
        ({"influx_buffer_points": "0"}, "invalid influx_buffer_points (from --influx-buffer"),
    ],
)
def test_settings_errors_name_the_field(flags: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(flags, env={})
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)


def test_token_is_not_a_setting(tmp_path: Path) -> None:
    config = tmp_path / "serve.toml"
    config.write_text('influx_token = "secret"\n')
    with pytest.raises(SettingsError, match="unknown setting 'influx_token'"):
        load_settings({}, env={}, config_file=config)


def test_serve_refuses_a_bad_influx_url() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "collector", "serve", "--influx-url", "ftp://db",
         "--influx-org", "o", "--influx-bucket", "b", "--http-bind", "127.0.0.1:0",
         "--sflow-bind", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=60, env=env(), cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "fabricscope: error: invalid influx_url (from --influx-url): "
        "'ftp://db' is not an http:// or https:// URL with a host"
    ]


# ---------------------------------------------------------------------------------------------
# A stand-in write endpoint


@dataclass
class Received:
    """One write request as the server saw it."""

    at: float  # time.monotonic()
    wire_bytes: int  # Content-Length: the compressed size
    status: int
    lines: list[str]
    headers: dict[str, str]
    query: dict[str, str]


Answer = tuple[int, dict[str, Callable[[], str]], float]  # status, header makers, delay (s)


class ScriptedInflux:
    """``/api/v2/write`` on 127.0.0.1 in its own thread: refuses connections until ``open()``,
    then answers from ``script`` (status, header makers, a delay before answering) and with 204
    once it is used up."""

    def __init__(self, script: list[Answer]) -> None:
        self.script = list(script)
        self.requests: list[Received] = []
        self._reserved = socket.socket()
        self._reserved.bind(("127.0.0.1", 0))  # bound, never listening: connections refused
        self.port = self._reserved.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._runner: web.AppRunner | None = None

    async def _write(self, request: web.Request) -> web.Response:
        body = await request.read()  # aiohttp undoes the Content-Encoding (a bad gzip: 400)
        status, makers, delay = self.script.pop(0) if self.script else (204, {}, 0.0)
        self.requests.append(
            Received(
                time.monotonic(),
                request.content_length or 0,
                status,
                body.decode().splitlines(),
                dict(request.headers),
                dict(request.query),
            )
        )
        await asyncio.sleep(delay)
        return web.Response(status=status, headers={k: make() for k, make in makers.items()})

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/v2/write", self._write)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        self._reserved.close()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def open(self) -> None:
        """Start answering."""
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(WAIT)

    def close(self) -> None:
        """Stop the server and its thread."""
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(WAIT)
        self._reserved.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(WAIT)

    def statuses(self) -> list[int]:
        """Statuses answered so far, in order."""
        return [r.status for r in list(self.requests)]


def _fault_script() -> list[Answer]:
    def in_two_seconds() -> str:
        return email.utils.formatdate(time.time() + 2, usegmt=True)

    return [
        (429, {"Retry-After": lambda: "1"}, 0.0),
        (503, {}, 0.0),
        (429, {"Retry-After": in_two_seconds}, 0.0),
        (400, {}, 0.0),
    ]


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# ---------------------------------------------------------------------------------------------
# Outage with a hand-made source: exact counts


def test_outage_bounded_buffer_retry_after_and_recovery() -> None:
    per_interval, bound = 10, 100
    server = ScriptedInflux(_fault_script())
    try:
        asyncio.run(_outage(server, per_interval, bound))
    finally:
        server.close()


async def _outage(server: ScriptedInflux, per_interval: int, bound: int) -> None:
    produced = 0

    async def collect(time_ns: int) -> list[bytes]:
        nonlocal produced
        first, produced = produced, produced + per_interval
        return [f"seq value={n} {time_ns // 1_000_000}\n".encode() for n in range(first, produced)]

    aggregator = Aggregator()
    limits = PushLimits(
        interval=0.05, batch_points=40, buffer_points=bound, min_backoff=0.05, max_backoff=0.2
    )
    target = PushTarget(server.url, "fabric", "ai", TOKEN, "ms")
    pusher = InfluxPusher(target, limits, collect, AggregatorHealth(aggregator), random.Random(7))

    def counter(family: str, *labels: str) -> float:
        return aggregator.snapshot().counters.get(family, {}).get(labels, 0.0)

    stop = asyncio.Event()
    task = asyncio.create_task(pusher.run(stop))
    deadline = time.monotonic() + WAIT
    checks = 0
    while produced < 3 * bound:  # down: connections refused
        assert time.monotonic() < deadline
        await asyncio.sleep(0.03)
        assert pusher.buffer.points <= bound
        if produced >= bound:  # exactly the overflow is dropped, the bound is held
            assert counter("influx_points_dropped", "buffer_full") == produced - bound
            assert aggregator.snapshot().gauges["influx_buffer_points"][()] == bound
            checks += 1
    assert checks >= 3
    assert counter("influx_requests_failed", "connection") >= 2
    assert counter("influx_points_sent") == 0

    server.open()
    while server.statuses()[:7] != [429, 503, 429, 400, 204, 204, 204]:
        assert time.monotonic() < deadline, server.statuses()
        await asyncio.sleep(0.05)
        assert pusher.buffer.points <= bound
    stop.set()
    await asyncio.wait_for(task, WAIT)

    requests = list(server.requests)
    at = [r.at for r in requests]
    assert at[1] - at[0] >= 0.95  # "Retry-After: 1"
    assert at[2] - at[1] < 0.9  # 503 without Retry-After: backoff, at most 0.2 s (+ slack)
    assert at[3] - at[2] >= 0.95  # an HTTP date 2 s ahead, whole seconds: at least 1 s
    for r in requests:
        assert r.headers["Authorization"] == f"Token {TOKEN}"
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.query == {"org": "fabric", "bucket": "ai", "precision": "ms"}

    accepted = [
        int(line.split()[1].removeprefix("value="))
        for r in requests
        if r.status == 204
        for line in r.lines
    ]
    biggest = max(requests, key=lambda r: len(r.lines))
    assert biggest.wire_bytes < sum(len(line) + 1 for line in biggest.lines)  # gzip on the wire
    rejected = sum(len(r.lines) for r in requests if r.status == 400)
    assert accepted == sorted(set(accepted))  # in order, none twice
    assert accepted[-1] >= 3 * bound  # points made after the outage arrived
    assert counter("influx_points_sent") == len(accepted)
    assert counter("influx_points_dropped", "rejected") == rejected > 0
    assert counter("influx_requests_failed", "http_429") == 2
    assert counter("influx_requests_failed", "http_5xx") == 1
    assert counter("influx_requests_failed", "http_4xx") == 1
    dropped = counter("influx_points_dropped", "buffer_full") + rejected
    assert produced == counter("influx_points_generated")
    assert produced == len(accepted) + dropped + pusher.buffer.points


async def _push_until(
    server: ScriptedInflux, requests: int, limits: PushLimits, token: str | None, precision: str
) -> tuple[Aggregator, list[bytes]]:
    """Push one fresh line per interval to ``server`` until it has had ``requests`` requests;
    returns the aggregator holding the push's health counters and the lines made."""
    made: list[bytes] = []

    async def collect(time_ns: int) -> list[bytes]:
        made.append(f"line value={len(made)} {time_ns}\n".encode())
        return made[-1:]

    aggregator = Aggregator()
    target = PushTarget(server.url, "fabric", "ai", token, precision)
    pusher = InfluxPusher(target, limits, collect, AggregatorHealth(aggregator))
    stop = asyncio.Event()
    task = asyncio.create_task(pusher.run(stop))
    deadline = time.monotonic() + WAIT
    while len(server.requests) < requests:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.wait_for(task, WAIT)
    return aggregator, made


@contextlib.contextmanager
def _scripted(script: list[Answer]) -> Iterator[ScriptedInflux]:
    """A ``ScriptedInflux`` accepting connections, closed on leaving."""
    server = ScriptedInflux(script)
    server.open()
    try:
        yield server
    finally:
        server.close()


def test_a_request_without_answer_is_retried() -> None:
    with _scripted([(204, {}, 1.5)]) as server:  # answers after the client gave up
        limits = PushLimits(interval=0.2, timeout=0.3, min_backoff=0.05, max_backoff=0.1)
        aggregator, made = asyncio.run(_push_until(server, 3, limits, None, "ns"))
        first, second = server.requests[0], server.requests[1]
        assert first.lines == [made[0].decode().strip()]
        assert second.lines[0] == first.lines[0]  # the unanswered batch again, first
        assert "Authorization" not in first.headers  # no token, no header
        assert first.query["precision"] == "ns"
        counters = aggregator.snapshot().counters
        assert counters["influx_requests_failed"] == {("timeout",): 1.0}


def test_a_redirect_is_not_followed_and_counted_as_such() -> None:
    # a write must not be re-sent elsewhere unasked: the batch is refused, as with a 4xx
    moved = {"Location": lambda: "/api/v2/elsewhere"}
    with _scripted([(308, moved, 0.0), (301, moved, 0.0)]) as server:
        limits = PushLimits(interval=0.05, min_backoff=0.05, max_backoff=0.1)
        aggregator, _ = asyncio.run(_push_until(server, 3, limits, TOKEN, "ms"))
        statuses = [r.status for r in server.requests]
        assert statuses[:3] == [308, 301, 204]  # only ever the configured URL: nothing followed
        refused = sum(len(r.lines) for r in server.requests[:2])
        counters = aggregator.snapshot().counters
        assert counters["influx_requests_failed"] == {("http_3xx",): 2.0}
        assert counters["influx_points_dropped"] == {("rejected",): float(refused)}


def test_an_exposition_that_does_not_parse_is_left_out() -> None:
    good = b'# TYPE fabricscope_x_total counter\nfabricscope_x_total{role="edge"} 3\n'
    bad = b'fabricscope_y{role="ed\\ge"} 1\n'  # an invalid escape: Telegraf drops this scrape
    lines = exposition_lines([bad, good], 1_000_000_123, "ms")
    assert lines == [b"fabricscope_x_total,role=edge counter=3 1000\n"]


# ---------------------------------------------------------------------------------------------
# An endless error body, a closed port, credentials in the URL


class RecordingHealth:
    """Counter families added to, by (family, labels)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, tuple[str, ...]]] = Counter()

    def count(self, family: str, labels: tuple[str, ...], value: float) -> None:
        self.counts[(family, labels)] += value

    def gauge(self, name: str, value: float) -> None:
        pass


async def _push_one_line_until(
    url: str, done: Callable[[RecordingHealth], bool]
) -> RecordingHealth:
    """Push one line an hour to ``url`` until ``done`` holds (5 s at most); returns the health
    counters."""
    health = RecordingHealth()

    async def one_line(time_ns: int) -> list[bytes]:
        return [b"m value=1 1\n"]

    limits = PushLimits(interval=3600.0, timeout=2.0, min_backoff=0.05, max_backoff=0.1)
    pusher = InfluxPusher(PushTarget(url, "org", "bucket"), limits, one_line, health)
    stop = asyncio.Event()
    task = asyncio.create_task(pusher.run(stop))
    try:
        for _ in range(100):  # 5 s at most
            if done(health):
                break
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
    return health


async def _refuse_with_an_endless_body(request: web.Request) -> web.StreamResponse:
    await request.read()
    response = web.StreamResponse(status=400, headers={"Content-Type": "text/plain"})
    await response.prepare(request)
    await response.write(b"bad line protocol: " + b"x" * 300 + b"\n")
    await asyncio.sleep(ENDLESS_BODY_S)  # the rest of the body never comes
    return response


async def _push_against_an_endless_refusal() -> RecordingHealth:
    app = web.Application()
    app.router.add_post("/api/v2/write", _refuse_with_an_endless_body)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    def failed(health: RecordingHealth) -> bool:
        return sum(n for (family, _), n in health.counts.items() if family.endswith("failed")) > 0

    try:
        return await _push_one_line_until(f"http://127.0.0.1:{port}", failed)
    finally:
        await runner.cleanup()


def test_a_refusal_is_dropped_without_reading_its_whole_body() -> None:
    """A 400 is final as soon as its status line arrives: the pusher must not wait for (or hold
    in memory) the whole error body, which here never ends."""
    health = asyncio.run(_push_against_an_endless_refusal())
    assert health.counts[("influx_requests_failed", ("http_4xx",))] == 1
    assert health.counts[("influx_points_dropped", ("rejected",))] == 1
    assert health.counts[("influx_requests_failed", ("timeout",))] == 0


async def _push_to_a_closed_port(url: str) -> RecordingHealth:
    return await _push_one_line_until(
        url, lambda health: health.counts[("influx_requests_failed", ("connection",))] > 0
    )


def test_credentials_in_the_url_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """user:password@ in --influx-url (basic auth, e.g. behind a proxy) is as secret as the
    token: the start-up line and the connection warnings name the server without it."""
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = reserved.getsockname()[1]
        url = f"http://writer:s3cret-pass@127.0.0.1:{port}"
        with caplog.at_level(logging.INFO, logger="fabricscope.influx"):
            health = asyncio.run(_push_to_a_closed_port(url))
    assert health.counts[("influx_requests_failed", ("connection",))] >= 1
    messages = [record.getMessage() for record in caplog.records]
    assert any(f"http://127.0.0.1:{port}" in m for m in messages), messages
    assert not any("s3cret" in m or "writer" in m for m in messages), messages
    assert "s3cret" not in repr(PushTarget(url, "org", "bucket"))


# ---------------------------------------------------------------------------------------------
# A real serve, a real VictoriaMetrics


@dataclass
class Victoria:
    """A VictoriaMetrics single-node process on 127.0.0.1."""

    process: subprocess.Popen[bytes]
    url: str

    def export(self, match: str) -> list[dict[str, Any]]:
        """Every series matching ``match`` with its samples (``/api/v1/export``)."""
        query = urllib.parse.urlencode({"match[]": match})
        with urllib.request.urlopen(f"{self.url}/api/v1/export?{query}", timeout=10) as r:
            return [json.loads(line) for line in r.read().decode().splitlines() if line]

    def latest(self, match: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """The last value of every matching series, keyed by (name, sorted labels)."""
        out = {}
        for series in self.export(match):
            labels = dict(series["metric"])
            name = labels.pop("__name__")
            last = max(range(len(series["timestamps"])), key=series["timestamps"].__getitem__)
            out[(name, tuple(sorted(labels.items())))] = float(series["values"][last])
        return out


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def victoria(tmp_path: Path) -> Any:
    binary = shutil.which("victoria-metrics")
    if binary is None:
        pytest.skip("victoria-metrics not installed")
    port = _free_port()
    process = subprocess.Popen(
        [binary, f"-httpListenAddr=127.0.0.1:{port}", f"-storageDataPath={tmp_path / 'vm'}",
         "-retentionPeriod=1d", "-loggerLevel=ERROR"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            assert process.poll() is None, "victoria-metrics exited"
            return False

    try:
        _wait_until(healthy, "victoria-metrics to start")
        yield Victoria(process, url)
    finally:
        process.terminate()
        process.wait(WAIT)


def _topology(tmp_path: Path) -> Path:
    topology = tmp_path / "topology.json"
    simulate(["--pcap", str(tmp_path / "t.pcap"), "--duration", "1", "--topology-out",
              str(topology), *FABRIC])  # fmt: skip
    return topology


def _stop(served: Served) -> str:
    try:
        return served.stop()
    except subprocess.TimeoutExpired:
        return ""


def _fabric_counters(m: Metrics) -> dict[Any, float]:
    """The fabric's counters of a scrape: not the push's own (they move every interval), not
    the period detector's (fed 1 s late, it may still move once the traffic stopped)."""
    return {
        key: value
        for key, value in m.samples.items()
        if key[0].startswith("fabricscope_")
        and key[0].endswith("_total")
        and "_influx_" not in key[0]
        and "_period_" not in key[0]
    }


def _settled(served: Served, datagrams: int) -> Metrics:
    """Scrape until ``datagrams`` arrived and the fabric counters are the same over two
    scrapes."""
    deadline = time.monotonic() + WAIT
    last = None
    while True:
        m = Metrics(served.metrics())
        now = _fabric_counters(m)
        if m.one("fabricscope_datagrams_total") >= datagrams and now == last:
            return m
        assert time.monotonic() < deadline, "collector did not settle"
        last = now
        time.sleep(0.4)


def _same(ours: float, stored: float | None) -> bool:
    """VictoriaMetrics keeps 12 significant decimal digits of a float."""
    return stored is not None and math.isclose(ours, stored, rel_tol=1e-11, abs_tol=0.0)


def _vm_key(name: str, labels: tuple[tuple[str, str], ...], field: str) -> Any:
    """Where VictoriaMetrics keeps one field: ``{measurement}_{field}``, empty labels absent."""
    return (f"{name}_{field}", tuple((k, v) for k, v in labels if v != ""))


def test_push_into_victoriametrics_matches_metrics_and_truth(
    tmp_path: Path, victoria: Victoria
) -> None:
    topology = _topology(tmp_path)
    served = start_serve(
        topology, 1,
        "--influx-url", victoria.url, "--influx-org", "fabric", "--influx-bucket", "ai",
        "--influx-interval", "0.3",
    )  # fmt: skip
    try:
        started_ms = time.time() * 1000
        truth_path = tmp_path / "truth.json"
        simulate(["--collector", f"127.0.0.1:{served.sflow_port}", "--duration", "3",
                  "--truth", str(truth_path), *FABRIC])  # fmt: skip
        truth = load_truth(truth_path)["totals"]
        metrics = _settled(served, truth["emitted"]["datagrams"])
        counters = _fabric_counters(metrics)
        buckets = {
            key: value
            for key, value in metrics.samples.items()
            if key[0].startswith("fabricscope_port_utilization_ratio")
        }
        assert any(v > 0 for k, v in buckets.items() if k[0].endswith("_count"))
        want = {_vm_key(name, labels, "counter"): v for (name, labels), v in counters.items()}
        for (name, labels), value in buckets.items():
            family, _, part = name.rpartition("_")  # _bucket, _count or _sum
            if part == "bucket":
                le = dict(labels)["le"]
                others = tuple(kv for kv in labels if kv[0] != "le")
                # Go %g of these bounds (at most 6 digits) is Python's "g"; +Inf as is
                field = le if le == "+Inf" else format(float(le), "g")
                want[_vm_key(family, others, field)] = value
            else:
                want[_vm_key(family, labels, part)] = value

        def stored() -> dict[Any, float]:
            return victoria.latest('{__name__=~"fabricscope_.*"}')

        deadline = time.monotonic() + WAIT
        while True:
            got = stored()
            wrong = {k: (v, got.get(k)) for k, v in want.items() if not _same(v, got.get(k))}
            if not wrong or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert wrong == {}  # (in /metrics, in VM)
        assert got[("fabricscope_datagrams_total_counter", ())] == truth["emitted"]["datagrams"]
        flows = ("fabricscope_samples_total_counter", (("kind", "flow"),))
        assert got[flows] == truth["emitted"]["flow_samples"]
        for reason, count in truth["drops"].items():
            assert (
                got[("fabricscope_dropped_packets_total_counter", (("reason", reason),))] == count
            )
        assert got[("fabricscope_workers_gauge", ())] == 1
        assert ("fabricscope_influx_points_sent_total_counter", ()) in got

        compat = victoria.latest('{__name__=~"sflow_ai_.*"}')
        for point in NUMERIC_POINTS:  # the compatible face, untyped: field "value"
            assert (f"sflow_ai_{point}_value", ()) in compat, point
        assert not any(name.endswith("_gauge") for name, _ in compat)
        series = victoria.export('{__name__="sflow_ai_bps_value"}')
        assert max(series[0]["values"]) > 0
        stamps = series[0]["timestamps"]
        assert started_ms - 1000 <= min(stamps) and max(stamps) <= time.time() * 1000
    finally:
        err = _stop(served)
    assert "Traceback" not in err, err


def test_serve_keeps_counting_through_an_influx_outage(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topology = _topology(tmp_path)
    server = ScriptedInflux(_fault_script())
    monkeypatch.setenv("FABRICSCOPE_INFLUX_TOKEN", TOKEN)
    bound = 300
    served = start_serve(
        topology, 1,
        "--influx-url", server.url, "--influx-org", "fabric", "--influx-bucket", "ai",
        "--influx-interval", "0.2", "--influx-buffer-points", str(bound),
        "--influx-max-backoff", "0.3",
    )  # fmt: skip
    err = ""
    try:
        truth_path = tmp_path / "truth.json"
        sim = subprocess.Popen(
            [sys.executable, "-m", "collector", "simulate", "--quiet",
             "--collector", f"127.0.0.1:{served.sflow_port}",
             "--duration", "4", "--truth", str(truth_path), *FABRIC],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=env(), cwd=ROOT,
        )  # fmt: skip
        datagrams_seen: list[float] = []
        outage_checks = 0
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline and (outage_checks < 3 or not datagrams_seen[-1]):
            time.sleep(0.3)
            m = Metrics(served.metrics())
            datagrams_seen.append(m.one("fabricscope_datagrams_total"))
            buffered = m.one("fabricscope_influx_buffer_points")
            generated = m.one("fabricscope_influx_points_generated_total")
            assert buffered <= bound
            assert m.one("fabricscope_influx_points_sent_total") == 0
            if generated >= bound:
                assert buffered == bound
                assert m.sum("fabricscope_influx_points_dropped_total") == generated - bound
                outage_checks += 1
        assert outage_checks >= 3 and datagrams_seen[-1] > 0
        server.open()
        assert sim.wait(WAIT) == 0, sim.stderr.read() if sim.stderr else ""
        truth = load_truth(truth_path)["totals"]
        final = _settled(served, truth["emitted"]["datagrams"])
        assert final.one("fabricscope_datagrams_total") == truth["emitted"]["datagrams"]
        assert sorted(datagrams_seen) == datagrams_seen and datagrams_seen[-1] > datagrams_seen[0]

        def arrived() -> list[float]:
            return [
                float(line.split(" counter=")[1].split()[0])
                for r in list(server.requests)
                if r.status == 204
                for line in r.lines
                if line.startswith("fabricscope_datagrams_total ")
            ]

        _wait_until(
            lambda: arrived()[-1:] == [truth["emitted"]["datagrams"]], "the final count to arrive"
        )
        m = Metrics(served.metrics())
        sent = m.one("fabricscope_influx_points_sent_total")
        dropped = m.sum("fabricscope_influx_points_dropped_total")
        assert m.one("fabricscope_influx_points_generated_total") == (
            sent + dropped + m.one("fabricscope_influx_buffer_points")
        )
        received = sum(len(r.lines) for r in list(server.requests) if r.status == 204)
        assert 0 < sent <= received
        assert m.one("fabricscope_influx_points_dropped_total", reason="rejected") == sum(
            len(r.lines) for r in list(server.requests) if r.status == 400
        )
        assert server.statuses()[:5] == [429, 503, 429, 400, 204]
        assert all(r.headers["Authorization"] == f"Token {TOKEN}" for r in server.requests)
        assert m.one("fabricscope_influx_last_success_timestamp_seconds") > 0
    finally:
        err = _stop(served)
        server.close()
    assert TOKEN not in err and "Traceback" not in err, err
    assert re.search(r"influx push: .* answered 429", err), err

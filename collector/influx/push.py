"""Direct push to InfluxDB v2 (``--influx-url``), for users without Telegraf.

Every ``--influx-interval`` the pusher takes what ``/metrics`` and the compatible face serve at
that moment, turns it into the points Telegraf's ``inputs.prometheus`` (``metric_version = 1``)
would write (``collector.telegraf_v1``, so dashboards built on a Telegraf set-up work unchanged),
and appends their line protocol to a bounded buffer. A sender drains the buffer in batches:
``POST {url}/api/v2/write?org=…&bucket=…&precision=…``, gzip, ``Authorization: Token …`` (from
``FABRICSCOPE_INFLUX_TOKEN`` or ``INFLUX_TOKEN``, never a flag, never logged).

* 2xx: the batch is done. 429, 5xx, a connection error or a timeout: the batch goes back to the
  front of the buffer and the sender waits — the server's ``Retry-After`` (seconds or an HTTP
  date) when given, else an exponential backoff with jitter up to ``--influx-max-backoff``. Any
  other answer (a 4xx: bad data, bad token, no such bucket) will not get better by retrying: the
  batch is dropped and counted.
* The buffer holds at most ``--influx-buffer-points`` lines and ``--influx-buffer-bytes`` bytes,
  the batch being sent included; beyond that the oldest lines are dropped and counted.
* Both loops are asyncio tasks in the serving process: the UDP receivers never wait for them.

Health goes to the aggregator as the ``fabricscope_influx_*`` families (docs/metrics.md), where
``generated = sent + dropped + buffered`` holds at every scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import gzip
import logging
import os
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol

import aiohttp

from collector.aggregate.aggregator import Aggregator
from collector.delta import Delta
from collector.influx.line_protocol import PRECISION_NS, encode_point
from collector.influx.target import InfluxSettings, PushLimits, PushTarget
from collector.influx.telegraf_v1 import ExpositionError, points_from_exposition

log = logging.getLogger("fabricscope.influx")

TOKEN_ENV = ("FABRICSCOPE_INFLUX_TOKEN", "INFLUX_TOKEN")
MAX_RETRY_AFTER = 3600.0  # a longer Retry-After is taken as this
LOG_EVERY = 60.0  # seconds between repeated warnings about the same failure
DETAIL_BYTES = 200  # of an error answer's body quoted in the warning


class PushHealth(Protocol):
    """Where the pusher reports its health (``AggregatorHealth`` in the collector)."""

    def count(self, family: str, labels: tuple[str, ...], value: float) -> None:
        """Add ``value`` to a counter family."""

    def gauge(self, name: str, value: float) -> None:
        """Set an unlabelled gauge."""


class LineBuffer:
    """Encoded lines waiting to be sent, oldest first, bounded in lines and bytes.

    ``take`` hands out a batch from the front; the batch still counts towards the bounds until
    ``done`` (sent or given up) or ``give_back`` (to be retried). Adding beyond a bound drops the
    oldest waiting lines; ``add`` and ``give_back`` return how many.
    """

    def __init__(self, max_points: int, max_bytes: int) -> None:
        self.max_points = max_points
        self.max_bytes = max_bytes
        self._lines: deque[bytes] = deque()
        self._bytes = 0
        self._out_points = 0  # lines of the batch taken out
        self._out_bytes = 0

    @property
    def points(self) -> int:
        """Lines held, the batch taken out included."""
        return len(self._lines) + self._out_points

    @property
    def size(self) -> int:
        """Bytes held, the batch taken out included."""
        return self._bytes + self._out_bytes

    def _trim(self) -> int:
        dropped = 0
        while self._lines and (self.points > self.max_points or self.size > self.max_bytes):
            self._bytes -= len(self._lines.popleft())
            dropped += 1
        return dropped

    def add(self, lines: Iterable[bytes]) -> int:
        """Append lines (each ending in a newline); returns how many old ones were dropped."""
        for line in lines:
            self._lines.append(line)
            self._bytes += len(line)
        return self._trim()

    def take(self, max_points: int, max_bytes: int) -> list[bytes]:
        """Up to ``max_points`` lines and ``max_bytes`` bytes from the front (at least one
        line when any is waiting); only one batch may be out at a time."""
        if self._out_points:
            raise RuntimeError("a batch is already out")
        batch: list[bytes] = []
        size = 0
        while self._lines and len(batch) < max_points:
            line = self._lines[0]
            if batch and size + len(line) > max_bytes:
                break
            batch.append(self._lines.popleft())
            size += len(line)
        self._bytes -= size
        self._out_points, self._out_bytes = len(batch), size
        return batch

    def done(self) -> None:
        """The batch out was sent or given up."""
        self._out_points = self._out_bytes = 0

    def give_back(self, batch: list[bytes]) -> int:
        """Put the batch out back in front, to be retried; returns the old lines dropped."""
        self._out_points = self._out_bytes = 0
        self._lines.extendleft(reversed(batch))
        self._bytes += sum(map(len, batch))
        return self._trim()


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay seconds or an HTTP date, RFC 9110),
    at most ``MAX_RETRY_AFTER``; None when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():  # str.isdigit() alone also takes '²' and '٣'
        return min(float(text), MAX_RETRY_AFTER)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


def backoff_delay(attempt: int, limits: PushLimits, rng: random.Random) -> float:
    """The wait before retry ``attempt`` (1, 2, …): ``min_backoff`` doubled per attempt up to
    ``max_backoff``, then a random point in its upper half, so that many collectors that lost
    the same server do not come back in step."""
    ceiling = min(limits.max_backoff, limits.min_backoff * 2.0 ** min(attempt - 1, 60))
    return ceiling / 2 + rng.random() * ceiling / 2


class InfluxPusher:
    """Collects points every interval into a ``LineBuffer`` and sends them to InfluxDB."""

    def __init__(
        self,
        target: PushTarget,
        limits: PushLimits,
        collect: Callable[[int], Awaitable[Iterable[bytes]]],
        health: PushHealth,
        rng: random.Random | None = None,
    ) -> None:
        """``await collect(time_ns)`` gives the encoded lines of one interval."""
        self.target = target
        self.limits = limits
        self.buffer = LineBuffer(limits.buffer_points, limits.buffer_bytes)
        self._collect = collect
        self._health = health
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self._last_warning: dict[str, float] = {}
        self.failures = 0  # consecutive failed requests

    # ------------------------------------------------------------------------------------------

    def _report_buffer(self) -> None:
        self._health.gauge("influx_buffer_points", float(self.buffer.points))
        self._health.gauge("influx_buffer_bytes", float(self.buffer.size))

    def _dropped(self, reason: str, points: int) -> None:
        if points:
            self._health.count("influx_points_dropped", (reason,), float(points))

    async def collect_once(self, time_ns: int) -> None:
        """Add one interval's lines to the buffer (dropping the oldest beyond the bounds)."""
        lines = list(await self._collect(time_ns))
        self._health.count("influx_points_generated", (), float(len(lines)))
        self._dropped("buffer_full", self.buffer.add(lines))
        self._report_buffer()
        self._wake.set()

    def _may_log(self, kind: str) -> bool:
        """True at most once per ``LOG_EVERY`` seconds for each kind of trouble."""
        now = time.monotonic()
        if now - self._last_warning.get(kind, -LOG_EVERY) < LOG_EVERY:
            return False
        self._last_warning[kind] = now
        return True

    def _warn(self, kind: str, message: str) -> None:
        if self._may_log(kind):
            log.warning("influx push: %s", message)

    # ------------------------------------------------------------------------------------------

    async def _post(self, session: aiohttp.ClientSession, body: bytes) -> tuple[str, float | None]:
        """One write request: ('ok' | 'retry' | 'drop', seconds to wait or None) and the
        failure counted by reason."""
        headers = {
            "Content-Encoding": "gzip",
            "Content-Type": "text/plain; charset=utf-8",
        }
        if self.target.token:
            headers["Authorization"] = f"Token {self.target.token}"
        try:
            async with session.post(
                self.target.write_url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                if 200 <= status < 300:
                    return "ok", None
                # The start of the body only: an error body can be huge, or never end.
                start = await response.content.read(DETAIL_BYTES)
                detail = start.decode("utf-8", errors="replace").replace("\n", " ")
                wait = parse_retry_after(response.headers.get("Retry-After"), time.time())
        except TimeoutError:
            self._health.count("influx_requests_failed", ("timeout",), 1.0)
            self._warn(
                "timeout", f"{self.target.shown_url}: no answer within {self.limits.timeout} s"
            )
            return "retry", None
        except (aiohttp.ClientError, OSError) as exc:
            self._health.count("influx_requests_failed", ("connection",), 1.0)
            self._warn("connection", f"{self.target.shown_url}: {exc.__class__.__name__}: {exc}")
            return "retry", None
        except Exception:  # a bug must not lose the batch out nor end the push
            self._health.count("influx_requests_failed", ("connection",), 1.0)
            if self._may_log("request"):
                log.exception("influx push: write request failed")
            return "retry", None
        if status == 429 or status >= 500:
            reason = "http_429" if status == 429 else "http_5xx"
            self._health.count("influx_requests_failed", (reason,), 1.0)
            self._warn(reason, f"{self.target.shown_url} answered {status}, will retry: {detail}")
            return "retry", wait
        # not followed (a write must not be re-sent elsewhere unasked): a redirect is a refusal
        refused = "http_3xx" if 300 <= status < 400 else "http_4xx"
        self._health.count("influx_requests_failed", (refused,), 1.0)
        self._warn(
            f"http_{status}", f"{self.target.shown_url} refused a batch ({status}): {detail}"
        )
        return "drop", None

    async def _send_one(self, session: aiohttp.ClientSession) -> float | None:
        """Send one batch from the front; returns how long to wait before the next one."""
        batch = self.buffer.take(self.limits.batch_points, self.limits.batch_bytes)
        self._report_buffer()
        body = await asyncio.to_thread(gzip.compress, b"".join(batch), 5)  # off the loop
        outcome, wait = await self._post(session, body)
        if outcome == "ok":
            self.buffer.done()
            self.failures = 0
            self._health.count("influx_points_sent", (), float(len(batch)))
            self._health.gauge("influx_last_success_timestamp_seconds", time.time())
            self._report_buffer()
            return None
        if outcome == "drop":
            self.buffer.done()
            self.failures = 0
            self._dropped("rejected", len(batch))
            self._report_buffer()
            return None
        self.failures += 1
        self._dropped("buffer_full", self.buffer.give_back(batch))
        self._report_buffer()
        if wait is not None:  # Retry-After, though never 0: that would hammer the server
            return max(wait, self.limits.min_backoff)
        return backoff_delay(self.failures, self.limits, self._rng)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)

    async def _collect_loop(self, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not stop.is_set():
            try:
                await self.collect_once(time.time_ns())
            except Exception:  # a bug must not end the push (nor the collector)
                if self._may_log("collect"):
                    log.exception("influx push: collecting points failed")
            next_at = max(next_at + self.limits.interval, loop.time())
            await self._sleep(stop, next_at - loop.time())

    async def _send_loop(self, stop: asyncio.Event) -> None:
        timeout = aiohttp.ClientTimeout(total=self.limits.timeout)
        # trust_env: HTTPS_PROXY / NO_PROXY apply, as they do to Telegraf
        async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as session:
            while not stop.is_set():
                if not self.buffer.points:
                    self._wake.clear()
                    waiter = asyncio.ensure_future(self._wake.wait())
                    stopper = asyncio.ensure_future(stop.wait())
                    try:
                        await asyncio.wait((waiter, stopper), return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        waiter.cancel()
                        stopper.cancel()
                    continue
                wait = await self._send_one(session)
                if wait is not None:
                    await self._sleep(stop, wait)

    async def run(self, stop: asyncio.Event) -> None:
        """Collect and send until ``stop`` is set; points not yet sent then are lost."""
        log.info(
            "influx push: %s org %s bucket %s every %g s",
            self.target.shown_url,
            self.target.org,
            self.target.bucket,
            self.limits.interval,
        )
        try:
            await asyncio.gather(self._collect_loop(stop), self._send_loop(stop))
        except Exception:  # never taken down with the collector: the push alone stops
            log.exception("influx push: stopped by an unexpected error")


# ----------------------------------------------------------------------------------------------
# The collector's side


class AggregatorHealth:
    """Reports into the collector's aggregator, so the health series appear in /metrics."""

    def __init__(self, aggregator: Aggregator) -> None:
        self._aggregator = aggregator

    def count(self, family: str, labels: tuple[str, ...], value: float) -> None:
        """Add to a counter family (as a collector-level delta, like topology reloads)."""
        delta = Delta()
        delta.add_counter(family, labels, value)
        self._aggregator.merge(delta, receiver=-1)

    def gauge(self, name: str, value: float) -> None:
        """Set an unlabelled gauge."""
        self._aggregator.set_gauge(name, value)


def exposition_lines(expositions: Iterable[bytes], time_ns: int, precision: str) -> list[bytes]:
    """The line protocol Telegraf (metric_version 1, no url or host tag) writes for these
    expositions scraped at ``time_ns``, one newline-terminated line per point."""
    precision_ns = PRECISION_NS[precision]
    lines: list[bytes] = []
    for text in expositions:
        try:
            points = points_from_exposition(text, scrape_time_ns=time_ns, precision_ns=precision_ns)
        except ExpositionError as exc:  # Telegraf would lose this whole scrape too
            log.warning(
                "influx push: an exposition does not parse, its points are left out: %s", exc
            )
            continue
        for point in points:
            line = encode_point(point, precision)
            if line is not None:
                lines.append(line.encode("utf-8") + b"\n")
    return lines


def token_from(env: Mapping[str, str]) -> str | None:
    """The API token from the first of ``TOKEN_ENV`` that is set and not empty."""
    for name in TOKEN_ENV:
        if env.get(name):
            return env[name]
    return None


def pusher_for(
    settings: InfluxSettings | None,
    expositions: Callable[[], Iterable[bytes]],
    health: PushHealth,
    env: Mapping[str, str] | None = None,
) -> InfluxPusher | None:
    """The pusher ``settings`` ask for (None when no push is configured); ``expositions()``
    returns the texts to push (``/metrics`` and the compatible face's)."""
    if settings is None:
        return None
    token = token_from(os.environ if env is None else env)
    if token is None:
        log.warning(
            "influx push: neither %s is set; writing without a token", " nor ".join(TOKEN_ENV)
        )
    target = PushTarget(settings.url, settings.org, settings.bucket, token, settings.precision)
    limits = settings.limits
    precision = settings.precision

    async def collect(time_ns: int) -> list[bytes]:
        texts = list(expositions())  # here, on the event loop that owns the aggregator
        # the parsing and encoding off the loop, so HTTP answers are not held up by it
        return await asyncio.to_thread(exposition_lines, texts, time_ns, precision)

    return InfluxPusher(target, limits, collect, health)

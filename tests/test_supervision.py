"""When the supervisor replaces a silent worker: 10 ticks, never under 10 s, 30 s before a new
worker's first delta; and when ``health()`` names it (a fake clock, no processes)."""

from __future__ import annotations

from typing import Any

from collector.receive.receivers import ReceiverSettings
from collector.serve import workers
from collector.serve.workers import Receivers, _Worker


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _receivers(tick: float) -> tuple[Receivers, _Clock, list[int]]:
    clock = _Clock()
    supervisor = Receivers(
        [], ReceiverSettings(tick_seconds=tick), lambda *_: None, lambda _: None,
        lambda *_: None, clock=clock,
    )  # fmt: skip
    replaced: list[int] = []
    supervisor._close = lambda worker: None  # type: ignore[method-assign]
    supervisor._replace = lambda worker: replaced.append(worker.worker_id)  # type: ignore[method-assign]
    return supervisor, clock, replaced


def _worker(worker_id: int, started: float, last_delta: float | None) -> _Worker:
    fake: Any = None
    return _Worker(worker_id, fake, fake, fake, -1, started=started, last_delta=last_delta)


def test_short_ticks_do_not_replace_a_worker_paused_for_a_few_seconds() -> None:
    supervisor, clock, replaced = _receivers(tick=0.2)
    assert supervisor.stall_seconds == workers.MIN_STALL_SECONDS == 10.0  # not 10 x 0.2 s
    supervisor._workers[0] = _worker(0, started=clock.now, last_delta=clock.now)
    clock.now += 9.9
    supervisor.check()
    assert replaced == []
    assert supervisor.health() == ["worker 0 silent for 10 s"]  # named after 3 s
    clock.now += 0.2
    supervisor.check()
    assert replaced == [0]


def test_long_ticks_keep_ten_ticks_and_a_new_worker_gets_its_start_grace() -> None:
    supervisor, clock, replaced = _receivers(tick=2.0)
    assert supervisor.stall_seconds == 20.0
    supervisor._workers[1] = _worker(1, started=clock.now, last_delta=None)  # not sent yet
    clock.now += 29.0
    supervisor.check()
    assert replaced == []  # a new worker imports the collector before its first delta
    assert supervisor.health() == ["worker 1 has not started"]
    clock.now += 2.0
    supervisor.check()
    assert replaced == [1]

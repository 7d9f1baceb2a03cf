"""The compiled socket reader (``collector.receive._socket_ring``) over real UDP sockets.

Every datagram comes out of the ring whole and in order, across the ring's wrap; a full ring
makes the reader wait (counted) while the socket buffer holds the rest, so nothing is lost; a
sleeping consumer is always woken; and the receive loop hands its handler the same datagrams
whether it reads through the ring or the socket itself.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest

from collector.receive import listener, socket_ring
from collector.receive.listener import ReceiveLoop

if socket_ring.IMPLEMENTATION != "compiled":
    pytest.skip(f"compiled module not available: {socket_ring.REASON}", allow_module_level=True)

from collector.receive._socket_ring import MIN_CAPACITY, SocketRing

GUARD_S = 20.0  # generous: each loop below is bounded by count, this only stops a hang


def _payload(i: int, size: int) -> bytes:
    """A datagram that names its index and whose every byte depends on it."""
    body = bytes((i * 31 + k) & 0xFF for k in range(min(size, 509))) * (size // 509 + 1)
    return struct.pack("!I", i) + body[: max(0, size - 4)]


@pytest.fixture
def receiver() -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # room for everything a test sends while the ring is full (a few hundred KB even where
    # rmem_max clamps it), so that a loss could only be the ring's
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 * 1024 * 1024)
    sock.bind(("127.0.0.1", 0))
    sock.setblocking(False)
    yield sock
    sock.close()


def _take(ring: SocketRing, count: int) -> list[bytes]:
    """Take ``count`` datagrams, sleeping on the ring's eventfd between them."""
    buf = bytearray(65535)
    out: list[bytes] = []
    deadline = time.monotonic() + GUARD_S
    while len(out) < count and time.monotonic() < deadline:
        if not ring.ready():
            select.select([ring.fileno()], [], [], 1.0)
            ring.acknowledge()
            continue
        n = ring.next_into(buf)
        if n >= 0:
            out.append(bytes(buf[:n]))
    return out


def test_datagrams_come_out_whole_and_in_order_across_the_wrap(receiver: socket.socket) -> None:
    # the smallest ring (two of the largest entries) wraps every few datagrams
    ring = SocketRing(receiver.fileno(), MIN_CAPACITY)
    sizes = [0, 1, 4, 7, 8, 9, 1290, 9000, 65507, 65507, 3, 40000, 1290] * 12
    sent = [_payload(i, size) if size >= 4 else bytes(size) for i, size in enumerate(sizes)]
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    got: list[bytes] = []
    for start in range(0, len(sent), 13):  # sent in slices, so the kernel buffer never overflows
        for data in sent[start : start + 13]:
            tx.sendto(data, receiver.getsockname())
        got += _take(ring, 13)
    tx.close()
    assert got == sent
    stats = ring.stats()
    assert stats["datagrams"] == len(sent) and stats["error"] == 0
    assert stats["capacity"] == MIN_CAPACITY // 8 * 8
    assert stats["peak_bytes"] <= stats["capacity"]
    ring.close()


def test_a_full_ring_waits_and_the_socket_buffer_holds_the_rest(receiver: socket.socket) -> None:
    ring = SocketRing(receiver.fileno(), MIN_CAPACITY)
    entry = 1000 + 8  # a 1,000-byte datagram takes 1,008 bytes of ring
    held = MIN_CAPACITY // entry
    total = held * 3
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = [_payload(i, 1000) for i in range(total)]
    for data in sent:
        tx.sendto(data, receiver.getsockname())
    tx.close()
    deadline = time.monotonic() + GUARD_S
    while ring.pending_bytes() < held * entry and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)
    # nothing taken yet: the ring holds what fits, and the reader waits for room
    assert ring.pending_bytes() == held * entry
    assert ring.stats()["full_waits"] == 1
    got = _take(ring, total)
    assert got == sent  # nothing lost, nothing reordered: the socket buffer held the rest
    stats = ring.stats()
    assert stats["datagrams"] == total and stats["full_waits"] >= 1
    ring.close()


def test_a_sleeping_consumer_is_always_woken(receiver: socket.socket) -> None:
    ring = SocketRing(receiver.fileno(), 1 << 20)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    buf = bytearray(65535)
    for i in range(300):
        assert not ring.ready()  # empty: the reader will signal the next arrival
        tx.sendto(_payload(i, 64), receiver.getsockname())
        readable, _, _ = select.select([ring.fileno()], [], [], GUARD_S)
        assert readable, f"datagram {i} arrived but the consumer was not woken"
        ring.acknowledge()
        n = ring.next_into(buf)
        assert bytes(buf[:n]) == _payload(i, 64)
    tx.close()
    ring.close()


def test_bad_arguments_and_a_closed_ring(receiver: socket.socket) -> None:
    with pytest.raises(ValueError, match="capacity must be at least"):
        SocketRing(receiver.fileno(), MIN_CAPACITY - 1)
    ring = SocketRing(receiver.fileno(), MIN_CAPACITY)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx.sendto(b"x" * 100, receiver.getsockname())
    tx.close()
    deadline = time.monotonic() + GUARD_S
    while not ring.ready() and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(ValueError, match="smaller than a datagram of 100"):
        ring.next_into(bytearray(99))
    with pytest.raises(BufferError):
        ring.next_into(b"read-only")
    ring.close()
    ring.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        ring.next_into(bytearray(65535))


def test_a_reader_on_something_that_is_no_socket_stops_with_its_errno() -> None:
    read_end, write_end = os.pipe()
    try:
        ring = SocketRing(read_end, MIN_CAPACITY)
        deadline = time.monotonic() + GUARD_S
        while ring.error() == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ring.error() == errno.ENOTSOCK
        ring.close()
    finally:
        os.close(read_end)
        os.close(write_end)


def _send_paced(sock: socket.socket, sent: list[bytes]) -> None:
    """Send to ``sock`` in slices of 100 with a short pause, well within its buffer."""
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i, data in enumerate(sent):
        tx.sendto(data, sock.getsockname())
        if i % 100 == 99:
            time.sleep(0.002)
    tx.close()


def _run_loop(sock: socket.socket, ring_bytes: int, sent: list[bytes]) -> tuple[list[bytes], int]:
    """Run a ReceiveLoop until it has handled ``sent``; what it handled and its tick count."""
    handled: list[bytes] = []
    ticks: list[float] = []
    loop = ReceiveLoop(
        sock,
        lambda data, now: handled.append(bytes(data)),
        ticks.append,
        tick_seconds=0.05,
        ring_bytes=ring_bytes,
    )
    thread = threading.Thread(target=loop.run)
    thread.start()
    _send_paced(sock, sent)
    deadline = time.monotonic() + GUARD_S
    while len(handled) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.01)
    loop.stop()
    thread.join(GUARD_S)
    assert not thread.is_alive()
    return handled, len(ticks)


def test_the_loop_hands_over_the_same_datagrams_with_and_without_the_ring(
    receiver: socket.socket,
) -> None:
    sent = [_payload(i, 200 + (i * 97) % 1400) for i in range(3000)]
    through_ring, ring_ticks = _run_loop(receiver, 1 << 20, sent)
    direct, direct_ticks = _run_loop(receiver, 0, sent)
    assert through_ring == sent and direct == sent
    assert ring_ticks >= 1 and direct_ticks >= 1  # the final tick at least


def test_the_loop_reads_the_socket_itself_when_the_reader_fails(
    receiver: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a real reader that fails at once (on a pipe: ENOTSOCK); the loop must notice at a tick
    # and go on reading the socket itself
    read_end, write_end = os.pipe()
    monkeypatch.setattr(
        listener, "open_ring", lambda sock, capacity: SocketRing(read_end, capacity)
    )
    try:
        sent = [_payload(i, 300) for i in range(500)]
        handled, _ = _run_loop(receiver, MIN_CAPACITY, sent)
        assert handled == sent
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_stopping_loop_takes_what_the_ring_still_holds(receiver: socket.socket) -> None:
    # the handler is held on the first datagram, so the rest piles up in the ring; the loop is
    # then stopped and released: everything the reader took must still be handled, then ticked
    release = threading.Event()
    handled: list[bytes] = []
    ticks: list[int] = []

    def handle(data: memoryview, now: float) -> None:
        release.wait(GUARD_S)
        handled.append(bytes(data))

    loop = ReceiveLoop(
        receiver, handle, lambda now: ticks.append(len(handled)), tick_seconds=60.0,
        ring_bytes=8 << 20,
    )  # fmt: skip
    thread = threading.Thread(target=loop.run)
    thread.start()
    sent = [_payload(i, 700) for i in range(2000)]
    _send_paced(receiver, sent)
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        stats = loop.ring_stats()
        if stats is not None and stats["datagrams"] == len(sent):
            break
        time.sleep(0.01)
    loop.stop()
    release.set()
    thread.join(GUARD_S)
    assert not thread.is_alive()
    assert handled == sent
    assert ticks == [len(sent)]  # the one final tick came after the last datagram

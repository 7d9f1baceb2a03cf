"""Hostile input against a live ``serve``: spoofed agents, unknown formats, random bytes.

The process must stay up with bounded memory, count everything, and keep counting good traffic
exactly. Marked slow (about 100k datagrams).
"""

from __future__ import annotations

import random
import socket
import struct
import time
from pathlib import Path

import pytest

from decoders.records import Datagram, RawSample
from tests.fabric_builders import LEAF1, LEAF1_EDGE, datagram, flow, wire, write_first
from tests.test_serve import _start, _stop

SPOOFED = 100_000
UNKNOWN = 20_000
RANDOM = 5_000
RSS_LIMIT = 300 * 1024 * 1024  # the documented bound for the default caps, with headroom


def _spoofed(i: int) -> bytes:
    # A valid datagram from a different agent address each time; sequence 1, one tiny sample.
    agent = socket.inet_ntoa(struct.pack(">I", 0xC6120000 + i))
    return wire(Datagram(agent, 1, i & 0xFF, 1, 1000, (RawSample(9, 9, b"x" * 4),)))


def _unknown(i: int) -> bytes:
    samples = tuple(RawSample(i % 4096 + 1, i % 4000 + 7, b"\x00" * 8) for _ in range(4))
    return wire(Datagram("192.0.2.200", 1, 0, i + 1, 1000 + i, samples))


@pytest.mark.slow
def test_hostile_floods_keep_the_collector_bounded_and_counting(tmp_path: Path) -> None:
    served = _start(tmp_path, 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rng = random.Random(11)
    sent = 0
    good_seq = 0

    def pace(payloads: list[bytes]) -> None:
        nonlocal sent, good_seq
        for n, payload in enumerate(payloads):
            sock.sendto(payload, ("127.0.0.1", served.sflow_port))
            sent += 1
            if n % 500 == 499:
                good_seq += 1  # a good datagram from the real agent between every 500
                sample = flow(good_seq, LEAF1_EDGE, (write_first(),), rate=1000)
                sock.sendto(
                    wire(datagram(LEAF1, good_seq, (sample,))), ("127.0.0.1", served.sflow_port)
                )
                sent += 1
                time.sleep(0.02)

    try:
        pace([_spoofed(i) for i in range(SPOOFED)])
        pace([_unknown(i) for i in range(UNKNOWN)])
        pace([rng.randbytes(rng.randrange(0, 1400)) for _ in range(RANDOM)])
        received = served.wait_for("fabricscope_datagrams_total", sent)
        drops = served.value("fabricscope_kernel_receive_drops_total")
        assert received + drops == sent
        assert drops == 0, "paced sending should not overflow the receive buffer"
        metrics = served.metrics()
        # one-datagram spoofed agents never pass probation: only the two real agents (LEAF1 and
        # the unknown-format sender) are tracked, and the table never filled
        assert served.value("fabricscope_agents") == 2
        assert served.value("fabricscope_agents_untracked_datagrams_total") == 0
        # every spoofed and unknown-format sample is counted, as docs/metrics.md says
        assert served.value("fabricscope_samples_total", kind="unknown") == SPOOFED + 4 * UNKNOWN
        unknown_samples = sum(
            v for (n, labels), v in metrics.items()
            if n == "fabricscope_unknown_records_total" and ("kind", "sample") in labels
        )  # fmt: skip
        assert unknown_samples == SPOOFED + 4 * UNKNOWN
        assert served.value("fabricscope_fabric_ingress_frames_total") == good_seq * 1000
        assert (
            served.value("fabricscope_agent_datagrams_total", agent=LEAF1, sub_agent="0")
            == good_seq
        )
        unknown_series = [k for k in metrics if k[0] == "fabricscope_unknown_records_total"]
        assert len(unknown_series) <= 257  # capped label values, rest as "other"
        errors = sum(v for (n, _), v in metrics.items() if n == "fabricscope_decode_errors_total")
        assert errors > RANDOM * 0.9
        rss = served.value("process_resident_memory_bytes")
        print(f"RSS after {sent} hostile datagrams: {rss / 2**20:.1f} MiB")
        assert 0 < rss < RSS_LIMIT
        assert served.process.poll() is None
    finally:
        sock.close()
        _stop(served)

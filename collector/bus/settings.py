"""The bus components' own settings (``collector.serve.settings`` narrows into them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_STREAM = "FABRICSCOPE_DELTAS"
SUBJECT_PREFIX = "fabricscope.delta"  # one subject per shard: fabricscope.delta.<shard>


@dataclass(frozen=True, slots=True)
class BusSettings:
    """Where the bus is and how to reach it (credentials and TLS passed to the client)."""

    servers: tuple[str, ...]
    stream: str = DEFAULT_STREAM
    replicas: int = 1  # JetStream replicas of the stream (3 on a three-node cluster)
    max_age_seconds: float = 86_400.0  # deltas kept this long (a stopped aggregator's catch-up)
    credentials: Path | None = None  # a NATS .creds file (JWT + NKey seed)
    tls_ca: Path | None = None  # CA bundle to verify a tls:// server with
    tls_cert: Path | None = None  # client certificate (mutual TLS)
    tls_key: Path | None = None


@dataclass(frozen=True, slots=True)
class PublisherSettings:
    """One shard's publisher: its name (a subject token) and how much it holds while away."""

    bus: BusSettings
    shard: str
    max_waiting: int = 8  # deltas held apart (an expiry and a return); more are folded
    publish_timeout: float = 2.0  # seconds to wait for JetStream's acknowledgement


@dataclass(frozen=True, slots=True)
class ConsumerSettings:
    """The aggregator's consumer: its durable name and how often it checkpoints."""

    bus: BusSettings
    consumer: str  # durable consumer name and checkpoint key (one per aggregator, HA: two)
    checkpoint_seconds: float = 5.0
    batch: int = 256  # deltas fetched per request

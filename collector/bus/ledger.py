"""Exactly-once bookkeeping of the bus, pure: delta ids, per-shard ledgers, checkpoints.

A shard numbers its deltas with ``next_delta_id``: the wall clock in microseconds, or one more
than the previous id when the clock has not moved on, so ids only grow, also across a restart of
the shard (a restart takes far longer than one microsecond per delta already sent). The
aggregator keeps, per shard, the last id it merged; a delta whose id is not above it was merged
already (a redelivery, or a publish retried after its acknowledgement was lost) and is skipped.

A checkpoint is what a restarted aggregator resumes from: ``b"FSK"`` + version byte, a 4-byte
length, the ledger as JSON (``{"stream_sequence": n, "shards": {shard: [index, last id]}}``),
then the totals as a ``collector.delta_codec`` payload. Every field is checked on the way in.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field

from collector.delta import Delta
from collector.delta_codec import DeltaCodecError, decode_delta, encode_delta

SHARD_HEADER = "Fabricscope-Shard"
DELTA_ID_HEADER = "Fabricscope-Delta-Id"
MSG_ID_HEADER = "Nats-Msg-Id"  # JetStream drops a duplicate within its window on its own
SHARD_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # one subject token
CHECKPOINT_MAGIC = b"FSK"
CHECKPOINT_VERSION = 1
_LENGTH = struct.Struct("!I")


def next_delta_id(last: int, now_us: int) -> int:
    """The id of the next delta: the clock in µs, but always above ``last``."""
    return max(now_us, last + 1)


def shard_of_host(hostname: str) -> str:
    """A shard name from a host name: its characters that cannot be in a subject token as ``_``."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", hostname)[:64]
    return name or "shard"


@dataclass
class ShardLedger:
    """Per shard, the last delta id merged and a small stable index (the aggregator's receiver
    key for the shard's gauges), plus the stream sequence merged up to."""

    last_ids: dict[str, int] = field(default_factory=dict)
    indexes: dict[str, int] = field(default_factory=dict)
    stream_sequence: int = 0

    def accept(self, shard: str, delta_id: int) -> bool:
        """True (and remembered) when ``delta_id`` is new for ``shard``; False: merged already."""
        if delta_id <= self.last_ids.get(shard, 0):
            return False
        self.last_ids[shard] = delta_id
        self.index(shard)
        return True

    def index(self, shard: str) -> int:
        """The shard's index, given in order of first arrival and kept in checkpoints."""
        found = self.indexes.get(shard)
        if found is None:
            found = self.indexes[shard] = len(self.indexes)
        return found


class CheckpointError(ValueError):
    """Bytes that are not a checkpoint of this version; ``str()`` names the field."""


def encode_checkpoint(ledger: ShardLedger, totals: Delta) -> bytes:
    """The checkpoint of ``ledger`` and the aggregator's ``totals``."""
    document = {
        "stream_sequence": ledger.stream_sequence,
        "shards": {s: [ledger.indexes[s], i] for s, i in ledger.last_ids.items()},
    }
    head = json.dumps(document, separators=(",", ":")).encode()
    magic = CHECKPOINT_MAGIC + bytes([CHECKPOINT_VERSION])
    return magic + _LENGTH.pack(len(head)) + head + encode_delta(totals)


def _int(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise CheckpointError(f"checkpoint {where}: expected a non-negative integer")
    return value


def decode_checkpoint(data: bytes) -> tuple[ShardLedger, Delta]:
    """The ledger and totals of a checkpoint; ``CheckpointError`` for anything else."""
    if data[:3] != CHECKPOINT_MAGIC or len(data) < 8 or data[3] != CHECKPOINT_VERSION:
        raise CheckpointError("checkpoint: bad magic or version")
    (length,) = _LENGTH.unpack_from(data, 4)
    if 8 + length > len(data):
        raise CheckpointError("checkpoint: truncated ledger")
    try:
        document = json.loads(data[8 : 8 + length])
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(f"checkpoint: ledger not JSON ({exc})") from None
    if not isinstance(document, dict) or not isinstance(document.get("shards"), dict):
        raise CheckpointError("checkpoint shards: expected an object")
    ledger = ShardLedger(stream_sequence=_int(document.get("stream_sequence"), "stream_sequence"))
    for shard, entry in document["shards"].items():
        if not SHARD_NAME.fullmatch(shard) or not isinstance(entry, list) or len(entry) != 2:
            raise CheckpointError("checkpoint shards: expected shard: [index, last id]")
        ledger.indexes[shard] = _int(entry[0], "shards[].index")
        ledger.last_ids[shard] = _int(entry[1], "shards[].last_id")
    try:
        totals = decode_delta(data[8 + length :])
    except DeltaCodecError as exc:
        raise CheckpointError(f"checkpoint totals: {exc}") from None
    return ledger, totals

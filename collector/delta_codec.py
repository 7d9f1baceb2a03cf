"""The ``Delta`` on the wire: a versioned, safe encoding and its length-prefixed frames.

What a worker process sends its aggregator (and, one day, what a receiver host sends over the
network), so it must never execute anything it reads: the payload is JSON (UTF-8, no pickle)
behind a 4-byte magic and version, and decoding checks every field's type and shape, raising
``DeltaCodecError`` (one line naming the field) on anything else.

Frame: ``!I`` length of what follows, then ``b"FSD"`` + version byte, then the JSON document::

    {"counters":   {family: [[labels…], value], …},
     "histograms": {family: [[[labels…], [per-bucket counts…], sum], …]},
     "credits":    {role: [count, sum, low, high]},
     "gauges":     {name: value},
     "agents":     [[agent, sub_agent, node, last_seen, uptime_ms, sampling_rate,
                     effective_sampling_rate, hostname, [sampling rates…], sequence], …],
     "expired_agents": [[agent, sub_agent], …],
     "ports":      [[agent, ifindex, node, port, role, oper_up, admin_up, speed_bps,
                     in_utilization, out_utilization, last_seen, sflow_name], …],
     "port_blocks": [[[agent…], [ifindex…], [node…], [port…], [role…], [up bits…],
                      [speed_bps…], [in_utilization…], [out_utilization…], [last_seen…],
                      [sflow_name…]], …],
     "expired_ports": [[agent, ifindex], …],
     "roce":       [[bucket, frames], …],
     "observed":   null | {"locations": [[mac, ip, agent, ifindex, node, port, seen], …],
                           "drop_events": [{field: value}, …], "drops_skipped": n,
                           "flow_agents": {agent: seen}},
     "flows":      {definition: [generation, dropped, [[[key texts…], [sums…]], …]]},
     "flow_keys":  {key name: seen}}

Version 2 added ``flows`` and ``flow_keys`` (flow definitions' partial sums, docs/flows.md);
version 4 ``port_blocks``: a receiver's port statuses column by column, as its port tables
build them (``PortStatusBlock``: up bits 1 oper, 2 admin; a utilisation not measured is NaN),
applied after ``ports`` in order, a later ``last_seen`` winning.

Floats round-trip exactly (JSON numbers written with ``repr``); the infinities of an empty
credit window are JSON's ``Infinity`` extension, which Python reads back. ``FrameReader`` is the
sans-I/O half of the transport: feed it bytes as they arrive, take the whole deltas out.
"""

from __future__ import annotations

import json
import math
import struct
from array import array
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from collector.delta import (
    ADMIN_UP,
    OPER_UP,
    AgentStatus,
    CreditStats,
    Delta,
    FlowPartial,
    HistogramValue,
    Observations,
    PortKey,
    PortStatus,
    PortStatusBlock,
    PortUpdates,
)

MAGIC = b"FSD"
VERSION = 4  # 2: flow partial sums; 3: agents[] carry their last sequence; 4: port_blocks
HEADER = MAGIC + bytes([VERSION])
LENGTH = struct.Struct("!I")
MAX_FRAME = 512 * 1024 * 1024  # a larger length is a broken stream, not a delta


class DeltaCodecError(ValueError):
    """A frame or payload that is not a delta of this version; ``str()`` names the field."""


# ---------------------------------------------------------------------------------------------
# Encoding


def _column(values: Sequence[Any]) -> list[Any]:
    return values.tolist() if isinstance(values, array) else list(values)


def encode_delta(delta: Delta) -> bytes:
    """The versioned payload of one delta (no length prefix)."""
    observed = delta.observed
    statuses: Mapping[PortKey, PortStatus] = delta.ports
    blocks: list[PortStatusBlock] = []
    if isinstance(delta.ports, PortUpdates):
        statuses, blocks = delta.ports.parts()
    document = {
        "counters": {
            family: [[list(labels), value] for labels, value in series.items()]
            for family, series in delta.counters.items()
        },
        "histograms": {
            family: [[list(labels), h.counts, h.total] for labels, h in series.items()]
            for family, series in delta.histograms.items()
        },
        "credits": {role: [c.count, c.total, c.low, c.high] for role, c in delta.credits.items()},
        "gauges": delta.gauges,
        "agents": [
            [
                key[0],
                key[1],
                a.node,
                a.last_seen,
                a.uptime_ms,
                a.sampling_rate,
                a.effective_sampling_rate,
                a.hostname,
                list(a.sampling_rates),
                a.sequence,
            ]
            for key, a in delta.agents.items()
        ],
        "expired_agents": [list(key) for key in delta.expired_agents],
        "ports": [
            [
                key[0],
                key[1],
                p.node,
                p.port,
                p.role,
                p.oper_up,
                p.admin_up,
                p.speed_bps,
                p.in_utilization,
                p.out_utilization,
                p.last_seen,
                p.sflow_name,
            ]
            for key, p in statuses.items()
        ],
        "port_blocks": [[_column(column) for column in block.columns()] for block in blocks],
        "expired_ports": [list(key) for key in delta.expired_ports],
        "roce": [[bucket, frames] for bucket, frames in delta.roce_buckets.items()],
        "observed": None
        if observed is None
        else {
            "locations": [list(location) for location in observed.locations],
            "drop_events": observed.drop_events,
            "drops_skipped": observed.drops_skipped,
            "flow_agents": observed.flow_agents,
        },
        "flows": {
            name: [p.generation, p.dropped, [[list(key), sums] for key, sums in p.sums.items()]]
            for name, p in delta.flows.items()
        },
        "flow_keys": delta.flow_keys,
    }
    return HEADER + json.dumps(document, separators=(",", ":")).encode()


def encode_frame(delta: Delta) -> bytes:
    """One length-prefixed frame carrying ``delta``."""
    payload = encode_delta(delta)
    return LENGTH.pack(len(payload)) + payload


# ---------------------------------------------------------------------------------------------
# Decoding: every value checked before it becomes part of a Delta


def _fail(where: str, what: str) -> DeltaCodecError:
    return DeltaCodecError(f"delta {where}: {what}")


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "expected an object")
    return value


def _list(value: Any, where: str, length: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise _fail(where, "expected an array")
    if length is not None and len(value) != length:
        raise _fail(where, f"expected {length} items, got {len(value)}")
    return value


def _str(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise _fail(where, "expected a string")
    return value


def _opt_str(value: Any, where: str) -> str | None:
    return None if value is None else _str(value, where)


def _int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(where, "expected an integer")
    return value


def _opt_int(value: Any, where: str) -> int | None:
    return None if value is None else _int(value, where)


def _num(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(where, "expected a number")
    return float(value)


def _finite(value: Any, where: str) -> float:
    number = _num(value, where)
    if not math.isfinite(number):
        raise _fail(where, "expected a finite number")
    return number


def _opt_num(value: Any, where: str) -> float | None:
    return None if value is None else _finite(value, where)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise _fail(where, "expected true or false")
    return value


def _labels(value: Any, where: str) -> tuple[str, ...]:
    return tuple(_str(v, where) for v in _list(value, where))


def _scalar(value: Any, where: str) -> Any:
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise _fail(where, "expected a string, number, boolean or null")


def _counters(document: Any) -> dict[str, dict[tuple[str, ...], float]]:
    out: dict[str, dict[tuple[str, ...], float]] = {}
    for family, rows in _dict(document, "counters").items():
        where = f"counters.{family}"
        series = out[family] = {}
        for row in _list(rows, where):
            labels, value = _list(row, where, 2)
            series[_labels(labels, where)] = _finite(value, where)
    return out


def _histograms(document: Any) -> dict[str, dict[tuple[str, ...], HistogramValue]]:
    out: dict[str, dict[tuple[str, ...], HistogramValue]] = {}
    for family, rows in _dict(document, "histograms").items():
        where = f"histograms.{family}"
        series = out[family] = {}
        for row in _list(rows, where):
            labels, counts, total = _list(row, where, 3)
            values = [_finite(n, where) for n in _list(counts, where)]
            series[_labels(labels, where)] = HistogramValue(values, _finite(total, where))
    return out


def _credits(document: Any) -> dict[str, CreditStats]:
    out: dict[str, CreditStats] = {}
    for role, row in _dict(document, "credits").items():
        where = f"credits.{role}"
        count, total, low, high = _list(row, where, 4)
        out[role] = CreditStats(
            _int(count, where), _finite(total, where), _num(low, where), _num(high, where)
        )
    return out


def _agents(document: Any) -> dict[tuple[str, int], AgentStatus]:
    out: dict[tuple[str, int], AgentStatus] = {}
    for row in _list(document, "agents"):
        fields = _list(row, "agents[]", 10)
        w = "agents[]"
        out[(_str(fields[0], w), _int(fields[1], w))] = AgentStatus(
            _str(fields[2], w),
            _finite(fields[3], w),
            _int(fields[4], w),
            _opt_int(fields[5], w),
            _opt_num(fields[6], w),
            _opt_str(fields[7], w),
            tuple(_int(r, w) for r in _list(fields[8], w)),
            _int(fields[9], w),
        )
    return out


def _ports(document: Any) -> dict[tuple[str, int], PortStatus]:
    out: dict[tuple[str, int], PortStatus] = {}
    for row in _list(document, "ports"):
        f = _list(row, "ports[]", 12)
        w = "ports[]"
        out[(_str(f[0], w), _int(f[1], w))] = PortStatus(
            _opt_str(f[2], w),
            _opt_str(f[3], w),
            _str(f[4], w),
            _bool(f[5], w),
            _bool(f[6], w),
            _int(f[7], w),
            _opt_num(f[8], w),
            _opt_num(f[9], w),
            _finite(f[10], w),
            _opt_str(f[11], w),
        )
    return out


def _up_bits(value: Any, where: str) -> int:
    bits = _int(value, where)
    if not 0 <= bits <= OPER_UP | ADMIN_UP:
        raise _fail(where, f"{bits} is not a set of up bits")
    return bits


def _speed(value: Any, where: str) -> int:
    speed = _int(value, where)
    if speed < 0:
        raise _fail(where, "expected a speed of 0 or more")
    return speed


def _ratio_or_nan(value: Any, where: str) -> float:
    number = _num(value, where)
    if math.isinf(number):
        raise _fail(where, "expected a finite number or NaN")
    return number


# each column of a port block: its check (PortStatusBlock's field order)
_BLOCK_COLUMNS: tuple[Callable[[Any, str], Any], ...] = (
    _str, _int, _opt_str, _opt_str, _str, _up_bits, _speed, _ratio_or_nan, _ratio_or_nan, _finite,
    _opt_str,
)  # fmt: skip


def _port_updates(statuses: Any, blocks: Any) -> PortUpdates:
    updates = PortUpdates(_ports(statuses))
    w = "port_blocks[]"
    for row in _list(blocks, "port_blocks"):
        f = _list(row, w, len(_BLOCK_COLUMNS))
        rows = len(_list(f[0], w))
        columns: list[list[Any]] = [
            [check(v, w) for v in _list(column, w, rows)]
            for check, column in zip(_BLOCK_COLUMNS, f, strict=True)
        ]
        updates.add_block(PortStatusBlock(*columns))
    return updates


def _keys(document: Any, where: str) -> list[tuple[str, int]]:
    keys = []
    for row in _list(document, where):
        name, number = _list(row, where, 2)
        keys.append((_str(name, where), _int(number, where)))
    return keys


def _observed(document: Any) -> Observations | None:
    if document is None:
        return None
    d = _dict(document, "observed")
    locations = []
    for row in _list(d.get("locations", []), "observed.locations"):
        w = "observed.locations[]"
        f = _list(row, w, 7)
        locations.append(
            (
                _opt_str(f[0], w),
                _opt_str(f[1], w),
                _str(f[2], w),
                _int(f[3], w),
                _str(f[4], w),
                _str(f[5], w),
                _finite(f[6], w),
            )
        )
    events = []
    for event in _list(d.get("drop_events", []), "observed.drop_events"):
        w = "observed.drop_events[]"
        events.append({_str(k, w): _scalar(v, w) for k, v in _dict(event, w).items()})
    flow_agents = {
        _str(agent, "observed.flow_agents"): _finite(seen, "observed.flow_agents")
        for agent, seen in _dict(d.get("flow_agents", {}), "observed.flow_agents").items()
    }
    skipped = _int(d.get("drops_skipped", 0), "observed.drops_skipped")
    return Observations(locations, events, skipped, flow_agents)


def _flows(document: Any) -> dict[str, FlowPartial]:
    out: dict[str, FlowPartial] = {}
    for name, entry in _dict(document, "flows").items():
        where = f"flows.{name}"
        generation, dropped, rows = _list(entry, where, 3)
        sums: dict[tuple[str, ...], list[float]] = {}
        for row in _list(rows, where):
            key, values = _list(row, where, 2)
            sums[_labels(key, where)] = [_finite(v, where) for v in _list(values, where)]
        out[name] = FlowPartial(_int(generation, where), sums, _int(dropped, where))
    return out


def decode_delta(payload: bytes) -> Delta:
    """The delta of one payload; ``DeltaCodecError`` for anything that is not one."""
    if payload[:3] != MAGIC:
        raise DeltaCodecError("delta: not a fabricscope delta (bad magic)")
    if len(payload) < 4 or payload[3] != VERSION:
        version = payload[3] if len(payload) > 3 else None
        raise DeltaCodecError(f"delta: version {version} is not {VERSION}")
    try:
        document = json.loads(payload[4:])
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise DeltaCodecError(f"delta: not JSON ({exc})") from None
    d = _dict(document, "document")
    roce = {}
    for row in _list(d.get("roce", []), "roce"):
        bucket, frames = _list(row, "roce[]", 2)
        roce[_int(bucket, "roce[]")] = _finite(frames, "roce[]")
    return Delta(
        counters=_counters(d.get("counters", {})),
        histograms=_histograms(d.get("histograms", {})),
        credits=_credits(d.get("credits", {})),
        gauges={
            _str(k, "gauges"): _finite(v, "gauges")
            for k, v in _dict(d.get("gauges", {}), "gauges").items()
        },
        agents=_agents(d.get("agents", [])),
        expired_agents=_keys(d.get("expired_agents", []), "expired_agents"),
        ports=_port_updates(d.get("ports", []), d.get("port_blocks", [])),
        expired_ports=_keys(d.get("expired_ports", []), "expired_ports"),
        roce_buckets=roce,
        observed=_observed(d.get("observed")),
        flows=_flows(d.get("flows", {})),
        flow_keys={
            _str(k, "flow_keys"): _finite(v, "flow_keys")
            for k, v in _dict(d.get("flow_keys", {}), "flow_keys").items()
        },
    )


class FrameReader:
    """Sans-I/O frame splitter: ``feed(bytes)`` returns the deltas completed by them."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self.frames = 0

    @property
    def pending(self) -> int:
        """Bytes held of a frame not yet complete."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[Delta]:
        """Add received bytes; every complete frame decoded, in order. ``DeltaCodecError``
        when the stream is broken (the caller drops the sender)."""
        buffer = self._buffer
        buffer += data
        out: list[Delta] = []
        start = 0
        while len(buffer) - start >= LENGTH.size:
            (length,) = LENGTH.unpack_from(buffer, start)
            if length > self.max_frame:
                raise DeltaCodecError(f"delta frame of {length} bytes exceeds {self.max_frame}")
            end = start + LENGTH.size + length
            if end > len(buffer):
                break
            out.append(decode_delta(bytes(buffer[start + LENGTH.size : end])))
            self.frames += 1
            start = end
        if start:
            del buffer[:start]
        return out

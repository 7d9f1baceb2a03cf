"""Per-switch sFlow agent state: datagram sequence, uptime, packing datagrams up to a size limit,
and the encoding of the rarer samples (interface counters, host description, drop notifications)
with the record-level encoder ``decoders.encode``.

Flow samples are appended by the engine directly from templates (``simulator.templates``) for
speed; everything else goes through :meth:`Agent.append`.
"""

from __future__ import annotations

import hashlib
import socket
import struct
import uuid

from decoders.encode import XdrWriter
from decoders.packet_types import PacketInfo
from decoders.records import (
    CounterRecord,
    CounterSample,
    DataSource,
    DropSample,
    EthernetCounters,
    ExtendedFunction,
    ExtendedHwTrap,
    ExtendedLinuxDropReason,
    ExtendedTimestamp,
    FlowRecord,
    GenericInterfaceCounters,
    HostDescription,
    PfcCounters,
    PortName,
    SampledHeader,
    SfpCounters,
    SfpLane,
)

__all__ = ["Agent", "DatagramSink", "counter_sample", "drop_sample", "host_sample"]

_DGRAM_TAIL = struct.Struct(">III")  # sequence, uptime, sample count
U32 = 0xFFFFFFFF


class DatagramSink:
    """Where finished datagrams go: ``emit(time, agent, data)``; ``close()`` at the end."""

    def emit(self, t: float, agent: Agent, data: bytes) -> None:  # pragma: no cover - interface
        """Take one datagram built at virtual time ``t`` (seconds since the Unix epoch)."""
        raise NotImplementedError

    def close(self) -> None:
        """Flush and release resources."""


class Agent:
    """One switch's sFlow agent: address, sub-agent, datagram sequence, boot time, buffer."""

    __slots__ = (
        "address",
        "boot",
        "buf",
        "first_t",
        "header_len",
        "index",
        "ipv6",
        "monitored",
        "n",
        "name",
        "packed_address",
        "seq",
        "sub_agent",
        "token_t",
        "tokens",
    )

    def __init__(self, index: int, name: str, address: str, boot: float) -> None:
        """An agent for switch ``index`` with agent ``address`` booted at virtual time ``boot``."""
        self.index = index
        self.name = name
        self.address = address
        self.ipv6 = ":" in address
        family = socket.AF_INET6 if self.ipv6 else socket.AF_INET
        self.packed_address = socket.inet_pton(family, address)
        self.sub_agent = 0
        self.seq = 0
        self.boot = boot
        self.monitored = True
        self.n = 0
        self.first_t = 0.0
        self.tokens = 0.0
        self.token_t = 0.0
        prefix = struct.pack(">II", 5, 2 if self.ipv6 else 1) + self.packed_address
        prefix += struct.pack(">I", self.sub_agent)
        self.header_len = len(prefix) + 12
        self.buf = bytearray(prefix + bytes(12))

    def restart(self, t: float) -> None:
        """Agent restart at ``t``: the pending datagram is lost, sequence and uptime restart."""
        del self.buf[self.header_len :]
        self.n = 0
        self.seq = 0
        self.boot = t

    def discard(self) -> None:
        """Forget the pending datagram (the agent went silent); the sequence is kept."""
        del self.buf[self.header_len :]
        self.n = 0

    def finish(self, t: float) -> bytes:
        """Close the pending datagram at time ``t`` and return its bytes (then empty)."""
        self.seq = (self.seq + 1) & U32
        uptime = int((t - self.boot) * 1000.0) & U32
        buf = self.buf
        _DGRAM_TAIL.pack_into(buf, self.header_len - 12, self.seq, uptime, self.n)
        data = bytes(buf)
        del buf[self.header_len :]
        self.n = 0
        return data

    def take_token(self, t: float, limit: float) -> bool:
        """Drop-notification rate limit: token bucket of ``limit``/s, burst ``limit``."""
        if limit <= 0:
            return False
        self.tokens = min(limit, self.tokens + (t - self.token_t) * limit)
        self.token_t = t
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


def _encode(sample: CounterSample | DropSample) -> bytes:
    w = XdrWriter()
    w.sample(sample)
    return w.getvalue()


def counter_sample(
    sequence: int,
    ifindex: int,
    speed: int,
    status: int,
    counts: tuple[int, int, int, int, int, int, int, int],
    port_name: str,
    optics: SfpCounters | None = None,
    pfc: PfcCounters | None = None,
) -> bytes:
    """A compact counters sample (0:2): generic (1), ethernet (2), [sfp 10, pfc 11], port name.

    ``counts`` = in octets, in packets, out octets, out packets, in discards, in errors,
    out discards, out errors. Packet counters are 32-bit and wrap; octets are 64-bit.
    The port name goes last: tshark 4.0 stops walking a sample at an unknown record.
    """
    in_oct, in_pkts, out_oct, out_pkts, in_disc, in_err, out_disc, out_err = counts
    generic = GenericInterfaceCounters(
        ifindex,
        6,
        speed,
        1,
        status,
        in_oct & 0xFFFFFFFFFFFFFFFF,
        in_pkts & U32,
        0,
        0,
        in_disc & U32,
        in_err & U32,
        0,
        out_oct & 0xFFFFFFFFFFFFFFFF,
        out_pkts & U32,
        0,
        0,
        out_disc & U32,
        out_err & U32,
        0,
    )
    eth = EthernetCounters(0, in_err & U32, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, (in_err * 3) & U32)
    records: list[CounterRecord] = [generic, eth]
    if optics is not None:
        records.append(optics)
    if pfc is not None:
        records.append(pfc)
    records.append(PortName(port_name))
    return _encode(CounterSample(False, sequence, DataSource(0, ifindex), tuple(records)))


def optics_record(port: int, speed: int, temperature_mc: int) -> SfpCounters:
    """A plausible 4- or 8-lane optics record for a port (values steady, per-port offsets)."""
    lanes = 8 if speed >= 400_000_000_000 else 4
    base = 900 + (port * 37) % 200
    lane_list = tuple(
        SfpLane(i + 1, 7000 + i * 50, 1100 + i * 7, 0, 0, 1310, base + i * 5, 0, 0, 1310)
        for i in range(lanes)
    )
    return SfpCounters(1, lanes, 3300, temperature_mc, lane_list)


def host_sample(sequence: int, hostname: str, seed: int) -> bytes:
    """A counters sample with host_descr (2000) only, source entPhysical 2:1."""
    uid = str(uuid.UUID(int=(hash_text(f"{seed}:{hostname}") << 64) | 0x4000_8000_0000_0000))
    record = HostDescription(hostname, uid, 3, 2, "6.1.0")
    return _encode(CounterSample(False, sequence, DataSource(2, 1), (record,)))


def hash_text(text: str) -> int:
    """A stable 64-bit hash of ``text`` (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def drop_sample(
    sequence: int,
    ifindex: int,
    drops: int,
    input_ifindex: int,
    output_ifindex: int,
    reason: int,
    header: bytes,
    frame_length: int,
    kind: str,
    detail_a: str,
    detail_b: str,
    timestamp_ns: int,
) -> bytes:
    """A discarded-packet sample (0:5): sampled header, the trap or function + Linux reason,
    and a timestamp — what a switch ASIC (``kind`` "hw") or Host sFlow's drop monitor ("sw")
    would send."""
    sh = SampledHeader(1, frame_length, 4, header, PacketInfo(header_protocol=1))
    records: list[FlowRecord] = [sh]
    if kind == "hw":
        records.append(ExtendedHwTrap(detail_a, detail_b))
    else:
        records.append(ExtendedFunction(detail_a))
        records.append(ExtendedLinuxDropReason(detail_b))
    records.append(ExtendedTimestamp(timestamp_ns))
    sample = DropSample(
        True,
        sequence,
        DataSource(0, ifindex),
        drops,
        input_ifindex,
        output_ifindex,
        reason,
        tuple(records),
    )
    return _encode(sample)

"""Where datagrams go: a pcap file (Ethernet / IPv4 or IPv6 / UDP framing, timestamps from
virtual time), a UDP socket (paced to virtual time and/or a datagram rate cap), or memory.

The only module of the simulator that touches files, sockets and the wall clock (the pacing).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from simulator.agent import Agent, DatagramSink

__all__ = [
    "ListSink",
    "NullSink",
    "PcapSink",
    "SinkStats",
    "UdpSink",
    "parse_hostport",
    "read_pcap",
]

SFLOW_PORT = 6343
_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_IPV6 = struct.Struct(">IHBB16s16s")
_UDP = struct.Struct(">HHHH")
_COLLECTOR_MAC = bytes.fromhex("02000000fe01")
LINKTYPE_ETHERNET = 1


def _sum16(data: bytes) -> int:
    """One's complement sum of 16-bit words (even length), folded; 0xFFFF for non-zero data.

    Uses 2^16 ≡ 1 (mod 0xFFFF): the big-endian integer of the bytes is congruent to the sum of
    its words, so one C-level modulo replaces a Python loop.
    """
    x = int.from_bytes(data, "big")
    s = x % 0xFFFF
    return 0xFFFF if s == 0 and x else s


def checksum(*parts: bytes) -> int:
    """Internet checksum over the concatenation of even-length ``parts``."""
    s = 0
    for p in parts:
        s += _sum16(p)
    s %= 0xFFFF
    return ~s & 0xFFFF


def parse_hostport(text: str, default_port: int = SFLOW_PORT) -> tuple[str, int]:
    """``HOST:PORT``, ``[v6]:PORT``, ``HOST`` or ``v6`` → (host, port); ``ValueError`` if bad."""
    host, port = text, default_port
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"bad address {text!r}: missing ']'")
        host, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"bad address {text!r}")
            port = _port(rest[1:], text)
    elif text.count(":") == 1:
        host, _, p = text.partition(":")
        port = _port(p, text)
    if not host:
        raise ValueError(f"bad address {text!r}: empty host")
    return host, port


def _port(text: str, whole: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"bad port in {whole!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in {whole!r}")
    return port


@dataclass
class SinkStats:
    """What a sink did: datagrams and bytes out, send errors, wall time, pacing sleeps."""

    datagrams: int = 0
    bytes: int = 0
    errors: int = 0
    first_wall: float = 0.0
    last_wall: float = 0.0

    @property
    def elapsed(self) -> float:
        """Wall seconds between the first and the last datagram."""
        return max(0.0, self.last_wall - self.first_wall)

    @property
    def rate(self) -> float:
        """Achieved datagrams per wall second (0 when unknown)."""
        return (self.datagrams - 1) / self.elapsed if self.elapsed > 0 else 0.0


class NullSink(DatagramSink):
    """Counts datagrams and drops them (benchmarks of the model alone)."""

    def __init__(self) -> None:
        """Nothing sent yet."""
        self.stats = SinkStats()

    def emit(self, t: float, agent: Agent, data: bytes) -> None:
        """Count one datagram."""
        self.stats.datagrams += 1
        self.stats.bytes += len(data)


class ListSink(DatagramSink):
    """Keeps ``(time, agent index, bytes)`` of every datagram (tests)."""

    def __init__(self) -> None:
        """An empty list."""
        self.datagrams: list[tuple[float, int, bytes]] = []

    def emit(self, t: float, agent: Agent, data: bytes) -> None:
        """Keep one datagram."""
        self.datagrams.append((t, agent.index, data))


class PcapSink(DatagramSink):
    """Writes classic pcap (microseconds, Ethernet): agent → collector UDP datagrams.

    The IP source is the agent address when it has the collector's family (otherwise the
    loopback of that family); UDP/IP checksums are computed; timestamps are virtual time.
    """

    def __init__(
        self, path_or_file: str | BinaryIO, collector: str = "", port: int = SFLOW_PORT
    ) -> None:
        """Open ``path_or_file`` (a path or a binary file object) and write the pcap header."""
        if isinstance(path_or_file, str):
            self._file: BinaryIO = open(path_or_file, "wb", buffering=1 << 20)  # noqa: SIM115
            self._owned = True
        else:
            self._file = path_or_file
            self._owned = False
        self._collector_text = collector
        self._port = port
        self._prefix: dict[int, tuple[bool, bytes, bytes, int]] = {}
        self._ident: dict[int, int] = {}
        self.stats = SinkStats()
        self._file.write(_PCAP_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, 65535, LINKTYPE_ETHERNET))

    def _agent_prefix(self, agent: Agent) -> tuple[bool, bytes, bytes, int]:
        cached = self._prefix.get(agent.index)
        if cached is not None:
            return cached
        collector = self._collector_text or ("::1" if agent.ipv6 else "127.0.0.1")
        dst = ipaddress.ip_address(collector)
        v6 = dst.version == 6
        src = (
            agent.packed_address
            if agent.ipv6 == v6
            else (b"\x00" * 15 + b"\x01" if v6 else b"\x7f\x00\x00\x01")
        )
        mac = bytes((0x02, 0x5F, 0x00)) + agent.index.to_bytes(3, "big")
        eth = _COLLECTOR_MAC + mac + (b"\x86\xdd" if v6 else b"\x08\x00")
        sport = 32768 + agent.index % 28000
        entry = (v6, eth, src + dst.packed, sport)
        self._prefix[agent.index] = entry
        return entry

    def emit(self, t: float, agent: Agent, data: bytes) -> None:
        """Write one datagram as an Ethernet frame with timestamp ``t``."""
        v6, eth, addrs, sport = self._agent_prefix(agent)
        ulen = 8 + len(data)
        udp0 = _UDP.pack(sport, self._port, ulen, 0)
        if v6:
            pseudo = addrs + struct.pack(">IxxxB", ulen, 17)
            csum = checksum(pseudo + udp0 + data) or 0xFFFF
            ip = _IPV6.pack(0x60000000, ulen, 17, 64, addrs[:16], addrs[16:])
        else:
            pseudo = addrs + struct.pack(">xBH", 17, ulen)
            csum = checksum(pseudo + udp0 + data) or 0xFFFF
            ident = self._ident.get(agent.index, 0)
            self._ident[agent.index] = (ident + 1) & 0xFFFF
            hdr = _IPV4.pack(0x45, 0, 20 + ulen, ident, 0x4000, 64, 17, 0, addrs[:4], addrs[4:])
            ip = hdr[:10] + checksum(hdr).to_bytes(2, "big") + hdr[12:]
        udp = _UDP.pack(sport, self._port, ulen, csum)
        frame_len = 14 + len(ip) + 8 + len(data)
        sec = int(t)
        usec = round((t - sec) * 1e6)
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        self._file.write(_PCAP_RECORD.pack(sec, usec, frame_len, frame_len) + eth + ip + udp + data)
        self.stats.datagrams += 1
        self.stats.bytes += len(data)

    def close(self) -> None:
        """Flush (and close the file when we opened it)."""
        self._file.flush()
        if self._owned:
            self._file.close()


MAX_SOCKETS = 64  # source ports at most (file descriptors stay bounded for 1,000 switches)


class UdpSink(DatagramSink):
    """Sends datagrams to a collector over UDP.

    Each agent sends from a socket (so a source port) of its own, as switches do, up to
    ``MAX_SOCKETS`` sockets shared round robin beyond that: a collector spreading datagrams over
    SO_REUSEPORT workers by source address and port then sees the spread real fabrics give it.

    Pacing: with ``rate_scale > 0`` a datagram stamped with virtual time ``t`` leaves no earlier
    than ``wall0 + (t − t0) / rate_scale`` (1 = real time, 10 = ten times faster); with
    ``max_rate > 0`` no faster than ``max_rate`` datagrams per second on average. Sleeps happen
    only when at least 1 ms ahead, so a pacing target is met on average, not per datagram.
    """

    def __init__(
        self,
        host: str,
        port: int,
        *,
        rate_scale: float = 1.0,
        max_rate: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Resolve ``host`` (IPv4 or IPv6 literal or name) and open the socket."""
        infos = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
        family, _, _, _, address = infos[0]
        self._family = family
        self._sockets: dict[int, socket.socket] = {}
        self._socket(0)  # fail here, not at the first datagram, when sockets cannot be made
        self._address = address
        self.rate_scale = rate_scale
        self.max_rate = max_rate
        self._clock = clock
        self._sleep = sleep
        self._t0: float | None = None
        self._wall0 = 0.0
        self.stats = SinkStats()

    def emit(self, t: float, agent: Agent, data: bytes) -> None:
        """Send one datagram, after sleeping as the pacing asks."""
        now = self._clock()
        if self._t0 is None:
            self._t0, self._wall0 = t, now
            self.stats.first_wall = now
        target = 0.0
        if self.rate_scale > 0:
            target = self._wall0 + (t - self._t0) / self.rate_scale
        if self.max_rate > 0:
            target = max(target, self._wall0 + self.stats.datagrams / self.max_rate)
        if target - now > 0.001:
            self._sleep(target - now)
            now = self._clock()
        try:
            self._socket(agent.index).sendto(data, self._address)
        except OSError:
            self.stats.errors += 1
        self.stats.datagrams += 1
        self.stats.bytes += len(data)
        self.stats.last_wall = now

    def _socket(self, agent_index: int) -> socket.socket:
        """The socket agent ``agent_index`` sends from (opened on first use)."""
        slot = agent_index % MAX_SOCKETS
        sock = self._sockets.get(slot)
        if sock is None:
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            with contextlib.suppress(OSError):  # platform limits
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
            self._sockets[slot] = sock
        return sock

    def close(self) -> None:
        """Close the sockets."""
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()


def read_pcap(path: str) -> Iterator[tuple[float, bytes]]:
    """(timestamp, UDP payload) of every Ethernet/IPv4|IPv6/UDP frame of a classic pcap file."""
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        if magic not in (0xA1B2C3D4, 0xA1B23C4D):
            raise ValueError(f"{path}: not a little-endian classic pcap file")
        scale = 1e-6 if magic == 0xA1B2C3D4 else 1e-9
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, incl, _ = _PCAP_RECORD.unpack(rec)
            frame = f.read(incl)
            ethertype = frame[12:14]
            if ethertype == b"\x08\x00":
                ihl = (frame[14] & 0x0F) * 4
                off = 14 + ihl
            elif ethertype == b"\x86\xdd":
                off = 14 + 40
            else:
                continue
            yield sec + frac * scale, frame[off + 8 :]

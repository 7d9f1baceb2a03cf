"""Read UDP payloads out of pcap / pcapng captures or a length-prefixed raw stream.

``open_source(name, port=…)`` returns an iterable of ``UdpFrame`` tuples
``(frame, timestamp, src, dst, sport, dport, payload)``:

* pcap and pcapng files (told apart by their magic number, read with dpkt's readers), link types
  Ethernet (with 802.1Q / QinQ tags), Linux cooked v1/v2 (SLL, SLL2), raw IP and BSD
  loopback (NULL / LOOP); UDP over IPv4 or IPv6 (extension headers skipped). IP fragments are
  not reassembled: they are skipped and counted in ``stats``.
* ``-`` reads standard input, which may be a pcap/pcapng stream or a raw stream of records, each a
  4-byte big-endian length followed by that many payload bytes (length at most 65535). Raw records
  have no addresses, ports or timestamps, so the port filter does not apply to them.

Problems with the input itself (missing file, not a capture, truncated header, oversized raw
record) raise ``CaptureError`` with a one-line message; odd frames are skipped and counted.
"""

from __future__ import annotations

import socket
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, NamedTuple

import dpkt

SFLOW_PORT = 6343
MAX_RAW_RECORD = 65535  # largest UDP payload; a raw-stream length above this is an error

# Link-layer header types (tcpdump.org/linktypes.html); the DLT_ values dpkt reports.
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_ALIASES = (12, 14, 101)  # DLT_RAW differs between platforms; 101 is LINKTYPE_RAW
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_P_IPV4 = 0x0800
ETH_P_IPV6 = 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100, 0x9200)
IPPROTO_UDP = 17
# IPv6 extension headers we step over (hop-by-hop, routing, destination options, AH).
_IPV6_EXT_HEADERS = (0, 43, 60, 51)
_IPV6_FRAGMENT = 44
_MAX_IPV6_EXT = 8

PCAP_MAGICS = frozenset(
    bytes.fromhex(m) for m in ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1")
)  # micro/nanosecond, either byte order
PCAPNG_MAGIC = bytes.fromhex("0a0d0d0a")

_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")


class CaptureError(Exception):
    """The input cannot be read as a capture (the message is one line, ready to print)."""


class UdpFrame(NamedTuple):
    """One UDP payload: frame number (1-based) in its source, capture time and addresses."""

    frame: int
    timestamp: float | None
    src: str | None
    dst: str | None
    sport: int | None
    dport: int | None
    payload: bytes


@dataclass
class CaptureStats:
    """What the reader saw; every frame read is counted in exactly one of the other fields."""

    frames: int = 0  # frames (or raw records) read
    udp: int = 0  # UDP datagrams yielded
    other_port: int = 0  # UDP datagrams dropped by the destination port filter
    ipv4_fragments: int = 0  # IPv4 fragments (not reassembled)
    ipv6_fragments: int = 0  # IPv6 fragments (not reassembled)
    not_udp: int = 0  # IP but not UDP, or not IP at all
    malformed: int = 0  # too short for the headers it claims

    def as_dict(self) -> dict[str, int]:
        """Plain dict, for summaries."""
        return {
            "frames": self.frames,
            "udp": self.udp,
            "other_port": self.other_port,
            "ipv4_fragments": self.ipv4_fragments,
            "ipv6_fragments": self.ipv6_fragments,
            "not_udp": self.not_udp,
            "malformed": self.malformed,
        }


# ---------------------------------------------------------------------------------------------
# Frame parsing: link layer → IP → UDP. Each returns the UDP tuple or a stats field name.


class _Udp(NamedTuple):
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes


def _udp(buf: bytes, off: int, end: int, src: str, dst: str) -> _Udp | str:
    if off + 8 > end:
        return "malformed"
    sport, dport, length = struct.unpack_from(">HHH", buf, off)
    if length == 0:  # IPv6 jumbogram: the IP layer gives the length
        length = end - off
    if length < 8:
        return "malformed"
    return _Udp(src, dst, sport, dport, buf[off + 8 : min(off + length, end)])


def _ipv4(buf: bytes, off: int) -> _Udp | str:
    if off + 20 > len(buf):
        return "malformed"
    ihl = (buf[off] & 0x0F) * 4
    total = _U16.unpack_from(buf, off + 2)[0]
    if ihl < 20 or total < ihl or off + ihl > len(buf):
        return "malformed"
    flags_fragment = _U16.unpack_from(buf, off + 6)[0]
    if flags_fragment & 0x3FFF:  # MF set or a fragment offset: part of a fragmented datagram
        return "ipv4_fragments"
    if buf[off + 9] != IPPROTO_UDP:
        return "not_udp"
    src = socket.inet_ntop(socket.AF_INET, buf[off + 12 : off + 16])
    dst = socket.inet_ntop(socket.AF_INET, buf[off + 16 : off + 20])
    # The total length trims Ethernet padding; a frame cut short by the snap length keeps its end.
    return _udp(buf, off + ihl, min(off + total, len(buf)), src, dst)


def _ipv6(buf: bytes, off: int) -> _Udp | str:
    if off + 40 > len(buf):
        return "malformed"
    payload_length = _U16.unpack_from(buf, off + 4)[0]
    next_header = buf[off + 6]
    src = socket.inet_ntop(socket.AF_INET6, buf[off + 8 : off + 24])
    dst = socket.inet_ntop(socket.AF_INET6, buf[off + 24 : off + 40])
    end = min(off + 40 + payload_length, len(buf)) if payload_length else len(buf)
    off += 40
    for _ in range(_MAX_IPV6_EXT):
        if next_header == IPPROTO_UDP:
            return _udp(buf, off, end, src, dst)
        if next_header == _IPV6_FRAGMENT:
            return "ipv6_fragments"
        if next_header not in _IPV6_EXT_HEADERS:
            return "not_udp"
        if off + 2 > end:
            return "malformed"
        size = (buf[off + 1] + 2) * 4 if next_header == 51 else (buf[off + 1] + 1) * 8
        next_header = buf[off]
        off += size
    return "not_udp"


def _ip(buf: bytes, off: int) -> _Udp | str:
    """An IP packet whose version is read from its first nibble."""
    if off >= len(buf):
        return "malformed"
    version = buf[off] >> 4
    if version == 4:
        return _ipv4(buf, off)
    if version == 6:
        return _ipv6(buf, off)
    return "not_udp"


def _by_ethertype(buf: bytes, ethertype: int, off: int) -> _Udp | str:
    if ethertype == ETH_P_IPV4:
        return _ipv4(buf, off)
    if ethertype == ETH_P_IPV6:
        return _ipv6(buf, off)
    return "not_udp"


def _ethernet(buf: bytes) -> _Udp | str:
    if len(buf) < 14:
        return "malformed"
    ethertype = _U16.unpack_from(buf, 12)[0]
    off = 14
    while ethertype in VLAN_TPIDS:
        if off + 4 > len(buf):
            return "malformed"
        ethertype = _U16.unpack_from(buf, off + 2)[0]
        off += 4
    return _by_ethertype(buf, ethertype, off)


def parse_frame(linktype: int, buf: bytes) -> _Udp | str:
    """Find the UDP datagram in one captured frame, or name the stats field it counts under."""
    if linktype == LINKTYPE_ETHERNET:
        return _ethernet(buf)
    if linktype == LINKTYPE_LINUX_SLL:
        if len(buf) < 16:
            return "malformed"
        return _by_ethertype(buf, _U16.unpack_from(buf, 14)[0], 16)
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(buf) < 20:
            return "malformed"
        return _by_ethertype(buf, _U16.unpack_from(buf, 0)[0], 20)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        # A 4-byte address family (host order for NULL, network order for LOOP) whose values
        # differ between systems: the IP version nibble says the same thing portably.
        return _ip(buf, 4)
    if linktype in LINKTYPE_RAW_ALIASES or linktype in (LINKTYPE_IPV4, LINKTYPE_IPV6):
        return _ip(buf, 0)
    return "not_udp"


# ---------------------------------------------------------------------------------------------
# Sources


class _Prefixed:
    """A read-only stream with bytes already read from it put back in front."""

    def __init__(self, head: bytes, stream: BinaryIO) -> None:
        self._head = head
        self._stream = stream
        self.name = getattr(stream, "name", "<stream>")

    def read(self, n: int = -1) -> bytes:
        if not self._head:
            return self._stream.read(n)
        if n < 0:
            data, self._head = self._head + self._stream.read(), b""
            return data
        data, self._head = self._head[:n], self._head[n:]
        if len(data) < n:
            data += self._stream.read(n - len(data))
        return data


def _read_exact(stream: BinaryIO | _Prefixed, n: int) -> bytes:
    """Read n bytes, fewer only at end of input (pipes may return short reads)."""
    chunks = []
    while n > 0:
        chunk = stream.read(n)
        if not chunk:
            break
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


class Source:
    """Iterable of ``UdpFrame``; ``stats`` is filled in while iterating. Close when done."""

    def __init__(
        self,
        name: str,
        stream: BinaryIO,
        *,
        port: int | None = SFLOW_PORT,
        allow_raw: bool = False,
        owns_stream: bool = True,
    ) -> None:
        self.name = name
        self.port = port
        self.stats = CaptureStats()
        self.linktype: int | None = None  # None for a raw stream
        self.format = "raw"
        self._stream = stream
        self._owns_stream = owns_stream
        head = _read_exact(stream, 4)
        self._input: BinaryIO | _Prefixed = _Prefixed(head, stream)
        self._reader: dpkt.pcap.Reader | dpkt.pcapng.Reader | None = None
        try:
            if head in PCAP_MAGICS:
                self.format = "pcap"
                self._reader = dpkt.pcap.Reader(self._input)
            elif head == PCAPNG_MAGIC:
                self.format = "pcapng"
                self._reader = dpkt.pcapng.Reader(self._input)
            elif allow_raw:
                pass  # a raw stream: the record reader reports a bad first length itself
            elif not head:
                raise CaptureError("empty file, not a pcap or pcapng capture")
            else:
                raise CaptureError(f"not a pcap or pcapng capture (starts with 0x{head.hex()})")
        except (ValueError, dpkt.UnpackError, struct.error) as exc:
            raise CaptureError(f"bad {self.format} header: {exc}") from None
        if self._reader is not None:
            self.linktype = int(self._reader.datalink())

    def __iter__(self) -> Iterator[UdpFrame]:
        if self._reader is None:
            yield from self._raw_records()
        else:
            yield from self._frames()

    def _frames(self) -> Iterator[UdpFrame]:
        assert self._reader is not None and self.linktype is not None
        stats, linktype, port = self.stats, self.linktype, self.port
        packets = iter(self._reader)
        while True:
            try:
                item = next(packets, None)
            except (OSError, ValueError, dpkt.UnpackError, struct.error) as exc:
                reason = str(exc) or type(exc).__name__
                raise CaptureError(
                    f"truncated or corrupt {self.format} after frame {stats.frames}: {reason}"
                ) from None
            if item is None:
                return
            ts, buf = item
            stats.frames += 1
            found = parse_frame(linktype, bytes(buf))
            if isinstance(found, str):
                setattr(stats, found, getattr(stats, found) + 1)
                continue
            if port is not None and found.dport != port:
                stats.other_port += 1
                continue
            stats.udp += 1
            yield UdpFrame(stats.frames, float(ts), *found)

    def _raw_records(self) -> Iterator[UdpFrame]:
        stats = self.stats
        while True:
            prefix = _read_exact(self._input, 4)
            if not prefix:
                return
            if len(prefix) < 4:
                raise CaptureError(
                    f"raw stream ends inside the length of record {stats.frames + 1}"
                )
            length = _U32.unpack(prefix)[0]
            if length > MAX_RAW_RECORD:
                hint = "" if stats.frames else ": not a pcap, pcapng or length-prefixed stream?"
                raise CaptureError(
                    f"raw stream record {stats.frames + 1} claims {length} bytes "
                    f"(more than {MAX_RAW_RECORD}){hint}"
                )
            payload = _read_exact(self._input, length)
            if len(payload) < length:
                raise CaptureError(
                    f"raw stream ends inside record {stats.frames + 1} "
                    f"({len(payload)} of {length} bytes)"
                )
            stats.frames += 1
            stats.udp += 1
            yield UdpFrame(stats.frames, None, None, None, None, None, payload)

    def close(self) -> None:
        if self._owns_stream:
            self._stream.close()

    def __enter__(self) -> Source:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_source(name: str, *, port: int | None = SFLOW_PORT) -> Source:
    """Open a capture file, or standard input for ``-``; raises ``CaptureError`` when unreadable.

    ``port`` keeps only UDP datagrams sent to that destination port (None: every UDP datagram).
    """
    if name == "-":
        return Source("-", sys.stdin.buffer, port=port, allow_raw=True, owns_stream=False)
    try:
        stream = open(name, "rb")  # noqa: SIM115 - the Source owns and closes it
    except OSError as exc:
        raise CaptureError(f"cannot open: {exc.strerror or exc}") from None
    try:
        return Source(name, stream, port=port)
    except OSError as exc:  # e.g. a directory: open() works, read() fails
        stream.close()
        raise CaptureError(f"cannot read: {exc.strerror or exc}") from None
    except CaptureError:
        stream.close()
        raise


def read_raw_stream(stream: BinaryIO) -> Iterator[UdpFrame]:
    """Records of a length-prefixed raw stream (4-byte big-endian length + payload)."""
    source = Source("<raw>", stream, port=None, allow_raw=True, owns_stream=False)
    if source.format != "raw":
        raise CaptureError(f"expected a raw stream, found a {source.format} capture")
    return iter(source)

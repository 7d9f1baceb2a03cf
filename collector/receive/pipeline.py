"""decode → state.apply: the one place ``DecodeError`` is caught, counted and (rarely) logged.

``Pipeline`` is the seam between the receive loop and the decoders: ``handle(data, now)`` takes
one datagram's bytes, through the full decoder (``decode_datagram``) or the fast path
(``decoders.fast``: flow samples scanned into int64 rows, other samples decoded one by one);
``choose_decoder`` picks the fast path when its compiled build is present. With an
``AgentAdmission`` (``allowed_agents`` restricts), a datagram from an agent outside it is counted
as received and rejected, and goes no further.
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Callable

from collector.receive.admission import REJECTED_REASON, AgentAdmission, header_address
from collector.receive.state import FabricState, fingerprint_of
from decoders import DecodeError, decode_datagram
from decoders import fast as fast_decoder
from decoders.records import Datagram

log = logging.getLogger(__name__)

LOG_INTERVAL = 10.0  # seconds between two log lines about bad input
_U32 = struct.Struct("!I")


class Pipeline:
    """Turns datagram bytes into state updates; bad input is skipped and counted, never raised."""

    def __init__(
        self,
        state: FabricState,
        decode: Callable[[bytes], Datagram] = decode_datagram,
        *,
        fast: bool = False,
        admission: AgentAdmission | None = None,
    ) -> None:
        self.state = state
        self.admission = admission
        self._decode = decode
        self._rows = fast_decoder.FlowRows(64) if fast else None
        self._last_log = float("-inf")
        self._suppressed = 0

    @property
    def handler(self) -> Callable[[memoryview, float], None]:
        """``handle``, or the fast-path method it would call (one call less per datagram)."""
        if self._rows is not None and self.admission is None:
            return self._handle_fast
        return self.handle

    def handle(self, data: bytes | memoryview, now: float) -> None:
        """Decode one datagram and apply it; never raises."""
        admission = self.admission
        if admission is not None and admission.admits(data) is False:
            self.state.count("datagrams")
            self.state.count("rejected_datagrams", (REJECTED_REASON,))
            return
        if self._rows is not None:
            self._handle_fast(data, now)
            return
        raw = bytes(data)
        try:
            datagram = self._decode(raw)
        except DecodeError as exc:
            self._rejected(data, now, exc)
            return
        try:
            self.state.apply(datagram, now, fingerprint_of(raw))
        except Exception:  # a bug: keep receiving, count it, show the traceback (rate-limited)
            self._internal_error(now)

    def _handle_fast(self, data: bytes | memoryview, now: float) -> None:
        rows = self._rows
        assert rows is not None
        rows.clear()
        try:
            fast_decoder.scan_datagram(data, rows)
        except DecodeError as exc:
            self._rejected(data, now, exc)
            return
        try:
            self.state.apply_rows(rows, data, now)
        except DecodeError as exc:  # a counter/drop sample the scan located but cannot decode
            self._decode_error(data, exc)
            self._log(now, "bad sample skipped: %s", exc)
        except Exception:  # a bug: keep receiving, count it, show the traceback (rate-limited)
            self._internal_error(now)

    def _rejected(self, data: bytes | memoryview, now: float, exc: DecodeError) -> None:
        """A datagram whose framing the decoder refused: counted as received and as an error."""
        self.state.count("datagrams")
        self._decode_error(data, exc)
        self._log(now, "bad datagram skipped: %s", exc)

    def _internal_error(self, now: float) -> None:
        self.state.count("internal_errors")
        if now - self._last_log >= LOG_INTERVAL:
            self._last_log = now
            log.exception("internal error while applying a datagram")

    def _decode_error(self, data: bytes | memoryview, exc: DecodeError) -> None:
        """Count a rejected datagram, and against its agent when its header names one."""
        self.state.count("decode_errors", (exc.reason,))
        sender = header_agent(data)
        if sender is not None:
            self.state.count_decode_error(sender[0], sender[1], exc.reason)

    def _log(self, now: float, message: str, *args: object) -> None:
        if now - self._last_log < LOG_INTERVAL:
            self._suppressed += 1
            return
        if self._suppressed:
            message += f" ({self._suppressed} more since the last message)"
            self._suppressed = 0
        self._last_log = now
        log.warning(message, *args)


def header_agent(data: bytes | memoryview) -> tuple[str, int] | None:
    """(agent address, sub-agent id) from a datagram header when it is readable, else None."""
    found = header_address(data)
    if found is None or not found[1] or len(data) < 12 + len(found[1]):
        return None
    address_type, raw = found
    agent = fast_decoder.agent_text(address_type, raw)
    if agent is None:
        return None
    return agent, _U32.unpack_from(data, 8 + len(raw))[0]


def choose_decoder(setting: str) -> bool:
    """True to use the fast path: ``fast``, or ``auto`` when its compiled build is present."""
    if setting == "fast":
        return True
    if setting == "full":
        return False
    return fast_decoder.IMPLEMENTATION == "compiled"

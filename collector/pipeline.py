"""decode → state.apply: the one place ``DecodeError`` is caught, counted and (rarely) logged.

``Pipeline`` is the seam between the receive loop and the decoders: ``handle(data, now)`` takes
one datagram's bytes. The full decoder (``decode_datagram``) is used today; the compiled fast
path slots in behind the same method (``decoder="fast"``) once it lands.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from collector.state import FabricState
from decoders import DecodeError, decode_datagram
from decoders.records import Datagram

log = logging.getLogger(__name__)

LOG_INTERVAL = 10.0  # seconds between two log lines about bad input


class Pipeline:
    """Turns datagram bytes into state updates; bad input is skipped and counted, never raised."""

    def __init__(
        self,
        state: FabricState,
        decode: Callable[[bytes], Datagram] = decode_datagram,
    ) -> None:
        self.state = state
        self._decode = decode
        self._last_log = float("-inf")
        self._suppressed = 0

    def handle(self, data: bytes | memoryview, now: float) -> None:
        """Decode one datagram and apply it; never raises."""
        try:
            datagram = self._decode(bytes(data))
        except DecodeError as exc:
            self.state.count("datagrams")
            self.state.count("decode_errors", (exc.reason,))
            self._log(now, "bad datagram skipped: %s", exc)
            return
        try:
            self.state.apply(datagram, now)
        except Exception:  # a bug: keep receiving, count it, show the traceback (rate-limited)
            self.state.count("internal_errors")
            if now - self._last_log >= LOG_INTERVAL:
                self._last_log = now
                log.exception("internal error while applying a datagram")

    def _log(self, now: float, message: str, *args: object) -> None:
        if now - self._last_log < LOG_INTERVAL:
            self._suppressed += 1
            return
        if self._suppressed:
            message += f" ({self._suppressed} more since the last message)"
            self._suppressed = 0
        self._last_log = now
        log.warning(message, *args)

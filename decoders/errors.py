"""The one exception type that leaves the decoders package."""

from __future__ import annotations


class DecodeError(Exception):
    """A datagram (or a frame around it) could not be decoded.

    ``reason`` is a stable slug suitable as a metric label (``truncated``,
    ``bad_version``, ``length_overrun`` …), ``offset`` the byte offset into the
    datagram where decoding stopped and ``path`` where in the structure it was,
    e.g. ``sample[2]/record[1](0:1)``.
    """

    __slots__ = ("offset", "path", "reason")

    def __init__(self, reason: str, offset: int = 0, path: str = "") -> None:
        self.reason = reason
        self.offset = offset
        self.path = path
        where = f" at {path}" if path else ""
        super().__init__(f"{reason}{where} (offset {offset})")

    def __reduce__(self) -> tuple[type[DecodeError], tuple[str, int, str]]:
        return (DecodeError, (self.reason, self.offset, self.path))

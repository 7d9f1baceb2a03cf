"""The HTTP server's own settings (free of aiohttp: ``serve``'s settings build them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """The HTTP server's own tunables."""

    request_timeout: float = 10.0  # seconds to send a request head, or a body a handler reads


def runner_options(settings: HttpSettings) -> dict[str, Any]:
    """What ``web.AppRunner`` takes from the settings: aiohttp's keep-alive timer runs from the
    moment a connection opens (and from each answer) and closes it while no whole request head
    has arrived, which is the request-head timeout; an idle keep-alive connection goes too."""
    return {"keepalive_timeout": settings.request_timeout}

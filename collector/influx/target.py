"""Where and how the InfluxDB push writes: the target, its limits and the push's settings.

Plain data (no network code), so the settings can be narrowed without loading the HTTP client.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit, urlunsplit

MIN_BACKOFF = 0.5  # seconds before the first retry (doubled per failure)


@dataclass(frozen=True, slots=True)
class PushTarget:
    """Where points go: the server, organization, bucket, token and timestamp precision."""

    url: str
    org: str
    bucket: str
    token: str | None = None
    precision: str = "ms"

    @property
    def write_url(self) -> str:
        """The ``/api/v2/write`` URL with its query."""
        query = urlencode({"org": self.org, "bucket": self.bucket, "precision": self.precision})
        return f"{self.url}/api/v2/write?{query}"

    @property
    def shown_url(self) -> str:
        """The URL as logged: without a ``user:password@`` (as secret as the token)."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))

    def __repr__(self) -> str:  # the token and URL credentials never reach a log line
        return f"PushTarget(url={self.shown_url!r}, org={self.org!r}, bucket={self.bucket!r})"


@dataclass(frozen=True, slots=True)
class PushLimits:
    """Cadence, batch and buffer bounds, backoff and request timeout."""

    interval: float = 10.0
    batch_points: int = 5000
    batch_bytes: int = 4 * 1024 * 1024
    buffer_points: int = 100_000
    buffer_bytes: int = 64 * 1024 * 1024
    min_backoff: float = MIN_BACKOFF
    max_backoff: float = 60.0
    timeout: float = 10.0


@dataclass(frozen=True, slots=True)
class InfluxSettings:
    """Where and how to push (docs/influxdb-push.md); the token is read from the environment."""

    url: str
    org: str
    bucket: str
    precision: str = "ms"
    limits: PushLimits = PushLimits()

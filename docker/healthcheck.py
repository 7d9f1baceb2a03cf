"""Container health check: GET /healthz from the collector; exit 0 when it answers 200.

Standard library only (the slim image has no curl). The port, and the address when serve binds
one address only, come from FABRICSCOPE_HTTP_BIND (default 0.0.0.0:8008), as serve reads it.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request

DEFAULT_BIND = "0.0.0.0:8008"
TIMEOUT_S = 4.0


def healthz_url(bind: str) -> str:
    """The /healthz URL to try for a serve bound to ``bind`` (HOST:PORT or [IPV6]:PORT)."""
    host, _, port = bind.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def main() -> int:
    """Probe once; print why on failure."""
    url = healthz_url(os.environ.get("FABRICSCOPE_HTTP_BIND", DEFAULT_BIND))
    # Straight to the collector: HTTP_PROXY set for the image's users must not catch loopback.
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with direct.open(url, timeout=TIMEOUT_S) as response:
            if response.status == 200:
                return 0
            print(f"healthcheck: {url}: HTTP {response.status}", file=sys.stderr)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"healthcheck: {url}: {exc}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())

"""Who may change the collector: every request that is not a read needs authority.

Reads (GET, HEAD, OPTIONS) stay open. Any other method (PUT, POST, DELETE, PATCH, …: today the
topology, later flows and settings) is decided before its handler runs, and before its body is
read:

* with an ``api_token`` set: ``Authorization: Bearer <token>`` is required; none (or another
  scheme) → 401 with ``WWW-Authenticate: Bearer``, a different token → 403 (its
  ``WWW-Authenticate`` says ``error="invalid_token"``). The SHA-256 digests of the two are
  compared (``hmac.compare_digest``), so the time taken reveals neither the token's bytes nor
  its length; the token is never logged nor written into an answer.
* with no token: writes are accepted from loopback clients only (127.0.0.0/8, ::1 and
  IPv4-mapped ::ffff:127.x.y.z); any other client gets 403 with a message naming the setting.

``write_refusal`` is the rule as a pure function (tests call it directly); ``authority_middleware``
applies it to every request of the application.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = "fabricscope"
TOKEN_SETTING = "api_token (env FABRICSCOPE_API_TOKEN, or --api-token-file FILE)"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a write is refused: the HTTP status, a one-line message, extra headers."""

    status: int
    message: str
    headers: tuple[tuple[str, str], ...] = ()


def is_loopback(peer: str | None) -> bool:
    """True for a client address on the loopback network (IPv4-mapped IPv6 included)."""
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer.split("%", 1)[0])  # a zone id is not part of it
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer …`` header (None for any other)."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    credentials = credentials.strip()
    return credentials or None


def _digest(text: str) -> bytes:
    # Bytes of any header text (non-ASCII included) hashed to one fixed length.
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).digest()


def write_refusal(
    method: str, authorization: str | None, peer: str | None, token: str | None
) -> Refusal | None:
    """Why this request may not run (None: it may): the rule of the module docstring."""
    if method.upper() in READ_METHODS:
        return None
    if token is None:
        if is_loopback(peer):
            return None
        return Refusal(
            403,
            f"writes are accepted from loopback clients only while no token is set: set "
            f"{TOKEN_SETTING} and send Authorization: Bearer <token>",
        )
    given = bearer_token(authorization)
    if given is None:
        return Refusal(
            401,
            "this request needs Authorization: Bearer <token> (the collector's api_token)",
            (("WWW-Authenticate", f'Bearer realm="{REALM}"'),),
        )
    if not hmac.compare_digest(_digest(given), _digest(token)):
        # The header tells a client (the web UI) that asking for the token again can help,
        # unlike the loopback refusal above.
        return Refusal(
            403,
            "the bearer token is not the collector's api_token",
            (("WWW-Authenticate", f'Bearer realm="{REALM}", error="invalid_token"'),),
        )
    return None


def authority_middleware(token: str | None) -> Middleware:
    """The aiohttp middleware that applies ``write_refusal`` with this ``token``."""

    @web.middleware
    async def authority(request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = write_refusal(
            request.method, request.headers.get("Authorization"), request.remote, token
        )
        if refusal is None:
            return await handler(request)
        return web.Response(
            status=refusal.status, text=refusal.message + "\n", headers=dict(refusal.headers)
        )

    return authority

"""The portal's web defences: CSRF tokens, rate limits, security headers and a request body cap.

CSRF (signed double-submit): every form carries a token ``<nonce>.<issued>.<tag>`` where ``tag`` is
HMAC-SHA256 over the nonce, the issue time and a fingerprint of the portal link the page was served
for, keyed with the deployment's secret (domain-separated from the link tokens). The same token is set
as a ``SameSite=Strict``, ``HttpOnly`` cookie. A POST is accepted only when the form's token equals the
cookie, its tag verifies for *this* link, and it is younger than :data:`CSRF_MAX_AGE`: another site can
neither read the token nor make the browser send the cookie, and a token lifted from one customer's
page is useless on another's. The nonce also names the submission (a form sent twice is one event).

Rate limits (:class:`RateLimiter`): sliding one-minute windows in memory, per link and per client IP;
an invalid link still counts against its IP, so guessing links gets 429s long before it could matter.

Headers (:data:`SECURITY_HEADERS`): a CSP without inline script or style (``default-src 'none'``, our
stylesheet only, forms to ourselves and the checkout's origin), ``Referrer-Policy: no-referrer`` (the
link is a credential and must not leak to the checkout or anywhere else), no framing, no sniffing, no
caching of personal pages.
"""

from __future__ import annotations

import base64
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import timedelta
from hashlib import sha256
from typing import Any

CSRF_COOKIE = "portal_csrf"
CSRF_FIELD = "csrf_token"
CSRF_MAX_AGE = timedelta(hours=2)


class CsrfError(ValueError):
    """A POST without a valid CSRF token (missing, mismatched with the cookie, forged, for another link, old)."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _csrf_tag(key: bytes, link_fingerprint: str, nonce: str, issued: int) -> str:
    msg = f"cobranza-portal-csrf|{link_fingerprint}|{nonce}|{issued}".encode()
    return _b64(hmac.new(key, msg, sha256).digest())


def csrf_token(key: bytes, link_fingerprint: str, *, now: float | None = None) -> str:
    """A fresh CSRF token for the pages of one portal link."""
    nonce = secrets.token_urlsafe(16)
    issued = int(now if now is not None else time.time())
    return f"{nonce}.{issued}.{_csrf_tag(key, link_fingerprint, nonce, issued)}"


def check_csrf(
    key: bytes, link_fingerprint: str, form_token: str | None, cookie_token: str | None, *, now: float | None = None
) -> str:
    """Verify a form's CSRF token against the cookie and the link; return its nonce.

    Raises:
        CsrfError: What was wrong (never which part of a signature).
    """
    if not form_token or not cookie_token:
        raise CsrfError("the form has no CSRF token or the browser sent no CSRF cookie")
    if len(form_token) > 200 or not hmac.compare_digest(form_token.encode(), cookie_token.encode()):
        raise CsrfError("the form's CSRF token does not match the cookie")
    parts = form_token.split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        raise CsrfError("the CSRF token is malformed")
    nonce, issued, tag = parts[0], int(parts[1]), parts[2]
    if not hmac.compare_digest(_csrf_tag(key, link_fingerprint, nonce, issued).encode(), tag.encode()):
        raise CsrfError("the CSRF token was not issued for this link")
    age = (now if now is not None else time.time()) - issued
    if age < -60 or age > CSRF_MAX_AGE.total_seconds():
        raise CsrfError("the form is too old: reload the page and send it again")
    return nonce


class RateLimiter:
    """Sliding-window request counters (thread-safe, in memory, one process).

    Args:
        window_s: Window length in seconds.
    """

    def __init__(self, window_s: float = 60.0) -> None:
        self.window = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str, limit: int, *, now: float | None = None) -> float | None:
        """Count one request under ``key``; None when allowed, else the seconds to wait."""
        t = now if now is not None else time.monotonic()
        with self._lock:
            q = self._hits.setdefault(key, deque())
            while q and q[0] <= t - self.window:
                q.popleft()
            if len(q) >= limit:
                return max(1.0, q[0] + self.window - t)
            q.append(t)
            if len(self._hits) > 50_000:  # bounded memory under a flood of distinct keys
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= t - self.window]:
                    del self._hits[k]
            return None


def content_security_policy(form_origins: tuple[str, ...] = ()) -> str:
    """The CSP: nothing but our stylesheet and images; forms to ourselves and the checkout origins."""
    forms = " ".join(("'self'", *form_origins))
    return (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action "
        f"{forms}; frame-ancestors 'none'; base-uri 'none'"
    )


SECURITY_HEADERS = {
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


class BodyTooLarge(Exception):
    """Raised inside the ASGI receive when a request body passes the cap."""


class BodyLimit:
    """ASGI middleware: answer 413 to a body over ``limit`` bytes (declared or streamed) before it is parsed.

    Args:
        app: The wrapped ASGI app.
        limit: Largest request body in bytes.
    """

    def __init__(self, app: Callable[..., Awaitable[None]], limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Callable, send: Callable) -> None:
        """Pass the request on with a counting ``receive``; answer 413 when the cap is passed."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await _plain(send, 413 if declared.isdigit() else 400, b"request body too large or malformed length")
            return
        seen = 0
        started = False

        async def counted() -> MutableMapping[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise BodyTooLarge
            return message

        async def tracked_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked_send)
        except BodyTooLarge:
            if not started:
                await _plain(send, 413, b"request body too large")


async def _plain(send: Callable, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    headers += [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

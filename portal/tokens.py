"""Portal access tokens: signed, expiring, per customer and purpose, verified in constant time.

A portal link is a bearer credential (no password: whoever holds the link sees that customer's
statement), so it must be impossible to forge, to re-point at another customer or to use after it
expires, and the portal must check it without a database. The token follows the unsubscribe token's
scheme (:mod:`connectors.channels.templates.unsubscribe`) with its own domain separation::

    p1.<payload>.<tag>

- ``p1``: scheme version (another version is refused);
- ``payload``: base64url (no padding) of compact JSON ``{"cu": customer_id, "pu": purpose, "exp":
  expiry, unix seconds}``: the internal customer id only - no name, e-mail, phone or amount is ever in
  the URL;
- ``tag``: base64url of HMAC-SHA256 over ``b"cobranza-portal|p1|" + payload`` keyed with the
  deployment's secret, so a portal key can never validate an unsubscribe token or the reverse.

:func:`verify` recomputes the tag and compares it with :func:`hmac.compare_digest` before reading the
payload, then checks the shape, the purpose and the expiry.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from hashlib import sha256

from cobranza import signed_tokens

VERSION = "p1"
#: What a token opens: the portal pages, or (narrower) one checkout return.
PURPOSES = ("portal",)
#: Longest token accepted; anything longer is junk and is refused before any HMAC is computed.
MAX_TOKEN_LENGTH = 512
#: Longest lifetime a link may be minted with (a link in a message should not outlive the debt).
MAX_TTL = timedelta(days=90)


class InvalidToken(ValueError):
    """A portal token that is malformed, forged, of another version or purpose, or expired.

    Attributes:
        kind: ``malformed``, ``version``, ``forged``, ``purpose`` or ``expired``.
    """

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class PortalClaim:
    """What a valid token says.

    Attributes:
        customer_id: The customer whose pages the link opens.
        purpose: One of :data:`PURPOSES`.
        expires_at: When the link stops working (UTC).
    """

    customer_id: str
    purpose: str
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return signed_tokens.b64(raw)


def _unb64(text: str) -> bytes:
    return signed_tokens.unb64(text, InvalidToken)


def key(secret: str | bytes) -> bytes:
    """The secret as bytes, refused when shorter than 16 bytes."""
    return signed_tokens.secret_key(
        secret, what="portal token", hint="COBRANZA_WEBHOOKS__TOKEN_SECRET, or the generated key file"
    )


def _tag(secret: bytes, payload: str) -> bytes:
    return signed_tokens.tag(secret, "cobranza-portal", VERSION, payload)


def mint(
    secret: str | bytes,
    customer_id: str,
    *,
    ttl: timedelta,
    purpose: str = "portal",
    now: datetime | None = None,
) -> str:
    """A signed portal token for one customer.

    Args:
        secret: The deployment's token secret (at least 16 bytes).
        customer_id: The customer (internal id).
        ttl: How long the link works (at most :data:`MAX_TTL`).
        purpose: One of :data:`PURPOSES`.
        now: Mint instant (default now, UTC).

    Raises:
        ValueError: No customer, an unknown purpose, a ttl that is not positive or over the maximum, a
            short secret.
    """
    if not str(customer_id or "").strip():
        raise ValueError("a portal token needs a customer_id")
    if purpose not in PURPOSES:
        raise ValueError(f"portal token purpose {purpose!r}: use one of {PURPOSES}")
    if ttl <= timedelta(0) or ttl > MAX_TTL:
        raise ValueError(f"portal link lifetime {ttl} must be positive and at most {MAX_TTL.days} days")
    exp = int(((now or datetime.now(UTC)) + ttl).timestamp())
    body = {"cu": str(customer_id), "pu": purpose, "exp": exp}
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{VERSION}.{payload}.{_b64(_tag(key(secret), payload))}"


def verify(secret: str | bytes, token: str, *, purpose: str = "portal", now: datetime | None = None) -> PortalClaim:
    """Check a token and return what it says.

    Raises:
        InvalidToken: Malformed, other version, forged or altered, other purpose, expired.
    """
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("token is empty or too long")
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("token is not of the form <version>.<payload>.<tag>")
    version, payload, tag = parts
    if version != VERSION:
        raise InvalidToken(f"token version {version[:8]!r} is not supported (expected {VERSION})", "version")
    given = _unb64(tag)
    _unb64(payload)
    if not hmac.compare_digest(_tag(key(secret), payload), given):
        raise InvalidToken("token signature does not match (forged, altered or signed with another secret)", "forged")
    try:
        body = json.loads(_unb64(payload))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidToken("token payload is not JSON") from exc
    if not isinstance(body, dict) or set(body) != {"cu", "pu", "exp"}:
        raise InvalidToken("token payload has the wrong fields")
    cu, pu, exp = body["cu"], body["pu"], body["exp"]
    if not (isinstance(cu, str) and cu and isinstance(exp, int) and not isinstance(exp, bool)):
        raise InvalidToken("token payload names no customer or no expiry")
    if pu != purpose:
        raise InvalidToken(f"token is for {str(pu)[:20]!r}, not {purpose!r}", "purpose")
    expires = datetime.fromtimestamp(exp, UTC)
    if (now or datetime.now(UTC)) >= expires:
        raise InvalidToken(f"link expired on {expires:%Y-%m-%d %H:%M} UTC", "expired")
    return PortalClaim(customer_id=cu, purpose=pu, expires_at=expires)


def fingerprint(token: str) -> str:
    """A short stable id of a token (for rate-limit keys and logs; the token itself is never logged)."""
    return sha256(token.encode("utf-8", "replace")).hexdigest()[:16]

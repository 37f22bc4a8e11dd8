"""The pieces every signed link token of Cobranza shares: base64url, the secret's check, the HMAC tag.

Two token schemes sign links a person clicks without logging in: the unsubscribe token
(:mod:`connectors.channels.templates.unsubscribe`, ``u1.<payload>.<tag>``) and the portal token
(:mod:`portal.tokens`, ``p1.<payload>.<tag>``). Both encode the payload as base64url without padding,
refuse a secret shorter than :data:`MIN_SECRET_BYTES`, and tag ``b"<domain>|<version>|" + payload``
with HMAC-SHA256, the domain keeping one scheme's tags from ever validating the other's. The schemes
keep their own payloads, versions and errors; this module holds the shared steps once.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from hashlib import sha256

#: Shortest secret accepted (bytes).
MIN_SECRET_BYTES = 16
_B64 = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64(raw: bytes) -> str:
    """``raw`` as base64url without padding."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def unb64(text: str, error: Callable[[str], Exception]) -> bytes:
    """Decode base64url without padding; anything else raises ``error("token is not base64url")``."""
    if not text or any(c not in _B64 for c in text):
        raise error("token is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise error("token is not base64url") from exc


def secret_key(secret: str | bytes, *, what: str, hint: str) -> bytes:
    """The secret as bytes.

    Args:
        secret: The deployment's token secret.
        what: What it signs, for the error (``unsubscribe token``, ``portal token``).
        hint: Where a good secret comes from, for the error.

    Raises:
        ValueError: Shorter than :data:`MIN_SECRET_BYTES`.
    """
    key = secret.encode() if isinstance(secret, str) else bytes(secret)
    if len(key) < MIN_SECRET_BYTES:
        raise ValueError(f"{what} secret is {len(key)} bytes; use at least {MIN_SECRET_BYTES} random bytes ({hint})")
    return key


def tag(key: bytes, domain: str, version: str, payload: str) -> bytes:
    """HMAC-SHA256 of ``<domain>|<version>|<payload>`` keyed with ``key``."""
    return hmac.new(key, f"{domain}|{version}|{payload}".encode("ascii"), sha256).digest()

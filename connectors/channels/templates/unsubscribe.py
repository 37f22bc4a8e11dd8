"""Unsubscribe tokens: keyed, versioned, bound to one contact and channel, verified in constant time.

An unsubscribe link is a bearer credential: whoever holds it can withdraw one contact's consent
without logging in (RFC 8058 one-click). So a token must be impossible to forge or to re-point at
another contact, and the receiver must be able to check it without a database (it runs apart from
the warehouse). A token is therefore self-contained and signed::

    u1.<payload>.<tag>

- ``u1``: the scheme version (a token of an unknown version is refused, so the scheme can change
  without old links meaning something else);
- ``payload``: base64url (no padding) of compact JSON ``{"cu": customer_id, "co": contact_id,
  "ch": channel, "iat": issued, unix seconds}``;
- ``tag``: base64url of HMAC-SHA256 over ``b"cobranza-unsubscribe|u1|" + payload`` keyed with the
  deployment's secret (domain-separated so the key can never sign something else by accident).

Verification recomputes the tag and compares it with :func:`hmac.compare_digest` before reading
the payload, then checks the payload's shape, the channel and the age (links older than
``max_age`` are refused: the message that carried them is long gone). The secret is configured
(``COBRANZA_WEBHOOKS__TOKEN_SECRET``) or created at first run by :func:`load_or_create_secret`.
"""

from __future__ import annotations

import hmac
import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cobranza import signed_tokens

VERSION = "u1"
#: Channels a token may withdraw consent for.
CHANNELS = ("email", "whatsapp", "sms", "all")
#: Default age past which a link no longer works (CAN-SPAM asks for at least 30 days).
DEFAULT_MAX_AGE = timedelta(days=400)
#: Tokens dated this far in the future (clock skew between sender and receiver) are still accepted.
_SKEW = timedelta(minutes=10)
#: Longest token accepted (an id of a few hundred characters still fits; anything longer is junk).
MAX_TOKEN_LENGTH = 1024


class InvalidToken(ValueError):
    """A token that is malformed, forged, of another version or expired (the message says which).

    Attributes:
        kind: ``malformed``, ``version``, ``forged`` or ``expired`` (the receiver's answer follows it).
    """

    def __init__(self, message: str, kind: str = "malformed") -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class UnsubscribeClaim:
    """What a valid token says.

    Attributes:
        customer_id: The customer the contact belongs to.
        contact_id: The contact withdrawing consent.
        channel: The channel (``email``, ``whatsapp``, ``sms``) or ``all``.
        issued_at: When the token was minted (UTC).
    """

    customer_id: str
    contact_id: str
    channel: str
    issued_at: datetime


def _b64(raw: bytes) -> str:
    return signed_tokens.b64(raw)


def _unb64(text: str) -> bytes:
    return signed_tokens.unb64(text, InvalidToken)


def _key(secret: str | bytes) -> bytes:
    return signed_tokens.secret_key(
        secret, what="unsubscribe token", hint="unset COBRANZA_WEBHOOKS__TOKEN_SECRET to have one generated"
    )


def _tag(key: bytes, payload: str) -> bytes:
    return signed_tokens.tag(key, "cobranza-unsubscribe", VERSION, payload)


def mint_token(
    secret: str | bytes, *, customer_id: str, contact_id: str, channel: str = "email", issued_at: datetime | None = None
) -> str:
    """A signed unsubscribe token for one contact and channel.

    Args:
        secret: The deployment's token secret (at least 16 bytes).
        customer_id: Customer of the contact.
        contact_id: The contact (required: a token that names no contact could not be honoured).
        channel: ``email``, ``whatsapp``, ``sms`` or ``all``.
        issued_at: Mint instant (default now, UTC).

    Returns:
        The URL-safe token.

    Raises:
        ValueError: An empty contact/customer, an unknown channel or a short secret.
    """
    if not str(customer_id or "").strip() or not str(contact_id or "").strip():
        raise ValueError("an unsubscribe token needs both customer_id and contact_id")
    if channel not in CHANNELS:
        raise ValueError(f"unsubscribe channel {channel!r}: use one of {CHANNELS}")
    when = issued_at or datetime.now(UTC)
    body = {"cu": str(customer_id), "co": str(contact_id), "ch": channel, "iat": int(when.timestamp())}
    payload = _b64(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{VERSION}.{payload}.{_b64(_tag(_key(secret), payload))}"


def verify_token(
    secret: str | bytes, token: str, *, now: datetime | None = None, max_age: timedelta = DEFAULT_MAX_AGE
) -> UnsubscribeClaim:
    """Check a token and return what it says.

    Args:
        secret: The deployment's token secret.
        token: The token from the link.
        now: Current instant (default now, UTC).
        max_age: Oldest token accepted.

    Returns:
        The claim.

    Raises:
        InvalidToken: Malformed, of another version, forged (tag mismatch), bad payload or expired.
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
    _unb64(payload)  # the charset check, before spending an HMAC on junk
    if not hmac.compare_digest(_tag(_key(secret), payload), given):
        raise InvalidToken("token signature does not match (forged, altered or signed with another secret)", "forged")
    try:
        body = json.loads(_unb64(payload))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidToken("token payload is not JSON") from exc
    if not isinstance(body, dict) or set(body) != {"cu", "co", "ch", "iat"}:
        raise InvalidToken("token payload has the wrong fields")
    cu, co, ch, iat = body["cu"], body["co"], body["ch"], body["iat"]
    if not (isinstance(cu, str) and cu and isinstance(co, str) and co and ch in CHANNELS):
        raise InvalidToken("token payload names no contact or an unknown channel")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise InvalidToken("token payload has no issue time")
    now = now or datetime.now(UTC)
    issued = datetime.fromtimestamp(iat, UTC)
    if issued > now + _SKEW:
        raise InvalidToken("token is dated in the future")
    if now - issued > max_age:
        raise InvalidToken(f"token expired (issued {issued:%Y-%m-%d}, links work for {max_age.days} days)", "expired")
    return UnsubscribeClaim(customer_id=cu, contact_id=co, channel=ch, issued_at=issued)


def load_or_create_secret(path: str | os.PathLike[str]) -> str:
    """The token secret kept in ``path``, generated there (0600) at first run.

    Two processes starting together both end with the same secret: the file appears whole through a
    hard link that fails when it already exists, and the loser reads the winner's. A file other users
    can read or write is refused, since anyone who reads it can unsubscribe anyone.

    Args:
        path: Secret file (its folder is created 0700 if missing).

    Returns:
        The secret (URL-safe text, 256 bits).

    Raises:
        PermissionError: The file is readable or writable by group/others.
        ValueError: The file is empty or too short.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not p.exists():
        # Written whole to a private temporary file, then linked into place: the link fails if another
        # process got there first, and nobody ever reads a half-written secret.
        tmp = p.with_name(f".{p.name}.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_urlsafe(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.link(tmp, p)
            except FileExistsError:
                pass
        finally:
            tmp.unlink(missing_ok=True)
    mode = stat.S_IMODE(p.stat().st_mode)
    if mode & 0o077:
        raise PermissionError(
            f"{p}: the unsubscribe token secret is accessible to other users (mode {mode:o}); run chmod 600 {p}"
        )
    secret = p.read_text(encoding="ascii").strip()
    _key(secret)
    return secret


def token_for_task(secret: str | bytes, task: Mapping[str, Any], channel: str = "email") -> str:
    """The unsubscribe token of an outbox task's message (its contact, its customer, ``channel``).

    Args:
        secret: The deployment's token secret (``COBRANZA_WEBHOOKS__TOKEN_SECRET`` or the generated one).
        task: An outbox task (``customer_id``, ``contact_id``).
        channel: The channel the link withdraws consent for.

    Raises:
        ValueError: The task names no contact (a link that names nobody could not be honoured).
    """
    contact = task.get("contact_id") or (task.get("payload") or {}).get("contact_id")
    if not contact:
        raise ValueError(f"task {task.get('task_id')}: no contact_id to bind the unsubscribe link to")
    return mint_token(secret, customer_id=str(task["customer_id"]), contact_id=str(contact), channel=channel)

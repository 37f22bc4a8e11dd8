"""Portal links for messages: ``portal_url(base, customer_id, secret, ttl)``.

The message templates have a payment-link slot (``payment_link`` in
:func:`connectors.channels.templates.render.build_context`, dropped unless it is an http(s) URL);
putting :func:`portal_url` there gives every message the debtor's signed, expiring portal link.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit

from portal import tokens

#: Default lifetime of a link in a message.
DEFAULT_TTL = timedelta(days=30)


def portal_url(
    base: str, customer_id: str, secret: str | bytes, ttl: timedelta = DEFAULT_TTL, *, now: datetime | None = None
) -> str:
    """The signed portal link of one customer: ``<base>/p/<token>``.

    Args:
        base: Public base URL of the portal (``https://pay.example.com`` or ``.../portal``).
        customer_id: The customer (internal id; nothing else about them goes in the URL).
        secret: The token secret the portal verifies with.
        ttl: How long the link works.
        now: Mint instant (default now).

    Raises:
        ValueError: ``base`` is not an http(s) URL, or the token cannot be minted
            (:func:`portal.tokens.mint`).
    """
    parts = urlsplit(base or "")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"portal base URL {base!r} must be an http(s) URL without query or fragment")
    return f"{base.rstrip('/')}/p/{tokens.mint(secret, customer_id, ttl=ttl, now=now)}"

"""Portal links for messages: ``portal_url(base, customer_id, secret, ttl)``.

The message templates have a payment-link slot (``payment_link`` in
:func:`connectors.channels.templates.render.build_context`, dropped unless it is an http(s) URL);
putting :func:`portal_url` there gives every message the debtor's signed, expiring portal link.
:func:`portal_config` is the one place the deployment's portal base URL and token secret come from
(the receiver serving the portal, the agent's replies and the daily decisions' messages all use it),
and :func:`with_portal_links` fills the slot of a frame of decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
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


#: Where the receiver mounts the portal (``cobranza receiver``): ``<channels.webhook_public_url>/portal``.
MOUNT_PATH = "/portal"


@dataclass(frozen=True)
class PortalConfig:
    """Where the portal is reached and the secret its links are signed with."""

    base: str
    secret: str


def portal_secret(data_dir: str | Path) -> str:
    """The portal's token secret: ``<data_dir>/secrets/portal.key`` (created 0600 at first use)."""
    from connectors.channels.templates.unsubscribe import load_or_create_secret

    return load_or_create_secret(Path(data_dir) / "secrets" / "portal.key")


def portal_config(settings: Any, *, base: str | None = None, secret: str | None = None) -> PortalConfig | None:
    """The deployment's portal: ``channels.payment_link_base`` when set, else the receiver's public URL
    (``channels.webhook_public_url``) + :data:`MOUNT_PATH`; None when neither is set (messages then carry
    no portal link)."""
    channels = settings.channels
    base = (
        base
        or channels.payment_link_base
        or (channels.webhook_public_url.rstrip("/") + MOUNT_PATH if channels.webhook_public_url else "")
    )
    if not base:
        return None
    return PortalConfig(base.rstrip("/"), secret or portal_secret(settings.data_dir))


def with_portal_links(decisions: Any, config: PortalConfig | None, now: datetime | None = None) -> Any:
    """A copy of ``decisions`` (a frame with ``customer_id``) whose ``payment_link`` is each customer's
    signed portal link (unchanged when ``config`` is None or the frame is empty). Nothing personal goes in
    the link: the token names the internal customer id only (:mod:`portal.tokens`)."""
    if config is None or decisions is None or len(decisions) == 0:
        return decisions
    customers = decisions["customer_id"].astype(str)
    links = {c: portal_url(config.base, c, config.secret, now=now) for c in customers.unique()}
    return decisions.assign(payment_link=customers.map(links))

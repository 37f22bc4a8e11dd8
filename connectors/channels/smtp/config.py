"""Configuration of the SMTP email channel (CONNECTORS.md §4.3).

The password and the unsubscribe-token key are ``SecretStr`` fields resolved by
``connectors.secrets``: ``COBRANZA_SMTP__PASSWORD`` / ``COBRANZA_SMTP__UNSUBSCRIBE_KEY`` (the
password also ``COBRANZA_SMTP_PASSWORD``), else the Prefect Secret blocks ``cobranza-smtp-password``
/ ``cobranza-smtp-unsubscribe-key``; never YAML.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from connectors.channels.base import ChannelConfigError
from connectors.secrets import EnvConfig


class SmtpConfig(EnvConfig):
    """How to submit email.

    Attributes:
        host: Submission server.
        port: 587 (STARTTLS), 465 (implicit TLS) or 25.
        starttls: Upgrade the connection with STARTTLS before AUTH (refuse to go on without it).
        implicit_tls: Connect with TLS from the start (port 465).
        ca_file: Extra CA bundle to trust (a private relay's certificate).
        username: AUTH user (None = no AUTH).
        password: AUTH password.
        from_address: ``From`` address; its domain is used for Message-IDs.
        from_name: Display name.
        reply_to: Reply address; ``ar@x`` becomes ``ar+<customer id>@x`` so replies find their case.
        unsubscribe_mailto: Address for the ``mailto:`` List-Unsubscribe URI.
        unsubscribe_url: HTTPS base for one-click unsubscribe (RFC 8058); the token is appended.
        unsubscribe_key: HMAC key for unsubscribe tokens.
        rate_limit_per_s: Messages per second to the relay.
        concurrency: Parallel SMTP connections.
        timeout: Socket timeout, seconds (past it during DATA the send is ambiguous).
        max_attempts: Attempts per message on 4xx/connection failures within one run.
    """

    env_section: ClassVar[str] = "SMTP"
    label: ClassVar[str] = "SMTP channel"
    env_aliases: ClassVar[dict[str, tuple[str, ...]]] = {"password": ("COBRANZA_SMTP_PASSWORD",)}
    config_error: ClassVar[type[Exception]] = ChannelConfigError

    host: str = "127.0.0.1"
    port: int = 587
    starttls: bool = True
    implicit_tls: bool = False
    ca_file: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    from_address: str
    from_name: str = "Accounts Receivable"
    reply_to: str | None = None
    unsubscribe_mailto: str | None = None
    unsubscribe_url: str | None = None
    unsubscribe_key: SecretStr | None = None
    rate_limit_per_s: float | None = Field(20.0, gt=0)
    concurrency: int = Field(4, ge=1)
    timeout: float = Field(30.0, gt=0)
    max_attempts: int = Field(3, ge=1)

    @property
    def domain(self) -> str:
        """Domain of the sender address."""
        return self.from_address.rsplit("@", 1)[-1]

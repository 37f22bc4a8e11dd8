"""Configuration of the Twilio SMS channel (CONNECTORS.md §4.2).

The account SID and auth token are resolved by ``connectors.secrets``:
``COBRANZA_TWILIO__ACCOUNT_SID`` / ``COBRANZA_TWILIO__AUTH_TOKEN``, Twilio's own
``TWILIO_ACCOUNT_SID`` / ``TWILIO_AUTH_TOKEN``, else the Prefect Secret blocks
``cobranza-twilio-account-sid`` / ``cobranza-twilio-auth-token``; never from YAML. The auth token also checks
``X-Twilio-Signature`` on our webhooks.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator

from connectors.channels.base import ChannelConfigError
from connectors.secrets import EnvConfig


class TwilioConfig(EnvConfig):
    """How to send SMS through one Twilio account.

    Attributes:
        base_url: API root (``https://api.twilio.com``; an emulator in tests).
        account_sid: ``AC…``.
        auth_token: Basic-auth password and webhook signing key.
        from_number: Sender number (E.164), or use ``messaging_service_sid``.
        messaging_service_sid: ``MG…`` (queueing, sender pools, scheduling).
        status_callback_url: Public URL of our status webhook (``.../webhooks/twilio/status``).
        validity_period_s: How long Twilio may queue a message (1-36000 s). Bounded so a message never
            goes out long after its lawful window, and so a lookup after that long is conclusive.
        rate_limit_per_s: Client-side pace (Twilio queues per-sender excess; concurrency is what 429s).
        concurrency: Parallel requests (Twilio answers 429/20429 beyond the account's concurrency).
        read_timeout: Seconds to wait before the send counts as ambiguous.
        max_attempts: Attempts per message on 429/5xx within one run.
    """

    env_section: ClassVar[str] = "TWILIO"
    label: ClassVar[str] = "Twilio SMS channel"
    env_aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "auth_token": ("TWILIO_AUTH_TOKEN",),
        "account_sid": ("TWILIO_ACCOUNT_SID",),
    }
    block_fields: ClassVar[tuple[str, ...]] = ("account_sid",)  # kept beside its token
    config_error: ClassVar[type[Exception]] = ChannelConfigError

    base_url: str = "https://api.twilio.com"
    account_sid: str
    auth_token: SecretStr
    from_number: str | None = None
    messaging_service_sid: str | None = None
    status_callback_url: str | None = None
    validity_period_s: int = Field(1800, ge=1, le=36000)
    rate_limit_per_s: float | None = Field(100.0, gt=0)
    concurrency: int = Field(16, ge=1)
    read_timeout: float = Field(10.0, gt=0)
    max_attempts: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _sender(self) -> TwilioConfig:
        if not self.from_number and not self.messaging_service_sid:
            raise ValueError("set COBRANZA_TWILIO__FROM_NUMBER or COBRANZA_TWILIO__MESSAGING_SERVICE_SID")
        return self

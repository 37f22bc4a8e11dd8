"""Configuration of the WhatsApp Cloud API channel (CONNECTORS.md §4.1).

The access token (system-user or app token), the app secret (webhook signatures) and the verify
token are ``SecretStr`` fields resolved by ``connectors.secrets``: ``COBRANZA_WHATSAPP__TOKEN`` /
``__APP_SECRET`` / ``__VERIFY_TOKEN`` (also ``COBRANZA_WHATSAPP_TOKEN`` and so on), else the Prefect
Secret blocks ``cobranza-whatsapp-token`` / ``-app-secret`` / ``-verify-token``; never from YAML.
The Graph API version, the template and its languages are configuration because Meta changes them.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from connectors.channels.base import ChannelConfigError
from connectors.secrets import EnvConfig


class WhatsAppConfig(EnvConfig):
    """How to reach one WhatsApp business phone number.

    Attributes:
        base_url: Graph API root (``https://graph.facebook.com``; an emulator in tests).
        api_version: Graph version in the path (``v21.0``).
        phone_number_id: The business phone number id (not the number itself).
        token: Bearer token.
        app_secret: App secret that signs webhooks (``X-Hub-Signature-256``).
        verify_token: Token answered in the webhook subscription handshake.
        template_name: Approved utility template used outside the 24-hour window.
        template_languages: Our language -> template language code.
        rate_limit_per_s: Meta's default throughput is 80 msg/s per number (up to 1,000 after upgrade).
        concurrency: Parallel requests.
        read_timeout: Seconds to wait for an answer before the send counts as ambiguous.
        max_attempts: Attempts per message on 429/5xx within one run.
        window_margin_s: Free-form text only if the user wrote more recently than 24 h minus this.
        status_wait_s: After an ambiguous send (no message lookup exists), how long to wait for a
            status webhook naming the task before dead-lettering it as possibly delivered.
    """

    env_section: ClassVar[str] = "WHATSAPP"
    label: ClassVar[str] = "WhatsApp Cloud API channel"
    env_aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "token": ("COBRANZA_WHATSAPP_TOKEN",),
        "app_secret": ("COBRANZA_WHATSAPP_APP_SECRET",),
        "verify_token": ("COBRANZA_WHATSAPP_VERIFY_TOKEN",),
    }
    config_error: ClassVar[type[Exception]] = ChannelConfigError

    base_url: str = "https://graph.facebook.com"
    api_version: str = "v21.0"
    phone_number_id: str
    token: SecretStr
    app_secret: SecretStr | None = None
    verify_token: SecretStr | None = None
    template_name: str = "cobranza_payment_reminder"
    template_languages: dict[str, str] = Field(default_factory=lambda: {"es": "es", "en": "en_US", "pt": "pt_BR"})
    rate_limit_per_s: float | None = Field(80.0, gt=0)
    concurrency: int = Field(16, ge=1)
    read_timeout: float = Field(10.0, gt=0)
    max_attempts: int = Field(4, ge=1)
    window_margin_s: int = Field(600, ge=0)
    status_wait_s: float = Field(3600.0, ge=0)

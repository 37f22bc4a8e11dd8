"""The webhook receiver's credentials: the keys it verifies provider signatures with.

Resolved like every credential (``connectors.secrets``): ``COBRANZA_WHATSAPP__APP_SECRET`` /
``__VERIFY_TOKEN`` and ``COBRANZA_TWILIO__AUTH_TOKEN`` (with the vendor aliases the senders accept),
else the Prefect Secret blocks ``cobranza-whatsapp-app-secret``, ``cobranza-whatsapp-verify-token``,
``cobranza-twilio-auth-token``. Unlike a sender's config, every field is optional: the receiver
serves what it can verify and answers 503 for the rest, and its readiness check names what a
deployment that uses the provider is missing.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import SecretStr

from connectors.secrets import EnvConfig


class WhatsAppWebhookSecrets(EnvConfig):
    """What the receiver needs from the WhatsApp channel's credentials."""

    env_section: ClassVar[str] = "WHATSAPP"
    label: ClassVar[str] = "WhatsApp webhooks"
    env_aliases: ClassVar[dict[str, tuple[str, ...]]] = {
        "app_secret": ("COBRANZA_WHATSAPP_APP_SECRET",),
        "verify_token": ("COBRANZA_WHATSAPP_VERIFY_TOKEN",),
    }

    app_secret: SecretStr | None = None
    verify_token: SecretStr | None = None


class TwilioWebhookSecrets(EnvConfig):
    """What the receiver needs from the Twilio channel's credentials."""

    env_section: ClassVar[str] = "TWILIO"
    label: ClassVar[str] = "Twilio webhooks"
    env_aliases: ClassVar[dict[str, tuple[str, ...]]] = {"auth_token": ("TWILIO_AUTH_TOKEN",)}

    auth_token: SecretStr | None = None


def secret_text(value: SecretStr | None) -> str | None:
    """The text of a secret, or None when it is unset or empty."""
    return value.get_secret_value() or None if value is not None else None

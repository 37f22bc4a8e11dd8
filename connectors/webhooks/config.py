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


class StripeSecrets(EnvConfig):
    """The debtor portal's payment provider (Stripe Checkout): API base, secret key, webhook signing secret.

    ``COBRANZA_STRIPE__SECRET_KEY`` (``sk_...``) and ``COBRANZA_STRIPE__WEBHOOK_SECRET`` (``whsec_...``),
    or the Prefect Secret blocks ``cobranza-stripe-secret-key`` / ``cobranza-stripe-webhook-secret``;
    ``COBRANZA_STRIPE__API_BASE`` points the client at another host (the emulator in demos). Without
    them the portal still serves statements and forms; "pay now" and the payment webhook answer 503.
    """

    env_section: ClassVar[str] = "STRIPE"
    label: ClassVar[str] = "Stripe Checkout"
    block_fields: ClassVar[tuple[str, ...]] = ()

    api_base: str = "https://api.stripe.com"
    secret_key: SecretStr | None = None
    webhook_secret: SecretStr | None = None

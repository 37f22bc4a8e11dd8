"""``cobranza receiver``: the webhook receiver built from the settings and served as a service.

The composition root of the receiver: reads the settings (spool folder, body limit, listen address,
trusted proxies, public URL) and the credentials (``connectors.webhooks.config``), builds
``connectors.webhooks.app.create_app`` and hands it to ``connectors.webhooks.service.run_receiver``.
What ``/readyz`` requires follows the channels: the WhatsApp app secret when
``channels.whatsapp: whatsapp_cloud``, the Twilio auth token when ``channels.sms: twilio``, and
always the unsubscribe secret (e-mails carry links the receiver must verify).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cobranza.settings import Settings


def required_secrets(settings: Settings) -> list[str]:
    """What the receiver must be able to verify for this deployment's channels."""
    required = ["unsubscribe"]
    if settings.channels.whatsapp == "whatsapp_cloud":
        required.append("whatsapp")
    if settings.channels.sms == "twilio":
        required.append("twilio")
    return required


def build_receiver(settings: Settings, *, public_base_url: str | None = None) -> tuple[Any, Any]:
    """The receiver app and its spool, from the settings and the environment's credentials.

    Args:
        settings: The settings.
        public_base_url: Overrides ``channels.webhook_public_url``.

    Returns:
        ``(app, spool)``.

    Raises:
        connectors.secrets.ConnectorConfigError: A credential is set but invalid.
    """
    from connectors.webhooks.app import create_app
    from connectors.webhooks.config import TwilioWebhookSecrets, WhatsAppWebhookSecrets, secret_text
    from connectors.webhooks.spool import Spool
    from flows.dispatch import unsubscribe_secret

    wa = WhatsAppWebhookSecrets.from_env()
    tw = TwilioWebhookSecrets.from_env()
    spool = Spool(settings.resolve(settings.channels.inbound_dir))
    app = create_app(
        spool,
        whatsapp_app_secret=secret_text(wa.app_secret),
        whatsapp_verify_token=secret_text(wa.verify_token),
        twilio_auth_token=secret_text(tw.auth_token),
        public_base_url=public_base_url or settings.channels.webhook_public_url or None,
        unsubscribe_secret=unsubscribe_secret(settings),
        unsubscribe_max_age=timedelta(days=settings.webhooks.link_max_age_days),
        max_body_bytes=settings.webhooks.max_body_bytes,
        required=required_secrets(settings),
    )
    return app, spool


def serve(
    settings: Settings,
    *,
    host: str | None = None,
    port: int | None = None,
    public_base_url: str | None = None,
    log_level: str = "info",
) -> int:
    """Serve the receiver until SIGTERM/SIGINT; return the exit code (0 after a clean stop)."""
    from connectors.webhooks.service import configure_logging, run_receiver

    configure_logging(log_level)
    app, spool = build_receiver(settings, public_base_url=public_base_url)
    hooks = settings.webhooks
    return run_receiver(
        app,
        spool,
        host=host or hooks.host,
        port=port if port is not None else hooks.port,
        forwarded_allow_ips=hooks.forwarded_allow_ips,
        graceful_timeout_s=hooks.graceful_timeout_s,
    )

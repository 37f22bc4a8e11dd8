"""``cobranza receiver``: the webhook receiver built from the settings and served as a service.

The composition root of the receiver: reads the settings (spool folder, body limit, listen address,
trusted proxies, public URL) and the credentials (``connectors.webhooks.config``), builds
``connectors.webhooks.app.create_app`` and hands it to ``connectors.webhooks.service.run_receiver``.
What ``/readyz`` requires follows the channels: the WhatsApp app secret when
``channels.whatsapp: whatsapp_cloud``, the Twilio auth token when ``channels.sms: twilio``, and
always the unsubscribe secret (e-mails carry links the receiver must verify).

The debtor portal (``portal.app``) is served by the same process under ``/portal`` (its own body cap,
larger for the dispute attachment; the receiver's routes keep theirs), so the links in messages,
``<channels.webhook_public_url>/portal/p/<token>``, reach it behind the same proxy, and its payment
webhook is ``/portal/webhooks/stripe``. With ``webhooks.mail_port`` set, the inbound e-mail listener
(``connectors.webhooks.mail``) runs beside it in the same process and spools the debtors' e-mail
replies like any webhook.
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
    from connectors.clock import open_clock
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
        clock=open_clock(settings.webhooks.clock),
    )
    portal = build_portal(settings, public_base_url=public_base_url)
    if portal is not None:
        app = mount_portal(app, portal)
    return app, spool


def build_portal(settings: Settings, *, public_base_url: str | None = None) -> Any:
    """The debtor portal app for this deployment (wrapped in its body cap), or None when it cannot run.

    Statements come from the published warehouse copy, events go to the receiver's spool, links are
    signed with :func:`portal.links.portal_secret`; "pay now" uses Stripe Checkout when
    ``COBRANZA_STRIPE__SECRET_KEY`` is set (``COBRANZA_STRIPE__API_BASE`` for the emulator).
    """
    from connectors.webhooks.config import StripeSecrets, secret_text
    from portal.app import attach_body_limit, create_app
    from portal.links import MOUNT_PATH, portal_secret
    from portal.payments import StripeCheckout

    stripe = StripeSecrets.from_env()
    key = secret_text(stripe.secret_key)
    base = public_base_url or settings.channels.webhook_public_url
    app = create_app(
        snapshot_path=settings.published_path,
        spool_dir=settings.resolve(settings.channels.inbound_dir),
        data_dir=settings.data_dir,
        token_secret=portal_secret(settings.data_dir),
        payments=StripeCheckout(stripe.api_base, key) if key else None,
        stripe_webhook_secret=secret_text(stripe.webhook_secret),
        public_base_url=base.rstrip("/") + MOUNT_PATH if base else None,
    )
    return attach_body_limit(app)


def mount_portal(receiver: Any, portal: Any) -> Any:
    """One ASGI app: the portal under :data:`portal.links.MOUNT_PATH`, every other path to the receiver."""
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from portal.links import MOUNT_PATH

    app = Starlette(routes=[Mount(MOUNT_PATH, app=portal), Mount("/", app=receiver)])
    app.state.receiver = receiver
    return app


def mail_domains(settings: Settings) -> list[str]:
    """The domains the inbound e-mail listener receives for: ``webhooks.mail_domains``, else the domain of
    the reply address our e-mails carry (``COBRANZA_SMTP__REPLY_TO``)."""
    import os

    if settings.webhooks.mail_domains:
        return list(settings.webhooks.mail_domains)
    reply_to = os.environ.get("COBRANZA_SMTP__REPLY_TO", "")
    return [reply_to.rpartition("@")[2]] if "@" in reply_to else []


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
    mail = None
    if hooks.mail_port is not None:
        from connectors.webhooks.mail import start_mail_listener

        mail = start_mail_listener(
            spool,
            host=hooks.mail_host,
            port=hooks.mail_port,
            domains=mail_domains(settings),
            max_bytes=hooks.mail_max_bytes,
        )
    try:
        return run_receiver(
            app,
            spool,
            host=host or hooks.host,
            port=port if port is not None else hooks.port,
            forwarded_allow_ips=hooks.forwarded_allow_ips,
            graceful_timeout_s=hooks.graceful_timeout_s,
        )
    finally:
        if mail is not None:
            mail.stop()

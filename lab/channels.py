"""The channel lab: WhatsApp, Twilio and HubSpot emulators, an SMTP server and the production webhook
receiver, all on 127.0.0.1, wired to each other like the real services.

The emulators post their delivery/read/inbound webhooks to the receiver, which verifies the
signatures and spools the events for the dispatch stage. Used by the channel tests, the dispatch
benchmark (``python -m lab.channels <spool> [<crm dir>]`` runs it as a separate process) and
``cobranza emulators`` (the demo). :meth:`ChannelLab.env` gives the environment that points the
senders at the lab, :meth:`ChannelLab.overrides` the same as explicit config values.

Why it lives in ``lab/`` and not in ``simulator/emulators/``: see the package docstring.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from connectors.webhooks.app import create_app
from connectors.webhooks.spool import Spool
from simulator.emulators.channel_common import FaultPlan
from simulator.emulators.server import RunningServer, serve
from simulator.emulators.smtp import SmtpSink, free_port
from simulator.emulators.twilio import TwilioEmulator
from simulator.emulators.whatsapp import WhatsAppEmulator

FROM_NUMBER = "+15550001234"
VERIFY_TOKEN = "lab-verify-token"


@dataclass
class ChannelLab:
    """The running lab (stop it when done)."""

    spool: Spool
    receiver_url: str
    whatsapp: WhatsAppEmulator
    whatsapp_url: str
    twilio: TwilioEmulator
    twilio_url: str
    smtp: SmtpSink
    smtp_port: int
    hubspot: Any = None
    hubspot_url: str | None = None
    servers: list[RunningServer] = field(default_factory=list)
    controller: Controller | None = None
    unsubscribe_secret: str = ""

    def overrides(self, **rates: Any) -> dict[str, dict[str, Any]]:
        """Provider config values pointing at the lab (for ``registry.build_senders``)."""
        out: dict[str, dict[str, Any]] = {
            "whatsapp_cloud": {
                "base_url": self.whatsapp_url,
                "phone_number_id": self.whatsapp.phone_number_id,
                "token": self.whatsapp.token,
                "app_secret": self.whatsapp.app_secret,
                **rates.get("whatsapp_cloud", {}),
            },
            "twilio": {
                "base_url": self.twilio_url,
                "account_sid": self.twilio.account_sid,
                "auth_token": self.twilio.auth_token,
                "from_number": FROM_NUMBER,
                "status_callback_url": f"{self.receiver_url}/webhooks/twilio/status",
                **rates.get("twilio", {}),
            },
            "smtp": {
                "host": "127.0.0.1",
                "port": self.smtp_port,
                "starttls": False,
                "from_address": "cobranza@ar.example.com",
                "reply_to": "ar@ar.example.com",
                "unsubscribe_mailto": "unsubscribe@ar.example.com",
                "unsubscribe_url": f"{self.receiver_url}/unsubscribe",
                "unsubscribe_key": self.unsubscribe_secret,
                **rates.get("smtp", {}),
            },
        }
        if self.hubspot is not None:
            out["hubspot"] = {
                "base_url": self.hubspot_url,
                "access_token": self.hubspot.token,
                "index_lag_s": 0,
                **rates.get("hubspot", {}),
            }
        return out

    def env(self) -> dict[str, str]:
        """Environment variables that select the real senders and point them at the lab."""
        env = {
            "COBRANZA_CHANNELS__EMAIL": "smtp",
            "COBRANZA_CHANNELS__WHATSAPP": "whatsapp_cloud",
            "COBRANZA_CHANNELS__SMS": "twilio",
        }
        prefixes = {"whatsapp_cloud": "WHATSAPP", "twilio": "TWILIO", "smtp": "SMTP", "hubspot": "HUBSPOT"}
        for provider, values in self.overrides().items():
            for key, value in values.items():
                env[f"COBRANZA_{prefixes[provider]}__{key.upper()}"] = str(value)
        if self.hubspot is not None:
            env["COBRANZA_CHANNELS__CALL"] = "hubspot"
            env["COBRANZA_CHANNELS__INTERNAL"] = "hubspot"
        return env

    def receiver_env(self) -> dict[str, str]:
        """Environment that makes ``cobranza receiver`` verify what the lab's emulators sign."""
        return {
            "COBRANZA_WHATSAPP__APP_SECRET": self.whatsapp.app_secret,
            "COBRANZA_WHATSAPP__VERIFY_TOKEN": VERIFY_TOKEN,
            "COBRANZA_TWILIO__AUTH_TOKEN": self.twilio.auth_token,
            "COBRANZA_WEBHOOKS__TOKEN_SECRET": self.unsubscribe_secret,
        }

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until the emulators have posted every queued webhook."""
        return self.whatsapp.pusher.drain(timeout) and self.twilio.pusher.drain(timeout)

    def stop(self) -> None:
        """Stop every server."""
        for srv in self.servers:
            srv.stop()
        if self.controller is not None:
            self.controller.stop()

    def __enter__(self) -> ChannelLab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_lab(
    inbound_dir: str | Path,
    *,
    crm_dir: str | Path | None = None,
    faults: FaultPlan | None = None,
    read_rate: float = 0.5,
    smtp_faults: FaultPlan | None = None,
    hubspot_index_lag_s: float = 0.0,
    receiver_url: str | None = None,
    unsubscribe_secret: str | None = None,
) -> ChannelLab:
    """Start the receiver, the emulators and the SMTP server on free loopback ports.

    Args:
        inbound_dir: The receiver's spool folder.
        crm_dir: A simulator output folder (with ``crm/``) for the HubSpot emulator's contacts; no
            HubSpot emulator without it.
        faults: Fault plan shared by the WhatsApp, Twilio and HubSpot task endpoints.
        read_rate: Share of delivered WhatsApp messages that get a ``read`` status.
        smtp_faults: Fault plan of the SMTP server (see :class:`SmtpSink`).
        hubspot_index_lag_s: Seconds before a created HubSpot task is searchable.
        receiver_url: A webhook receiver already running (``cobranza receiver``, as ``cobranza serve
            --demo`` starts it): the emulators post to it and no receiver is started here; it must
            verify with the emulators' secrets (:meth:`ChannelLab.receiver_env`).
        unsubscribe_secret: The secret of the unsubscribe links (default: a new random one).
    """
    spool = Spool(inbound_dir)
    # the receiver verifies what the SMTP sender signs
    unsubscribe_secret = unsubscribe_secret or secrets.token_urlsafe(32)
    wa = WhatsAppEmulator(faults=faults or FaultPlan(), read_rate=read_rate)
    tw = TwilioEmulator(faults=faults or FaultPlan())
    servers: list[RunningServer] = []
    try:
        if receiver_url is None:
            receiver = serve(
                create_app(
                    spool,
                    whatsapp_app_secret=wa.app_secret,
                    whatsapp_verify_token=VERIFY_TOKEN,
                    twilio_auth_token=tw.auth_token,
                    unsubscribe_secret=unsubscribe_secret,
                )
            )
            servers.append(receiver)
            receiver_url = receiver.base_url
        receiver_url = receiver_url.rstrip("/")
        wa.webhook_url = f"{receiver_url}/webhooks/whatsapp"
        tw.inbound_url = f"{receiver_url}/webhooks/twilio/inbound"
        wa_srv, tw_srv = serve(wa.app), serve(tw.app)
        servers += [wa_srv, tw_srv]
        hubspot = hubspot_url = None
        if crm_dir is not None:
            from simulator.emulators.hubspot import HubSpotEmulator

            hubspot = HubSpotEmulator(Path(crm_dir), task_faults=faults, index_lag_s=hubspot_index_lag_s)
            hs_srv = serve(hubspot.app)
            servers.append(hs_srv)
            hubspot_url = hs_srv.base_url
        sink = SmtpSink(smtp_faults)
        controller = Controller(sink, hostname="127.0.0.1", port=free_port())
        controller.start()
    except BaseException:
        for srv in servers:
            srv.stop()
        raise
    smtp_port = controller.port
    return ChannelLab(
        spool=spool,
        receiver_url=receiver_url,
        whatsapp=wa,
        whatsapp_url=wa_srv.base_url,
        twilio=tw,
        twilio_url=tw_srv.base_url,
        smtp=sink,
        smtp_port=smtp_port,
        hubspot=hubspot,
        hubspot_url=hubspot_url,
        servers=servers,
        controller=controller,
        unsubscribe_secret=unsubscribe_secret,
    )


def run_until_stopped(
    inbound_dir: str | Path,
    *,
    crm_dir: str | Path | None = None,
    announce: Any = None,
    read_rate: float = 0.5,
    receiver_url: str | None = None,
) -> None:
    """Start the lab, hand its description to ``announce`` and serve until SIGINT/SIGTERM.

    Args:
        inbound_dir: The receiver's spool folder.
        crm_dir: Simulator output folder for the HubSpot emulator (optional).
        announce: Called once with ``{"urls", "env", "overrides"}`` (default: one JSON line on stdout).
        read_rate: Share of delivered WhatsApp messages that are read.
        receiver_url: Post webhooks to this running receiver instead of starting one.
    """
    import json
    import signal
    import sys

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    from simulator.emulators.server import serve as serve_app
    from simulator.emulators.stripe import StripeEmulator

    # The debtor portal's payment provider (the receiver serves the portal under /portal): pay now goes to
    # the Stripe Checkout emulator, whose signed webhook comes back to the portal.
    stripe = StripeEmulator()
    with (
        start_lab(inbound_dir, crm_dir=crm_dir, read_rate=read_rate, receiver_url=receiver_url) as lab,
        serve_app(stripe.app) as stripe_srv,
    ):
        stripe.base_url = stripe_srv.base_url
        stripe.webhook_url = f"{lab.receiver_url}/portal/webhooks/stripe"
        info = {
            "urls": {
                "receiver": lab.receiver_url,
                "whatsapp": lab.whatsapp_url,
                "twilio": lab.twilio_url,
                "hubspot": lab.hubspot_url,
                "smtp": f"smtp://127.0.0.1:{lab.smtp_port}",
                "stripe": stripe_srv.base_url,
            },
            "env": lab.env(),
            "receiver_env": {
                **lab.receiver_env(),
                "COBRANZA_STRIPE__API_BASE": stripe_srv.base_url,
                "COBRANZA_STRIPE__SECRET_KEY": stripe.secret_key,
                "COBRANZA_STRIPE__WEBHOOK_SECRET": stripe.webhook_secret,
            },
            "overrides": lab.overrides(),
        }
        if announce is None:
            sys.stdout.write(json.dumps(info) + "\n")
            sys.stdout.flush()
        else:
            announce(info)
        stop.wait()


if __name__ == "__main__":  # pragma: no cover - `python -m lab.channels`: bench/dispatch.py, cobranza serve --demo
    import argparse

    parser = argparse.ArgumentParser(prog="python -m lab.channels", description="The channel lab until SIGTERM.")
    parser.add_argument("spool", help="The receiver's spool folder.")
    parser.add_argument("crm_dir", nargs="?", default=None, help="Simulator output folder for the HubSpot emulator.")
    parser.add_argument("--receiver-url", default=None, help="Post webhooks to this running receiver.")
    parser.add_argument("--read-rate", type=float, default=0.0, help="Share of delivered WhatsApp messages read.")
    args = parser.parse_args()
    run_until_stopped(args.spool, crm_dir=args.crm_dir, read_rate=args.read_rate, receiver_url=args.receiver_url)

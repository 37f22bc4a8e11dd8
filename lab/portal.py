"""The portal lab: the debtor portal wired to the Stripe Checkout emulator on 127.0.0.1 (demo and tests).

``start_portal_lab`` starts the Stripe emulator and the portal (``portal.app``) under uvicorn, points
the portal's payment client at the emulator and the emulator's webhook at the portal's
``/webhooks/stripe``, so "pay now" goes to the emulator's checkout page and its signed
``checkout.session.completed`` comes back as a spooled payment. ``python -m lab.portal SNAPSHOT
SPOOL DATA_DIR CUSTOMER_ID`` runs it until Ctrl-C and prints one JSON line with the URLs and a signed
link for the customer. A composition root (imports the product and an emulator), so it lives in
``lab/`` (see the package docstring); ``cobranza serve`` mounts the portal itself.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from portal.app import PortalLimits, attach_body_limit, create_app
from portal.links import portal_url
from portal.payments import StripeCheckout
from simulator.emulators.server import serve
from simulator.emulators.stripe import StripeEmulator


@dataclass
class PortalLab:
    """The running lab."""

    portal_url: str
    stripe_url: str
    stripe: StripeEmulator
    token_secret: str

    def link(self, customer_id: str, ttl: timedelta = timedelta(days=7)) -> str:
        """A signed portal link for ``customer_id``."""
        return portal_url(self.portal_url, customer_id, self.token_secret, ttl)


@contextmanager
def start_portal_lab(
    snapshot: str | Path,
    spool_dir: str | Path,
    data_dir: str | Path,
    *,
    token_secret: str | None = None,
    limits: PortalLimits = PortalLimits(),
) -> Iterator[PortalLab]:
    """Start the Stripe emulator and the portal; stop both on exit."""
    secret = token_secret or secrets.token_urlsafe(32)
    stripe = StripeEmulator()
    with serve(stripe.app) as emulator:
        payments = StripeCheckout(emulator.base_url, stripe.secret_key)
        app = create_app(
            snapshot_path=snapshot,
            spool_dir=spool_dir,
            data_dir=data_dir,
            token_secret=secret,
            payments=payments,
            stripe_webhook_secret=stripe.webhook_secret,
            limits=limits,
        )
        try:
            with serve(attach_body_limit(app)) as portal:
                stripe.webhook_url = f"{portal.base_url}/webhooks/stripe"
                yield PortalLab(portal.base_url, emulator.base_url, stripe, secret)
        finally:
            payments.close()


def main(argv: list[str]) -> None:
    """``python -m lab.portal SNAPSHOT SPOOL DATA_DIR CUSTOMER_ID``: serve until SIGINT/SIGTERM."""
    if len(argv) != 4:
        sys.stderr.write("usage: python -m lab.portal SNAPSHOT SPOOL_DIR DATA_DIR CUSTOMER_ID\n")
        raise SystemExit(2)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with start_portal_lab(argv[0], argv[1], argv[2]) as lab:
        info = {"portal": lab.portal_url, "stripe": lab.stripe_url, "link": lab.link(argv[3])}
        sys.stdout.write(json.dumps(info) + "\n")
        sys.stdout.flush()
        stop.wait()


if __name__ == "__main__":  # pragma: no cover - the demo process
    main(sys.argv[1:])

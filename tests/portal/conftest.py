"""Portal test fixtures: the snapshot, the spool and data folders, and an in-process app (TestClient)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from portal_helpers import NOW, SECRET, make_snapshot  # noqa: E402

from portal.app import attach_body_limit, create_app  # noqa: E402
from portal.payments import StripeCheckout  # noqa: E402
from simulator.emulators.stripe import StripeEmulator  # noqa: E402


@pytest.fixture
def world(tmp_path: Path) -> dict[str, Path]:
    """Folders of one portal: snapshot, spool, data dir."""
    snap = make_snapshot(tmp_path / "published.duckdb")
    return {"snapshot": snap, "spool": tmp_path / "spool", "data": tmp_path / "data"}


@pytest.fixture
def stripe() -> StripeEmulator:
    """A Stripe emulator reached in process (no webhook URL: tests post the events themselves)."""
    return StripeEmulator()


@pytest.fixture
def client(world: dict[str, Path], stripe: StripeEmulator) -> TestClient:
    """The portal, in process, talking to the in-process Stripe emulator."""
    payments = StripeCheckout(
        "http://stripe.test", stripe.secret_key, client=TestClient(stripe.app, base_url="http://stripe.test")
    )
    stripe.base_url = "http://stripe.test"
    app = create_app(
        snapshot_path=world["snapshot"],
        spool_dir=world["spool"],
        data_dir=world["data"],
        token_secret=SECRET,
        payments=payments,
        stripe_webhook_secret=stripe.webhook_secret,
        clock=lambda: NOW,
    )
    with TestClient(attach_body_limit(app), base_url="http://portal.test") as c:
        yield c

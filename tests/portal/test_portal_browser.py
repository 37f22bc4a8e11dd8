"""The debtor portal in headless Chromium (Debian's package), against real uvicorns of the portal and Stripe's emulator.

A phone-sized browser opens the signed link and goes through what a debtor does: reads the
statement, promises a payment, disputes an invoice with a PDF attached, accepts a payment plan, pays
now on the emulator's checkout page; the emulator posts the signed ``checkout.session.completed``
webhook to the portal, which spools the payment. The spool is then landed as the inbound flow does,
and the pre-send re-check cancels a queued reminder about the paid invoice before any bank
statement. Forged, expired and tampered links get the 403 page with no data. No CSP violation or
console error may occur on any page. Skips only when chromium is not installed (``.ci/system-deps``
installs it).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from cdp import Browser
from portal_helpers import PDF, SECRET, make_snapshot

from connectors.webhooks.spool import Spool
from connectors.webhooks.store import land_events
from lab.portal import start_portal_lab
from ml.inbound.portal_events import portal_interactions, settled_online
from ml.nba import revalidate
from portal import tokens
from portal.links import portal_url
from simulator.emulators.stripe import StripeEmulator


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        script = Path(__file__).resolve().parents[2] / ".ci" / "system-deps"
        run = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=900, check=False)
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            why = (run.stderr.strip().splitlines() or ["no reason given"])[-1]
            pytest.skip(f"chromium is not installed and could not be installed ({why})")
    return binary


def test_debtor_journey_in_headless_chromium(chromium: str, tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    snapshot = make_snapshot(tmp_path / "published.duckdb", today=today)
    spool_dir, data_dir = tmp_path / "spool", tmp_path / "data"
    with start_portal_lab(snapshot, spool_dir, data_dir, token_secret=SECRET) as lab:
        browser = Browser(chromium, tmp_path / "profile")
        try:
            refused = _journey(browser, lab.portal_url, lab.stripe, spool_dir, data_dir, today)
            # the only failed loads allowed: the deliberate 403s and the emulator's missing favicon
            allowed = {f"@ {u}" for u in refused} | {f"@ {lab.stripe_url}/favicon.ico"}
            problems = [p for p in browser.problems() if not any(p.endswith(a) for a in allowed)]
            assert problems == []
        finally:
            browser.close()


def _journey(browser: Browser, base: str, stripe: StripeEmulator, spool_dir: Path, data_dir: Path, today) -> list[str]:
    """Walk the portal; return the refused URLs it visited."""
    link = portal_url(base, "C1", SECRET)

    # statement: locale amounts, overdue marked, nothing of the other customer
    assert browser.goto(link) == 200
    assert browser.text("#balance").split("\n")[-1].strip().endswith("$7.500.000,50")
    assert "Vencida (30 días)" in browser.text("tr.overdue")
    assert "Padaria" not in browser.text() and "NF-77" not in browser.text()
    assert browser.js("getComputedStyle(document.querySelector('.actions')).display") == "grid"  # stylesheet applied

    # promise
    assert browser.click_and_wait("#link-promise") == 200
    promised = (today + timedelta(days=5)).isoformat()
    browser.fill("#promised_date", promised)
    browser.fill("#amount", "1000000")
    assert browser.click_and_wait("#promise-send") == 200
    assert "Registramos su promesa de pago de $1.000.000,00" in browser.text("#done")

    # dispute with an attachment
    attachment = data_dir.parent / "remito de entrega.pdf"
    attachment.write_bytes(PDF)
    assert browser.goto(link + "/dispute") == 200
    browser.js("document.querySelector('input[name=invoice][value=I2]').checked = true")
    browser.fill("#note", "La mercancía llegó dañada")
    browser.set_files("#attachment", attachment)
    assert browser.click_and_wait("#dispute-send") == 200
    assert "FV-1002" in browser.text("#done")

    # payment plan: three instalments
    assert browser.goto(link + "/plan") == 200
    assert browser.click_and_wait("#plan-accept-3") == 200
    assert "Plan aceptado: 3 cuotas" in browser.text("#done")

    # pay now -> the emulator's checkout -> pay -> back to the portal
    assert browser.goto(link) == 200
    browser.js("document.querySelector('input[name=invoice][value=I2]').checked = false")
    assert browser.click_and_wait("#pay-now") == 200
    checkout = browser.js("location.href")
    assert "/c/pay/cs_test_" in checkout and not checkout.startswith(base)  # on the provider's page
    assert "50.000,00" not in browser.text("#total") and "5,000,000.00 COP" in browser.text("#total")
    assert browser.click_and_wait("#pay") == 200
    assert browser.js("location.pathname") == "/checkout/done"
    assert "Recibimos la confirmación de su pago" in browser.text("#done")

    # the signed webhook reaches the portal (posted by the emulator's delivery thread)
    assert stripe.pusher.drain(timeout=10)
    deadline = time.monotonic() + 10
    while not any(e["kind"] == "payment_succeeded" for e in Spool(spool_dir).read()):
        assert time.monotonic() < deadline, "no payment event spooled"
        time.sleep(0.1)

    # 403 without data: forged, expired, tampered (C2's payload under C1's tag)
    good = link.rsplit("/", 1)[1]
    forged = tokens.mint("another-deployment-secret-0123", "C1", ttl=timedelta(days=1))
    expired = tokens.mint(SECRET, "C1", ttl=timedelta(minutes=1), now=datetime.now(UTC) - timedelta(minutes=2))
    version, _, tag = good.split(".")
    tampered = f"{version}.{tokens.mint(SECRET, 'C2', ttl=timedelta(days=1)).split('.')[1]}.{tag}"
    refused = [f"{base}/p/{t}" for t in (forged, expired, tampered)]
    for bad in refused:
        assert browser.goto(bad) == 403
        assert browser.text("#denied") == "403"
        assert not any(x in browser.text() for x in ("Ferretería", "Padaria", "FV-1001", "NF-77"))

    # the inbound flow lands the spool: interactions, and the paid invoice's queued reminder is cancelled
    con = duckdb.connect()
    land_events(con, spool_dir)
    outcomes = sorted(portal_interactions(con)["outcome"])
    assert outcomes == ["dispute", "paid_claim", "promise_to_pay", "promise_to_pay"]
    stored = list((data_dir / "portal" / "attachments").rglob("*.pdf"))
    assert len(stored) == 1 and stored[0].name.endswith("-remito_de_entrega.pdf") and stored[0].read_bytes() == PDF
    settled = set(settled_online(con)["invoice_id"])
    assert settled == {"I1", "I2"}  # I1 paid by pay link, I2 disputed
    tasks = pd.DataFrame({"task_id": ["t1"], "channel": ["email"], "invoice_ids": [["I1"]]})
    gone = revalidate.invoices_gone(tasks, {"I1", "I2"} - settled)
    assert list(gone["task_id"]) == ["t1"]
    return refused

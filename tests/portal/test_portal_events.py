"""Portal events landed like webhooks become interactions and settle invoices (ml.inbound.portal_events)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import duckdb
from portal_helpers import NOW, PDF, SECRET

from connectors.webhooks.store import land_events
from ml.inbound.portal_events import portal_interactions, settled_online
from portal import tokens
from portal.payments import sign


def _csrf(client, path: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).text)[1]


def test_every_portal_action_lands_as_an_interaction(client, world, stripe) -> None:
    base = "/p/" + tokens.mint(SECRET, "C1", ttl=timedelta(days=30), now=NOW)
    t = _csrf(client, base)
    assert client.post(base + "/promise", data={"csrf_token": t, "promised_date": "2026-12-12", "amount": "1000000"})
    form = {"csrf_token": t, "invoice": ["I2"], "note": "no corresponde"}
    client.post(base + "/dispute", data=form, files={"attachment": ("r.pdf", PDF, "application/pdf")})
    client.post(base + "/plan", data={"csrf_token": t, "instalments": "2"})
    client.post(base + "/preferences", data={"csrf_token": t, "opt_out": ["sms"]})
    r = client.post(base + "/pay", data={"csrf_token": t, "invoice": ["I1"]}, follow_redirects=False)
    event = stripe.pay(r.headers["location"].rsplit("/", 1)[1])
    body = json.dumps(event).encode()
    hook = {"Stripe-Signature": sign(stripe.webhook_secret, body, int(NOW.timestamp()))}
    assert client.post("/webhooks/stripe", content=body, headers=hook).status_code == 200

    con = duckdb.connect()
    assert land_events(con, world["spool"]) == 6  # promise, dispute, plan, 2 opt-outs (K1, K1b), payment
    assert land_events(con, world["spool"]) == 0  # re-landing adds nothing
    rows = portal_interactions(con)
    assert set(rows["channel"]) == {"portal"} and set(rows["direction"]) == {"inbound"}
    assert set(rows["customer_id"]) == {"C1"} and rows["interaction_id"].is_unique
    got = sorted(zip(rows["outcome"], rows["promised_date"], rows["promised_amount"], strict=True), key=str)
    assert got == sorted(
        [
            ("promise_to_pay", "2026-12-12", "1000000"),
            ("promise_to_pay", "2026-12-12", "3750000.25"),  # the plan's first instalment
            ("dispute", None, None),
            ("replied", None, None),
            ("replied", None, None),
            ("paid_claim", None, None),
        ],
        key=str,
    )
    settled = settled_online(con)
    assert sorted(zip(settled["invoice_id"], settled["reason"], strict=True)) == [
        ("I1", "paid by pay link"),
        ("I2", "disputed on the portal"),
    ]


def test_no_payload_column_means_nothing(tmp_path) -> None:
    con = duckdb.connect()
    con.execute("create schema raw_channels; create table raw_channels.webhook_events (event_id varchar)")
    assert portal_interactions(con).empty and settled_online(con).empty


def test_the_inbound_readers_take_portal_events(client, world) -> None:
    """build_interactions carries the portal rows, opt_outs the portal withdrawals (by contact, source portal)."""
    from connectors.channels.outbox import ensure_schema
    from ml.inbound.interactions import build_interactions
    from ml.inbound.optouts import opt_outs

    base = "/p/" + tokens.mint(SECRET, "C1", ttl=timedelta(days=30), now=NOW)
    t = _csrf(client, base)
    client.post(base + "/promise", data={"csrf_token": t, "promised_date": "2026-12-12", "amount": "1000000"})
    client.post(base + "/preferences", data={"csrf_token": t, "opt_out": ["whatsapp"]})
    con = duckdb.connect()
    ensure_schema(con)
    land_events(con, world["spool"])
    table, _ = build_interactions(con)
    rows = table.to_pylist()
    promise = [r for r in rows if r["outcome"] == "promise_to_pay"]
    assert len(promise) == 1 and promise[0]["channel"] == "portal" and promise[0]["promised_date"] == "2026-12-12"
    assert promise[0]["customer_id"] == "C1" and promise[0]["promised_amount"] == "1000000"
    withdrawals = opt_outs(con)
    assert sorted(zip(withdrawals["contact_id"], withdrawals["channel"], withdrawals["source"], strict=True)) == [
        ("K1", "whatsapp", "portal"),
        ("K1b", "whatsapp", "portal"),
    ]

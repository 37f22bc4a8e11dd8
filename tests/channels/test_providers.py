"""Integration tests of the real channel senders against the local emulators, aiosmtpd and the receiver."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import duckdb
import pandas as pd
import pytest
import requests
from channels_helpers import decision_rows, write_crm

from connectors.channels import outbox, registry
from connectors.channels.smtp import SmtpConfig, SmtpSender
from connectors.channels.twilio_sms import TwilioConfig, TwilioSender
from connectors.channels.whatsapp_cloud import WhatsAppConfig, WhatsAppSender
from connectors.contracts import INTERACTIONS
from connectors.load import land
from connectors.webhooks import store
from lab.channels import start_lab
from ml.inbound.interactions import build_interactions
from simulator.emulators.channel_common import FaultPlan
from simulator.emulators.server import serve
from simulator.emulators.twilio import TwilioEmulator


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    with start_lab(root / "inbound", crm_dir=write_crm(root / "world", 30), read_rate=1.0) as running:
        yield running


@pytest.fixture
def con(tmp_path):
    c = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield c
    c.close()


def now() -> datetime:
    return datetime.now(UTC)


def senders(lab, con, channels):
    return registry.build_senders(
        {c: p for c, p in channels.items()},
        dry_run_dir="unused",
        whatsapp_status_lookup=lambda ids: store.whatsapp_confirmations(con, ids),
        whatsapp_last_inbound=store.whatsapp_last_inbound(con),
        overrides=lab.overrides(),
    )


def run_dispatch(lab, con, channels, at=None):
    pairs = senders(lab, con, channels)
    try:
        total = {}
        for chans, sender in pairs:
            if sender.name == "dry_run":
                continue
            for k, v in outbox.dispatch(con, sender, at or now(), channels=chans).items():
                total[k] = total.get(k, 0) + v
        return total
    finally:
        registry.close_senders(pairs)


def feedback(lab, con):
    assert lab.drain()
    store.land_events(con, lab.spool.dir)
    rows, summary = build_interactions(con)
    if rows.num_rows:
        con.register("_rows", rows)
        land(con, INTERACTIONS, "select * from _rows", source="webhooks", origin="test")
        con.unregister("_rows")
    return summary


def test_whatsapp_template_delivery_reply_and_service_window(lab, con) -> None:
    decisions = decision_rows(3, "whatsapp", start=1)
    today = now().date()
    outbox.enqueue(con, decisions, today)
    counts = run_dispatch(lab, con, {"whatsapp": "whatsapp_cloud"})
    assert counts["sent"] == 3
    states = outbox.task_states(con)
    by_task = {m["biz_opaque_callback_data"]: m for m in lab.whatsapp.messages}
    for row in states.itertuples():
        sent = by_task[row.task_id]
        assert sent["id"] == row.provider_message_id and sent["type"] == "template"
        params = sent["template"]["components"][0]["parameters"]
        assert len(params) == 4 and params[3]["text"].startswith("https://pay.example.com/")
    langs = {m["template"]["language"]["code"] for m in by_task.values()}
    assert langs == {"es", "en_US", "pt_BR"}
    # Amounts in the customer's locale: Colombian pesos use '.' for thousands.
    co = next(m for m in by_task.values() if m["template"]["language"]["code"] == "es")
    assert "1.234.577,89" in co["template"]["components"][0]["parameters"][1]["text"]

    # Status webhooks land, confirm the sends and become delivered/read interactions.
    feedback(lab, con)
    confirmed = store.whatsapp_confirmations(con, list(states["task_id"]))
    assert confirmed == dict(zip(states["task_id"], states["provider_message_id"], strict=True))
    outcomes = con.execute(
        "select outcome, count(*) from raw_crm.interactions where direction = 'outbound' group by 1"
    ).fetchall()
    assert dict(outcomes) == {"delivered": 3, "read": 3}

    # The customer answers the reminder: a promise to pay with date and amount, tied to the customer.
    first = states.iloc[0]
    wa_id = "".join(ch for ch in decisions.set_index("customer_id").loc[first.customer_id, "phone"] if ch.isdigit())
    reply = "Hola, pagaremos el 15/12 la suma de $ 1.250.000,00"
    lab.whatsapp.inbound(wa_id, reply, context_id=first.provider_message_id)
    summary = feedback(lab, con)
    assert summary.promises == 1
    row = con.execute(
        "select customer_id, channel, outcome, promised_date, promised_amount from raw_crm.interactions "
        "where direction = 'inbound'"
    ).fetchall()
    assert row[0][0] == first.customer_id and row[0][1:3] == ("whatsapp", "promise_to_pay")
    assert row[0][3].day == 15 and row[0][3].month == 12 and row[0][4] == Decimal("1250000.00")
    # Re-landing the same events adds nothing.
    before = con.execute("select count(*) from raw_crm.interactions").fetchall()[0][0]
    feedback(lab, con)
    assert con.execute("select count(*) from raw_crm.interactions").fetchall()[0][0] == before

    # Inside the 24-hour window (the customer just wrote) the next message is free-form text.
    nxt = decisions[decisions["customer_id"] == first.customer_id]
    outbox.enqueue(con, nxt, today + timedelta(days=1))
    n_before = len(lab.whatsapp.messages)
    assert run_dispatch(lab, con, {"whatsapp": "whatsapp_cloud"})["sent"] == 1
    last = lab.whatsapp.messages[n_before]
    assert last["type"] == "text" and "INV/2026/" in last["text"]


def test_whatsapp_errors_are_classified(lab, con) -> None:
    today = now().date()
    undeliverable = decision_rows(1, "whatsapp", start=40, phone="+573100000000")
    no_phone = decision_rows(1, "whatsapp", start=41).assign(phone=None)
    outbox.enqueue(con, pd.concat([undeliverable, no_phone]), today)
    counts = run_dispatch(lab, con, {"whatsapp": "whatsapp_cloud"})
    assert counts["sent"] == 1 and counts["dead"] == 1
    dead = outbox.task_states(con).query("state == 'dead'")
    assert "no phone number" in dead["last_error"].iloc[0]
    # Accepted is not delivered: the failed status (131026) becomes a bounce.
    feedback(lab, con)
    out = con.execute("select outcome from raw_crm.interactions where customer_id = 'C000040'").fetchall()
    assert out == [("bounced",)]
    # A wrong token fails retryably, names what to fix and never shows the token.
    cfg = WhatsAppConfig(**{**lab.overrides()["whatsapp_cloud"], "token": "wrong-token-123"})
    with WhatsAppSender(cfg) as sender:
        task = {"task_id": "t1", "payload": {**decision_rows(1, "whatsapp").iloc[0].to_dict()}}
        task["payload"]["amount_at_stake"] = str(task["payload"]["amount_at_stake"])
        res = sender.send_one(task)
    assert not res.ok and res.retryable and "190" in res.detail and "COBRANZA_WHATSAPP__TOKEN" in res.detail
    assert "wrong-token-123" not in res.detail


def test_twilio_sms_status_callbacks_and_validation(lab, con) -> None:
    today = now().date()
    good = decision_rows(2, "sms", start=50)
    bad = decision_rows(1, "sms", start=52).assign(phone="3001234567")  # not E.164
    unreachable = decision_rows(1, "sms", start=53, phone="+15550000000")
    outbox.enqueue(con, pd.concat([good, bad, unreachable]), today)
    counts = run_dispatch(lab, con, {"sms": "twilio"})
    assert counts["sent"] == 3 and counts["dead"] == 1
    states = outbox.task_states(con).set_index("customer_id")
    assert "not E.164" in states.loc["C000052", "last_error"]
    assert all(states.loc[c, "provider_message_id"].startswith("SM") for c in ("C000050", "C000051", "C000053"))
    feedback(lab, con)
    outcomes = dict(
        con.execute("select customer_id, outcome from raw_crm.interactions where direction = 'outbound'").fetchall()
    )
    assert outcomes == {"C000050": "delivered", "C000051": "delivered", "C000053": "bounced"}
    # An inbound SMS disputing the invoice, in Portuguese, lands as a dispute for that customer.
    lab.twilio.inbound(good.iloc[0]["phone"], "+15550001234", "Esta fatura está errada, não reconheço o valor")
    assert feedback(lab, con).disputes == 1


def test_twilio_ambiguous_send_is_reconciled_by_lookup_not_resent(tmp_path, con) -> None:
    emu = TwilioEmulator(faults=FaultPlan(rate=1.0, kinds=("timeout_after",), hang_s=1.5))
    with serve(emu.app) as srv:
        cfg = TwilioConfig(
            base_url=srv.base_url,
            account_sid=emu.account_sid,
            auth_token=emu.auth_token,
            from_number="+15550001234",
            read_timeout=0.4,
            validity_period_s=1,
        )
        outbox.enqueue(con, decision_rows(1, "sms", start=60), now().date())
        with TwilioSender(cfg) as sender:
            assert outbox.dispatch(con, sender, now())["unknown"] == 1
            assert outbox.task_states(con)["state"].tolist() == ["unknown"]
            emu.faults.rate = 0.0
            counts = outbox.dispatch(con, sender, now())
        assert counts["reconciled"] == 1 and counts["sent"] == 1
        assert len(emu.messages) == 1
        assert outbox.task_states(con)["provider_message_id"].tolist() == list(emu.messages)


def test_smtp_threading_unsubscribe_and_parts(lab, con) -> None:
    first_day = now().date() - timedelta(days=3)
    rows = decision_rows(1, "email", start=70)
    outbox.enqueue(con, rows, first_day)
    outbox.enqueue(con, rows, first_day + timedelta(days=2))
    n0 = len(lab.smtp.messages)
    assert run_dispatch(lab, con, {"email": "smtp"})["sent"] == 2
    first, second = lab.smtp.messages[n0:]
    assert first["Message-ID"] != second["Message-ID"]
    ids = outbox.task_states(con)["provider_message_id"].tolist()
    assert set(ids) == {first["Message-ID"], second["Message-ID"]}
    # Sent in schedule order, so the later one answers the first (one thread per customer).
    older, newer = (first, second) if first["In-Reply-To"] is None else (second, first)
    assert newer["In-Reply-To"] == older["Message-ID"] and newer["References"] == older["Message-ID"]
    assert newer["Reply-To"] == "ar+C000070@ar.example.com"
    unsub = newer["List-Unsubscribe"]
    assert unsub.startswith(f"<{lab.receiver_url}/unsubscribe/") and "<mailto:unsubscribe@ar.example.com?" in unsub
    assert newer.get_content_type() == "multipart/alternative"
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in newer.walk() if not p.is_multipart()}
    assert "INV/2026/00070" in parts["text/plain"] and "<table" in parts["text/html"].lower()
    # One-click unsubscribe (RFC 8058) is a POST with the form body, no login.
    url = unsub.split(">")[0].lstrip("<")
    assert requests.get(url, timeout=5).status_code == 200
    assert requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=5).status_code == 200
    assert any(e["kind"] == "unsubscribe" for e in lab.spool.read())


def test_smtp_refuses_clear_text_when_starttls_is_required(lab) -> None:
    cfg = SmtpConfig(**{**lab.overrides()["smtp"], "starttls": True})
    task = {"task_id": "t-tls", "customer_id": "C1", "payload": decision_rows(1, "email").iloc[0].to_dict()}
    task["payload"]["amount_at_stake"] = str(task["payload"]["amount_at_stake"])
    sender = SmtpSender(cfg)
    try:
        res = sender.send_one(task)
    finally:
        sender.close()
    assert not res.ok and "STARTTLS" in res.detail


def test_hubspot_call_task_is_associated_with_the_contact(lab, con) -> None:
    today = now().date()
    calls = decision_rows(2, "call", start=1)
    unknown_contact = decision_rows(1, "call", start=99)  # K000099 is not in the CRM
    outbox.enqueue(con, pd.concat([calls, unknown_contact]), today)
    counts = run_dispatch(lab, con, {"call": "hubspot"})
    assert counts["sent"] == 2 and counts["dead"] == 1
    tasks = lab.hubspot.objects["tasks"]
    mine = [t for t in tasks.values() if "cbz-" in t["properties"]["hs_task_body"]]
    assert {t["properties"]["hs_task_type"] for t in mine} == {"CALL"}
    assoc = {lab.hubspot.associations[t["id"]][0]["toObjectId"] for t in mine}
    assert {"1", "2"} <= assoc
    assert all(lab.hubspot.associations[t["id"]][0]["types"][0]["associationTypeId"] == 204 for t in mine)
    # Reconcile finds a created task by its reference token.
    states = outbox.task_states(con).query("state == 'sent'")
    pairs = registry.build_senders({"call": "hubspot"}, dry_run_dir="unused", overrides=lab.overrides())
    try:
        sender = next(s for ch, s in pairs if "call" in ch)
        found = sender.reconcile(states.to_dict("records"))
    finally:
        registry.close_senders(pairs)
    assert found == dict(zip(states["task_id"], states["provider_message_id"], strict=True))


def test_missing_credentials_fail_before_sending(monkeypatch) -> None:
    names = ("COBRANZA_TWILIO__AUTH_TOKEN", "TWILIO_AUTH_TOKEN", "COBRANZA_TWILIO__ACCOUNT_SID", "TWILIO_ACCOUNT_SID")
    for var in names:
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(registry.ChannelConfigError, match="COBRANZA_TWILIO__"):
        registry.build_senders({"sms": "twilio"}, dry_run_dir="unused", overrides={"twilio": {"from_number": "+1555"}})


def test_provider_error_quoting_the_number_is_masked_in_task_events(con) -> None:
    """Twilio's 21211 quotes the refused number; the task event keeps the error, not the number."""
    emu = TwilioEmulator()
    raw = "+52 55 1234 5678"
    with serve(emu.app) as srv:
        cfg = TwilioConfig(
            base_url=srv.base_url, account_sid=emu.account_sid, auth_token=emu.auth_token, from_number="+15550001234"
        )
        outbox.enqueue(con, decision_rows(1, "sms", start=80, phone=raw), now().date())
        with TwilioSender(cfg) as sender:
            outbox.dispatch(con, sender, now())
    details = [d for (d,) in con.execute("select detail from outbox.task_events where detail is not null").fetchall()]
    assert any("21211" in d or "not a valid phone" in d for d in details), details
    assert not any("1234 5678" in d or "5512345678" in d for d in details), details
    assert emu.messages == {}

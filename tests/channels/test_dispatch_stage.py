"""The dispatch stage: per-channel provider choice from settings, dry run for the rest, feedback landed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
from channels_helpers import decision_rows, hand_over, warehouse_state

from cobranza.settings import load_settings
from connectors.channels import outbox
from flows import stages
from lab.channels import start_lab


def test_stage_sends_whatsapp_live_and_the_rest_dry_run(tmp_path) -> None:
    settings = load_settings(data_dir=tmp_path, channels={"whatsapp": "whatsapp_cloud"})
    now = datetime.now(UTC)
    ctx = stages.make_context(settings, now.date(), now)
    whatsapp = decision_rows(2, "whatsapp", start=1, scheduled_at=now - timedelta(minutes=1))
    decisions = pd.concat([whatsapp, decision_rows(2, "email", start=3)])
    with duckdb.connect(str(ctx.warehouse)) as con:
        outbox.enqueue(con, decisions, ctx.as_of)
        warehouse_state(con, decisions)
    hand_over(ctx)
    with start_lab(settings.resolve(settings.channels.inbound_dir)) as lab:
        counts = stages.dispatch_outbox.fn(ctx, overrides=lab.overrides())
        assert counts["sent"] == 4
        assert len(lab.whatsapp.messages) == 2 and len(lab.smtp.messages) == 0  # email stays on the dry run
        dry = (settings.resolve(settings.channels.outbox_dir) / f"{ctx.as_of.isoformat()}.jsonl").read_text()
        assert dry.count('"channel": "email"') == 2
        wamid = lab.whatsapp.messages[0]["id"]
        lab.whatsapp.inbound(lab.whatsapp.messages[0]["to"], "We already paid that invoice", context_id=wamid)
        assert lab.drain()
        counts = stages.dispatch_outbox.fn(ctx, overrides=lab.overrides())
    assert counts["considered"] == 0 and counts["webhook_events"] >= 5
    stages.replicate(ctx)  # the next warehouse writer lands the interactions in the warehouse
    with duckdb.connect(str(ctx.warehouse)) as con:
        inbound = con.execute(
            "select customer_id, outcome from raw_crm.interactions where direction = 'inbound'"
        ).fetchall()
    assert inbound == [("C000001", "paid_claim")] or inbound == [("C000002", "paid_claim")]


def test_queued_contacts_about_paid_or_disputed_invoices_or_without_consent_are_cancelled(tmp_path) -> None:
    """Between the decision and the send the bank sees a payment, a dispute opens, a contact opts out."""
    settings = load_settings(data_dir=tmp_path)
    now = datetime.now(UTC)
    ctx = stages.make_context(settings, now.date(), now)
    decisions = decision_rows(5, "email")
    with duckdb.connect(str(ctx.warehouse)) as con:
        outbox.enqueue(con, decisions, ctx.as_of)
        warehouse_state(con, decisions, settled=("I1b",), disputed=("I2a",), no_consent=("K000003",))
    hand_over(ctx)
    counts = stages.dispatch_outbox.fn(ctx)
    stages.replicate(ctx)
    assert counts["cancelled"] == 3 and counts["sent"] == 2
    with duckdb.connect(str(ctx.warehouse)) as con:
        events = con.execute(
            "select t.customer_id, e.state, e.detail from outbox.task_events e "
            "join outbox.contact_tasks t using (task_id) where e.state = 'dead' order by t.customer_id"
        ).fetchall()
        sent = con.execute(
            "select t.customer_id from outbox.task_events e join outbox.contact_tasks t using (task_id) "
            "where e.state = 'sent' order by 1"
        ).fetchall()
    assert [e[0] for e in events] == ["C000001", "C000002", "C000003"]
    assert all(e[2].startswith("cancelled before sending:") for e in events)
    assert "invoice I1b no longer open" in events[0][2]
    assert "invoice I2a no longer open" in events[1][2]
    assert "contact K000003 no longer consents to email" in events[2][2]
    assert sent == [("C000004",), ("C000005",)]
    dry = (settings.resolve(settings.channels.outbox_dir) / f"{ctx.as_of.isoformat()}.jsonl").read_text()
    assert "C000001" not in dry and "C000004" in dry


def test_waiting_tasks_are_not_sent_without_the_marts_to_recheck_them(tmp_path) -> None:
    settings = load_settings(data_dir=tmp_path)
    now = datetime.now(UTC)
    ctx = stages.make_context(settings, now.date(), now)
    with duckdb.connect(str(ctx.warehouse)) as con:
        outbox.enqueue(con, decision_rows(1, "email"), ctx.as_of)
    hand_over(ctx)
    counts = stages.dispatch_outbox.fn(ctx)  # held, not failed: a dispatcher pass here is routine
    assert counts["held_no_recheck"] == 1 and counts["cancelled"] == 0 and not counts.get("sent")
    assert not list(settings.resolve(settings.channels.outbox_dir).glob("*.jsonl")), "nothing was rendered"

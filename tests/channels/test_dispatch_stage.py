"""The dispatch stage: per-channel provider choice from settings, dry run for the rest, feedback landed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
from channels_helpers import decision_rows

from cobranza.settings import load_settings
from connectors.channels import outbox
from flows import stages
from simulator.emulators.channel_lab import start_lab


def test_stage_sends_whatsapp_live_and_the_rest_dry_run(tmp_path) -> None:
    settings = load_settings(data_dir=tmp_path, channels={"whatsapp": "whatsapp_cloud"})
    now = datetime.now(UTC)
    ctx = stages.make_context(settings, now.date(), now)
    whatsapp = decision_rows(2, "whatsapp", start=1, scheduled_at=now - timedelta(minutes=1))
    decisions = pd.concat([whatsapp, decision_rows(2, "email", start=3)])
    with duckdb.connect(str(ctx.warehouse)) as con:
        outbox.enqueue(con, decisions, ctx.as_of)
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
    with duckdb.connect(str(ctx.warehouse)) as con:
        inbound = con.execute(
            "select customer_id, outcome from raw_crm.interactions where direction = 'inbound'"
        ).fetchall()
    assert inbound == [("C000001", "paid_claim")] or inbound == [("C000002", "paid_claim")]

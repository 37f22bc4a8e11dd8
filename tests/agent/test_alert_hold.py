"""An open fraud or redirection alert reaches the agent (issue 21 x issue 20): a debtor under such an
alert who asks for the statement or the bank details gets no automatic answer with payment details; a
person takes the thread (an ``agent_handoff`` task carrying the alert's codes), while the debtor next
to him, without an alert, is answered as usual. Real WhatsApp emulator, receiver spool, inbound flow,
operational store with the holds the alert stage publishes (``serving.alert_holds``)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from flows import stages
from flows.inbound import inbound
from flows.service import ops_connection
from lab.channels import start_lab
from ml.alerts.lifecycle import SERVING_HOLDS
from tests.agent.test_agent_e2e import PHONES, _say, _texts, open_world


def test_a_customer_under_a_fraud_alert_gets_a_person_not_payment_details(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, ctx, _ = open_world(tmp_path, monkeypatch)
    with ops_connection(settings, "test") as ops:
        holds = pa.table(
            {
                "customer_id": ["C000001"],
                "alert_hold": [True],
                "credit_hold": [False],
                "alert_codes": [["hold:alert_new_payer_account:ab12cd34"]],
            }
        )
        ops.execute("create schema if not exists serving")
        ops.register("_h", holds)
        ops.execute(f"create or replace table {SERVING_HOLDS} as select * from _h")
        ops.unregister("_h")
    stages.refresh_serving(ctx)

    lab = start_lab(settings.resolve(settings.channels.inbound_dir), read_rate=0.0)
    try:
        for key, val in lab.env().items():
            monkeypatch.setenv(key, val)
        held, free = PHONES["C000001"], PHONES["C000002"]
        _say(lab, held, "¿cuánto debo? y ¿a qué cuenta les transfiero?")
        _say(lab, free, "¿cuánto debo?")
        out = inbound(now_utc=datetime.now(UTC))
        assert out["agent"]["messages"] == 2 and out["agent"]["handoffs"] == 1, out
        assert lab.drain(15)
        assert _texts(lab, held) == []  # nothing automatic to the held customer: no amounts, no links
        (statement,) = _texts(lab, free)
        assert "FAC-2001" in statement and "https://cobranza.example.com/portal/p/" in statement
        with duckdb.connect(str(settings.ops_path), read_only=True) as ops:
            human = ops.execute(
                "select customer_id, payload ->> 'reply_body' from outbox.contact_tasks where action = 'agent_handoff'"
            ).fetchall()
        assert [h[0] for h in human] == ["C000001"]
        assert "fraud/redirection alert" in human[0][1] and "hold:alert_new_payer_account:ab12cd34" in human[0][1]
    finally:
        lab.stop()

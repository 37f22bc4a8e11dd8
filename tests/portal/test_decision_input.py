"""Invoices paid by pay link or disputed on the portal leave the decision's input before the marts know."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd

from ml.nba.inputs import drop_settled_invoices


def _inv(invoice_id: str, amount: str, dpd: int) -> dict:
    return {
        "invoice_id": invoice_id,
        "number": invoice_id,
        "due_date": date(2026, 11, 1),
        "amount_open": Decimal(amount),
        "days_past_due": dpd,
    }


def _accounts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "invoices": [[_inv("I1", "100.10", 40), _inv("I2", "50", 10)], [_inv("J1", "70", 5)], [_inv("K1", "9", 1)]],
            "upcoming_invoices": [[_inv("I3", "30", -3)], [], [_inv("K2", "5", -2)]],
            "overdue_amount": [Decimal("150.10"), Decimal(70), Decimal(9)],
            "n_overdue_invoices": [2, 1, 1],
            "max_days_past_due": [40, 5, 1],
            "upcoming_amount": [Decimal(30), Decimal(0), Decimal(5)],
        }
    )


def test_settled_invoices_leave_the_accounts() -> None:
    out = drop_settled_invoices(_accounts(), ["I1", "J1", "K1"]).set_index("customer_id")
    assert list(out.index) == ["C1", "C3"]  # C2 had nothing else: not dunned at all
    c1 = out.loc["C1"]
    assert [i["invoice_id"] for i in c1["invoices"]] == ["I2"]
    assert c1["overdue_amount"] == Decimal(50) and c1["n_overdue_invoices"] == 1 and c1["max_days_past_due"] == 10
    assert [i["invoice_id"] for i in c1["upcoming_invoices"]] == ["I3"] and c1["upcoming_amount"] == Decimal(30)
    c3 = out.loc["C3"]  # only a pre-due invoice left: kept for the pre-due reminder
    assert c3["invoices"] == [] and c3["overdue_amount"] == Decimal(0) and c3["max_days_past_due"] == 0


def test_nothing_settled_changes_nothing() -> None:
    acc = _accounts()
    assert drop_settled_invoices(acc, []) is acc
    assert drop_settled_invoices(acc, ["X9"]) is acc
    pd.testing.assert_frame_equal(drop_settled_invoices(acc.head(0), ["I1"]), acc.head(0))


def test_a_dispute_opened_by_reply_suppresses_the_invoices_named_or_all_when_none_named() -> None:
    """The agent's dispute (agent.decisions, dispute_opened) takes its invoices out of the decision's input and
    out of the pre-send re-check's open invoices (ml.inbound.portal_events.settled_online), per invoice."""
    from datetime import datetime

    import duckdb

    from ml.agent.log import ensure_table
    from ml.inbound.portal_events import settled_online

    con = duckdb.connect()
    ensure_table(con)
    at = datetime(2026, 12, 5, 10, 0)
    for iid, cid, action, invoices in [
        ("wh-a", "C1", "dispute_opened", ["I1"]),  # named one invoice: only that one
        ("wh-b", "C2", "dispute_opened", ["J1"]),  # named none: the agent names all the open ones
        ("wh-c", "C3", "statement_sent", ["K1"]),  # not a dispute
    ]:
        con.execute(
            "insert into agent.decisions (interaction_id, customer_id, channel, occurred_at, intent, confidence, "
            "agent_action, invoice_ids, decided_at) values (?, ?, 'whatsapp', ?, 'dispute', 0.9, ?, ?, ?)",
            [iid, cid, at, action, invoices, at],
        )
    settled = settled_online(con)
    assert sorted(zip(settled["invoice_id"], settled["reason"], strict=True)) == [
        ("I1", "disputed in a reply"),
        ("J1", "disputed in a reply"),
    ]
    out = drop_settled_invoices(_accounts(), settled["invoice_id"]).set_index("customer_id")
    assert [i["invoice_id"] for i in out.loc["C1", "invoices"]] == ["I2"]  # the other invoice is still dunned
    assert "C2" not in out.index and [i["invoice_id"] for i in out.loc["C3", "invoices"]] == ["K1"]


def test_a_dispute_a_person_resolved_in_the_crm_is_dunned_again_in_both_stores() -> None:
    """Resolved in the CRM after the reply opened it -> the invoice is dunnable again, in the warehouse (reads
    raw_crm.disputes) and in the operational store (the daily decision copies the resolutions there); a
    resolution older than the dispute lifts nothing; a pay-link payment is never lifted."""
    from datetime import datetime

    import duckdb

    from ml.agent.log import ensure_table
    from ml.inbound.portal_events import record_dispute_lifts, resolved_disputes, settled_online

    def store() -> duckdb.DuckDBPyConnection:
        con = duckdb.connect()
        ensure_table(con)
        opened = [("wh-a", "C1", "I1", datetime(2026, 12, 1)), ("wh-b", "C2", "J1", datetime(2026, 12, 3))]
        for iid, cid, inv, at in opened:
            con.execute(
                "insert into agent.decisions (interaction_id, customer_id, channel, occurred_at, intent, confidence, "
                "agent_action, invoice_ids, decided_at) "
                "values (?, ?, 'email', ?, 'dispute', 0.9, 'dispute_opened', ?, ?)",
                [iid, cid, at, [inv], at],
            )
        return con

    wh = store()
    wh.execute(
        "create schema raw_crm; create table raw_crm.disputes (dispute_id varchar, invoice_id varchar, customer_id "
        "varchar, opened_at timestamp, resolved_at timestamp, status varchar, reason varchar, updated_at timestamp)"
    )
    wh.execute(
        "insert into raw_crm.disputes values "
        "('D1', 'I1', 'C1', '2026-12-01 12:00', '2026-12-04 10:00', 'resolved', 'price', '2026-12-04 10:00'), "
        "('D0', 'J1', 'C2', '2026-11-01 12:00', '2026-11-02 10:00', 'resolved', 'old', '2026-11-02 10:00')"
    )
    assert set(settled_online(wh)["invoice_id"]) == {"J1"}  # I1 resolved after the reply; J1's is older
    from connectors.webhooks.store import ensure_table as ensure_events

    ensure_events(wh)
    wh.execute(
        "insert into raw_channels.webhook_events (event_id, provider, kind, occurred_at, received_at, _source, "
        "_loaded_at, customer_id, payload) values ('pay1', 'stripe', 'payment_succeeded', '2026-12-02', "
        "'2026-12-02', 'webhooks', now(), 'C1', '{\"invoices\": [\"I1\"]}')"
    )
    paid = settled_online(wh)
    assert set(zip(paid["invoice_id"], paid["reason"], strict=True)) == {
        ("I1", "paid by pay link"),  # a payment is never lifted by a dispute's resolution
        ("J1", "disputed in a reply"),
    }
    ops = store()
    assert set(settled_online(ops)["invoice_id"]) == {"I1", "J1"}  # the store has no CRM data yet
    assert record_dispute_lifts(ops, resolved_disputes(wh)) == 2
    assert record_dispute_lifts(ops, resolved_disputes(wh)) == 0  # a re-run adds nothing
    assert set(settled_online(ops)["invoice_id"]) == {"J1"}

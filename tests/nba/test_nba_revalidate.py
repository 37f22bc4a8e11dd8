"""Pre-send re-check of queued tasks (ml.nba.revalidate): paid, disputed, opted out, unknown contact."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd

from ml.nba import revalidate


def _tasks() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "task_id": ["t1", "t2", "t3", "t4", "t5"],
            "channel": ["email", "whatsapp", "sms", "call_task", "internal"],
            "contact_id": ["k1", "k2", "k3", "k9", None],
            "invoice_ids": [["a", "b"], ["c"], ["d"], ["e"], ["z"]],
        }
    )


def test_open_invoices_exclude_paid_disputed_and_unposted() -> None:
    invoices = pd.DataFrame(
        {
            "invoice_id": ["a", "b", "c", "d", "e"],
            "status": ["posted", "posted", "posted", "cancelled", "posted"],
            "amount_open": [Decimal("5.00"), Decimal("0.00"), Decimal("1.00"), Decimal("3.00"), Decimal("2.00")],
            "is_disputed": [False, False, True, False, None],
        }
    )
    assert revalidate.still_open_invoices(invoices) == {"a", "e"}


def test_each_rule_cancels_and_internal_tasks_are_left_alone() -> None:
    contacts = pd.DataFrame(
        {
            "contact_id": ["k1", "k2", "k3"],
            "consent_email": [True, True, True],
            "consent_whatsapp": [True, False, True],
            "consent_sms": [True, True, None],
            "consent_call": [True, True, True],
        }
    )
    stale = revalidate.stale_tasks(_tasks(), {"a", "c", "d", "e"}, contacts).set_index("task_id")["reason"]
    assert sorted(stale.index) == ["t1", "t2", "t3", "t4"]
    assert stale["t1"].startswith("invoice b no longer open")
    assert stale["t2"] == "contact k2 no longer consents to whatsapp"
    assert stale["t3"] == "contact k3 no longer consents to sms"  # unknown consent is no consent
    assert stale["t4"] == "contact k9 no longer on file"


def test_nothing_cancelled_when_everything_still_holds() -> None:
    contacts = pd.DataFrame(
        {c: [True, True, True, True] for c in ("consent_email", "consent_whatsapp", "consent_sms", "consent_call")}
    ).assign(contact_id=["k1", "k2", "k3", "k9"])
    assert revalidate.stale_tasks(_tasks(), {"a", "b", "c", "d", "e"}, contacts).empty


def test_no_waiting_tasks_cancel_nothing() -> None:
    contacts = pd.DataFrame({"contact_id": ["k1"], "consent_email": [True]})
    assert revalidate.stale_tasks(_tasks().head(0), {"a"}, contacts).empty
    assert revalidate.stale_tasks(_tasks().tail(1), set(), contacts).empty  # an internal task only

"""DSO-aware value: a contact is worth the days of balance it pulls forward, not P(pay) x amount."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
from factories import account, contact, frames, invoice

from ml.nba import value
from ml.nba.engine import decide
from ml.nba.inputs import accounts_for_decision
from ml.nba.value import NbaConfig

AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
CFG = NbaConfig(usd_rates={"COP": 0.000256, "USD": 1.0}, control_share=0.0)


def test_days_forward_by_lateness() -> None:
    late = pd.Series([-2.0, 10.0, 45.0, 45.0, 12.0])
    dpd = pd.Series([-5, -5, 10, 60, 150])  # on-time pre-due, late pre-due, chronic, chronic tail, past usual
    fwd = value.days_forward(late, dpd, CFG)
    assert fwd[0] == 0.0  # pays before the due date anyway: nothing to pull forward
    assert fwd[1] == 15 + 5 - 5  # 15 days of lateness ahead + tail, less the days to pay after a contact
    assert fwd[2] == 35 + 22.5 - 5
    assert fwd[3] == 22.5 - 5  # already later than usual: only the tail is still ahead
    assert fwd[4] == 6 - 5 and fwd[4] < fwd[3]  # far past a short usual lateness (likely defaulted): little


def test_a_contact_long_before_the_due_date_gains_only_the_usual_lateness() -> None:
    # Payables are released on the due date at the earliest: reminding a late payer 30 days ahead
    # wins his 10 days of lateness (+ tail), not the 30 days until the due date.
    fwd = value.days_forward(pd.Series([10.0, 10.0]), pd.Series([-30, -3]), CFG)
    assert fwd[0] == 10 + 5
    assert fwd[1] == 13 + 5 - 5  # due in 3 days, paid 5 days after the contact: 2 days after the due date


def test_expected_days_late_falls_back_to_risk() -> None:
    late = value.expected_days_late(pd.Series([30.0, None, None]), pd.Series([0.9, 0.2, None]), CFG)
    assert list(late) == [30.0, 0.2 * CFG.days_late_at_full_risk, 0.5 * CFG.days_late_at_full_risk]


def test_chronic_late_payer_wins_the_budget_over_an_on_time_payer() -> None:
    # same balance, same channel, same risk score: only the history of lateness differs
    accounts = [
        account("ONTIME", invoices=[invoice("a", "20000000.00", 3)], expected_days_late=-1.0),
        account("CHRONIC", invoices=[invoice("b", "20000000.00", 3)], expected_days_late=40.0),
    ]
    acc, con, rec = frames(accounts, [contact("k1", "ONTIME"), contact("k2", "CHRONIC")])
    out = decide(acc, con, rec, as_of=AS_OF, now_utc=NOW, config=CFG)
    out = out.set_index("customer_id")
    assert out.loc["CHRONIC", "value_over_wait_usd"] > 10 * max(out.loc["ONTIME", "value_over_wait_usd"], 0.01)
    budget = NbaConfig(usd_rates=CFG.usd_rates, control_share=0.0, daily_contact_budget=1)
    one = decide(acc, con, rec, as_of=AS_OF, now_utc=NOW, config=budget).set_index("customer_id")
    assert one.loc["CHRONIC", "action"] == "email" and one.loc["ONTIME", "action"] == "wait"


def test_accounts_for_decision_reads_the_lateness_feature() -> None:
    mart = pd.DataFrame(
        {
            "customer_id": ["C1", "C2"],
            "invoices_json": [
                '[{"invoice_id": "i1", "number": "F-1", "due_date": "2026-02-01", '
                '"amount_open": "10.00", "days_past_due": 29}]'
            ]
            * 2,
        }
    )
    scores = pd.DataFrame({"invoice_id": ["i1"], "risk_score": [0.4]})
    feats = pd.DataFrame({"invoice_id": ["i1", "i2"], "customer_id": ["C1", "C1"], "f_cust_mean_days_late": [12.5] * 2})
    acc = accounts_for_decision(mart, scores, None, feats).set_index("customer_id")
    assert acc.loc["C1", "expected_days_late"] == 12.5 and pd.isna(acc.loc["C2", "expected_days_late"])
    assert accounts_for_decision(mart, scores)["expected_days_late"].isna().all()

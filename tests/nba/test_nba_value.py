"""DSO-aware value: a contact is worth the days of balance it pulls forward, not P(pay) x amount."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pandas as pd
import pytest
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


def test_stopped_paying_needs_a_long_silence_and_an_invoice_far_past_the_usual_lateness() -> None:
    since = pd.Series([200.0, 10.0, 200.0, None, None])
    dpd = pd.Series([300, 300, 40, 300, 20])
    late = pd.Series([15.0, 15.0, 15.0, 15.0, 15.0])
    stopped = value.stopped_paying(since, dpd, late, CFG)
    # defaulted; pays other invoices; silent but not far past his lateness; never paid and far past; young
    assert list(stopped) == [True, False, False, True, False]


def test_current_lateness_uses_recent_history_and_the_oldest_open_invoice() -> None:
    late = pd.Series([10.0, 10.0, 10.0, 10.0])
    recent = pd.Series([35.0, None, None, None])
    dpd = pd.Series([0, 50, 5, 400])
    stopped = pd.Series([False, False, False, True])
    off = value.current_lateness(late, recent, dpd, stopped, NbaConfig(recent_lateness=False, open_lateness=False))
    assert list(off) == [10.0] * 4  # both off: the lifetime mean
    cfg = NbaConfig(recent_lateness=True, open_lateness=True)
    on = value.current_lateness(late, recent, dpd, stopped, cfg)
    # deteriorating (recent 35); 50 days past due now; the history wins; stopped paying: no floor
    assert list(on) == [35.0, 50.0, 10.0, 10.0]


def test_committed_share_counts_answered_and_unanswered_recent_contacts() -> None:
    cfg = NbaConfig(commit_days=30, nudge_rate=0.2, pay_on_response=0.6)
    at = [datetime(2026, 2, 25, 15, tzinfo=UTC), datetime(2026, 2, 27, 15, tzinfo=UTC)]
    it = pd.DataFrame(
        {
            "customer_id": ["R", "N", "N", "B", "OLD", "IN"],
            "direction": ["outbound"] * 5 + ["inbound"],
            "occurred_at": [at[0], at[0], at[1], at[0], datetime(2026, 1, 5, tzinfo=UTC), at[0]],
            "outcome": ["replied", "delivered", "read", "bounced", "replied", "replied"],
        }
    )
    cust = pd.Series(["R", "N", "B", "OLD", "IN", "NONE"])
    share = value.committed_share(cust, it, AS_OF, cfg.pay_on_response, cfg)
    assert share[0] == pytest.approx(0.6)  # answered: he most likely pays what it covered
    assert share[1] == pytest.approx(1 - 0.8 * 0.8)  # two unanswered messages nudge a little each
    assert share[2] == 0.0 and share[3] == 0.0 and share[4] == 0.0 and share[5] == 0.0  # bounce, old, inbound
    assert value.committed_share(cust, it, AS_OF, 0.6, NbaConfig(commit_days=0)).eq(0.0).all()  # off


def test_an_account_that_stopped_paying_is_worth_a_fraction_of_a_contact() -> None:
    # one has paid nothing for 200 days and owes an invoice 300 days old; the other pays
    accounts = [
        account("GONE", invoices=[invoice("a", "20000000.00", 300)], expected_days_late=40.0, days_since_payment=200.0),
        account("PAYS", invoices=[invoice("b", "20000000.00", 10)], expected_days_late=40.0, days_since_payment=20.0),
    ]
    acc, con, rec = frames(accounts, [contact("k1", "GONE"), contact("k2", "PAYS")])
    cfg = NbaConfig(
        usd_rates=CFG.usd_rates, control_share=0.0, stopped_paying_factor=0.1, escalate_unresponsive_only=True
    )
    on = decide(acc, con, rec, as_of=AS_OF, now_utc=NOW, config=cfg).set_index("customer_id")
    off = decide(acc, con, rec, as_of=AS_OF, now_utc=NOW, config=replace(cfg, stopped_paying_factor=1.0))
    off = off.set_index("customer_id")
    cost = cfg.cost("email")
    gone_on, gone_off = on.loc["GONE", "value_over_wait_usd"] + cost, off.loc["GONE", "value_over_wait_usd"] + cost
    assert gone_off > 100 and gone_on == pytest.approx(0.1 * gone_off)
    assert on.loc["PAYS", "value_over_wait_usd"] == off.loc["PAYS", "value_over_wait_usd"]


def test_accounts_for_decision_reads_recent_lateness_and_days_since_payment() -> None:
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
    feats = pd.DataFrame(
        {
            "invoice_id": ["i1"],
            "customer_id": ["C1"],
            "f_cust_mean_days_late": [12.5],
            "f_cust_days_late_trend": [7.5],
            "f_cust_days_since_payment": [40.0],
        }
    )
    acc = accounts_for_decision(mart, pd.DataFrame(columns=["invoice_id", "risk_score"]), None, feats)
    acc = acc.set_index("customer_id")
    assert acc.loc["C1", "recent_days_late"] == 20.0 and acc.loc["C1", "days_since_payment"] == 40.0
    assert pd.isna(acc.loc["C2", "recent_days_late"]) and pd.isna(acc.loc["C2", "days_since_payment"])


def test_pay_after_engaging_follows_the_customers_payment_record() -> None:
    """Issue 22 targeting: who pays after answering depends on how he has paid (risk score), not one constant."""
    cfg = NbaConfig(pay_risk_scaled=True)
    risk = pd.Series([0.05, 0.25, 0.8, float("nan")], index=["good", "typical", "late", "unknown"])
    pay = value.pay_after_engaging(risk, cfg)
    assert pay["good"] > pay["typical"] > pay["late"] > 0
    assert pay["typical"] == pytest.approx(cfg.pay_on_response) and pay["unknown"] == pytest.approx(cfg.pay_on_response)
    assert (pay <= 1).all()
    flat = value.pay_after_engaging(risk, NbaConfig())
    assert (flat == cfg.pay_on_response).all()
    pull = value.p_pull(pd.Series(0.3, index=risk.index), pd.Series(1.0, index=risk.index), pay)
    assert pull["good"] > pull["late"]

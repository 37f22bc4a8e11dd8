"""Value-based next-best-action engine: suppression, routing, value, capacity, control ladder, reasons."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from factories import account, contact, frames, invoice

from ml.nba import bandit, capacity, ladder
from ml.nba.compliance import Relaxation
from ml.nba.engine import OUTPUT_COLUMNS, decide
from ml.nba.value import NbaConfig

AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # Monday 06:00 in Bogota
RATES = {"COP": 0.000256, "USD": 1.0, "MXN": 0.0585}
TREAT = NbaConfig(usd_rates=RATES, control_share=0.0)


def run(accounts, contacts, history=None, *, config=TREAT, interactions=None, escalations=None, now=NOW):
    acc, con, rec = frames(accounts, contacts, history)
    out = decide(
        acc,
        con,
        rec,
        as_of=now.date(),
        now_utc=now,
        config=config,
        interactions=None if interactions is None else pd.DataFrame(interactions),
        escalations=escalations,
    )
    return out.set_index("customer_id")


def big(cid: str, dpd: int = 20, amount: str = "40000000.00", **kw):
    return account(cid, invoices=[invoice(f"{cid}-1", amount, dpd)], **kw)


def interaction(cid, outcome, *, channel="email", days_ago=1, direction="outbound", promised=None):
    return {
        "customer_id": cid,
        "channel": channel,
        "direction": direction,
        "occurred_at": NOW - timedelta(days=days_ago),
        "outcome": outcome,
        "promised_date": promised,
    }


def test_output_contract_and_consolidated_contact() -> None:
    invs = [invoice("a", "30000000.00", 45), invoice("b", "100.01", 5)]
    out = run([account("C1", invoices=invs)], [contact("k1", "C1")])
    assert list(out.reset_index().columns) == OUTPUT_COLUMNS
    row = out.loc["C1"]
    assert row["action"] == "email" and row["arm"] == "treatment"
    assert row["invoice_ids"] == ["a", "b"] and row["amount_at_stake"] == Decimal("30000100.01")
    assert row["scheduled_at"] == pd.Timestamp("2026-03-02 14:00", tz="UTC")
    rc = row["reason_codes"]
    assert "rules:passed" in rc and "consent:email" in rc and "profile:strict+CO" in rc
    assert any(c.startswith("choice:max_value=") for c in rc) and any(c.startswith("ev:email=") for c in rc)
    assert row["value_over_wait_usd"] > 0 and 0 < row["p_pay"] < 1


def test_suppression_and_routing() -> None:
    # B at 50 days past due: a payment plan is offered from 45, an escalation only from 60 (at 100 days a
    # legal letter is worth more than the e-mail on the posterior means, issue 22)
    accounts = [big("P"), big("Q"), big("D", needs_dispute_review=True), big("B", dpd=50, risk_score=0.9)]
    accounts.append(big("L", dpd=120, risk_score=0.95))
    contacts = [contact(f"k{c}", c) for c in "PQDBL"]
    inter = [
        interaction("P", "promise_to_pay", promised=AS_OF + timedelta(days=2)),
        interaction("Q", "paid_claim", direction="inbound"),
        interaction("B", "promise_to_pay", days_ago=20, promised=AS_OF - timedelta(days=10)),
    ]
    inter += [interaction("L", "delivered", days_ago=3 + 7 * i) for i in range(5)]
    out = run(accounts, contacts, interactions=inter)
    assert out.loc["P", "action"] == "wait" and "suppress:promise_active" in out.loc["P", "reason_codes"]
    assert "promise_until:2026-03-07" in out.loc["P", "reason_codes"]
    assert out.loc["Q", "action"] == "wait" and "suppress:paid_claim" in out.loc["Q", "reason_codes"]
    # rows that contact nobody carry None (never NaN) where the outbox expects text
    assert out.loc["P", "contact_id"] is None and out.loc["P", "channel"] is None and out.loc["D", "email"] is None
    assert out.loc["D", "action"] == "dispute_review" and out.loc["D", "channel"] == "internal"
    # broken promise: dunning resumes, escalated to a payment-plan offer (the customer did answer before)
    assert "promise:broken" in out.loc["B", "reason_codes"]
    assert out.loc["B", "action"] == "email" and out.loc["B", "intent"] == "payment_plan_offer"
    # unresponsive to five contacts at 120 days past due: legal is worth more than a sixth e-mail
    assert out.loc["L", "action"] == "escalate" and out.loc["L", "intent"] == "legal"
    assert "why:unresponsive" in out.loc["L", "reason_codes"] and out.loc["L", "channel"] == "internal"
    # not escalated again within the cooldown
    again = run(
        accounts[4:],
        contacts[4:],
        interactions=inter[3:],
        escalations=pd.DataFrame({"customer_id": ["L"], "escalated_at": [NOW - timedelta(days=3)]}),
    )
    assert again.loc["L", "action"] != "escalate"


def test_only_debtor_or_guarantor_with_consent_and_spacing() -> None:
    accounts = [big("T"), big("N"), big("S"), big("G")]
    contacts = [
        contact("t1", "T", role="other"),
        contact("n1", "N", consent_email=False),
        contact("s1", "S"),
        contact("g0", "G", role="other"),
        contact("g1", "G", role="guarantor"),
    ]
    hist = [{"customer_id": "S", "channel": "email", "scheduled_at": NOW - timedelta(hours=30)}]
    out = run(accounts, contacts, hist)
    assert out.loc["T", "action"] == "wait" and "skip:third_party" in out.loc["T", "reason_codes"]
    assert out.loc["N", "action"] == "wait" and "skip:no_consent" in out.loc["N", "reason_codes"]
    assert out.loc["S", "action"] == "wait" and "skip:spacing" in out.loc["S", "reason_codes"]
    assert out.loc["G", "contact_id"] == "g1" and "role:guarantor" in out.loc["G", "reason_codes"]


def test_learned_response_rates_steer_the_channel() -> None:
    c = contact("k1", "C1", consent_whatsapp=True, consent_sms=True)
    # whatsapp answered 9 times in 10, email never: Thompson draws pick whatsapp every day (the
    # contacts are older than commit_days: the replies no longer count as payments already on the way)
    inter = [interaction("C1", "replied", channel="whatsapp", days_ago=35 + i) for i in range(9)]
    inter += [interaction("C1", "delivered", channel="whatsapp", days_ago=55)]
    inter += [interaction("C1", "delivered", channel="email", days_ago=35 + i) for i in range(10)]
    picks = {
        run([big("C1")], [c], interactions=inter, now=NOW + timedelta(days=7 * k)).loc["C1", "channel"]
        for k in range(4)
    }
    assert picks == {"whatsapp"}


def test_posteriors_update_with_outcomes_and_decay() -> None:
    inter = pd.DataFrame([interaction("C1", "replied", channel="sms", days_ago=d) for d in (1, 2, 3)])
    segs = pd.Series({"C1": "smb", "C2": "smb"})
    counts = bandit.response_counts(inter, segs, AS_OF)
    post = bandit.customer_posteriors(pd.DataFrame({"customer_id": ["C1", "C2"], "segment": "smb"}), counts)
    sms = post[post["channel"] == "sms"].set_index("customer_id")
    mean = sms["alpha"] / (sms["alpha"] + sms["beta"])
    assert mean["C1"] > mean["C2"] > 0.2  # the customer learns more than the segment it lends its data to
    old = bandit.response_counts(inter.assign(occurred_at=inter["occurred_at"] - pd.Timedelta(days=180)), segs, AS_OF)
    assert old["trials"].sum() < 0.5 * counts["trials"].sum()
    draws = bandit.thompson_draws(post, 7, AS_OF)
    assert draws.equals(bandit.thompson_draws(post, 7, AS_OF)) and not draws.equals(
        bandit.thompson_draws(post, 7, AS_OF + timedelta(days=1))
    )


def test_exploration_tempers_the_thompson_draws() -> None:
    """``exploration`` scales the draws' spread around the posterior means; 0 ranks by the means (issue 22)."""
    inter = pd.DataFrame([interaction("C1", "replied", channel="sms", days_ago=d) for d in (1, 2, 3)])
    cust = pd.DataFrame({"customer_id": [f"C{i}" for i in range(1, 41)], "segment": "smb"})
    post = bandit.customer_posteriors(
        cust, bandit.response_counts(inter, cust.set_index("customer_id")["segment"], AS_OF)
    )
    mean = post["alpha"] / (post["alpha"] + post["beta"])
    assert bandit.thompson_draws(post, 7, AS_OF, exploration=0.0).equals(mean)
    spread = {e: float((bandit.thompson_draws(post, 7, AS_OF, exploration=e) - mean).std()) for e in (1.0, 0.1)}
    assert spread[0.1] < 0.5 * spread[1.0]
    assert bandit.thompson_draws(post, 7, AS_OF, exploration=1.0).equals(bandit.thompson_draws(post, 7, AS_OF))


def test_a_customer_responsive_on_one_channel_is_expected_to_answer_on_the_others() -> None:
    """Per-customer responsiveness, shrunk to the segment, carries across channels (issue 22 targeting)."""
    inter = [interaction("R", "replied", channel="email", days_ago=d) for d in range(1, 7)]
    inter += [interaction("S", "delivered", channel="email", days_ago=d) for d in range(1, 7)]
    inter += [interaction("T", "delivered", channel="email", days_ago=d) for d in range(1, 2)]
    inter += [
        interaction(f"X{i}", o, channel=ch, days_ago=3)
        for i in range(40)
        for ch, o in (
            ("email", "replied" if i % 4 == 0 else "delivered"),
            ("call", "replied" if i % 3 == 0 else "no_answer"),
        )
    ]
    frame = pd.DataFrame(inter)
    ids = ["R", "S", "T", "N"] + [f"X{i}" for i in range(40)]
    segs = pd.Series("smb", index=ids)
    counts = bandit.response_counts(frame, segs, AS_OF)
    cust = pd.DataFrame({"customer_id": ids, "segment": "smb"})
    post = bandit.customer_posteriors(cust, counts, bandit.BanditParams(customer_weight=1.0))
    call = post[post["channel"] == "call"].set_index("customer_id")
    mean = call["alpha"] / (call["alpha"] + call["beta"])
    assert mean["R"] > mean["N"] > mean["T"] > mean["S"]  # one silent e-mail says less than six
    assert (call.loc[["R", "S", "T", "N"], "trials"] == 0).all()  # nobody of them was ever called
    seg_only = bandit.customer_posteriors(cust, counts, bandit.BanditParams(customer_weight=0.0))
    flat = seg_only[seg_only["channel"] == "call"].set_index("customer_id")
    flat_mean = flat["alpha"] / (flat["alpha"] + flat["beta"])
    assert flat_mean["R"] == flat_mean["S"] == flat_mean["N"]  # without it the segment decides alone
    assert mean["N"] == flat_mean["N"]  # no history: the segment's rate


def test_call_capacity_goes_to_the_most_valuable_calls_and_the_rest_fall_back() -> None:
    amounts = ["90000000.00", "60000000.00", "30000000.00"]
    accounts = [big(f"C{i}", dpd=40, amount=a, risk_score=0.9) for i, a in enumerate(amounts)]
    contacts = [contact(f"k{i}", f"C{i}", consent_call=True, preferred_channel="call") for i in range(3)]
    # tight posteriors (not counted as payments on the way: commit_days 0): calls always answered,
    # e-mails one time in three, so the gain of a call over an e-mail is proportional to the amount
    inter = [interaction(f"C{i}", "replied", channel="call", days_ago=20 + j) for i in range(3) for j in range(30)]
    inter += [
        interaction(f"C{i}", "replied" if j % 3 == 0 else "delivered", days_ago=20 + j)
        for i in range(3)
        for j in range(30)
    ]
    cfg = NbaConfig(usd_rates=RATES, control_share=0.0, agents=1, calls_per_agent=1, commit_days=0)
    out = run(accounts, contacts, interactions=inter, config=cfg)
    assert list(out["action"]) == ["call_task", "email", "email"]
    assert "capacity:call_fallback" in out.loc["C1", "reason_codes"]
    assert capacity.allocate_by_value(pd.Series([1.0, 3.0, 2.0], index=list("abc")), 2).tolist() == [False, True, True]
    with pytest.raises(ValueError, match="capacity"):
        capacity.allocate_by_value(pd.Series([1.0]), -1)


def test_control_group_is_stable_and_follows_the_ladder() -> None:
    ids = pd.Series([f"C{i:05d}" for i in range(5000)])
    m = ladder.control_mask(ids, 0.10)
    assert 0.08 < m.mean() < 0.12 and m.equals(ladder.control_mask(ids, 0.10))
    assert (ladder.control_mask(ids, 0.2) | ~m).all()  # growing the share keeps everyone already in control
    steps = ladder.ladder_step(
        pd.Series([0, 1, 8, 15, 31, 61, 20, -3, -5]), pd.Series([None, None, 0.5, None, 0.5, None, 2.0, None, None])
    )
    assert list(steps["step_action"]) == ["email", "email", "", "call_task", "", "escalate", "", "email", ""]
    cfg = NbaConfig(usd_rates=RATES, control_share=1.0)
    accounts = [big("A", dpd=1), big("B", dpd=16), big("C", dpd=35, risk_score=0.2)]
    contacts = [contact("a", "A"), contact("b", "B", consent_call=True), contact("c", "C")]
    out = run(accounts, contacts, config=cfg)
    assert (out["arm"] == "control").all()
    assert out.loc["A", "action"] == "email" and "ladder:email@dpd1" in out.loc["A", "reason_codes"]
    assert out.loc["B", "action"] == "call_task"
    assert out.loc["C", "intent"] == "statement"


def test_pre_due_reminder_covers_upcoming_invoices() -> None:
    up = [invoice("u1", "5000000.00", -3)]
    acc = account("U", invoices=[], upcoming_invoices=up)
    acc.update(overdue_amount=Decimal(0), n_overdue_invoices=0, max_days_past_due=0, invoices=[])
    out = run([acc, big("V")], [contact("u", "U"), contact("v", "V")])
    assert out.loc["U", "intent"] == "pre_due_reminder" and out.loc["U", "invoice_ids"] == ["u1"]
    ctl = run([acc], [contact("u", "U")], config=NbaConfig(usd_rates=RATES, control_share=1.0))
    # the static ladder's pre-due level (Odoo's negative delay) fires 3 days before the due date (issue 22)
    assert ctl.loc["U", "action"] == "email" and ctl.loc["U", "intent"] == "pre_due_reminder"
    assert ctl.loc["U", "invoice_ids"] == ["u1"]
    far = account("F", invoices=[], upcoming_invoices=[invoice("f1", "5000000.00", -10)])
    far.update(overdue_amount=Decimal(0), n_overdue_invoices=0, max_days_past_due=0, invoices=[])
    ctl = run([far], [contact("f", "F")], config=NbaConfig(usd_rates=RATES, control_share=1.0))
    assert ctl.loc["F", "action"] == "wait"  # not yet: 10 days before the due date


def test_relaxation_is_quoted_in_the_reasons() -> None:
    relax = Relaxation(
        "R7", "enterprise", "CCO", date(2026, 1, 5), "AP desks", {"written_windows": {0: (7, 19)}}, country="CO"
    )
    cfg = NbaConfig(usd_rates=RATES, control_share=0.0, relaxations=(relax,))
    out = run([big("E", segment="enterprise")], [contact("e", "E")], config=cfg)
    assert out.loc["E", "scheduled_at"] == pd.Timestamp("2026-03-02 12:00", tz="UTC")  # 07:00 Bogota
    assert "relaxed:R7" in out.loc["E", "reason_codes"]


def test_errors_name_what_to_fix() -> None:
    with pytest.raises(ValueError, match="fx_rates"):
        run([big("X", currency="XXX")], [contact("x", "X")])
    with pytest.raises(TypeError, match="Decimal"):
        run([big("Y") | {"overdue_amount": 1.5}], [contact("y", "Y")])
    with pytest.raises(ValueError, match="one row per customer"):
        run([big("Z"), big("Z")], [contact("z", "Z")])


def test_configuration_from_settings() -> None:
    from cobranza.settings import load_settings
    from ml.nba.inputs import config_from, latest_usd_rates, relaxations_from

    fx = pd.DataFrame(
        {"currency": ["COP", "COP", "USD"], "valid_from": ["2026-01-01", "2026-04-01", "2024-01-01"],
         "rate_to_usd": [0.00025, 0.00026, 1.0]}
    )  # fmt: skip
    assert latest_usd_rates(fx, date(2026, 3, 2)) == {"COP": 0.00025, "USD": 1.0}
    nba = load_settings().nba
    relax = relaxations_from(
        [{"relaxation_id": "R1", "segment": "enterprise", "approved_by": "CCO", "approved_on": "2026-01-05",
          "reason": "AP desks", "overrides": {"max_written_7d": 3}}]
    )  # fmt: skip
    cfg = config_from(nba.model_dump(), {"USD": 1.0}, relax)
    assert cfg.call_capacity == nba.agents * nba.calls_per_agent and cfg.control_share == nba.control_share
    assert cfg.relaxations[0].overrides == {"max_written_7d": 3}
    with pytest.raises(ValueError, match=r"relaxations\[0\] lacks 'approved_by'"):
        relaxations_from([{"relaxation_id": "R2", "segment": "smb", "reason": "x", "approved_on": "2026-01-01"}])


def test_top_risk_drivers_reach_the_reason_codes() -> None:
    import json as _json

    from ml.nba.inputs import accounts_for_decision

    invs = [{"invoice_id": "a", "number": "F-a", "due_date": "2026-02-01", "amount_open": "40000000.00",
             "days_past_due": 29}, {"invoice_id": "b", "number": "F-b", "due_date": "2026-02-20",
             "amount_open": "10.00", "days_past_due": 10}]  # fmt: skip
    mart = pd.DataFrame([big("C1") | {"invoices_json": _json.dumps(invs)}]).drop(columns=["invoices"])
    scores = pd.DataFrame({"invoice_id": ["a", "b"], "risk_score": [0.4, 0.9]})
    expl = pd.DataFrame(
        {"invoice_id": ["b", "b", "b", "a"], "rank": [1, 2, 3, 1],
         "feature": ["f_days_late_mean", "f_amount_ratio", "f_disputes", "f_terms"],
         "contribution": [0.8, -0.3, 0.1, 2.0]}
    )  # fmt: skip
    acc = accounts_for_decision(mart, scores, expl)
    assert acc.loc[0, "risk_score"] == 0.9
    assert acc.loc[0, "risk_drivers"] == ["f_days_late_mean:+0.80", "f_disputes:+0.10"]
    out = decide(acc, pd.DataFrame([contact("k", "C1")]), None, as_of=AS_OF, now_utc=NOW, config=TREAT)
    assert "driver:f_days_late_mean:+0.80" in out.loc[0, "reason_codes"]

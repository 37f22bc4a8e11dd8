"""Payment plans after acceptance (issue 20): every instalment tracked, kept or broken from the bank and ERP
data; a kept instalment makes the next one the customer's promise (dunning stays paused); a missed one
breaks the plan and the day's decision resumes dunning with escalation and says why (``plan:broken``)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd

sys.path.insert(0, str(Path(__file__).parents[1] / "nba"))

from factories import account, contact, frames, invoice  # noqa: E402

from ml.agent import plan_tracking as pt  # noqa: E402
from ml.agent.log import ensure_table  # noqa: E402
from ml.nba.engine import decide  # noqa: E402
from ml.nba.value import NbaConfig  # noqa: E402

ACCEPTED = datetime(2026, 1, 5, 15, 0)
DUES = [date(2026, 1, 15), date(2026, 2, 15), date(2026, 3, 15)]
PLAN = {
    "count": 3,
    "total": "9000000",
    "currency": "COP",
    "instalments": [{"number": n, "due_date": d.isoformat(), "amount": "3000000"} for n, d in enumerate(DUES, 1)],
}


def _store(payments: list[tuple[date, str]], erp: list[tuple[date, str]] = ()) -> duckdb.DuckDBPyConnection:
    """A warehouse-like connection: one plan accepted by reply, the bank credits and the ERP's paid invoices."""
    con = duckdb.connect()
    ensure_table(con)
    con.execute(
        "insert into agent.decisions (interaction_id, customer_id, channel, occurred_at, intent, confidence, "
        "agent_action, plan, decided_at) values ('wh-1', 'C1', 'whatsapp', ?, 'acknowledgement', 0.9, "
        "'plan_accepted', ?, ?)",
        [ACCEPTED, json.dumps(PLAN), ACCEPTED],
    )
    con.execute("create schema marts")
    con.execute(
        "create table marts.fct_payments (customer_id varchar, booking_date date, amount decimal(18, 2), "
        "currency varchar, is_reversed boolean)"
    )
    con.executemany("insert into marts.fct_payments values ('C1', ?, ?, 'COP', false)", payments)
    con.execute(
        "create table marts.fct_invoices (invoice_id varchar, customer_id varchar, amount_total decimal(18, 2), "
        "amount_credited decimal(18, 2), amount_open_erp decimal(18, 2), amount_open decimal(18, 2), "
        "last_payment_date date)"
    )
    for i, (day, amount) in enumerate(erp):
        con.execute("insert into marts.fct_invoices values (?, 'C1', ?, 0, 0, 0, ?)", [f"E{i}", amount, day])
    return con


def _statuses(con, as_of: date) -> list[str]:
    _, statuses = pt.track_all(con, con, as_of, grace_days=3)["C1"]
    return [s.status for s in statuses]


def test_each_instalment_is_kept_or_broken_from_the_bank_data() -> None:
    con = _store([(date(2026, 1, 14), "3000000"), (date(2026, 2, 10), "1000000")])
    assert _statuses(con, date(2026, 1, 10)) == ["due", "upcoming", "upcoming"]
    assert _statuses(con, date(2026, 1, 20)) == ["kept", "due", "upcoming"]
    # 1,000,000 of the second 3,000,000 by its date + grace: broken, the plan with it.
    assert _statuses(con, date(2026, 2, 19)) == ["kept", "broken", "due"]
    tracked = pt.track_all(con, con, date(2026, 2, 19), grace_days=3)
    assert pt.plan_status(tracked["C1"][1]) == "broken"
    assert pt.broken_plan_codes(tracked)["C1"] == [
        "plan:broken",
        "plan:ag-wh-1",
        "plan_instalment_missed:2/3:2026-02-15",
    ]


def test_the_report_counts_plans_and_instalments_as_the_decisions_track_them() -> None:
    broken = pt.track_all(_store([(date(2026, 1, 14), "3000000")]), None, date(2026, 1, 20), 3)
    assert pt.summary(broken) == {  # no payment known: the first instalment missed
        "n_plans_active": 0, "n_plans_completed": 0, "n_plans_broken": 1, "n_instalments_due": 1,
        "n_instalments_kept": 0,
    }  # fmt: skip
    con = _store([(date(2026, 1, 14), "3000000"), (date(2026, 2, 1), "6000000")])
    assert pt.summary(pt.track_all(con, con, date(2026, 3, 20), 3)) == {
        "n_plans_active": 0, "n_plans_completed": 1, "n_plans_broken": 0, "n_instalments_due": 3,
        "n_instalments_kept": 3,
    }  # fmt: skip


def test_a_payment_the_erp_recorded_counts_and_one_seen_twice_counts_once() -> None:
    # The first instalment in the bank and the ERP (the same payment): still only 3,000,000 paid.
    both = _store([(date(2026, 1, 14), "3000000")], erp=[(date(2026, 1, 14), "3000000")])
    assert _statuses(both, date(2026, 2, 19)) == ["kept", "broken", "due"]
    # The second instalment only in the ERP (a cheque booked by hand): kept.
    erp = _store([(date(2026, 1, 14), "3000000")], erp=[(date(2026, 1, 14), "3000000"), (date(2026, 2, 12), "3000000")])
    assert _statuses(erp, date(2026, 2, 19)) == ["kept", "kept", "due"]
    tracked = pt.track_all(erp, erp, date(2026, 2, 19), grace_days=3)
    assert pt.plan_status(tracked["C1"][1]) == "active" and pt.broken_plan_codes(tracked) == {}


def test_a_kept_instalment_makes_the_next_one_the_promise_and_a_missed_one_resumes_dunning_with_escalation() -> None:
    con = _store([(date(2026, 1, 14), "3000000")])
    promises = pt.next_instalment_promises(pt.track_all(con, con, date(2026, 1, 20), grace_days=3))
    assert [(p["interaction_id"], p["promised_date"], p["promised_amount"]) for p in promises] == [
        ("plan-ag-wh-1-2", "2026-02-15", "3000000")
    ]
    # What the engine reads: the first instalment's promise (landed at acceptance) and the second's.
    first = {"interaction_id": "ag-plan-wh-1", "customer_id": "C1", "channel": "whatsapp", "direction": "inbound",
             "occurred_at": str(pd.Timestamp(ACCEPTED)), "outcome": "promise_to_pay",
             "promised_date": DUES[0].isoformat(), "promised_amount": "3000000"}  # fmt: skip
    interactions = pd.DataFrame([first, *promises])
    interactions["occurred_at"] = pd.to_datetime(interactions["occurred_at"]).dt.tz_localize("UTC")
    cfg = NbaConfig(usd_rates={"COP": 0.000256, "USD": 1.0}, control_share=0.0)

    def day(as_of: date) -> pd.Series:
        now = datetime.combine(as_of, datetime.min.time(), tzinfo=UTC) + timedelta(hours=11)
        acc, cons, rec = frames(
            [account("C1", invoices=[invoice("I1", "6000000.00", 70, as_of)], risk_score=0.8)],
            [contact("k1", "C1")],
        )
        out = decide(acc, cons, rec, as_of=as_of, now_utc=now, config=cfg, interactions=interactions)
        tracked = pt.track_all(con, con, as_of, cfg.promise_grace_days)
        return pt.mark_broken_plans(out, pt.broken_plan_codes(tracked)).set_index("customer_id").loc["C1"]

    # Inside the second instalment's window: dunning stays paused.
    paused = day(date(2026, 2, 10))
    assert paused["action"] == "wait" and "suppress:promise_active" in paused["reason_codes"]
    assert "promise_until:2026-02-18" in paused["reason_codes"] and "plan:broken" not in paused["reason_codes"]
    # The second instalment missed: dunning resumes, escalated, and the decision says the plan broke.
    resumed = day(date(2026, 2, 23))
    assert resumed["action"] != "wait", resumed["reason_codes"]
    rc = resumed["reason_codes"]
    assert "promise:broken" in rc and "plan:broken" in rc and "plan_instalment_missed:2/3:2026-02-15" in rc
    assert resumed["action"] == "escalate" and "why:promise_broken" in rc, rc

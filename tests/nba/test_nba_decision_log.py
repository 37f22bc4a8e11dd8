"""The decision log (ml.nba.decision_log): a business day is decided once, an old log is migrated,
escalations are read over NbaConfig's window; and decide_day returns a decided day unchanged."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from factories import account, contact, decide, frames, invoice  # noqa: E402

from ml.nba import daily, decision_log  # noqa: E402
from ml.nba.value import NbaConfig  # noqa: E402

AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


def _decisions() -> pd.DataFrame:
    acc, cons, rec = frames(
        [account("C1", invoices=[invoice("a", "1234.50", 45)]), account("C2", needs_dispute_review=True)],
        [contact("k1", "C1"), contact("k2", "C2")],
    )
    return decide(acc, cons, rec, as_of=AS_OF, now_utc=NOW)


def test_a_day_is_stored_once_and_read_back_with_decimal_money(con) -> None:
    assert decision_log.decided(con, AS_OF) is None  # no log yet
    made = _decisions()
    assert decision_log.store(con, made, AS_OF) == 2
    assert decision_log.store(con, made, AS_OF) == 2  # replaces the day, never appends
    back = decision_log.decided(con, AS_OF)
    assert back is not None and len(back) == 2
    assert back["amount_at_stake"].map(type).eq(Decimal).all()
    assert sorted(back["amount_at_stake"]) == sorted(made["amount_at_stake"])
    assert decision_log.decided(con, AS_OF + timedelta(days=1)) is None


def test_decide_day_keeps_a_decided_day(con) -> None:
    decision_log.store(con, _decisions(), AS_OF)
    # No marts at all: a decided day is returned before anything else is read.
    day = daily.decide_day(
        con,
        as_of=AS_OF,
        now_utc=NOW,
        config=NbaConfig(),
        recent_contacts=pd.DataFrame(),
        scores_table="ml_scores.invoice_scores",
        explanations_table="ml_scores.invoice_explanations",
    )
    assert day.already_decided and set(day.decisions["customer_id"]) == {"C1", "C2"}


def test_a_log_from_before_issue_6_gains_the_new_columns(con) -> None:
    con.execute("create schema decisions")
    con.execute(
        "create table decisions.nba_decisions (as_of_date date, customer_id varchar, contact_id varchar, "
        "action varchar, channel varchar, scheduled_at timestamptz, amount_at_stake decimal(18,2), "
        "invoice_ids json, reason_codes json)"
    )
    decision_log.store(con, _decisions(), AS_OF)
    cols = {r[0] for r in con.execute("describe decisions.nba_decisions").fetchall()}
    assert set(decision_log.COLUMNS_V2) <= cols


def test_escalations_are_read_over_the_configured_window(con) -> None:
    made = _decisions()
    esc = made.iloc[[0]].assign(action="escalate", channel="internal", scheduled_at=pd.Timestamp(NOW))
    for days in (10, 40, 70):
        decision_log.store(con, esc, AS_OF - timedelta(days=days))
    assert len(decision_log.escalations(con, AS_OF, NbaConfig().escalation_lookback_days)) == 2  # 60 days
    assert len(decision_log.escalations(con, AS_OF, 30)) == 1
    assert "escalated_at" in decision_log.escalations(con, AS_OF, 30)

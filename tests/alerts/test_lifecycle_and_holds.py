"""Alert lifecycle (raise once, cap, append-only status history) and the holds alerts put on decisions (issue 21)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import duckdb
import pandas as pd
import pytest

from ml.alerts import lifecycle
from ml.alerts.behaviour import score_behaviour
from ml.nba.holds import apply_alert_holds

AS_OF = date(2026, 10, 31)
NOW = datetime(2026, 10, 31, 6, 0, tzinfo=UTC)


def _finding(alert_id: str, signal: str, customer: str | None, severity: str = "high", score: float = 1.0) -> dict:
    return {
        "alert_id": alert_id,
        "signal": signal,
        "customer_id": customer,
        "evidence_key": alert_id,
        "severity": severity,
        "score": score,
        "first_seen_date": AS_OF,
        "amount": Decimal("100.00"),
        "currency": "EUR",
        "evidence": "BT1",
        "description": "d",
    }


@pytest.fixture()
def con() -> duckdb.DuckDBPyConnection:
    c = duckdb.connect()
    lifecycle.ensure_tables(c)
    return c


def test_raised_once_ranked_and_capped(con: duckdb.DuckDBPyConnection) -> None:
    findings = pd.DataFrame(
        [
            _finding("a1", "lapping", "C1", "high", 2.0),
            _finding("a2", "duplicate_payment", "C2", "medium", 9.0),
            _finding("a3", "suspense", None, "high", 5.0),
            _finding("old", "lapping", "C4", "high", 1.0) | {"first_seen_date": date(2026, 9, 1)},
        ]
    )
    cfg = lifecycle.AlertsConfig(lookback_days=7, max_share=0.02)
    new = lifecycle.raise_alerts(con, findings, as_of=AS_OF, now_utc=NOW, n_customers=100, config=cfg)
    # cap = 2% of 100 customers = 2: the two high ones, the medium one waits; old evidence is not news
    assert list(new["alert_id"]) == ["a1", "a3"]
    again = lifecycle.raise_alerts(con, findings, as_of=AS_OF, now_utc=NOW, n_customers=100, config=cfg)
    assert again.empty  # a re-run the same day: the day's cap is used up, and a1/a3 are not raised twice
    tomorrow = lifecycle.raise_alerts(
        con, findings.assign(first_seen_date=date(2026, 11, 1)), as_of=date(2026, 11, 1), now_utc=NOW,
        n_customers=100, config=cfg,
    )  # fmt: skip
    assert list(tomorrow["alert_id"]) == ["old", "a2"]  # high before medium
    assert set(lifecycle.current(con)["status"]) == {"new"}


def test_status_changes_are_kept(con: duckdb.DuckDBPyConnection) -> None:
    lifecycle.raise_alerts(
        con, pd.DataFrame([_finding("abc123", "lapping", "C1")]), as_of=AS_OF, now_utc=NOW, n_customers=10,
        config=lifecycle.AlertsConfig(),
    )  # fmt: skip
    lifecycle.change_status(con, "abc", "acknowledged", at=NOW, actor="ana")
    lifecycle.change_status(con, "abc123", "false_positive", at=NOW, actor="ana", note="known account")
    assert list(lifecycle.history(con, "abc123")["status"]) == ["new", "acknowledged", "false_positive"]
    assert lifecycle.current(con)["status"].tolist() == ["false_positive"]
    with pytest.raises(ValueError, match="unknown alert status"):
        lifecycle.change_status(con, "abc123", "closed", at=NOW, actor="ana")
    with pytest.raises(ValueError, match="no alert with id"):
        lifecycle.change_status(con, "zzz", "resolved", at=NOW, actor="ana")
    assert lifecycle.holds(con).empty  # a false positive holds nothing


def _decisions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "action": ["email", "call_task", "email"],
            "channel": ["email", "call", "email"],
            "contact_id": ["K1", "K2", "K3"],
            "scheduled_at": pd.to_datetime(["2026-10-31 15:00"] * 3, utc=True),
            "intent": ["reminder", "call", "reminder"],
            "reason_codes": [["arm:treatment"], ["arm:treatment"], ["arm:treatment"]],
        }
    )


def test_fraud_alert_holds_written_contact_and_exposure_suggests_credit_hold(con: duckdb.DuckDBPyConnection) -> None:
    findings = pd.DataFrame(
        [
            _finding("f1", "new_payer_account", "C1"),
            _finding("f2", "lapping", "C2"),
            _finding("x1", "exposure_over_limit", "C3", "medium"),
        ]
    )
    everything = lifecycle.AlertsConfig(max_share=1.0)
    lifecycle.raise_alerts(con, findings, as_of=AS_OF, now_utc=NOW, n_customers=10, config=everything)
    out = apply_alert_holds(_decisions(), lifecycle.holds(con)).set_index("customer_id")
    assert out.loc["C1", "action"] == "wait" and out.loc["C1", "channel"] is None
    assert "route:alert_review" in out.loc["C1", "reason_codes"]
    assert any(c.startswith("hold:alert_new_payer_account:") for c in out.loc["C1", "reason_codes"])
    # a collector's call is a person: it stays, with the hold in its reasons
    assert out.loc["C2", "action"] == "call_task"
    assert any(c.startswith("hold:alert_lapping:") for c in out.loc["C2", "reason_codes"])
    # exposure does not stop the reminder but suggests a credit hold
    assert out.loc["C3", "action"] == "email"
    assert any(c.startswith("suggest:credit_hold:") for c in out.loc["C3", "reason_codes"])
    # once resolved, the hold is gone
    lifecycle.change_status(con, "f1", "resolved", at=NOW, actor="ana")
    again = apply_alert_holds(_decisions(), lifecycle.holds(con)).set_index("customer_id")
    assert again.loc["C1", "action"] == "email"


def test_behaviour_break_fires_and_near_miss_stays_silent() -> None:
    base = {"n_history": 12, "history_mad_days_late": 3.0, "n_recent": 3, "recent_share_open": 0.3}
    rows = [
        {"customer_id": f"N{i}", "history_median_days_late": 2.0 + i % 3, "recent_median_days_late": 3.0, **base}
        for i in range(20)
    ]
    rows.append({"customer_id": "BREAK", "history_median_days_late": 1.0, "recent_median_days_late": 45.0, **base})
    # near miss: as late as BREAK now, but always was (its own history)
    rows.append({"customer_id": "HABIT", "history_median_days_late": 40.0, "recent_median_days_late": 45.0, **base})
    out = score_behaviour(pd.DataFrame(rows))
    assert out["customer_id"].tolist() == ["BREAK"]


def test_slow_drift_fires_and_noisy_near_miss_stays_silent() -> None:
    """A customer paying a few days later every month: no 30-day break in the last 120 days, but its
    last 240 days sit 20 days above the year before (z well past 1.5); one invoiced every other month
    (3 invoices in the window) with the same clear shift too. Near misses: a chronic payer with the
    same shift inside its own wide spread, and a 12-day shift seen on too few invoices."""
    base = {
        "n_history": 12, "history_median_days_late": 20.0, "history_mad_days_late": 4.0, "n_recent": 3,
        "recent_median_days_late": 28.0, "recent_share_open": 0.0, "n_drift_history": 10, "n_drift": 6,
    }  # fmt: skip
    rows = [
        {"customer_id": f"N{i}", **base, "drift_history_median_days_late": 5.0 + i % 3,
         "drift_history_mad_days_late": 3.0, "drift_median_days_late": 7.0}
        for i in range(20)
    ]  # fmt: skip
    rows.append({"customer_id": "DRIFT", **base, "drift_history_median_days_late": 6.0,
                 "drift_history_mad_days_late": 2.0, "drift_median_days_late": 26.0})  # fmt: skip
    rows.append({"customer_id": "BIMONTHLY", **base, "n_drift_history": 5, "n_drift": 3,
                 "drift_history_median_days_late": 6.0, "drift_history_mad_days_late": 2.0,
                 "drift_median_days_late": 26.0})  # fmt: skip
    rows.append({"customer_id": "NOISY", **base, "drift_history_median_days_late": 30.0,
                 "drift_history_mad_days_late": 15.0, "drift_median_days_late": 50.0})  # fmt: skip
    rows.append({"customer_id": "FEW", **base, "n_drift_history": 5, "n_drift": 3,
                 "drift_history_median_days_late": 6.0, "drift_history_mad_days_late": 2.0,
                 "drift_median_days_late": 18.0})  # fmt: skip
    out = score_behaviour(pd.DataFrame(rows)).set_index("customer_id")
    assert sorted(out.index) == ["BIMONTHLY", "DRIFT"]
    assert set(out["kind"]) == {"drift"} and out.loc["DRIFT", "shift_days"] == 20.0
    assert "drifting later" in out.loc["DRIFT", "description"]

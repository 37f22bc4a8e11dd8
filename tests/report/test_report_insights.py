"""Report insights follow the data: which appear, what they say and what they recommend.

Small hand-made report data (no warehouse): the same code paths as the real report, with numbers
chosen so that each rule's outcome is known in advance.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from cobranza.report import insights
from cobranza.report.build import format_value, render
from cobranza.report.queries import ReportData

AS_OF = date(2026, 11, 23)
PREV = AS_OF - timedelta(days=30)


def _trend(enterprise_now: float, smb_now: float) -> pd.DataFrame:
    """Trend rows on the previous date and the run date; sales 900 per segment (so 10 AR = 1 DSO day)."""
    rows = []
    for when, ent, smb in ((PREV, 500.0, 400.0), (AS_OF, enterprise_now, smb_now)):
        for seg, ar in (("enterprise", ent), ("smb", smb)):
            rows.append(dict(point_date=when, segment=seg, ar_total=ar, ar_current=ar / 2, ar_overdue=ar / 2,
                             credit_sales_90d=900.0, dso_contribution=ar / 1800 * 90, pct_overdue=0.5))  # fmt: skip
        total = ent + smb
        rows.append(dict(point_date=when, segment="all", ar_total=total, ar_current=total / 2,
                         ar_overdue=total / 2, credit_sales_90d=1800.0, dso_standard=total / 1800 * 90,
                         dso_best_possible=total / 3600 * 90, dso_countback=total / 1800 * 88,
                         dso_contribution=total / 1800 * 90, pct_overdue=0.5))  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["point_date"] = pd.to_datetime(frame["point_date"])
    return frame


def _data(trend: pd.DataFrame, **overrides) -> ReportData:
    kpis = {
        "as_of_date": AS_OF,
        "reporting_currency": "USD",
        "ar_total_reporting": 1000.0,
        "ar_current_reporting": 500.0,
        "ar_1_30_reporting": 200.0,
        "ar_31_60_reporting": 50.0,
        "ar_61_90_reporting": 50.0,
        "ar_90_plus_reporting": 200.0,
        "ar_overdue_reporting": 500.0,
        "pct_overdue": 0.5,
        "dso_standard": 50.0,
        "dso_countback": 49.0,
        "dso_best_possible": 25.0,
        "avg_days_delinquent": 25.0,
        "cei_30d": 60.0,
        "contact_rate": 0.5,
        "effective_contact_rate": 0.4,
        "promise_kept_rate": 0.5,
        "auto_match_rate": 0.9,
        "recovered_email_reporting": 100.0,
        "recovered_whatsapp_reporting": 900.0,
        "recovered_sms_reporting": 0.0,
        "recovered_call_reporting": 0.0,
        "recovered_letter_reporting": 0.0,
        "n_open_invoices": 10,
        "n_overdue_invoices": 5,
        "n_overdue_customers": 3,
        "n_customers_treatment": None,
        "n_customers_control": None,
        "paid_rate_treatment": None,
        "paid_rate_control": None,
    }
    kpis.update(overrides.pop("kpis", {}))
    fields = dict(
        as_of=AS_OF,
        segment=None,
        country=None,
        kpis=kpis,
        kpis_by_segment=pd.DataFrame(
            {"segment": ["enterprise", "smb"], "cei_30d": [70.0, 40.0], "pct_overdue": [0.3, 0.6],
             "ar_total_reporting": [800.0, 200.0], "dso_standard": [55.0, 40.0], "dso_best_possible": [30.0, 20.0],
             "contact_rate": [0.5, 0.5], "effective_contact_rate": [0.4, 0.4]}
        ),  # fmt: skip
        kpis_by_currency=pd.DataFrame(
            {"currency": ["USD", "MXN"], "fx_rate_to_reporting": [1.0, 0.05], "auto_match_rate": [0.97, 0.8]}
        ),
        trend=trend,
        previous_date=PREV,
        channels=pd.DataFrame(
            {"channel": ["email", "whatsapp"], "n_attempts": [100, 30], "n_customers_contacted": [50, 20],
             "n_customers_effective": [40, 18], "n_bounced": [5, 1], "n_replies": [10, 12], "n_promises": [5, 9],
             "effective_contact_rate": [0.8, 0.9], "promise_rate": [0.05, 0.3], "bounce_rate": [0.05, 0.03]}
        ),  # fmt: skip
        risk_accounts=pd.DataFrame(
            {"customer_id": [f"C{i}" for i in range(12)], "customer_name": [f"Name {i}" for i in range(12)],
             "segment": ["enterprise"] * 12, "country": ["MX"] * 12, "currency": ["MXN"] * 12,
             "scored_on": [AS_OF] * 12, "expected_loss_rpt": [100.0 - i for i in range(12)],
             "amount_open_rpt": [200.0] * 12, "amount_overdue_rpt": [100.0] * 12, "risk_weighted": [0.5] * 12,
             "max_days_past_due": [120, 95] + [10] * 10, "n_open_invoices": [1] * 12, "model_version": ["1"] * 12,
             "action_today": ["wait", None] + ["email"] * 10}
        ),  # fmt: skip
        risk_bands=pd.DataFrame(
            {"risk_from": [i / 10 for i in range(10)], "risk_to": [(i + 1) / 10 for i in range(10)],
             "n_invoices": [1] * 10, "amount_open_rpt": [100.0] * 10}
        ),  # fmt: skip
        unmatched=pd.DataFrame(
            {"currency": ["USD", "MXN"], "n_credits": [10, 10], "n_unmatched": [1, 2],
             "amount": [1000.0, 2000.0], "amount_unmatched": [30.0, 400.0]}
        ),  # fmt: skip
        model={"version": "3", "roc_auc": 0.81, "pr_auc": 0.6, "brier": 0.1, "lift_top_decile": 3.0,
               "test_window": "a..b", "data_snapshot_date": "2026-11-20", "promotion_decision": "beats v2"},
        drift=None,
        missing={"uplift": "no groups yet", "drift": "no drift table yet"},
    )  # fmt: skip
    fields.update(overrides)
    return ReportData(**fields)


def _by_key(data: ReportData) -> dict[str, insights.Insight]:
    return {i.key: i for i in insights.compute(data, "USD")}


def test_rising_dso_names_the_segment_that_drove_it() -> None:
    found = _by_key(_data(_trend(enterprise_now=800.0, smb_now=410.0)))
    dso = found["dso_change"]
    assert dso.severity == "alert" and dso.headline.startswith("DSO rose")
    assert dso.value == pytest.approx((1210 - 900) / 1800 * 90)
    assert "Segment enterprise accounts for +15.0 days" in dso.evidence
    assert "Put segment enterprise first" in dso.action


def test_falling_dso_credits_the_improving_segment() -> None:
    found = _by_key(_data(_trend(enterprise_now=500.0, smb_now=100.0)))
    dso = found["dso_change"]
    assert dso.severity == "good" and dso.headline.startswith("DSO fell")
    assert "Segment smb accounts for -15.0 days" in dso.evidence
    assert "what worked in smb" in dso.action


def test_flat_dso_says_stable_and_most_urgent_insights_come_first() -> None:
    items = insights.compute(_data(_trend(enterprise_now=500.0, smb_now=400.0)), "USD")
    dso = next(i for i in items if i.key == "dso_change")
    assert dso.severity == "info" and "stable" in dso.action
    order = [insights.SEVERITY_ORDER[i.severity] for i in items]
    assert order == sorted(order)


def test_channel_expected_loss_auto_match_and_cei_read_the_numbers() -> None:
    found = _by_key(_data(_trend(800.0, 410.0)))
    ch = found["channels"]
    assert ch.headline.startswith("whatsapp recovers 30 USD per attempt, email 1 USD")
    assert "shift volume from email to whatsapp" in ch.action
    loss = found["expected_loss"]
    assert "2 of them have no contact planned today: Name 0 (C0), Name 1 (C1)" in loss.action
    match = found["auto_match"]
    assert match.severity == "watch" and "50 USD" in match.evidence and "Lowest: MXN at 80.0%" in match.evidence
    cei = found["cei"]
    assert cei.headline.startswith("smb collects least effectively") and "towards smb" in cei.action
    assert found["aging"].headline == "20% of open AR is more than 90 days past due"
    assert "across 2 customers" in found["aging"].evidence
    assert "uplift" not in found  # no treatment/control data


def test_uplift_and_drift_appear_when_their_data_exists() -> None:
    drift = pd.DataFrame(
        {"feature": ["f_a", "f_m", "f_b"], "psi": [0.4, 3.0, 0.05], "is_drifted": [True, False, False],
         "is_exempt": [False, True, False]}
    )  # fmt: skip
    data = _data(
        _trend(800.0, 410.0),
        kpis={"n_customers_treatment": 900, "n_customers_control": 100, "paid_rate_treatment": 0.5,
              "paid_rate_control": 0.3},
        drift=drift,
        missing={},
    )  # fmt: skip
    found = _by_key(data)
    up = found["uplift"]
    assert up.severity == "good" and "+20.0 points" in up.headline and "significant at 95%" in up.evidence
    model = found["model"]
    assert model.severity == "alert" and "1 of 3 monitored inputs drift" in model.evidence
    assert model.headline == "Delinquency model: AUC 0.81, 1 input(s) drifting"
    assert "f_a (0.40)" in model.evidence and "f_b" not in model.evidence and "Exempt by design: f_m" in model.evidence
    page = render(data)
    assert 'id="fig-uplift"' in page and 'id="fig-drift"' in page and 'data-unavailable="uplift"' not in page


def test_render_marks_missing_sections_and_formats_tiles() -> None:
    page = render(_data(_trend(800.0, 410.0)))
    assert 'data-unavailable="uplift"' in page and "no groups yet" in page
    assert 'data-unavailable="drift"' in page
    assert format_value(0.4734, "pct") == "47.3%" and format_value(110.74, "days") == "110.7 d"
    assert format_value(None, "money") == "n/a" and format_value(1234.5, "money", "USD") == "1,234 USD"

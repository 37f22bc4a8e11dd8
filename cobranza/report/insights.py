"""Insights for the KPI report, computed from the report's data rather than written in advance.

Each insight says what the data shows (with its figures), why it matters and what to do, and
points at the chart that shows it. Which insights appear, their order and their recommendations
depend on the numbers: a DSO that rose names the segment that drove the rise; a channel that
recovers more per attempt is named against the weakest one; the accounts with the largest expected
loss that have no contact planned today are listed by name. Thresholds below are the reading rules
of a collections analyst, kept in one place.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cobranza.report.figures import money_short
from cobranza.report.queries import ReportData

AUTO_MATCH_TARGET = 0.95
CEI_GAP_POINTS = 5.0
DSO_MOVE_DAYS = 1.0
TOP_ACCOUNTS = 10
SEVERITY_ORDER = {"alert": 0, "watch": 1, "good": 2, "info": 3}


@dataclass(frozen=True)
class Insight:
    """One finding: a headline, the evidence, a recommended action and the figure that shows it."""

    key: str
    severity: str
    headline: str
    evidence: str
    action: str
    figure: str
    value: float | None = None


def _f(value: Any) -> float:
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _ok(value: Any) -> bool:
    return not math.isnan(_f(value))


def dso_segment_changes(data: ReportData) -> pd.DataFrame:
    """Per segment: DSO contribution (days) on the previous date and the run date, and the change."""
    t = data.trend
    prev = t[(t["point_date"] == pd.Timestamp(data.previous_date)) & (t["segment"] != "all")]
    now = t[(t["point_date"] == pd.Timestamp(data.as_of)) & (t["segment"] != "all")]
    merged = now.merge(prev, on="segment", how="outer", suffixes=("_now", "_prev")).fillna(
        {"dso_contribution_now": 0.0, "dso_contribution_prev": 0.0, "ar_overdue_now": 0.0, "ar_overdue_prev": 0.0}
    )
    merged["delta_days"] = merged["dso_contribution_now"] - merged["dso_contribution_prev"]
    return merged.sort_values("delta_days", key=abs, ascending=False).reset_index(drop=True)


def _trend_point(data: ReportData, when) -> pd.Series | None:
    t = data.trend
    rows = t[(t["point_date"] == pd.Timestamp(when)) & (t["segment"] == "all")]
    return None if rows.empty else rows.iloc[0]


def dso_change(data: ReportData, currency: str) -> Insight | None:
    """DSO now vs the previous period (both rebuilt the same way) and the segment that drove the move."""
    now, prev = _trend_point(data, data.as_of), _trend_point(data, data.previous_date)
    if now is None or prev is None or not (_ok(now["dso_standard"]) and _ok(prev["dso_standard"])):
        return None
    delta = float(now["dso_standard"] - prev["dso_standard"])
    verb = "rose" if delta > 0 else "fell"
    evidence = (
        f"Standard DSO, rebuilt the same way for both dates from the invoice and payment history, {verb} from "
        f"{prev['dso_standard']:.1f} to {now['dso_standard']:.1f} days ({delta:+.1f}) between "
        f"{data.previous_date} and {data.as_of} (the KPI mart's {_f(data.kpis.get('dso_standard')):.1f} also counts "
        "bank payments the ERP has not recorded yet); the overdue balance went from "
        f"{money_short(prev['ar_overdue'], currency)} to {money_short(now['ar_overdue'], currency)} "
        f"({_f(prev['pct_overdue']):.0%} to {_f(now['pct_overdue']):.0%} of open AR)."
    )
    severity = "info" if abs(delta) < DSO_MOVE_DAYS else ("alert" if delta > 0 else "good")
    action = "Keep the current treatment: DSO is stable." if abs(delta) < DSO_MOVE_DAYS else ""
    changes = dso_segment_changes(data)
    if not data.segment and len(changes) > 1 and abs(delta) >= DSO_MOVE_DAYS:
        same_way = changes[changes["delta_days"] * delta > 0]
        if not same_way.empty:
            d = same_way.iloc[0]
            share = d["delta_days"] / delta if delta else math.nan
            evidence += (
                f" Segment {d['segment']} accounts for {d['delta_days']:+.1f} days of the move ({share:.0%}): "
                f"its overdue AR went from {money_short(d['ar_overdue_prev'], currency)} to "
                f"{money_short(d['ar_overdue_now'], currency)}."
            )
            if delta > 0:
                action = (
                    f"Put segment {d['segment']} first: review its largest overdue accounts below and raise contact "
                    "intensity (call tasks) for those with a high predicted risk."
                )
            else:
                action = f"Find out what worked in {d['segment']} and apply it to the other segments."
    if not action:
        action = (
            "Rising DSO: work the accounts with the largest expected loss first."
            if delta > 0
            else ("DSO is improving: keep the current contact policy.")
        )
    return Insight("dso_change", severity, f"DSO {verb} {abs(delta):.1f} days in 30 days", evidence, action,
                   "fig-dso-trend", delta)  # fmt: skip


def delinquency_gap(data: ReportData, currency: str) -> Insight | None:
    """How many DSO days are delinquency (DSO minus best possible DSO)."""
    k = data.kpis
    dso, best = _f(k.get("dso_standard")), _f(k.get("dso_best_possible"))
    if not (_ok(dso) and _ok(best)):
        return None
    gap = dso - best
    share = gap / dso if dso else math.nan
    overdue = _f(k.get("ar_overdue_reporting"))
    return Insight(
        "delinquency_gap",
        "alert" if share > 0.4 else ("watch" if share > 0.2 else "good"),
        f"{gap:.0f} of {dso:.0f} DSO days are delinquency",
        f"Best possible DSO is {best:.1f} days (only the not-yet-due balance); the rest, {gap:.1f} days "
        f"({share:.0%} of DSO), is the {money_short(overdue, currency)} overdue. Countback DSO is "
        f"{_f(k.get('dso_countback')):.1f} days.",
        f"Collecting the overdue balance would bring DSO to about {best:.0f} days; "
        "the aging waterfall shows where that balance sits.",
        "fig-dso-trend",
        gap,
    )


def aging(data: ReportData, currency: str) -> Insight | None:
    """How much of open AR is 90+ days past due, and how many accounts hold it."""
    k = data.kpis
    total, old = _f(k.get("ar_total_reporting")), _f(k.get("ar_90_plus_reporting"))
    if not total or not _ok(old):
        return None
    share = old / total
    accounts = data.risk_accounts
    n_old = int((accounts["max_days_past_due"] > 90).sum()) if not accounts.empty else None
    who = f" across {n_old} customers" if n_old is not None else ""
    return Insight(
        "aging",
        "alert" if share > 0.2 else ("watch" if share > 0.1 else "good"),
        f"{share:.0%} of open AR is more than 90 days past due",
        f"{money_short(old, currency)} of {money_short(total, currency)} open AR is 90+ days past due{who}; "
        f"61-90 days holds another {money_short(k.get('ar_61_90_reporting'), currency)} that moves into it next month.",
        "Escalate 90+ balances (statement + call, then credit hold or legal review) and act on 61-90 now, "
        "while it is still collectable.",
        "fig-aging",
        share,
    )


def cei_by_segment(data: ReportData) -> Insight | None:
    """The weakest and strongest segment by collection effectiveness."""
    seg = data.kpis_by_segment.dropna(subset=["cei_30d"])
    if len(seg) < 2 or data.segment:
        return None
    seg = seg.sort_values("cei_30d")
    worst, best = seg.iloc[0], seg.iloc[-1]
    gap = float(best["cei_30d"] - worst["cei_30d"])
    overall = _f(data.kpis.get("cei_30d"))
    return Insight(
        "cei",
        "watch" if gap >= CEI_GAP_POINTS else "info",
        f"{worst['segment']} collects least effectively (CEI {worst['cei_30d']:.0f}%)",
        f"Over the last 30 days collectors recovered {worst['cei_30d']:.1f}% of what was collectable in "
        f"{worst['segment']} against {best['cei_30d']:.1f}% in {best['segment']} (all segments "
        f"{overall:.1f}%); {_f(worst['pct_overdue']):.0%} of {worst['segment']}'s open AR is overdue.",
        f"Move collector capacity towards {worst['segment']}, or review its credit terms."
        if gap >= CEI_GAP_POINTS
        else "Segments collect alike: no reallocation needed.",
        "fig-segments",
        gap,
    )


def channels(data: ReportData, currency: str) -> Insight | None:
    """The channel that recovers most per attempt against the weakest one."""
    ch = data.channels.copy()
    if ch.empty:
        return None
    ch["recovered"] = [_f(data.kpis.get(f"recovered_{c}_reporting")) for c in ch["channel"]]
    ch = ch[(ch["n_attempts"] >= 10) & ch["recovered"].notna()]
    if len(ch) < 2:
        return None
    ch["per_attempt"] = ch["recovered"] / ch["n_attempts"]
    ch = ch.sort_values("per_attempt", ascending=False)
    top, low = ch.iloc[0], ch.iloc[-1]
    ratio = top["per_attempt"] / low["per_attempt"] if low["per_attempt"] else math.inf
    return Insight(
        "channels",
        "watch" if ratio >= 2 else "info",
        f"{top['channel']} recovers {money_short(top['per_attempt'], currency)} per attempt, "
        f"{low['channel']} {money_short(low['per_attempt'], currency)}",
        f"In the last 30 days {int(top['n_attempts']):,} {top['channel']} attempts were followed by "
        f"{money_short(top['recovered'], currency)} of payments (last touch) and a promise to pay in "
        f"{_f(top['promise_rate']):.0%} of attempts; {int(low['n_attempts']):,} {low['channel']} attempts by "
        f"{money_short(low['recovered'], currency)} ({_f(low['promise_rate']):.0%} promises). Effective contact "
        f"rate overall: {_f(data.kpis.get('effective_contact_rate')):.0%} of overdue customers.",
        f"Where consent allows, shift volume from {low['channel']} to {top['channel']}; the bandit policy learns "
        "this per segment, and the treatment/control comparison below tells whether it pays.",
        "fig-channels",
        float(ratio) if math.isfinite(ratio) else None,
    )


def expected_loss(data: ReportData, currency: str) -> Insight | None:
    """Concentration of expected loss in the top accounts, and which of them have nothing planned today."""
    acc = data.risk_accounts
    if acc.empty or not acc["expected_loss_rpt"].sum():
        return None
    top = acc.head(TOP_ACCOUNTS)
    share = float(top["expected_loss_rpt"].sum() / acc["expected_loss_rpt"].sum())
    top_loss = money_short(top["expected_loss_rpt"].sum(), currency)
    evidence = (
        f"The {len(top)} accounts with the largest expected loss hold {top_loss}"
        f" ({share:.0%} of the {money_short(acc['expected_loss_rpt'].sum(), currency)} expected loss across "
        f"{len(acc):,} customers with open invoices)."
    )
    action = "Work these accounts first."
    if "action_today" in top.columns:
        idle = top[top["action_today"].isna() | (top["action_today"] == "wait")]
        if len(idle):
            names = ", ".join(f"{r.customer_name} ({r.customer_id})" for r in idle.head(5).itertuples())
            action = (
                f"{len(idle)} of them have no contact planned today: {names}. Assign them to a collector "
                "(call task) or review why the policy waits."
            )
        else:
            action = "All of them have a contact planned today; make sure call tasks reach senior collectors."
    return Insight("expected_loss", "alert" if share > 0.5 else "watch", f"{share:.0%} of expected loss sits in "
                   f"{len(top)} accounts", evidence, action, "fig-risk", share)  # fmt: skip


def auto_match(data: ReportData, currency: str) -> Insight | None:
    """Cash-application auto-match rate and what is left to apply by hand."""
    rate = _f(data.kpis.get("auto_match_rate"))
    if not _ok(rate):
        return None
    fx = dict(zip(data.kpis_by_currency["currency"], data.kpis_by_currency["fx_rate_to_reporting"], strict=True))
    un = data.unmatched
    left = sum(_f(a) * _f(fx.get(c)) for c, a in zip(un["currency"], un["amount_unmatched"], strict=True))
    n_left = int(un["n_unmatched"].sum()) if not un.empty else 0
    worst = data.kpis_by_currency.dropna(subset=["auto_match_rate"]).sort_values("auto_match_rate")
    worst_txt = ""
    if not worst.empty:
        w = worst.iloc[0]
        worst_txt = f" Lowest: {w['currency']} at {_f(w['auto_match_rate']):.1%}."
    ok = rate >= AUTO_MATCH_TARGET
    return Insight(
        "auto_match",
        "good" if ok else "watch",
        f"Cash application matched {rate:.1%} of bank credits automatically",
        f"In the last 30 days {n_left:,} bank credits worth {money_short(left, currency)} were not matched to an "
        f"invoice.{worst_txt}",
        "No action: above the 95% target." if ok else
        "Apply the unmatched credits by hand before the next run, so that no paid customer is chased; ask "
        "customers with unmatched payments to quote the invoice number.",
        "fig-auto-match",
        rate,
    )  # fmt: skip


def treatment_uplift(data: ReportData) -> Insight | None:
    """Paid rate of the policy's customers against the control group's, with a two-proportion z-test."""
    k = data.kpis
    nt, nc = _f(k.get("n_customers_treatment")), _f(k.get("n_customers_control"))
    pt, pc = _f(k.get("paid_rate_treatment")), _f(k.get("paid_rate_control"))
    if not all(_ok(v) for v in (nt, nc, pt, pc)) or nt < 1 or nc < 1:
        return None
    pooled = (pt * nt + pc * nc) / (nt + nc)
    se = math.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc)) if 0 < pooled < 1 else math.nan
    z = (pt - pc) / se if se and _ok(se) else math.nan
    significant = _ok(z) and abs(z) >= 1.96
    verdict = "significant at 95%" if significant else "not yet significant"
    return Insight(
        "uplift",
        "good" if significant and pt > pc else ("alert" if significant else "info"),
        f"Policy uplift {100 * (pt - pc):+.1f} points over the control ladder",
        f"{pt:.1%} of {int(nt):,} treated customers paid within 14 days of the decision against {pc:.1%} of "
        f"{int(nc):,} in the control group (z = {z:.2f}, {verdict}).",
        "Keep the control group running until the difference is significant."
        if not significant
        else ("The policy pays: keep it." if pt > pc else "The policy underperforms the ladder: review it."),
        "fig-uplift",
        pt - pc,
    )


def model_health(data: ReportData) -> Insight | None:
    """Champion quality and drift."""
    m = data.model
    if not m:
        return None
    auc = _f(m.get("roc_auc"))
    evidence = (
        f"Champion v{m.get('version')} has ROC AUC {auc:.3f} and PR AUC {_f(m.get('pr_auc')):.3f} on the test "
        f"window {m.get('test_window')} (trained on data of {m.get('data_snapshot_date')})."
    )
    severity, action = ("good", "No action.") if auc >= 0.75 else ("watch", "Retrain: `cobranza train`.")
    headline = f"Delinquency model: AUC {auc:.2f}"
    if data.drift is not None:
        drift = data.drift
        drifted = drift[drift["is_drifted"].fillna(False).astype(bool)]
        exempt = drift[drift["is_exempt"].fillna(False).astype(bool)] if "is_exempt" in drift.columns else drift[:0]
        source = drift.attrs.get("source", "the drift table")
        if len(drifted):
            names = ", ".join(f"{r.feature} ({r.psi:.2f})" for r in drifted.head(5).itertuples())
            evidence += f" {len(drifted)} of {len(drift)} monitored inputs drift ({source}): {names}."
            severity, action = "alert", "Retrain on recent data (`cobranza train`) and compare with the champion."
            headline += f", {len(drifted)} input(s) drifting"
        else:
            evidence += f" None of the {len(drift)} monitored inputs drifts ({source})."
        if len(exempt):
            evidence += f" Exempt by design: {', '.join(exempt['feature'].astype(str))}."
    return Insight("model", severity, headline, evidence, action, "fig-model", auc)


def compute(data: ReportData, currency: str) -> list[Insight]:
    """All insights the data supports, the most urgent first."""
    found = [
        dso_change(data, currency),
        delinquency_gap(data, currency),
        aging(data, currency),
        expected_loss(data, currency),
        cei_by_segment(data),
        channels(data, currency),
        treatment_uplift(data),
        auto_match(data, currency),
        model_health(data),
    ]
    items = [i for i in found if i is not None]
    return sorted(items, key=lambda i: SEVERITY_ORDER.get(i.severity, 9))

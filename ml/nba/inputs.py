"""Shapes the warehouse's outputs into the decision engine's inputs (``ml.nba.engine.decide``).

``marts.mart_dunning_accounts`` carries each account's dunnable invoices as JSON (dbt contracts
keep to flat types); the policy wants them as Python objects with Decimal amounts, and wants the
account's risk, which is the highest champion score among the invoices the contact would cover, and
the customer's expected days late (``f_cust_mean_days_late``) for the DSO-aware value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd

from ml.nba.compliance import Relaxation
from ml.nba.value import NbaConfig


def _invoices(raw: str) -> list[dict]:
    items = json.loads(raw) if raw else []
    return [
        {
            "invoice_id": i["invoice_id"],
            "number": i["number"],
            "due_date": date.fromisoformat(str(i["due_date"])[:10]),
            "amount_open": Decimal(str(i["amount_open"])),
            "days_past_due": int(i["days_past_due"]),
        }
        for i in items
    ]


def accounts_for_decision(
    mart: pd.DataFrame,
    scores: pd.DataFrame,
    explanations: pd.DataFrame | None = None,
    features: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Accounts with their invoices parsed and ``risk_score`` = max score of the covered invoices (NaN if unscored).

    Args:
        mart: Rows of ``marts.mart_dunning_accounts``.
        scores: Rows of ``ml_scores.invoice_scores`` for the run date (invoice_id, risk_score).
        explanations: Rows of ``ml_scores.invoice_explanations`` for the run date (invoice_id, rank,
            feature, contribution); the account's ``risk_drivers`` are the features pushing its
            riskiest invoice towards late, strongest first (``feature:+0.42`` in log-odds).
        features: Rows of ``marts.ml_open_invoice_features`` (customer_id, f_cust_mean_days_late,
            f_cust_days_late_trend, f_cust_days_since_payment): the account's ``expected_days_late``,
            ``recent_days_late`` and ``days_since_payment`` for the DSO-aware value (NaN without them:
            the policy then derives the lateness from the risk score).

    Returns:
        The policy's ``accounts`` frame.
    """
    accounts = mart.copy()
    accounts["invoices"] = accounts["invoices_json"].map(_invoices)
    if "upcoming_invoices_json" in accounts:
        accounts["upcoming_invoices"] = accounts["upcoming_invoices_json"].map(_invoices)
        accounts = accounts.drop(columns=["upcoming_invoices_json"])
    if len(scores):
        by_invoice = scores.set_index("invoice_id")["risk_score"]
        covered = accounts["invoices"]
        if "upcoming_invoices" in accounts:  # a pre-due reminder's risk is that of its upcoming invoices
            covered = covered + accounts["upcoming_invoices"]
        exploded = pd.DataFrame({"customer_id": accounts["customer_id"], "invoices": covered})
        exploded = exploded.explode("invoices").dropna(subset=["invoices"])
        exploded["risk_score"] = exploded["invoices"].map(lambda i: by_invoice.get(i["invoice_id"]))
        risk = exploded.groupby("customer_id")["risk_score"].max()
        accounts["risk_score"] = accounts["customer_id"].map(risk).astype(float)
        if explanations is not None and len(explanations):
            riskiest = exploded.assign(invoice_id=exploded["invoices"].map(lambda i: i["invoice_id"]))
            riskiest = riskiest.sort_values("risk_score").drop_duplicates("customer_id", keep="last")
            ex = explanations[explanations["contribution"].astype(float) > 0].sort_values(["invoice_id", "rank"])
            text = ex.groupby("invoice_id").apply(
                lambda g: [f"{f}:{float(c):+.2f}" for f, c in zip(g["feature"], g["contribution"], strict=True)][:3],
                include_groups=False,
            )
            by_cust = riskiest.set_index("customer_id")["invoice_id"].map(text)
            accounts["risk_drivers"] = accounts["customer_id"].map(by_cust)
    else:
        accounts["risk_score"] = float("nan")
    # customer features: every open invoice of the customer carries the same values
    cust = accounts["customer_id"].astype(str)
    for col, feature in (
        ("expected_days_late", "f_cust_mean_days_late"),
        ("days_since_payment", "f_cust_days_since_payment"),
    ):
        accounts[col] = _customer_feature(features, feature, cust)
    # recent lateness (invoices due in the last 180 days) = lifetime mean + trend
    accounts["recent_days_late"] = accounts["expected_days_late"] + _customer_feature(
        features, "f_cust_days_late_trend", cust
    )
    return accounts.drop(columns=["invoices_json"])


def drop_settled_invoices(accounts: pd.DataFrame, settled: Iterable[str]) -> pd.DataFrame:
    """The accounts without the invoices already settled where the marts cannot see it yet.

    A pay-link payment confirmed by the provider's signed webhook, or a dispute opened on the debtor
    portal (``ml.inbound.portal_events.settled_online``), is known minutes after it happens; the bank
    statement or the CRM says so a day or more later. Until then the marts still list the invoices as
    dunnable, so they are taken out here: from ``invoices`` and ``upcoming_invoices``, with
    ``overdue_amount``, ``n_overdue_invoices``, ``max_days_past_due`` and ``upcoming_amount``
    recomputed; an account left with nothing to dun is dropped.

    Args:
        accounts: :func:`accounts_for_decision`'s frame.
        settled: Invoice ids to take out.

    Returns:
        A new frame (the same columns).
    """
    gone = {str(i) for i in settled}
    if accounts.empty or not gone:
        return accounts
    out = accounts.copy()
    has_upcoming = "upcoming_invoices" in out
    touched = out["invoices"].map(lambda invs: any(i["invoice_id"] in gone for i in invs))
    if has_upcoming:
        touched |= out["upcoming_invoices"].map(lambda invs: any(i["invoice_id"] in gone for i in invs))
    if not touched.any():
        return accounts
    keep = out.loc[touched, "invoices"].map(lambda invs: [i for i in invs if i["invoice_id"] not in gone])
    out.loc[touched, "invoices"] = keep
    out.loc[touched, "overdue_amount"] = keep.map(lambda invs: sum((i["amount_open"] for i in invs), Decimal(0)))
    out.loc[touched, "n_overdue_invoices"] = keep.map(len)
    out.loc[touched, "max_days_past_due"] = keep.map(lambda invs: max((i["days_past_due"] for i in invs), default=0))
    left = out["invoices"].map(len) > 0
    if has_upcoming:
        ups = out.loc[touched, "upcoming_invoices"].map(lambda invs: [i for i in invs if i["invoice_id"] not in gone])
        out.loc[touched, "upcoming_invoices"] = ups
        if "upcoming_amount" in out:
            out.loc[touched, "upcoming_amount"] = ups.map(
                lambda invs: sum((i["amount_open"] for i in invs), Decimal(0))
            )
        left |= out["upcoming_invoices"].map(len) > 0
    return out[left].reset_index(drop=True)


def _customer_feature(features: pd.DataFrame | None, name: str, customers: pd.Series) -> pd.Series:
    """A customer-level feature of the open invoices, per account (NaN where missing)."""
    if features is None or not len(features) or name not in features:
        return pd.Series(float("nan"), index=customers.index)
    values = pd.to_numeric(features[name], errors="coerce")
    by_cust = values.groupby(features["customer_id"].astype(str)).mean()
    return customers.map(by_cust).astype(float)


def relaxations_from(items: Iterable[Mapping[str, Any]]) -> tuple[Relaxation, ...]:
    """Parse configured relaxations (``nba.relaxations``); a malformed entry names its position."""
    out = []
    for n, item in enumerate(items):
        try:
            out.append(
                Relaxation(
                    relaxation_id=str(item["relaxation_id"]),
                    segment=str(item["segment"]),
                    approved_by=str(item["approved_by"]),
                    approved_on=date.fromisoformat(str(item["approved_on"])[:10]),
                    reason=str(item["reason"]),
                    overrides=dict(item.get("overrides") or {}),
                    country=item.get("country"),
                )
            )
        except KeyError as exc:
            raise ValueError(
                f"nba.relaxations[{n}] lacks {exc.args[0]!r}; every relaxation needs an audit record"
            ) from exc
    return tuple(out)


def latest_usd_rates(fx: pd.DataFrame, as_of: date) -> dict[str, float]:
    """Currency -> USD per unit valid on ``as_of`` from rows of the ``fx_rates`` seed."""
    valid = fx[pd.to_datetime(fx["valid_from"]).dt.date <= as_of].sort_values("valid_from")
    latest = valid.drop_duplicates("currency", keep="last")
    return {str(c): float(r) for c, r in zip(latest["currency"], latest["rate_to_usd"], strict=True)}


def config_from(
    nba: Mapping[str, Any], usd_rates: Mapping[str, float], relaxations: tuple[Relaxation, ...] = ()
) -> NbaConfig:
    """Build the policy configuration from the ``nba`` settings section (as a dict) and FX rates."""
    return NbaConfig(
        costs_usd=dict(nba["costs_usd"]),
        agents=int(nba["agents"]),
        calls_per_agent=int(nba["calls_per_agent"]),
        control_share=float(nba["control_share"]),
        control_salt=str(nba["control_salt"]),
        pay_on_response=float(nba["pay_on_response"]),
        min_gain_usd=float(nba["min_gain_usd"]),
        promise_grace_days=int(nba["promise_grace_days"]),
        seed=int(nba["exploration_seed"]),
        relaxations=relaxations,
        usd_rates=dict(usd_rates),
    )

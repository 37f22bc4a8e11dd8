"""Shapes the warehouse's outputs into the policy's inputs (``ml.nba.policy.decide``).

``marts.mart_dunning_accounts`` carries each account's dunnable invoices as JSON (dbt contracts
keep to flat types); the policy wants them as Python objects with Decimal amounts, and wants the
account's risk, which is the highest champion score among the invoices the contact would cover.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pandas as pd

from ml.nba.rules import ContactRules


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


def accounts_for_decision(mart: pd.DataFrame, scores: pd.DataFrame) -> pd.DataFrame:
    """Accounts with their invoices parsed and ``risk_score`` = max invoice score (NaN if unscored).

    Args:
        mart: Rows of ``marts.mart_dunning_accounts``.
        scores: Rows of ``ml_scores.invoice_scores`` for the run date (invoice_id, risk_score).

    Returns:
        The policy's ``accounts`` frame.
    """
    accounts = mart.copy()
    accounts["invoices"] = accounts["invoices_json"].map(_invoices)
    if len(scores):
        by_invoice = scores.set_index("invoice_id")["risk_score"]
        exploded = accounts[["customer_id", "invoices"]].explode("invoices").dropna(subset=["invoices"])
        exploded["risk_score"] = exploded["invoices"].map(lambda i: by_invoice.get(i["invoice_id"]))
        risk = exploded.groupby("customer_id")["risk_score"].max()
        accounts["risk_score"] = accounts["customer_id"].map(risk).astype(float)
    else:
        accounts["risk_score"] = float("nan")
    return accounts.drop(columns=["invoices_json"])


def rules_from(*, start_hour: int, end_hour: int, min_spacing_hours: int, respect_holidays: bool) -> ContactRules:
    """Build the contact rules from configured values (validation happens in ContactRules)."""
    return ContactRules(
        start_hour=start_hour,
        end_hour=end_hour,
        min_spacing_hours=min_spacing_hours,
        respect_holidays=respect_holidays,
    )

"""Small builders of policy inputs for the next-best-action and channel tests."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd


def invoice(invoice_id: str, amount: str, days_past_due: int, as_of: date = date(2026, 3, 2)) -> dict[str, Any]:
    return {
        "invoice_id": invoice_id,
        "number": f"F-{invoice_id}",
        "due_date": as_of - timedelta(days=days_past_due),
        "amount_open": Decimal(amount),
        "days_past_due": days_past_due,
    }


def account(
    customer_id: str,
    *,
    country: str = "CO",
    timezone: str = "America/Bogota",
    currency: str = "COP",
    invoices: list[dict[str, Any]] | None = None,
    risk_score: float = 0.3,
    **extra: Any,
) -> dict[str, Any]:
    invs = invoices or [invoice(f"{customer_id}-1", "1000.00", 10)]
    return {
        "customer_id": customer_id,
        "customer_name": f"Cliente {customer_id} S.A.S.",
        "country": country,
        "timezone": timezone,
        "currency": currency,
        "overdue_amount": sum((i["amount_open"] for i in invs), Decimal("0")),
        "n_overdue_invoices": len(invs),
        "max_days_past_due": max(i["days_past_due"] for i in invs),
        "invoices": invs,
        "risk_score": risk_score,
        **extra,
    }


def contact(contact_id: str, customer_id: str, **overrides: Any) -> dict[str, Any]:
    row = {
        "contact_id": contact_id,
        "customer_id": customer_id,
        "full_name": f"Persona {contact_id}",
        "role": "debtor",
        "email": f"{contact_id}@example.com",
        "phone": "+573001234567",
        "language": "es",
        "timezone": "America/Bogota",
        "consent_email": True,
        "consent_whatsapp": False,
        "consent_sms": False,
        "consent_call": False,
        "preferred_channel": "email",
        "preferred_hour": None,
    }
    row.update(overrides)
    return row


def frames(accounts: list[dict], contacts: list[dict], recent: list[dict] | None = None):
    acc = pd.DataFrame(accounts)
    con = pd.DataFrame(contacts) if contacts else pd.DataFrame(columns=list(contact("x", "y")))
    rec = pd.DataFrame(recent or [], columns=["customer_id", "channel", "scheduled_at"])
    return acc, con, rec


#: USD rates of the currencies the factories use.
USD_RATES = {"COP": 0.000256, "USD": 1.0, "MXN": 0.0585, "BRL": 0.18, "EUR": 1.08}


def decide(accounts: pd.DataFrame, contacts: pd.DataFrame, recent: pd.DataFrame, **kwargs: Any) -> pd.DataFrame:
    """The engine's decision (``ml.nba.engine.decide``) for a decided day in the channel tests: every
    account in the treatment arm, so the value ranking (not the control ladder's hash) picks the action."""
    from ml.nba.engine import decide as engine_decide
    from ml.nba.value import NbaConfig

    config = kwargs.pop("config", None) or NbaConfig(usd_rates=USD_RATES, control_share=0.0)
    return engine_decide(accounts, contacts, recent, config=config, **kwargs)

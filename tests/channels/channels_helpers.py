"""Helpers for the channel tests: decision rows as the decision layer writes them (no ml.nba needed)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

LANGS = {
    "CO": ("es", "America/Bogota", "COP"),
    "US": ("en", "America/New_York", "USD"),
    "BR": ("pt", "America/Sao_Paulo", "BRL"),
}


def decision_rows(
    n: int,
    channel: str,
    *,
    scheduled_at: datetime | None = None,
    start: int = 1,
    countries: tuple[str, ...] = ("CO", "US", "BR"),
    phone: str | None = None,
) -> pd.DataFrame:
    """``n`` decisions for one channel (``email``, ``whatsapp``, ``sms``, ``call``, ``internal``)."""
    action = {"call": "call_task", "internal": "dispute_review"}.get(channel, channel)
    at = scheduled_at or datetime.now(UTC) - timedelta(minutes=1)
    rows = []
    for i in range(start, start + n):
        country = countries[i % len(countries)]
        language, tz, currency = LANGS[country]
        inv = [
            {"invoice_id": f"I{i}a", "number": f"INV/2026/{i:05d}", "due_date": "2026-01-15",
             "amount_open": "1234567.89", "days_past_due": 45},
            {"invoice_id": f"I{i}b", "number": f"INV/2026/{i + 50000:05d}", "due_date": "2026-02-10",
             "amount_open": "10.00", "days_past_due": 19},
        ]  # fmt: skip
        rows.append(
            {
                "customer_id": f"C{i:06d}",
                "customer_name": f"Empresa {i} S.A.",
                "contact_id": f"K{i:06d}",
                "contact_name": f"Persona {i}",
                "action": action,
                "channel": channel,
                "scheduled_at": pd.Timestamp(at),
                "local_scheduled_at": pd.Timestamp(at).tz_convert(tz).isoformat(),
                "timezone": tz,
                "country": country,
                "currency": currency,
                "amount_at_stake": Decimal("1234577.89"),
                "invoice_ids": [x["invoice_id"] for x in inv],
                "invoices": inv,
                "n_overdue_invoices": 2,
                "max_days_past_due": 45,
                "risk_score": 0.8,
                "language": language,
                "email": f"k{i}@cliente{i}.example.com",
                "phone": phone or f"+5731{i:08d}",
                "payment_link": f"https://pay.example.com/C{i:06d}",
                "reason_codes": ["test"],
            }
        )
    return pd.DataFrame(rows)


def write_crm(folder: Path, n: int) -> Path:
    """A minimal simulator CRM folder (contacts K000001..n) for the HubSpot emulator."""
    crm = folder / "crm"
    crm.mkdir(parents=True, exist_ok=True)
    with (crm / "contacts.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(1, n + 1):
            fh.write(
                f'{{"contact_id": "K{i:06d}", "customer_id": "C{i:06d}", "full_name": "Persona {i}", '
                f'"email": "k{i}@x.example.com", "phone": "+5731{i:08d}", "language": "es", "role": "debtor", '
                f'"timezone": "America/Bogota", "updated_at": "2026-01-01T00:00:00"}}\n'
            )
    (crm / "interactions.csv").write_text(
        "interaction_id,customer_id,contact_id,channel,direction,occurred_at,outcome,promised_date,promised_amount\n"
        "X000001,C000001,K000001,email,outbound,2026-01-02T10:00:00,delivered,,\n",
        encoding="utf-8",
    )
    return folder


def warehouse_state(
    con,
    decisions: pd.DataFrame,
    *,
    settled: tuple[str, ...] = (),
    disputed: tuple[str, ...] = (),
    no_consent: tuple[str, ...] = (),
) -> None:
    """The marts the dispatch stage re-checks queued tasks against, for ``decisions``' invoices and contacts.

    Every named invoice is posted and open unless listed in ``settled`` (amount open 0: paid, also when
    only the bank has seen it) or ``disputed``; every contact consents to every channel unless listed
    in ``no_consent``.
    """
    invoices = pd.DataFrame(
        [
            {
                "invoice_id": i,
                "status": "posted",
                "amount_open": Decimal("0.00") if i in settled else Decimal("10.00"),
                "is_disputed": i in disputed,
            }
            for ids in decisions["invoice_ids"]
            for i in ids
        ]
    )
    consent = [c not in no_consent for c in decisions["contact_id"]]
    contacts = pd.DataFrame(
        {
            "contact_id": decisions["contact_id"],
            "customer_id": decisions["customer_id"],
            "email": decisions["email"],
            "phone": decisions["phone"],
            "language": decisions["language"],
            "consent_email": consent,
            "consent_whatsapp": consent,
            "consent_sms": consent,
            "consent_call": consent,
        }
    )
    con.execute("create schema if not exists marts")
    con.register("_invoices", invoices)
    con.register("_contacts", contacts)
    con.execute("create or replace table marts.fct_invoices as select * from _invoices")
    con.execute("create or replace table marts.dim_contacts as select * from _contacts")
    con.unregister("_invoices")
    con.unregister("_contacts")


def hand_over(ctx) -> None:
    """What a warehouse writer does before a dispatcher pass: the outbox written in the warehouse goes to the
    operational store (the upgrade path, ``connectors.ops_store.seed_from_warehouse``) and the serving
    tables of the pre-send re-check are refreshed from the warehouse's marts."""
    from flows import stages

    stages.replicate(ctx)
    stages.refresh_serving(ctx)

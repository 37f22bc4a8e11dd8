"""Shared helpers of the portal tests: a small published-warehouse snapshot, a portal app, a PDF and a PNG.

The snapshot has the tables and columns the portal reads (``marts.dim_customers``,
``marts.dim_contacts``, ``marts.fct_invoices``, ``marts.mart_risk_accounts``), with two customers:
``C1`` (Colombia, Spanish, mid market, two open invoices, one overdue, one settled) and ``C2``
(Brazil, Portuguese, one open invoice), so every test can check that one link never shows the other
customer's data.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

SECRET = "portal-test-secret-0123456789abcdef"
TODAY = date(2026, 12, 5)
NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def make_snapshot(path: Path, today: date = TODAY) -> Path:
    """Write the small snapshot at ``path`` and return it."""
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute(
        "create table marts.dim_customers (customer_id varchar, customer_name varchar, country varchar, "
        "currency varchar, segment varchar)"
    )
    con.execute(
        "insert into marts.dim_customers values "
        "('C1', 'Ferretería Andina S.A.S.', 'CO', 'COP', 'mid_market'), "
        "('C2', 'Padaria Lisboa Ltda', 'BR', 'BRL', 'smb')"
    )
    con.execute(
        "create table marts.dim_contacts (contact_id varchar, customer_id varchar, role varchar, language varchar, "
        "consent_email boolean, consent_whatsapp boolean, consent_sms boolean, consent_call boolean)"
    )
    con.execute(
        "insert into marts.dim_contacts values ('K1', 'C1', 'debtor', 'es', true, true, true, true), "
        "('K1b', 'C1', 'other', 'es', true, false, true, false), ('K2', 'C2', 'debtor', 'pt', true, true, true, true)"
    )
    con.execute(
        "create table marts.fct_invoices (invoice_id varchar, invoice_number varchar, customer_id varchar, "
        "currency varchar, issue_date date, due_date date, status varchar, amount_total decimal(38,2), "
        "amount_open decimal(38,2), is_disputed boolean)"
    )
    d = timedelta
    rows = [
        ("I1", "FV-1001", "C1", "COP", today - d(60), today - d(30), "posted", 5000000, 5000000),
        ("I2", "FV-1002", "C1", "COP", today - d(10), today + d(20), "posted", 2500000.5, 2500000.5),
        ("I3", "FV-0999", "C1", "COP", today - d(90), today - d(60), "posted", 100000, 0),
        ("J1", "NF-77", "C2", "BRL", today - d(40), today - d(5), "posted", 3400.5, 3400.5),
    ]
    con.executemany("insert into marts.fct_invoices values (?, ?, ?, ?, ?, ?, ?, ?, ?, false)", rows)
    con.execute("create table marts.mart_risk_accounts (customer_id varchar, risk_weighted double)")
    con.execute("insert into marts.mart_risk_accounts values ('C1', 0.2), ('C2', 0.8)")
    con.close()
    return path


def random_secret() -> str:
    """Another deployment's secret."""
    return secrets.token_urlsafe(32)

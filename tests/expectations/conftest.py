"""Fixtures for the quality-gate tests: a small DuckDB warehouse with clean raw and mart tables.

Raw tables are created from ``connectors.contracts`` (business + lineage columns, DuckDB types), so
the suites are tested against exactly the schemas the connectors land.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from connectors.contracts import ALL_STREAMS, LINEAGE_COLUMNS, StreamContract

AS_OF = date(2026, 11, 20)
LOADED_AT = datetime(2026, 11, 20, 5, 0)


def create_raw_table(con: duckdb.DuckDBPyConnection, contract: StreamContract) -> None:
    columns = [(c.name, c.type) for c in contract.columns] + list(LINEAGE_COLUMNS.items())
    ddl = ", ".join(f'"{name}" {type_}' for name, type_ in columns)
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {contract.schema}")
    con.execute(f"CREATE TABLE {contract.table} ({ddl})")


def insert(con: duckdb.DuckDBPyConnection, table: str, rows: list[dict]) -> None:
    frame = pd.DataFrame(rows)
    con.register("_rows", frame)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _rows")
    finally:
        con.unregister("_rows")


def _lineage(source: str) -> dict:
    return {"_source": source, "_batch_id": "b-1", "_loaded_at": LOADED_AT, "_file": None}


def clean_raw_rows() -> dict[str, list[dict]]:
    """A tiny, valid AR world: 3 customers, 12 invoices, contacts, payments, bank lines."""
    upd = datetime(2026, 11, 19, 18, 30)
    customers = [
        ("C1", "Aceros del Norte SA de CV", "MX", "America/Mexico_City", "MXN"),
        ("C2", "Café Andino SAS", "CO", "America/Bogota", "COP"),
        ("C3", "Harbor Tools LLC", "US", "America/Chicago", "USD"),
    ]
    rows: dict[str, list[dict]] = {
        "raw_erp.customers": [
            {
                "customer_id": cid,
                "name": name,
                "tax_id": f"TAX{i}",
                "country": country,
                "city": "X",
                "timezone": tz,
                "currency": cur,
                "payment_terms_days": 30,
                "credit_limit": 100000,
                "segment": "smb",
                "updated_at": upd,
            }
            for i, (cid, name, country, tz, cur) in enumerate(customers)
        ]
    }
    invoices = []
    for i in range(12):
        cid, _, _, _, cur = customers[i % 3]
        issue = date(2026, 8, 1) + timedelta(days=7 * i)
        total = 1000 + 250 * i
        invoices.append(
            {
                "invoice_id": f"INV-{i:04d}",
                "number": f"F-{1000 + i}",
                "customer_id": cid,
                "issue_date": issue,
                "due_date": issue + timedelta(days=30),
                "currency": cur,
                "amount_total": total,
                "amount_open": 0 if i % 4 == 0 else total,
                "status": "posted",
                "payment_reference": None,
                "updated_at": upd,
            }
        )
    rows["raw_erp.invoices"] = invoices
    rows["raw_erp.credit_notes"] = [
        {
            "credit_note_id": "CN-1",
            "number": "NC-1",
            "customer_id": "C2",
            "invoice_id": "INV-0001",
            "issue_date": date(2026, 9, 1),
            "currency": "COP",
            "amount_total": 100,
            "status": "posted",
            "updated_at": upd,
        }
    ]
    rows["raw_erp.payment_allocations"] = [
        {
            "allocation_id": f"AL-{i}",
            "invoice_id": f"INV-{i:04d}",
            "customer_id": customers[i % 3][0],
            "bank_txn_id": f"TX-{i}",
            "payment_date": date(2026, 9, 15) + timedelta(days=i),
            "recorded_at": datetime(2026, 9, 18, 10) + timedelta(days=i),
            "currency": customers[i % 3][4],
            "amount": 1000 + 250 * i,
        }
        for i in (0, 4, 8)
    ]
    rows["raw_crm.contacts"] = [
        {
            "contact_id": f"P{i}",
            "customer_id": cid,
            "full_name": f"Persona {i}",
            "role": "debtor" if i else "guarantor",
            "email": f"pagos{i}@cliente{i}.example.com",
            "phone": ["+5215512345678", "+573001234567", "+13125550123"][i],
            "language": ["es", "es", "en"][i],
            "timezone": tz,
            "consent_email": True,
            "consent_whatsapp": i != 2,
            "consent_sms": False,
            "consent_call": True,
            "preferred_channel": "email",
            "preferred_hour": 10,
            "updated_at": upd,
        }
        for i, (cid, _, _, tz, _) in enumerate(customers)
    ]
    rows["raw_crm.interactions"] = [
        {
            "interaction_id": "I-1",
            "customer_id": "C1",
            "contact_id": "P0",
            "channel": "email",
            "direction": "outbound",
            "occurred_at": datetime(2026, 11, 10, 16),
            "outcome": "promise_to_pay",
            "promised_date": date(2026, 11, 25),
            "promised_amount": 1750,
        },
        {
            "interaction_id": "I-2",
            "customer_id": "C2",
            "contact_id": None,
            "channel": "whatsapp",
            "direction": "inbound",
            "occurred_at": datetime(2026, 11, 12, 9),
            "outcome": "replied",
            "promised_date": None,
            "promised_amount": None,
        },
    ]
    rows["raw_crm.disputes"] = [
        {
            "dispute_id": "D-1",
            "invoice_id": "INV-0005",
            "customer_id": "C3",
            "opened_at": datetime(2026, 10, 1, 12),
            "resolved_at": None,
            "status": "open",
            "reason": "damaged goods",
            "updated_at": upd,
        }
    ]
    rows["raw_bank.statement_lines"] = [
        {
            "bank_txn_id": f"TX-{i}",
            "account_iban": "MX00BANK0000000000000001",
            "booking_date": date(2026, 9, 15) + timedelta(days=i),
            "value_date": date(2026, 9, 15) + timedelta(days=i),
            "amount": 1000 + 250 * i,
            "currency": customers[i % 3][4],
            "credit_debit": "CRDT" if i < 8 else "DBIT",
            "counterparty_name": customers[i % 3][1],
            "counterparty_iban": None,
            "remittance_text": f"Pago F-{1000 + i}",
            "creditor_reference": None,
        }
        for i in (0, 4, 8)
    ]
    for table, table_rows in rows.items():
        source = table.split(".")[0].removeprefix("raw_")
        for row in table_rows:
            row.update(_lineage(source))
    return rows


def clean_fct_invoices() -> list[dict]:
    return [
        {
            "invoice_id": f"INV-{i:04d}",
            "customer_id": f"C{i % 3 + 1}",
            "amount_total": 1000.0 + 250 * i,
            "amount_open": 0.0 if i % 4 == 0 else 1000.0 + 250 * i,
            "days_past_due": 10 * i - 40,
            "is_disputed": i == 5,
            "is_paid": i % 4 == 0,
            "is_dunnable": i % 4 != 0 and i != 5,
            "status": "posted",
        }
        for i in range(12)
    ]


def build_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    for contract in ALL_STREAMS:
        create_raw_table(con, contract)
    for table, rows in clean_raw_rows().items():
        insert(con, table, rows)
    con.execute("CREATE SCHEMA marts")
    con.execute(
        "CREATE TABLE marts.fct_invoices (invoice_id VARCHAR, customer_id VARCHAR, "
        "amount_total DECIMAL(18,2), amount_open DECIMAL(18,2), days_past_due INTEGER, "
        "is_disputed BOOLEAN, is_paid BOOLEAN, is_dunnable BOOLEAN, status VARCHAR)"
    )
    insert(con, "marts.fct_invoices", clean_fct_invoices())
    con.execute("CREATE TABLE marts.dim_customers AS SELECT customer_id, name FROM raw_erp.customers")
    # The reconciliation mart as dbt builds it: marts and ERP agree on open AR per currency.
    con.execute(
        "CREATE TABLE marts.mart_ar_reconciliation AS "
        "SELECT currency, sum(amount_open) AS erp_open_total, sum(amount_open) AS mart_open_erp_total, "
        "0::DECIMAL(38,2) AS difference, 0::DOUBLE AS relative_difference, 0::DOUBLE AS quarantined_share "
        "FROM raw_erp.invoices GROUP BY currency"
    )
    return con


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB file in ``tmp_path`` with clean raw_* and marts tables."""
    con = build_warehouse(tmp_path / "warehouse.duckdb")
    yield con
    con.close()


@pytest.fixture
def as_of() -> date:
    """The business date the clean data is valid for."""
    return AS_OF

"""The dbt bench copies a DuckDB raw layer into PostgreSQL exactly: NULL vs empty text, cents, microseconds.

``bench.dbt_build.copy_raw_to_postgres`` is what the PostgreSQL ``dbt build`` figures rest on, so its
copy must not blur NULL and '' (CSV quoting), round money or drop sub-second instants. Runs against
the real local PostgreSQL in a fresh database, dropped afterwards; skipped when no server answers.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from sql_servers import unreachable_reason

from bench.dbt_build import _pg_connect, copy_raw_to_postgres, drop_pg_database, recreate_pg_database
from connectors.contracts import ALL_STREAMS, INVOICES
from connectors.load import ensure_raw_table

ROWS = [
    ("INV-1", "F-001", "C-1", date(2026, 1, 2), date(2026, 2, 1), "EUR", Decimal("12345678.90"), Decimal("0.01"),
     "posted", None, "paper", datetime(2026, 11, 23, 10, 30, 0, 123456), "erp", "b1", datetime(2026, 11, 23, 11, 0),
     "f.csv"),
    ("INV-2", 'F-"002", x', "C-1", date(2026, 1, 3), date(2026, 2, 2), "USD", Decimal("-5.00"), Decimal("0.00"),
     "cancelled", "", None, datetime(2026, 11, 23, 0, 0), "erp", "b1", datetime(2026, 11, 23, 11, 0), None),
]  # fmt: skip
#: The columns ROWS fill; the contract's optional ERP attributes (document type, dunning block, ...) stay NULL.
COLS = ("invoice_id, number, customer_id, issue_date, due_date, currency, amount_total, amount_open, status, "
        "payment_reference, delivery_method, updated_at, _source, _batch_id, _loaded_at, _file")  # fmt: skip


def test_raw_layer_copies_to_postgres_exactly(tmp_path: Path) -> None:
    reason = unreachable_reason("postgres")
    if reason:
        pytest.skip(reason)
    warehouse = tmp_path / "w.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        for contract in ALL_STREAMS:
            ensure_raw_table(con, contract)
        con.executemany(f"insert into {INVOICES.table} ({COLS}) values ({', '.join('?' * len(ROWS[0]))})", ROWS)
    dbname = f"cobranza_bench_t{uuid.uuid4().hex[:10]}"
    recreate_pg_database(dbname)
    try:
        counts = copy_raw_to_postgres(warehouse, dbname, tmp_path / "spool")
        assert counts[INVOICES.table] == 2 and set(counts) == {c.table for c in ALL_STREAMS}
        assert sum(counts.values()) == 2
        with _pg_connect(dbname) as pg:
            got = pg.execute(f"select {COLS} from {INVOICES.table} order by invoice_id").fetchall()
        assert [tuple(r) for r in got] == ROWS
        assert not list((tmp_path / "spool").glob("*.csv")), "spool files are removed after the copy"
    finally:
        drop_pg_database(dbname)

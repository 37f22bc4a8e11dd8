"""The SQL source passes the shared connector conformance suite on PostgreSQL and MariaDB.

The simulated ERP is written into a unique scratch schema on each real server (skipped with the
reason when the server is unreachable) and dropped afterwards.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from conformance import assert_source_conforms

from connectors.sources.sql import SqlSource, erp_tables_config
from simulator import simulate
from simulator.sql_writer import write_erp_to_database

URLS = {
    "postgres": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}


@pytest.mark.parametrize("backend", sorted(URLS))
def test_sql_source_conforms(backend: str, tmp_path: Path) -> None:
    engine = sa.create_engine(URLS[backend], poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("select 1")).fetchall()
    except sa.exc.OperationalError as exc:
        pytest.skip(f"{backend} server at {URLS[backend]} unreachable: {str(exc.orig).strip()}")
    schema = f"cobranza_conf_{uuid.uuid4().hex[:12]}"
    q = engine.dialect.identifier_preparer.quote
    invoices = f"{q(schema)}.{q('invoices')}"
    manifest = simulate(tmp_path / "landing", profile="S", n_customers=120, seed=3, as_of=date(2026, 11, 23))
    write_erp_to_database(manifest, URLS[backend], schema)

    def corrupt() -> str:
        """The ERP now holds one invoice without its (required) due date, changed after the watermark."""
        with engine.begin() as conn:
            key, top = conn.execute(sa.text(f"select min(invoice_id), max(updated_at) from {invoices}")).one()
            nullable = "alter column due_date drop not null" if backend == "postgres" else "modify due_date date null"
            conn.execute(sa.text(f"alter table {invoices} {nullable}"))
            conn.execute(
                sa.text(f"update {invoices} set due_date = null, updated_at = :t where invoice_id = :k"),
                {"t": top + timedelta(days=1), "k": key},
            )
        return key

    try:
        with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
            landed = assert_source_conforms(
                lambda: SqlSource(erp_tables_config(URLS[backend], schema)), con, corrupt_one_record=corrupt
            )
        assert landed["raw_erp.invoices"] == manifest.row_counts["raw_erp.invoices"]
    finally:
        with engine.begin() as conn:
            kind, cascade = ("schema", " cascade") if backend == "postgres" else ("database", "")
            conn.execute(sa.text(f"drop {kind} if exists {q(schema)}{cascade}"))
        engine.dispose()

"""SQL source against real PostgreSQL and MariaDB: exact landing, incremental merge, quarantine, checks.

The simulator's ERP extracts are written into a scratch schema with ``simulator.sql_writer`` and
synced through ``connectors.sources.sql`` into a temporary DuckDB warehouse with the real
``connectors.base.sync``; what lands must equal the files to the cent.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from sql_servers import Db

from connectors import state
from connectors.base import sync
from connectors.contracts import CREDIT_NOTES, CUSTOMERS, INVOICES, PAYMENT_ALLOCATIONS, StreamContract
from connectors.sources.sql import SqlSource, SqlSourceConfig, SqlSourceError, SqlStreamConfig, erp_tables_config
from simulator import SimulationManifest
from simulator.sql_writer import write_erp_to_database

ERP = (CUSTOMERS, INVOICES, CREDIT_NOTES, PAYMENT_ALLOCATIONS)


def _file_rel(manifest: SimulationManifest, contract: StreamContract) -> str:
    """The extract as a typed DuckDB query (the reference the landed rows must equal)."""
    path = manifest.files[contract.table]
    reader = f"read_csv('{path}', all_varchar = true)" if path.suffix == ".csv" else f"read_parquet('{path}')"
    cols = ", ".join(f"cast({c.name} as {c.type}) as {c.name}" for c in contract.columns)
    return f"select {cols} from {reader}"


def _landed(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    return {c.table: con.execute(f"select count(*) from {c.table}").fetchall()[0][0] for c in ERP}


def _source(db: Db, reader: str = "auto", **options) -> SqlSource:
    return SqlSource(erp_tables_config(db.url, db.schema, reader=reader, **options))


#: Each backend's read paths: connectorx (the default), PostgreSQL COPY, and the SQLAlchemy driver path.
READERS = {"postgres": ("connectorx", "copy", "sqlalchemy"), "mariadb": ("connectorx", "sqlalchemy")}


def _skip_unless_reader_applies(db: Db, reader: str) -> None:
    if reader not in READERS[db.backend]:
        pytest.skip(f"reader {reader} does not apply to {db.backend}")


@pytest.fixture()
def warehouse(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield con
    con.close()


@pytest.mark.parametrize("reader", ["auto", "copy", "sqlalchemy"])
def test_writer_replaces_content_and_sync_lands_exactly_the_files(db: Db, world, warehouse, reader: str) -> None:
    _skip_unless_reader_applies(db, "connectorx" if reader == "auto" else reader)
    first = write_erp_to_database(world, db.url, db.schema)
    counts = write_erp_to_database(world.out_dir, db.url, db.schema)  # idempotent: replaces, never appends
    assert counts == first == {c.name: world.row_counts[c.table] for c in ERP}
    assert db.execute(f"select count(*) from {db.table('invoices')}")[0][0] == world.row_counts["raw_erp.invoices"]

    result = sync(warehouse, _source(db, reader, chunk_rows=1_000))
    assert result.ok, result.refused
    assert _landed(warehouse) == {c.table: world.row_counts[c.table] for c in ERP}
    assert sum(r.rows_quarantined for r in result.landed) == 0
    invoice_batches = [r for r in result.landed if r.stream == INVOICES.table]
    if reader == "sqlalchemy":  # streamed in chunks of chunk_rows
        assert len(invoice_batches) > 1
    else:  # fetched whole (connectorx in record batches of chunk_rows, or one COPY), landed as one file
        suffix = "(COPY)" if reader == "copy" else "(connectorx)"
        assert len(invoice_batches) == 1 and invoice_batches[0].origin.endswith(suffix)

    for c in ERP:
        cols = ", ".join(c.column_names)
        for a, b in (
            (f"select {cols} from {c.table}", _file_rel(world, c)),
            (_file_rel(world, c), f"select {cols} from {c.table}"),
        ):
            diff = warehouse.execute(f"select count(*) from ({a} except all {b})").fetchall()[0][0]
            assert diff == 0, f"{c.table}: {diff} row(s) differ from the extract"
    sums = warehouse.execute("select sum(amount_total), sum(amount_open) from raw_erp.invoices").fetchall()[0]
    ref = warehouse.execute(
        f"select sum(amount_total), sum(amount_open) from ({_file_rel(world, INVOICES)})"
    ).fetchall()[0]
    assert sums == ref and all(isinstance(v, Decimal) for v in sums)
    alloc = warehouse.execute("select sum(amount) from raw_erp.payment_allocations").fetchall()[0][0]
    assert (
        alloc
        == warehouse.execute(f"select sum(amount) from ({_file_rel(world, PAYMENT_ALLOCATIONS)})").fetchall()[0][0]
    )
    lineage = warehouse.execute("select distinct _source, _file from raw_erp.customers").fetchall()
    assert lineage[0][0] == "erp_db" and db.schema in lineage[0][1]


def test_second_sync_lands_nothing_and_updated_invoices_merge(db: Db, world, warehouse) -> None:
    write_erp_to_database(world, db.url, db.schema)
    assert sync(warehouse, _source(db)).ok
    second = sync(warehouse, _source(db))
    assert second.ok and sum(r.rows_new for r in second.landed) == 0
    # The incremental read only fetched the look-back window of the merge streams.
    read_inv = sum(r.rows_read for r in second.landed if r.stream == INVOICES.table)
    assert read_inv < world.row_counts[INVOICES.table] / 10
    # So did the append stream: its watermark is the last recorded_at landed, not a full re-read.
    read_alloc = sum(r.rows_read for r in second.landed if r.stream == PAYMENT_ALLOCATIONS.table)
    assert read_alloc < world.row_counts[PAYMENT_ALLOCATIONS.table] / 10
    assert (
        state.get_watermark(warehouse, "erp_db", PAYMENT_ALLOCATIONS.table)
        == (db.execute(f"select max(recorded_at) from {db.table('payment_allocations')}")[0][0])
    )

    top = db.execute(f"select max(updated_at) from {db.table('invoices')}")[0][0]
    keys = [
        r[0]
        for r in db.execute(
            f"select invoice_id from {db.table('invoices')} where amount_open > 0 order by invoice_id limit 5"
        )
    ]
    later = top + timedelta(days=1)
    for k in keys:
        db.execute(
            f"update {db.table('invoices')} set amount_open = 0.01, updated_at = :t where invoice_id = :k",
            {"t": later, "k": k},
        )
    top_alloc = db.execute(f"select max(recorded_at) from {db.table('payment_allocations')}")[0][0]
    db.execute(
        f"insert into {db.table('payment_allocations')} select 'ALLOC-NEW', invoice_id, customer_id, null, "
        f"payment_date, :t, currency, amount from {db.table('payment_allocations')} where recorded_at = :top limit 1",
        {"t": top_alloc + timedelta(hours=1), "top": top_alloc},
    )
    third = sync(warehouse, _source(db))
    assert third.ok
    new_alloc = [r.rows_new for r in third.landed if r.stream == PAYMENT_ALLOCATIONS.table]
    assert sum(new_alloc) == 1
    assert warehouse.execute(
        "select count(*) from raw_erp.payment_allocations where allocation_id = 'ALLOC-NEW'"
    ).fetchall() == [(1,)]
    rows = warehouse.execute(
        "select invoice_id, amount_open, updated_at from raw_erp.invoices where amount_open = 0.01 order by 1"
    ).fetchall()
    assert [r[0] for r in rows] == keys
    assert all(r[1] == Decimal("0.01") and r[2] == later for r in rows)
    assert _landed(warehouse)[INVOICES.table] == world.row_counts[INVOICES.table]


@pytest.mark.parametrize("reader", ["connectorx", "sqlalchemy"])
def test_bad_record_is_quarantined_and_the_rest_lands(db: Db, world, warehouse, reader: str) -> None:
    write_erp_to_database(world, db.url, db.schema)
    key = db.execute(f"select min(invoice_id) from {db.table('invoices')}")[0][0]
    ccy = "EUROS"  # five letters is a valid VARCHAR; it is the missing due date that must be refused
    if db.backend == "postgres":
        db.execute(f"alter table {db.table('invoices')} alter column due_date drop not null")
    else:
        db.execute(f"alter table {db.table('invoices')} modify due_date date null")
    db.execute(
        f"update {db.table('invoices')} set due_date = null, currency = :c where invoice_id = :k", {"c": ccy, "k": key}
    )

    result = sync(warehouse, _source(db, reader))
    assert result.ok, result.refused
    n = world.row_counts[INVOICES.table]
    assert _landed(warehouse)[INVOICES.table] == n - 1
    q = warehouse.execute(
        "select record_key, reason, record from quarantine.raw_records where stream = 'raw_erp.invoices'"
    ).fetchall()
    assert [(k, r) for k, r, _ in q] == [(key, "due_date: required value is missing")]
    assert ccy in q[0][2]


def test_check_names_the_dsn_table_and_missing_column_without_the_password(db: Db, world) -> None:
    write_erp_to_database(world, db.url, db.schema)
    cfg = erp_tables_config(db.url, db.schema)
    cfg.streams["raw_erp.invoices"] = SqlStreamConfig(table="invoices", columns={"amount_open": "residual"})
    with pytest.raises(SqlSourceError, match=r"invoices lacks column\(s\) residual needed by raw_erp.invoices"):
        SqlSource(cfg).check()

    cfg = erp_tables_config(db.url, db.schema)
    cfg.streams["raw_erp.customers"] = SqlStreamConfig(table="partners")
    with pytest.raises(
        SqlSourceError, match=rf"table {db.schema}.partners \(stream raw_erp.customers\) does not exist"
    ):
        SqlSource(cfg).check()

    secret = "Sup3r-Secret"
    bad = db.url.replace("@", f":{secret}@").replace(":5432/", ":1/").replace(":3306/", ":1/")
    with pytest.raises(SqlSourceError) as err:
        SqlSource(erp_tables_config(bad, db.schema)).check()
    assert "cannot connect to" in str(err.value) and "***" in str(err.value)
    assert secret not in str(err.value) and secret not in repr(erp_tables_config(bad, db.schema))


def test_query_stream_with_renamed_columns(db: Db, world, warehouse) -> None:
    write_erp_to_database(world, db.url, db.schema)
    db.execute(
        f"create table {db.table('partner')} as select customer_id as id, name as display_name, tax_id, country, "
        f"city, timezone, currency, payment_terms_days, credit_limit, segment, risk_class, credit_rating, "
        f"credit_rating_date, region, sales_org, company_code, updated_at as write_date "
        f"from {db.table('customers')}"
    )
    cfg = SqlSourceConfig(
        source="odoo_db",
        url=db.url,
        schema=db.schema,
        streams={
            "raw_erp.customers": SqlStreamConfig(
                query=f"select * from {db.table('partner')} where country is not null",
                columns={"customer_id": "id", "name": "display_name", "updated_at": "write_date"},
            )
        },
    )
    result = sync(warehouse, SqlSource(cfg))
    assert result.ok, result.refused
    n = world.row_counts[CUSTOMERS.table]
    assert warehouse.execute("select count(*), count(distinct name) > 1 from raw_erp.customers").fetchall() == [
        (n, True)
    ]
    diff = warehouse.execute(
        f"select count(*) from (select {', '.join(CUSTOMERS.column_names)} from raw_erp.customers "
        f"except all {_file_rel(world, CUSTOMERS)})"
    ).fetchall()[0][0]
    assert diff == 0

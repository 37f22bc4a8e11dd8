"""Every SQL read path (connectorx, PostgreSQL COPY, SQLAlchemy) lands the same exact values on real servers.

A payment-allocations table is created by hand with the awkward types an ERP may use: a zone-aware
instant (MySQL ``TIMESTAMP`` written in a +02:00 session, PostgreSQL ``timestamptz``), a Latin-1
column (MariaDB) and 4-byte UTF-8, NULLs, and money with three decimals. Whatever the path, the
instant lands in UTC, the text byte for byte, and the one amount that does not fit ``DECIMAL(18,2)``
is quarantined with its key while the rest lands.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import sqlalchemy as sa
from sql_servers import Db

from connectors.base import sync
from connectors.sources.sql import SqlSource, SqlSourceConfig, SqlSourceError, SqlStreamConfig

READERS = {"postgres": ("connectorx", "copy", "sqlalchemy"), "mariadb": ("connectorx", "sqlalchemy")}
NAME = "Müller São Zoë 😀"


def _make_allocations(db: Db, amount_type: str = "decimal(18,3)") -> None:
    t = db.table("alloc")
    if db.backend == "postgres":
        db.execute(f"create schema {db.q(db.schema)}")
        db.execute(
            f"create table {t} (allocation_id varchar(20) primary key, invoice_id varchar(20) not null, "
            f"customer_id varchar(60) not null, bank_txn_id varchar(20), payment_date date not null, "
            f"recorded_at timestamptz not null, currency char(3) not null, amount {amount_type} not null)"
        )
        at = "'2026-11-23 12:30:00.250+02'"
    else:
        db.execute(f"create database {db.q(db.schema)}")
        db.execute(
            f"create table {t} (allocation_id varchar(20) primary key, invoice_id varchar(20) not null, "
            f"customer_id varchar(60) character set latin1 not null, "
            f"bank_txn_id varchar(20) character set utf8mb4, payment_date date not null, "
            f"recorded_at timestamp(3) not null, currency char(3) not null, amount {amount_type} not null)"
        )
        at = "'2026-11-23 12:30:00.250'"  # read as +02:00 local time: the session below says so
    latin = NAME.replace(" 😀", "") if db.backend == "mariadb" else NAME
    values = ", ".join(
        f"('A{i}', 'I{i}', :name, {':txn' if i == 1 else 'null'}, '2026-11-20', {at}, 'EUR', {amount})"
        for i, amount in ((1, "12.340"), (2, "0.010"), (3, "12.345"), (4, "-7.500"))
    )
    with db.engine.begin() as conn:
        if db.backend == "mariadb":
            conn.execute(sa.text("set time_zone = '+02:00'"))
        conn.execute(sa.text(f"insert into {t} values {values}"), {"name": latin, "txn": "TXN-😀-ñ"})


def _config(db: Db, reader: str, url: str | None = None) -> SqlSourceConfig:
    return SqlSourceConfig(
        source="erp_db",
        url=url or db.url,
        schema=db.schema,
        reader=reader,
        streams={"raw_erp.payment_allocations": SqlStreamConfig(table="alloc", cursor="recorded_at", chunk_rows=2)},
    )


@pytest.mark.parametrize("reader", ["connectorx", "copy", "sqlalchemy"])
def test_instants_text_nulls_and_money_land_exactly_on_every_path(db: Db, reader: str, tmp_path: Path) -> None:
    if reader not in READERS[db.backend]:
        pytest.skip(f"reader {reader} does not apply to {db.backend}")
    _make_allocations(db)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        result = sync(con, SqlSource(_config(db, reader)))
        assert result.ok, result.refused
        rows = con.execute(
            "select allocation_id, customer_id, bank_txn_id, payment_date, recorded_at, currency, amount "
            "from raw_erp.payment_allocations order by allocation_id"
        ).fetchall()
        quarantined = con.execute(
            "select record_key, reason from quarantine.raw_records where stream = 'raw_erp.payment_allocations'"
        ).fetchall()
    name = NAME.replace(" 😀", "") if db.backend == "mariadb" else NAME
    at = datetime(2026, 11, 23, 10, 30, 0, 250_000)  # 12:30:00.250 at +02:00, in UTC
    assert rows == [
        ("A1", name, "TXN-😀-ñ", date(2026, 11, 20), at, "EUR", Decimal("12.34")),
        ("A2", name, None, date(2026, 11, 20), at, "EUR", Decimal("0.01")),
        ("A4", name, None, date(2026, 11, 20), at, "EUR", Decimal("-7.50")),
    ]
    assert len(quarantined) == 1 and quarantined[0][0] == "A3"
    assert "amount" in quarantined[0][1] and "12.345" in quarantined[0][1]


def test_auto_falls_back_when_connectorx_cannot_map_a_value_and_strict_mode_names_the_relation(
    db: Db, tmp_path: Path
) -> None:
    if db.backend != "postgres":
        pytest.skip("a NaN numeric exists on PostgreSQL only")
    _make_allocations(db, amount_type="numeric")
    db.execute(f"update {db.table('alloc')} set amount = 'NaN' where allocation_id = 'A2'")
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        result = sync(con, SqlSource(_config(db, "auto")))
        assert result.ok, result.refused
        assert [r.origin.rsplit(" ", 1)[-1] for r in result.landed] == ["(COPY)"]
        keys = con.execute("select allocation_id from raw_erp.payment_allocations order by 1").fetchall()
        bad = con.execute("select record_key from quarantine.raw_records order by 1").fetchall()
    assert keys == [("A1",), ("A4",)] and bad == [("A2",), ("A3",)]

    secret = "Sup3r-Secret"  # the local server trusts the connection, so a password is accepted and ignored
    url = db.url.replace("postgres@", f"postgres:{secret}@")
    with duckdb.connect(str(tmp_path / "w2.duckdb")) as con, pytest.raises(SqlSourceError) as err:
        sync(con, SqlSource(_config(db, "connectorx", url)), fail_fast=True)
    message = str(err.value)
    assert f"{db.schema}.alloc" in message and "connectorx read failed" in message
    assert secret not in message and "***" in message

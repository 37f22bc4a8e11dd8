"""Connector bookkeeping in the warehouse: loaded files, stream watermarks, quarantined records.

All three live in the ``_cobranza`` / ``quarantine`` schemas of the same DuckDB file as the raw
tables, so they are written in the same transaction as the batch they describe: a watermark or a
"file loaded" mark can never be durable while its rows are not (STYLE.md: "written after the batch
is durable").

DuckDB 2 refuses new work on a connection while a result is half-read, so every query here is
fetched to the end (``fetchall``), never ``fetchone``.
"""

from __future__ import annotations

import duckdb

DDL = """
create schema if not exists _cobranza;
create schema if not exists quarantine;
create table if not exists _cobranza.loaded_files (
    stream varchar not null,
    file_sha256 varchar not null,
    file_path varchar not null,
    batch_id varchar not null,
    rows_read bigint not null,
    rows_loaded bigint not null,
    rows_quarantined bigint not null,
    loaded_at timestamp not null
);
create table if not exists _cobranza.stream_state (
    source varchar not null,
    stream varchar not null,
    watermark timestamp,
    batch_id varchar not null,
    updated_at timestamp not null
);
create table if not exists quarantine.raw_files (
    quarantined_at timestamp not null,
    stream varchar not null,
    origin varchar not null,
    reason varchar not null
);
-- Content hash of a file set aside whole, and the key under which it is not read again: the hash
-- plus the fingerprint of how it is read (a fixed column mapping re-reads the same bytes) (issue 16).
alter table quarantine.raw_files add column if not exists file_sha256 varchar;
alter table quarantine.raw_files add column if not exists quarantine_key varchar;
create table if not exists quarantine.raw_records (
    quarantined_at timestamp not null,
    stream varchar not null,
    file_path varchar not null,
    row_number bigint,
    record_key varchar,
    reason varchar not null,
    record json,
    batch_id varchar not null
);
"""


def ensure_state_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the bookkeeping schemas and tables if they do not exist."""
    con.execute(DDL)


def file_already_loaded(con: duckdb.DuckDBPyConnection, stream: str, sha256: str) -> bool:
    """True when a file with this content hash was already loaded into ``stream``."""
    row = con.execute(
        "select 1 from _cobranza.loaded_files where stream = ? and file_sha256 = ? limit 1", [stream, sha256]
    ).fetchall()
    return bool(row)


def file_quarantined(con: duckdb.DuckDBPyConnection, stream: str, key: str) -> tuple[object, str] | None:
    """When and why a file with this quarantine key (content + how it is read) was set aside for ``stream``."""
    row = con.execute(
        "select quarantined_at, reason from quarantine.raw_files where stream = ? and quarantine_key = ? "
        "order by quarantined_at limit 1",
        [stream, key],
    ).fetchall()
    return (row[0][0], row[0][1]) if row else None


def get_watermark(con: duckdb.DuckDBPyConnection, source: str, stream: str):
    """Latest durable cursor value of ``(source, stream)``, or None before the first load."""
    row = con.execute(
        "select watermark from _cobranza.stream_state where source = ? and stream = ? order by updated_at desc limit 1",
        [source, stream],
    ).fetchall()
    return row[0][0] if row else None


def set_watermark(con: duckdb.DuckDBPyConnection, source: str, stream: str, watermark, batch_id: str) -> None:
    """Append the new watermark (call inside the batch's transaction)."""
    con.execute(
        "insert into _cobranza.stream_state values (?, ?, ?, ?, now()::timestamp)",
        [source, stream, watermark, batch_id],
    )

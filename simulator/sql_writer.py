"""Write the simulator's ERP extracts into a SQL database, as an ERP's own database would hold them.

The SQL source connector (``connectors.sources.sql``) is tested and benchmarked against a real
PostgreSQL and a real MariaDB holding the simulated ERP: ``customers``, ``invoices``,
``credit_notes`` and ``payment_allocations`` in one schema (``cobranza_erp`` by default; on MariaDB
a schema is a database), with real column types (``NUMERIC(18,2)`` / ``DECIMAL(18,2)``, ``DATE``,
``TIMESTAMP`` / ``DATETIME(6)``), the contract's primary keys and an index on the cursor column.

Fast paths, no per-row Python on the way in:

- PostgreSQL: ``COPY ... FROM STDIN (FORMAT csv)`` through psycopg 3's ``cursor.copy``, fed with
  CSV that Arrow renders chunk by chunk (https://www.psycopg.org/psycopg3/docs/basic/copy.html).
- MariaDB/MySQL: ``LOAD DATA LOCAL INFILE`` of a tab-separated file built column-wise with Arrow
  compute (https://mariadb.com/kb/en/load-data-infile/); when the server refuses local infile, a
  chunked multi-row ``INSERT`` (``executemany``) instead.

Writing is idempotent: each table is rebuilt and swapped in (one transaction on PostgreSQL; a new
table renamed over the old one on MariaDB, whose DDL is not transactional), so re-writing replaces
the content and a reader never sees a half-loaded table.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import sqlalchemy as sa

from connectors import contracts
from connectors.contracts import StreamContract
from simulator.writers import MANIFEST_FILE, STREAM_FILES, SimulationManifest

log = logging.getLogger(__name__)

ERP_STREAMS: tuple[StreamContract, ...] = (
    contracts.CUSTOMERS,
    contracts.INVOICES,
    contracts.CREDIT_NOTES,
    contracts.PAYMENT_ALLOCATIONS,
)
DEFAULT_SCHEMA = "cobranza_erp"
CHUNK_ROWS = 100_000


def normalise_url(url: str | sa.URL) -> sa.URL:
    """Pick the drivers this project ships for a bare ``postgresql://`` or ``mysql://`` URL.

    Args:
        url: SQLAlchemy URL or its string form.

    Returns:
        The URL with ``+psycopg`` (PostgreSQL) or ``+pymysql`` (MySQL/MariaDB) as driver when none is given.
    """
    u = sa.make_url(url) if isinstance(url, str) else url
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    elif u.drivername in ("mysql", "mariadb"):
        u = u.set(drivername=f"{u.drivername}+pymysql")
    return u


def cursor_column(contract: StreamContract) -> str:
    """The column an incremental reader filters on: the contract cursor, or ``recorded_at`` for allocations."""
    if contract.cursor:
        return contract.cursor
    for candidate in ("recorded_at", "occurred_at"):
        if candidate in contract.column_names:
            return candidate
    return contract.primary_key[0]


def _sql_type(type_: str, dialect: str) -> str:
    t = type_.upper()
    if t.startswith("DECIMAL"):
        return t.replace("DECIMAL", "NUMERIC") if dialect == "postgresql" else t
    if t == "TIMESTAMP":
        # MariaDB TIMESTAMP is an epoch converted through the session time zone (and ends in 2038);
        # DATETIME holds the naive UTC instant the contract means.
        return "TIMESTAMP" if dialect == "postgresql" else "DATETIME(6)"
    if t == "VARCHAR":
        return "TEXT" if dialect == "postgresql" else "VARCHAR(255)"
    return t


def create_table_sql(contract: StreamContract, qualified: str, dialect: str, quote) -> str:  # noqa: ANN001 - quote fn
    """``CREATE TABLE`` for one ERP stream with real types, NOT NULL where required and its primary key."""
    cols = [
        f"{quote(c.name)} {_sql_type(c.type, dialect)}{'' if c.nullable else ' NOT NULL'}" for c in contract.columns
    ]
    cols.append(f"PRIMARY KEY ({', '.join(quote(k) for k in contract.primary_key)})")
    suffix = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin" if dialect != "postgresql" else ""
    return f"CREATE TABLE {qualified} ({', '.join(cols)}){suffix}"


def _source_files(out_dir_or_manifest: Path | str | SimulationManifest) -> dict[str, Path]:
    if isinstance(out_dir_or_manifest, SimulationManifest):
        return dict(out_dir_or_manifest.files)
    path = Path(out_dir_or_manifest)
    if path.name == MANIFEST_FILE:
        path = path.parent
    if (path / MANIFEST_FILE).is_file():
        return dict(SimulationManifest.read(path).files)
    return {table: path / rel for table, rel in STREAM_FILES.items()}


def read_stream(file: Path, contract: StreamContract, chunk_rows: int = CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
    """Read one extract typed as its contract, in record batches (DuckDB streams the file).

    Args:
        file: The simulator's CSV or Parquet extract.
        contract: Its stream contract (column order and types).
        chunk_rows: Rows per record batch.

    Yields:
        Record batches with contract column names and types.
    """
    lit = "'" + str(file).replace("'", "''") + "'"
    reader = (
        f"read_csv({lit}, header = true, all_varchar = true)"
        if file.suffix.lower() == ".csv"
        else f"read_parquet({lit})"
    )
    select = ", ".join(f'cast("{c.name}" as {c.type}) as "{c.name}"' for c in contract.columns)
    con = duckdb.connect()
    con.execute("set enable_progress_bar = false")
    try:
        yield from con.sql(f"select {select} from {reader}").to_arrow_reader(chunk_rows)
    finally:
        con.close()


def write_erp_to_database(
    out_dir_or_manifest: Path | str | SimulationManifest,
    url: str | sa.URL,
    schema: str = DEFAULT_SCHEMA,
    *,
    chunk_rows: int = CHUNK_ROWS,
) -> dict[str, int]:
    """Write the simulated ERP streams into ``schema`` of the database at ``url``, replacing them.

    Args:
        out_dir_or_manifest: The simulator's output folder, its ``manifest.json`` or the manifest.
        url: SQLAlchemy URL of a PostgreSQL or MariaDB/MySQL database (the password is never logged).
        schema: Target schema (PostgreSQL) or database (MariaDB); created when missing.
        chunk_rows: Rows per chunk sent to the server.

    Returns:
        Stream name -> rows written.

    Raises:
        FileNotFoundError: An ERP extract is missing.
        ValueError: The database is neither PostgreSQL nor MariaDB/MySQL.
    """
    files = _source_files(out_dir_or_manifest)
    u = normalise_url(url)
    dialect = u.get_backend_name()
    if dialect not in ("postgresql", "mysql", "mariadb"):
        raise ValueError(f"{u.render_as_string(hide_password=True)}: only PostgreSQL and MariaDB/MySQL are supported")
    for c in ERP_STREAMS:
        if c.table not in files or not files[c.table].is_file():
            raise FileNotFoundError(
                f"ERP extract for {c.table} not found (expected {files.get(c.table)}); run simulate"
            )
    connect_args = {"local_infile": True} if dialect != "postgresql" else {}
    engine = sa.create_engine(u, connect_args=connect_args, poolclass=sa.pool.NullPool)
    counts: dict[str, int] = {}
    try:
        for contract in ERP_STREAMS:
            raw = engine.raw_connection()
            try:
                dbapi = raw.driver_connection
                if dialect == "postgresql":
                    n = _write_postgres(dbapi, contract, files[contract.table], schema, chunk_rows)
                else:
                    n = _write_mysql(dbapi, contract, files[contract.table], schema, chunk_rows)
            finally:
                raw.close()
            counts[contract.name] = n
            log.info("%s.%s: %d rows written to %s", schema, contract.name, n, u.render_as_string(hide_password=True))
    finally:
        engine.dispose()
    return counts


def _pg_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _write_postgres(con, contract: StreamContract, file: Path, schema: str, chunk_rows: int) -> int:  # noqa: ANN001
    table = f"{_pg_quote(schema)}.{_pg_quote(contract.name)}"
    cols = ", ".join(_pg_quote(c) for c in contract.column_names)
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    rows = 0
    with con.transaction(), con.cursor() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {_pg_quote(schema)}")
        cur.execute(f"DROP TABLE IF EXISTS {table}")
        cur.execute(create_table_sql(contract, table, "postgresql", _pg_quote))
        # Arrow writes nulls as an empty unquoted field and strings quoted, which is exactly how
        # PostgreSQL's CSV format tells NULL from the empty string.
        with cur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as copy:
            for batch in read_stream(file, contract, chunk_rows):
                sink = pa.BufferOutputStream()
                pa_csv.write_csv(batch, sink, options)
                copy.write(sink.getvalue().to_pybytes())
                rows += batch.num_rows
        cursor = cursor_column(contract)
        cur.execute(f"CREATE INDEX {_pg_quote(f'ix_{contract.name}_{cursor}')} ON {table} ({_pg_quote(cursor)})")
        cur.execute(f"ANALYZE {table}")
    return rows


def _my_quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _tsv_field(col: pa.Array) -> pa.Array:
    """A column as LOAD DATA's default text format: backslash escapes, ``\\N`` for NULL."""
    t = col.type
    if pa.types.is_timestamp(t):
        text = col.cast(pa.string())
    elif pa.types.is_string(t) or pa.types.is_large_string(t):
        text = col
        for raw, esc in (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r")):
            text = pc.replace_substring(text, raw, esc)
    else:
        text = col.cast(pa.string())
    return pc.fill_null(text, "\\N")


def _write_mysql(con, contract: StreamContract, file: Path, schema: str, chunk_rows: int) -> int:  # noqa: ANN001
    db = _my_quote(schema)
    final = f"{db}.{_my_quote(contract.name)}"
    staging = f"{db}.{_my_quote(contract.name + '__new')}"
    old = f"{db}.{_my_quote(contract.name + '__old')}"
    cols = ", ".join(_my_quote(c) for c in contract.column_names)
    rows = 0
    with con.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {db} CHARACTER SET utf8mb4")
        cur.execute(f"DROP TABLE IF EXISTS {staging}, {old}")
        cur.execute(create_table_sql(contract, staging, "mysql", _my_quote))
        use_infile = True
        fd, tmp = tempfile.mkstemp(prefix=f"cobranza-{contract.name}-", suffix=".tsv")
        os.close(fd)
        try:
            for batch in read_stream(file, contract, chunk_rows):
                if use_infile:
                    fields = [_tsv_field(c) for c in batch.columns]
                    lines = pc.binary_join_element_wise(*fields, "\t") if len(fields) > 1 else fields[0]
                    body = pc.binary_join_element_wise(lines, "\n", "").cast(pa.large_string())
                    with open(tmp, "wb") as fh:
                        _write_string_buffer(body, fh)
                    try:
                        cur.execute(
                            f"LOAD DATA LOCAL INFILE %s INTO TABLE {staging} CHARACTER SET utf8mb4 "
                            f"FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ({cols})",
                            (tmp,),
                        )
                        rows += batch.num_rows
                        continue
                    except Exception as exc:  # noqa: BLE001 - any refusal falls back to INSERT
                        log.warning("LOAD DATA LOCAL INFILE refused (%s); falling back to INSERT", exc)
                        use_infile = False
                marks = ", ".join(["%s"] * len(contract.column_names))
                cur.executemany(f"INSERT INTO {staging} ({cols}) VALUES ({marks})", _rows(batch))
                rows += batch.num_rows
        finally:
            os.unlink(tmp)
        cursor = cursor_column(contract)
        cur.execute(f"CREATE INDEX {_my_quote(f'ix_{contract.name}_{cursor}')} ON {staging} ({_my_quote(cursor)})")
        cur.execute(f"CREATE TABLE IF NOT EXISTS {final} LIKE {staging}")
        cur.execute(f"RENAME TABLE {final} TO {old}, {staging} TO {final}")
        cur.execute(f"DROP TABLE {old}")
    con.commit()
    return rows


def _write_string_buffer(arr: pa.Array, fh) -> None:  # noqa: ANN001 - binary file
    """Write the concatenated characters of a large_string array without building Python strings."""
    if len(arr) == 0:
        return
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64, count=len(arr) + 1 + arr.offset)[arr.offset :]
    fh.write(memoryview(arr.buffers()[2])[offsets[0] : offsets[-1]])


def _rows(batch: pa.RecordBatch) -> list[tuple]:
    """Fallback path only: the batch as Python tuples for ``executemany``."""
    return list(zip(*(c.to_pylist() for c in batch.columns), strict=True))

"""Warehouse I/O for DuckDB: open the file, read a table into pandas, write a result table.

Moves bytes only. Money columns come back as ``Decimal`` (DuckDB DECIMAL -> Python Decimal) and
go back in as DECIMAL; nothing here rounds or converts to float. A frame is written with the types
its table declares (:func:`as_declared`), never with types DuckDB infers from the frame: DuckDB sizes
a pandas column of ``Decimal``s from a 1,000-row sample, so a large amount outside the sample (ten
billion COP) failed to fit "DECIMAL(12,2)" at profile L (issue 19).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

log = logging.getLogger(__name__)

#: The bounds :func:`connect` applies to every connection of this process (:func:`set_limits`).
_LIMITS: dict[str, object] = {}


def configure(
    con: duckdb.DuckDBPyConnection,
    memory_limit: str | None = None,
    threads: int | None = None,
    temp_directory: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """Bound a DuckDB connection: ``memory_limit`` (e.g. ``3GB``), worker ``threads``, spill ``temp_directory``.

    Past the memory limit DuckDB spills joins, aggregates and sorts to the temp folder instead of
    growing (at profile L an unbounded build peaked at 17-20 GiB, bench/RESULTS.md). ``None`` leaves
    DuckDB's own default. Returns ``con``.

    The temp folder belongs to the database instance, which every connection of the process to the
    same file shares, and DuckDB refuses to set it again (even to the same folder) once it has spilled
    there: it is only set when another folder is in force, and a folder already spilled to stays.
    """
    if temp_directory is not None:
        Path(temp_directory).mkdir(parents=True, exist_ok=True)
        wanted = str(temp_directory)
        if con.execute("select current_setting('temp_directory')").fetchone()[0] != wanted:
            try:
                con.execute("set temp_directory = '" + wanted.replace("'", "''") + "'")
            except duckdb.NotImplementedException as exc:  # spilled to the other folder already
                log.warning("DuckDB keeps its temp folder for this process (%s); %s not applied", exc, wanted)
    if memory_limit:
        con.execute("set memory_limit = '" + str(memory_limit).replace("'", "''") + "'")
    if threads:
        con.execute(f"set threads = {int(threads)}")
    return con


def set_limits(memory_limit: str | None = None, threads: int | None = None, temp_directory: Path | None = None) -> None:
    """Make :func:`connect` :func:`configure` every later connection of this process with these bounds.

    The run context sets them once from ``warehouse.memory_limit/threads/temp_directory``, so every
    stage's connection is bounded without each caller passing them on.
    """
    _LIMITS.clear()
    _LIMITS.update(memory_limit=memory_limit, threads=threads, temp_directory=temp_directory)


def limits() -> dict[str, object]:
    """The bounds :func:`connect` applies (empty: DuckDB's defaults)."""
    return dict(_LIMITS)


#: Fragments of DuckDB's messages for a file that is not (or no longer) a whole DuckDB database.
_DAMAGED = ("not a valid DuckDB database file", "Could not read enough bytes", "Corrupt database file")


class StoreDamaged(RuntimeError):
    """A DuckDB file exists but cannot be read as a database (truncated, overwritten, not DuckDB)."""


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the DuckDB warehouse file, bounded by :func:`set_limits` if set.

    Raises:
        StoreDamaged: The file exists but is truncated or not a DuckDB database; the message names the
            file and what to do (nothing is created over it, so the damaged file stays for recovery).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(str(path))
    except duckdb.IOException as exc:
        if not any(fragment in str(exc) for fragment in _DAMAGED):
            raise
        raise StoreDamaged(
            f"{path} ({path.stat().st_size:,} bytes) exists but is not a readable DuckDB database: {exc}. "
            "It is truncated or was overwritten. Do not delete it if it is the operational store (it holds "
            "the outbox: what was sent). Restore it from a backup, or move it aside and rebuild (the "
            "warehouse: `cobranza run --full-refresh`; the published copy: the next run republishes it)"
        ) from exc
    return configure(con, **_LIMITS) if _LIMITS else con


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """One DuckDB transaction: committed when the block ends, rolled back if it raises."""
    con.execute("begin transaction")
    try:
        yield con
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


def table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    """True when ``schema.table`` exists."""
    schema, name = table.split(".", 1)
    rows = con.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchall()
    return bool(rows)


def read_frame(
    con: duckdb.DuckDBPyConnection, table: str, where: str | None = None, order_by: str | None = None
) -> pd.DataFrame:
    """Read a whole table (optionally filtered by a SQL predicate) into pandas.

    Goes through Arrow (``con.sql``, which avoids an extra copy), not ``.df()``: DuckDB's ``.df()``
    turns DECIMAL into float64, Arrow keeps ``decimal128`` and pandas then holds exact ``Decimal``s.
    DuckDB scans in parallel, so row order is only stable with ``order_by`` (training needs it to
    be reproducible).
    """
    sql = (
        f"select * from {table}" + (f" where {where}" if where else "") + (f" order by {order_by}" if order_by else "")
    )
    return con.sql(sql).to_arrow_table().to_pandas()


def as_declared(con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame) -> pa.Table:
    """``frame`` as an Arrow table typed like the columns of ``table`` it carries (DECIMAL(p,s) -> decimal128(p,s)).

    Raises:
        ValueError: If a value does not fit its declared column (e.g. an amount wider than the
            column's DECIMAL precision, or with more decimal places), naming the table and column.
    """
    declared = con.sql(f"select * from {table} limit 0").to_arrow_table().schema
    missing = [c for c in frame.columns if c not in declared.names]
    if missing:
        raise ValueError(f"{table} has no column(s) {missing}; the frame written to it must match its DDL")
    schema = pa.schema([declared.field(c) for c in frame.columns])
    try:
        return pa.Table.from_pandas(frame, schema=schema, preserve_index=False, safe=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        for field in schema:
            try:
                pa.array(frame[field.name], type=field.type, from_pandas=True, safe=True)
            except (pa.ArrowInvalid, pa.ArrowTypeError) as col_exc:
                raise ValueError(
                    f"{table}.{field.name} is declared {field.type}; a value of the frame does not fit it: {col_exc}"
                ) from exc
        raise ValueError(f"frame does not match the declared columns of {table}: {exc}") from exc


def replace_partition(
    con: duckdb.DuckDBPyConnection, table: str, frame: pd.DataFrame, ddl: str, partition: dict[str, object]
) -> int:
    """Atomically replace the rows of one partition (e.g. one as-of date) with ``frame``.

    Args:
        con: Warehouse connection.
        table: ``schema.table`` to write.
        frame: Rows to write; its columns must match ``ddl`` by name.
        ddl: Column definitions used when the table is created.
        partition: Column -> value identifying the partition being replaced.

    Returns:
        Number of rows written.
    """
    schema = table.split(".", 1)[0]
    con.execute(f"create schema if not exists {schema}")
    con.execute(f"create table if not exists {table} ({ddl})")
    where = " and ".join(f"{k} = ?" for k in partition)
    con.register("_frame", as_declared(con, table, frame))
    try:
        with transaction(con):
            con.execute(f"delete from {table} where {where}", list(partition.values()))
            cols = ", ".join(frame.columns)
            con.execute(f"insert into {table} ({cols}) select {cols} from _frame")
    finally:
        con.unregister("_frame")
    return len(frame)


def row_counts(con: duckdb.DuckDBPyConnection, schemas: list[str]) -> dict[str, dict[str, int]]:
    """Rows per table for each schema, for the run summary."""
    out: dict[str, dict[str, int]] = {}
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_schema in (select unnest(?)) order by 1, 2",
        [schemas],
    ).fetchall()
    for schema, name in tables:
        out.setdefault(schema, {})[name] = con.execute(f'select count(*) from {schema}."{name}"').fetchall()[0][0]
    return out

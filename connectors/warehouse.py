"""Warehouse I/O for DuckDB: open the file, read a table into pandas, write a result table.

Moves bytes only. Money columns come back as ``Decimal`` (DuckDB DECIMAL -> Python Decimal) and
go back in as DECIMAL; nothing here rounds or converts to float.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pandas as pd


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the DuckDB warehouse file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path))


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
    con.register("_frame", frame)
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

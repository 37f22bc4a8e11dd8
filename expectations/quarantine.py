"""The quarantine table: which raw rows failed which expectation, and why.

``quarantine.gx_failures`` in the warehouse (DuckDB) is append-only: every gate run adds one row per
(failing record, expectation) with the time of the check, so the history of a record's problems is
kept and downstream models can exclude or flag what the latest check rejected. No Great
Expectations import here; the gate builds the rows.
"""

from __future__ import annotations

import logging

import duckdb
import pandas as pd

logger = logging.getLogger(__name__)

SCHEMA = "quarantine"
TABLE = f"{SCHEMA}.gx_failures"

#: Column name -> DuckDB type, in table order. The first six are the documented contract.
COLUMNS: dict[str, str] = {
    "checked_at": "TIMESTAMP NOT NULL",
    "table_name": "VARCHAR NOT NULL",
    "record_key": "VARCHAR",
    "expectation": "VARCHAR NOT NULL",
    "severity": "VARCHAR NOT NULL",
    "reason": "VARCHAR NOT NULL",
    "suite_name": "VARCHAR",
    "column_name": "VARCHAR",
}


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``quarantine`` schema and ``quarantine.gx_failures`` if they do not exist."""
    columns = ",\n    ".join(f"{name} {type_}" for name, type_ in COLUMNS.items())
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (\n    {columns}\n)")


def append(con: duckdb.DuckDBPyConnection, rows: pd.DataFrame) -> int:
    """Append failure rows to ``quarantine.gx_failures``, creating the table if needed.

    Args:
        con: Open, writable DuckDB connection to the warehouse.
        rows: One row per failing record and expectation, with the columns of :data:`COLUMNS`
            (missing optional columns are stored as NULL).

    Returns:
        The number of rows appended.
    """
    if rows.empty:
        return 0
    ensure_table(con)
    frame = rows.reindex(columns=list(COLUMNS))
    names = ", ".join(COLUMNS)
    view = "_cobranza_gx_quarantine_rows"
    con.register(view, frame)
    try:
        con.execute(f"INSERT INTO {TABLE} ({names}) SELECT {names} FROM {view}")  # noqa: S608 - constants only
    finally:
        con.unregister(view)
    logger.info("quarantined %d row(s) in %s", len(frame), TABLE)
    return len(frame)

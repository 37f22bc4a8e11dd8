"""The decision log ``decisions.nba_decisions``: its schema, its migration, and reading a decided day.

One row per customer decision of a run date (``wait`` rows included, for the audit and the uplift
KPIs), written once per business day: :func:`decided` returns the day's stored decisions so a re-run
keeps them (and their outbox tasks) instead of deciding again; news that arrives later in the day
acts through dispatch-time suppression (``ml.nba.revalidate``), not through a new decision. dbt reads
the table as a source (``models/staging/ops``), created empty before a build by :func:`ensure_table`.

Takes a DuckDB connection (the warehouse), like the rest of ``ml``; reads no settings.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

TABLE = "decisions.nba_decisions"
#: Column definitions of the decision log, in order.
DDL = (
    "as_of_date date, customer_id varchar, contact_id varchar, action varchar, channel varchar, "
    "scheduled_at timestamptz, amount_at_stake decimal(18,2), invoice_ids json, reason_codes json, "
    "arm varchar, intent varchar, segment varchar, currency varchar, risk_score double, p_pay double, "
    "expected_value_usd double, value_over_wait_usd double, rule_profile varchar"
)
COLUMNS = [c.strip().split(" ", 1)[0] for c in DDL.split(", ")]
#: Columns the value-based policy added (issue 6): a log written before lacks them.
COLUMNS_V2 = {
    "arm": "varchar",
    "intent": "varchar",
    "segment": "varchar",
    "currency": "varchar",
    "risk_score": "double",
    "p_pay": "double",
    "expected_value_usd": "double",
    "value_over_wait_usd": "double",
    "rule_profile": "varchar",
}


def exists(con: duckdb.DuckDBPyConnection, table: str = TABLE) -> bool:
    """True when ``schema.table`` exists in the warehouse."""
    schema, name = table.split(".", 1)
    return bool(
        con.execute(
            "select 1 from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
        ).fetchall()
    )


def read(con: duckdb.DuckDBPyConnection, where: str, params: list[Any], order_by: str | None = None) -> pd.DataFrame:
    """Rows of the decision log matching ``where`` (with ``?`` parameters), through Arrow (Decimals kept)."""
    sql = f"select * from {TABLE} where {where}" + (f" order by {order_by}" if order_by else "")
    return con.sql(sql, params=params).to_arrow_table().to_pandas()


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the decision log (empty) if missing and add the columns a log from before issue 6 lacks."""
    con.execute(f"create schema if not exists {TABLE.split('.', 1)[0]}")
    con.execute(f"create table if not exists {TABLE} ({DDL})")
    for col, typ in COLUMNS_V2.items():
        con.execute(f"alter table {TABLE} add column if not exists {col} {typ}")


def decided(con: duckdb.DuckDBPyConnection, as_of: date) -> pd.DataFrame | None:
    """The decisions already stored for business day ``as_of``, or None when it is not decided yet.

    ``amount_at_stake`` comes back as ``Decimal``, as the engine produced it.
    """
    if not exists(con):
        return None
    done = read(con, "as_of_date = ?", [as_of], order_by="customer_id")
    if done.empty:
        return None
    done["amount_at_stake"] = done["amount_at_stake"].map(lambda v: Decimal(str(v)))
    return done


def escalations(con: duckdb.DuckDBPyConnection, as_of: date, lookback_days: int) -> pd.DataFrame | None:
    """Escalations decided in the ``lookback_days`` before ``as_of`` (``escalated_at``), None without a log."""
    if not exists(con):
        return None
    frame = read(
        con,
        "action = 'escalate' and as_of_date < ? and as_of_date >= cast(? as date) - to_days(cast(? as integer))",
        [as_of, as_of, lookback_days],
    )
    return frame.rename(columns={"scheduled_at": "escalated_at"})


def _jsonable_rows(decisions: pd.DataFrame, as_of: date) -> pd.DataFrame:
    frame = decisions.assign(
        as_of_date=as_of,
        invoice_ids=decisions["invoice_ids"].map(json.dumps),
        reason_codes=decisions["reason_codes"].map(json.dumps),
        amount_at_stake=decisions["amount_at_stake"].map(lambda v: None if v is None else Decimal(str(v))),
    )[COLUMNS]
    frame["scheduled_at"] = frame["scheduled_at"].map(lambda t: None if t is None or t != t else t)
    return frame


def store(con: duckdb.DuckDBPyConnection, decisions: pd.DataFrame, as_of: date) -> int:
    """Replace business day ``as_of`` of the decision log with ``decisions`` (one transaction).

    Args:
        con: Warehouse connection.
        decisions: Output of :func:`ml.nba.engine.decide`.
        as_of: The run date.

    Returns:
        Rows written.
    """
    ensure_table(con)
    frame = _jsonable_rows(decisions, as_of)
    cols = ", ".join(frame.columns)
    # Written with the log's declared types, never types DuckDB infers from a sample of the frame
    # (a 1,000-row sample sized a money column DECIMAL(12,2) at profile L, issue 19).
    declared = con.sql(f"select {cols} from {TABLE} limit 0").to_arrow_table().schema
    con.register("_decisions", pa.Table.from_pandas(frame, schema=declared, preserve_index=False, safe=True))
    try:
        con.execute("begin transaction")
        try:
            con.execute(f"delete from {TABLE} where as_of_date = ?", [as_of])
            con.execute(f"insert into {TABLE} ({cols}) select {cols} from _decisions")
        except BaseException:
            con.execute("rollback")
            raise
        con.execute("commit")
    finally:
        con.unregister("_decisions")
    return len(frame)

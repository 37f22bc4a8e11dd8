"""The agent's decision log, ``agent.decisions``: one row per inbound message the agent decided on.

Written in the operational store by ``flows/agent.py`` (one row per message: intent, confidence,
language, the action taken, the hand-off reason, the promise or plan recorded, the reply and hand-off
task ids), copied into the warehouse by :func:`replicate` (new rows by ``interaction_id``) at the start
and the end of every warehouse-writing flow, and read by dbt as the source ``agent.decisions``
(``stg_agent__decisions``: the intent, confidence and action of each inbound message in
``fct_interactions``, and ``mart_agent_kpis``). This module owns the table's DDL in both stores.
"""

from __future__ import annotations

import duckdb

TABLE = "agent.decisions"
_DDL = f"""
create schema if not exists agent;
create table if not exists {TABLE} (
    interaction_id varchar primary key,
    customer_id varchar,
    contact_id varchar,
    channel varchar not null,
    from_addr varchar,
    occurred_at timestamp not null,
    intent varchar not null,
    confidence double not null,
    language varchar,
    agent_action varchar not null,
    handoff_reason varchar,
    invoice_ids varchar[],
    promised_date date,
    promised_amount decimal(38, 6),
    hold_until date,
    plan json,
    reply_task_id varchar,
    handoff_task_id varchar,
    decided_at timestamp not null
);
"""
#: Number of columns (the insert's placeholders).
N_COLUMNS = 19


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``agent.decisions`` if missing (idempotent)."""
    con.execute(_DDL).fetchall()


def replicate(ops: duckdb.DuckDBPyConnection, wh: duckdb.DuckDBPyConnection) -> int:
    """Copy the store's decisions the warehouse does not have yet; return how many."""
    ensure_table(ops)
    ensure_table(wh)
    have = wh.sql(f"select interaction_id from {TABLE}").to_arrow_table()
    ops.register("_agent_have", have)
    try:
        new = ops.sql(
            f"select * from {TABLE} s "
            "where not exists (select 1 from _agent_have h where h.interaction_id = s.interaction_id)"
        ).to_arrow_table()
    finally:
        ops.unregister("_agent_have")
    if not new.num_rows:
        return 0
    wh.register("_agent_new", new)
    try:
        wh.execute(f"insert into {TABLE} by name select * from _agent_new").fetchall()
    finally:
        wh.unregister("_agent_new")
    return new.num_rows

"""The operational store: a small DuckDB file for what runs all day, apart from the warehouse.

The warehouse has one writer at a time and a daily run holds it for many minutes (dbt, training), so
what must happen every few minutes lives here: the outbox (``outbox.contact_tasks``,
``outbox.task_events``, owned by ``connectors.channels.outbox``), the landed webhook events
(``raw_channels.webhook_events``, ``connectors.webhooks.store``), the interactions read from them
(:data:`INTERACTIONS_TABLE`), the log of the dispatcher's and the inbound flow's passes
(:data:`RUNS_TABLE`, the heartbeat that tells whether the dispatcher ran through a task's window) and
the *serving* tables the pre-send re-check reads (:data:`SERVING_INVOICES`, :data:`SERVING_CONTACTS`:
the invoices the waiting tasks name, as the warehouse last computed them - bank-seen payments and
disputes included - and the contact directory with its consent flags), which warehouse writers
refresh. It is opened only for short operations, under its own lock (:func:`connect`), so the
dispatcher never waits for a dbt build.

The warehouse keeps tables of the same names (dbt sources ``outbox.*``, analysts' SQL, the run
summary): :func:`replicate` copies the store's new rows there at the start and the end of every
warehouse-writing flow and is those tables' one writer; interactions are landed through the raw
contract ``raw_crm.interactions`` (``connectors.load``), like every other source. A warehouse whose
outbox predates the store is copied into an empty store first (:func:`seed_from_warehouse`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from connectors import locks, warehouse
from connectors.channels import outbox
from connectors.contracts import INTERACTIONS
from connectors.webhooks import store as webhook_store

#: Interactions read from the webhook events (text columns, the raw contract's landing shape).
INTERACTIONS_TABLE = "inbound.interactions"
#: One row per pass of the dispatcher or the inbound flow (the heartbeat).
RUNS_TABLE = "service.flow_runs"
#: Invoices named by open tasks: ``invoice_id``, ``status``, ``amount_open``, ``is_disputed``.
SERVING_INVOICES = "serving.invoices"
#: The contact directory with consent flags (the warehouse's ``marts.dim_contacts`` columns).
SERVING_CONTACTS = "serving.contacts"
#: Inbound reply outcomes that stop the queued contacts of their customer.
STOPPING_OUTCOMES = ("promise_to_pay", "dispute")

#: The ``raw_crm.interactions`` contract's columns (the store's ``inbound.interactions`` lands that shape).
_INTERACTION_COLUMNS = tuple(INTERACTIONS.column_names)

_DDL = f"""
create schema if not exists inbound;
create table if not exists {INTERACTIONS_TABLE} (
    {", ".join(f"{c} varchar" + (" primary key" if c == "interaction_id" else "") for c in _INTERACTION_COLUMNS)},
    _landed_at timestamp not null
);
create schema if not exists service;
create table if not exists {RUNS_TABLE} (
    flow varchar not null,
    clock_at timestamp not null,
    started_at timestamp not null,
    finished_at timestamp,
    summary json
);
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create every table of the store that does not exist yet (idempotent)."""
    outbox.ensure_schema(con)
    webhook_store.ensure_table(con)
    con.execute(_DDL).fetchall()


@contextmanager
def connect(
    path: Path, *, lock_path: Path, who: str, timeout_s: float, on_wait: Any = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """Open the store under its lock for one short operation; closed and unlocked when the block ends.

    Args:
        path: The store's DuckDB file (created with its tables if missing).
        lock_path: Its lock file (``connectors.locks``).
        who: The holder's name written into the lock (the flow).
        timeout_s: Longest wait for the lock before ``locks.LockTimeout``.
        on_wait: Called once with a message if the wait starts.
    """
    with locks.hold(lock_path, who, timeout_s=timeout_s, what=f"the operational store {path}", on_wait=on_wait):
        con = warehouse.connect(path)
        try:
            ensure_schema(con)
            yield con
        finally:
            con.close()


def _naive(ts: datetime) -> datetime:
    return pd.Timestamp(ts).tz_convert("UTC").tz_localize(None).to_pydatetime()


def _arrow(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> pa.Table:
    """Run a query and return its rows as Arrow."""
    return con.sql(sql, params=list(params) or None).to_arrow_table()


def land_interactions(con: duckdb.DuckDBPyConnection, rows: pa.Table, at: datetime) -> int:
    """Append the interactions not in the store yet (``ml.inbound.interactions.build_interactions`` rows).

    Returns:
        How many were new.
    """
    if not rows.num_rows:
        return 0
    con.register("_new_interactions", rows)
    try:
        cols = ", ".join(_INTERACTION_COLUMNS)
        n = con.execute(
            f"""
            insert into {INTERACTIONS_TABLE} ({cols}, _landed_at)
            select distinct on (interaction_id) {cols}, ?::timestamp from _new_interactions s
            where not exists (select 1 from {INTERACTIONS_TABLE} t where t.interaction_id = s.interaction_id)
            """,
            [_naive(at)],
        ).fetchall()
    finally:
        con.unregister("_new_interactions")
    return int(n[0][0]) if n else 0


def stopping_replies(con: duckdb.DuckDBPyConnection, since: date) -> pd.DataFrame:
    """Inbound promises to pay and disputes from ``since`` on: ``customer_id``, ``outcome``, ``occurred_at``."""
    rows = con.execute(
        f"""
        select customer_id, outcome, cast(occurred_at as timestamp) as occurred_at from {INTERACTIONS_TABLE}
        where direction = 'inbound' and outcome in (select unnest(?)) and customer_id is not null
          and cast(occurred_at as timestamp) >= ?
        order by occurred_at
        """,
        [list(STOPPING_OUTCOMES), datetime.combine(since, time(0))],
    ).fetchall()
    return pd.DataFrame(rows, columns=["customer_id", "outcome", "occurred_at"])


def record_run(
    con: duckdb.DuckDBPyConnection,
    flow: str,
    *,
    clock_at: datetime,
    started_at: datetime,
    finished_at: datetime,
    summary: dict[str, Any],
) -> None:
    """Log one pass of a service flow (``clock_at``: its business clock, ``now_utc``)."""
    con.execute(
        f"insert into {RUNS_TABLE} values (?, ?, ?, ?, ?)",
        [flow, _naive(clock_at), _naive(started_at), _naive(finished_at), json.dumps(summary, default=str)],
    ).fetchall()


def passes_between(con: duckdb.DuckDBPyConnection, flow: str, start: datetime, end: datetime) -> tuple[int, Any]:
    """How many passes of ``flow`` ran with their clock in ``[start, end]``, and the last one's clock (or None)."""
    row = con.execute(
        f"select count(*), max(clock_at) from {RUNS_TABLE} where flow = ? and clock_at between ? and ?",
        [flow, _naive(start), _naive(end)],
    ).fetchall()[0]
    return int(row[0]), row[1]


def expire_missed(
    con: duckdb.DuckDBPyConnection,
    now_utc: datetime,
    *,
    flow: str = "dispatcher",
    channels: Sequence[str] | None = None,
) -> int:
    """Dead-letter waiting customer-facing tasks whose lawful window has passed, saying why it was missed.

    The reason names the window and whether the dispatcher ran through it (its passes logged in
    :data:`RUNS_TABLE`): "the dispatcher ran N passes in it (last at T)" points at the sends (errors,
    retries), "the dispatcher did not run during it" at the service being down.

    Returns:
        Tasks expired.
    """
    waiting = outbox.pending_tasks(con, now_utc, states=("pending", "failed"), channels=channels)
    now = pd.Timestamp(now_utc).tz_convert("UTC")
    late = waiting[waiting["channel"].isin(outbox.WRITTEN_CHANNELS) & (waiting["not_after"] < now)]
    events = []
    for r in late.itertuples():
        n, last = passes_between(con, flow, r.not_before.to_pydatetime(), r.not_after.to_pydatetime())
        ran = (
            f"the dispatcher ran {n} pass(es) in it (last at {pd.Timestamp(last).isoformat()} UTC)"
            + (f"; last error: {r.last_error}" if r.last_error else "")
            if n
            else "the dispatcher did not run during it (service stopped or behind schedule)"
        )
        detail = (
            f"window missed: lawful send window {r.not_before.isoformat()} - {r.not_after.isoformat()} ended; {ran}"
        )
        events.append({"task_id": r.task_id, "state": "dead", "at": now_utc, "detail": detail})
    return outbox.record_events(con, events)


def open_task_subjects(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The invoice ids the open tasks name (what :func:`refresh_serving` must publish)."""
    rows = con.execute(
        f"""
        select distinct unnest(t.invoice_ids) from {outbox.TASKS_TABLE} t
        where task_id in (select task_id from ({outbox._CURRENT}) where state in (select unnest(?)))
        """,
        [list(outbox.OPEN_STATES)],
    ).fetchall()
    return sorted(str(r[0]) for r in rows)


def refresh_serving(
    ops: duckdb.DuckDBPyConnection,
    wh: duckdb.DuckDBPyConnection,
    *,
    invoices: str = "marts.fct_invoices",
    contacts: str = "marts.dim_contacts",
) -> dict[str, int]:
    """Replace the serving tables with the warehouse's current invoices (those open tasks name) and contacts.

    Returns:
        Rows written per serving table (``{}`` when the warehouse has no marts yet).
    """
    if not (warehouse.table_exists(wh, invoices) and warehouse.table_exists(wh, contacts)):
        return {}
    named = pa.table({"id": pa.array(open_task_subjects(ops), pa.string())})
    wh.register("_serving_ids", named)
    try:
        found = _arrow(
            wh,
            f"select invoice_id, status, amount_open, is_disputed from {invoices} "
            "where invoice_id in (select id from _serving_ids)",
        )
    finally:
        wh.unregister("_serving_ids")
    people = _arrow(wh, f"select * from {contacts}")
    ops.execute("create schema if not exists serving").fetchall()
    out = {}
    for table, rows in ((SERVING_INVOICES, found), (SERVING_CONTACTS, people)):
        ops.register("_serving_rows", rows)
        try:
            ops.execute(f"create or replace table {table} as select * from _serving_rows").fetchall()
        finally:
            ops.unregister("_serving_rows")
        out[table] = rows.num_rows
    return out


def serving_ready(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether a warehouse writer has published the serving tables yet."""
    return warehouse.table_exists(con, SERVING_INVOICES) and warehouse.table_exists(con, SERVING_CONTACTS)


def _count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    return int(con.execute(f"select count(*) from {table}").fetchall()[0][0])


def seed_from_warehouse(ops: duckdb.DuckDBPyConnection, wh: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Copy a warehouse's outbox and webhook events into an empty store (the first run after upgrading).

    Event sequence numbers are kept, and the store's sequence moved past them, so the replica and
    the store agree row for row. Does nothing when the store already has tasks or the warehouse none.
    """
    if _count(ops, outbox.TASKS_TABLE) or not warehouse.table_exists(wh, outbox.TASKS_TABLE):
        return {}
    if not _count(wh, outbox.TASKS_TABLE):
        return {}
    out = {}
    for table in (outbox.TASKS_TABLE, outbox.EVENTS_TABLE, webhook_store.TABLE):
        if not warehouse.table_exists(wh, table):
            continue
        rows = _arrow(wh, f"select * from {table}")
        ops.register("_seed_rows", rows)
        try:
            ops.execute(f"insert into {table} by name select * from _seed_rows").fetchall()
        finally:
            ops.unregister("_seed_rows")
        out[table] = rows.num_rows
    top = ops.execute(f"select coalesce(max(event_seq), 0) from {outbox.EVENTS_TABLE}").fetchall()[0][0]
    ops.execute(f"select max(nextval('{outbox.SCHEMA}.task_event_seq')) from range(?)", [int(top)]).fetchall()
    return out


def replicate(ops: duckdb.DuckDBPyConnection, wh: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Copy the store's new rows into the warehouse's tables of the same names; return rows copied per table.

    Tasks and webhook events are new by key, task events by sequence number (the store assigns them);
    interactions are landed through the raw contract ``raw_crm.interactions`` (typed, quarantined,
    deduplicated on ``interaction_id``) with ``_source = 'webhooks'``.
    """
    from connectors.contracts import INTERACTIONS
    from connectors.load import land_arrow

    outbox.ensure_schema(wh)
    webhook_store.ensure_table(wh)
    out: dict[str, int] = {}
    for table, key in ((outbox.TASKS_TABLE, "task_id"), (webhook_store.TABLE, "event_id")):
        have = _arrow(wh, f"select {key} from {table}")
        ops.register("_have", have)
        try:
            new = _arrow(
                ops, f"select * from {table} s where not exists (select 1 from _have h where h.{key} = s.{key})"
            )
        finally:
            ops.unregister("_have")
        out[table] = _insert(wh, table, new)
    top = wh.execute(f"select coalesce(max(event_seq), 0) from {outbox.EVENTS_TABLE}").fetchall()[0][0]
    new_events = _arrow(ops, f"select * from {outbox.EVENTS_TABLE} where event_seq > ? order by event_seq", [top])
    out[outbox.EVENTS_TABLE] = _insert(wh, outbox.EVENTS_TABLE, new_events)
    landed = 0
    if warehouse.table_exists(wh, INTERACTIONS.table):
        have = _arrow(wh, f"select interaction_id from {INTERACTIONS.table}")
    else:
        have = pa.table({"interaction_id": pa.array([], pa.string())})
    ops.register("_have", have)
    try:
        rows = _arrow(
            ops,
            f"select {', '.join(_INTERACTION_COLUMNS)} from {INTERACTIONS_TABLE} s "
            "where not exists (select 1 from _have h where h.interaction_id = s.interaction_id)",
        )
    finally:
        ops.unregister("_have")
    if rows.num_rows:
        landed = land_arrow(wh, INTERACTIONS, rows, source="webhooks", origin="webhook events").rows_new or 0
    out[INTERACTIONS.table] = int(landed)
    return out


class SchemaAhead(RuntimeError):
    """The store holds columns the warehouse's table of the same name lacks (written by a newer version)."""


def _insert(con: duckdb.DuckDBPyConnection, table: str, rows: pa.Table) -> int:
    if not rows.num_rows:
        return 0
    schema, name = table.split(".", 1)
    known = {
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchall()
    }
    ahead = [c for c in rows.column_names if c not in known]
    if ahead:
        raise SchemaAhead(
            f"the operational store's {table} has columns the warehouse's {table} lacks: {', '.join(ahead)} "
            f"({rows.num_rows} rows not replicated, none of them written). The store was written by a newer "
            "Cobranza than this one: upgrade this installation (every process of the service runs one "
            "version), then run again; the rows stay in the store until then"
        )
    con.register("_replica_rows", rows)
    try:
        with warehouse.transaction(con):
            con.execute(f"insert into {table} by name select * from _replica_rows").fetchall()
    finally:
        con.unregister("_replica_rows")
    return rows.num_rows

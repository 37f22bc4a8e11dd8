"""Append-only outbox of contact tasks and their delivery events, in DuckDB (DESIGN.md §7).

The transactional-outbox pattern: decisions become rows in ``outbox.contact_tasks`` keyed by an
idempotency key, ``sha256(customer_id|decision_date|action)``, so re-running a day's decision never
creates a second task. What happens to a task is a sequence of rows in ``outbox.task_events``
(``pending -> sending -> sent | failed -> ... -> dead``, or ``unknown`` when a crash leaves a send
unconfirmable); the current state is the latest event. Nothing is ever updated or deleted, which is
also the contact log that DESIGN.md §10 asks to keep for at least two years.

``dispatch`` drives any sender that follows :class:`Sender`: it records ``sending`` for each message
*immediately before* that message is handed to the provider, so after a crash a task is either still
``pending`` (never handed over) or ``sending`` (maybe delivered), and ``sending`` tasks are reconciled
with the provider instead of being sent blindly again. A send whose outcome is ambiguous (timeout,
5xx or a connection lost after the request may have been accepted) becomes ``unknown`` and is
reconciled the same way on every later run; one still unconfirmed after the sender's ambiguity
window (``unknown_ttl`` at most; zero for SMTP, which has no lookup) is dead-lettered with
"ambiguous: may have been delivered" for a human to check, never resent, and still counts as a
contact for spacing and caps (:func:`recent_contacts`).

Timing: every task stores its lawful send window ``[not_before, not_after]`` in UTC, decided by the
decision layer (``ml.nba``; this module applies no contact rule itself). ``dispatch`` hands a
customer-facing task over only while ``now`` is inside that window, leaves it pending before, and
dead-letters it (``window missed``) after, so a late run never contacts anyone outside lawful hours.
Decisions that carry no ``not_after`` get ``scheduled_at + DEFAULT_SEND_WINDOW`` for written channels.

Timestamps are stored as naive UTC ``TIMESTAMP`` (house convention ``*_at``) and returned
timezone-aware.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa

from cobranza.logmask import mask
from connectors.channels.base import ClaimFailed, Sender, SendResult
from connectors.warehouse import transaction

__all__ = ["Sender", "SendResult", "dispatch", "enqueue", "pending_tasks", "task_states"]

logger = logging.getLogger(__name__)

SCHEMA = "outbox"
TASKS_TABLE = f"{SCHEMA}.contact_tasks"
EVENTS_TABLE = f"{SCHEMA}.task_events"
STATES = ("pending", "sending", "sent", "failed", "dead", "unknown")
#: Prefix of the detail of a dead task that may have reached the customer (it counts as a contact).
AMBIGUOUS_DEAD = "ambiguous: may have been delivered"
#: States ``dispatch`` picks up; ``sending`` and ``unknown`` only to reconcile with the provider.
OPEN_STATES = ("pending", "failed", "sending", "unknown")
#: Channels whose tasks reach the customer directly and so must be sent inside the lawful window.
WRITTEN_CHANNELS = ("email", "whatsapp", "sms")
#: Send window of a written task when the decision gives no ``not_after``.
DEFAULT_SEND_WINDOW = timedelta(minutes=30)
#: How long a task to an agent or an internal queue may wait before it is stale.
DEFAULT_TASK_WINDOW = timedelta(days=7)
#: Actions that become tasks; ``wait`` is an audit-only decision.
OUTBOX_ACTIONS = ("email", "whatsapp", "sms", "call_task", "dispute_review", "alert_review")
#: Channels that are not a contact with the customer (excluded from spacing).
INTERNAL_CHANNELS = ("internal",)

_DDL = f"""
create schema if not exists {SCHEMA};
create sequence if not exists {SCHEMA}.task_event_seq;
create table if not exists {TASKS_TABLE} (
    task_id varchar primary key,
    customer_id varchar not null,
    contact_id varchar,
    decision_date date not null,
    action varchar not null,
    channel varchar not null,
    scheduled_at timestamp not null,
    not_before timestamp,
    not_after timestamp,
    amount_at_stake decimal(18, 2) not null,
    currency varchar not null,
    invoice_ids varchar[] not null,
    reason_codes varchar[] not null,
    payload json not null,
    created_at timestamp not null
);
create table if not exists {EVENTS_TABLE} (
    event_seq bigint primary key default nextval('{SCHEMA}.task_event_seq'),
    task_id varchar not null,
    state varchar not null check (state in ({", ".join(repr(s) for s in STATES)})),
    event_at timestamp not null,
    detail varchar,
    provider_message_id varchar
);
alter table {TASKS_TABLE} add column if not exists not_before timestamp;
alter table {TASKS_TABLE} add column if not exists not_after timestamp;
"""

_TASK_COLUMNS = [
    "task_id",
    "customer_id",
    "contact_id",
    "decision_date",
    "action",
    "channel",
    "scheduled_at",
    "not_before",
    "not_after",
    "amount_at_stake",
    "currency",
    "invoice_ids",
    "reason_codes",
    "payload",
    "created_at",
]

_STAGE_SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("customer_id", pa.string()),
        ("contact_id", pa.string()),
        ("decision_date", pa.date32()),
        ("action", pa.string()),
        ("channel", pa.string()),
        ("scheduled_at", pa.timestamp("us")),
        ("not_before", pa.timestamp("us")),
        ("not_after", pa.timestamp("us")),
        ("amount_at_stake", pa.string()),
        ("currency", pa.string()),
        ("invoice_ids", pa.list_(pa.string())),
        ("reason_codes", pa.list_(pa.string())),
        ("payload", pa.string()),
        ("created_at", pa.timestamp("us")),
    ]
)
_EVENT_SCHEMA = pa.schema(
    [
        ("task_id", pa.string()),
        ("state", pa.string()),
        ("event_at", pa.timestamp("us")),
        ("detail", pa.string()),
        ("provider_message_id", pa.string()),
    ]
)

#: Fields of a decision row copied into the task payload (what a sender needs to render).
PAYLOAD_FIELDS = (
    "customer_name",
    "contact_name",
    "language",
    "country",
    "timezone",
    "currency",
    "email",
    "phone",
    "payment_link",
    "local_scheduled_at",
    "amount_at_stake",
    "n_overdue_invoices",
    "max_days_past_due",
    "risk_score",
    "invoices",
)


def task_key(customer_id: str, decision_date: date, action: str) -> str:
    """Idempotency key of a contact task: ``sha256(customer_id|decision_date|action)`` hex."""
    raw = f"{customer_id}|{decision_date.isoformat()}|{action}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the ``outbox`` schema, tables and sequence if they do not exist (idempotent)."""
    con.execute(_DDL)


def _utc_naive(ts: Any) -> datetime:
    t = pd.Timestamp(ts)
    if t.tzinfo is None:
        raise ValueError(f"timestamp {ts!r} is naive; outbox timestamps must be timezone-aware UTC")
    return t.tz_convert("UTC").tz_localize(None).to_pydatetime()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and value != value:  # NaN
        return None
    raise TypeError(f"cannot serialise {type(value).__name__} in an outbox payload")


def _payload(row: Mapping[str, Any]) -> str:
    data = {}
    for key in PAYLOAD_FIELDS:
        value = row.get(key)
        if value is not None and not isinstance(value, list | dict) and pd.isna(value):
            value = None
        data[key] = value
    return json.dumps(data, default=_json_default, ensure_ascii=False, sort_keys=True)


def _window(row: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """The task's lawful send window in naive UTC: the decision's own, else a default after the slot."""
    not_before = row.get("not_before")
    not_before = _utc_naive(row["scheduled_at"] if not_before is None or pd.isna(not_before) else not_before)
    not_after = row.get("not_after")
    if not_after is None or pd.isna(not_after):
        span = DEFAULT_SEND_WINDOW if row.get("channel") in WRITTEN_CHANNELS else DEFAULT_TASK_WINDOW
        return not_before, not_before + span
    end = _utc_naive(not_after)
    if end < not_before:
        raise ValueError(
            f"decision for customer {row.get('customer_id')!r}: not_after {end} is before not_before {not_before}; "
            "fix the decision's send window"
        )
    return not_before, end


def enqueue(
    con: duckdb.DuckDBPyConnection,
    decisions: pd.DataFrame,
    decision_date: date,
    *,
    created_at: datetime | None = None,
) -> int:
    """Append the day's decisions as contact tasks: at most one per customer and decision date.

    ``wait`` decisions are not enqueued. Each new task also gets its ``pending`` event. The send
    window is read from the decision's ``not_before``/``not_after`` columns when present.

    Args:
        con: DuckDB connection (the warehouse); the outbox schema is created if needed.
        decisions: Output of ``ml.nba.engine.decide``.
        decision_date: Business date of the decision, part of the idempotency key.
        created_at: Timezone-aware insertion instant (defaults to now, UTC).

    Returns:
        Number of tasks that were new.
    """
    ensure_schema(con)
    todo = decisions[decisions["action"].isin(OUTBOX_ACTIONS)]
    if todo.empty:
        return 0
    if todo["scheduled_at"].isna().any():
        bad = todo.loc[todo["scheduled_at"].isna(), "customer_id"].iloc[0]
        raise ValueError(f"decision for customer {bad!r} has no scheduled_at; cannot enqueue it")
    created = _utc_naive(created_at or datetime.now(UTC))
    records = todo.to_dict("records")
    windows = [_window(r) for r in records]
    stage = {
        "task_id": [task_key(str(r["customer_id"]), decision_date, r["action"]) for r in records],
        "customer_id": [str(r["customer_id"]) for r in records],
        "contact_id": [r.get("contact_id") for r in records],
        "decision_date": [decision_date] * len(records),
        "action": [r["action"] for r in records],
        "channel": [r["channel"] for r in records],
        "scheduled_at": [_utc_naive(r["scheduled_at"]) for r in records],
        "not_before": [w[0] for w in windows],
        "not_after": [w[1] for w in windows],
        "amount_at_stake": [str(r["amount_at_stake"]) for r in records],
        "currency": [r["currency"] for r in records],
        "invoice_ids": [list(r["invoice_ids"]) for r in records],
        "reason_codes": [list(r["reason_codes"]) for r in records],
        "payload": [_payload(r) for r in records],
        "created_at": [created] * len(records),
    }
    staged = pa.table(stage, schema=_STAGE_SCHEMA)
    # One contact task per customer and decision date, inside the batch and against the outbox: a
    # re-run later the same day may decide differently (new bank lines, today's sends now in the
    # interactions), but the customer was already given today's contact, so the first decision stands.
    con.register("_outbox_stage", staged)
    try:
        with transaction(con):
            con.execute(
                f"""
                create or replace temp table _outbox_new as
                select * from (
                    select *, row_number() over (partition by customer_id, decision_date order by task_id) as _rn
                    from _outbox_stage
                ) s
                where _rn = 1
                  and not exists (select 1 from {TASKS_TABLE} t where t.task_id = s.task_id)
                  and not exists (
                      select 1 from {TASKS_TABLE} t
                      where t.customer_id = s.customer_id and t.decision_date = s.decision_date
                  )
                """
            )
            inserted = con.execute(
                f"""
                insert into {TASKS_TABLE} ({", ".join(_TASK_COLUMNS)})
                select task_id, customer_id, contact_id, decision_date, action, channel, scheduled_at,
                       not_before, not_after, cast(amount_at_stake as decimal(18, 2)), currency, invoice_ids,
                       reason_codes, cast(payload as json), created_at
                from _outbox_new
                """
            ).fetchall()
            con.execute(
                f"""
                insert into {EVENTS_TABLE} (task_id, state, event_at, detail)
                select task_id, 'pending', created_at, 'enqueued' from _outbox_new order by task_id
                """
            )
            con.execute("drop table _outbox_new")
    finally:
        con.unregister("_outbox_stage")
    n_new = int(inserted[0][0]) if inserted else 0
    logger.info("outbox enqueue %s: %d decisions, %d new tasks", decision_date, len(todo), n_new)
    return n_new


def message_task_key(message_id: str, action: str) -> str:
    """Idempotency key of a task answering one inbound message: ``sha256(message|<message id>|action)`` hex."""
    return hashlib.sha256(f"message|{message_id}|{action}".encode()).hexdigest()


def enqueue_tasks(con: duckdb.DuckDBPyConnection, tasks: Sequence[Mapping[str, Any]], *, created_at: datetime) -> int:
    """Append tasks that are not a day's decision (answers to an inbound message, hand-offs to a person).

    Each mapping has every column of ``outbox.contact_tasks`` but ``created_at``, ``payload`` as a dict
    and aware timestamps. A task whose ``task_id`` exists is skipped (keyed by the inbound message:
    :func:`message_task_key`), so a re-run never answers twice. Not limited to one per customer and
    day, unlike :func:`enqueue`: a reply does not take the place of the day's reminder.

    Returns:
        Tasks that were new.
    """
    ensure_schema(con)
    if not tasks:
        return 0
    created = _utc_naive(created_at)
    stage = {
        c: [
            (
                _utc_naive(t[c])
                if c in ("scheduled_at", "not_before", "not_after")
                else json.dumps(t[c], default=_json_default, ensure_ascii=False, sort_keys=True)
                if c == "payload"
                else str(t[c])
                if c == "amount_at_stake"
                else list(t[c])
                if c in ("invoice_ids", "reason_codes")
                else t[c]
            )
            for t in tasks
        ]
        for c in _TASK_COLUMNS
        if c != "created_at"
    }
    stage["created_at"] = [created] * len(tasks)
    con.register("_outbox_stage", pa.table(stage, schema=_STAGE_SCHEMA))
    try:
        with transaction(con):
            con.execute(
                f"""
                create or replace temp table _outbox_new as
                select distinct on (task_id) * from _outbox_stage s
                where not exists (select 1 from {TASKS_TABLE} t where t.task_id = s.task_id)
                """
            )
            inserted = con.execute(
                f"""
                insert into {TASKS_TABLE} ({", ".join(_TASK_COLUMNS)})
                select task_id, customer_id, contact_id, decision_date, action, channel, scheduled_at,
                       not_before, not_after, cast(amount_at_stake as decimal(18, 2)), currency, invoice_ids,
                       reason_codes, cast(payload as json), created_at
                from _outbox_new
                """
            ).fetchall()
            con.execute(
                f"""
                insert into {EVENTS_TABLE} (task_id, state, event_at, detail)
                select task_id, 'pending', created_at, 'enqueued' from _outbox_new order by task_id
                """
            )
            con.execute("drop table _outbox_new")
    finally:
        con.unregister("_outbox_stage")
    return int(inserted[0][0]) if inserted else 0


def record_events(con: duckdb.DuckDBPyConnection, events: Iterable[Mapping[str, Any]]) -> int:
    """Append several task events in one statement.

    Args:
        con: DuckDB connection.
        events: Mappings with task_id, state, at (timezone-aware) and optional detail and
            provider_message_id.

    Returns:
        Number of events appended.
    """
    rows = list(events)
    if not rows:
        return 0
    for r in rows:
        if r["state"] not in STATES:
            raise ValueError(f"unknown task state {r['state']!r} for task {r['task_id']}; one of {STATES}")
    instants: dict[Any, datetime] = {}  # a batch's events share one instant: convert it once
    table = pa.table(
        {
            "task_id": [r["task_id"] for r in rows],
            "state": [r["state"] for r in rows],
            "event_at": [instants.get(r["at"]) or instants.setdefault(r["at"], _utc_naive(r["at"])) for r in rows],
            "detail": [None if r.get("detail") is None else mask(r["detail"]) for r in rows],
            "provider_message_id": [r.get("provider_message_id") for r in rows],
        },
        schema=_EVENT_SCHEMA,
    )
    con.register("_outbox_events", table)
    try:
        con.execute(
            f"insert into {EVENTS_TABLE} (task_id, state, event_at, detail, provider_message_id) "
            "select * from _outbox_events"
        )
    finally:
        con.unregister("_outbox_events")
    return len(rows)


#: How a task cancelled by the pre-send re-check is marked: a ``dead`` event whose detail starts so.
CANCELLED_PREFIX = "cancelled before sending: "


def cancel(con: duckdb.DuckDBPyConnection, stale: pd.DataFrame, at: datetime) -> int:
    """Mark waiting tasks dead before they are sent (the re-check found they must not go out).

    Args:
        con: DuckDB connection.
        stale: ``task_id`` and ``reason`` of each task to cancel (``ml.nba.revalidate.stale_tasks``).
        at: Timezone-aware instant of the cancellation.

    Returns:
        Tasks cancelled.
    """
    record_events(
        con,
        (
            {"task_id": r.task_id, "state": "dead", "at": at, "detail": f"{CANCELLED_PREFIX}{r.reason}"}
            for r in stale.itertuples()
        ),
    )
    return len(stale)


def waiting_subjects(
    con: duckdb.DuckDBPyConnection, waiting: pd.DataFrame, *, invoices: str, contacts: str
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The invoices and the contacts the waiting tasks name, as the warehouse has them now.

    Args:
        con: DuckDB connection.
        waiting: Tasks from :func:`pending_tasks` (``invoice_ids``, ``contact_id``).
        invoices: The invoice table (``marts.fct_invoices``): ``invoice_id``, ``status``,
            ``amount_open``, ``is_disputed`` are read.
        contacts: The contact table (``marts.dim_contacts``): every column is read.

    Returns:
        ``(invoices, contacts)`` restricted to the ids the tasks name (only those rows are read).
    """
    named = {
        "_waiting_invoice_ids": pa.table({"id": sorted({str(i) for ids in waiting["invoice_ids"] for i in ids})}),
        "_waiting_contact_ids": pa.table({"id": sorted({str(c) for c in waiting["contact_id"].dropna()})}),
    }
    for name, ids in named.items():
        con.register(name, ids)
    try:
        found_invoices = (
            con.sql(
                f"select invoice_id, status, amount_open, is_disputed from {invoices} "
                "where invoice_id in (select id from _waiting_invoice_ids)"
            )
            .to_arrow_table()
            .to_pandas()
        )
        found_contacts = (
            con.sql(f"select * from {contacts} where contact_id in (select id from _waiting_contact_ids)")
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        for name in named:
            con.unregister(name)
    return found_invoices, found_contacts


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
    """Run a query and keep DECIMAL as Decimal (``.df()`` would turn money into float)."""
    cur = con.execute(sql, list(params))
    cols = [d[0] for d in cur.description]
    return pd.DataFrame(cur.fetchall(), columns=cols)


_CURRENT = f"""
    with cur as (
        select task_id,
               arg_max(state, event_seq) as state,
               count(*) filter (where state = 'sending') as attempts,
               max(event_at) filter (where state = 'sent') as sent_at,
               max(event_at) filter (where state = 'sending') as last_sending_at,
               arg_max(detail, event_seq) filter (where state in ('failed', 'dead', 'unknown')) as last_error,
               arg_max(provider_message_id, event_seq) filter (where state = 'sent') as provider_message_id
        from {EVENTS_TABLE}
        group by task_id
    )
    select t.* replace (
               coalesce(t.not_before, t.scheduled_at) as not_before,
               coalesce(t.not_after, t.scheduled_at + interval 30 minute) as not_after
           ),
           coalesce(cur.state, 'pending') as state, coalesce(cur.attempts, 0) as attempts,
           cur.sent_at, cur.last_sending_at, cur.last_error, cur.provider_message_id
    from {TASKS_TABLE} t left join cur using (task_id)
"""

_TS_COLUMNS = ("scheduled_at", "not_before", "not_after", "created_at", "sent_at", "last_sending_at")


def _aware(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for col in cols:
        df[col] = pd.to_datetime(df[col]).dt.tz_localize("UTC")
    return df


def task_states(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every task with its current state (latest event), attempts, sent time, last error and message id."""
    ensure_schema(con)
    return _aware(_fetch(con, _CURRENT + " order by task_id"), *_TS_COLUMNS)


def pending_tasks(
    con: duckdb.DuckDBPyConnection,
    now_utc: datetime,
    *,
    due_only: bool = False,
    states: Sequence[str] = OPEN_STATES,
    channels: Sequence[str] | None = None,
    actions: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Tasks still to be handled, ordered by schedule.

    Args:
        con: DuckDB connection.
        now_utc: Timezone-aware current instant.
        due_only: Only tasks whose window has opened (``not_before <= now_utc``).
        states: Current states to return (default pending, failed and the ones to reconcile).
        channels: Only tasks of these channels (None = all).
        actions: Only tasks of these actions (None = all; ``agent_reply``: the answers to messages).

    Returns:
        Task columns plus ``state``, ``attempts``, ``sent_at``, ``last_sending_at``, ``last_error``
        and ``provider_message_id``; ``payload`` as a parsed dict.
    """
    ensure_schema(con)
    sql = f"select * from ({_CURRENT}) where state in ({', '.join('?' for _ in states)})"
    params: list[Any] = list(states)
    if due_only:
        sql += " and (not_before <= ? or state in ('sending', 'unknown'))"
        params.append(_utc_naive(now_utc))
    if channels is not None:
        sql += " and channel in (select unnest(?))"
        params.append(list(channels))
    if actions is not None:
        sql += " and action in (select unnest(?))"
        params.append(list(actions))
    df = _fetch(con, sql + " order by scheduled_at, task_id", params)
    df["payload"] = df["payload"].map(json.loads)
    return _aware(df, *_TS_COLUMNS)


def recent_contacts(
    con: duckdb.DuckDBPyConnection, since_utc: datetime, exclude_decision_date: date | None = None
) -> pd.DataFrame:
    """Customer contacts already made or scheduled since ``since_utc``, for spacing rules.

    A contact that may have happened counts: every task still queued, in flight (``sending``,
    ``unknown``) or sent, and dead tasks whose send was ambiguous (detail starting with
    :data:`AMBIGUOUS_DEAD`: an e-mail the relay may have accepted while the dispatcher died, a
    WhatsApp never confirmed). Dead tasks that provably never left (refused, window missed,
    cancelled, gave up after definite failures) and internal tasks are excluded. The contact time is
    the later of the schedule and the actual (or attempted) send, so a late dispatch still counts
    from when it happened.

    Args:
        con: DuckDB connection.
        since_utc: Timezone-aware lower bound.
        exclude_decision_date: Leave out tasks decided on this date, so re-running a day's decision
            reproduces it (its tasks dedupe on their idempotency key) instead of seeing itself.

    Returns:
        DataFrame with customer_id, channel, scheduled_at (UTC, tz-aware).
    """
    ensure_schema(con)
    internal = ", ".join(f"'{c}'" for c in INTERNAL_CHANNELS)
    df = _fetch(
        con,
        f"""
        select customer_id, channel, contact_at as scheduled_at
        from (
            select *, greatest(scheduled_at, coalesce(sent_at, last_sending_at, scheduled_at)) as contact_at
            from ({_CURRENT})
        )
        where (state <> 'dead' or starts_with(coalesce(last_error, ''), ?)) and channel not in ({internal})
          and contact_at >= ?
          and decision_date is distinct from ?
        order by customer_id, scheduled_at
        """,
        [AMBIGUOUS_DEAD, _utc_naive(since_utc), exclude_decision_date],
    )
    if df.empty:
        df = pd.DataFrame({"customer_id": [], "channel": [], "scheduled_at": []})
    return _aware(df, "scheduled_at")


def _task_dicts(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict("records")


def email_threads(con: duckdb.DuckDBPyConnection, customer_ids: Sequence[str]) -> dict[str, list[str]]:
    """Message-IDs of the emails already sent to each customer, oldest first (for In-Reply-To/References)."""
    if not customer_ids:
        return {}
    rows = con.execute(
        f"""
        select t.customer_id, list(e.provider_message_id order by e.event_at, e.event_seq)
        from {TASKS_TABLE} t join {EVENTS_TABLE} e using (task_id)
        where e.state = 'sent' and t.channel = 'email' and e.provider_message_id like '<%>'
          and t.customer_id in (select unnest(?))
        group by t.customer_id
        """,
        [list(customer_ids)],
    ).fetchall()
    return {cid: list(dict.fromkeys(ids)) for cid, ids in rows}


def _with_threads(con: duckdb.DuckDBPyConnection, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    emails = [r["customer_id"] for r in records if r["channel"] == "email"]
    threads = email_threads(con, sorted(set(emails)))
    for r in records:
        if r["channel"] == "email":
            r["thread_message_ids"] = threads.get(r["customer_id"], [])
    return records


def _event(tid: str, state: str, at: datetime, detail: str | None = None, pmid: str | None = None) -> dict[str, Any]:
    # Provider errors may quote the number or address they refused: task events are not for personal data.
    return {
        "task_id": tid,
        "state": state,
        "at": at,
        "detail": None if detail is None else mask(detail),
        "provider_message_id": pmid,
    }


class _Journal:
    """The events of one dispatch run, written as they happen and group-committed across worker threads.

    ``write(events, durable=True)`` returns only once the events are in the warehouse: a worker that
    claims a task (``sending``) blocks until the claim is written, then sends. Writers that arrive
    while another thread is writing queue their events and are committed together by the next
    writer, so N concurrent workers cost about one insert per round, not one per message.
    """

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        self._cond = threading.Condition()
        self._queue: list[dict[str, Any]] = []
        self._queued = 0
        self._written = 0
        self._writing = False
        self._error: BaseException | None = None

    def write(self, events: Sequence[dict[str, Any]], *, durable: bool = True) -> None:
        """Append events; with ``durable`` return only once they (and all queued before) are written."""
        with self._cond:
            if self._error is not None:
                raise ClaimFailed(f"the outbox cannot record events: {self._error}")
            self._queue.extend(events)
            self._queued += len(events)
            mine = self._queued
            while durable and self._written < mine:
                if self._writing:
                    self._cond.wait()
                    continue
                if self._error is not None:
                    raise ClaimFailed(f"the outbox cannot record events: {self._error}")
                batch, upto, self._queue = self._queue, self._queued, []
                self._writing = True
                self._cond.release()
                try:
                    _append_events(self._con, batch)
                except BaseException as exc:
                    self._error = exc
                    raise ClaimFailed(f"the outbox cannot record events: {exc}") from exc
                finally:
                    self._cond.acquire()
                    self._writing = False
                    if self._error is None:
                        self._written = upto
                    self._cond.notify_all()

    def flush(self) -> None:
        """Write whatever is still queued."""
        self.write([], durable=True)


class _FileJournal:
    """The events of one dispatch run, appended to a local write-ahead log as they happen.

    A DuckDB commit costs about 2 ms of CPU whatever its size, so committing every claim and every
    outcome as it happens cost more than the sends themselves (the dispatch bar is 1,000 msg/s on
    2 cores). Instead each event is one ``write(2)`` of a JSON line to ``<warehouse>.<sender>.wal``
    before the call returns - the claim before the request leaves, the outcome as soon as it is
    known - and the batch's events go to the warehouse in one insert per kind at the end of the
    batch, after which the log is emptied. The kernel keeps what was written when the process is
    killed (``kill -9``), so the next :func:`dispatch` folds a dead run's log into the warehouse
    first (:func:`_fold_wal`): its claims become ``sending`` events (reconciled like any crash
    leftover) and its outcomes land as they were. An operating-system crash can lose the log's
    last writes: then the tasks are found ``pending`` or ``sending`` as the warehouse last saw them.
    """

    def __init__(self, hold: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]], path: Path) -> None:
        self._hold = hold
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []

    def write(self, events: Sequence[dict[str, Any]], *, durable: bool = True) -> None:
        """Append events to the log (one ``write``; ``durable`` is implied)."""
        if not events:
            return
        lines = "".join(json.dumps(_wal_row(e), ensure_ascii=False) + "\n" for e in events).encode()
        with self._lock:
            try:
                os.write(self._fd, lines)
            except OSError as exc:
                raise ClaimFailed(f"cannot append to the dispatch log {self.path}: {exc}") from exc
            self._events.extend(events)

    def flush(self) -> None:
        """Put the logged events in the warehouse (claims first), then empty the log."""
        with self._lock:
            events, self._events = self._events, []
            with self._hold() as con:
                record_events(con, [e for e in events if e["state"] == "sending"])
                record_events(con, [e for e in events if e["state"] != "sending"])
                os.ftruncate(self._fd, 0)

    def close(self) -> None:
        """Close the log file."""
        os.close(self._fd)


def _wal_row(event: Mapping[str, Any]) -> dict[str, Any]:
    return {**event, "at": pd.Timestamp(event["at"]).isoformat()}


def _wal_path(con: duckdb.DuckDBPyConnection, sender: Sender) -> Path | None:
    """``<warehouse file>.<sender>.wal``, or None for an in-memory warehouse (nothing survives a crash)."""
    row = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    if not row or not row[0]:
        return None
    name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(getattr(sender, "name", "sender")))
    return Path(f"{row[0]}.{name}.wal")


def land_dispatch_logs(con: duckdb.DuckDBPyConnection) -> int:
    """Fold every dispatcher's write-ahead log next to the warehouse into the outbox (see :class:`_FileJournal`).

    ``dispatch`` does this for its own sender before anything else; call this to see the outbox as
    the next dispatch will (e.g. right after a dispatcher was killed). Returns the events landed.
    """
    ensure_schema(con)
    row = con.execute("select path from duckdb_databases() where database_name = current_database()").fetchone()
    if not row or not row[0]:
        return 0
    base = Path(row[0])
    return sum(_fold_wal(con, p) for p in sorted(base.parent.glob(f"{base.name}.*.wal")))


def _fold_wal(con: duckdb.DuckDBPyConnection, path: Path) -> int:
    """Land a dead run's logged events that the warehouse does not have yet; empty the log.

    Idempotent: an event already in the warehouse (same task, state and instant: the run died after
    its batch insert, before emptying the log) is not added twice. A torn last line is ignored.
    """
    if not path.exists() or path.stat().st_size == 0:
        return 0
    events = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
            events.append({**row, "at": pd.Timestamp(row["at"]).to_pydatetime()})
        except (ValueError, KeyError, TypeError):
            logger.warning("dispatch log %s: ignoring a torn line (the process died while writing it)", path)
    have = set()
    if events:
        ids = sorted({e["task_id"] for e in events})
        have = {
            (tid, state, pd.Timestamp(at).to_pydatetime())
            for tid, state, at in con.execute(
                f"select task_id, state, event_at from {EVENTS_TABLE} where task_id in (select unnest(?))", [ids]
            ).fetchall()
        }
    new = [e for e in events if (e["task_id"], e["state"], _utc_naive(e["at"])) not in have]
    record_events(con, [e for e in new if e["state"] == "sending"])
    record_events(con, [e for e in new if e["state"] != "sending"])
    os.truncate(path, 0)
    if new:
        logger.warning("dispatch log %s: landed %d event(s) of a run that stopped mid-batch", path, len(new))
    return len(new)


def _append_events(con: duckdb.DuckDBPyConnection, rows: Sequence[dict[str, Any]]) -> None:
    """:func:`record_events` for the journal's small groups: one multi-row ``insert ... values``
    (about a third less CPU than staging an Arrow table for a handful of rows; the commit dominates)."""
    if len(rows) > 64:
        record_events(con, rows)
        return
    if not rows:
        return
    values: list[Any] = []
    for r in rows:
        if r["state"] not in STATES:
            raise ValueError(f"unknown task state {r['state']!r} for task {r['task_id']}; one of {STATES}")
        values += [r["task_id"], r["state"], _utc_naive(r["at"]), r.get("detail"), r.get("provider_message_id")]
    marks = ", ".join(["(?, ?, ?, ?, ?)"] * len(rows))
    con.execute(
        f"insert into {EVENTS_TABLE} (task_id, state, event_at, detail, provider_message_id) values {marks}", values
    )


def _offset_clock(now_utc: datetime) -> Callable[[], datetime]:
    """``now_utc`` moved on by the real time elapsed since: the run's clock when it is not the wall clock."""
    start = time.monotonic()
    return lambda: now_utc + timedelta(seconds=time.monotonic() - start)


def _ambiguity_window(sender: Sender, unknown_ttl: timedelta) -> timedelta:
    window = getattr(sender, "ambiguity_window", None)
    return unknown_ttl if window is None else min(window, unknown_ttl)


def dispatch(
    con: duckdb.DuckDBPyConnection,
    sender: Sender,
    now_utc: datetime,
    *,
    due_only: bool | None = None,
    batch_size: int = 1000,
    max_attempts: int = 5,
    unknown_ttl: timedelta = timedelta(hours=48),
    channels: Sequence[str] | None = None,
    clock: Callable[[], datetime] | None = None,
    actions: Sequence[str] | None = None,
    hold: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]] | None = None,
) -> dict[str, int]:
    """Hand open tasks to ``sender`` exactly once each, recording every step as an event.

    Per message, not per batch: a task is claimed (``sending``) immediately before its own request
    leaves, and its ``sent``/``failed``/``unknown``/``dead`` event is recorded as soon as the provider
    answered (senders that take ``claim``/``report`` callbacks: every real provider; others, such as
    the dry run, are claimed per batch). Both are durable before the call returns: appended to the
    sender's write-ahead log next to the warehouse file (:class:`_FileJournal`; a group-committed
    insert for an in-memory warehouse), landed in the outbox at the end of each batch, and folded in
    by the next run if this one was killed. A crash therefore leaves only the messages in flight in
    ``sending``; every other task of the batch is still ``pending``. Each event carries the real
    time of its message (``clock``), not the run's start.

    Tasks found in ``sending`` (a crash happened after the claim) or ``unknown`` (an ambiguous send:
    timeout, 5xx or a lost connection after the request may have been accepted) are reconciled with
    ``sender.reconcile`` before anything else: confirmed ones become ``sent``; certainly-missing
    ones get a ``failed`` event ("not at the provider") and are sent again; the others stay
    ``unknown`` until the sender's ``ambiguity_window`` (``unknown_ttl`` when it has none; zero for
    SMTP, which has no lookup) has passed since their last claim, then are dead-lettered with a
    detail starting with :data:`AMBIGUOUS_DEAD`, for a human to check - never resent. Such a task
    still counts as a contact in :func:`recent_contacts`. Failed tasks are retried until
    ``max_attempts`` sends, then marked ``dead`` with their last error.

    Args:
        con: DuckDB connection holding the outbox.
        sender: Channel provider (see :class:`connectors.channels.base.Sender`).
        now_utc: Timezone-aware instant of the run (window checks, TTLs).
        due_only: Only tasks whose send window is open now; tasks before their window stay pending,
            customer-facing tasks past ``not_after`` are dead-lettered (``window missed``). ``None``
            takes the sender's ``due_only_default`` attribute (True when absent; the dry run writes
            everything at once, each line carrying its schedule).
        batch_size: Tasks handed to the sender at once (the batch's threading round).
        max_attempts: Sends before a failing task goes ``dead``.
        unknown_ttl: Longest wait for a provider to confirm an ambiguous send before ``dead``.
        channels: Only tasks of these channels (when several senders share one outbox).
        clock: Time of each event (default: ``now_utc`` plus the real time elapsed since the call).
        actions: Only tasks of these actions (the inbound flow sends the agent's replies at once).
        hold: Opens the outbox for one step (the operational store under its lock): given, the outbox is
            held only to read the tasks, record events and land each batch's log, never while a
            provider is called (``con`` is then unused). The caller keeps every other sender and every
            canceller of these tasks out for the whole call (``flows.dispatch``: the send lock).
            A file-less outbox (no write-ahead log) is held for each batch's sends as well.

    Returns:
        Counts: considered, sent, failed, dead, reconciled, unknown, deferred, expired.
    """
    if hold is None:

        def hold() -> AbstractContextManager[duckdb.DuckDBPyConnection]:
            return nullcontext(con)

    if due_only is None:
        due_only = bool(getattr(sender, "due_only_default", True))
    clock = clock or _offset_clock(now_utc)
    counts = dict.fromkeys(("considered", "sent", "failed", "dead", "reconciled", "unknown", "deferred", "expired"), 0)
    with hold() as db:
        ensure_schema(db)
        wal = _wal_path(db, sender) if _takes_callbacks(sender) else None
        if wal is not None:
            _fold_wal(db, wal)  # a previous run of this sender died mid-batch: its claims and outcomes first
        # Filtered in SQL: each provider's dispatcher parses only its own tasks' payloads.
        tasks = pending_tasks(db, now_utc, due_only=False, channels=channels, actions=actions)
        counts["considered"] = len(tasks)
        if tasks.empty:
            return counts
        now = pd.Timestamp(now_utc).tz_convert("UTC")
        if due_only:
            settle = tasks["state"].isin(("sending", "unknown"))
            early = ~settle & (tasks["not_before"] > now)
            late = ~settle & (tasks["not_after"] < now)
            counts["deferred"] = int(early.sum())
            counts["expired"] = int(late.sum())
            at = clock()
            record_events(
                db,
                (
                    _event(r.task_id, "dead", at, f"window missed: lawful send window ended {r.not_after.isoformat()}")
                    for r in tasks[late].itertuples()
                ),
            )
            counts["dead"] += counts["expired"]
            tasks = tasks[~early & ~late]

    # 1. Crash leftovers and ambiguous sends: ask the provider before sending anything again.
    settle = tasks["state"].isin(("sending", "unknown"))
    orphans, to_send = tasks[settle], tasks[~settle]
    window = _ambiguity_window(sender, unknown_ttl)
    if len(orphans):
        checked_at = clock()
        asked = [{**t, "checked_at": checked_at} for t in _task_dicts(orphans)]
        known = sender.reconcile(asked) if window > timedelta(0) else {}
        events, resend = [], []
        at = clock()
        for r in orphans.itertuples():
            tid = r.task_id
            if tid in known and known[tid] is not None:
                events.append(_event(tid, "sent", at, "reconciled with the provider", known[tid]))
                counts["reconciled"] += 1
                counts["sent"] += 1
            elif tid in known:
                events.append(_event(tid, "failed", at, f"reconciled: not at the provider ({r.last_error})"))
                resend.append(tid)
            elif pd.isna(r.last_sending_at) or now - r.last_sending_at >= window:
                why = r.last_error or "the dispatcher stopped during the send"
                detail = (
                    f"{AMBIGUOUS_DEAD}; {getattr(sender, 'name', 'the provider')} did not confirm it within "
                    f"{window} ({why}); check the provider's console or the customer's thread before sending by hand"
                )
                events.append(_event(tid, "dead", at, detail))
                counts["dead"] += 1
            else:
                if r.state == "sending":
                    events.append(_event(tid, "unknown", at, "the dispatcher stopped during the send: awaiting status"))
                counts["unknown"] += 1
        with hold() as db:
            record_events(db, events)
        to_send = pd.concat([to_send, orphans[orphans["task_id"].isin(resend)].assign(state="failed")])

    # 2. Failed too often: dead-letter with the last error kept in the detail.
    exhausted = to_send["attempts"] >= max_attempts
    at = clock()
    with hold() as db:
        record_events(
            db,
            (
                _event(r.task_id, "dead", at, f"gave up after {max_attempts} attempts; last error: {r.last_error}")
                for r in to_send[exhausted].itertuples()
            ),
        )
    counts["dead"] += int(exhausted.sum())
    to_send = to_send[~exhausted]

    # 3. Send: claim each message right before it leaves, record its outcome as soon as it is known.
    # A customer's second email in one run goes in a later batch, so it can thread on the first one.
    to_send = to_send.assign(_round=to_send.groupby("customer_id").cumcount()).sort_values(
        ["_round", "scheduled_at", "task_id"], kind="stable"
    )
    batches = [
        part[start : start + batch_size]
        for _, group in to_send.groupby("_round", sort=True)
        for part in [_task_dicts(group.drop(columns="_round"))]
        for start in range(0, len(part), batch_size)
    ]
    per_message = _takes_callbacks(sender)
    lock = threading.Lock()
    errors: dict[str, tuple[str, str]] = {}
    for raw_batch in batches:
        with hold() as db:
            batch = _with_threads(db, raw_batch)
        # Without a log file the journal writes to the outbox as it goes: held for the batch's sends.
        with nullcontext(None) if wal is not None else hold() as db:
            journal: _Journal | _FileJournal = _FileJournal(hold, wal) if wal is not None else _Journal(db)
            claimed: set[str] = set()
            reported: set[str] = set()

            def claim(task: Mapping[str, Any], journal: Any = journal, claimed: set[str] = claimed) -> None:
                journal.write([_event(task["task_id"], "sending", clock())])
                with lock:
                    claimed.add(task["task_id"])

            def report(
                task: Mapping[str, Any], res: SendResult, journal: Any = journal, reported: set[str] = reported
            ) -> None:
                state, detail = _outcome(task, res, max_attempts, window)
                pmid = res.provider_message_id if res.ok else None
                journal.write([_event(task["task_id"], state, clock(), detail, pmid)])
                with lock:
                    reported.add(task["task_id"])
                    counts[state] += 1
                    if state in ("dead", "failed") and detail:
                        errors.setdefault(state, (detail, task["task_id"]))

            if per_message:
                sender.send_batch(batch, claim=claim, report=report)  # type: ignore[call-arg]
            else:
                for t in batch:
                    claim(t)
                by_id = {t["task_id"]: t for t in batch}
                for res in sender.send_batch(batch):
                    report(by_id[res.task_id], res)
            at = clock()
            try:
                journal.write(
                    [
                        _event(t["task_id"], "unknown", at, "the sender returned no result")
                        for t in batch
                        if t["task_id"] in claimed and t["task_id"] not in reported
                    ]
                )
                journal.flush()
            finally:
                if isinstance(journal, _FileJournal):
                    journal.close()
            counts["unknown"] += len(claimed - reported)
    name = getattr(sender, "name", type(sender).__name__)
    for state, (detail, tid) in errors.items():
        # Loud, once per run and state (a refused credential fails every task the same way).
        level = logging.ERROR if state == "dead" else logging.WARNING
        first = f"first (task {tid[:12]}): {detail}"
        logger.log(level, "dispatch via %s: %d task(s) %s; %s", name, counts[state], state, first)
    logger.info("dispatch via %s: %s", name, counts)
    return counts


def _takes_callbacks(sender: Sender) -> bool:
    """Whether ``sender.send_batch`` claims and reports per message (``claim``/``report`` keywords)."""
    try:
        params = inspect.signature(sender.send_batch).parameters
    except (TypeError, ValueError):
        return False
    return "claim" in params and "report" in params


def _outcome(task: Mapping[str, Any], res: SendResult, max_attempts: int, window: timedelta) -> tuple[str, str | None]:
    """The event state and detail of one send result."""
    if res.ok:
        return "sent", res.detail
    if res.ambiguous:
        if window <= timedelta(0):  # no way to ever confirm it (SMTP): never resent, counted as a contact
            return "dead", f"{AMBIGUOUS_DEAD}; no status lookup exists: {res.detail}"
        return "unknown", res.detail
    dead = not res.retryable or task["attempts"] + 1 >= max_attempts
    return ("dead" if dead else "failed"), res.detail

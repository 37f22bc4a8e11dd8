"""Append-only outbox of contact tasks and their delivery events, in DuckDB (DESIGN.md §7).

The transactional-outbox pattern: decisions become rows in ``outbox.contact_tasks`` keyed by an
idempotency key, ``sha256(customer_id|decision_date|action)``, so re-running a day's decision never
creates a second task. What happens to a task is a sequence of rows in ``outbox.task_events``
(``pending -> sending -> sent | failed -> ... -> dead``, or ``unknown`` when a crash leaves a send
unconfirmable); the current state is the latest event. Nothing is ever updated or deleted, which is
also the contact log that DESIGN.md §10 asks to keep for at least two years.

``dispatch`` drives any sender that follows :class:`Sender`: it records ``sending`` *before* handing a
batch to the provider, so after a crash a task is either still ``pending`` (never handed over) or
``sending`` (maybe delivered), and ``sending`` tasks are reconciled with the provider instead of being
sent blindly again. Timestamps are stored as naive UTC ``TIMESTAMP`` (house convention ``*_at``)
and returned timezone-aware.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

import duckdb
import pandas as pd
import pyarrow as pa

from connectors.warehouse import transaction
from ml.nba.rules import DEFAULT_RULES, ContactRules, is_lawful

logger = logging.getLogger(__name__)

SCHEMA = "outbox"
TASKS_TABLE = f"{SCHEMA}.contact_tasks"
EVENTS_TABLE = f"{SCHEMA}.task_events"
STATES = ("pending", "sending", "sent", "failed", "dead", "unknown")
#: States ``dispatch`` picks up; ``sending`` only to reconcile after a crash.
OPEN_STATES = ("pending", "failed", "sending")
#: Actions that become tasks; ``wait`` is an audit-only decision.
OUTBOX_ACTIONS = ("email", "whatsapp", "sms", "call_task", "dispute_review")
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
"""

_TASK_COLUMNS = [
    "task_id",
    "customer_id",
    "contact_id",
    "decision_date",
    "action",
    "channel",
    "scheduled_at",
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


@dataclass(frozen=True)
class SendResult:
    """Outcome of handing one task to a channel provider.

    Attributes:
        task_id: The task.
        ok: Whether the provider accepted the message.
        provider_message_id: Provider's id when accepted.
        detail: Error text or a note.
        retryable: For failures, whether a later attempt may succeed (429/5xx) or not (4xx, bad
            template): non-retryable failures go straight to ``dead``.
    """

    task_id: str
    ok: bool
    provider_message_id: str | None = None
    detail: str | None = None
    retryable: bool = True


class Sender(Protocol):
    """What ``dispatch`` needs from a channel provider."""

    name: str

    def send_batch(self, tasks: Sequence[Mapping[str, Any]]) -> list[SendResult]:
        """Hand tasks to the provider; one result per task, in any order."""
        ...

    def reconcile(self, tasks: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
        """For tasks left in ``sending`` by a crash: ``{task_id: provider_message_id}`` if the
        provider has the message, ``{task_id: None}`` if it certainly does not; omit unknowns."""
        ...


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


def enqueue(
    con: duckdb.DuckDBPyConnection,
    decisions: pd.DataFrame,
    decision_date: date,
    *,
    created_at: datetime | None = None,
) -> int:
    """Append the day's decisions as contact tasks; existing idempotency keys are left untouched.

    ``wait`` decisions are not enqueued. Each new task also gets its ``pending`` event.

    Args:
        con: DuckDB connection (the warehouse); the outbox schema is created if needed.
        decisions: Output of ``ml.nba.policy.decide``.
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
    stage = {
        "task_id": [task_key(str(r["customer_id"]), decision_date, r["action"]) for r in records],
        "customer_id": [str(r["customer_id"]) for r in records],
        "contact_id": [r.get("contact_id") for r in records],
        "decision_date": [decision_date] * len(records),
        "action": [r["action"] for r in records],
        "channel": [r["channel"] for r in records],
        "scheduled_at": [_utc_naive(r["scheduled_at"]) for r in records],
        "amount_at_stake": [str(r["amount_at_stake"]) for r in records],
        "currency": [r["currency"] for r in records],
        "invoice_ids": [list(r["invoice_ids"]) for r in records],
        "reason_codes": [list(r["reason_codes"]) for r in records],
        "payload": [_payload(r) for r in records],
        "created_at": [created] * len(records),
    }
    staged = pa.table(stage, schema=_STAGE_SCHEMA)
    # Deduplicate inside the batch too (one decision per customer and action per day).
    con.register("_outbox_stage", staged)
    try:
        with transaction(con):
            con.execute(
                f"""
                create or replace temp table _outbox_new as
                select * from (
                    select *, row_number() over (partition by task_id order by customer_id) as _rn
                    from _outbox_stage
                ) s
                where _rn = 1 and not exists (select 1 from {TASKS_TABLE} t where t.task_id = s.task_id)
                """
            )
            inserted = con.execute(
                f"""
                insert into {TASKS_TABLE} ({", ".join(_TASK_COLUMNS)})
                select task_id, customer_id, contact_id, decision_date, action, channel, scheduled_at,
                       cast(amount_at_stake as decimal(18, 2)), currency, invoice_ids, reason_codes,
                       cast(payload as json), created_at
                from _outbox_new
                """
            ).fetchone()
            con.execute(
                f"""
                insert into {EVENTS_TABLE} (task_id, state, event_at, detail)
                select task_id, 'pending', created_at, 'enqueued' from _outbox_new order by task_id
                """
            )
            con.execute("drop table _outbox_new")
    finally:
        con.unregister("_outbox_stage")
    n_new = int(inserted[0]) if inserted else 0
    logger.info("outbox enqueue %s: %d decisions, %d new tasks", decision_date, len(todo), n_new)
    return n_new


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
    table = pa.table(
        {
            "task_id": [r["task_id"] for r in rows],
            "state": [r["state"] for r in rows],
            "event_at": [_utc_naive(r["at"]) for r in rows],
            "detail": [r.get("detail") for r in rows],
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


def record_event(
    con: duckdb.DuckDBPyConnection,
    task_id: str,
    state: str,
    at: datetime,
    detail: str | None = None,
    provider_message_id: str | None = None,
) -> None:
    """Append one event to a task's history (never updates anything).

    Args:
        con: DuckDB connection.
        task_id: The task.
        state: One of ``STATES``.
        at: Timezone-aware instant of the event.
        detail: Free text (error, note).
        provider_message_id: Provider's message id, for ``sent``.
    """
    record_events(
        con,
        [
            {
                "task_id": task_id,
                "state": state,
                "at": at,
                "detail": detail,
                "provider_message_id": provider_message_id,
            }
        ],
    )


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
               max(event_at) filter (where state = 'sent') as sent_at
        from {EVENTS_TABLE}
        group by task_id
    )
    select t.*, coalesce(cur.state, 'pending') as state, coalesce(cur.attempts, 0) as attempts,
           cur.sent_at
    from {TASKS_TABLE} t left join cur using (task_id)
"""


def _aware(df: pd.DataFrame, *cols: str) -> pd.DataFrame:
    for col in cols:
        df[col] = pd.to_datetime(df[col]).dt.tz_localize("UTC")
    return df


def task_states(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every task with its current state (latest event), attempt count and sent time."""
    ensure_schema(con)
    return _aware(_fetch(con, _CURRENT + " order by task_id"), "scheduled_at", "created_at", "sent_at")


def pending_tasks(
    con: duckdb.DuckDBPyConnection,
    now_utc: datetime,
    *,
    due_only: bool = False,
    states: Sequence[str] = OPEN_STATES,
) -> pd.DataFrame:
    """Tasks still to be handled, ordered by schedule.

    Args:
        con: DuckDB connection.
        now_utc: Timezone-aware current instant.
        due_only: Only tasks with ``scheduled_at <= now_utc``.
        states: Current states to return (default pending, failed and crash-orphaned sending).

    Returns:
        Task columns plus ``state``, ``attempts`` and ``sent_at``; ``payload`` as a parsed dict.
    """
    ensure_schema(con)
    sql = f"select * from ({_CURRENT}) where state in ({', '.join('?' for _ in states)})"
    params: list[Any] = list(states)
    if due_only:
        sql += " and scheduled_at <= ?"
        params.append(_utc_naive(now_utc))
    df = _fetch(con, sql + " order by scheduled_at, task_id", params)
    df["payload"] = df["payload"].map(json.loads)
    return _aware(df, "scheduled_at", "created_at", "sent_at")


def recent_contacts(
    con: duckdb.DuckDBPyConnection, since_utc: datetime, exclude_decision_date: date | None = None
) -> pd.DataFrame:
    """Customer contacts already made or scheduled since ``since_utc``, for spacing rules.

    Dead tasks (never delivered) and internal tasks are excluded. The contact time is the later of
    the schedule and the actual send, so a late dispatch still counts from when it happened.

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
        select customer_id, channel, greatest(scheduled_at, coalesce(sent_at, scheduled_at)) as scheduled_at
        from ({_CURRENT})
        where state <> 'dead' and channel not in ({internal})
          and greatest(scheduled_at, coalesce(sent_at, scheduled_at)) >= ?
          and decision_date is distinct from ?
        order by customer_id, scheduled_at
        """,
        [_utc_naive(since_utc), exclude_decision_date],
    )
    if df.empty:
        df = pd.DataFrame({"customer_id": [], "channel": [], "scheduled_at": []})
    return _aware(df, "scheduled_at")


def _task_dicts(df: pd.DataFrame) -> list[dict[str, Any]]:
    return df.to_dict("records")


def _lawful_now(tasks: pd.DataFrame, now_utc: datetime, rules: ContactRules) -> pd.Series:
    """Whether each task may reach the customer right now (computed once per zone and country)."""
    written = tasks["channel"].isin(("email", "whatsapp", "sms"))
    tz = tasks["payload"].map(lambda p: p.get("timezone") or "UTC")
    country = tasks["payload"].map(lambda p: p.get("country") or "")
    verdict = {(z, c): is_lawful(now_utc, z, c or None, rules) for z, c in set(zip(tz, country, strict=True))}
    ok = pd.Series([verdict[k] for k in zip(tz, country, strict=True)], index=tasks.index, dtype=bool)
    return ok | ~written


def dispatch(
    con: duckdb.DuckDBPyConnection,
    sender: Sender,
    now_utc: datetime,
    *,
    due_only: bool | None = None,
    batch_size: int = 1000,
    max_attempts: int = 5,
    rules: ContactRules | None = DEFAULT_RULES,
) -> dict[str, int]:
    """Hand open tasks to ``sender`` exactly once each, recording every step as an event.

    Order of writes per batch: ``sending`` events, then the provider call, then ``sent``/``failed``
    events. Tasks found in ``sending`` (a crash happened after the first write) are reconciled with
    ``sender.reconcile``: confirmed ones become ``sent``, certainly-missing ones are sent again,
    unconfirmable ones become ``unknown`` and are left for a human. Failed tasks are retried until
    ``max_attempts`` sends, then marked ``dead``.

    Args:
        con: DuckDB connection holding the outbox.
        sender: Channel provider (see :class:`Sender`).
        now_utc: Timezone-aware current instant (event time; due cut-off).
        due_only: Only tasks whose ``scheduled_at`` has come. ``None`` takes the sender's
            ``due_only_default`` attribute (True when absent; the dry run writes everything).
        batch_size: Tasks per provider call.
        max_attempts: Sends before a failing task goes ``dead``.
        rules: When sending due tasks, messages to the customer (email, WhatsApp, SMS) are only
            handed over if ``now_utc`` is inside the lawful window of the task's timezone and
            country; others stay pending for the next run. ``None`` disables the check.

    Returns:
        Counts: considered, sent, failed, dead, reconciled, unknown, deferred.
    """
    if due_only is None:
        due_only = bool(getattr(sender, "due_only_default", True))
    counts = {"considered": 0, "sent": 0, "failed": 0, "dead": 0, "reconciled": 0, "unknown": 0, "deferred": 0}
    tasks = pending_tasks(con, now_utc, due_only=due_only)
    counts["considered"] = len(tasks)
    if tasks.empty:
        return counts
    if due_only and rules is not None:
        lawful = _lawful_now(tasks, now_utc, rules)
        counts["deferred"] = int((~lawful).sum())
        tasks = tasks[lawful]

    # 1. Crash leftovers: ask the provider before sending anything again.
    orphans = tasks[tasks["state"] == "sending"]
    to_send = tasks[tasks["state"] != "sending"]
    if len(orphans):
        known = sender.reconcile(_task_dicts(orphans))
        events, resend = [], []
        for tid in orphans["task_id"]:
            if tid not in known:
                events.append({"task_id": tid, "state": "unknown", "at": now_utc, "detail": "crash: unconfirmed"})
                counts["unknown"] += 1
            elif known[tid] is not None:
                events.append(
                    {
                        "task_id": tid,
                        "state": "sent",
                        "at": now_utc,
                        "detail": "reconciled after crash",
                        "provider_message_id": known[tid],
                    }
                )
                counts["reconciled"] += 1
                counts["sent"] += 1
            else:
                resend.append(tid)
        record_events(con, events)
        to_send = pd.concat([to_send, orphans[orphans["task_id"].isin(resend)]])

    # 2. Failed too often: dead-letter with the last error kept in the events.
    exhausted = to_send["attempts"] >= max_attempts
    record_events(
        con,
        (
            {"task_id": tid, "state": "dead", "at": now_utc, "detail": f"gave up after {max_attempts} attempts"}
            for tid in to_send.loc[exhausted, "task_id"]
        ),
    )
    counts["dead"] += int(exhausted.sum())
    to_send = to_send[~exhausted]

    # 3. Send in batches: sending -> provider -> sent/failed.
    records = _task_dicts(to_send)
    for start in range(0, len(records), batch_size):
        batch = records[start : start + batch_size]
        record_events(con, ({"task_id": t["task_id"], "state": "sending", "at": now_utc} for t in batch))
        results = {r.task_id: r for r in sender.send_batch(batch)}
        events = []
        for t in batch:
            tid = t["task_id"]
            res = results.get(tid)
            if res is None:
                events.append({"task_id": tid, "state": "unknown", "at": now_utc, "detail": "no result"})
                counts["unknown"] += 1
            elif res.ok:
                events.append(
                    {
                        "task_id": tid,
                        "state": "sent",
                        "at": now_utc,
                        "detail": res.detail,
                        "provider_message_id": res.provider_message_id,
                    }
                )
                counts["sent"] += 1
            else:
                dead = not res.retryable or t["attempts"] + 1 >= max_attempts
                events.append(
                    {"task_id": tid, "state": "dead" if dead else "failed", "at": now_utc, "detail": res.detail}
                )
                counts["dead" if dead else "failed"] += 1
        record_events(con, events)
    logger.info("dispatch via %s: %s", getattr(sender, "name", type(sender).__name__), counts)
    return counts

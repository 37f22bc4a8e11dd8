"""Alert lifecycle: raise each finding once, ranked and capped, and keep every status change (issue 21).

Owns two warehouse tables (declared as dbt sources in ``models/marts/alerts/_alerts__sources.yml``):

- ``alerts.alerts``: one row per alert (``alert_id`` = the signal's ``signal_id``, or a hash of
  ``behaviour_change|customer|date`` for the scorer's findings), written once when raised;
- ``alerts.alert_events``: append-only status history (``new``, ``acknowledged``, ``resolved``,
  ``false_positive``), never updated; the current status is the latest event (``marts.mart_alerts``).

:func:`raise_alerts` takes the day's findings whose evidence completed within ``lookback_days``,
drops those already raised, ranks them (severity, then strength within the signal) and keeps at most
``max_share`` of the customers a day (at least one). :func:`holds` says which accounts an open alert
holds: suspected fraud or redirection (``HOLD_SIGNALS``) holds written contacts that carry payment
details; exposure over the limit suggests a credit hold.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import duckdb
import pandas as pd
import pyarrow as pa

ALERTS = "alerts.alerts"
EVENTS = "alerts.alert_events"
STATUSES = ("new", "acknowledged", "resolved", "false_positive")
OPEN_STATUSES = ("new", "acknowledged")
#: Signals that suspect fraud or redirection: contacts quoting payment details are held.
HOLD_SIGNALS = ("new_payer_account", "shared_payer_account", "lapping")
#: Signals that suggest a credit hold.
CREDIT_HOLD_SIGNALS = ("exposure_over_limit",)
SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
#: The holds as published to the operational store, read by the dispatcher's pre-send re-check
#: (``flows.dispatch.cancel_stale``): an alert raised after the morning decision (the hourly bank
#: sync) holds the contacts already queued for that customer.
SERVING_HOLDS = "serving.alert_holds"
_HOLDS_SCHEMA = pa.schema(
    [
        ("customer_id", pa.string()),
        ("alert_hold", pa.bool_()),
        ("credit_hold", pa.bool_()),
        ("alert_codes", pa.list_(pa.string())),
    ]
)

_DDL = f"""
create schema if not exists alerts;
create table if not exists {ALERTS} (
    alert_id varchar primary key,
    signal varchar not null,
    customer_id varchar,
    evidence_key varchar,
    severity varchar not null,
    score double,
    rank_on_day integer,
    first_seen_date date,
    raised_on date not null,
    amount decimal(38, 2),
    currency varchar,
    evidence varchar,
    description varchar
);
create sequence if not exists alerts.alert_event_seq;
create table if not exists {EVENTS} (
    event_seq bigint default nextval('alerts.alert_event_seq'),
    alert_id varchar not null,
    status varchar not null,
    event_at timestamp not null,
    actor varchar,
    note varchar
);
"""


@dataclass(frozen=True)
class AlertsConfig:
    """The ``alerts`` settings: how far back a finding is news, and the daily cap."""

    lookback_days: int = 7
    max_share: float = 0.01


def ensure_tables(con: duckdb.DuckDBPyConnection) -> None:
    """Create the alert tables (idempotent)."""
    con.execute(_DDL)


def behaviour_alert_id(customer_id: str, as_of: date) -> str:
    """The id of a behaviour finding: one per customer and break (the day it was first scored)."""
    return hashlib.md5(f"behaviour_change|{customer_id}|{as_of.isoformat()}".encode()).hexdigest()


def rank_and_cap(
    findings: pd.DataFrame, n_customers: int, config: AlertsConfig, cap: int | None = None
) -> pd.DataFrame:
    """Rank findings (severity, then percentile of score within the signal) and keep the daily cap.

    The cap counts customers (a suspense credit without a customer counts as one): at most
    ``max(1, max_share x n_customers)`` (or ``cap``: what the day has left); every finding of a kept
    customer stays.
    """
    if findings.empty:
        return findings.assign(rank_on_day=pd.Series(dtype="int64"))
    f = findings.copy()
    f["_sev"] = f["severity"].map(SEVERITY_RANK).fillna(3)
    f["_pct"] = f.groupby("signal")["score"].rank(pct=True, ascending=False)
    f = f.sort_values(["_sev", "_pct", "alert_id"]).reset_index(drop=True)
    who = f["customer_id"].fillna("line:" + f["alert_id"])
    order = who.drop_duplicates()
    cap = max(1, int(config.max_share * n_customers)) if cap is None else cap
    keep = who.isin(set(order.head(cap)))
    out = f[keep].drop(columns=["_sev", "_pct"]).reset_index(drop=True)
    out["rank_on_day"] = range(1, len(out) + 1)
    return out


def raise_alerts(
    con: duckdb.DuckDBPyConnection,
    findings: pd.DataFrame,
    *,
    as_of: date,
    now_utc: datetime,
    n_customers: int,
    config: AlertsConfig,
) -> pd.DataFrame:
    """Store the day's new alerts with their ``new`` event; return them (ranked).

    Args:
        con: Warehouse connection.
        findings: alert_id, signal, customer_id, evidence_key, severity, score, first_seen_date,
            amount, currency, evidence, description (signals and behaviour findings).
        as_of: The run date.
        now_utc: Event clock.
        n_customers: Customers in the book (the cap's base).
        config: Look-back and cap.
    """
    ensure_tables(con)
    f = findings.copy()
    f["first_seen_date"] = pd.to_datetime(f["first_seen_date"]).dt.date
    since = as_of - timedelta(days=config.lookback_days)
    f = f[(f["first_seen_date"] > since) & (f["first_seen_date"] <= as_of)]
    known = set(con.sql(f"select alert_id from {ALERTS}").fetchnumpy()["alert_id"].tolist())
    f = f[~f["alert_id"].isin(known)]
    # a re-run of the day (or the hourly bank sync) shares the day's cap with the runs before it
    raised_today = con.execute(
        f"select count(distinct coalesce(customer_id, 'line:' || alert_id)) from {ALERTS} where raised_on = ?",
        [as_of],
    ).fetchall()[0][0]
    left = max(1, int(config.max_share * n_customers)) - int(raised_today)
    if left <= 0:
        return f.iloc[0:0].assign(rank_on_day=pd.Series(dtype="int64"))
    new = rank_and_cap(f, n_customers, config, cap=left)
    if new.empty:
        return new
    new = new.assign(raised_on=as_of)
    cols = [
        "alert_id", "signal", "customer_id", "evidence_key", "severity", "score", "rank_on_day",
        "first_seen_date", "raised_on", "amount", "currency", "evidence", "description",
    ]  # fmt: skip
    rows = new[cols]  # noqa: F841 - read by DuckDB's replacement scan
    con.execute(f"insert into {ALERTS} select * from rows")
    events = pd.DataFrame(  # noqa: F841 - read by DuckDB's replacement scan
        {"alert_id": new["alert_id"], "status": "new", "event_at": now_utc.replace(tzinfo=None), "actor": "cobranza"}
    )
    con.execute(f"insert into {EVENTS} (alert_id, status, event_at, actor) select * from events")
    return new[cols]


def change_status(
    con: duckdb.DuckDBPyConnection, alert_id: str, status: str, *, at: datetime, actor: str, note: str | None = None
) -> dict[str, str]:
    """Append a status change (the history is never rewritten) and return the alert's new state.

    Raises:
        ValueError: On an unknown status or alert id (the message says which exist).
    """
    ensure_tables(con)
    if status not in STATUSES:
        raise ValueError(f"unknown alert status {status!r}; use one of {', '.join(STATUSES)}")
    found = con.execute(
        f"select alert_id from {ALERTS} where alert_id = ? or alert_id like ?", [alert_id, alert_id + "%"]
    )
    ids = [r[0] for r in found.fetchall()]
    if len(ids) != 1:
        what = "no alert" if not ids else f"{len(ids)} alerts"
        raise ValueError(f"{what} with id {alert_id!r}; list them with 'cobranza alerts'")
    con.execute(
        f"insert into {EVENTS} (alert_id, status, event_at, actor, note) values (?, ?, ?, ?, ?)",
        [ids[0], status, at.replace(tzinfo=None), actor, note],
    )
    return {"alert_id": ids[0], "status": status}


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = 'alerts' "
        "and table_name in ('alerts', 'alert_events')"
    ).fetchall()
    return rows[0][0] == 2


def current(con: duckdb.DuckDBPyConnection, statuses: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Every alert with its current status (the latest event) and when it got it (none before the first run)."""
    if not _exists(con):  # a read-only or pre-alerts warehouse: nothing raised yet, nothing to create
        return pd.DataFrame(
            columns=["alert_id", "signal", "customer_id", "severity", "raised_on", "status", "description"]
        )
    where = f"where status in ({', '.join('?' for _ in statuses)})" if statuses else ""
    sql = f"""
        with latest as (
            select alert_id, status, event_at as status_at, actor as status_by,
                row_number() over (partition by alert_id order by event_seq desc) as k
            from {EVENTS}
        )
        select a.*, l.status, l.status_at, l.status_by
        from {ALERTS} as a inner join latest as l on a.alert_id = l.alert_id and l.k = 1
        {where}
        order by a.raised_on desc, a.rank_on_day
    """
    return con.sql(sql, params=list(statuses) if statuses else None).to_arrow_table().to_pandas()


def history(con: duckdb.DuckDBPyConnection, alert_id: str) -> pd.DataFrame:
    """All status events of one alert, oldest first."""
    ensure_tables(con)
    return (
        con.execute(f"select * from {EVENTS} where alert_id = ? order by event_seq", [alert_id])
        .to_arrow_table()
        .to_pandas()
    )


def holds(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Per customer with an open alert that changes decisions: customer_id, alert_hold, credit_hold, alert_codes.

    ``alert_hold``: a fraud/redirection alert is open (new or acknowledged): written contacts that
    quote payment details are held and a person reviews the account. ``credit_hold``: exposure over
    the limit suggests a credit hold. ``alert_codes``: the reason codes the decision carries.
    """
    open_ = current(con, OPEN_STATUSES)
    open_ = open_[open_["customer_id"].notna() & open_["signal"].isin(HOLD_SIGNALS + CREDIT_HOLD_SIGNALS)]
    rows = []
    for cid, g in open_.groupby("customer_id"):
        fraud = g[g["signal"].isin(HOLD_SIGNALS)]
        credit = g[g["signal"].isin(CREDIT_HOLD_SIGNALS)]
        codes = [f"hold:alert_{s}:{a[:8]}" for s, a in zip(fraud["signal"], fraud["alert_id"], strict=True)]
        codes += [f"suggest:credit_hold:{a[:8]}" for a in credit["alert_id"]]
        rows.append(
            {"customer_id": cid, "alert_hold": not fraud.empty, "credit_hold": not credit.empty, "alert_codes": codes}
        )
    return pd.DataFrame(rows, columns=["customer_id", "alert_hold", "credit_hold", "alert_codes"])


def publish_holds(ops: duckdb.DuckDBPyConnection, wh: duckdb.DuckDBPyConnection) -> int:
    """Replace :data:`SERVING_HOLDS` in the operational store ``ops`` with the warehouse's current holds.

    Run by every writer of alerts or of their status (the alert stage of the daily run and the bank
    sync, ``cobranza alerts ack|resolve|false-positive``), so the dispatcher re-checks queued contacts
    against the alerts as they are now, not as the morning decision saw them.

    Returns:
        Customers held or flagged.
    """
    rows = holds(wh)
    table = pa.Table.from_pandas(rows.reindex(columns=_HOLDS_SCHEMA.names), schema=_HOLDS_SCHEMA, preserve_index=False)
    ops.execute("create schema if not exists serving").fetchall()
    ops.register("_alert_holds", table)
    try:
        ops.execute(f"create or replace table {SERVING_HOLDS} as select * from _alert_holds").fetchall()
    finally:
        ops.unregister("_alert_holds")
    return table.num_rows


def published_holds(ops: duckdb.DuckDBPyConnection) -> pd.DataFrame | None:
    """The holds last published to the operational store (:func:`publish_holds`); None before the first."""
    found = ops.execute(
        "select count(*) from information_schema.tables where table_schema = 'serving' and table_name = 'alert_holds'"
    ).fetchall()[0][0]
    if not found:
        return None
    return ops.sql(f"select * from {SERVING_HOLDS}").to_arrow_table().to_pandas()

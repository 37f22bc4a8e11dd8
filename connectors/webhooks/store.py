"""Lands the webhook spool into ``raw_channels.webhook_events`` and answers the senders' lookups.

``land_events`` appends events not seen before (deduplicated on ``event_id``, so provider retries and
re-landing the same files are harmless) with ``_source``/``_loaded_at`` lineage, in one transaction.
The lookups read that table: which of our tasks WhatsApp confirmed (``biz_opaque_callback_data``
echoed on a status webhook) and when each WhatsApp user last wrote to us (the 24-hour window).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from connectors.warehouse import transaction
from connectors.webhooks.spool import EVENT_FIELDS, Spool

TABLE = "raw_channels.webhook_events"

_DDL = f"""
create schema if not exists raw_channels;
create table if not exists {TABLE} (
    event_id varchar primary key,
    provider varchar not null,
    kind varchar not null,
    provider_message_id varchar,
    status varchar,
    correlation_id varchar,
    from_addr varchar,
    to_addr varchar,
    text varchar,
    context_message_id varchar,
    error_code varchar,
    error_title varchar,
    occurred_at timestamp not null,
    received_at timestamp not null,
    _source varchar not null,
    _loaded_at timestamp not null
);
"""
#: Columns added after the table's first version (verified unsubscribe tokens name their contact; portal
#: events carry their details as a JSON object in ``payload``).
_ADDED = ("customer_id", "contact_id", "payload")


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw table if needed (and add the columns of later versions to an older one)."""
    con.execute(_DDL)
    for column in _ADDED:
        con.execute(f"alter table {TABLE} add column if not exists {column} varchar")


def _ts(values: list[object]) -> pa.Array:
    parsed = pd.to_datetime(pd.Series(values, dtype=object), utc=True, format="ISO8601")
    return pa.array(parsed.dt.tz_localize(None), pa.timestamp("us"))


def land_events(con: duckdb.DuckDBPyConnection, spool_dir: str | Path) -> int:
    """Append the spool's new events to the raw table; return how many were new."""
    ensure_table(con)
    rows = list(Spool(spool_dir).read())
    if not rows:
        return 0
    cols: dict[str, pa.Array] = {}
    for f in EVENT_FIELDS:
        values = [r.get(f) for r in rows]
        if f in ("occurred_at", "received_at"):
            cols[f] = _ts(values)
        else:
            cols[f] = pa.array([None if v is None else str(v) for v in values], pa.string())
    con.register("_webhook_stage", pa.table(cols))
    try:
        with transaction(con):
            n = con.execute(
                f"""
                insert into {TABLE} ({", ".join(EVENT_FIELDS)}, _source, _loaded_at)
                select {", ".join(f"s.{f}" for f in EVENT_FIELDS)}, 'webhooks' as _source, now()::timestamp
                from (
                    select *, row_number() over (partition by event_id order by received_at) as _rn
                    from _webhook_stage
                ) s
                where _rn = 1 and not exists (select 1 from {TABLE} t where t.event_id = s.event_id)
                """
            ).fetchall()
    finally:
        con.unregister("_webhook_stage")
    return int(n[0][0]) if n else 0


def whatsapp_confirmations(con: duckdb.DuckDBPyConnection, task_ids: Sequence[str]) -> dict[str, str]:
    """``{task_id: wamid}`` for tasks a WhatsApp status webhook confirmed (any status: it was accepted)."""
    ensure_table(con)
    if not task_ids:
        return {}
    rows = con.execute(
        f"""
        select correlation_id, min(provider_message_id)
        from {TABLE}
        where provider = 'whatsapp' and kind = 'status' and correlation_id in (select unnest(?))
        group by correlation_id
        """,
        [list(task_ids)],
    ).fetchall()
    return {tid: wamid for tid, wamid in rows}


def whatsapp_last_inbound(con: duckdb.DuckDBPyConnection) -> dict[str, datetime]:
    """Last inbound WhatsApp message instant (UTC, aware) per user (``wa_id`` digits)."""
    ensure_table(con)
    rows = con.execute(
        f"""
        select from_addr, max(occurred_at) from {TABLE}
        where provider = 'whatsapp' and kind = 'message' and from_addr is not null
        group by from_addr
        """
    ).fetchall()
    return {addr: pd.Timestamp(ts).tz_localize("UTC").to_pydatetime() for addr, ts in rows}

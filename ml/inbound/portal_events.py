"""What the debtor did on the portal, read from the landed webhook events: interactions and settled invoices.

The portal (``portal``) spools its events like a provider's webhook (kinds ``portal_promise``,
``portal_dispute``, ``portal_plan_accepted``, ``portal_opt_out``, ``payment_succeeded``; details in the
JSON ``payload``), and they land in ``raw_channels.webhook_events`` with the rest. This module gives
them their business meaning:

- :func:`portal_interactions`: inbound interactions on channel ``portal`` (the ``raw_crm.interactions``
  contract): a promise -> ``promise_to_pay`` with its date and amount; an accepted plan ->
  ``promise_to_pay`` of its first instalment (dunning waits for it; a missed instalment is a broken
  promise, as for any promise); a dispute -> ``dispute``; a pay-link payment -> ``paid_claim`` (the
  provider confirmed it, but the money is not in the bank yet); an opt-out -> ``replied`` (the
  withdrawal itself is read by ``ml.inbound.optouts``). Ids are ``wh-<event id>`` like replies.
- :func:`settled_online`: invoices a pay-link payment covered or a portal dispute named, and the
  invoices of a dispute the agent opened from a message (``agent.decisions``). The pre-send
  re-check (``ml.nba.revalidate.still_open_invoices``) takes them out of the open invoices, so a
  queued reminder about them is cancelled before the bank statement or the CRM catches up. A
  dispute held back this way is lifted when a person resolves it in the CRM (``raw_crm.disputes``
  resolved after it was opened; the daily decision copies the resolutions into the operational store
  with :func:`record_dispute_lifts` for the re-check).
"""

from __future__ import annotations

import duckdb
import pandas as pd

from connectors.contracts import INTERACTIONS

KINDS = ("portal_promise", "portal_dispute", "portal_plan_accepted", "portal_opt_out", "payment_succeeded")
#: Outcome of each kind in the interactions contract.
OUTCOME = {
    "portal_promise": "promise_to_pay",
    "portal_plan_accepted": "promise_to_pay",
    "portal_dispute": "dispute",
    "payment_succeeded": "paid_claim",
    "portal_opt_out": "replied",
}
#: The ``raw_crm.interactions`` contract's columns (the rows this module gives are interactions).
COLUMNS = tuple(INTERACTIONS.column_names)
SETTLED_COLUMNS = ("invoice_id", "customer_id", "reason", "occurred_at", "event_id")


def _has_payload(con: duckdb.DuckDBPyConnection) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.columns where table_schema = 'raw_channels' "
        "and table_name = 'webhook_events' and column_name = 'payload'"
    ).fetchone()
    return bool(rows[0])


def _frame(con: duckdb.DuckDBPyConnection, sql: str, columns: tuple[str, ...]) -> pd.DataFrame:
    cur = con.execute(sql)
    return pd.DataFrame(cur.fetchall(), columns=list(columns), dtype=object)


def portal_interactions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One inbound interaction per landed portal event (empty when there are none).

    Args:
        con: Connection with ``raw_channels.webhook_events``.

    Returns:
        The :data:`COLUMNS` (dates and amounts as the payload wrote them, strings).
    """
    if not _has_payload(con):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    outcome = " ".join(f"when '{k}' then '{v}'" for k, v in OUTCOME.items())
    kinds = ", ".join(f"'{k}'" for k in KINDS)
    sql = f"""
        select 'wh-' || event_id, customer_id, contact_id, 'portal', 'inbound', occurred_at,
               case kind {outcome} end,
               case kind
                   when 'portal_promise' then json_extract_string(payload, '$.promised_date')
                   when 'portal_plan_accepted' then json_extract_string(payload, '$.instalments[0].due_date')
               end,
               case kind
                   when 'portal_promise' then json_extract_string(payload, '$.amount')
                   when 'portal_plan_accepted' then json_extract_string(payload, '$.instalments[0].amount')
               end
        from raw_channels.webhook_events
        where kind in ({kinds}) and customer_id is not null
        order by occurred_at, event_id
    """
    return _frame(con, sql, COLUMNS)


def settled_online(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Invoices a pay-link payment covered, a portal dispute named, or a dispute the agent opened from a
    debtor's message named (``agent.decisions``, action ``dispute_opened``: the invoices the message named,
    or all the customer's open invoices when it named none), with the reason.

    Args:
        con: Connection with ``raw_channels.webhook_events`` and/or ``agent.decisions`` (the operational
            store or the warehouse; either may be missing).

    Returns:
        :data:`SETTLED_COLUMNS`, one row per invoice and event (``reason``: ``paid by pay link``,
        ``disputed on the portal`` or ``disputed in a reply``).
    """
    parts = []
    if _has_payload(con):
        parts.append("""
            select unnest(from_json(json_extract(payload, '$.invoices'), '["VARCHAR"]')) as invoice_id, customer_id,
                   case kind when 'payment_succeeded' then 'paid by pay link' else 'disputed on the portal' end,
                   occurred_at, event_id
            from raw_channels.webhook_events
            where kind in ('payment_succeeded', 'portal_dispute') and customer_id is not null and payload is not null
        """)
    if _has_table(con, "agent", "decisions"):
        parts.append("""
            select unnest(invoice_ids), customer_id, 'disputed in a reply', occurred_at, interaction_id
            from agent.decisions
            where agent_action = 'dispute_opened' and customer_id is not null and invoice_ids is not null
        """)
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SETTLED_COLUMNS})
    sql = " union all ".join(parts)
    lifts = _lifts_sql(con)
    if lifts:
        # A dispute a person resolved in the CRM after it was opened here no longer holds the invoice back.
        sql = f"""
            select s.* from ({sql}) as s(invoice_id, customer_id, reason, occurred_at, event_id)
            where s.reason = 'paid by pay link' or not exists (
                select 1 from ({lifts}) l where l.invoice_id = s.invoice_id and l.resolved_at >= s.occurred_at
            )
        """
        cur = con.execute(sql)
        return pd.DataFrame(cur.fetchall(), columns=list(SETTLED_COLUMNS), dtype=object)
    return _frame(con, sql, SETTLED_COLUMNS)


#: Disputes resolved in the CRM, copied into the operational store by the daily decision
#: (:func:`record_dispute_lifts`) so the pre-send re-check, which has no CRM data, lifts them too.
LIFTS_TABLE = "agent.dispute_lifts"


_CRM_RESOLVED = (
    "select invoice_id, cast(resolved_at as timestamp) as resolved_at from raw_crm.disputes "
    "where lower(status) = 'resolved' and resolved_at is not null"
)


def _lifts_sql(con: duckdb.DuckDBPyConnection) -> str:
    parts = []
    if _has_table(con, "raw_crm", "disputes"):
        parts.append(_CRM_RESOLVED)
    if _has_table(con, *LIFTS_TABLE.split(".")):
        parts.append(f"select invoice_id, resolved_at from {LIFTS_TABLE}")
    return " union all ".join(parts)


def resolved_disputes(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Disputes a person resolved in the CRM (``raw_crm.disputes``): ``invoice_id``, ``resolved_at``."""
    if not _has_table(con, "raw_crm", "disputes"):
        return pd.DataFrame({"invoice_id": pd.Series(dtype=object), "resolved_at": pd.Series(dtype=object)})
    cur = con.execute(_CRM_RESOLVED)
    return pd.DataFrame(cur.fetchall(), columns=["invoice_id", "resolved_at"], dtype=object)


def record_dispute_lifts(con: duckdb.DuckDBPyConnection, resolved: pd.DataFrame) -> int:
    """Keep the CRM's resolved disputes in ``con``'s :data:`LIFTS_TABLE` (the operational store); return
    how many were new."""
    con.execute(
        f"create schema if not exists agent; create table if not exists {LIFTS_TABLE} "
        "(invoice_id varchar not null, resolved_at timestamp not null, primary key (invoice_id, resolved_at))"
    ).fetchall()
    if resolved is None or resolved.empty:
        return 0
    before = con.execute(f"select count(*) from {LIFTS_TABLE}").fetchall()[0][0]
    # One set-based insert: the CRM's whole history of resolved disputes comes every day, and a
    # row-by-row executemany grew with it (issue 19: the decide stage at profile L).
    lifts = pd.DataFrame(
        {
            "invoice_id": resolved["invoice_id"].astype(str),
            "resolved_at": pd.to_datetime(resolved["resolved_at"]).astype("datetime64[us]"),
        }
    )
    con.register("_dispute_lifts", lifts)
    try:
        con.execute(
            f"insert or ignore into {LIFTS_TABLE} select distinct invoice_id, resolved_at from _dispute_lifts"
        ).fetchall()
    finally:
        con.unregister("_dispute_lifts")
    return con.execute(f"select count(*) from {LIFTS_TABLE}").fetchall()[0][0] - before


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchone()
    return bool(rows[0])

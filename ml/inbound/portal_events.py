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
  queued reminder about them is cancelled before the bank statement or the CRM catches up.
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
    return _frame(con, " union all ".join(parts), SETTLED_COLUMNS)


def _has_table(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchone()
    return bool(rows[0])

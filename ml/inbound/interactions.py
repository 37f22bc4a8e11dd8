"""Turn landed webhook events into customer interactions (the ``raw_crm.interactions`` contract).

Delivery and read statuses become outbound interactions of the task they belong to (matched on our
task id echoed by the provider, else on the provider message id recorded when the task was sent):
``delivered``, ``read``, and ``bounced`` for ``failed``/``undelivered``. Inbound messages become
inbound interactions of the customer they come from (the task they reply to, by WhatsApp
``context.id``; else the phone number we last wrote to; else the contact directory), and their text
is read by :func:`ml.inbound.reader.read_message` and its intent kept in the contract's outcome
vocabulary (:data:`OUTCOME_OF_INTENT`): ``promise_to_pay`` (with promised date and amount),
``dispute``, ``paid_claim``, and ``replied`` for every other intent (an opt-out is withdrawn by
``ml.inbound.optouts``; hand-offs go to a person). ``fct_interactions`` and the decision inputs read these
rows through ``stg_crm__interactions``, so a promise or a dispute suppresses the next reminder.

Interaction ids are ``wh-<event id>``, so re-building from the same events lands nothing twice.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pandas as pd
import pyarrow as pa

from connectors.contracts import INTERACTIONS
from ml.inbound.portal_events import portal_interactions

#: The ``raw_crm.interactions`` contract's columns, in landing order (the one definition: the contract).
COLUMNS = tuple(INTERACTIONS.column_names)

#: Reader intents that are interaction outcomes (the ``raw_crm.interactions`` vocabulary); others: ``replied``.
OUTCOME_OF_INTENT = {"promise_to_pay": "promise_to_pay", "dispute": "dispute", "paid_claim": "paid_claim"}

_STATUSES = """
with tasks as (
    select task_id, customer_id, contact_id, case when channel = 'call' then 'call' else channel end as channel
    from outbox.contact_tasks
),
sent as (
    select e.provider_message_id, any_value(e.task_id) as task_id
    from outbox.task_events e
    where e.state = 'sent' and e.provider_message_id is not null
    group by e.provider_message_id
)
select 'wh-' || w.event_id as interaction_id, t.customer_id, t.contact_id, t.channel,
       'outbound' as direction, w.occurred_at,
       case w.status when 'delivered' then 'delivered' when 'read' then 'read' else 'bounced' end as outcome
from raw_channels.webhook_events w
left join sent s on s.provider_message_id = w.provider_message_id
join tasks t on t.task_id = coalesce(w.correlation_id, s.task_id)
where w.kind = 'status' and w.status in ('delivered', 'read', 'failed', 'undelivered')
"""

_MESSAGES = """
with sent as (
    select e.provider_message_id, any_value(t.customer_id) as customer_id, any_value(t.contact_id) as contact_id,
           any_value(t.payload ->> 'language') as language, any_value(lower(t.payload ->> 'email')) as email
    from outbox.task_events e join outbox.contact_tasks t using (task_id)
    where e.state = 'sent' and e.provider_message_id is not null
    group by e.provider_message_id
),
phones as (
    select regexp_replace(payload ->> 'phone', '[^0-9]', '', 'g') as digits,
           arg_max(customer_id, created_at) as customer_id, arg_max(contact_id, created_at) as contact_id,
           arg_max(payload ->> 'language', created_at) as language
    from outbox.contact_tasks
    where payload ->> 'phone' is not null
    group by 1
),
emails as (
    select lower(trim(payload ->> 'email')) as address,
           arg_max(customer_id, created_at) as customer_id, arg_max(contact_id, created_at) as contact_id,
           arg_max(payload ->> 'language', created_at) as language
    from outbox.contact_tasks
    where payload ->> 'email' like '%@%'
    group by 1
)
{directory_cte}
select 'wh-' || w.event_id as interaction_id,
       coalesce(s.customer_id, p.customer_id{dir_customer}) as customer_id,
       coalesce(s.contact_id, p.contact_id{dir_contact}) as contact_id,
       case w.provider when 'whatsapp' then 'whatsapp' when 'email' then 'email' else 'sms' end as channel,
       'inbound' as direction, w.occurred_at, w.text,
       coalesce(s.language, p.language{dir_language}) as language
from raw_channels.webhook_events w
-- the message it answers (WhatsApp context id, e-mail In-Reply-To); an e-mail only from the address we wrote to
left join sent s on s.provider_message_id = w.context_message_id
    and (w.provider <> 'email' or s.email = lower(w.from_addr))
left join (
    select digits as address, customer_id, contact_id, language, 'phone' as kind from phones
    union all select address, customer_id, contact_id, language, 'email' from emails
) p on p.kind = case when w.provider = 'email' then 'email' else 'phone' end
    and p.address = case when w.provider = 'email' then lower(trim(w.from_addr))
                         else regexp_replace(w.from_addr, '[^0-9]', '', 'g') end
{directory_join}
where w.kind = 'message'
"""

_DIRECTORY_CTE = """,
directory as (
    select regexp_replace(phone, '[^0-9]', '', 'g') as address, 'phone' as kind, min(customer_id) as customer_id,
           min(contact_id) as contact_id, min(language) as language
    from {directory}
    where phone is not null
    group by 1
    union all
    select lower(trim(email)), 'email', min(customer_id), min(contact_id), min(language)
    from {directory}
    where email like '%@%'
    group by 1
)"""
_DIRECTORY_JOIN = """left join directory d on d.kind = case when w.provider = 'email' then 'email' else 'phone' end
    and d.address = case when w.provider = 'email' then lower(trim(w.from_addr))
                         else regexp_replace(w.from_addr, '[^0-9]', '', 'g') end"""


@dataclass(frozen=True)
class InboundSummary:
    """Counts of one build."""

    statuses: int
    messages: int
    unmatched_messages: int
    promises: int
    disputes: int


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()
    return bool(rows[0][0])


def build_interactions(
    con: duckdb.DuckDBPyConnection, directory: str = "marts.dim_contacts"
) -> tuple[pa.Table, InboundSummary]:
    """Interactions (all columns as text, the raw contract's landing shape) from the landed events.

    Args:
        con: Connection with ``raw_channels.webhook_events`` and the outbox (the warehouse, or the
            operational store ``connectors.ops_store``).
        directory: The contact directory (``contact_id``, ``customer_id``, ``phone``, ``language``)
            used for a message from a number we never wrote to; skipped when absent.

    Returns:
        The rows and a summary.
    """
    empty = pa.table({c: pa.array([], pa.string()) for c in COLUMNS})
    if not (_exists(con, "raw_channels", "webhook_events") and _exists(con, "outbox", "contact_tasks")):
        return empty, InboundSummary(0, 0, 0, 0, 0)
    cur = con.execute(_STATUSES)
    statuses = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    has_dir = _exists(con, *directory.split(".", 1))
    sql = _MESSAGES.format(
        directory_cte=_DIRECTORY_CTE.format(directory=directory) if has_dir else "",
        dir_customer=", d.customer_id" if has_dir else "",
        dir_contact=", d.contact_id" if has_dir else "",
        dir_language=", d.language" if has_dir else "",
        directory_join=_DIRECTORY_JOIN if has_dir else "",
    )
    cur = con.execute(sql)
    messages = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])
    unmatched = int(messages["customer_id"].isna().sum()) if len(messages) else 0
    messages = messages[messages["customer_id"].notna()] if len(messages) else messages
    from ml.inbound.reader import read_message  # scikit-learn: imported when there is a message to read

    readings = [
        read_message(text, lang=lang, sent_at=pd.Timestamp(at).date())
        for text, at, lang in zip(
            messages.get("text", []), messages.get("occurred_at", []), messages.get("language", []), strict=True
        )
    ]
    rows: list[dict[str, object]] = statuses.assign(promised_date=None, promised_amount=None).to_dict("records")
    for rec, reading in zip(messages.to_dict("records"), readings, strict=True):
        rows.append(
            {
                **{
                    k: rec[k]
                    for k in ("interaction_id", "customer_id", "contact_id", "channel", "direction", "occurred_at")
                },
                "outcome": OUTCOME_OF_INTENT.get(reading.intent, "replied"),
                "promised_date": reading.promised_date,
                "promised_amount": reading.amount if reading.intent == "promise_to_pay" else None,
            }
        )
    # What the debtor did on the portal: promises, plans, disputes, pay-link payments, opt-outs.
    rows += portal_interactions(con).to_dict("records")
    table = pa.table(
        {
            c: pa.array(
                [
                    None if r.get(c) is None or (not isinstance(r.get(c), str) and pd.isna(r.get(c))) else _text(r[c])
                    for r in rows
                ],
                pa.string(),
            )
            for c in COLUMNS
        }
    )
    summary = InboundSummary(
        statuses=len(statuses),
        messages=len(messages),
        unmatched_messages=unmatched,
        promises=sum(r.intent == "promise_to_pay" for r in readings),
        disputes=sum(r.intent == "dispute" for r in readings),
    )
    return table, summary


def _text(value: object) -> str:
    if isinstance(value, pd.Timestamp):
        return value.isoformat(sep=" ")
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value)

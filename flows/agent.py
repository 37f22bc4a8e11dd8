"""The agent stage of the inbound flow: answer every newly landed inbound message (issue 20).

For each inbound message the inbound flow has just landed (in the last :data:`REPLY_WINDOW`: a first
pass on an old store does not answer last month's messages) and the agent has not decided on yet
(``agent.decisions`` in the operational store, keyed by the interaction id): read it
(``ml.inbound.reader``), gather what the agent may know - the customer's statement from the published
warehouse copy (``portal.statements``), whether the sender's address is a contact of that customer
(the serving contact directory), a recent bank credit (``marts.fct_payments``), the plan offered last
and the opt-outs already confirmed (earlier decisions) - and let :func:`ml.agent.policy.decide` decide.
Its reply goes to the outbox as an ``agent_reply`` task on the channel the message came from, to the
address it came from, keyed by the message (``outbox.message_task_key``: a re-run never answers
twice), sendable at once (the sender uses free text inside WhatsApp's 24-hour window, the approved
template outside it); a hand-off becomes an ``agent_handoff`` task on the ``internal`` queue carrying
the thread and the reason. A plan accepted in a reply lands as a promise of its first instalment.
The decision row keeps intent, confidence and action for the interaction log and the KPI report.
Each pass also follows the accepted payment plans (:func:`track_plans`): an instalment kept in the bank
or ERP data makes the next one the customer's promise, so dunning stays paused while the plan is paid.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from flows.context import RunContext, run_logger
from flows.service import ops_connection
from ml.agent.log import N_COLUMNS, TABLE, ensure_table

#: How long an agent reply may wait before it is dead-lettered (inside WhatsApp's service window).
REPLY_WINDOW = timedelta(hours=23)
#: How long a plan offered in a reply can be accepted by "acepto".
OFFER_VALID = timedelta(days=7)
#: Messages of the same customer carried in a hand-off task (the thread).
THREAD_LENGTH = 10


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))


def _new_messages(con: duckdb.DuckDBPyConnection, now_utc: datetime) -> pd.DataFrame:
    """Inbound messages of the last :data:`REPLY_WINDOW` not decided yet, with the customer the inbound
    flow matched them to (none for an unknown sender: it still gets a decision, a hand-off)."""
    since = pd.Timestamp(now_utc).tz_convert("UTC").tz_localize(None) - REPLY_WINDOW
    cur = con.execute(
        f"""
        select 'wh-' || w.event_id as interaction_id, i.customer_id, i.contact_id,
               coalesce(i.channel, case w.provider when 'whatsapp' then 'whatsapp' when 'email' then 'email'
                                                   else 'sms' end) as channel,
               cast(w.occurred_at as timestamp) as occurred_at, w.text, w.from_addr,
               w.provider_message_id, json_extract_string(w.payload, '$.subject') as subject,
               json_extract(w.payload, '$.references') as refs
        from raw_channels.webhook_events w
        left join inbound.interactions i on i.interaction_id = 'wh-' || w.event_id
        where w.kind = 'message' and w.occurred_at >= ?
          and not exists (select 1 from {TABLE} d where d.interaction_id = 'wh-' || w.event_id)
        order by occurred_at, interaction_id
        """,
        [since.to_pydatetime()],
    )
    return pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description])


def _reply_subject(subject: Any) -> str:
    """``Re: <the debtor's subject>`` (kept as it is when it already starts with a reply prefix)."""
    text = re.sub(r"\s+", " ", str(subject or "")).strip()[:200]
    if not text:
        return "Re:"
    return text if re.match(r"(?i)^(re|aw|res|rv|sv)\s*:", text) else f"Re: {text}"


def _references(refs: Any, message_id: Any) -> list[str]:
    """The thread's References: the debtor's message's own References, then its Message-ID."""
    try:
        found = [str(r) for r in json.loads(refs)] if isinstance(refs, str) else list(refs or [])
    except (TypeError, ValueError):
        found = []
    return [*found, str(message_id)][-10:] if message_id else found[-10:]


def _contacts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    from connectors import ops_store, warehouse

    if not warehouse.table_exists(con, ops_store.SERVING_CONTACTS):
        return pd.DataFrame(columns=["contact_id", "customer_id", "phone", "email", "language"])
    return con.execute(f"select * from {ops_store.SERVING_CONTACTS}").df()


def _payment(snapshot: Path, customer_id: str, since: Any) -> Any:
    """The customer's latest bank credit booked since ``since`` in the published copy (or None)."""
    from ml.agent.policy import Payment

    if not snapshot.is_file():
        return None
    with duckdb.connect(str(snapshot), read_only=True) as wh:
        has = wh.execute(
            "select count(*) from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'fct_payments'"
        ).fetchall()[0][0]
        if not has:
            return None
        row = wh.execute(
            "select booking_date, amount, currency from marts.fct_payments where customer_id = ? and booking_date >= ? "
            "and not coalesce(is_reversed, false) order by booking_date desc limit 1",
            [customer_id, since],
        ).fetchone()
    return Payment(row[0], row[1], str(row[2])) if row else None


def _earlier(con: duckdb.DuckDBPyConnection, customer_id: str, from_addr: str, at: datetime) -> tuple[int | None, set]:
    """The plan count offered to the customer and not yet accepted (within :data:`OFFER_VALID`), and the
    opt-out scopes already confirmed to this address."""
    rows = con.execute(
        f"select agent_action, plan ->> 'count', occurred_at from {TABLE} where customer_id = ? "
        "and agent_action in ('plan_offered', 'plan_accepted') order by occurred_at desc limit 1",
        [customer_id],
    ).fetchall()
    offer = None
    if rows and rows[0][0] == "plan_offered" and at - rows[0][2] <= OFFER_VALID:
        offer = int(rows[0][1])
    scopes = con.execute(
        f"select distinct coalesce(json_extract_string(plan, '$.scope'), channel) from {TABLE} "
        "where from_addr = ? and agent_action = 'opt_out_confirmed'",
        [from_addr],
    ).fetchall()
    return offer, {r[0] for r in scopes}


def _thread(con: duckdb.DuckDBPyConnection, customer_id: str | None, from_addr: str) -> list[str]:
    """The last messages of the customer (or of the address, for an unknown sender), oldest first."""
    rows = con.execute(
        """
        select w.occurred_at, w.from_addr, w.text from raw_channels.webhook_events w
        left join inbound.interactions i on i.interaction_id = 'wh-' || w.event_id
        where w.kind = 'message' and (i.customer_id = ? or w.from_addr = ?)
        order by w.occurred_at desc limit ?
        """,
        [customer_id, from_addr, THREAD_LENGTH],
    ).fetchall()
    from cobranza.logmask import mask

    return [f"{at:%Y-%m-%d %H:%M} UTC {mask(str(addr))}: {text}" for at, addr, text in reversed(rows)]


def track_plans(con: duckdb.DuckDBPyConnection, snapshot: Path, ctx: RunContext) -> int:
    """Follow every accepted payment plan (``ml.agent.plan_tracking``) against the payments in the
    published copy and land the promise of each instalment after a kept one; return how many were new."""
    import pyarrow as pa

    from connectors import ops_store
    from ml.agent import plan_tracking

    if not snapshot.is_file():
        return 0
    try:
        with duckdb.connect(str(snapshot), read_only=True) as wh:
            tracked = plan_tracking.track_all(con, wh, ctx.as_of, ctx.settings.nba.promise_grace_days)
    except duckdb.Error as exc:  # a copy being replaced or damaged: the next pass tracks them
        run_logger().warning("agent: payment plans not tracked this pass (published copy %s: %s)", snapshot, exc)
        return 0
    rows = plan_tracking.next_instalment_promises(tracked)
    if not rows:
        return 0
    return ops_store.land_interactions(con, pa.Table.from_pylist(rows), ctx.now_utc)


def _alert_holds(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, ...]]:
    """Customer -> reason codes of its open fraud/redirection alert, as last published to the store."""
    from ml.alerts.lifecycle import published_holds

    holds = published_holds(con)
    if holds is None or holds.empty:
        return {}
    held = holds[holds["alert_hold"].fillna(False).astype(bool)]
    return {
        str(c): tuple(str(k) for k in codes if str(k).startswith("hold:"))
        for c, codes in zip(held["customer_id"], held["alert_codes"], strict=True)
    }


def answer_messages(ctx: RunContext, *, portal_base: str | None = None, portal_secret: str | None = None) -> dict:
    """Decide on every new inbound message and queue the replies and hand-offs (see the module docstring).

    Args:
        ctx: The run context (clock ``now_utc``; settings: published copy, operational store).
        portal_base: Public base URL of the portal (default: :func:`portal.links.portal_config`; no
            portal link in replies when none is configured).
        portal_secret: The portal's token secret (default: :func:`portal.links.portal_secret`).

    Returns:
        Counts: ``messages`` decided, ``replies`` and ``handoffs`` queued, and per ``agent_action``.
    """
    from connectors.channels import outbox
    from ml.agent.policy import AgentContext, decide
    from ml.inbound.reader import read_message
    from portal.links import portal_config, portal_url
    from portal.statements import SnapshotUnavailable, read_statement

    settings = ctx.settings
    portal = portal_config(settings, base=portal_base, secret=portal_secret)
    base, secret = (portal.base, portal.secret) if portal else (None, None)
    snapshot = settings.published_path
    counts: dict[str, int] = {"messages": 0, "replies": 0, "handoffs": 0}
    with ops_connection(settings, "agent") as con:
        ensure_table(con)
        counts["plan_instalment_promises"] = track_plans(con, snapshot, ctx)
        new = _new_messages(con, ctx.now_utc)
        if new.empty:
            return counts
        directory = _contacts(con)
        alert_holds = _alert_holds(con)
        tasks, decisions, promises = [], [], []
        statements: dict[str, Any] = {}
        for m in new.itertuples(index=False):
            at = pd.Timestamp(m.occurred_at).tz_localize("UTC").to_pydatetime()
            cid = None if m.customer_id is None or pd.isna(m.customer_id) else str(m.customer_id)
            st = None
            if cid is not None and cid not in statements:
                try:
                    statements[cid] = read_statement(snapshot, cid)
                except SnapshotUnavailable as exc:
                    run_logger().warning("agent: no statement for %s (%s); the message goes to a person", cid, exc)
                    statements[cid] = None
            st = statements.get(cid) if cid else None
            mine = directory[directory["customer_id"].astype(str) == cid] if cid else directory.iloc[0:0]
            phone = m.channel in ("whatsapp", "sms")
            address = _digits(m.from_addr) if phone else str(m.from_addr or "").strip().lower()
            emails = {str(e).strip().lower() for e in mine.get("email", [])}
            known = {_digits(p) for p in mine.get("phone", [])} | emails
            if m.channel == "email":
                contact = mine[mine["email"].astype(str).str.strip().str.lower() == address]
            else:
                contact = mine[mine["phone"].map(_digits) == address] if "phone" in mine else mine.iloc[0:0]
            language = contact["language"].iloc[0] if len(contact) else (st.language if st else None)
            reading = read_message(
                m.text,
                lang=language,
                channel=m.channel,
                sent_at=at,
                currency_hint=st.currency if st else None,
                country=st.country if st else None,
            )
            offer, confirmed = _earlier(con, cid, str(m.from_addr), at.replace(tzinfo=None)) if cid else (None, set())
            link = portal_url(base, cid, secret, now=at) if base and cid and secret else None
            invoice_links = {i.invoice_id: f"{link}/invoice/{i.invoice_id}" for i in st.invoices} if link and st else {}
            decision = decide(
                reading,
                AgentContext(
                    channel=m.channel,
                    today=at.date(),
                    statement=st,
                    verified=bool(address) and address in known,
                    portal_link=link,
                    invoice_links=invoice_links,
                    payment=_payment(snapshot, cid, at.date() - timedelta(days=14))
                    if cid and reading.intent == "paid_claim"
                    else None,
                    plan_offer=offer,
                    opt_out_confirmed=frozenset(confirmed),
                    contact_name=contact["full_name"].iloc[0] if len(contact) and "full_name" in contact else None,
                    promise_grace_days=settings.nba.promise_grace_days,
                    alert_hold=alert_holds.get(cid, ()) if cid else (),
                ),
            )
            reply_id = handoff_id = None
            common = {
                "customer_id": cid or "unknown",
                "contact_id": contact["contact_id"].iloc[0] if len(contact) else None,
                "decision_date": at.date(),
                "scheduled_at": at,
                "not_before": at,
                "amount_at_stake": st.balance() if st else 0,
                "currency": st.currency if st else "USD",
                "reason_codes": [f"agent:{decision.action}", f"intent:{reading.intent}"],
            }
            if decision.reply:
                reply_id = outbox.message_task_key(m.interaction_id, "agent_reply")
                tasks.append(
                    {
                        **common,
                        "task_id": reply_id,
                        "action": "agent_reply",
                        "channel": m.channel,
                        "not_after": at + REPLY_WINDOW,
                        "invoice_ids": [],
                        "payload": {
                            "reply_body": decision.reply,
                            "reply_subject": _reply_subject(m.subject) if m.channel == "email" else None,
                            # e-mail threading: the answer sits under the debtor's message in their client
                            "reply_message_id": m.provider_message_id if m.channel == "email" else None,
                            "reply_references": _references(m.refs, m.provider_message_id)
                            if m.channel == "email"
                            else None,
                            "in_reply_to": m.interaction_id,
                            "language": decision.language,
                            "country": st.country if st else None,
                            "currency": common["currency"],
                            "amount_at_stake": common["amount_at_stake"],
                            "customer_name": st.customer_name if st else None,
                            "contact_name": None,
                            "phone": "+" + address if m.channel in ("whatsapp", "sms") else None,
                            "email": address if m.channel == "email" else None,
                            "payment_link": link,
                            "invoices": [],
                        },
                    }
                )
            if decision.handed_off:
                handoff_id = outbox.message_task_key(m.interaction_id, "agent_handoff")
                thread = _thread(con, cid, str(m.from_addr))
                tasks.append(
                    {
                        **common,
                        "task_id": handoff_id,
                        "action": "agent_handoff",
                        "channel": "internal",
                        "not_after": at + outbox.DEFAULT_TASK_WINDOW,
                        "invoice_ids": list(decision.invoices),
                        "payload": {
                            "reply_subject": f"Inbound {m.channel} message: {decision.handoff_reason}",
                            "reply_body": "\n".join(
                                [
                                    f"Reason: {decision.handoff_reason}",
                                    f"Customer: {cid or 'unknown (no data disclosed)'}",
                                    f"Read as: {reading.intent} ({reading.confidence:.2f})",
                                    "Invoices: " + (", ".join(decision.invoices) or "-"),
                                    "Thread:",
                                    *thread,
                                ]
                            ),
                            "language": "en",
                            "currency": common["currency"],
                            "amount_at_stake": common["amount_at_stake"],
                            "customer_name": st.customer_name if st else None,
                            "invoices": [],
                        },
                    }
                )
            if decision.action == "plan_accepted" and cid:
                promises.append(
                    {
                        "interaction_id": f"ag-plan-{m.interaction_id}",
                        "customer_id": cid,
                        "contact_id": common["contact_id"],
                        "channel": m.channel,
                        "direction": "inbound",
                        "occurred_at": str(pd.Timestamp(at.replace(tzinfo=None))),
                        "outcome": "promise_to_pay",
                        "promised_date": decision.promised_date.isoformat(),
                        "promised_amount": str(decision.promised_amount),
                    }
                )
            plan = None
            if decision.plan is not None:
                plan = {
                    "count": decision.plan.count,
                    "total": str(decision.plan.total),
                    "currency": decision.plan.currency,
                    "instalments": [
                        {"number": i.number, "due_date": i.due_date.isoformat(), "amount": str(i.amount)}
                        for i in decision.plan.instalments
                    ],
                }
            elif decision.record:
                plan = dict(decision.record)
            decisions.append(
                [
                    m.interaction_id, cid, common["contact_id"], m.channel, str(m.from_addr or ""),
                    at.replace(tzinfo=None), reading.intent, float(reading.confidence), decision.language,
                    decision.action, decision.handoff_reason, list(decision.invoices), decision.promised_date,
                    decision.promised_amount, decision.hold_until, json.dumps(plan) if plan else None,
                    reply_id, handoff_id, ctx.now_utc.replace(tzinfo=None),
                ]
            )  # fmt: skip
            counts[decision.action] = counts.get(decision.action, 0) + 1
        if promises:
            import pyarrow as pa

            from connectors import ops_store

            ops_store.land_interactions(con, pa.Table.from_pylist(promises), ctx.now_utc)
        outbox.enqueue_tasks(con, tasks, created_at=ctx.now_utc)
        con.executemany(f"insert into {TABLE} values ({', '.join(['?'] * N_COLUMNS)})", decisions)
    counts["messages"] = len(decisions)
    counts["replies"] = sum(t["action"] == "agent_reply" for t in tasks)
    counts["handoffs"] = sum(t["action"] == "agent_handoff" for t in tasks)
    run_logger().info("agent: %s", counts)
    return counts


def _task() -> Any:
    from prefect import task

    return task(name="answer-inbound-messages")(answer_messages)


#: The stage as a Prefect task (the inbound flow runs it after landing the events).
answer_inbound_messages = _task()

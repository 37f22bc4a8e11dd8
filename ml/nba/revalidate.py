"""Pre-send re-check of queued contact tasks against what the warehouse knows now.

A decision is made in the morning and its contact may be queued for a later lawful window (the
debtor's 09:00, the next business day). Between the two the world moves: the hourly bank sync sees
the payment, a dispute is opened, the contact replies STOP. Sending the queued message then would
chase a paid or disputed invoice or message someone without consent, so every customer-facing task
still waiting to be sent is checked again just before dispatch, and cancelled with the reason when:

- one of the invoices it names is no longer open and undisputed (paid in the ERP or seen paid in the
  bank, credited, cancelled, disputed) - the whole message is cancelled, not edited: its rendered
  text lists the invoices, and tomorrow's decision covers what is still owed;
- its contact no longer consents to the task's channel in the CRM's consent flags;
- its contact, or the address it is to go to, opted out of the task's channel (or of every channel)
  since: an unsubscribe link, a WhatsApp stop, a "STOP, no me escriban más" reply
  (``ml.inbound.optouts.opt_outs``, read from the webhook events landed minutes before dispatch, not
  from yesterday's marts);
- its contact is no longer on file;
- its customer promised to pay or disputed in a reply from the decision's day on (the decision
  did not know; tomorrow's decision reads the promise or the dispute from the interactions).
- its customer has an open fraud or redirection alert (``ml.nba.holds.held_by_alerts``; a written
  contact quotes payment details, so it is held and the alert's review task routes it to a person).

Internal tasks (dispute review) are never cancelled here, nor the agent's answers to a message the
customer just sent (action :data:`REPLY_ACTIONS`: the confirmation of a STOP or of a promise must
reach them although the STOP or the promise would cancel a reminder). The rules are pure functions over frames,
so the daily flow (outbox tasks against ``marts.fct_invoices`` and ``marts.dim_contacts``) and the
closed-loop evaluation (its observed state) apply the same ones.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cobranza.logmask import mask
from ml.nba.holds import held_by_alerts

#: Task actions that answer an inbound message (``flows/agent.py``): never cancelled by this re-check.
REPLY_ACTIONS = ("agent_reply",)

#: Consent flag of each customer-facing task channel (``dim_contacts`` / raw CRM contacts).
CONSENT_COLUMN = {
    "email": "consent_email",
    "whatsapp": "consent_whatsapp",
    "sms": "consent_sms",
    "call": "consent_call",
    "call_task": "consent_call",
}


def still_open_invoices(invoices: pd.DataFrame) -> set[str]:
    """Invoices a contact may still be about: posted, with an amount open, not disputed.

    Args:
        invoices: ``invoice_id``, ``status``, ``amount_open`` (ERP state plus bank payments the ERP
            has not recorded yet, as ``fct_invoices`` computes it) and ``is_disputed``.

    Returns:
        The ``invoice_id`` values.
    """
    if invoices.empty:
        return set()
    ok = (
        (invoices["status"] == "posted")
        & (invoices["amount_open"].astype(float) > 0)
        & ~invoices["is_disputed"].fillna(False).astype(bool)
    )
    return set(invoices.loc[ok, "invoice_id"].astype(str))


def _reasons(task_ids: pd.Series, reasons: pd.Series) -> pd.DataFrame:
    return pd.DataFrame({"task_id": task_ids.to_numpy(dtype=object), "reason": reasons.to_numpy(dtype=object)})


def invoices_gone(tasks: pd.DataFrame, open_invoices: set[str]) -> pd.DataFrame:
    """Customer-facing tasks naming an invoice that is no longer open and undisputed.

    Args:
        tasks: ``task_id``, ``channel`` and ``invoice_ids`` (list of invoice ids).
        open_invoices: Invoices still open and undisputed (:func:`still_open_invoices`).

    Returns:
        ``task_id`` and ``reason`` (the invoices gone, in the task's order).
    """
    facing = tasks[tasks["channel"].isin(list(CONSENT_COLUMN))]
    named = facing[["task_id", "invoice_ids"]].explode("invoice_ids").dropna(subset=["invoice_ids"])
    named = named.assign(invoice_id=named["invoice_ids"].astype(str))
    gone = named[~named["invoice_id"].isin(open_invoices)].groupby("task_id", sort=False)["invoice_id"].agg(", ".join)
    why = "no longer open and undisputed (paid, credited, cancelled or disputed since the decision)"
    return _reasons(gone.index.to_series(), "invoice " + gone + " " + why)


def consent_withdrawn(tasks: pd.DataFrame, contacts: pd.DataFrame) -> pd.DataFrame:
    """Customer-facing tasks whose contact is gone or no longer consents to the task's channel.

    Args:
        tasks: ``task_id``, ``channel`` and ``contact_id``.
        contacts: ``contact_id`` and the consent columns of :data:`CONSENT_COLUMN` (unknown = no).

    Returns:
        ``task_id`` and ``reason``.
    """
    facing = tasks[tasks["channel"].isin(list(CONSENT_COLUMN))][["task_id", "channel", "contact_id"]]
    flags = list(dict.fromkeys(CONSENT_COLUMN.values()))
    known = contacts.drop_duplicates("contact_id", keep="last").reindex(columns=["contact_id", *flags])
    known = known.assign(_on_file=True)
    rows = facing.merge(known, on="contact_id", how="left")
    on_file = rows["_on_file"].eq(True).to_numpy()
    consent = np.zeros(len(rows), dtype=bool)
    for channel, column in CONSENT_COLUMN.items():
        mine = (rows["channel"] == channel).to_numpy()
        consent[mine] = rows.loc[mine, column].eq(True).to_numpy()
    bad = ~on_file | ~consent
    contact = rows["contact_id"].astype(str)
    reason = np.where(
        on_file,
        "contact " + contact + " no longer consents to " + rows["channel"],
        "contact " + contact + " no longer on file",
    )
    return _reasons(rows.loc[bad, "task_id"], pd.Series(reason[bad]))


#: The opt-out channel each task channel answers to (besides ``all``).
_OPT_OUT_CHANNEL = {"email": "email", "whatsapp": "whatsapp", "sms": "sms", "call": "call", "call_task": "call"}


def _task_address(channel: str, payload: object) -> str | None:
    """The address a task goes to, in the form opt-outs carry: e-mail lower case, phone digits."""
    if not isinstance(payload, dict):
        return None
    if channel == "email":
        value = str(payload.get("email") or "").strip().lower()
        return value or None
    digits = re.sub(r"\D", "", str(payload.get("phone") or ""))
    return digits or None


def opted_out(tasks: pd.DataFrame, opt_outs: pd.DataFrame) -> pd.DataFrame:
    """Customer-facing tasks to a contact or an address that opted out of the task's channel (or all).

    Args:
        tasks: ``task_id``, ``channel``, ``contact_id`` and ``payload`` (dict with ``email``/``phone``;
            optional: without it only the contact is matched).
        opt_outs: ``contact_id``, ``address``, ``channel`` (``email``, ``whatsapp``, ``sms``, ``call``
            or ``all``), ``occurred_at`` and ``source`` (``ml.inbound.optouts.opt_outs``).

    Returns:
        ``task_id`` and ``reason`` (addresses masked).
    """
    facing = tasks[tasks["channel"].isin(list(CONSENT_COLUMN))]
    if facing.empty or opt_outs is None or opt_outs.empty:
        return _reasons(pd.Series([], dtype=object), pd.Series([], dtype=object))
    payloads = facing["payload"] if "payload" in facing.columns else pd.Series([None] * len(facing), index=facing.index)
    by_contact: dict[tuple[str, str], object] = {}
    by_address: dict[tuple[str, str], object] = {}
    for o in opt_outs.itertuples(index=False):
        if getattr(o, "contact_id", None):
            by_contact.setdefault((str(o.contact_id), o.channel), o)
        if getattr(o, "address", None):
            by_address.setdefault((str(o.address), o.channel), o)
    ids, reasons = [], []
    for task_id, channel, contact, payload in zip(
        facing["task_id"], facing["channel"], facing["contact_id"], payloads, strict=True
    ):
        wanted = (_OPT_OUT_CHANNEL[channel], "all")
        address = _task_address(channel, payload)
        hit = next((by_contact[(str(contact), c)] for c in wanted if (str(contact), c) in by_contact), None)
        who = f"contact {contact}"
        if hit is None and address:
            hit = next((by_address[(address, c)] for c in wanted if (address, c) in by_address), None)
            who = f"address {mask(address if channel == 'email' else '+' + address)}"
        if hit is None:
            continue
        scope = "every channel" if hit.channel == "all" else hit.channel
        when = pd.Timestamp(hit.occurred_at).strftime("%Y-%m-%d %H:%M") if hit.occurred_at is not None else "?"
        ids.append(task_id)
        reasons.append(f"{who} opted out of {scope} ({hit.source}, {when} UTC)")
    return _reasons(pd.Series(ids, dtype=object), pd.Series(reasons, dtype=object))


def apply_opt_outs(contacts: pd.DataFrame, opt_outs: pd.DataFrame | None) -> pd.DataFrame:
    """The contacts with the consent flags the landed opt-outs withdrew set to False.

    The CRM's consent flags lag: an unsubscribe click or a STOP reply lands through the webhooks
    (``ml.inbound.optouts.opt_outs``) long before anyone edits the CRM. The decision reads the
    contacts through this, so it does not plan a contact the pre-send re-check would cancel.

    Args:
        contacts: ``contact_id``, ``email``, ``phone`` and the consent columns of :data:`CONSENT_COLUMN`.
        opt_outs: ``contact_id``, ``address`` and ``channel`` (``email``, ``whatsapp``, ``sms``, ``call``,
            ``all``); None or empty changes nothing.

    Returns:
        A copy of ``contacts`` (the same rows and columns).
    """
    out = contacts.copy()
    if opt_outs is None or opt_outs.empty or out.empty:
        return out
    flags = {ch: col for ch, col in CONSENT_COLUMN.items() if ch != "call_task" and col in out.columns}
    ids = out["contact_id"].astype(str) if "contact_id" in out.columns else pd.Series("", index=out.index)
    phones = (
        out["phone"].map(lambda v: re.sub(r"\D", "", str(v)) if isinstance(v, str) else "")
        if "phone" in out.columns
        else pd.Series("", index=out.index)
    )
    emails = (
        out["email"].map(lambda v: v.strip().lower() if isinstance(v, str) else "")
        if "email" in out.columns
        else pd.Series("", index=out.index)
    )
    for o in opt_outs.itertuples(index=False):
        rows = pd.Series(False, index=out.index)
        if getattr(o, "contact_id", None):
            rows |= ids == str(o.contact_id)
        if getattr(o, "address", None):
            rows |= (phones == str(o.address)) | (emails == str(o.address).lower())
        if not rows.any():
            continue
        channels = list(flags) if o.channel == "all" else [o.channel]
        for channel in channels:
            if channel in flags:
                out.loc[rows, flags[channel]] = False
    return out


def replied_since(tasks: pd.DataFrame, replies: pd.DataFrame) -> pd.DataFrame:
    """Customer-facing tasks of a customer who promised to pay or disputed on or after the task's decision date.

    Args:
        tasks: ``task_id``, ``channel``, ``customer_id`` and ``decision_date``.
        replies: ``customer_id``, ``outcome`` (``promise_to_pay`` or ``dispute``) and ``occurred_at`` (UTC).

    Returns:
        ``task_id`` and ``reason`` (the latest such reply of the customer).
    """
    facing = tasks[tasks["channel"].isin(list(CONSENT_COLUMN))]
    if facing.empty or replies is None or replies.empty:
        return _reasons(pd.Series([], dtype=object), pd.Series([], dtype=object))
    latest = (
        replies.assign(customer_id=replies["customer_id"].astype(str))
        .assign(occurred_at=lambda f: pd.to_datetime(f["occurred_at"]))
        .sort_values("occurred_at")
        .drop_duplicates("customer_id", keep="last")
    )
    rows = facing[["task_id", "customer_id", "decision_date"]]
    rows = rows.assign(customer_id=rows["customer_id"].astype(str)).merge(latest, on="customer_id", how="inner")
    day = pd.to_datetime(rows["decision_date"]).dt.tz_localize(None)
    at = rows["occurred_at"].dt.tz_localize(None) if rows["occurred_at"].dt.tz is not None else rows["occurred_at"]
    rows = rows[at >= day]
    words = {"promise_to_pay": "promised to pay", "dispute": "disputed"}
    reason = (
        "customer "
        + rows["customer_id"]
        + " "
        + rows["outcome"].map(words).fillna(rows["outcome"])
        + " in a reply at "
        + rows["occurred_at"].dt.strftime("%Y-%m-%d %H:%M")
        + " UTC, after the decision"
    )
    return _reasons(rows["task_id"], reason)


def stale_tasks(
    tasks: pd.DataFrame,
    open_invoices: set[str],
    contacts: pd.DataFrame,
    opt_outs: pd.DataFrame | None = None,
    replies: pd.DataFrame | None = None,
    alert_holds: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Queued customer-facing tasks that must not be sent any more, with the reason.

    Args:
        tasks: ``task_id``, ``channel``, ``contact_id``, ``invoice_ids`` (list of invoice ids) and,
            for opt-outs by address, ``payload``.
        open_invoices: Invoices still open and undisputed (:func:`still_open_invoices`).
        contacts: ``contact_id`` and the consent columns of :data:`CONSENT_COLUMN`.
        opt_outs: Fresh withdrawals (``ml.inbound.optouts.opt_outs``); None = none known.
        replies: Fresh promises and disputes (:func:`replied_since`); None = none known (then
            ``customer_id`` and ``decision_date`` are not needed in ``tasks``).
        alert_holds: Open early-warning holds (``ml.alerts.lifecycle.published_holds``): a written
            contact of a customer with an open fraud/redirection alert is held
            (``ml.nba.holds.held_by_alerts``); None = none known.

    Returns:
        ``task_id`` and ``reason`` (one row per cancelled task; an alert hold first, an opt-out next, then a promise or
        dispute, then a gone invoice, then the CRM's consent flags).
    """
    if "action" in tasks.columns:
        tasks = tasks[~tasks["action"].isin(REPLY_ACTIONS)]
    parts = [
        held_by_alerts(tasks, alert_holds) if alert_holds is not None else None,
        opted_out(tasks, opt_outs) if opt_outs is not None else None,
        replied_since(tasks, replies) if replies is not None else None,
        invoices_gone(tasks, open_invoices),
        consent_withdrawn(tasks, contacts),
    ]
    both = pd.concat([p for p in parts if p is not None], ignore_index=True)
    return both.drop_duplicates("task_id", keep="first").reset_index(drop=True)

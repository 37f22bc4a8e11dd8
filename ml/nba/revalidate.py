"""Pre-send re-check of queued contact tasks against what the warehouse knows now.

A decision is made in the morning and its contact may be queued for a later lawful window (the
debtor's 09:00, the next business day). Between the two the world moves: the hourly bank sync sees
the payment, a dispute is opened, the contact replies STOP. Sending the queued message then would
chase a paid or disputed invoice or message someone without consent, so every customer-facing task
still waiting to be sent is checked again just before dispatch, and cancelled with the reason when:

- one of the invoices it names is no longer open and undisputed (paid in the ERP or seen paid in the
  bank, credited, cancelled, disputed) - the whole message is cancelled, not edited: its rendered
  text lists the invoices, and tomorrow's decision covers what is still owed;
- its contact no longer consents to the task's channel (opt-outs are applied to the consent flags);
- its contact is no longer on file.

Internal tasks (dispute review) are never cancelled here. The rules are pure functions over frames,
so the daily flow (outbox tasks against ``marts.fct_invoices`` and ``marts.dim_contacts``) and the
closed-loop evaluation (its observed state) apply the same ones.
"""

from __future__ import annotations

import pandas as pd

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


def stale_tasks(tasks: pd.DataFrame, open_invoices: set[str], contacts: pd.DataFrame) -> pd.DataFrame:
    """Queued customer-facing tasks that must not be sent any more, with the reason.

    Args:
        tasks: ``task_id``, ``channel``, ``contact_id`` and ``invoice_ids`` (list of invoice ids).
        open_invoices: Invoices still open and undisputed (:func:`still_open_invoices`).
        contacts: ``contact_id`` and the consent columns of :data:`CONSENT_COLUMN`.

    Returns:
        ``task_id`` and ``reason`` (one row per cancelled task; the first failing rule).
    """
    out = pd.DataFrame({"task_id": pd.Series(dtype=object), "reason": pd.Series(dtype=object)})
    if tasks.empty:
        return out
    facing = tasks[tasks["channel"].isin(list(CONSENT_COLUMN))]
    if facing.empty:
        return out
    by_contact = contacts.drop_duplicates("contact_id", keep="last").set_index("contact_id") if len(contacts) else None
    reasons: list[tuple[str, str]] = []
    for task_id, channel, contact_id, invoice_ids in zip(
        facing["task_id"], facing["channel"], facing["contact_id"], facing["invoice_ids"], strict=True
    ):
        gone = [str(i) for i in (list(invoice_ids) if invoice_ids is not None else []) if str(i) not in open_invoices]
        if gone:
            why = "no longer open and undisputed (paid, credited, cancelled or disputed since the decision)"
            reasons.append((task_id, f"invoice {', '.join(gone)} {why}"))
            continue
        if by_contact is None or contact_id not in by_contact.index:
            reasons.append((task_id, f"contact {contact_id} no longer on file"))
            continue
        consent = by_contact.at[contact_id, CONSENT_COLUMN[channel]]
        if not (pd.notna(consent) and bool(consent)):
            reasons.append((task_id, f"contact {contact_id} no longer consents to {channel}"))
    return pd.DataFrame(reasons, columns=["task_id", "reason"]) if reasons else out

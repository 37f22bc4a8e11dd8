"""What a debtor did on the portal, as webhook spool events (``connectors.webhooks.spool``).

The portal writes no table: like a reply on WhatsApp, each action is appended to the webhook spool
(flushed and fsync-ed before the debtor sees the confirmation) and the inbound flow lands it into
``raw_channels.webhook_events``, from where ``ml.inbound`` reads it as an interaction (a promise, a
dispute, a plan taken as a promise of its first instalment, a payment) or an opt-out. Kinds:

- ``portal_promise``: payload ``promised_date``, ``amount``, ``currency``;
- ``portal_dispute``: payload ``invoices``, ``attachment`` (stored path relative to the data dir,
  name, type, size, sha256); the debtor's note in ``text`` (data, never read as a command);
- ``portal_plan_accepted``: payload ``count``, ``total``, ``currency``, ``instalments`` (number,
  due date, amount);
- ``portal_opt_out``: one event per contact of the customer, ``status`` = the channel withdrawn;
- ``payment_succeeded`` (provider ``stripe``): payload ``invoices``, ``amount``, ``currency``,
  ``session_id``; ``provider_message_id`` = the payment intent.

Event ids are derived from the form's CSRF nonce (a form sent twice is one event) or the provider's
event id, so landing deduplicates them like provider retries. Amounts and dates are strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from hashlib import sha256
from typing import Any

from ml.nba.plans import PlanOffer
from portal.payments import Payment
from portal.uploads import StoredAttachment

PROVIDER = "portal"
KINDS = ("portal_promise", "portal_dispute", "portal_plan_accepted", "portal_opt_out", "payment_succeeded")
MAX_NOTE = 2000


def _id(kind: str, *parts: str) -> str:
    return f"{kind}:{sha256('|'.join(parts).encode()).hexdigest()[:32]}"


def _at(when: datetime | None) -> str:
    return (when or datetime.now(UTC)).astimezone(UTC).isoformat()


def promise(
    customer_id: str, nonce: str, promised: date, amount: Decimal, currency: str, at: datetime | None = None
) -> dict[str, Any]:
    """A promise to pay ``amount`` by ``promised``."""
    return {
        "event_id": _id("portal_promise", customer_id, nonce),
        "provider": PROVIDER,
        "kind": "portal_promise",
        "status": "promise_to_pay",
        "customer_id": customer_id,
        "occurred_at": _at(at),
        "payload": {"promised_date": promised.isoformat(), "amount": str(amount), "currency": currency},
    }


def dispute(
    customer_id: str,
    nonce: str,
    invoices: Sequence[str],
    note: str,
    attachment: dict[str, Any] | None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """A dispute of ``invoices`` with the debtor's note and the stored attachment, if any."""
    return {
        "event_id": _id("portal_dispute", customer_id, nonce),
        "provider": PROVIDER,
        "kind": "portal_dispute",
        "status": "dispute",
        "customer_id": customer_id,
        "text": note[:MAX_NOTE],
        "occurred_at": _at(at),
        "payload": {"invoices": list(invoices), "attachment": attachment},
    }


def attachment_record(stored: StoredAttachment, data_dir: str) -> dict[str, Any]:
    """What the dispute event says of its attachment (path relative to the data dir when under it)."""
    try:
        where = str(stored.path.relative_to(data_dir))
    except ValueError:
        where = str(stored.path)
    return {
        "path": where,
        "name": stored.name,
        "content_type": stored.content_type,
        "size": stored.size,
        "sha256": stored.sha256,
    }


def plan_accepted(customer_id: str, nonce: str, plan: PlanOffer, at: datetime | None = None) -> dict[str, Any]:
    """A payment plan accepted (the schedule the policy computed, not what the form sent)."""
    return {
        "event_id": _id("portal_plan_accepted", customer_id, nonce),
        "provider": PROVIDER,
        "kind": "portal_plan_accepted",
        "status": "plan_accepted",
        "customer_id": customer_id,
        "occurred_at": _at(at),
        "payload": {
            "count": plan.count,
            "total": str(plan.total),
            "currency": plan.currency,
            "instalments": [
                {"number": i.number, "due_date": i.due_date.isoformat(), "amount": str(i.amount)}
                for i in plan.instalments
            ],
        },
    }


def opt_outs(
    customer_id: str, nonce: str, contact_ids: Sequence[str], channels: Sequence[str], at: datetime | None = None
) -> list[dict[str, Any]]:
    """Consent withdrawn for ``channels``, one event per contact of the customer and channel."""
    return [
        {
            "event_id": _id("portal_opt_out", customer_id, contact, channel, nonce),
            "provider": PROVIDER,
            "kind": "portal_opt_out",
            "status": channel,
            "customer_id": customer_id,
            "contact_id": contact,
            "occurred_at": _at(at),
        }
        for contact in contact_ids
        for channel in channels
    ]


def payment(paid: Payment) -> dict[str, Any]:
    """A payment the provider's signed webhook reported."""
    return {
        "event_id": f"stripe:{paid.event_id}",
        "provider": "stripe",
        "kind": "payment_succeeded",
        "status": "paid",
        "customer_id": paid.customer_id,
        "correlation_id": paid.session_id,
        "provider_message_id": paid.payment_intent,
        "occurred_at": datetime.fromtimestamp(paid.created, UTC).isoformat() if paid.created else _at(None),
        "payload": {
            "invoices": list(paid.invoice_ids),
            "amount": str(paid.amount),
            "currency": paid.currency,
            "session_id": paid.session_id,
        },
    }

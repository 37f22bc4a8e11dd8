"""Suite ``raw_crm__interactions``: logged touches with customers (``raw_crm.interactions``).

Channel, direction and outcome are critical: frequency caps count outbound touches per channel, and
promises, disputes and paid claims suppress dunning.
"""

from __future__ import annotations

from datetime import date

from connectors.contracts import INTERACTIONS
from expectations import builders as b
from expectations._gx import gxe
from expectations.reference import DATE_FLOOR

TABLE = INTERACTIONS.table
KEY = INTERACTIONS.primary_key

OUTCOMES = ("delivered", "read", "replied", "bounced", "promise_to_pay", "dispute", "paid_claim")


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``raw_crm.interactions`` as of ``as_of``."""
    return [
        *b.columns_exist(INTERACTIONS.column_names),
        *b.primary_key(KEY),
        *b.not_null(["customer_id", "channel", "direction", "occurred_at", "outcome"], "critical"),
        b.in_set("channel", ("email", "whatsapp", "sms", "call", "letter"), "critical"),
        b.in_set("direction", ("outbound", "inbound"), "critical"),
        b.in_set("outcome", OUTCOMES, "critical"),
        b.date_between("occurred_at", DATE_FLOOR, b.latest_event_date(as_of), "critical"),
        b.non_negative("promised_amount", "warning"),
        b.at_least("promised_date", "occurred_at", "warning"),
    ]

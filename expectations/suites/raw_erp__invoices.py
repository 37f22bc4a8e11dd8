"""Suite ``raw_erp__invoices``: customer invoices as the ERP landed them (``raw_erp.invoices``).

Money must be sane (non-negative, open never above total), dates ordered and plausible, currency a
real ISO 4217 code: aging, days past due and every amount quoted to a customer derive from these.
"""

from __future__ import annotations

from datetime import date, timedelta

from connectors.contracts import INVOICES
from expectations import builders as b
from expectations._gx import gxe
from expectations.reference import DATE_FLOOR, ISO_4217

TABLE = INVOICES.table
KEY = INVOICES.primary_key

#: How an invoice can reach the customer (contract column ``delivery_method``; null = unknown).
#: An unknown value only weakens one model feature, so it warns rather than stops the run.
DELIVERY_METHODS = ("paper", "email", "edi", "portal", "electronic")

#: Longest credit term we believe: a due date further out than this is a keying error.
MAX_DUE_AHEAD = timedelta(days=3 * 365)


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``raw_erp.invoices`` as of ``as_of``."""
    latest = b.latest_event_date(as_of)
    return [
        *b.columns_exist(INVOICES.column_names),
        b.has_rows("warning"),
        *b.primary_key(KEY),
        *b.not_null(
            ["customer_id", "issue_date", "due_date", "currency", "amount_total", "amount_open", "status"],
            "critical",
        ),
        *b.not_null(["number", "updated_at"], "warning"),
        b.non_negative("amount_total"),
        b.non_negative("amount_open"),
        b.at_least("amount_total", "amount_open", "critical"),
        b.date_between("issue_date", DATE_FLOOR, latest, "critical"),
        b.at_least("due_date", "issue_date", "critical"),
        b.date_between("due_date", DATE_FLOOR, as_of + MAX_DUE_AHEAD, "warning"),
        b.in_set("currency", ISO_4217, "critical"),
        b.in_set("status", ("posted", "cancelled"), "critical"),
        b.in_set("delivery_method", DELIVERY_METHODS, "warning"),
        b.date_between("updated_at", DATE_FLOOR, latest, "warning"),
    ]

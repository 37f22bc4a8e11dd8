"""Suite ``raw_erp__credit_notes``: credit notes as the ERP landed them (``raw_erp.credit_notes``)."""

from __future__ import annotations

from datetime import date

from connectors.contracts import CREDIT_NOTES
from expectations import builders as b
from expectations._gx import gxe
from expectations.reference import DATE_FLOOR, ISO_4217

TABLE = CREDIT_NOTES.table
KEY = CREDIT_NOTES.primary_key


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``raw_erp.credit_notes`` as of ``as_of``."""
    latest = b.latest_event_date(as_of)
    return [
        *b.columns_exist(CREDIT_NOTES.column_names),
        *b.primary_key(KEY),
        *b.not_null(["customer_id", "issue_date", "currency", "amount_total", "status"], "critical"),
        *b.not_null(["number", "updated_at"], "warning"),
        b.non_negative("amount_total"),
        b.in_set("currency", ISO_4217, "critical"),
        b.in_set("status", ("posted", "cancelled"), "critical"),
        b.date_between("issue_date", DATE_FLOOR, latest, "critical"),
        b.date_between("updated_at", DATE_FLOOR, latest, "warning"),
    ]

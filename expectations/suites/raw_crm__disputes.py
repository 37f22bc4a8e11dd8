"""Suite ``raw_crm__disputes``: disputes customers raised about invoices (``raw_crm.disputes``)."""

from __future__ import annotations

from datetime import date

from connectors.contracts import DISPUTES
from expectations import builders as b
from expectations._gx import gxe
from expectations.reference import DATE_FLOOR

TABLE = DISPUTES.table
KEY = DISPUTES.primary_key


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``raw_crm.disputes`` as of ``as_of``."""
    latest = b.latest_event_date(as_of)
    return [
        *b.columns_exist(DISPUTES.column_names),
        *b.primary_key(KEY),
        *b.not_null(["invoice_id", "customer_id", "opened_at", "status"], "critical"),
        b.in_set("status", ("open", "resolved"), "critical"),
        b.date_between("opened_at", DATE_FLOOR, latest, "critical"),
        b.at_least("resolved_at", "opened_at", "warning"),
        b.date_between("updated_at", DATE_FLOOR, latest, "warning"),
    ]

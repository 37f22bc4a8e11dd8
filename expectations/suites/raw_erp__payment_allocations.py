"""Suite ``raw_erp__payment_allocations``: payments the ERP reconciled to invoices.

Validates ``raw_erp.payment_allocations``. The ERP records an allocation after the money arrived,
so ``recorded_at`` before ``payment_date`` is suspicious (warning), not impossible.
"""

from __future__ import annotations

from datetime import date

from connectors.contracts import PAYMENT_ALLOCATIONS
from expectations import builders as b
from expectations._gx import gxe
from expectations.reference import DATE_FLOOR, ISO_4217

TABLE = PAYMENT_ALLOCATIONS.table
KEY = PAYMENT_ALLOCATIONS.primary_key


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``raw_erp.payment_allocations`` as of ``as_of``."""
    latest = b.latest_event_date(as_of)
    return [
        *b.columns_exist(PAYMENT_ALLOCATIONS.column_names),
        *b.primary_key(KEY),
        *b.not_null(["invoice_id", "customer_id", "payment_date", "currency", "amount"], "critical"),
        *b.not_null(["recorded_at"], "warning"),
        b.non_negative("amount"),
        b.in_set("currency", ISO_4217, "critical"),
        b.date_between("payment_date", DATE_FLOOR, latest, "critical"),
        b.date_between("recorded_at", DATE_FLOOR, latest, "warning"),
        b.at_least("recorded_at", "payment_date", "warning"),
    ]

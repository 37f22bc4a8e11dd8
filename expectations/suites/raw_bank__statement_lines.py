"""Suite ``raw_bank__statement_lines``: booked bank statement lines (``raw_bank.statement_lines``).

Amounts are unsigned with the direction in ``credit_debit`` (ISO 20022 CRDT/DBIT); cash application
trusts both, so they are critical. Value dates may lie a few days ahead of booking.
"""

from __future__ import annotations

from datetime import date, timedelta

from connectors.contracts import STATEMENT_LINES
from expectations import builders as b
from expectations._gx import gxe
from expectations.reference import CREDIT_DEBIT_CODES, DATE_FLOOR, ISO_4217

TABLE = STATEMENT_LINES.table
KEY = STATEMENT_LINES.primary_key

MAX_VALUE_DATE_AHEAD = timedelta(days=31)


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``raw_bank.statement_lines`` as of ``as_of``."""
    return [
        *b.columns_exist(STATEMENT_LINES.column_names),
        *b.primary_key(KEY),
        *b.not_null(["account_iban", "booking_date", "value_date", "amount", "currency", "credit_debit"], "critical"),
        b.non_negative("amount"),
        b.in_set("currency", ISO_4217, "critical"),
        b.in_set("credit_debit", CREDIT_DEBIT_CODES, "critical"),
        b.date_between("booking_date", DATE_FLOOR, b.latest_event_date(as_of), "critical"),
        b.date_between("value_date", DATE_FLOOR, as_of + MAX_VALUE_DATE_AHEAD, "warning"),
    ]

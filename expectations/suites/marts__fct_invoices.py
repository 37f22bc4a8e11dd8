"""Suite ``marts__fct_invoices``: the invoice fact the next-best-action step reads.

Validates ``marts.fct_invoices`` (the project's ``generate_schema_name`` macro names schemas after
the layer) at the ``pre_dispatch`` boundary. The rule that matters most: no invoice that is paid (ERP or bank), in
dispute, cancelled or has nothing open may be dunnable, otherwise a customer is chased for money they do not owe.
"""

from __future__ import annotations

from datetime import date

from expectations import builders as b
from expectations._gx import Col, gxe

TABLE = "marts.fct_invoices"
KEY = ("invoice_id",)

COLUMNS = (
    "invoice_id",
    "customer_id",
    "amount_total",
    "amount_open",
    "days_past_due",
    "is_disputed",
    "is_paid",
    "is_dunnable",
    "status",
)


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``marts.fct_invoices`` (``as_of`` is unused: no date bounds here)."""
    del as_of
    return [
        *b.columns_exist(COLUMNS),
        *b.primary_key(KEY),
        *b.not_null(["customer_id", "amount_open", "is_paid", "is_disputed", "is_dunnable"], "critical"),
        b.non_negative("amount_open"),
        b.non_negative("amount_total"),
        b.at_least("amount_total", "amount_open", "warning"),
        gxe.ExpectColumnValuesToBeInSet(
            column="is_dunnable",
            value_set=[False],
            row_condition=(Col("is_paid") == True) | (Col("is_disputed") == True),  # noqa: E712
            description="No paid or disputed invoice is dunnable.",
            **b.critical(),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="is_dunnable",
            value_set=[False],
            row_condition=Col("amount_open") <= 0,
            description="No invoice with nothing open is dunnable.",
            **b.critical(),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="is_dunnable",
            value_set=[False],
            row_condition=Col("status") == "cancelled",
            description="No cancelled invoice is dunnable.",
            **b.critical(),
        ),
        *b.not_null(["status"], "warning"),
    ]

"""Suite ``raw_erp__invoices``: customer invoices as the ERP landed them (``raw_erp.invoices``).

Money must be sane (non-negative, open never above total), dates ordered and plausible, currency a
real ISO 4217 code: aging, days past due and every amount quoted to a customer derive from these.

Each of these checks fails record by record: a few bad invoices (a negative amount, issued in 1900 or
next year, due before issued, for a customer the ERP does not have) are quarantined and left out of
the marts, so nobody is dunned on them, and the run goes on; more than ``MAX_BAD_FRACTION`` of the
table is systemic and stops it (``expectations.gates``).

An invoice for a customer the ERP does not have is quarantined rather than kept in AR and silently
skipped by dunning (where it went before): it cannot be dunned (no customer, no contact, no terms),
and an AR that holds it would state a receivable nobody can act on. AR still reconciles with the
ERP: ``marts.mart_ar_reconciliation`` carries the open amount of every quarantined invoice as a
named reconciling item (``quarantined_open_total``), so marts + quarantined = ERP, and the
``pre_dispatch`` gate stops the run when that item passes its share of the ERP's open AR.
"""

from __future__ import annotations

from datetime import date, timedelta

from connectors.contracts import INVOICES
from expectations import builders as b
from expectations._gx import gxe
from expectations.reference import DATE_FLOOR, ISO_4217

TABLE = INVOICES.table
KEY = INVOICES.primary_key

#: Computed next to the table when the gate reads it: does the ERP know the invoice's customer?
DERIVED = {
    "customer_known": ("raw_erp.customers", "t.customer_id in (select customer_id from raw_erp.customers)"),
}

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
        gxe.ExpectColumnValuesToBeInSet(
            column="customer_known",
            value_set=[True],
            severity="critical",
            meta={"severity": "critical", "why": "the ERP has no customer with this invoice's customer_id"},
        ),
        b.in_set("status", ("posted", "cancelled"), "critical"),
        b.in_set("delivery_method", DELIVERY_METHODS, "warning"),
        b.date_between("updated_at", DATE_FLOOR, latest, "warning"),
    ]

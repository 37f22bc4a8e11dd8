"""Suite ``raw_erp__customers``: bill-to accounts as the ERP landed them (``raw_erp.customers``).

Country and time zone are critical because the contact rules (DESIGN.md §10) take lawful hours from
the billing address; currency because balances are kept per currency.
"""

from __future__ import annotations

from datetime import date

from connectors.contracts import CUSTOMERS
from expectations import builders as b
from expectations._gx import gxe
from expectations.reference import DATE_FLOOR, ISO_3166_ALPHA2, ISO_4217, iana_timezones

TABLE = CUSTOMERS.table
KEY = CUSTOMERS.primary_key


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``raw_erp.customers`` as of ``as_of``."""
    rules = [
        *b.columns_exist(CUSTOMERS.column_names),
        b.has_rows("warning"),
        *b.primary_key(KEY),
        *b.not_null(["country", "timezone", "currency"], "critical"),
        *b.not_null(["name", "payment_terms_days", "updated_at"], "warning"),
        b.in_set("country", ISO_3166_ALPHA2, "critical"),
        b.in_set("currency", ISO_4217, "critical"),
        gxe.ExpectColumnValuesToBeBetween(column="payment_terms_days", min_value=0, max_value=365, **b.warning()),
        b.non_negative("credit_limit", "warning"),
        b.date_between("updated_at", DATE_FLOOR, b.latest_event_date(as_of), "warning"),
    ]
    zones = iana_timezones()
    if zones:
        rules.append(b.in_set("timezone", zones, "critical"))
    return rules

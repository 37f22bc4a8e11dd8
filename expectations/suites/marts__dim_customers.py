"""Suite ``marts__dim_customers``: the customer dimension (``marts.dim_customers``).

Only the key is asserted: every decision and every contact is made per customer account, so a
missing or duplicated ``customer_id`` would double or drop a customer's contacts.
"""

from __future__ import annotations

from datetime import date

from expectations import builders as b
from expectations._gx import gxe

TABLE = "marts.dim_customers"
KEY = ("customer_id",)


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``marts.dim_customers`` (``as_of`` is unused)."""
    del as_of
    return [*b.columns_exist(KEY), *b.primary_key(KEY)]

"""Suite ``marts__mart_ar_reconciliation``: open AR in the marts reconciles with the ERP.

DESIGN §5: "AR total reconciles with the ERP within tolerance". One row per currency; a relative
difference beyond ``TOLERANCE`` means invoices were lost, duplicated or mis-joined between the raw
layer and the marts, and the run must stop before any contact.
"""

from __future__ import annotations

from datetime import date

from expectations import builders as b
from expectations._gx import gxe

TABLE = "marts.mart_ar_reconciliation"
KEY = ("currency",)
#: Largest accepted |marts - ERP| / ERP open AR per currency (rounding only: amounts are exact).
TOLERANCE = 0.0001


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``marts.mart_ar_reconciliation`` (``as_of`` is unused)."""
    del as_of
    return [
        *b.columns_exist((*KEY, "relative_difference", "erp_open_total", "mart_open_erp_total")),
        *b.primary_key(KEY),
        gxe.ExpectColumnValuesToBeBetween(
            column="relative_difference", min_value=-TOLERANCE, max_value=TOLERANCE, **b.critical()
        ),
    ]

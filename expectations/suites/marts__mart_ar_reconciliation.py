"""Suite ``marts__mart_ar_reconciliation``: open AR in the marts reconciles with the ERP.

DESIGN §5: "AR total reconciles with the ERP within tolerance". One row per currency; a relative
difference beyond ``TOLERANCE`` means invoices were lost, duplicated or mis-joined between the raw
layer and the marts, and the run must stop before any contact.

Invoices the raw gate quarantined (a negative amount, a customer the ERP does not have, ...) are left
out of the marts but not out of the reconciliation: their open amount is the reconciling item
``quarantined_open_total`` (marts + quarantined = ERP). Finance accepts a few such items, named in
``quarantine.raw_excluded``; when they exceed ``MAX_QUARANTINED_SHARE`` of a currency's open AR the
ERP feed itself is suspect (a systemic failure) and the run stops.
"""

from __future__ import annotations

from datetime import date

from expectations import builders as b
from expectations._gx import gxe

TABLE = "marts.mart_ar_reconciliation"
KEY = ("currency",)
#: Largest accepted |marts - ERP| / ERP open AR per currency (rounding only: amounts are exact).
TOLERANCE = 0.0001
#: Largest share of a currency's open AR that may sit in quarantined invoices before the run stops.
MAX_QUARANTINED_SHARE = 0.05


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``marts.mart_ar_reconciliation`` (``as_of`` is unused)."""
    del as_of
    return [
        *b.columns_exist((*KEY, "relative_difference", "erp_open_total", "mart_open_erp_total")),
        *b.primary_key(KEY),
        gxe.ExpectColumnValuesToBeBetween(
            column="relative_difference", min_value=-TOLERANCE, max_value=TOLERANCE, **b.critical()
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="quarantined_share", min_value=0, max_value=MAX_QUARANTINED_SHARE, **b.critical()
        ),
    ]

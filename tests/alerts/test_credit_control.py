"""The simulated ERP's credit control makes the exposure labels measurable (issue 21).

With ``AnomalyConfig.credit_control`` (on whenever anomalies are planted) an order over the
customer's limit is not invoiced as such, so the invoices over a limit are the planted ``exposure``
ones; the default world (no credit control) keeps its natural breaches, one invoice in seven.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from simulator import simulate
from simulator.anomalies import AnomalyConfig

AS_OF = date(2026, 10, 31)


def _over_limit(sim_dir: Path) -> tuple[float, pd.DataFrame]:
    """Share of natural posted invoices at or over the customer's limit, and the planted ones."""
    inv = pq.read_table(sim_dir / "erp" / "invoices.parquet").to_pandas()
    cust = pd.read_csv(sim_dir / "erp" / "customers.csv", dtype={"credit_limit": str})
    limit = dict(zip(cust["customer_id"], cust["credit_limit"].map(Decimal), strict=True))
    inv = inv[inv["status"] == "posted"]
    over = inv["amount_total"] >= inv["customer_id"].map(limit)
    planted = inv["invoice_id"].str.startswith("inx_")
    return float(over[~planted].mean()), inv[planted].assign(over=over[planted])


def test_credit_control_leaves_only_the_planted_invoices_over_the_limit(tmp_path: Path) -> None:
    simulate(tmp_path / "cc", profile="S", n_customers=300, as_of=AS_OF, anomalies=AnomalyConfig(rate=0.05))
    share, planted = _over_limit(tmp_path / "cc")
    assert share < 0.01  # a limit cut after an invoice leaves the odd one over the current limit
    assert len(planted) > 0 and planted["over"].all()
    # near miss: the default world (no credit control) is full of natural breaches
    simulate(tmp_path / "plain", profile="S", n_customers=300, as_of=AS_OF)
    plain_share, _ = _over_limit(tmp_path / "plain")
    assert plain_share > 0.05

"""Optional ERP attributes as features (issue 22): a dated rating is used only after its date (no leakage).

A small SAP-style export (tests/connectors/test_erp_attributes_mapping.py's mapping) lands through
the file connector and dbt builds ``ml_invoice_features``. One customer was rated BB on
2013-03-01, the other D on 2013-09-01 (the master's current rating with its assessment date): no
invoice issued on or before its customer's rating date may carry the rating. (That later outcomes
never change the region's and country's late share is checked on a simulated world, whose ERP
export writes regions and ratings, by tests/dbt/test_feature_leakage.py.)
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "connectors"))
from test_erp_attributes_mapping import SAP_MAPPING, sap_export  # noqa: E402

pytestmark = pytest.mark.slow
EXPORT_DATE = date(2014, 1, 10)


RATINGS = {"K1": ("BB", "2013-03-01"), "K2": ("D", "2013-09-01")}


def _rows() -> list[str]:
    rows = []
    start = date(2012, 6, 1)
    for k in range(60):
        issued = start + timedelta(days=9 * k)
        due = issued + timedelta(days=30)
        for cust, region, late in (("K1", "NL", 25 if k % 3 else 2), ("K2", "DC", 0 if k % 4 else 40)):
            settled = due + timedelta(days=late)
            cleared = settled.isoformat() if settled < EXPORT_DATE else ""
            rating, rated = RATINGS[cust]
            head = f"1000,{cust},{cust} SA,MX,{region},Monterrey,MX10,high,{rating},{rated}"
            rows.append(f"{head},{cust}-{k:04d},RV,{issued},{due},100.00,MXN,NT30,30,,{cleared}")
    return rows


def _features(tmp: Path) -> pd.DataFrame:
    from connectors.contracts import ALL_STREAMS
    from connectors.load import ensure_raw_table
    from connectors.sources.files.config import load_mapping
    from connectors.sources.files.reader import load_mapping_files
    from flows.dbt_runner import run_dbt

    export = sap_export(tmp / "export", _rows())
    db = tmp / "w.duckdb"
    with duckdb.connect(str(db)) as con:
        load_mapping_files(con, load_mapping(SAP_MAPPING, base_dir=export.parent))
        for contract in ALL_STREAMS:
            ensure_raw_table(con, contract)
    run_dbt(
        ["build", "--select", "+ml_invoice_features"],
        duckdb_path=db,
        work_dir=tmp / "dbt",
        as_of=EXPORT_DATE,
        late_days=5,
    )
    with duckdb.connect(str(db)) as con:
        return con.execute("select * from marts.ml_invoice_features order by invoice_id").df().set_index("invoice_id")


def test_a_rating_is_used_only_after_its_date(tmp_path: Path) -> None:
    f = _features(tmp_path)
    issued = pd.to_datetime(f["snapshot_date"]).dt.date
    for cust, score in (("K1", 5), ("K2", 10)):
        mine = f["customer_id"] == cust
        rated = date.fromisoformat(RATINGS[cust][1])
        after = mine & (issued > rated)
        assert after.sum() > 5 and f.loc[after, "f_cust_credit_rating"].eq(score).all()
        assert f.loc[after, "f_cust_risk_class"].eq(3).all()  # "high"
        # never on an invoice issued on or before the day the rating was assessed
        assert f.loc[mine & (issued <= rated), ["f_cust_credit_rating", "f_cust_risk_class"]].isna().all().all()
    # the region's late share is a share, known only once enough labels are known
    region = f["f_region_prior_late_share"].dropna()
    assert len(region) > 50 and region.between(0, 1).all()
    assert f.loc[issued < date(2012, 8, 1), "f_region_prior_late_share"].isna().all()
    assert f["f_inv_doc_type_share"].dropna().eq(1.0).all()  # every invoice is an RV here

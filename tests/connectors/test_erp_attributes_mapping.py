"""Optional ERP attributes (issue 22): an SAP-style export maps rating, risk class, region, org keys,
document type, payment-terms key and dunning block into the raw contracts by configuration alone."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from connectors.sources.files.config import load_mapping
from connectors.sources.files.reader import load_mapping_files

SAP_MAPPING = Path(__file__).resolve().parents[2] / "connectors/sources/files/mappings/sap_open_items.yml"
HEADER = (
    "BUKRS,KUNNR,NAME1,LAND1,REGIO,ORT01,VKORG,CTLPC,RATING,RATING_DATE,"
    "BELNR,BLART,BLDAT,FAEDT,WRBTR,WAERS,ZTERM,ZBD1T,MANSP,AUGDT"
)
CUSTOMER_K1 = "1000,K1,Acme SA,MX,NL,Monterrey,MX10,high,BB+,2013-03-01"


def sap_export(folder: Path, rows: list[str]) -> Path:
    """Write ``sap_open_items.csv`` (the mapping's file name) with ``rows`` under the SAP header."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sap_open_items.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


ROWS = [
    f"{CUSTOMER_K1},9000001,RV,2013-01-05,2013-02-04,100.00,MXN,NT30,30,,2013-02-20",
    f"{CUSTOMER_K1},9000002,DR,2013-03-05,2013-04-04,50.00,MXN,NT30,30,R,",
    "2000,K2,Beta Ltda,CO,DC,Bogota,CO20,,,,9000003,RV,2013-02-01,2013-04-02,75.50,COP,NT60,60,,2013-04-01",
]


def test_sap_export_lands_the_optional_attributes(tmp_path: Path) -> None:
    export = sap_export(tmp_path / "export", ROWS)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        results = load_mapping_files(con, load_mapping(SAP_MAPPING, base_dir=export.parent))
        assert {r.stream: (r.rows_new, r.rows_quarantined) for r in results} == {
            "raw_erp.customers": (2, 0),
            "raw_erp.invoices": (3, 0),
            "raw_erp.payment_allocations": (2, 0),
        }
        cust = con.execute(
            "select customer_id, country, region, sales_org, company_code, risk_class, credit_rating,"
            " credit_rating_date, payment_terms_days from raw_erp.customers order by 1"
        ).fetchall()
        assert cust == [
            ("K1", "MX", "NL", "MX10", "1000", "high", "BB+", date(2013, 3, 1), 30),
            ("K2", "CO", "DC", "CO20", "2000", None, None, None, 60),
        ]
        inv = con.execute(
            "select invoice_id, document_type, payment_terms_code, dunning_block, sales_org, company_code, amount_open"
            " from raw_erp.invoices order by 1"
        ).fetchall()
        assert [r[:6] for r in inv] == [
            ("9000001", "RV", "NT30", None, "MX10", "1000"),
            ("9000002", "DR", "NT30", "R", "MX10", "1000"),
            ("9000003", "RV", "NT60", None, "CO20", "2000"),
        ]
        assert [str(r[6]) for r in inv] == ["0.00", "50.00", "0.00"]


def test_an_export_without_the_attributes_still_lands_them_as_null(tmp_path: Path) -> None:
    from connectors.sources.files.config import FileMapping, FileStreamMapping

    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "c.csv").write_text("id,name\nC1,One\n")
    mapping = FileMapping(
        source="plain",
        base_dir=tmp_path / "e",
        streams={
            "raw_erp.customers": FileStreamMapping(
                path="c.csv",
                columns={"customer_id": "id", "name": "name"},
                constants={"country": "MX", "timezone": "UTC", "currency": "MXN", "payment_terms_days": 30},
                expressions={"updated_at": "timestamp '2013-01-01'"},
            )
        },
    )
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        load_mapping_files(con, mapping)
        sql = "select risk_class, credit_rating, credit_rating_date, region from raw_erp.customers"
        row = con.execute(sql).fetchone()
    assert row == (None, None, None, None)


@pytest.mark.parametrize("bad", ["2013-13-01"])
def test_a_bad_rating_date_is_quarantined_not_loaded(tmp_path: Path, bad: str) -> None:
    rows = [ROWS[0].replace("2013-03-01", bad)]
    export = sap_export(tmp_path / "export", rows)
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        results = load_mapping_files(con, load_mapping(SAP_MAPPING, base_dir=export.parent))
    cust = next(r for r in results if r.stream == "raw_erp.customers")
    assert cust.rows_quarantined == 1 and cust.rows_new == 0

"""File mapping extensions: expressions, where, distinct, one file feeding several streams, real IBM AR export."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.load import SourceDataError
from connectors.sources.files.config import FileMapping, FileStreamMapping, load_mapping
from connectors.sources.files.reader import load_mapping_files

IBM_MAPPING = Path(__file__).resolve().parents[2] / "connectors/sources/files/mappings/ibm_late_payment_histories.yml"

LINES = """inv,cust,country,issued,due,amount,disputed,settled
A-1,C1,406,1/2/2013,2/1/2013,55.94,No,1/15/2013
A-2,C1,406,1/20/2013,2/19/2013,10.00,Yes,3/1/2013
A-3,C2,391,2/2/2013,3/4/2013,7.5,No,
"""


@pytest.fixture()
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield c
    c.close()


def _lines(tmp_path: Path) -> Path:
    path = tmp_path / "export" / "ar.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(LINES)
    return path


def _invoice_mapping(**extra) -> FileStreamMapping:
    return FileStreamMapping(
        path="ar.csv",
        columns={
            "invoice_id": "inv",
            "number": "inv",
            "customer_id": "cust",
            "issue_date": "issued",
            "due_date": "due",
            "amount_total": "amount",
        },
        constants={"currency": "USD", "status": "posted"},
        expressions={
            "amount_open": "case when settled <> '' then '0.00' else amount end",
            "updated_at": "coalesce(strptime(settled, '%m/%d/%Y'), strptime(issued, '%m/%d/%Y'))",
        },
        date_format="%m/%d/%Y",
        **extra,
    )


def test_expressions_where_and_distinct_feed_several_streams_from_one_file(tmp_path: Path, con) -> None:
    _lines(tmp_path)
    mapping = FileMapping(
        source="export",
        base_dir=tmp_path / "export",
        streams={
            "raw_erp.customers": FileStreamMapping(
                path="ar.csv",
                distinct=True,
                columns={"customer_id": "cust", "name": "cust", "country": "country"},
                constants={"timezone": "UTC", "currency": "USD", "payment_terms_days": 30},
                expressions={"updated_at": "max(strptime(issued, '%m/%d/%Y')) over (partition by cust)"},
            ),
            "raw_erp.invoices": _invoice_mapping(),
            "raw_crm.disputes": FileStreamMapping(
                path="ar.csv",
                where="disputed = 'Yes'",
                columns={"invoice_id": "inv", "customer_id": "cust"},
                constants={"status": "resolved"},
                expressions={
                    "dispute_id": "'D-' || inv",
                    "opened_at": "strptime(settled, '%m/%d/%Y')",
                    "updated_at": "strptime(settled, '%m/%d/%Y')",
                },
            ),
        },
    )
    results = load_mapping_files(con, mapping)
    assert [(r.stream, r.rows_new, r.rows_quarantined) for r in results] == [
        ("raw_erp.customers", 2, 0),
        ("raw_erp.invoices", 3, 0),
        ("raw_crm.disputes", 1, 0),
    ]
    assert con.execute(
        "select customer_id, country, updated_at::date::varchar from raw_erp.customers order by 1"
    ).fetchall() == [
        ("C1", "406", "2013-01-20"),
        ("C2", "391", "2013-02-02"),
    ]
    inv = con.execute(
        "select invoice_id, number, due_date::varchar, amount_total, amount_open from raw_erp.invoices order by 1"
    ).fetchall()
    assert inv == [
        ("A-1", "A-1", "2013-02-01", Decimal("55.94"), Decimal("0.00")),
        ("A-2", "A-2", "2013-02-19", Decimal("10.00"), Decimal("0.00")),
        ("A-3", "A-3", "2013-03-04", Decimal("7.50"), Decimal("7.50")),
    ]
    assert con.execute("select dispute_id, invoice_id from raw_crm.disputes").fetchall() == [("D-A-2", "A-2")]
    again = load_mapping_files(con, mapping)
    assert {r.status for r in again} == {"skipped"}


def test_missing_mapped_column_is_named_in_projection_mode(tmp_path: Path, con) -> None:
    _lines(tmp_path)
    m = _invoice_mapping()
    m.columns["due_date"] = "DueDate"
    mapping = FileMapping(source="export", base_dir=tmp_path / "export", streams={"raw_erp.invoices": m})
    with pytest.raises(SourceDataError, match=r"missing column\(s\) DueDate required by raw_erp.invoices"):
        load_mapping_files(con, mapping)


def test_expression_and_column_for_the_same_contract_column_is_refused() -> None:
    with pytest.raises(ValueError, match="have an expression and also a column"):
        FileMapping(
            streams={
                "raw_erp.invoices": FileStreamMapping(
                    path="x.csv", columns={"status": "s"}, expressions={"status": "'posted'"}
                )
            }
        )
    with pytest.raises(ValueError, match="unknown contract column"):
        FileMapping(streams={"raw_erp.invoices": FileStreamMapping(path="x.csv", expressions={"amount_due": "1"})})


def test_ibm_late_payment_history_lands_by_configuration_alone(shared_data: Path, con) -> None:
    export = shared_data / "ar" / "ibm_late_payment_histories.csv"
    if not export.is_file():
        pytest.skip(f"{export} is absent")
    mapping = load_mapping(IBM_MAPPING, base_dir=export.parent)
    results = load_mapping_files(con, mapping)
    assert all(r.rows_quarantined == 0 for r in results)
    counts = {
        t: con.execute(f"select count(*) from {t}").fetchall()[0][0]
        for t in ("raw_erp.customers", "raw_erp.invoices", "raw_erp.payment_allocations", "raw_crm.disputes")
    }
    assert counts == {
        "raw_erp.customers": 100,
        "raw_erp.invoices": 2466,
        "raw_erp.payment_allocations": 2466,  # every invoice of the export is settled
        "raw_crm.disputes": 561,
    }
    ref = duckdb.sql(
        f"""select sum(InvoiceAmount::decimal(18,2)), count(*) filter (where SettledDate <> ''),
                   count(*) filter (where strptime(SettledDate, '%m/%d/%Y') > strptime(DueDate, '%m/%d/%Y'))
            from read_csv('{export}', all_varchar = true)"""
    ).fetchall()[0]
    got = con.execute(
        """select sum(i.amount_total), count(a.allocation_id), count(*) filter (where a.payment_date > i.due_date)
           from raw_erp.invoices i left join raw_erp.payment_allocations a using (invoice_id)"""
    ).fetchall()[0]
    assert got == ref and got[0] == Decimal("147703.18")
    assert round(got[2] / counts["raw_erp.invoices"], 3) == 0.356  # README: 35.6% paid late
    orphan = con.execute(
        "select count(*) from raw_erp.invoices i anti join raw_erp.customers c using (customer_id)"
    ).fetchall()[0][0]
    assert orphan == 0
    assert {r.status for r in load_mapping_files(con, mapping)} == {"skipped"}

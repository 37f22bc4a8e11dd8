"""File-drop connector: typing, quarantine, idempotent merge/append, clear errors on bad files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.contracts import CUSTOMERS, STATEMENT_LINES
from connectors.load import SourceDataError
from connectors.sources.files.config import FileMapping, FileStreamMapping, load_mapping
from connectors.sources.files.reader import load_mapping_files

HEADER = "customer_id,name,tax_id,country,city,timezone,currency,payment_terms_days,credit_limit,segment,updated_at"


def _customers_csv(path: Path, rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def _mapping(base: Path, **streams: FileStreamMapping) -> FileMapping:
    return FileMapping(source="test", base_dir=base, streams={k.replace("__", "."): v for k, v in streams.items()})


ROW_A = "C1,Acme SA,RFC1,MX,Monterrey,America/Monterrey,MXN,30,1000.00,smb,2025-01-01 00:00:00"
ROW_B = "C2,Beta SAS,NIT2,CO,Bogota,America/Bogota,COP,45,2500.50,mid_market,2025-01-01 00:00:00"


@pytest.fixture()
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield c
    c.close()


def test_csv_lands_typed_with_lineage_and_rerun_is_skipped(tmp_path: Path, con) -> None:
    _customers_csv(tmp_path / "erp/customers.csv", [ROW_A, ROW_B])
    m = _mapping(tmp_path, raw_erp__customers=FileStreamMapping(path="erp/customers.csv"))
    first = load_mapping_files(con, m)
    assert [(r.status, r.rows_new, r.rows_quarantined) for r in first] == [("loaded", 2, 0)]
    rows = con.execute(
        "select customer_id, credit_limit, payment_terms_days, _source, _file from raw_erp.customers order by 1"
    ).fetchall()
    assert rows[1][1] == Decimal("2500.50") and rows[1][2] == 45 and rows[0][3] == "test"
    assert rows[0][4].endswith("customers.csv")
    second = load_mapping_files(con, m)
    assert second[0].status == "skipped"
    assert con.execute("select count(*) from raw_erp.customers").fetchall()[0][0] == 2


def test_merge_keeps_newest_version_and_ignores_stale_rows(tmp_path: Path, con) -> None:
    m = _mapping(tmp_path, raw_erp__customers=FileStreamMapping(path="erp/*.csv", lookback_days=3650))
    _customers_csv(tmp_path / "erp/1.csv", [ROW_A, ROW_B])
    load_mapping_files(con, m)
    newer = ROW_A.replace("Acme SA", "Acme SA de CV").replace("2025-01-01", "2025-02-01")
    stale = ROW_B.replace("Beta SAS", "Old Beta").replace("2025-01-01", "2024-12-01")
    _customers_csv(tmp_path / "erp/2.csv", [newer, stale])
    load_mapping_files(con, m)
    names = dict(con.execute("select customer_id, name from raw_erp.customers").fetchall())
    assert names == {"C1": "Acme SA de CV", "C2": "Beta SAS"}


def test_bad_records_are_quarantined_with_reason_and_good_ones_land(tmp_path: Path, con) -> None:
    rows = [ROW_A, ROW_B] * 1 + [
        ROW_B.replace("C2,", "C3,").replace(",45,", ",forty,"),
        ROW_B.replace("C2,", "C4,").replace("2500.50", "2500.505"),
        ROW_B.replace("C2,Beta SAS", "C5,"),
    ]
    rows += [ROW_A.replace("C1,", f"C{i},") for i in range(10, 70)]
    _customers_csv(tmp_path / "erp/customers.csv", rows)
    m = _mapping(tmp_path, raw_erp__customers=FileStreamMapping(path="erp/customers.csv"))
    (res,) = load_mapping_files(con, m)
    assert res.rows_quarantined == 3 and res.rows_new == len(rows) - 3
    q = dict(con.execute("select record_key, reason from quarantine.raw_records").fetchall())
    assert "payment_terms_days: cannot read 'forty' as INTEGER" in q["C3"]
    assert "more decimals" in q["C4"]
    assert q["C5"] == "name: required value is missing"


def test_duplicate_keys_in_one_batch_keep_latest_and_quarantine_the_other(tmp_path: Path, con) -> None:
    newer = ROW_A.replace("Acme SA", "Acme v2").replace("2025-01-01", "2025-03-01")
    rows = [ROW_A, newer] + [ROW_B.replace("C2,", f"C{i},") for i in range(2, 60)]
    _customers_csv(tmp_path / "erp/customers.csv", rows)
    load_mapping_files(con, _mapping(tmp_path, raw_erp__customers=FileStreamMapping(path="erp/customers.csv")))
    assert con.execute("select name from raw_erp.customers where customer_id = 'C1'").fetchall() == [("Acme v2",)]
    reasons = con.execute("select reason from quarantine.raw_records where record_key = 'C1'").fetchall()
    assert reasons and "duplicate key in this batch" in reasons[0][0]


def _bank_parquet(path: Path, ids: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(ids)
    table = pa.table(
        {
            "bank_txn_id": ids,
            "account_iban": ["MX00BANK"] * n,
            "booking_date": pd.to_datetime(["2025-01-02"] * n).date,
            "value_date": pd.to_datetime(["2025-01-02"] * n).date,
            "amount": pa.array([Decimal("10.50")] * n, type=pa.decimal128(18, 2)),
            "currency": ["MXN"] * n,
            "credit_debit": ["CRDT"] * n,
            "counterparty_name": ["Acme"] * n,
            "counterparty_iban": [None] * n,
            "remittance_text": ["INV-2025-000001"] * n,
            "creditor_reference": [None] * n,
        }
    )
    pq.write_table(table, path)
    return path


def test_append_stream_inserts_only_new_ids_across_overlapping_files(tmp_path: Path, con) -> None:
    m = _mapping(tmp_path, raw_bank__statement_lines=FileStreamMapping(path="bank/*.parquet"))
    _bank_parquet(tmp_path / "bank/d1.parquet", ["t1", "t2"])
    _bank_parquet(tmp_path / "bank/d2.parquet", ["t2", "t3"])
    res = load_mapping_files(con, m)
    assert [r.rows_new for r in res] == [2, 1]
    assert con.execute(f"select count(*) from {STATEMENT_LINES.table}").fetchall()[0][0] == 3
    assert con.execute("select amount from raw_bank.statement_lines limit 1").fetchall()[0][0] == Decimal("10.50")


def test_corrupted_parquet_names_the_file_and_loads_nothing(tmp_path: Path, con) -> None:
    good = _bank_parquet(tmp_path / "bank/d1.parquet", ["t1", "t2"])
    broken = tmp_path / "bank/d2.parquet"
    broken.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    m = _mapping(tmp_path, raw_bank__statement_lines=FileStreamMapping(path="bank/d2.parquet"))
    with pytest.raises(SourceDataError, match=r"d2\.parquet.*(corrupted|truncated)"):
        load_mapping_files(con, m)


def test_missing_required_column_is_a_clear_error(tmp_path: Path, con) -> None:
    path = tmp_path / "erp/customers.csv"
    path.parent.mkdir(parents=True)
    path.write_text("customer_id,name\nC1,Acme\n")
    m = _mapping(tmp_path, raw_erp__customers=FileStreamMapping(path="erp/customers.csv"))
    with pytest.raises(SourceDataError, match=r"customers\.csv: missing column\(s\) country, currency"):
        load_mapping_files(con, m)


def test_mostly_unreadable_file_is_refused_and_nothing_is_loaded(tmp_path: Path, con) -> None:
    rows = [ROW_A.replace("C1,", f"C{i},").replace("2025-01-01 00:00:00", "yesterday") for i in range(100, 125)]
    rows += [ROW_B]
    _customers_csv(tmp_path / "erp/customers.csv", rows)
    m = _mapping(tmp_path, raw_erp__customers=FileStreamMapping(path="erp/customers.csv"))
    with pytest.raises(SourceDataError, match=r"25 of 26 rows cannot be landed.*updated_at: cannot read 'yesterday'"):
        load_mapping_files(con, m)
    assert con.execute("select count(*) from raw_erp.customers").fetchall()[0][0] == 0


def test_mapping_file_renames_columns_and_sets_constants(tmp_path: Path, con) -> None:
    export = tmp_path / "export.csv"
    export.write_text("Id,Company,Country,Zone,Terms,Changed\nX9,Gamma Ltda,CL,America/Santiago,60,11/02/2025 10:00\n")
    mapping_file = tmp_path / "mapping.yml"
    mapping_file.write_text(
        """
source: other_erp
streams:
  raw_erp.customers:
    path: export.csv
    columns: {customer_id: Id, name: Company, country: Country, timezone: Zone,
              payment_terms_days: Terms, updated_at: Changed}
    constants: {currency: CLP}
    timestamp_format: "%m/%d/%Y %H:%M"
"""
    )
    load_mapping_files(con, load_mapping(mapping_file), require_all=True)
    row = con.execute("select customer_id, currency, updated_at::varchar, _source from raw_erp.customers").fetchall()
    assert row == [("X9", "CLP", "2025-11-02 10:00:00", "other_erp")]


def test_mapping_rejects_unknown_columns(tmp_path: Path) -> None:
    f = tmp_path / "m.yml"
    f.write_text("streams:\n  raw_erp.customers:\n    path: x.csv\n    columns: {customer_key: Id}\n")
    with pytest.raises(ValueError, match="unknown contract column"):
        load_mapping(f)


def test_contract_lists_every_raw_column_once() -> None:
    assert len(set(CUSTOMERS.column_names)) == len(CUSTOMERS.column_names)


def test_unreadable_file_is_quarantined_whole_and_other_files_land(tmp_path: Path, con) -> None:
    _bank_parquet(tmp_path / "bank/d1.parquet", ["t1", "t2"])
    broken = tmp_path / "bank/d2.parquet"
    broken.write_bytes(b"PAR1 not really a parquet file")
    _bank_parquet(tmp_path / "bank/d3.parquet", ["t3"])
    _customers_csv(tmp_path / "erp/customers.csv", [ROW_A, ROW_B])
    m = _mapping(
        tmp_path,
        raw_erp__customers=FileStreamMapping(path="erp/customers.csv"),
        raw_bank__statement_lines=FileStreamMapping(path="bank/*.parquet"),
    )
    with pytest.raises(SourceDataError, match=r"1 source batch\(es\) refused.*d2\.parquet"):
        load_mapping_files(con, m, fail_fast=False)
    assert con.execute("select count(*) from raw_bank.statement_lines").fetchall()[0][0] == 3
    assert con.execute("select count(*) from raw_erp.customers").fetchall()[0][0] == 2
    (row,) = con.execute("select stream, origin, reason from quarantine.raw_files").fetchall()
    assert row[0] == "raw_bank.statement_lines" and row[1].endswith("d2.parquet") and "truncated Parquet file" in row[2]


def test_timestamps_with_offsets_are_converted_to_utc(tmp_path: Path, con) -> None:
    rows = [
        ROW_A.replace("2025-01-01 00:00:00", "2025-01-01 10:00:00+02:00"),
        ROW_B.replace("2025-01-01 00:00:00", "2025-01-01T10:00:00Z"),
        ROW_B.replace("C2,", "C3,").replace("2025-01-01 00:00:00", "2025-01-23"),
    ]
    _customers_csv(tmp_path / "erp/customers.csv", rows)
    load_mapping_files(con, _mapping(tmp_path, raw_erp__customers=FileStreamMapping(path="erp/customers.csv")))
    got = dict(con.execute("select customer_id, updated_at::varchar from raw_erp.customers").fetchall())
    assert got == {"C1": "2025-01-01 08:00:00", "C2": "2025-01-01 10:00:00", "C3": "2025-01-23 00:00:00"}


def test_a_few_bad_rows_in_a_small_batch_are_quarantined_not_refused(tmp_path: Path, con) -> None:
    _customers_csv(tmp_path / "erp/customers.csv", [ROW_A, ROW_B.replace(",45,", ",x,")])
    (res,) = load_mapping_files(con, _mapping(tmp_path, raw_erp__customers=FileStreamMapping(path="erp/customers.csv")))
    assert (res.rows_new, res.rows_quarantined) == (1, 1)


def test_a_table_landed_under_an_older_contract_gains_new_optional_columns(tmp_path: Path, con) -> None:
    """An existing warehouse keeps loading after the contract grows: the column is added, rows go by name."""
    from dataclasses import replace

    from connectors.load import ensure_raw_table

    old = replace(CUSTOMERS, columns=tuple(c for c in CUSTOMERS.columns if c.name != "segment"))
    ensure_raw_table(con, old)  # the table as an older release created it, without `segment`
    assert "segment" not in [r[0] for r in con.execute(f"describe {CUSTOMERS.table}").fetchall()]
    _customers_csv(tmp_path / "in" / "customers.csv", [ROW_A, ROW_B])
    load_mapping_files(con, _mapping(tmp_path / "in", raw_erp__customers=FileStreamMapping(path="customers.csv")))
    cols = [r[0] for r in con.execute(f"describe {CUSTOMERS.table}").fetchall()]
    assert cols[-1] == "segment", "the new column is appended after the lineage columns"
    got = con.execute(f"select customer_id, segment, _source, currency from {CUSTOMERS.table} order by 1").fetchall()
    assert got == [("C1", "smb", "test", "MXN"), ("C2", "mid_market", "test", "COP")]

"""The file-drop source passes the shared connector conformance suite on a simulated world."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
from conformance import assert_source_conforms

from connectors.sources.files.config import simulator_mapping
from connectors.sources.files.reader import FileSource
from simulator import simulate


def test_file_source_conforms(tmp_path: Path) -> None:
    manifest = simulate(tmp_path / "landing", profile="S", n_customers=120, seed=3, as_of=date(2026, 11, 23))

    def corrupt() -> str:
        """A new export where one invoice lost its (required) due date."""
        path = tmp_path / "landing" / "erp" / "invoices.parquet"
        staged = path.with_suffix(".tmp.parquet")
        with duckdb.connect() as c:
            key = c.execute(f"select min(invoice_id) from read_parquet('{path}')").fetchall()[0][0]
            c.execute(
                f"""copy (select * replace (
                        case when invoice_id = '{key}' then null else due_date end as due_date,
                        case when invoice_id = '{key}' then updated_at + interval 1 day else updated_at end
                            as updated_at)
                    from read_parquet('{path}')) to '{staged}' (format parquet)"""
            )
        staged.replace(path)
        return key

    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        landed = assert_source_conforms(
            lambda: FileSource(simulator_mapping(tmp_path / "landing")), con, corrupt_one_record=corrupt
        )
    assert landed["raw_erp.invoices"] == manifest.row_counts["raw_erp.invoices"]

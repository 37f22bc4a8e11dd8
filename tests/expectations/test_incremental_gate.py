"""The incremental raw gate (issue 19): only rows landed since the last pass are validated, with the same verdicts.

A second pass with nothing new reads no table; a new batch's bad record is quarantined and excluded
while an earlier batch's exclusions stand; a fixed record that lands again is back; and the
exclusions after incremental passes equal those of a full re-validation of the same tables.
"""

from __future__ import annotations

from datetime import timedelta

from expectations import run_checkpoint
from expectations.gates import EXCLUDED_TABLE, MARKS_TABLE

ONE = ["raw_erp.invoices"]  # one suite keeps the test quick; every raw suite goes the same way


def _excluded(con) -> list[tuple]:
    return con.execute(f"select table_name, record_key from {EXCLUDED_TABLE} order by 1, 2").fetchall()


def _land_copy(con, invoice: str, new_id: str, when) -> None:
    """A new batch: a copy of ``invoice`` under ``new_id``, loaded at ``when``."""
    con.execute(
        "insert into raw_erp.invoices select * replace (? as invoice_id, 'b-2' as _batch_id, ? as _loaded_at) "
        "from raw_erp.invoices where invoice_id = ?",
        [new_id, when, invoice],
    )


def test_incremental_gate_validates_new_rows_only_and_agrees_with_a_full_pass(warehouse, as_of):
    first = run_checkpoint("raw", warehouse, as_of=as_of, tables=ONE, incremental=True)  # no mark yet: whole tables
    assert first.success and first.results["raw_erp__invoices"].row_count > 1
    marks = dict(warehouse.execute(f"select * from {MARKS_TABLE}").fetchall())
    assert "raw_erp.invoices" in marks

    again = run_checkpoint("raw", warehouse, as_of=as_of, tables=ONE, incremental=True)
    assert all(r.row_count == 0 for r in again.results.values())  # nothing landed: nothing read

    later = marks["raw_erp.invoices"] + timedelta(hours=1)
    for n in range(30):
        _land_copy(warehouse, "INV-0001", f"INV-9{n:03d}", later)
    warehouse.execute("update raw_erp.invoices set amount_open = -1 where invoice_id = 'INV-9002'")
    day2 = run_checkpoint("raw", warehouse, as_of=as_of, tables=ONE, incremental=True)
    assert day2.results["raw_erp__invoices"].row_count == 30
    assert day2.success  # one bad record among the new rows is quarantined, not a systemic failure
    assert _excluded(warehouse) == [("raw_erp.invoices", "INV-9002")]
    run_checkpoint("raw", warehouse, as_of=as_of, tables=ONE)  # a full pass finds the same
    assert _excluded(warehouse) == [("raw_erp.invoices", "INV-9002")]

    # Fixed at the source, INV-9002 lands again (a new version): its exclusion goes.
    warehouse.execute(
        "update raw_erp.invoices set amount_open = amount_total, _loaded_at = ? where invoice_id = 'INV-9002'",
        [later + timedelta(hours=1)],
    )
    day3 = run_checkpoint("raw", warehouse, as_of=as_of, tables=ONE, incremental=True)
    assert day3.results["raw_erp__invoices"].row_count == 1
    assert _excluded(warehouse) == []
    full = run_checkpoint("raw", warehouse, as_of=as_of, tables=ONE)
    assert full.success and full.results["raw_erp__invoices"].row_count > 30
    assert _excluded(warehouse) == []

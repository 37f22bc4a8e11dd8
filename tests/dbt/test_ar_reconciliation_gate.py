"""Open AR in the marts must reconcile with the ERP; when it does not, the pre_dispatch gate stops the run.

A clean build reconciles to the cent. Then one open invoice is deleted from ``fct_invoices`` (as a
bad join would drop it) and the reconciliation mart rebuilt: the gate must fail critically and name
the check and the currency.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from cobranza.settings import load_settings
from expectations import QualityGateError, run_checkpoint
from flows import stages

pytestmark = pytest.mark.slow


def test_ar_that_does_not_reconcile_blocks_dispatch(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    ctx = stages.make_context(settings, date(2026, 11, 23))
    stages.simulate(ctx)
    stages.ingest(ctx)
    stages.build(ctx)
    with duckdb.connect(str(settings.duckdb_path)) as con:
        rows = con.execute(
            "select currency, difference, relative_difference from marts.mart_ar_reconciliation"
        ).fetchall()
        assert rows and all(diff == 0 for _, diff, _ in rows)
        assert run_checkpoint("pre_dispatch", con, as_of=ctx.as_of).success
        (currency,) = con.execute(
            "select currency from marts.fct_invoices where status = 'posted' and amount_open_erp > 0 "
            "order by amount_open_erp desc limit 1"
        ).fetchall()[0]
        con.execute(
            "delete from marts.fct_invoices where invoice_id = (select invoice_id from marts.fct_invoices "
            "where status = 'posted' and amount_open_erp > 0 order by amount_open_erp desc limit 1)"
        )
    stages.build(ctx, models="mart_ar_reconciliation")
    with duckdb.connect(str(settings.duckdb_path)) as con:
        gate = run_checkpoint("pre_dispatch", con, as_of=ctx.as_of)
    assert not gate.success
    text = "; ".join(gate.critical_failures)
    assert "mart_ar_reconciliation.relative_difference" in text and currency in text
    with pytest.raises(QualityGateError):
        gate.raise_if_failed()

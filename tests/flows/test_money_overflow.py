"""Money never overflows: 10^13 open in COP and CLP through every stage, and frames written with declared types.

Issue 19: at profile L the score stage crashed with ``Casting value "10773678576.00" to type
DECIMAL(12,2) failed`` - DuckDB inferred the decimal type of a pandas column of ``Decimal``s from a
1,000-row sample, and a large customer in a low-value currency was not in it. These tests land
customers with ten trillion open (COP; CLP, a whole-unit currency) and an unapplied credit of ten
trillion COP (the suspense alert converts it to USD: its 18-digit product failed the L build), and
run ingest -> GX -> dbt -> train -> score -> decide -> outbox -> dry-run dispatch -> summary and KPI
report on profile S, and write a frame whose widest amount sits outside DuckDB's sample.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

AS_OF = date(2026, 11, 23)
HUGE = Decimal("10000000000000.00")  # 10^13: a large COP/CLP ledger, > DECIMAL(12,2) and (15,2)
# The simulator's own payment of the invoice may already sit in the bank (it suppresses that much).
NEARLY_HUGE = HUGE * Decimal("0.99")


def _inflate_open_invoices(landing: Path) -> dict[str, tuple[str, str]]:
    """One overdue, undisputed, fully open COP and CLP invoice made 10^13; {currency: (customer, invoice)}."""
    invoices_file = landing / "erp" / "invoices.parquet"
    table = pq.read_table(invoices_file)
    frame = table.to_pandas()
    disputed = set(pd.read_csv(landing / "crm" / "disputes.csv")["customer_id"])
    picked: dict[str, tuple[str, str]] = {}
    for currency in ("COP", "CLP"):
        candidates = frame[
            (frame["currency"] == currency)
            & (frame["status"] == "posted")
            & (frame["amount_open"] == frame["amount_total"])
            & (frame["amount_open"] > 0)
            & (frame["due_date"] < AS_OF - timedelta(days=5))
            & (frame["due_date"] > AS_OF - timedelta(days=40))
            & ~frame["customer_id"].isin(disputed)
        ].sort_values("invoice_id")
        row = candidates.iloc[0]
        frame.loc[frame["invoice_id"] == row["invoice_id"], ["amount_total", "amount_open"]] = HUGE
        picked[currency] = (row["customer_id"], row["invoice_id"])
    pq.write_table(pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False), invoices_file)
    return picked


def _add_unapplied_credit(landing: Path) -> str:
    """A COP credit of 10^13 from an unknown payer, booked 10 days ago and never applied: a suspense alert.

    At profile L the alert's USD threshold (amount x rate, both DECIMAL(18)) overflowed DuckDB's
    18-digit product on a credit of 24 million COP and failed the build.
    """
    lines_file = landing / "bank" / "statement_lines.parquet"
    table = pq.read_table(lines_file)
    frame = table.to_pandas()
    template = frame[(frame["currency"] == "COP") & (frame["credit_debit"] == "CRDT")].iloc[0].copy()
    txn = "BT-HUGE-UNAPPLIED-1"
    template[["bank_txn_id", "amount", "counterparty_name", "remittance_text"]] = [
        txn,
        HUGE,
        "Inversiones Desconocidas Zeta SAS",
        "TRANSFERENCIA",
    ]
    template[["booking_date", "value_date"]] = [AS_OF - timedelta(days=10)] * 2
    for col in ("counterparty_iban", "creditor_reference", "return_reason", "end_to_end_id", "reversal_of"):
        template[col] = None
    template["is_reversal"] = False
    frame = pd.concat([frame, template.to_frame().T], ignore_index=True)
    pq.write_table(pa.Table.from_pandas(frame, schema=table.schema, preserve_index=False), lines_file)
    return txn


def _outbox_amounts(data: Path, customer: str) -> list[tuple[Decimal]]:
    """A customer's contact-task amounts: from the operational store if there is one (issue 18), else the warehouse."""
    for db in (data / "ops.duckdb", data / "warehouse.duckdb"):
        if db.exists():
            with duckdb.connect(str(db), read_only=True) as con:
                has = con.execute(
                    "select 1 from information_schema.tables "
                    "where table_schema = 'outbox' and table_name = 'contact_tasks'"
                ).fetchall()
                if has:
                    return con.execute(
                        "select amount_at_stake from outbox.contact_tasks where customer_id = ?", [customer]
                    ).fetchall()
    return []


@pytest.mark.slow
def test_ten_trillion_open_in_cop_and_clp_runs_every_stage(tmp_path: Path, prefect_harness) -> None:
    """The daily flow (ingest, GX, dbt, train, score, decide, outbox, dry-run dispatch, summary), then the report."""
    from cobranza.report.build import build_report
    from cobranza.settings import load_settings
    from flows import stages
    from flows.daily import daily_collections

    settings = load_settings(data_dir=tmp_path)
    settings.simulator.profile = "S"
    ctx = stages.make_context(settings, AS_OF)
    stages.simulate(ctx)
    picked = _inflate_open_invoices(ctx.landing_dir)
    unapplied = _add_unapplied_credit(ctx.landing_dir)
    mp = pytest.MonkeyPatch()
    mp.setenv("COBRANZA_DATA_DIR", str(tmp_path))
    mp.setenv("COBRANZA_SIMULATOR__ENABLED", "false")  # the flow lands the drop written above as it is
    try:
        summary = daily_collections(as_of=AS_OF, retrain=True)
    finally:
        mp.undo()
    report = build_report(ctx.warehouse, tmp_path / "report.html", as_of=AS_OF, tracking_uri=settings.tracking_uri)
    assert Path(report.as_dict()["path"]).is_file()
    assert {k["currency"] for k in summary["kpis"]} >= {"COP", "CLP"}
    assert summary["decisions"]["new_outbox_tasks"] > 0

    contacted = []
    with duckdb.connect(str(ctx.warehouse)) as con:
        for currency, (customer, invoice) in picked.items():
            fct = con.execute(
                "select amount_total, amount_open from marts.fct_invoices where invoice_id = ?", [invoice]
            ).fetchall()
            assert fct and fct[0][0] == HUGE and fct[0][1] >= NEARLY_HUGE, (currency, fct)
            risk = con.execute(
                "select amount_open from ml_scores.customer_risk where customer_id = ? and as_of_date = ?",
                [customer, AS_OF],
            ).fetchall()
            assert risk and risk[0][0] >= NEARLY_HUGE, (currency, risk)
            dunning = con.execute(
                "select overdue_amount from marts.mart_dunning_accounts where customer_id = ?", [customer]
            ).fetchall()
            assert dunning and dunning[0][0] >= NEARLY_HUGE, (currency, dunning)
            decided = con.execute(
                "select action, amount_at_stake from decisions.nba_decisions where customer_id = ? and as_of_date = ?",
                [customer, AS_OF],
            ).fetchall()
            assert decided and decided[0][1] >= NEARLY_HUGE, (currency, decided)
            if decided[0][0] != "wait":
                contacted.append(customer)
        suspense = con.execute(
            "select amount, severity from marts.mart_alert_signals where signal = 'suspense' and evidence_key = ?",
            [unapplied],
        ).fetchall()
        assert suspense == [(HUGE, "high")], suspense
        # Every money column the warehouse holds is declared at least DECIMAL(18,2).
        narrow = con.execute(
            """
            select table_schema || '.' || table_name || '.' || column_name, data_type
            from information_schema.columns
            where data_type like 'DECIMAL(%' and numeric_precision < 18 and numeric_scale <= 2
              and table_schema not like 'reference%'
            """
        ).fetchall()
        assert narrow == [], narrow
    assert contacted  # at least one of the two is contacted: its outbox task carries the amount
    for customer in contacted:  # read once the warehouse connection above is closed
        task = _outbox_amounts(tmp_path, customer)
        assert task and task[0][0] >= NEARLY_HUGE, (customer, task)


def test_a_frame_whose_widest_amount_is_outside_duckdbs_sample_is_written_exactly() -> None:
    """The L crash in small: 300k rows of 12 digits and one of 14 that DuckDB's 1,000-row sample misses."""
    from connectors import warehouse
    from ml.score import CUSTOMER_RISK_TABLE, TABLES

    n = 300_000
    amounts = [Decimal("1234567890.00")] * n
    amounts[n // 2 + 1] = Decimal("10773678576.00")
    amounts[n // 2 + 3] = HUGE
    frame = pd.DataFrame(
        {
            "as_of_date": AS_OF,
            "customer_id": [f"C{i:07d}" for i in range(n)],
            "currency": "COP",
            "n_open_invoices": 1,
            "amount_open": amounts,
            "max_risk": 0.5,
            "amount_weighted_risk": 0.5,
            "expected_late_amount": amounts,
            "model_version": "1",
            "scored_at": pd.Timestamp("2026-11-23 06:00"),
        }
    )
    with duckdb.connect() as con:
        written = warehouse.replace_partition(
            con, CUSTOMER_RISK_TABLE, frame, TABLES[CUSTOMER_RISK_TABLE], {"as_of_date": AS_OF}
        )
        assert written == n
        top = con.execute(
            f"select max(amount_open), sum(amount_open), max(expected_late_amount) from {CUSTOMER_RISK_TABLE}"
        ).fetchall()[0]
    assert top[0] == HUGE and top[2] == HUGE
    assert top[1] == sum(amounts, Decimal(0))

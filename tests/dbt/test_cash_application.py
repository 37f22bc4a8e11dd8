"""Cash application against the simulator's ground truth on an S world (DESIGN.md §4).

Simulates, ingests and builds the warehouse up to the cash-application models (their dbt unit
tests run in tests/dbt/test_unit_tests.py), then scores ``int_payments_matched_to_invoices`` at invoice level
with ``evaluation.cash_application``: precision >= 99.5 % and recall >= 95 % overall, and every line
that is neither matched nor fully matched stays visible in ``mart_bank_lines_for_review``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 23)
CONTEXT: dict = {}  # the run context of the module's build, for tests that rebuild after a change


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cobranza.settings import load_settings
    from flows import stages

    root = tmp_path_factory.mktemp("cash_app")
    settings = load_settings(data_dir=root, simulator={"profile": "S"})
    ctx = stages.make_context(settings, AS_OF)
    stages.simulate(ctx)
    stages.ingest(ctx)
    stages.build(ctx, models="+mart_bank_lines_for_review +fct_payments +int_invoice_balances_adjusted")
    CONTEXT["ctx"] = ctx
    return settings.duckdb_path, ctx.landing_dir / "_truth"


def test_precision_and_recall_meet_targets(built: tuple[Path, Path]) -> None:
    from evaluation.cash_application import evaluate_cash_application

    scores = evaluate_cash_application(*built)
    detail = f"\n{scores.by_quality}\n{scores.by_method}"
    assert scores.n_true > 10_000
    assert scores.precision >= 0.995, f"precision {scores.precision:.4f}{detail}"
    assert scores.recall >= 0.95, f"recall {scores.recall:.4f}{detail}"
    by_quality = scores.by_quality.set_index("remittance_quality")
    # Hard cases each stay well above chance; what the text names exactly is nearly always found.
    for quality in ("exact", "structured", "reformatted", "typo", "truncated"):
        assert by_quality.loc[quality, "recall"] >= 0.93, f"{quality}: {by_quality.loc[quality].to_dict()}"
    assert by_quality.loc["several", "recall"] >= 0.9
    assert by_quality.loc["missing", "recall"] >= 0.75
    assert scores.auto_match_rate >= 0.95


def test_unmatched_lines_go_to_review_and_nothing_is_over_allocated(built: tuple[Path, Path]) -> None:
    warehouse, _ = built
    with duckdb.connect(str(warehouse)) as con:
        unreviewed = con.sql(
            """select count(*) from marts.fct_payments
            where amount_unmatched > 0
                and bank_txn_id not in (select bank_txn_id from marts.mart_bank_lines_for_review)"""
        ).fetchall()[0][0]
        over = con.sql("select count(*) from marts.fct_payments where amount_unmatched < 0").fetchall()[0][0]
        reasons = dict(
            con.sql("select reason, count(*) from marts.mart_bank_lines_for_review group by reason").fetchall()
        )
    assert unreviewed == 0
    assert over == 0
    assert reasons.get("ambiguous", 0) > 0


def test_reversed_payment_reopens_its_invoice(built: tuple[Path, Path]) -> None:
    """A payment the bank reverses (a DBIT with RvslInd / a return) no longer pays its invoice.

    Takes a bank line that cash application matched to an invoice the ERP has not recorded as paid
    yet (its ERP open amount still includes the payment), lands its reversal (same account, amount
    and payer account, booked the next day, marked as a reversal with a return reason, quoting the
    original's id), rebuilds from the raw bank lines, and checks that the line pays nothing any more
    and that its invoice is open again by the amount it had paid.
    """
    from flows import stages

    warehouse, _ = built
    with duckdb.connect(str(warehouse)) as con:
        paid = con.sql(
            """select m.bank_txn_id, m.invoice_id, m.amount_allocated, b.amount_open
            from intermediate.int_payments_matched_to_invoices m
            join intermediate.int_invoice_balances_adjusted b using (invoice_id)
            where not m.is_recorded_in_erp and m.booking_date < date '2026-11-20'
                -- the ERP has not recorded it in any way yet (its open amount still counts the invoice)
                and b.amount_paid_bank_unrecorded = m.amount_allocated and b.amount_open_erp >= m.amount_allocated
                and m.bank_txn_id in (select bank_txn_id from intermediate.int_payments_matched_to_invoices
                                      group by bank_txn_id having count(*) = 1)
                and m.invoice_id in (select invoice_id from intermediate.int_payments_matched_to_invoices
                                     group by invoice_id having count(*) = 1)
            order by m.bank_txn_id limit 1"""
        ).fetchall()
        assert paid, "the S world has a payment matched and not yet recorded by the ERP"
        txn, invoice, allocated, open_before = paid[0]
        con.execute(
            """insert into raw_bank.statement_lines by name
            select 'REVERSAL-OF-' || bank_txn_id as bank_txn_id, account_iban, booking_date + 1 as booking_date,
                   booking_date + 1 as value_date, amount, currency, 'DBIT' as credit_debit, counterparty_name,
                   counterparty_iban, remittance_text, null as creditor_reference, true as is_reversal,
                   'AC04' as return_reason, null as end_to_end_id, bank_txn_id as reversal_of,
                   'test' as _source, 'test' as _batch_id, now()::timestamp as _loaded_at, 'test' as _file
            from raw_bank.statement_lines where bank_txn_id = ?""",
            [txn],
        )
    stages.build(CONTEXT["ctx"], models="int_bank_lines_reversed+,+int_invoice_balances_adjusted +fct_payments")
    with duckdb.connect(str(warehouse)) as con:
        reversed_line = con.execute(
            "select match_method, amount_matched, amount_unmatched, is_reversed, reversed_by_bank_txn_id "
            "from marts.fct_payments where bank_txn_id = ?",
            [txn],
        ).fetchall()
        still_matched = con.execute(
            "select count(*) from intermediate.int_payments_matched_to_invoices where bank_txn_id = ?", [txn]
        ).fetchall()[0][0]
        open_after = con.execute(
            "select amount_open from intermediate.int_invoice_balances_adjusted where invoice_id = ?", [invoice]
        ).fetchall()[0][0]
    assert reversed_line == [("reversed", 0, 0, True, f"REVERSAL-OF-{txn}")]
    assert still_matched == 0
    assert open_after == open_before + allocated, (invoice, open_before, allocated, open_after)

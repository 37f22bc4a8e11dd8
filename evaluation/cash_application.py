"""Cash-application quality against the simulator's ground truth (DESIGN.md §4).

Compares the warehouse's ``intermediate.int_payments_matched_to_invoices`` (one row per bank line x
invoice allocation) with the simulator's ``_truth/bank_line_invoices.parquet`` (which invoices each
customer transfer really paid) at invoice level: a prediction is a (bank line, invoice) pair.

- precision = correct pairs / predicted pairs (every predicted pair counts, whatever the line);
- recall = correct pairs / true pairs (the customer transfers of ``_truth/bank_lines.parquet``);
- both broken down by the line's remittance quality (``_truth/bank_lines.parquet``) and, for
  precision, by match method;
- auto-match rate = customer transfers with at least one allocation / customer transfers, and the
  share of such transfers sent to ``mart_bank_lines_for_review``.

A plain library: paths and connection come in as arguments; the bench and the tests call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

MATCHES_TABLE = "intermediate.int_payments_matched_to_invoices"
REVIEW_TABLE = "marts.mart_bank_lines_for_review"


@dataclass(frozen=True)
class CashApplicationScores:
    """Invoice-level precision and recall of cash application, overall and broken down."""

    precision: float
    recall: float
    n_predicted: int
    n_true: int
    n_correct: int
    auto_match_rate: float
    review_rate: float
    by_quality: pd.DataFrame = field(repr=False)
    by_method: pd.DataFrame = field(repr=False)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else float("nan")


def evaluate_cash_application(warehouse: Path, truth_dir: Path) -> CashApplicationScores:
    """Score the warehouse's matches against the simulator's ground truth.

    Args:
        warehouse: The DuckDB file that ``dbt build`` filled.
        truth_dir: The simulator's ``_truth`` folder (``bank_lines.parquet``, ``bank_line_invoices.parquet``).

    Returns:
        Overall precision, recall and auto-match rate, with tables by remittance quality and by method.
    """
    lines_path = Path(truth_dir) / "bank_lines.parquet"
    pairs_path = Path(truth_dir) / "bank_line_invoices.parquet"
    for path in (lines_path, pairs_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: ground truth missing; simulate the sources first")
    with duckdb.connect(str(warehouse)) as con:
        con.sql(f"create temp view truth_lines as select * from read_parquet('{lines_path}')")
        con.sql(
            f"create temp view truth_pairs as select distinct bank_txn_id, invoice_id from read_parquet('{pairs_path}')"
        )
        con.sql(
            f"""create temp table scored as
            with predicted as (
                select bank_txn_id, invoice_id, any_value(match_method) as match_method
                from {MATCHES_TABLE} group by bank_txn_id, invoice_id
            )
            select
                coalesce(predicted.bank_txn_id, truth_pairs.bank_txn_id) as bank_txn_id,
                coalesce(predicted.invoice_id, truth_pairs.invoice_id) as invoice_id,
                predicted.match_method,
                predicted.bank_txn_id is not null as is_predicted,
                truth_pairs.bank_txn_id is not null as is_true
            from predicted
            full outer join truth_pairs using (bank_txn_id, invoice_id)"""
        )
        by_quality = con.sql(
            """select
                coalesce(truth_lines.remittance_quality, '(not a customer payment)') as remittance_quality,
                count(*) filter (where is_true) as n_true,
                count(*) filter (where is_predicted) as n_predicted,
                count(*) filter (where is_true and is_predicted) as n_correct
            from scored left join truth_lines using (bank_txn_id)
            group by all order by all"""
        ).df()
        by_method = con.sql(
            """select match_method, count(*) as n_predicted, count(*) filter (where is_true) as n_correct
            from scored where is_predicted group by all order by all"""
        ).df()
        rates = con.sql(
            f"""with customer_lines as (
                select bank_txn_id from truth_lines where kind = 'customer_payment'
            )
            select
                count(*) as n_lines,
                count(*) filter (where bank_txn_id in (select bank_txn_id from {MATCHES_TABLE})) as n_matched,
                count(*) filter (where bank_txn_id in (select bank_txn_id from {REVIEW_TABLE})) as n_review
            from customer_lines"""
        ).fetchall()[0]
    for frame in (by_quality, by_method):
        frame["precision"] = frame["n_correct"] / frame["n_predicted"].where(frame["n_predicted"] > 0)
    by_quality["recall"] = by_quality["n_correct"] / by_quality["n_true"].where(by_quality["n_true"] > 0)
    n_pred, n_true, n_ok = (int(by_quality[c].sum()) for c in ("n_predicted", "n_true", "n_correct"))
    n_lines, n_matched, n_review = rates
    return CashApplicationScores(
        precision=_ratio(n_ok, n_pred),
        recall=_ratio(n_ok, n_true),
        n_predicted=n_pred,
        n_true=n_true,
        n_correct=n_ok,
        auto_match_rate=_ratio(n_matched, n_lines),
        review_rate=_ratio(n_review, n_lines),
        by_quality=by_quality,
        by_method=by_method,
    )

"""Cash application against the simulator's ground truth on an S world (DESIGN.md §4).

Simulates, ingests and builds the warehouse up to the cash-application models (their dbt unit
tests run in the same build), then scores ``int_payments_matched_to_invoices`` at invoice level
with ``ml.cash_application_eval``: precision >= 99.5 % and recall >= 95 % overall, and every line
that is neither matched nor fully matched stays visible in ``int_bank_lines_for_review``.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 23)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from cobranza.settings import load_settings
    from flows import stages

    root = tmp_path_factory.mktemp("cash_app")
    settings = load_settings(data_dir=root, simulator={"profile": "S"})
    ctx = stages.make_context(settings, AS_OF)
    stages.simulate_sources.fn(ctx)
    stages.ingest_sources.fn(ctx)
    stages.dbt_build.fn(ctx, select="+int_bank_lines_for_review +fct_payments")
    return settings.duckdb_path, ctx.landing_dir / "_truth"


def test_precision_and_recall_meet_targets(built: tuple[Path, Path]) -> None:
    from ml.cash_application_eval import evaluate_cash_application

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
                and bank_txn_id not in (select bank_txn_id from intermediate.int_bank_lines_for_review)"""
        ).fetchall()[0][0]
        over = con.sql("select count(*) from marts.fct_payments where amount_unmatched < 0").fetchall()[0][0]
        reasons = dict(
            con.sql("select reason, count(*) from intermediate.int_bank_lines_for_review group by reason").fetchall()
        )
    assert unreviewed == 0
    assert over == 0
    assert reasons.get("ambiguous", 0) > 0

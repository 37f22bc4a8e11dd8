"""Cash-application benchmark: simulate a world, ingest it, ``dbt build`` it, score the matches.

Runs the pipeline's own stage bodies (``flows.stages``: simulate -> ingest -> dbt build) in a fresh
work folder at profile S or M, times the dbt build, then scores
``intermediate.int_payments_matched_to_invoices`` against the simulator's ground truth with
``evaluation.cash_application``: invoice-level precision and recall, by remittance quality and by match
method, and the auto-match rate.

Usage: ``python -m bench.cash_application --profile S`` (``--keep`` leaves the work folder).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cobranza import runtime

runtime.apply_defaults()

AS_OF = date(2026, 11, 23)


def run(profile: str, work_dir: Path, as_of: date = AS_OF) -> dict[str, object]:
    """Simulate, ingest and build one world; return timings and the cash-application scores.

    Args:
        profile: Simulator scale profile (``S`` or ``M``).
        work_dir: Empty folder for the extracts and the warehouse.
        as_of: Business date of the run.

    Returns:
        ``seconds`` per stage and ``scores`` (a ``CashApplicationScores``).
    """
    from cobranza.settings import load_settings
    from evaluation.cash_application import evaluate_cash_application
    from flows import stages

    settings = load_settings(data_dir=work_dir, simulator={"profile": profile})
    ctx = stages.make_context(settings, as_of)
    seconds: dict[str, float] = {}
    for name, stage in (
        ("simulate", stages.simulate),
        ("ingest", stages.ingest),
        ("dbt build", stages.build),
    ):
        start = time.perf_counter()
        stage(ctx)
        seconds[name] = time.perf_counter() - start
    scores = evaluate_cash_application(settings.duckdb_path, ctx.landing_dir / "_truth")
    return {"seconds": seconds, "scores": scores}


def _frame_table(title: str, frame) -> Table:  # noqa: ANN001 - a pandas DataFrame
    table = Table(title=title)
    for col in frame.columns:
        table.add_column(str(col), justify="left" if frame[col].dtype == object else "right")
    for row in frame.itertuples(index=False):
        table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row))
    return table


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="S", choices=["S", "M", "s", "m"])
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix=f"cobranza-cash-app-{args.profile.upper()}-"))
    console = Console()
    try:
        result = run(args.profile.upper(), work)
        scores = result["scores"]
        console.print(f"profile {args.profile.upper()}  work folder {work}")
        console.print(", ".join(f"{k} {v:.1f} s" for k, v in result["seconds"].items()))
        console.print(
            f"precision {scores.precision:.4%}  recall {scores.recall:.4%}  "
            f"({scores.n_correct}/{scores.n_predicted} predicted, {scores.n_true} true pairs)  "
            f"auto-match rate {scores.auto_match_rate:.2%}  sent to review {scores.review_rate:.2%}"
        )
        console.print(_frame_table("by remittance quality", scores.by_quality))
        console.print(_frame_table("by match method", scores.by_method))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Same answers from the incremental daily run and a full refresh, over several simulated days.

Issue 19: the daily run validates raw data incrementally (the rows landed since the last pass); a full
refresh re-validates whole tables and must give the same warehouse. (dbt's ``--full-refresh`` is not
passed: the only incremental model, ``fct_ar_balances_daily``, keeps one snapshot per run date, which
a full refresh cannot rebuild for past days; every other model is rebuilt in full each day.)
Two scratch data directories run the same business days, each day's stages as plain functions in the
daily flow's order (simulate, ingest, raw gate, dbt build, pre-dispatch gate, train when due, score,
decide, dry-run dispatch), one incrementally and one with full re-validations, each side in a fresh
process; then every ``marts`` table, the scores (``ml_scores.*``), the decision log and the outbox
are compared ``EXCEPT ALL`` both ways (``bench.same_outputs.compare``: doubles at 12 significant
digits, wall-clock columns left out).

Usage: ``flock /tmp/cobranza-heavy.lock .venv/bin/python -m bench.incremental_same --profile S
--days 4 --work-dir /tmp/me/same [--json]``. Exit status 1 when a table differs.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.same_outputs import compare
from cli.benchmark import machine

FIRST_DAY = date(2026, 11, 23)
#: Python-written tables compared besides the marts, the decision log and the outbox.
SCORES = ("ml_scores.invoice_scores", "ml_scores.invoice_explanations", "ml_scores.customer_risk")


def business_days(first: date, n: int) -> list[date]:
    """``n`` weekdays from ``first`` on."""
    days, d = [], first
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def run_side(profile: str, data_dir: str, days: list[date], full_refresh: bool) -> dict[str, Any]:
    """Run ``days`` on ``data_dir``; the first day is onboarding (whole tables either way)."""
    from cobranza.settings import load_settings
    from flows import stages

    settings = load_settings(data_dir=Path(data_dir))
    settings.simulator.profile = profile
    seconds = []
    for i, day in enumerate(days):
        started = time.perf_counter()
        ctx = stages.make_context(settings, day)
        stages.replicate(ctx)
        stages.simulate(ctx)
        stages.ingest(ctx)
        stages.gate(ctx, "raw", full_refresh=full_refresh)
        stages.build(ctx)
        stages.gate(ctx, "pre_dispatch")
        stages.train(ctx, force=i == 0)
        stages.score(ctx)
        stages.decide(ctx)
        stages.refresh_serving(ctx)
        stages.dispatch(ctx)
        stages.replicate(ctx)
        seconds.append(round(time.perf_counter() - started, 1))
    return {"seconds_per_day": seconds}


def _fresh(fn: Any, *args: Any) -> Any:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def run(profile: str, n_days: int, work_dir: Path) -> dict[str, Any]:
    """Both sides over ``n_days`` business days, then the comparison."""
    days = business_days(FIRST_DAY, n_days)
    sides = {}
    for name, full in (("incremental", False), ("full_refresh", True)):
        data = work_dir / name
        shutil.rmtree(data, ignore_errors=True)
        sides[name] = _fresh(run_side, profile, str(data), days, full)
    rows = compare(
        work_dir / "full_refresh" / "warehouse.duckdb",
        work_dir / "incremental" / "warehouse.duckdb",
        pairs={t: t for t in SCORES},
    )
    differing = [
        r
        for r in rows
        if r.get("note", "").startswith("missing")
        or ((r.get("only_before") or r.get("only_after")) and not r.get("note", "").startswith("float noise"))
    ]
    return {
        "profile": profile,
        "days": [d.isoformat() for d in days],
        "machine": machine(),
        "sides": sides,
        "tables": rows,
        "identical": not differing,
        "differing": [r["table"] for r in differing],
    }


def main() -> int:
    """CLI entry point; exit 1 when a table differs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="S")
    parser.add_argument("--days", type=int, default=4)
    parser.add_argument("--work-dir", type=Path, required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.profile, args.days, args.work_dir)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        for r in result["tables"]:
            print(
                f"{r['table']}: {r.get('rows_before')} / {r.get('rows_after')} rows, "
                f"only full {r.get('only_before')}, only incremental {r.get('only_after')} {r.get('note', '')}"
            )
        print("identical" if result["identical"] else f"DIFFERENT: {result['differing']}")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    raise SystemExit(main())

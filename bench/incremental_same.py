"""Same answers from the incremental daily run and a full refresh, over several simulated days.

Issue 19: the daily run validates raw data incrementally (the rows landed since the last pass) and
builds the heavy dbt models incrementally (``macros/incremental.sql``: the keys changed in a
look-back window, deleted and recomputed); ``cobranza run --full-refresh`` re-validates whole tables
and rebuilds every incremental model from the whole history (``dbt build --full-refresh``; the AR
balance snapshots of past dates, ``fct_ar_balances_daily``, are kept either way) and must give the
same warehouse. Two scratch data directories run the same business days, each day's stages as plain
functions in the daily flow's order (simulate, ingest, raw gate, dbt build, pre-dispatch gate, train
when due, score, alerts, decide, dry-run dispatch), one incrementally and one with full refreshes,
each side in a fresh process; then every ``marts`` table, the incremental intermediate models, the
scores (``ml_scores.*``), the decision log and the outbox are compared ``EXCEPT ALL`` both ways
(``bench.same_outputs.compare``, wall-clock columns left out). Two things differ between any two
runs of the same days and are not the incremental path's doing: the dry-run dispatch stamps a
task's ``sent`` event with the replayed instant plus the real time elapsed, and
``marts.fct_interactions.occurred_at`` of an outbox row is that stamp (compared here without it:
every other column, and ``occurred_at`` of every CRM row, must match); the bandit decays each touch
by its age in seconds, so the decision log's doubles (``p_pay``, expected values) move in the 8th
digit: the decision log passes when every other column matches both ways and no double differs by
more than 1e-6 relatively (a stale row of an incremental model shows in exact columns: decimals,
dates, keys, actions).

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
#: The incremental intermediate models (the marts are compared whole anyway).
INCREMENTAL = (
    "intermediate.int_bank_credits_tokenised",
    "intermediate.int_bank_credits_matched_by_reference",
    "intermediate.int_payer_accounts_learned",
    "intermediate.int_invoices_settled",
)


def business_days(first: date, n: int) -> list[date]:
    """``n`` weekdays from ``first`` on."""
    days, d = [], first
    while len(days) < n:
        if d.weekday() < 5:
            days.append(d)
        d += timedelta(days=1)
    return days


def run_side(
    profile: str, data_dir: str, days: list[date], full_refresh: bool, customers: int | None = None
) -> dict[str, Any]:
    """Run ``days`` on ``data_dir``; the first day is onboarding (whole tables either way).

    ``customers``: a smaller world than the profile's (the simulator's ``n_customers``), for quick checks.
    """
    import functools

    import simulator
    from cobranza.settings import load_settings
    from flows import stages
    from flows.alerts import raise_alerts

    if customers:
        simulator.simulate = functools.partial(simulator.simulate, n_customers=customers)

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
        stages.build(ctx, full_refresh=full_refresh)
        stages.gate(ctx, "pre_dispatch")
        stages.train(ctx, force=i == 0)
        stages.score(ctx)
        raise_alerts(ctx)
        stages.decide(ctx)
        stages.refresh_serving(ctx)
        stages.dispatch(ctx)
        stages.replicate(ctx)
        seconds.append(round(time.perf_counter() - started, 1))
    return {"seconds_per_day": seconds}


#: Largest relative difference of the decision log's doubles taken as send-stamp noise (module docstring).
DECISION_TOLERANCE = 1e-6


def interactions_without_send_stamps(full_db: Path, incremental_db: Path) -> tuple[int, int]:
    """Rows of ``marts.fct_interactions`` on one side only, the outbox rows' send-time stamp left out."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"attach '{full_db}' as f (read_only)")
    con.execute(f"attach '{incremental_db}' as i (read_only)")
    cols = [
        r[0]
        for r in con.execute(
            "select column_name from information_schema.columns where table_catalog = 'f' "
            "and table_schema = 'marts' and table_name = 'fct_interactions' order by ordinal_position"
        ).fetchall()
    ]
    names = ", ".join(
        "case when source = 'outbox' then null else occurred_at end" if c == "occurred_at" else c for c in cols
    )
    counts = tuple(
        con.execute(
            f"select count(*) from (select {names} from {x}.marts.fct_interactions "
            f"except all select {names} from {y}.marts.fct_interactions)"
        ).fetchone()[0]
        for x, y in (("f", "i"), ("i", "f"))
    )
    con.close()
    return counts


def decision_float_noise(full_db: Path, incremental_db: Path) -> float | None:
    """The decision log's largest relative double difference when every other column matches, else None."""
    import duckdb

    from bench.compare_marts import table_columns
    from bench.same_outputs import _float_noise

    con = duckdb.connect()
    con.execute(f"attach '{full_db}' as b (read_only)")
    con.execute(f"attach '{incremental_db}' as a (read_only)")
    table = "decisions.nba_decisions"
    worst = _float_noise(con, table, table_columns(con, "b", table))
    con.close()
    return worst


def _fresh(fn: Any, *args: Any) -> Any:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def run(profile: str, n_days: int, work_dir: Path, customers: int | None = None) -> dict[str, Any]:
    """Both sides over ``n_days`` business days, then the comparison."""
    days = business_days(FIRST_DAY, n_days)
    sides = {}
    for name, full in (("incremental", False), ("full_refresh", True)):
        data = work_dir / name
        shutil.rmtree(data, ignore_errors=True)
        sides[name] = _fresh(run_side, profile, str(data), days, full, customers)
    full_db = work_dir / "full_refresh" / "warehouse.duckdb"
    incremental_db = work_dir / "incremental" / "warehouse.duckdb"
    rows = compare(full_db, incremental_db, pairs={t: t for t in (*SCORES, *INCREMENTAL)})
    for r in rows:
        if r["table"] == "marts.fct_interactions" and not r["note"]:
            r["only_before"], r["only_after"] = interactions_without_send_stamps(full_db, incremental_db)
            r["ignored"] = ["occurred_at of outbox rows (the dry-run send stamp)"]
        if r["table"] == "decisions.nba_decisions" and (r.get("only_before") or r.get("only_after")):
            worst = decision_float_noise(full_db, incremental_db)
            if worst is not None and worst <= DECISION_TOLERANCE:
                r["note"] = f"float noise (max relative difference {worst:.1e}, from the send stamps)"
    differing = [
        r
        for r in rows
        if r.get("note", "").startswith("missing")
        or ((r.get("only_before") or r.get("only_after")) and not r.get("note", "").startswith("float noise"))
    ]
    return {
        "profile": profile,
        "customers": customers,
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
    parser.add_argument("--customers", type=int, help="a smaller world than the profile's (quick checks)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.profile, args.days, args.work_dir, args.customers)
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

"""Early-warning bench (issue 21): precision and recall per anomaly type, alerts per day, added runtime.

For each profile and seed: simulate the world with planted anomalies (``simulator.anomalies``,
``--rate`` per type) into a scratch data dir, ingest it, ``dbt build`` what the signals need, then

- score the signals (``marts.mart_alert_signals``) and the behaviour scorer's breaks against the
  simulator's labels (``evaluation.alerts``);
- run the alert stage (``flows.alerts.raise_alerts``) on ``--days`` consecutive days up to the run
  date: alerts raised per day under the cap;
- time what alerts add to the daily run: the dbt models of intermediate/alerts + marts/alerts
  rebuilt alone, and the stage.

Run it under the shared lock:
``flock /tmp/cobranza-heavy.lock .venv/bin/python -m bench.alerts --profiles S M --seeds 42 7``.
Prints one JSON object (and writes it to ``--out``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

AS_OF = date(2026, 10, 31)
SIGNAL_MODELS = "intermediate.alerts marts.alerts"


def run_one(profile: str, seed: int, rate: float, days: int, work: Path) -> dict[str, Any]:
    """Simulate, build and evaluate one world; return its figures."""
    from cobranza.settings import load_settings
    from connectors import warehouse
    from evaluation.alerts import score, truth_labels, with_drift_evidence, with_evidence
    from flows import stages
    from flows.alerts import raise_alerts
    from flows.dbt_runner import run_dbt
    from ml.alerts.behaviour import BEHAVIOUR_INPUTS, score_behaviour
    from simulator import simulate
    from simulator.anomalies import AnomalyConfig

    data = work / f"{profile}-{seed}"
    shutil.rmtree(data, ignore_errors=True)
    settings = load_settings(data_dir=data)
    settings.simulator.profile, settings.simulator.seed = profile, seed
    ctx = stages.make_context(settings, AS_OF)
    timings: dict[str, float] = {}
    t = time.perf_counter()
    simulate(ctx.landing_dir, profile=profile, seed=seed, as_of=AS_OF, anomalies=AnomalyConfig(rate=rate))
    timings["simulate_s"] = time.perf_counter() - t
    t = time.perf_counter()
    stages.ingest(ctx)
    timings["ingest_s"] = time.perf_counter() - t

    def dbt(select: str) -> float:
        t0 = time.perf_counter()
        run_dbt(
            ["build", "--select", select],
            duckdb_path=ctx.warehouse,
            work_dir=ctx.dbt_dir,
            as_of=AS_OF,
            late_days=settings.model.late_days,
        )
        return time.perf_counter() - t0

    timings["dbt_upstream_and_signals_s"] = dbt("+mart_alert_signals +int_alert_payment_behaviour")
    timings["dbt_alert_models_wall_s"] = dbt(SIGNAL_MODELS)
    # the nodes' own time (models, tests, unit tests), without dbt's start-up the daily build pays once
    results = json.loads((ctx.dbt_dir / "target" / "run_results.json").read_text())["results"]
    timings["dbt_alert_models_s"] = sum(float(r.get("execution_time") or 0) for r in results)

    with warehouse.connect(ctx.warehouse) as con:
        signals = con.sql("select * from marts.mart_alert_signals").to_arrow_table().to_pandas()
        inputs = con.sql(f"select * from {BEHAVIOUR_INPUTS}").to_arrow_table().to_pandas()
        n_customers = int(con.sql("select count(*) from marts.dim_customers").fetchall()[0][0])
    t = time.perf_counter()
    breaks = score_behaviour(inputs)
    timings["behaviour_scorer_s"] = time.perf_counter() - t
    findings = signals[["signal", "customer_id", "evidence_key", "first_seen_date"]]
    behaviour = breaks.assign(signal="behaviour_change", evidence_key="", first_seen_date=AS_OF)
    import pandas as pd

    findings = pd.concat([findings, behaviour[findings.columns]], ignore_index=True)
    labels = with_evidence(truth_labels(ctx.landing_dir, AS_OF), ctx.landing_dir)
    labels = with_drift_evidence(labels, ctx.landing_dir, AS_OF)
    scores = [s.as_dict() for s in score(findings, labels, AS_OF)]

    per_day = []
    stage_s = []
    for k in range(days - 1, -1, -1):
        day = AS_OF - timedelta(days=k)
        t = time.perf_counter()
        out = raise_alerts(stages.make_context(settings, day))
        stage_s.append(time.perf_counter() - t)
        per_day.append({"date": day.isoformat(), "raised": out["raised"], "by_signal": out["by_signal"]})
    timings["alert_stage_s_median"] = sorted(stage_s)[len(stage_s) // 2]
    return {
        "profile": profile,
        "seed": seed,
        "rate": rate,
        "customers": n_customers,
        "signals": signals["signal"].value_counts().to_dict(),
        "behaviour_breaks": int(len(breaks)),
        "scores": scores,
        "alerts_per_day": per_day,
        "cap_per_day": max(1, int(0.01 * n_customers)),
        "timings": {k: round(v, 2) for k, v in timings.items()},
        "added_to_daily_run_s": round(timings["dbt_alert_models_s"] + timings["alert_stage_s_median"], 2),
    }


def markdown(result: dict[str, Any]) -> str:
    """The RESULTS.md tables of a bench result: precision/recall per type and run, alerts per day, runtime."""
    runs = result["runs"]
    types = [s["anomaly_type"] for s in runs[0]["scores"]]
    head = "| anomaly type | " + " | ".join(f"{r['profile']} seed {r['seed']}" for r in runs) + " |"
    lines = [head, "|---|" + "---|" * len(runs)]

    def cell(s: dict[str, Any]) -> str:
        p = "n/a" if s["precision"] is None else f"{s['precision']:.2f}"
        r = "n/a" if s["recall"] is None else f"{s['recall']:.2f}"
        return f"{p} / {r} ({s['true_findings']}/{s['findings']}, {s['found_labels']}/{s['labels']})"

    for t in types:
        row = [cell(next(s for s in r["scores"] if s["anomaly_type"] == t)) for r in runs]
        lines.append(f"| {t} | " + " | ".join(row) + " |")
    lines += [
        "",
        "| run | customers | cap/day | alerts raised per day (first = backlog) | dbt alert models s | stage s "
        "| added to the daily run s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        per_day = ", ".join(str(d["raised"]) for d in r["alerts_per_day"])
        t = r["timings"]
        lines.append(
            f"| {r['profile']} seed {r['seed']} | {r['customers']} | {r['cap_per_day']} | {per_day} | "
            f"{t['dbt_alert_models_s']} | {t['alert_stage_s_median']} | {r['added_to_daily_run_s']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the bench and print its JSON."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profiles", nargs="+", default=["S"])
    p.add_argument("--seeds", nargs="+", type=int, default=[42, 7])
    p.add_argument("--rate", type=float, default=0.02, help="Share of customers planted per anomaly type.")
    p.add_argument("--days", type=int, default=5, help="Consecutive days the alert stage runs.")
    p.add_argument("--work", type=Path, default=Path("/tmp/cobranza-bench-alerts"))
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--markdown", type=Path, default=None, help="Print the tables of an earlier --out JSON and exit.")
    args = p.parse_args(argv)
    if args.markdown:
        result = json.loads(args.markdown.read_text())
        print(markdown(result))  # noqa: T201 - a bench prints its result
        return result
    runs: list[dict[str, Any]] = []
    result = {"as_of": AS_OF.isoformat(), "runs": runs}
    for pr in args.profiles:
        for seed in args.seeds:
            runs.append(run_one(pr, seed, args.rate, args.days, args.work))
            if args.out:  # after each run: a long bench keeps what it measured
                args.out.write_text(json.dumps(result, default=str, indent=1) + "\n")
    text = json.dumps(result, default=str, indent=1)
    print(text)  # noqa: T201 - a bench prints its result
    return result


if __name__ == "__main__":
    main()

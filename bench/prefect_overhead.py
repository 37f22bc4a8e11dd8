"""Prefect's overhead on the daily run: the same stages through the ``daily_collections`` flow and as plain Python.

DESIGN §9: Prefect adds at most 10% over the same steps called as plain Python. One warehouse is
prepared (the first day, onboarding, as plain stages) and copied twice; the next business day then
runs on one copy as the flow (``flows.daily.daily_collections``, tasks, task runs and the local API
included) and on the other as the stages' plain functions in the flow's order
(``flows.stages.<stage>(ctx)``), each in a fresh process, in alternating order for ``--repeat``
rounds. The flow's figure is the wall time of the flow call once Prefect's in-process API is up
(a served deployment has it up already); the API's start-up is reported beside it.

Usage: ``flock /tmp/cobranza-heavy.lock .venv/bin/python -m bench.prefect_overhead --profile S
--data-dir /tmp/me/po [--repeat 2] [--json]``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import shutil
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any

from cli.benchmark import machine

AS_OF = date(2026, 11, 23)
NEXT_DAY = date(2026, 11, 24)


def _settings(profile: str, data_dir: Path) -> Any:
    from cobranza.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    settings.simulator.profile = profile
    return settings


def prepare(profile: str, data_dir: Path) -> None:
    """The first day as plain stages: simulate, land, gate, build, train, score, decide, dispatch."""
    from flows import stages

    ctx = stages.make_context(_settings(profile, data_dir), AS_OF)
    stages.simulate(ctx)
    stages.ingest(ctx)
    stages.gate(ctx, "raw")
    stages.build(ctx)
    stages.gate(ctx, "pre_dispatch")
    stages.train(ctx, force=True)
    stages.score(ctx)
    stages.decide(ctx)
    stages.refresh_serving(ctx)
    stages.dispatch(ctx)
    stages.replicate(ctx)
    stages.publish(ctx)


def _dispatcher_pass(stages: Any, ctx: Any) -> dict[str, int]:
    """The flow's dispatch step as plain calls: serving refresh, feedback, stale tasks, send, heartbeat."""
    from datetime import UTC, datetime

    started = datetime.now(UTC)
    stages.refresh_serving(ctx)
    total = stages.merge_dispatch(stages.land_feedback(ctx), stages.cancel_stale(ctx), stages.send(ctx))
    stages.record_pass(ctx, "dispatcher", started, total)
    return total


def plain_day(profile: str, data_dir: str) -> dict[str, float]:
    """The flow's stages for the next day, called as plain functions in the flow's order (no warehouse lock)."""
    from flows import stages
    from flows.alerts import raise_alerts

    started = time.perf_counter()
    ctx = stages.make_context(_settings(profile, Path(data_dir)), NEXT_DAY)
    stages.land_feedback(ctx)
    out = {
        "replicate": stages.replicate(ctx),
        "simulate": stages.simulate(ctx),
        "ingest": stages.ingest(ctx),
        "gate_raw": stages.gate(ctx, "raw"),
        "dbt": stages.build(ctx),
        "gate_marts": stages.gate(ctx, "pre_dispatch"),
        "train": stages.train(ctx),
        "score": stages.score(ctx),
        "alerts": raise_alerts(ctx),
        "decide": stages.decide(ctx),
        "dispatch": _dispatcher_pass(stages, ctx),
        "replicate_end": stages.replicate(ctx),
    }
    stages.summarise_run(ctx, out)
    stages.publish(ctx)
    return {"seconds": time.perf_counter() - started}


def flow_day(profile: str, data_dir: str) -> dict[str, float]:
    """The next day through the Prefect flow (ephemeral local API started first and timed apart)."""
    import os

    os.environ["COBRANZA_DATA_DIR"] = data_dir
    os.environ["COBRANZA_SIMULATOR__PROFILE"] = profile
    from prefect import flow

    from flows.daily import daily_collections

    @flow(name="warm-up")
    def warm_up() -> int:
        return 1

    started = time.perf_counter()
    warm_up()
    api_start = time.perf_counter() - started
    started = time.perf_counter()
    daily_collections(as_of=NEXT_DAY)
    return {"seconds": time.perf_counter() - started, "api_start_seconds": api_start}


def _in_fresh_process(fn: Any, *args: Any) -> dict[str, float]:
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def run(profile: str, data_dir: Path, repeat: int) -> dict[str, Any]:
    """Prepare once, then ``repeat`` rounds of (plain, flow) on fresh copies; the medians and the overhead."""
    base = data_dir / "base"
    if not (base / "warehouse.duckdb").exists():
        _in_fresh_process(prepare, profile, base)
    rounds: list[dict[str, Any]] = []
    for i in range(repeat):
        result: dict[str, Any] = {}
        order = ("plain", "flow") if i % 2 == 0 else ("flow", "plain")
        for kind in order:
            copy = data_dir / f"{kind}-{i}"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(base, copy)
            result[kind] = _in_fresh_process(plain_day if kind == "plain" else flow_day, profile, str(copy))
            shutil.rmtree(copy, ignore_errors=True)
        rounds.append(result)
    plain = statistics.median(r["plain"]["seconds"] for r in rounds)
    flow = statistics.median(r["flow"]["seconds"] for r in rounds)
    return {
        "profile": profile,
        "machine": machine(),
        "rounds": rounds,
        "plain_seconds": round(plain, 1),
        "flow_seconds": round(flow, 1),
        "api_start_seconds": round(statistics.median(r["flow"]["api_start_seconds"] for r in rounds), 1),
        "overhead_pct": round(100 * (flow - plain) / plain, 1),
    }


def main() -> None:
    """CLI entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="S")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.profile, args.data_dir, args.repeat)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(
            f"profile {result['profile']}: plain {result['plain_seconds']} s, flow {result['flow_seconds']} s "
            f"(+{result['overhead_pct']}%), Prefect API start {result['api_start_seconds']} s"
        )


if __name__ == "__main__":
    main()

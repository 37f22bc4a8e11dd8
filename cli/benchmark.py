"""Benchmark runner of ``cobranza bench``: the daily pipeline's stages at profile S, M or L, timed and memory-sampled.

Runs each stage's plain function (``flows.stages.ingest(ctx)``, ...) in a fresh work folder, so the figures
are the stages' own cost without Prefect's orchestration (``bench/prefect_overhead.py`` compares the
two). The first day is onboarding; the next business day runs in a fresh process, as the morning run
does. Peak memory is the process's resident set size sampled every 20 ms while the stage runs (psutil).

Usage: ``cobranza bench --profile M`` or ``python -m bench.harness M``. It lives with the CLI (DESIGN §11:
``cobranza bench`` is a public command) so the product never imports ``bench/``; the benchmark
scripts in ``bench/`` reuse its :class:`PeakRss` and :func:`machine`.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import psutil

from cobranza import runtime

runtime.apply_defaults()


class PeakRss:
    """Samples this process's RSS in a background thread and keeps the maximum."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self) -> PeakRss:
        self.peak = self._proc.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)


#: Where each measured stage is also appended as one JSON line as soon as it ends (a long L run
#: that is stopped, or fails, keeps the figures of the stages it finished): ``<work_dir>/bench-stages.jsonl``.
_PROGRESS: list[Path] = []


def _measure(name: str, fn: Callable[[], Any], rows: list[dict[str, Any]]) -> Any:
    start = time.perf_counter()
    with PeakRss() as mem:
        result = fn()
    rows.append({"stage": name, "seconds": round(time.perf_counter() - start, 2), "peak_rss_mib": mem.peak >> 20})
    for path in _PROGRESS:
        with path.open("a") as fh:
            fh.write(json.dumps(rows[-1]) + "\n")
    return result


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    """Where the figures were taken."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = "unknown"
    return {
        "cpus": psutil.cpu_count(logical=True),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": _cpu_model(),
        "python": platform.python_version(),
        "date": datetime.now(UTC).date().isoformat(),
        "commit": commit,
    }


#: The stages of the next business day's run, in order (what a scheduler triggers every morning).
NEXT_DAY_STAGES = (
    "replicate ops store",
    "simulate",
    "ingest (incremental)",
    "gx raw",
    "dbt build",
    "gx pre_dispatch",
    "score",
    "decide + outbox",
    "dispatch (dry run)",
    "replicate + publish read copy",
)
#: The stages that make up the daily increment of DESIGN §9 (ingest, GX, dbt, score, decide, dispatch):
#: not the simulator writing the sources, nor the read copy published for readers at the end.
INCREMENT_STAGES = frozenset(NEXT_DAY_STAGES) - {"simulate", "replicate + publish read copy"}
#: DuckDB memory limit for the first day only (onboarding), e.g. ``16GB``; unset: the settings' bound.
ONBOARDING_MEMORY_ENV = "COBRANZA_BENCH_ONBOARDING_MEMORY_LIMIT"
#: Onboarding: the first load of the history (DESIGN §8) through to the first champion.
ONBOARDING_STAGES = ("ingest (bulk history)", "gx raw", "dbt build", "train + register")


def _settings(profile: str, work_dir: Path) -> Any:
    from cobranza.settings import load_settings

    settings = load_settings(data_dir=Path(work_dir))
    settings.simulator.profile = profile
    return settings


def _dispatch(stages: Any, ctx: Any) -> dict[str, int]:
    """The daily flow's dispatcher pass: serving tables refreshed, then feedback, stale tasks, send (dry run)."""
    stages.refresh_serving(ctx)
    return stages.dispatch(ctx)


def _replicate_start(stages: Any, ctx: Any) -> dict[str, int]:
    """The daily flow's start: the webhook spool landed, the operational store replicated into the warehouse."""
    stages.land_feedback(ctx)
    return stages.replicate(ctx)


def _replicate_end(stages: Any, ctx: Any) -> dict[str, Any]:
    """The daily flow's end: replicate again, publish the read-only copy."""
    stages.replicate(ctx)
    return stages.publish(ctx)


def first_day(profile: str, work_dir: str, as_of: date) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, str]]:
    """Onboarding and the first day's run on a fresh ``work_dir``: (stage rows, train/decide results, DuckDB bounds)."""
    from connectors import warehouse
    from flows import stages

    settings = _settings(profile, Path(work_dir))
    if os.environ.get(ONBOARDING_MEMORY_ENV):
        # Onboarding is a one-off job an operator may give more memory than the daily run's bound.
        settings.warehouse.memory_limit = os.environ[ONBOARDING_MEMORY_ENV]
    ctx = stages.make_context(settings, as_of)
    _PROGRESS[:] = [Path(work_dir) / "bench-stages.jsonl"]
    rows: list[dict[str, Any]] = []
    out: dict[str, Any] = {}
    _measure("replicate ops store", lambda: _replicate_start(stages, ctx), rows)
    _measure("simulate", lambda: stages.simulate(ctx), rows)
    _measure("ingest (bulk history)", lambda: stages.ingest(ctx), rows)
    _measure("gx raw", lambda: stages.gate(ctx, "raw"), rows)
    _measure("dbt build", lambda: stages.build(ctx), rows)
    _measure("gx pre_dispatch", lambda: stages.gate(ctx, "pre_dispatch"), rows)
    out["train"] = _measure("train + register", lambda: stages.train(ctx, force=True), rows)
    _measure("score", lambda: stages.score(ctx), rows)
    out["decide"] = _measure("decide + outbox", lambda: stages.decide(ctx), rows)
    _measure("dispatch (dry run)", lambda: _dispatch(stages, ctx), rows)
    _measure("replicate + publish read copy", lambda: _replicate_end(stages, ctx), rows)
    return rows, out, {k: str(v) for k, v in warehouse.limits().items()}


def next_day(profile: str, work_dir: str, as_of: date) -> list[dict[str, Any]]:
    """Run the next business day's stages on ``work_dir`` (prepared by the first day) and time each one.

    :func:`run_bench` calls it in a fresh process, as a scheduler starts the morning run, so its
    peak memory is the increment's own and not what the first day's training left allocated.
    """
    from flows import stages

    ctx = stages.make_context(_settings(profile, Path(work_dir)), as_of)
    plan: dict[str, Callable[[], Any]] = {
        "replicate ops store": lambda: _replicate_start(stages, ctx),
        "simulate": lambda: stages.simulate(ctx),
        "ingest (incremental)": lambda: stages.ingest(ctx),
        "gx raw": lambda: stages.gate(ctx, "raw"),
        "dbt build": lambda: stages.build(ctx),
        "gx pre_dispatch": lambda: stages.gate(ctx, "pre_dispatch"),
        "score": lambda: stages.score(ctx),
        "decide + outbox": lambda: stages.decide(ctx),
        "dispatch (dry run)": lambda: _dispatch(stages, ctx),
        "replicate + publish read copy": lambda: _replicate_end(stages, ctx),
    }
    _PROGRESS[:] = [Path(work_dir) / "bench-stages.jsonl"]
    rows: list[dict[str, Any]] = []
    for name in NEXT_DAY_STAGES:
        _measure(f"next day: {name}", plan[name], rows)
    return rows


def run_bench(profile: str, as_of: date | None = None, work_dir: Path | None = None) -> dict[str, Any]:
    """Run the daily pipeline's stages at ``profile`` on the first day and the next, timed and memory-sampled.

    The first day is onboarding (the simulator's two years of history loaded in bulk, the full build,
    the first training, :func:`first_day`); the next day (:func:`next_day`) runs in a fresh process
    like the first. DuckDB is bounded
    by the settings ``warehouse.memory_limit/threads/temp_directory`` (``COBRANZA_WAREHOUSE__*``).

    Args:
        profile: Simulator profile S, M or L.
        as_of: Business date (default 2026-11-23, so runs are comparable).
        work_dir: Folder for the generated data (default: a temporary folder, removed afterwards).

    Returns:
        ``{"profile", "machine", "stages": [{"stage", "seconds", "peak_rss_mib"}], "total_seconds",
        "peak_rss_mib", "onboarding": {...}, "increment": {...}, "duckdb": {...}}``.
    """
    import multiprocessing

    tmp = None
    if work_dir is None:
        tmp = tempfile.mkdtemp(prefix=f"cobranza-bench-{profile}-")
        work_dir = Path(tmp)
    first_date = as_of or date(2026, 11, 23)
    rows: list[dict[str, Any]] = []
    try:
        # Each day in a fresh process: dbt-duckdb keeps its connection (and the file's lock) open for
        # the life of the process that ran dbt, and a morning run starts a new process anyway.
        spawn = multiprocessing.get_context("spawn")
        with spawn.Pool(1) as pool:
            day_rows, out, bounds = pool.apply(first_day, (profile, str(work_dir), first_date))
        rows.extend(day_rows)
        nxt = date.fromordinal(first_date.toordinal() + 1)
        with spawn.Pool(1) as pool:
            rows.extend(pool.apply(next_day, (profile, str(work_dir), nxt)))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    first = {r["stage"]: r for r in rows if not r["stage"].startswith("next day: ")}
    increment = [r for r in rows if r["stage"] in {f"next day: {name}" for name in INCREMENT_STAGES}]
    return {
        "profile": profile,
        "machine": machine(),
        "duckdb": bounds,
        "onboarding_memory_limit": os.environ.get(ONBOARDING_MEMORY_ENV),
        "stages": rows,
        "total_seconds": round(sum(r["seconds"] for r in rows), 1),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in rows),
        "onboarding": {
            "seconds": round(sum(first[s]["seconds"] for s in ONBOARDING_STAGES), 1),
            "peak_rss_mib": max(first[s]["peak_rss_mib"] for s in ONBOARDING_STAGES),
        },
        "increment": {
            "seconds": round(sum(r["seconds"] for r in increment), 1),
            "peak_rss_mib": max(r["peak_rss_mib"] for r in increment),
        },
        "model_roc_auc": (out.get("train") or {}).get("metrics", {}).get("roc_auc"),
        "actions": (out.get("decide") or {}).get("actions"),
    }


def render(result: dict[str, Any]) -> None:
    """Print a bench result as a table."""
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Cobranza bench - profile {result['profile']} - {result['machine']}")
    t.add_column("stage")
    t.add_column("seconds", justify="right")
    t.add_column("peak RSS MiB", justify="right")
    for r in result["stages"]:
        t.add_row(r["stage"], f"{r['seconds']:.2f}", str(r["peak_rss_mib"]))
    t.add_row("total", f"{result['total_seconds']:.1f}", str(result["peak_rss_mib"]))
    for part in ("onboarding", "increment"):
        if part in result:
            t.add_row(part, f"{result[part]['seconds']:.1f}", str(result[part]["peak_rss_mib"]))
    Console().print(t)

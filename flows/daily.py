"""The daily collections run: ingest -> dbt -> GX -> train/score -> decide -> dispatch -> summary.

One Prefect flow, one task per stage (``flows/stages.py``); runs without a Prefect server (an
in-process API starts for the run). A critical data-quality failure raises inside a gate task, so
nothing downstream of it, in particular no customer contact, happens on bad data.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from prefect import flow

from cobranza import runtime
from cobranza.settings import load_settings
from flows import progress, stages

runtime.apply_defaults()


def _dispatch(ctx: stages.RunContext) -> dict[str, int]:
    """Dispatch in three tasks: land channel feedback, cancel stale tasks, send (dry run by default)."""
    feedback = stages.land_channel_feedback(ctx)
    cancelled = stages.cancel_stale_tasks(ctx)
    return stages.merge_dispatch(feedback, cancelled, stages.send_outbox(ctx))


@flow(name="daily_collections", log_prints=False)
def daily_collections(
    as_of: date | None = None,
    profile: str | None = None,
    retrain: bool = False,
    now_utc: datetime | None = None,
) -> dict[str, Any]:
    """Run the whole daily pipeline and return its summary.

    Args:
        as_of: Business date (default: today, UTC).
        profile: Simulator profile override (S, M or L).
        retrain: Train a new model even if the champion is recent.
        now_utc: Decision clock override (default: now for today, 06:00 UTC for other dates).
    """
    settings = load_settings()
    if profile:
        settings.simulator.profile = profile
    ctx = stages.make_context(settings, as_of, now_utc)
    plan: list[tuple[str, str, Callable[[], Any]]] = [
        ("simulate", "simulate sources", lambda: stages.simulate_sources(ctx)),
        ("ingest", "ingest sources", lambda: stages.ingest_sources(ctx)),
        ("gate_raw", "quality gate: raw", lambda: stages.quality_gate(ctx, "raw")),
        ("dbt", "dbt build", lambda: stages.dbt_build(ctx)),
        ("gate_marts", "quality gate: pre_dispatch", lambda: stages.quality_gate(ctx, "pre_dispatch")),
        ("train", "train / keep champion", lambda: stages.train_model(ctx, force=retrain)),
        ("score", "score open invoices", lambda: stages.score_open_invoices(ctx)),
        ("decide", "decide next-best actions", lambda: stages.decide_actions(ctx)),
        ("dispatch", "dispatch", lambda: _dispatch(ctx)),
    ]
    if not settings.simulator.enabled:
        plan = plan[1:]
    out: dict[str, Any] = {}
    for done, (key, label, run_stage) in enumerate(plan):
        progress.announce(label, done, len(plan))
        out[key] = run_stage()
    progress.announce("summary", len(plan), len(plan))
    return stages.summarise(ctx, out)

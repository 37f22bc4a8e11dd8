"""The daily collections run: ingest -> dbt -> GX -> train/score -> decide -> dispatch -> summary.

One Prefect flow, one task per stage (``flows/stages.py``); runs without a Prefect server (an
in-process API starts for the run). A critical data-quality failure raises inside a gate task, so
nothing downstream of it, in particular no customer contact, happens on bad data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from prefect import flow

from cobranza import runtime
from cobranza.settings import load_settings
from flows import stages

runtime.apply_defaults()


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
    out: dict[str, Any] = {}
    if settings.simulator.enabled:
        out["simulate"] = stages.simulate_sources(ctx)
    out["ingest"] = stages.ingest_sources(ctx)
    out["gate_raw"] = stages.quality_gate(ctx, "raw")
    out["dbt"] = stages.dbt_build(ctx)
    out["gate_marts"] = stages.quality_gate(ctx, "pre_dispatch")
    out["train"] = stages.train_model(ctx, force=retrain)
    out["score"] = stages.score_open_invoices(ctx)
    out["decide"] = stages.decide_actions(ctx)
    out["dispatch"] = stages.dispatch_dry_run(ctx)
    return stages.summarise(ctx, out)

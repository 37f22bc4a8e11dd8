"""The daily collections run: ingest -> dbt -> GX -> train/score -> decide -> dispatch -> summary.

One Prefect flow, one task per stage (``flows/stages.py``); runs without a Prefect server (an
in-process API starts for the run). A critical data-quality failure raises inside a gate task, so
nothing downstream of it, in particular no customer contact, happens on bad data.

It writes the warehouse, so it holds the warehouse lock for the whole run (a bank sync started
meanwhile waits for it; ``flows/service.py``). It starts by landing the webhook spool and replicating
the operational store's outbox, events and interactions into the warehouse (so dbt and the decision
see today's replies and sends), enqueues its decisions into the operational store, refreshes the
serving tables the dispatcher's re-check reads, runs one dispatcher pass, replicates again and ends
by publishing the read-only copy that readers open.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from prefect import flow

from cobranza import runtime
from cobranza.settings import load_settings
from flows import progress, stages
from flows.alerts import raise_day_alerts

runtime.apply_defaults()


def _dispatch(ctx: stages.RunContext) -> dict[str, int]:
    """One dispatcher pass in three tasks: land channel feedback, cancel stale tasks, send (dry run by default)."""
    started = datetime.now(UTC)
    stages.refresh_serving_tables(ctx)  # the invoices today's tasks name, as this run computed them
    feedback = stages.land_channel_feedback(ctx)
    cancelled = stages.cancel_stale_tasks(ctx)
    total = stages.merge_dispatch(feedback, cancelled, stages.send_outbox(ctx))
    stages.record_pass(ctx, "dispatcher", started, total)
    return total


def _land_and_replicate(ctx: stages.RunContext) -> dict[str, int]:
    """Land the webhook spool in the operational store, then copy its new rows into the warehouse."""
    stages.land_channel_feedback(ctx)
    return stages.replicate_ops(ctx)


@flow(name="daily_collections", log_prints=False)
def daily_collections(
    as_of: date | None = None,
    profile: str | None = None,
    retrain: bool = False,
    now_utc: datetime | None = None,
    full_refresh: bool = False,
) -> dict[str, Any]:
    """Run the whole daily pipeline and return its summary.

    Args:
        as_of: Business date (default: today, UTC).
        profile: Simulator profile override (S, M or L).
        retrain: Train a new model even if the champion is recent.
        now_utc: Decision clock override (default: now for today, 06:00 UTC for other dates).
        full_refresh: Re-validate whole raw tables and rebuild the incremental dbt models from the
            whole history (weekly, or after a fix to past data), instead of the day's increment.
    """
    settings = load_settings()
    if profile:
        settings.simulator.profile = profile
    ctx = stages.make_context(settings, as_of, now_utc)
    with stages.warehouse_lock(settings, "daily_collections"):
        return _run(ctx, retrain, full_refresh)


def plan_of_day(
    ctx: stages.RunContext, retrain: bool = False, full_refresh: bool = False
) -> list[tuple[str, str, Callable[[], Any]]]:
    """The stages of the day, in order: (key, label, stage).

    Without the simulator its stage is left out; on a company holiday with
    ``company.on_holiday=dispatch_only`` only the operational side runs (replicate, dispatch,
    replicate again): nothing is ingested, built or decided.
    """
    plan: list[tuple[str, str, Callable[[], Any]]] = [
        ("simulate", "simulate sources", lambda: stages.simulate_sources(ctx)),
        ("replicate", "replicate the operational store", lambda: _land_and_replicate(ctx)),
        ("ingest", "ingest sources", lambda: stages.ingest_sources(ctx)),
        ("gate_raw", "quality gate: raw", lambda: stages.quality_gate(ctx, "raw", full_refresh=full_refresh)),
        ("dbt", "dbt build", lambda: stages.dbt_build(ctx, full_refresh=full_refresh)),
        ("gate_marts", "quality gate: pre_dispatch", lambda: stages.quality_gate(ctx, "pre_dispatch")),
        ("train", "train / keep champion", lambda: stages.train_model(ctx, force=retrain)),
        ("score", "score open invoices", lambda: stages.score_open_invoices(ctx)),
        ("alerts", "raise early-warning alerts", lambda: raise_day_alerts(ctx)),
        ("decide", "decide next-best actions", lambda: stages.decide_actions(ctx)),
        ("dispatch", "dispatch", lambda: _dispatch(ctx)),
        ("replicate_end", "replicate the operational store again", lambda: stages.replicate_ops(ctx)),
    ]
    if not ctx.settings.simulator.enabled:
        plan = [p for p in plan if p[0] != "simulate"]
    if not ctx.refreshes_data:
        plan = [p for p in plan if p[0] in ("replicate", "dispatch", "replicate_end")]
    return plan


def _run(ctx: stages.RunContext, retrain: bool, full_refresh: bool = False) -> dict[str, Any]:
    """The stages, in order, under the warehouse lock."""
    plan = plan_of_day(ctx, retrain, full_refresh)
    out: dict[str, Any] = {}
    for done, (key, label, run_stage) in enumerate(plan):
        progress.announce(label, done, len(plan))
        out[key] = run_stage()
    progress.announce("summary", len(plan), len(plan))
    summary = stages.summarise(ctx, out)
    summary["published"] = stages.publish_read_copy(ctx)
    return summary

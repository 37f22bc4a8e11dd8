"""Prefect tasks: one per stage of the collections pipeline, shared by the deployable flows.

Each stage is a plain function of the run context (``ingest(ctx)``, ``decide(ctx)``, ...) that
hands the settings to one library call with explicit arguments; the ``@task`` is a one-line wrapper
of it (``ingest_sources = task(name="ingest-sources")(ingest)``). The CLI and the benchmarks call
the plain functions, never a task's ``.fn``. Tasks pass references (paths, table names, counts)
rather than DataFrames, open their own short-lived warehouse connection (DuckDB allows one writing
process per file), and hold no SQL and no business rule: tables belong to their owners
(``ml.score``, ``ml.nba.decision_log``, ``connectors.channels.outbox``), rules to dbt models, GX
suites and ``ml.nba``. Only idempotent stages retry.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from prefect import task

# make_context, merge_dispatch and unsubscribe_secret are re-exported: the flows, the CLI and tests use stages.*
from flows.context import RunContext, make_context, run_logger  # noqa: F401
from flows.dispatch import cancel_stale, dispatch, land_feedback, merge_dispatch, send, unsubscribe_secret  # noqa: F401
from flows.service import publish, record_pass, refresh_serving, replicate, warehouse_lock  # noqa: F401
from flows.summary import summarise_run


def simulate(ctx: RunContext) -> dict[str, int]:
    """Write the simulator's extracts for the run date into the landing folder.

    The first run gets the bulk exports of the history; each later day only that day's increment
    (``simulator.writers.simulate_day``), as real sources deliver it.
    """
    from simulator.writers import simulate_day

    sim = ctx.settings.simulator
    manifest = simulate_day(
        ctx.landing_dir,
        profile=sim.profile,
        seed=sim.seed,
        as_of=ctx.as_of,
        start_date=sim.start_date,
        n_customers=sim.n_customers,
    )
    run_logger().info("simulator profile %s wrote %s", sim.profile, manifest.row_counts)
    return dict(manifest.row_counts)


def ingest(ctx: RunContext, streams: list[str] | None = None) -> list[dict[str, Any]]:
    """Land the configured file drops, APIs and bank statement files into the raw tables.

    ``connectors.ingest.ingest`` does the work: an unreadable file is set aside whole and named (a
    WARNING) while every other file proceeds; a required stream left empty
    (``sources.required_streams``) or a stale one (``sources.max_source_age_days``) stops the run.
    Returns the landed batches, the set-aside files (status ``quarantined``) and the warnings of
    batches that still landed (status ``warning``, e.g. a statement whose balances do not add up).
    """
    from connectors import warehouse
    from connectors.ingest import ingest as ingest_sources_into
    from flows.sources import configured_sources

    cfg = ctx.settings.sources
    # The run's clock for "a value from the future": now, or the end of the business day the
    # simulator's extracts were taken at (it writes the whole of as_of).
    clock = max(datetime.now(UTC), ctx.now_utc)
    if ctx.settings.simulator.enabled:
        clock = max(clock, datetime.combine(ctx.as_of + timedelta(days=1), time(0), tzinfo=UTC))
    sources = configured_sources(ctx.settings, ctx.landing_dir, streams)
    with warehouse.connect(ctx.warehouse) as con:
        result = ingest_sources_into(
            con,
            sources,
            as_of=ctx.as_of,
            clock=clock,
            max_future_skew=timedelta(minutes=cfg.max_future_skew_minutes),
            required_streams=cfg.required_streams,
            max_source_age_days=cfg.max_source_age_days,
            streams=streams,
        )
    log = run_logger()
    for r in result.landed:
        if r.status == "loaded":
            log.info("%s <- %s: new=%s quarantined=%s", r.stream, r.origin, r.rows_new, r.rows_quarantined)
    for x in result.refused:
        log.warning("set aside, the run goes on without it: %s", x["error"])
    for w in result.warnings:
        log.warning("%s <- %s: %s", w["stream"], w["origin"], w["warning"])
    result.raise_if_systemic()
    return result.as_records()


def gate(ctx: RunContext, checkpoint: str, full_refresh: bool = False) -> dict[str, Any]:
    """Run a GX checkpoint; a critical failure raises and stops the run before any contact.

    The raw checkpoint validates the rows landed since its last pass (``incremental``, issue 19);
    ``full_refresh`` re-validates whole tables.
    """
    from connectors import warehouse
    from expectations import run_checkpoint

    with warehouse.connect(ctx.warehouse) as con:
        result = run_checkpoint(
            checkpoint,
            con,
            gx_root=ctx.settings.resolve(ctx.settings.quality.gx_root),
            as_of=ctx.as_of,
            build_docs=True,
            incremental=checkpoint == "raw" and not full_refresh,
        )
    log = run_logger()
    for w in result.warnings:
        log.warning("GX %s warning: %s", checkpoint, w)
    result.raise_if_failed()
    return {
        "checkpoint": checkpoint,
        "success": result.success,
        "warnings": len(result.warnings),
        "data_docs": result.docs_url,
    }


def build(ctx: RunContext, models: str | None = None, full_refresh: bool = False) -> dict[str, int]:
    """``dbt build`` the warehouse (models and their data tests) as of the run date; ``models``: a dbt selector.

    ``full_refresh`` rebuilds incremental models from the whole history (``dbt build --full-refresh``).
    dbt unit tests are left out (``--exclude-resource-type unit_test``): they test the models' logic
    on fixed inputs, not the day's data, and run in the test suite (``tests/dbt/test_unit_tests.py``).
    """
    from flows.dbt_runner import run_dbt

    command = [
        "build",
        *(["--select", models] if models else []),
        "--exclude-resource-type",
        "unit_test",
        *(["--full-refresh"] if full_refresh else []),
    ]
    counts = run_dbt(
        command,
        duckdb_path=ctx.warehouse,
        work_dir=ctx.dbt_dir,
        as_of=ctx.as_of,
        late_days=ctx.settings.model.late_days,
    )
    run_logger().info("dbt build %s: %s", models or "all", counts)
    return counts


def train(ctx: RunContext, force: bool = False, features_from: Path | None = None) -> dict[str, Any]:
    """Train, evaluate and register the delinquency model when due (``ml.registry.retrain_reason``).

    ``features_from``: a published read copy to read the features from (the weekly retrain), opened
    read-only; default the warehouse (the daily run, which holds it).
    """
    from connectors import published, warehouse

    def reading() -> Any:
        return published.connect(features_from) if features_from else warehouse.connect(ctx.warehouse)

    from ml import registry
    from ml.score import drifted_features
    from ml.train import train_and_register

    uri = ctx.settings.tracking_uri
    cfg = ctx.settings.model
    why = "forced"
    if not force:
        version = registry.champion_version(uri)
        snapshot = registry.champion_snapshot_date(uri)
        with reading() as con:
            drifted = drifted_features(con, version) if version else []
        why = registry.retrain_reason(
            champion_version=version,
            champion_snapshot=snapshot,
            drifted=drifted,
            as_of=ctx.as_of,
            retrain_after_days=cfg.retrain_after_days,
        )
        if why is None:
            run_logger().info("champion v%s trained on %s data is recent: not retraining", version, snapshot)
            return {"trained": False, "champion_version": version, "reason": f"champion trained on {snapshot}"}
        run_logger().info("retraining: %s", why)
    with reading() as con:
        features = warehouse.read_frame(con, "marts.ml_invoice_features", order_by="invoice_id")
    result = train_and_register(
        features,
        tracking_uri=uri,
        artifact_location=str(ctx.settings.resolve(cfg.artifact_location)),
        seed=ctx.settings.simulator.seed,
        test_days=cfg.test_days,
        data_snapshot_date=ctx.as_of,
        tags={"simulator_seed": str(ctx.settings.simulator.seed), "retrain_reason": why}
        if ctx.settings.simulator.enabled
        else {"retrain_reason": why},
        late_days=cfg.late_days,
        dask_scheduler=cfg.dask_scheduler,
    )
    run_logger().info("trained v%s: %s", result.model_version, result.reason)
    return {
        "trained": True,
        "retrain_reason": why,
        "model_version": result.model_version,
        "champion_version": result.champion_version,
        "promoted": result.promoted,
        "reason": result.reason,
        "metrics": result.metrics,
        "timings": result.timings,
    }


def score(ctx: RunContext) -> dict[str, Any]:
    """Score every open invoice with ``@champion``; write scores, explanations, customer risk and drift.

    All four tables (``ml.score.TABLES``) are partitioned by the run date and carry the model
    version. Drift compares the invoices issued in the last ``model.drift_window_days`` with the
    champion's training reference; past the PSI threshold it is logged, reported in the summary and
    makes the next run retrain.
    """
    from connectors import warehouse
    from ml.score import SCORES_TABLE, score_with_champion

    cfg = ctx.settings.model
    since = (ctx.as_of - timedelta(days=cfg.drift_window_days)).isoformat()
    with warehouse.connect(ctx.warehouse) as con:
        features = warehouse.read_frame(con, "marts.ml_open_invoice_features", order_by="invoice_id")
        amounts = warehouse.read_frame(con, "marts.fct_invoices", "status = 'posted' and amount_open > 0")
        recent = warehouse.read_frame(con, "marts.ml_invoice_features", f"snapshot_date > '{since}'", "invoice_id")
        scored = score_with_champion(
            features,
            amounts,
            recent,
            tracking_uri=ctx.settings.tracking_uri,
            drift_threshold=cfg.drift_psi_threshold,
            top_k=cfg.explain_top_k,
        )
        written = {
            table: warehouse.replace_partition(con, table, frame, ddl, {"as_of_date": ctx.as_of})
            for table, (frame, ddl) in scored.tables(ctx.as_of, ctx.now_utc).items()
        }
    drift = scored.drift_summary()
    if drift.get("retrain_flag"):
        run_logger().warning(
            "drift past PSI %.2f for %s: the next run retrains", cfg.drift_psi_threshold, drift["drifted"]
        )
    n = written[SCORES_TABLE]
    return {
        "scored": n,
        "model_version": scored.model_version if n else None,
        "customers": len(scored.customer_risk),
        "explanations": len(scored.explanations),
        "drift": drift,
    }


def decide(ctx: RunContext) -> dict[str, Any]:
    """Pick the one lawful, most valuable action per account with a dunnable overdue balance.

    ``ml.nba.daily.decide_day`` decides (a business day is decided once: a re-run keeps the day's
    decisions); new decisions go to the outbox in the operational store
    (``connectors.channels.outbox.enqueue``; the warehouse gets them through the replica) and the
    decision log (``ml.nba.decision_log.store``). On a company holiday whose policy is not ``run``
    (``company.on_holiday``) nothing new is decided and the result says why.
    """
    if not ctx.decides:
        why = f"company holiday {ctx.holiday} ({ctx.as_of}, {ctx.settings.company.country}): on_holiday={ctx.day_plan}"
        run_logger().info("no new decisions: %s", why)
        return {"actions": {}, "new_outbox_tasks": 0, "skipped": why}
    from connectors import ops_store, warehouse
    from connectors.channels import outbox
    from flows.service import ops_connection
    from ml.agent import plan_tracking
    from ml.inbound import portal_events
    from ml.nba import daily, decision_log
    from ml.nba.frames import summary
    from ml.score import EXPLANATIONS_TABLE, SCORES_TABLE
    from portal.links import portal_config, with_portal_links

    with warehouse.connect(ctx.warehouse) as con:
        config = daily.config_for_day(con, ctx.settings.nba.model_dump(), ctx.as_of)
        with ops_connection(ctx.settings, "decide") as ops:  # the outbox lives in the operational store
            recent = outbox.recent_contacts(
                ops, ctx.now_utc - timedelta(days=config.recent_contact_days), exclude_decision_date=ctx.as_of
            )
            # Disputes a person resolved in the CRM: the pre-send re-check (no CRM data there) lifts them too.
            portal_events.record_dispute_lifts(ops, portal_events.resolved_disputes(con))
        day = daily.decide_day(
            con,
            as_of=ctx.as_of,
            now_utc=ctx.now_utc,
            config=config,
            recent_contacts=recent,
            scores_table=SCORES_TABLE,
            explanations_table=EXPLANATIONS_TABLE,
        )
        if not day.already_decided:
            # A broken payment plan says so in the decision (the engine resumes dunning on the missed
            # instalment, a broken promise): ml.agent.plan_tracking, plans and payments from the warehouse.
            tracked = plan_tracking.track_all(con, con, ctx.as_of, config.promise_grace_days)
            codes = plan_tracking.broken_plan_codes(tracked)
            day = replace(day, decisions=plan_tracking.mark_broken_plans(day.decisions, codes))
            with ops_connection(ctx.settings, "decide") as ops:
                # Every customer-facing message carries the customer's signed portal link (when a portal is
                # configured); the decision log keeps the decisions without it (a link is a credential).
                linked = with_portal_links(day.decisions, portal_config(ctx.settings), ctx.now_utc)
                new_tasks = outbox.enqueue(ops, linked, ctx.as_of)
                # In the same hold: a dispatcher pass must never see today's tasks without their invoices.
                ops_store.refresh_serving(ops, con)
            decision_log.store(con, day.decisions, ctx.as_of)
    out = summary(day.decisions)
    if day.already_decided:
        out.update(new_outbox_tasks=0, arms=day.decisions["arm"].value_counts().to_dict(), already_decided=True)
        run_logger().info("decisions for %s were already made; kept: %s", ctx.as_of, out)
        return out
    out["new_outbox_tasks"] = new_tasks
    out["arms"] = day.decisions["arm"].value_counts().to_dict()
    run_logger().info("decisions: %s", out)
    return out


simulate_sources = task(name="simulate-sources", retries=1, retry_delay_seconds=2)(simulate)
ingest_sources = task(name="ingest-sources")(ingest)
quality_gate = task(name="quality-gate")(gate)
dbt_build = task(name="dbt-build")(build)
train_model = task(name="train-model")(train)
score_open_invoices = task(name="score-open-invoices", retries=1, retry_delay_seconds=2)(score)
decide_actions = task(name="decide-next-best-action")(decide)
land_channel_feedback = task(name="land-channel-feedback")(land_feedback)
cancel_stale_tasks = task(name="cancel-stale-tasks")(cancel_stale)
send_outbox = task(name="send-outbox")(send)
#: The whole dispatch as one task (the CLI's ``cobranza dispatch`` calls :func:`dispatch` itself).
dispatch_outbox = task(name="dispatch")(dispatch)
summarise = task(name="summarise")(summarise_run)
replicate_ops = task(name="replicate-ops-store")(replicate)
refresh_serving_tables = task(name="refresh-serving-tables")(refresh_serving)
publish_read_copy = task(name="publish-read-copy")(publish)

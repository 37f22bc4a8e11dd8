"""Prefect tasks: one per stage of the collections pipeline, shared by the deployable flows.

Each task is one logical step or one side effect. Tasks pass references (paths, table names,
counts) rather than DataFrames, open their own short-lived warehouse connection (DuckDB allows one
writing process per file), and hold no business rules: those live in dbt models, GX suites and
``ml.nba``. Only idempotent stages retry.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from cobranza.settings import Settings

RAW_SCHEMAS = ["raw_erp", "raw_crm", "raw_bank"]
SCORES_TABLE = "ml_scores.invoice_scores"
DECISIONS_TABLE = "decisions.nba_decisions"


def _log() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except Exception:  # called outside a flow run (task.fn in tests, bench)
        return logging.getLogger("cobranza.flows")


@dataclass(frozen=True)
class RunContext:
    """What every stage needs to know about this run."""

    settings: Settings
    as_of: date
    now_utc: datetime

    @property
    def warehouse(self) -> Path:
        """The DuckDB file."""
        return self.settings.duckdb_path

    @property
    def landing_dir(self) -> Path:
        """Folder of the source extracts."""
        return self.settings.resolve(self.settings.sources.landing_dir)

    @property
    def dbt_dir(self) -> Path:
        """dbt target and logs for this data directory."""
        return self.settings.data_dir / "dbt"


def make_context(settings: Settings, as_of: date | None, now_utc: datetime | None = None) -> RunContext:
    """Fix the business date and the decision clock of a run.

    A run for today decides at the current time; a run for another date (back-fill, tests) decides
    as if it ran at 06:00 UTC that day, so its schedule is reproducible.
    """
    today = datetime.now(UTC).date()
    as_of = as_of or today
    if now_utc is None:
        now_utc = datetime.now(UTC) if as_of == today else datetime.combine(as_of, time(6, 0), tzinfo=UTC)
    return RunContext(settings=settings, as_of=as_of, now_utc=now_utc)


@task(name="simulate-sources", retries=1, retry_delay_seconds=2)
def simulate_sources(ctx: RunContext) -> dict[str, int]:
    """Write the simulator's extracts for the run date into the landing folder."""
    from simulator import simulate

    sim = ctx.settings.simulator
    manifest = simulate(ctx.landing_dir, profile=sim.profile, seed=sim.seed, as_of=ctx.as_of, start_date=sim.start_date)
    _log().info("simulator profile %s wrote %s", sim.profile, manifest.row_counts)
    return dict(manifest.row_counts)


@task(name="ingest-sources")
def ingest_sources(ctx: RunContext, streams: list[str] | None = None) -> list[dict[str, Any]]:
    """Land the configured file drops and the bank statement files into the raw tables.

    Every readable file lands (files already loaded are skipped by content hash); an unreadable
    one is quarantined whole, and then this task raises so that no customer is contacted while a
    source is incomplete.
    """
    from connectors import warehouse
    from connectors.base import sync
    from connectors.load import SourceDataError
    from flows.sources import configured_sources

    sources = configured_sources(ctx.settings, ctx.landing_dir, streams)
    landed, refused = [], []
    with warehouse.connect(ctx.warehouse) as con:
        for source in sources:
            result = sync(con, source, streams=streams)
            landed += result.landed
            refused += result.refused
    log = _log()
    for r in landed:
        if r.status == "loaded":
            log.info("%s <- %s: new=%s quarantined=%s", r.stream, r.origin, r.rows_new, r.rows_quarantined)
    if refused:
        errors = "; ".join(x["error"] for x in refused)
        raise SourceDataError(f"{len(refused)} source file(s) refused and quarantined: {errors}")
    return [r.as_dict() for r in landed]


@task(name="quality-gate")
def quality_gate(ctx: RunContext, checkpoint: str) -> dict[str, Any]:
    """Run a GX checkpoint; a critical failure raises and stops the run before any contact."""
    from connectors import warehouse
    from expectations import run_checkpoint

    with warehouse.connect(ctx.warehouse) as con:
        result = run_checkpoint(
            checkpoint,
            con,
            gx_root=ctx.settings.resolve(ctx.settings.quality.gx_root),
            as_of=ctx.as_of,
            build_docs=True,
        )
    log = _log()
    for w in result.warnings:
        log.warning("GX %s warning: %s", checkpoint, w)
    result.raise_if_failed()
    return {
        "checkpoint": checkpoint,
        "success": result.success,
        "warnings": len(result.warnings),
        "data_docs": result.docs_url,
    }


@task(name="dbt-build")
def dbt_build(ctx: RunContext, select: str | None = None) -> dict[str, int]:
    """``dbt build`` the warehouse (models and their tests) as of the run date."""
    from flows.dbt import run_dbt

    command = ["build"] + (["--select", select] if select else [])
    counts = run_dbt(
        command,
        duckdb_path=ctx.warehouse,
        work_dir=ctx.dbt_dir,
        as_of=ctx.as_of,
        late_days=ctx.settings.model.late_days,
    )
    _log().info("dbt build %s: %s", select or "all", counts)
    return counts


@task(name="train-model")
def train_model(ctx: RunContext, force: bool = False) -> dict[str, Any]:
    """Train, evaluate and register the delinquency model when due (weekly, or no champion yet)."""
    from connectors import warehouse
    from ml import registry
    from ml.train import train_and_register

    uri = ctx.settings.tracking_uri
    cfg = ctx.settings.model
    if not force:
        snapshot = registry.champion_snapshot_date(uri)
        if snapshot is not None and (ctx.as_of - snapshot).days < cfg.retrain_after_days:
            version = registry.champion_version(uri)
            _log().info("champion v%s trained on %s data is recent: not retraining", version, snapshot)
            return {"trained": False, "champion_version": version, "reason": f"champion trained on {snapshot}"}
    with warehouse.connect(ctx.warehouse) as con:
        features = warehouse.read_frame(con, "marts.ml_invoice_features", order_by="invoice_id")
    result = train_and_register(
        features,
        tracking_uri=uri,
        artifact_location=str(ctx.settings.resolve(cfg.artifact_location)),
        seed=ctx.settings.simulator.seed,
        test_days=cfg.test_days,
        data_snapshot_date=ctx.as_of,
        tags={"simulator_seed": str(ctx.settings.simulator.seed)} if ctx.settings.simulator.enabled else None,
    )
    _log().info("trained v%s: %s", result.model_version, result.reason)
    return {
        "trained": True,
        "model_version": result.model_version,
        "champion_version": result.champion_version,
        "promoted": result.promoted,
        "reason": result.reason,
        "metrics": result.metrics,
    }


@task(name="score-open-invoices", retries=1, retry_delay_seconds=2)
def score_open_invoices(ctx: RunContext) -> dict[str, Any]:
    """Score every open invoice with ``@champion`` and write the scores for the run date."""
    from connectors import warehouse
    from ml.score import score_invoices

    with warehouse.connect(ctx.warehouse) as con:
        features = warehouse.read_frame(con, "marts.ml_open_invoice_features", order_by="invoice_id")
        scores = score_invoices(features, tracking_uri=ctx.settings.tracking_uri)
        scores = scores.assign(as_of_date=ctx.as_of, scored_at=ctx.now_utc.replace(tzinfo=None))
        n = warehouse.replace_partition(
            con,
            SCORES_TABLE,
            scores[["as_of_date", "invoice_id", "customer_id", "risk_score", "model_version", "scored_at"]],
            "as_of_date date, invoice_id varchar, customer_id varchar, risk_score double, "
            "model_version varchar, scored_at timestamp",
            {"as_of_date": ctx.as_of},
        )
    version = scores["model_version"].iloc[0] if n else None
    return {"scored": n, "model_version": version}


@task(name="decide-next-best-action")
def decide_actions(ctx: RunContext) -> dict[str, Any]:
    """Pick at most one lawful action per account with a dunnable overdue balance."""
    from connectors import warehouse
    from connectors.channels import outbox
    from ml.nba.inputs import accounts_for_decision, rules_from
    from ml.nba.policy import decide, summary

    nba = ctx.settings.nba
    rules = rules_from(
        start_hour=nba.window_start_hour,
        end_hour=nba.window_end_hour,
        min_spacing_hours=nba.min_spacing_hours,
        respect_holidays=nba.respect_holidays,
    )
    with warehouse.connect(ctx.warehouse) as con:
        mart = warehouse.read_frame(con, "marts.mart_dunning_accounts", order_by="customer_id")
        scores = warehouse.read_frame(con, SCORES_TABLE, f"as_of_date = '{ctx.as_of.isoformat()}'")
        contacts = warehouse.read_frame(con, "marts.dim_contacts", order_by="contact_id")
        recent = outbox.recent_contacts(con, ctx.now_utc - timedelta(days=14), exclude_decision_date=ctx.as_of)
        accounts = accounts_for_decision(mart, scores)
        decisions = decide(accounts, contacts, recent, as_of=ctx.as_of, now_utc=ctx.now_utc, rules=rules)
        new_tasks = outbox.enqueue(con, decisions, ctx.as_of)
        _store_decisions(con, decisions, ctx)
    out = summary(decisions)
    out["new_outbox_tasks"] = new_tasks
    _log().info("decisions: %s", out)
    return out


def _jsonable(value: Any) -> Any:
    """Decimal and dates as strings, NaN/None as null, numbers as they are."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _store_decisions(con, decisions, ctx: RunContext) -> None:
    from connectors import warehouse

    frame = decisions.assign(
        as_of_date=ctx.as_of,
        invoice_ids=decisions["invoice_ids"].map(json.dumps),
        reason_codes=decisions["reason_codes"].map(json.dumps),
        amount_at_stake=decisions["amount_at_stake"].astype(str),
    )[
        [
            "as_of_date",
            "customer_id",
            "contact_id",
            "action",
            "channel",
            "scheduled_at",
            "amount_at_stake",
            "invoice_ids",
            "reason_codes",
        ]
    ]
    frame["scheduled_at"] = frame["scheduled_at"].map(lambda t: None if t is None or t != t else t)
    warehouse.replace_partition(
        con,
        DECISIONS_TABLE,
        frame,
        "as_of_date date, customer_id varchar, contact_id varchar, action varchar, channel varchar, "
        "scheduled_at timestamptz, amount_at_stake decimal(18,2), invoice_ids json, reason_codes json",
        {"as_of_date": ctx.as_of},
    )


@task(name="dispatch-dry-run")
def dispatch_dry_run(ctx: RunContext) -> dict[str, int]:
    """Render pending outbox tasks to the dry-run channel file; each task is written once."""
    from connectors import warehouse
    from connectors.channels.dry_run.sender import DryRunSender
    from connectors.channels.outbox import dispatch

    sender = DryRunSender(ctx.settings.resolve(ctx.settings.channels.outbox_dir))
    with warehouse.connect(ctx.warehouse) as con:
        counts = dispatch(con, sender, ctx.now_utc, due_only=False)
    _log().info("dispatch: %s", counts)
    return counts


@task(name="summarise")
def summarise(ctx: RunContext, stages: dict[str, Any]) -> dict[str, Any]:
    """Rows per layer, model quality, actions by channel and where to look next."""
    from connectors import warehouse
    from ml import registry

    with warehouse.connect(ctx.warehouse) as con:
        counts = warehouse.row_counts(
            con, [*RAW_SCHEMAS, "staging", "intermediate", "marts", "quarantine", "outbox", "ml_scores"]
        )
        kpis = warehouse.read_frame(
            con, "marts.mart_collections_kpis", "segment = 'all' and country = 'all'", order_by="currency"
        ).to_dict("records")
    layers = {schema: sum(tables.values()) for schema, tables in counts.items()}
    champion = registry.champion_info(ctx.settings.tracking_uri)
    s = ctx.settings
    return {
        "as_of": ctx.as_of.isoformat(),
        "rows_per_layer": layers,
        "rows_per_table": counts,
        "model": champion,
        "training": stages.get("train"),
        "actions_by_channel": stages.get("decide", {}).get("actions", {}),
        "decisions": stages.get("decide", {}),
        "dispatch": stages.get("dispatch", {}),
        "kpis": [{k: _jsonable(v) for k, v in r.items()} for r in kpis],
        "where_next": {
            "warehouse": str(ctx.warehouse),
            "mlflow_ui": f"mlflow ui --backend-store-uri {ctx.settings.tracking_uri} --workers 1",
            "prefect_ui": "prefect server start  (then: prefect deploy --all)",
            "dbt_docs": "make docs  (dbt docs generate + serve on the warehouse)",
            "dry_run_messages": str(s.resolve(s.channels.outbox_dir)),
            "gx_data_docs": (stages.get("gate_marts") or {}).get("data_docs") or "",
        },
    }

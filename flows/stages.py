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
from decimal import Decimal
from pathlib import Path
from typing import Any

from prefect import task
from prefect.logging import get_run_logger

from cobranza.settings import Settings

RAW_SCHEMAS = ["raw_erp", "raw_crm", "raw_bank"]
SCORES_TABLE = "ml_scores.invoice_scores"
EXPLANATIONS_TABLE = "ml_scores.invoice_explanations"
CUSTOMER_RISK_TABLE = "ml_scores.customer_risk"
DRIFT_TABLE = "ml_scores.score_drift"
DECISIONS_TABLE = "decisions.nba_decisions"
#: Columns of the score and decision tables this flow writes (the dbt project reads them as sources,
#: models/staging/ops/_ops__sources.yml; flows.dbt.ensure_operational_tables creates them empty).
OPERATIONAL_TABLES = {
    EXPLANATIONS_TABLE: (
        "as_of_date date, invoice_id varchar, rank integer, feature varchar, contribution double, "
        "feature_value double, model_version varchar, scored_at timestamp"
    ),
    CUSTOMER_RISK_TABLE: (
        "as_of_date date, customer_id varchar, currency varchar, n_open_invoices integer, "
        "amount_open decimal(18,2), max_risk double, amount_weighted_risk double, "
        "expected_late_amount decimal(18,2), model_version varchar, scored_at timestamp"
    ),
    DRIFT_TABLE: (
        "as_of_date date, feature varchar, psi double, n_reference_bins integer, n_current integer, "
        "is_drifted boolean, is_exempt boolean, model_version varchar, scored_at timestamp"
    ),
    SCORES_TABLE: (
        "as_of_date date, invoice_id varchar, customer_id varchar, risk_score double, "
        "model_version varchar, scored_at timestamp"
    ),
    DECISIONS_TABLE: (
        "as_of_date date, customer_id varchar, contact_id varchar, action varchar, channel varchar, "
        "scheduled_at timestamptz, amount_at_stake decimal(18,2), invoice_ids json, reason_codes json, "
        "arm varchar, intent varchar, segment varchar, currency varchar, risk_score double, p_pay double, "
        "expected_value_usd double, value_over_wait_usd double, rule_profile varchar"
    ),
}
#: Columns the value-based policy added to the decision log (issue 6).
DECISION_COLUMNS_V2 = {
    "arm": "varchar",
    "intent": "varchar",
    "segment": "varchar",
    "currency": "varchar",
    "risk_score": "double",
    "p_pay": "double",
    "expected_value_usd": "double",
    "value_over_wait_usd": "double",
    "rule_profile": "varchar",
}


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
    from cobranza import logmask

    logmask.install()  # phone numbers and e-mail addresses never reach a log line of a run
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
    """Land the configured file drops, APIs and bank statement files into the raw tables.

    Every readable file lands (files already loaded are skipped by content hash). An unreadable
    one is set aside whole (``quarantine.raw_files``, a WARNING naming it and the reason) and every
    other file and source proceeds (DESIGN.md §5); the set-aside files are returned with status
    ``quarantined`` for the run summary. Only a systemic failure stops the run here: a required
    stream (``sources.required_streams``) with no rows at all, so nobody is contacted from a
    warehouse that lacks its customers, invoices or contacts, or a stale one (its newest
    ``updated_at`` more than ``sources.max_source_age_days`` before the run date).
    """
    from connectors import warehouse
    from connectors.base import sync
    from connectors.load import SourceDataError
    from flows.sources import configured_sources

    cfg = ctx.settings.sources
    # The run's clock for "a value from the future": now, or the end of the business day the
    # simulator's extracts were taken at (it writes the whole of as_of).
    clock = max(datetime.now(UTC), ctx.now_utc)
    if ctx.settings.simulator.enabled:
        clock = max(clock, datetime.combine(ctx.as_of + timedelta(days=1), time(0), tzinfo=UTC))
    skew = timedelta(minutes=cfg.max_future_skew_minutes)
    sources = configured_sources(ctx.settings, ctx.landing_dir, streams)
    landed, refused = [], []
    with warehouse.connect(ctx.warehouse) as con:
        for source in sources:
            result = sync(con, source, streams=streams, clock=clock, max_future_skew=skew)
            landed += result.landed
            refused += result.refused
        fed = {st.contract.table for s in sources for st in s.streams()}
        required = [t for t in cfg.required_streams if t in fed and (not streams or t in streams)]
        empty = [t for t in required if not warehouse.table_exists(con, t) or not _has_rows(con, t)]
        stale: dict[str, datetime] = {}
        for t, days in cfg.max_source_age_days.items():
            if t not in fed or t in empty or (streams and t not in streams) or not warehouse.table_exists(con, t):
                continue
            newest = _newest_change(con, t, clock + skew)
            if newest is not None and newest.date() < ctx.as_of - timedelta(days=days):
                stale[t] = newest
    log = _log()
    for r in landed:
        if r.status == "loaded":
            log.info("%s <- %s: new=%s quarantined=%s", r.stream, r.origin, r.rows_new, r.rows_quarantined)
    for x in refused:
        log.warning("set aside, the run goes on without it: %s", x["error"])
    if empty:
        why = "; ".join(x["error"] for x in refused if x["stream"] in empty) or "no file or record arrived"
        raise SourceDataError(
            f"{', '.join(empty)} has no rows, so no customer can be dunned: {why} - fix or replace the file(s) named "
            "and re-run"
        )
    if stale:
        why = "; ".join(x["error"] for x in refused if x["stream"] in stale)
        ages = ", ".join(f"{t} last changed {newest}" for t, newest in stale.items())
        raise SourceDataError(
            f"stale source: {ages}, more than {max(cfg.max_source_age_days[t] for t in stale)} day(s) before "
            f"{ctx.as_of}{f' ({why})' if why else ''} - check that the export still runs and re-run"
        )
    return [r.as_dict() for r in landed] + [{**x, "status": "quarantined"} for x in refused]


def _has_rows(con: Any, table: str) -> bool:
    return bool(con.execute(f"select exists (select 1 from {table})").fetchall()[0][0])


def _newest_change(con: Any, table: str, limit: datetime) -> datetime | None:
    """The newest cursor value of a raw table, values from the future left out (None without a cursor)."""
    from connectors.contracts import stream

    cursor = stream(table).cursor
    if cursor is None:
        return None
    bound = limit.astimezone(UTC).replace(tzinfo=None)
    return con.execute(f'select max("{cursor}") from {table} where "{cursor}" <= ?', [bound]).fetchall()[0][0]


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
    why = "forced"
    if not force:
        snapshot = registry.champion_snapshot_date(uri)
        version = registry.champion_version(uri)
        drifted = _drift_flagged(ctx, version) if version else []
        if drifted:
            why = f"drift flagged for champion v{version}: {', '.join(drifted)}"
        elif snapshot is not None and (ctx.as_of - snapshot).days < cfg.retrain_after_days:
            _log().info("champion v%s trained on %s data is recent: not retraining", version, snapshot)
            return {"trained": False, "champion_version": version, "reason": f"champion trained on {snapshot}"}
        else:
            why = f"champion trained on {snapshot}" if snapshot else "no champion yet"
        _log().info("retraining: %s", why)
    with warehouse.connect(ctx.warehouse) as con:
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
    _log().info("trained v%s: %s", result.model_version, result.reason)
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


def _drift_flagged(ctx: RunContext, version: str) -> list[str]:
    """Features (or the score) a past scoring run flagged as drifted for this champion version."""
    from connectors import warehouse

    with warehouse.connect(ctx.warehouse) as con:
        if not warehouse.table_exists(con, DRIFT_TABLE):
            return []
        flagged = warehouse.read_frame(
            con, DRIFT_TABLE, f"model_version = '{version}' and is_drifted", order_by="as_of_date, feature"
        )
    return sorted(set(flagged["feature"]))


@task(name="score-open-invoices", retries=1, retry_delay_seconds=2)
def score_open_invoices(ctx: RunContext) -> dict[str, Any]:
    """Score every open invoice with ``@champion``; write scores, explanations, customer risk and drift.

    All four tables are partitioned by the run date and carry the model version. Drift compares the
    invoices issued in the last ``model.drift_window_days`` (features as of issue, like training)
    with the champion's training reference; past the PSI threshold it is logged, reported in the
    summary and makes the next run retrain.
    """
    from connectors import warehouse
    from ml.score import score_with_champion

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
        stamp = {"as_of_date": ctx.as_of, "scored_at": ctx.now_utc.replace(tzinfo=None)}
        partition = {"as_of_date": ctx.as_of}
        warehouse.replace_partition(
            con,
            EXPLANATIONS_TABLE,
            scored.explanations.assign(**stamp)[["as_of_date", *scored.explanations.columns, "scored_at"]],
            OPERATIONAL_TABLES[EXPLANATIONS_TABLE],
            partition,
        )
        warehouse.replace_partition(
            con,
            CUSTOMER_RISK_TABLE,
            scored.customer_risk.assign(**stamp)[["as_of_date", *scored.customer_risk.columns, "scored_at"]],
            OPERATIONAL_TABLES[CUSTOMER_RISK_TABLE],
            partition,
        )
        warehouse.replace_partition(
            con,
            DRIFT_TABLE,
            scored.drift.assign(**stamp)[["as_of_date", *scored.drift.columns, "scored_at"]],
            OPERATIONAL_TABLES[DRIFT_TABLE],
            partition,
        )
        scores = scored.invoice_scores.assign(**stamp)
        n = warehouse.replace_partition(
            con,
            SCORES_TABLE,
            scores[["as_of_date", "invoice_id", "customer_id", "risk_score", "model_version", "scored_at"]],
            OPERATIONAL_TABLES[SCORES_TABLE],
            {"as_of_date": ctx.as_of},
        )
    drift = scored.drift_summary()
    if drift.get("retrain_flag"):
        _log().warning("drift past PSI %.2f for %s: the next run retrains", cfg.drift_psi_threshold, drift["drifted"])
    return {
        "scored": n,
        "model_version": scored.model_version if n else None,
        "customers": len(scored.customer_risk),
        "explanations": len(scored.explanations),
        "drift": drift,
    }


@task(name="decide-next-best-action")
def decide_actions(ctx: RunContext) -> dict[str, Any]:
    """Pick the one lawful, most valuable action per account with a dunnable overdue balance."""
    from connectors import warehouse
    from connectors.channels import outbox
    from ml.inbound import optouts
    from ml.nba import revalidate
    from ml.nba.engine import decide
    from ml.nba.inputs import accounts_for_decision, config_from, latest_usd_rates, relaxations_from
    from ml.nba.policy import summary

    nba = ctx.settings.nba
    day = f"'{ctx.as_of.isoformat()}'"
    with warehouse.connect(ctx.warehouse) as con:
        # A business day is decided once: a re-run (after a failed dispatch, or a second `make run`)
        # keeps the day's decisions and their outbox tasks; news that arrives later in the day acts
        # through dispatch-time suppression (payment seen, dispute opened), not through a new decision.
        if warehouse.table_exists(con, DECISIONS_TABLE):
            done = warehouse.read_frame(con, DECISIONS_TABLE, f"as_of_date = {day}", order_by="customer_id")
            if not done.empty:
                done["amount_at_stake"] = done["amount_at_stake"].map(lambda v: Decimal(str(v)))
                out = summary(done)
                out.update(new_outbox_tasks=0, arms=done["arm"].value_counts().to_dict(), already_decided=True)
                _log().info("decisions for %s were already made; kept: %s", ctx.as_of, out)
                return out
        mart = warehouse.read_frame(con, "marts.mart_dunning_accounts", order_by="customer_id")
        scores = warehouse.read_frame(con, SCORES_TABLE, f"as_of_date = {day}")
        contacts = warehouse.read_frame(con, "marts.dim_contacts", order_by="contact_id")
        # Opt-outs landed from the webhooks (unsubscribe links, STOP replies) withdraw consent now, not
        # when the CRM catches up: the same withdrawals the pre-send re-check applies.
        contacts = revalidate.apply_opt_outs(contacts, optouts.opt_outs(con))
        interactions = warehouse.read_frame(
            con,
            "marts.fct_interactions",
            # Point in time: a back-filled run must not see the contacts its own later dispatch made.
            f"occurred_at >= cast({day} as date) - interval 365 day "
            f"and occurred_at <= cast('{ctx.now_utc.astimezone(UTC).replace(tzinfo=None).isoformat()}' as timestamp)",
        )
        fx = warehouse.read_frame(con, "reference.fx_rates")
        escalations = (
            warehouse.read_frame(
                con,
                DECISIONS_TABLE,
                f"action = 'escalate' and as_of_date < {day} and as_of_date >= cast({day} as date) - interval 60 day",
            ).rename(columns={"scheduled_at": "escalated_at"})
            if warehouse.table_exists(con, DECISIONS_TABLE)
            else None
        )
        recent = outbox.recent_contacts(con, ctx.now_utc - timedelta(days=14), exclude_decision_date=ctx.as_of)
        config = config_from(nba.model_dump(), latest_usd_rates(fx, ctx.as_of), relaxations_from(nba.relaxations))
        explanations = (
            warehouse.read_frame(con, EXPLANATIONS_TABLE, f"as_of_date = {day}")
            if warehouse.table_exists(con, EXPLANATIONS_TABLE)
            else None
        )
        features = (
            warehouse.read_frame(con, "marts.ml_open_invoice_features", order_by="invoice_id")
            if warehouse.table_exists(con, "marts.ml_open_invoice_features")
            else None
        )
        accounts = accounts_for_decision(mart, scores, explanations, features)
        decisions = decide(
            accounts,
            contacts,
            recent,
            as_of=ctx.as_of,
            now_utc=ctx.now_utc,
            config=config,
            interactions=interactions,
            escalations=escalations,
        )
        new_tasks = outbox.enqueue(con, decisions, ctx.as_of)
        _store_decisions(con, decisions, ctx)
    out = summary(decisions)
    out["new_outbox_tasks"] = new_tasks
    out["arms"] = decisions["arm"].value_counts().to_dict()
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
            "arm",
            "intent",
            "segment",
            "currency",
            "risk_score",
            "p_pay",
            "expected_value_usd",
            "value_over_wait_usd",
            "rule_profile",
        ]
    ]
    frame["scheduled_at"] = frame["scheduled_at"].map(lambda t: None if t is None or t != t else t)
    if warehouse.table_exists(con, DECISIONS_TABLE):  # decision logs written before issue 6 lack these columns
        for col, typ in DECISION_COLUMNS_V2.items():
            con.execute(f"alter table {DECISIONS_TABLE} add column if not exists {col} {typ}")
    warehouse.replace_partition(
        con,
        DECISIONS_TABLE,
        frame,
        OPERATIONAL_TABLES[DECISIONS_TABLE],
        {"as_of_date": ctx.as_of},
    )


def _land_channel_feedback(con, ctx: RunContext) -> dict[str, int]:
    """Webhook spool -> raw_channels.webhook_events -> interactions (delivery, read, replies read by ml.inbound)."""
    from connectors.contracts import INTERACTIONS
    from connectors.load import land
    from connectors.webhooks.store import land_events
    from ml.inbound.interactions import build_interactions

    new_events = land_events(con, ctx.settings.resolve(ctx.settings.channels.inbound_dir))
    rows, summary = build_interactions(con)
    if rows.num_rows:
        con.register("_inbound_interactions", rows)
        try:
            land(con, INTERACTIONS, "select * from _inbound_interactions", source="webhooks", origin="webhook events")
        finally:
            con.unregister("_inbound_interactions")
    return {"webhook_events": new_events, "promises": summary.promises, "disputes": summary.disputes}


@task(name="dispatch")
def dispatch_outbox(ctx: RunContext, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, int]:
    """Land channel feedback, then hand open outbox tasks to each channel's provider exactly once.

    Channels left on ``dry_run`` (the default) get every open task rendered to the dry-run file;
    real providers only get tasks whose lawful send window is open now.
    """
    from connectors import warehouse
    from connectors.channels import outbox, registry
    from connectors.webhooks import store

    ch = ctx.settings.channels
    choice = {c: getattr(ch, c) for c in registry.CHANNELS}
    total: dict[str, int] = {}
    with warehouse.connect(ctx.warehouse) as con:
        total.update(_land_channel_feedback(con, ctx))
        # A dispatcher killed mid-batch left its claims/outcomes in its log: land them before the
        # re-check, which would otherwise cancel a task that was in fact already handed over.
        outbox.land_dispatch_logs(con)
        total["cancelled"] = _cancel_stale_tasks(con, ctx)
        senders = registry.build_senders(
            choice,
            dry_run_dir=ctx.settings.resolve(ch.outbox_dir),
            whatsapp_status_lookup=lambda ids: store.whatsapp_confirmations(con, ids),
            whatsapp_last_inbound=store.whatsapp_last_inbound(con),
            overrides=_with_unsubscribe_key(ctx, choice, overrides),
        )
        try:
            for channels, sender in senders:
                counts = outbox.dispatch(
                    con,
                    sender,
                    ctx.now_utc,
                    channels=channels,
                    max_attempts=ch.max_attempts,
                    unknown_ttl=timedelta(hours=ch.unknown_ttl_hours),
                    clock=_send_clock(ctx),
                )
                for key, value in counts.items():
                    total[key] = total.get(key, 0) + value
        finally:
            registry.close_senders(senders)
    _log().info("dispatch: %s", total)
    return total


def unsubscribe_secret(settings: Settings) -> str:
    """The secret of the unsubscribe links, shared by the e-mail sender and the webhook receiver.

    ``webhooks.token_secret`` (``COBRANZA_WEBHOOKS__TOKEN_SECRET``) when set; else the one generated
    at first run and kept, mode 0600, in ``webhooks.key_file`` under the data directory.
    """
    from connectors.channels.templates.unsubscribe import load_or_create_secret

    configured = settings.webhooks.token_secret
    if configured is not None and configured.get_secret_value():
        return configured.get_secret_value()
    return load_or_create_secret(settings.resolve(settings.webhooks.key_file))


def _with_unsubscribe_key(
    ctx: RunContext, choice: dict[str, str], overrides: dict[str, dict[str, Any]] | None
) -> dict[str, dict[str, Any]] | None:
    """The senders' overrides with the unsubscribe secret given to SMTP (its links must verify)."""
    if choice.get("email") != "smtp" or "unsubscribe_key" in ((overrides or {}).get("smtp") or {}):
        return overrides
    out = dict(overrides or {})
    out["smtp"] = {**(out.get("smtp") or {}), "unsubscribe_key": unsubscribe_secret(ctx.settings)}
    return out


def _send_clock(ctx: RunContext) -> Any:
    """The time stamped on each message's events: the wall clock on a live run (the run's ``now_utc`` is
    when the flow started, minutes before a message leaves); on a replayed day, ``dispatch``'s default
    (the replayed instant plus the real time elapsed)."""
    if abs(datetime.now(UTC) - ctx.now_utc) < timedelta(hours=1):
        return lambda: datetime.now(UTC)
    return None


def _cancel_stale_tasks(con: Any, ctx: RunContext) -> int:
    """Cancel queued contacts the warehouse now says must not go out (``ml.nba.revalidate``).

    Reads only the invoices and contacts the waiting tasks name; each cancelled task gets a ``dead``
    event whose detail starts with ``cancelled before sending:`` and gives the reason.
    """
    import pyarrow as pa

    from connectors import warehouse
    from connectors.channels import outbox
    from ml.inbound import optouts
    from ml.nba import revalidate

    waiting = outbox.pending_tasks(con, ctx.now_utc, states=("pending", "failed"))
    if waiting.empty:
        return 0
    if not (warehouse.table_exists(con, "marts.fct_invoices") and warehouse.table_exists(con, "marts.dim_contacts")):
        raise RuntimeError(
            f"{len(waiting)} contact tasks are waiting but marts.fct_invoices / marts.dim_contacts are missing, "
            "so they cannot be re-checked before sending: run the dbt build (cobranza run) first"
        )
    named = {
        "_waiting_invoice_ids": pa.table({"id": sorted({str(i) for ids in waiting["invoice_ids"] for i in ids})}),
        "_waiting_contact_ids": pa.table({"id": sorted({str(c) for c in waiting["contact_id"].dropna()})}),
    }
    for name, ids in named.items():
        con.register(name, ids)
    try:
        invoices = (
            con.sql(
                "select invoice_id, status, amount_open, is_disputed from marts.fct_invoices "
                "where invoice_id in (select id from _waiting_invoice_ids)"
            )
            .to_arrow_table()
            .to_pandas()
        )
        contacts = (
            con.sql("select * from marts.dim_contacts where contact_id in (select id from _waiting_contact_ids)")
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        for name in named:
            con.unregister(name)
    # Opt-outs from the webhook events landed moments ago (_land_channel_feedback), not yesterday's marts.
    fresh_opt_outs = optouts.opt_outs(con)
    stale = revalidate.stale_tasks(waiting, revalidate.still_open_invoices(invoices), contacts, fresh_opt_outs)
    outbox.record_events(
        con,
        (
            {
                "task_id": r.task_id,
                "state": "dead",
                "at": ctx.now_utc,
                "detail": f"cancelled before sending: {r.reason}",
            }
            for r in stale.itertuples()
        ),
    )
    if len(stale):
        _log().info("dispatch: %d queued contacts cancelled before sending (%s)", len(stale), stale["reason"].iloc[0])
    return len(stale)


#: The daily flow's name for the dispatch stage (dry run unless channels are configured).
dispatch_dry_run = dispatch_outbox


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
        "champion_why": (champion or {}).get("promotion_decision"),
        "training": stages.get("train"),
        "drift": (stages.get("score") or {}).get("drift"),
        "actions_by_channel": stages.get("decide", {}).get("actions", {}),
        "decisions": stages.get("decide", {}),
        "dispatch": stages.get("dispatch", {}),
        "kpis": [{k: _jsonable(v) for k, v in r.items()} for r in kpis],
        "quarantined_files": [
            {"stream": x["stream"], "file": x["origin"], "reason": x["error"]}
            for x in stages.get("ingest") or []
            if isinstance(x, dict) and x.get("status") == "quarantined"
        ],
        "where_next": {
            "warehouse": str(ctx.warehouse),
            "mlflow_ui": f"mlflow ui --backend-store-uri {ctx.settings.tracking_uri} --workers 1",
            "prefect_ui": "prefect server start  (then: prefect deploy --all)",
            "dbt_docs": "make docs  (dbt docs generate + serve on the warehouse)",
            "kpi_report": "cobranza report  (self-contained HTML KPI report in <data_dir>/reports)",
            "dry_run_messages": str(s.resolve(s.channels.outbox_dir)),
            "gx_data_docs": (stages.get("gate_marts") or {}).get("data_docs") or "",
        },
    }

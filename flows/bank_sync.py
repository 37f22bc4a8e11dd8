"""Hourly bank sync: land new statement lines, refresh balances, re-check the pre-dispatch gate.

A payment seen in the bank must suppress dunning for its invoice before the next dispatch, even if
the ERP records it days later; this flow rebuilds only what depends on bank lines, refreshes the
serving tables the dispatcher's re-check reads and cancels the queued contacts about invoices now paid.
It writes the warehouse, so it holds the warehouse lock (waiting, bounded, for a daily run still
going) and ends by publishing the read-only copy readers open (``flows/service.py``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from prefect import flow

from cobranza import runtime
from cobranza.settings import load_settings
from flows import stages
from flows.alerts import raise_day_alerts

runtime.apply_defaults()


@flow(name="bank_sync")
def bank_sync(as_of: date | None = None, now_utc: datetime | None = None) -> dict[str, Any]:
    """Ingest bank statement files, rebuild bank-dependent models and gates, cancel contacts now paid.

    Args:
        as_of: Business date (default: today).
        now_utc: The run's clock (default: now for today); a harness advancing a clock passes it.
    """
    settings = load_settings()
    ctx = stages.make_context(settings, as_of, now_utc)
    with stages.warehouse_lock(settings, "bank_sync"):
        replicated = stages.replicate_ops(ctx)
        ingested = stages.ingest_sources(ctx, streams=["raw_bank.statement_lines"])
        gate = stages.quality_gate(ctx, "raw")
        built = stages.dbt_build(ctx, models="stg_bank__statement_lines+")
        gate_marts = stages.quality_gate(ctx, "pre_dispatch")
        alerts = raise_day_alerts(ctx)  # early warnings on the new bank lines (issue 21)
        serving = stages.refresh_serving_tables(ctx)
        cancelled = stages.cancel_stale_tasks(ctx)
        stages.replicate_ops(ctx)
        published = stages.publish_read_copy(ctx)
    return {
        "replicate": replicated,
        "ingest": ingested,
        "gate_raw": gate,
        "dbt": built,
        "gate_marts": gate_marts,
        "alerts": alerts,
        "serving": serving,
        "cancelled": cancelled,
        "published": published,
    }

"""The stages that let the flows overlap: locks, the operational store, its replica and the published copy.

Three stores (README "Running Cobranza for real"): the warehouse, written only by the daily run and the
bank sync, each holding the *warehouse lock* (``connectors.locks``) for its whole run; the operational
store (``connectors.ops_store``: outbox, webhook events, inbound interactions, the serving tables of the
pre-send re-check), opened for seconds under the *ops lock* by every flow, so the dispatcher and the
inbound flow never wait for a dbt build; and the published read copy of the warehouse that readers
(report, retrain, notebooks, ``make docs``, SQL clients) open. Each stage here is a plain function of
the run context; the work is in ``connectors.ops_store`` and ``connectors.published``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from cobranza.settings import Settings
from flows.context import RunContext, run_logger


def lock_file(settings: Settings, store: str) -> Path:
    """``<data_dir>/locks/<store>.lock`` (``warehouse`` or ``ops``)."""
    return settings.data_dir / "locks" / f"{store}.lock"


@contextmanager
def warehouse_lock(settings: Settings, who: str) -> Iterator[None]:
    """Hold the warehouse lock for a writing flow (bounded wait: ``service.warehouse_lock_timeout_s``)."""
    from connectors import locks

    with locks.hold(
        lock_file(settings, "warehouse"),
        who,
        timeout_s=settings.service.warehouse_lock_timeout_s,
        what=f"the warehouse {settings.duckdb_path}",
        on_wait=run_logger().warning,
    ):
        yield


@contextmanager
def ops_connection(settings: Settings, who: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """The operational store, opened under its lock for one short step."""
    from connectors import ops_store

    with ops_store.connect(
        settings.ops_path,
        lock_path=lock_file(settings, "ops"),
        who=who,
        timeout_s=settings.service.ops_lock_timeout_s,
        on_wait=run_logger().warning,
    ) as con:
        yield con


def replicate(ctx: RunContext) -> dict[str, int]:
    """Copy the operational store's new rows (outbox, webhook events, interactions, the agent's
    decisions) into the warehouse.

    An empty store is first filled from a warehouse whose outbox predates it (the first run after an
    upgrade). Run by the warehouse writers at their start and their end, under the warehouse lock.
    """
    from connectors import ops_store, warehouse
    from ml.agent import log as agent_log

    with ops_connection(ctx.settings, "replicate") as ops, warehouse.connect(ctx.warehouse) as wh:
        seeded = ops_store.seed_from_warehouse(ops, wh)
        copied = ops_store.replicate(ops, wh)
        copied[agent_log.TABLE] = agent_log.replicate(ops, wh)
    if seeded:
        where = ctx.settings.ops_path
        run_logger().warning("operational store %s filled from the warehouse's outbox: %s", where, seeded)
    run_logger().info("replicated into the warehouse: %s", copied)
    return {name.split(".")[-1]: n for name, n in copied.items()}


def refresh_serving(ctx: RunContext) -> dict[str, int]:
    """Publish to the operational store what the pre-send re-check reads: the invoices the open tasks
    name (``marts.fct_invoices``: bank-seen payments and disputes included) and the contacts."""
    from connectors import ops_store, warehouse

    with ops_connection(ctx.settings, "refresh-serving") as ops, warehouse.connect(ctx.warehouse) as wh:
        written = ops_store.refresh_serving(ops, wh)
    run_logger().info("serving tables refreshed: %s", written)
    return {name.split(".")[-1]: n for name, n in written.items()}


def publish(ctx: RunContext) -> dict[str, Any]:
    """Publish the read-only copy of the warehouse readers open (``service.published_path``)."""
    from connectors import published

    target = ctx.settings.published_path
    seconds = published.publish(ctx.warehouse, target)
    size = target.stat().st_size
    run_logger().info("published %s (%.0f MB) in %.2f s", target, size / 1e6, seconds)
    return {"path": str(target), "seconds": round(seconds, 3), "bytes": size}


def record_pass(ctx: RunContext, flow: str, started_at: datetime, summary: dict[str, Any]) -> None:
    """Log a pass of the dispatcher or the inbound flow in the store (the heartbeat)."""
    from connectors import ops_store

    with ops_connection(ctx.settings, flow) as ops:
        ops_store.record_run(
            ops, flow, clock_at=ctx.now_utc, started_at=started_at, finished_at=datetime.now(UTC), summary=summary
        )

"""The dispatcher: every few minutes, send each queued contact as its lawful window opens.

One pass (``dispatcher(now_utc)``) on the operational store only, never the warehouse, so it never
waits for a daily run's dbt build: fold the write-ahead logs a killed pass left, land the webhook
spool, cancel the queued contacts that fresh data forbids (bank-seen payments and disputes from the
serving tables, promises, disputes and opt-outs from the replies landed moments ago), hand every task
whose window is open at ``now_utc`` to its provider exactly once, dead-letter the tasks whose window
has passed with the reason (and whether the dispatcher ran through that window: every pass is logged
in the store), and log this pass. Deployed every ``service.dispatch_interval_minutes`` (prefect.yaml,
``cobranza serve``); ``cobranza dispatch`` runs the same pass by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from cobranza import runtime
from cobranza.settings import load_settings
from flows import stages

runtime.apply_defaults()


@flow(name="dispatcher", log_prints=False)
def dispatcher(now_utc: datetime | None = None) -> dict[str, Any]:
    """One dispatcher pass at ``now_utc`` (default: now); returns the ``cobranza dispatch`` counts.

    Args:
        now_utc: The pass's clock (timezone-aware); a harness advancing an accelerated clock passes it.
    """
    started = datetime.now(UTC)
    ctx = stages.make_context(load_settings(), None if now_utc is None else now_utc.date(), now_utc)
    feedback = stages.land_channel_feedback(ctx)
    cancelled = stages.cancel_stale_tasks(ctx)
    total = stages.merge_dispatch(feedback, cancelled, stages.send_outbox(ctx))
    stages.record_pass(ctx, "dispatcher", started, total)
    return total

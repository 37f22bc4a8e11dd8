"""The dispatch stage in three steps: land channel feedback, cancel stale tasks, send.

Each step is a plain function of the run context (the CLI's ``cobranza dispatch`` calls
:func:`dispatch`, all three); ``flows.stages`` wraps each in a task and the daily flow runs them as
three tasks. The work is in the libraries: the webhook store and ``ml.inbound`` (feedback), the
outbox and ``ml.nba.revalidate`` (the pre-send re-check), the channel registry and the outbox's
exactly-once ``dispatch`` (sending).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cobranza.settings import Settings
from flows.context import RunContext, run_logger


def land_feedback(ctx: RunContext) -> dict[str, int]:
    """Webhook spool -> ``raw_channels.webhook_events`` -> interactions (delivery, read; replies read by ml.inbound)."""
    from connectors import warehouse
    from connectors.contracts import INTERACTIONS
    from connectors.load import land_arrow
    from connectors.webhooks.store import land_events
    from ml.inbound.interactions import build_interactions

    with warehouse.connect(ctx.warehouse) as con:
        new_events = land_events(con, ctx.settings.resolve(ctx.settings.channels.inbound_dir))
        rows, summary = build_interactions(con)
        if rows.num_rows:
            land_arrow(con, INTERACTIONS, rows, source="webhooks", origin="webhook events")
    return {"webhook_events": new_events, "promises": summary.promises, "disputes": summary.disputes}


def cancel_stale(ctx: RunContext) -> int:
    """Cancel queued contacts the warehouse now says must not go out (``ml.nba.revalidate``).

    First lands a killed dispatcher's write-ahead logs, so a task already handed over is not cancelled
    and then resent. Reads only the invoices and contacts the waiting tasks name; each cancelled task
    gets a ``dead`` event whose detail starts with ``cancelled before sending:`` and gives the reason.
    """
    from connectors import warehouse
    from connectors.channels import outbox
    from ml.inbound import optouts, portal_events
    from ml.nba import revalidate

    with warehouse.connect(ctx.warehouse) as con:
        outbox.land_dispatch_logs(con)
        waiting = outbox.pending_tasks(con, ctx.now_utc, states=("pending", "failed"))
        if waiting.empty:
            return 0
        if not (
            warehouse.table_exists(con, "marts.fct_invoices") and warehouse.table_exists(con, "marts.dim_contacts")
        ):
            raise RuntimeError(
                f"{len(waiting)} contact tasks are waiting but marts.fct_invoices / marts.dim_contacts are missing, "
                "so they cannot be re-checked before sending: run the dbt build (cobranza run) first"
            )
        invoices, contacts = outbox.waiting_subjects(
            con, waiting, invoices="marts.fct_invoices", contacts="marts.dim_contacts"
        )
        # Opt-outs from the webhook events landed moments ago (land_feedback), not yesterday's marts.
        # paid by pay link or disputed on the portal: out before the bank statement or the CRM says so
        still_open = revalidate.still_open_invoices(invoices) - set(portal_events.settled_online(con)["invoice_id"])
        stale = revalidate.stale_tasks(waiting, still_open, contacts, optouts.opt_outs(con))
        n = outbox.cancel(con, stale, ctx.now_utc)
    if n:
        run_logger().info("dispatch: %d queued contacts cancelled before sending (%s)", n, stale["reason"].iloc[0])
    return n


def send(ctx: RunContext, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, int]:
    """Hand open outbox tasks to each channel's provider exactly once.

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
    return total


def merge_dispatch(feedback: dict[str, int], cancelled: int, sent: dict[str, int]) -> dict[str, int]:
    """The dispatch summary: feedback landed, tasks cancelled, then the send counts."""
    total = {**feedback, "cancelled": cancelled}
    for key, value in sent.items():
        total[key] = total.get(key, 0) + value
    run_logger().info("dispatch: %s", total)
    return total


def dispatch(ctx: RunContext, overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, int]:
    """Land channel feedback, cancel stale tasks, then send: the whole dispatch (``cobranza dispatch``)."""
    return merge_dispatch(land_feedback(ctx), cancel_stale(ctx), send(ctx, overrides))


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

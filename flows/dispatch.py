"""The dispatch stage in three steps: land channel feedback, cancel stale tasks, send.

Each step is a plain function of the run context (the CLI's ``cobranza dispatch`` calls
:func:`dispatch`, all three, as one dispatcher pass); ``flows.stages`` wraps each in a task, and the
dispatcher flow (``flows/dispatcher.py``, every few minutes), the inbound flow (the first two) and the
daily run's own pass run them as tasks. Every step works on the operational store
(``connectors.ops_store``), opened under its lock only for the step, never on the warehouse, so a pass
never waits for a dbt build; the send step opens it only to read tasks and land each batch's events,
never across a provider call, and holds the *send lock* (``<data_dir>/locks/send.lock``) instead, so
one process at a time hands tasks over or cancels them (a task in flight is never cancelled, nor
sent by two passes) while the daily run, the bank sync and the inbound landing use the store.
The work is in the libraries: the webhook store and ``ml.inbound``
(feedback), the outbox and ``ml.nba.revalidate`` (the pre-send re-check, on the serving tables the
warehouse writers refresh), the channel registry and the outbox's exactly-once ``dispatch`` (sending).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from cobranza.settings import Settings
from flows.context import RunContext, run_logger
from flows.service import lock_file, ops_connection, record_pass

#: Longest wait of a send or cancel step for another process's send, in seconds (a pass at profile L
#: hands over tens of thousands of messages at the providers' rate limits).
SEND_LOCK_TIMEOUT_S = 1800.0


def send_lock(ctx: RunContext, who: str) -> Any:
    """The send lock (see the module docstring), waited for at most :data:`SEND_LOCK_TIMEOUT_S`."""
    from connectors import locks

    return locks.hold(
        lock_file(ctx.settings, "send"),
        who,
        timeout_s=SEND_LOCK_TIMEOUT_S,
        what="sending the outbox",
        on_wait=run_logger().warning,
    )


def land_feedback(ctx: RunContext) -> dict[str, int]:
    """Webhook spool -> ``raw_channels.webhook_events`` -> interactions (delivery, read; replies read by
    ml.inbound), in the operational store; the warehouse gets them through the replica."""
    from connectors import ops_store
    from connectors.webhooks.store import land_events
    from ml.inbound.interactions import build_interactions

    with ops_connection(ctx.settings, "land-feedback") as con:
        new_events = land_events(con, ctx.settings.resolve(ctx.settings.channels.inbound_dir))
        rows, summary = build_interactions(con, directory=ops_store.SERVING_CONTACTS)
        ops_store.land_interactions(con, rows, ctx.now_utc)
    return {"webhook_events": new_events, "promises": summary.promises, "disputes": summary.disputes}


def cancel_stale(ctx: RunContext) -> int:
    """Cancel queued contacts that must not go out any more (``ml.nba.revalidate``), on fresh data.

    First lands a killed dispatcher's write-ahead logs, so a task already handed over is not cancelled
    and then resent. Reads the invoices and contacts the waiting tasks name from the serving tables
    (as the last warehouse writer computed them: a bank sync's payments included), the opt-outs and the
    promises and disputes from the webhook events landed moments ago; each cancelled task gets a
    ``dead`` event whose detail starts with ``cancelled before sending:`` and gives the reason.
    """
    from connectors import ops_store
    from connectors.channels import outbox
    from ml.alerts import lifecycle
    from ml.inbound import optouts, portal_events
    from ml.nba import revalidate

    with send_lock(ctx, "cancel-stale"), ops_connection(ctx.settings, "cancel-stale") as con:
        outbox.land_dispatch_logs(con)
        waiting = outbox.pending_tasks(con, ctx.now_utc, states=("pending", "failed"))
        if waiting.empty:
            return 0
        if not ops_store.serving_ready(con):
            # The send step holds them too (nothing leaves un-rechecked); a pass is not a failure.
            run_logger().warning(
                "%d contact tasks are waiting but the operational store %s has no %s / %s yet, so they cannot "
                "be re-checked before sending: they are held until the daily run (cobranza run) or the bank "
                "sync publishes them",
                len(waiting),
                ctx.settings.ops_path,
                ops_store.SERVING_INVOICES,
                ops_store.SERVING_CONTACTS,
            )
            return 0
        invoices, contacts = outbox.waiting_subjects(
            con, waiting, invoices=ops_store.SERVING_INVOICES, contacts=ops_store.SERVING_CONTACTS
        )
        # Opt-outs, promises and disputes from the webhook events landed moments ago, not yesterday's marts.
        stale = revalidate.stale_tasks(
            waiting,
            # paid by pay link or disputed on the portal: out before the bank statement or the CRM says so
            revalidate.still_open_invoices(invoices) - set(portal_events.settled_online(con)["invoice_id"]),
            contacts,
            optouts.opt_outs(con, directory=ops_store.SERVING_CONTACTS),
            ops_store.stopping_replies(con, min(waiting["decision_date"])),
            alert_holds=lifecycle.published_holds(con),  # fraud/redirection alerts raised since (issue 21)
        )
        n = outbox.cancel(con, stale, ctx.now_utc)
    if n:
        run_logger().info("dispatch: %d queued contacts cancelled before sending (%s)", n, stale["reason"].iloc[0])
    return n


def send(
    ctx: RunContext, overrides: dict[str, dict[str, Any]] | None = None, actions: tuple[str, ...] | None = None
) -> dict[str, int]:
    """Hand open outbox tasks to each channel's provider exactly once (only ``actions``' tasks when given:
    the inbound flow sends the agent's replies at once, the rest waits for the dispatcher).

    Channels left on ``dry_run`` (the default) get every open task rendered to the dry-run file;
    real providers only get tasks whose lawful send window is open now, and a task whose window has
    passed is dead-lettered with the window and whether the dispatcher ran through it
    (``connectors.ops_store.expire_missed``, from the passes it logged).
    """
    from connectors import ops_store
    from connectors.channels import outbox, registry
    from connectors.webhooks import store

    ch = ctx.settings.channels
    choice = {c: getattr(ch, c) for c in registry.CHANNELS}
    total: dict[str, int] = {}

    def hold() -> Any:  # the store for one step of the send (never across a provider call)
        return ops_connection(ctx.settings, "send")

    def confirmations(ids: Any) -> Any:
        with hold() as con:
            return store.whatsapp_confirmations(con, ids)

    with send_lock(ctx, "send"):
        with hold() as con:
            if actions is None and not ops_store.serving_ready(con):
                # No serving tables yet (a pass between a run's first enqueue and its serving refresh, or a
                # store no warehouse writer has published to): nothing is sent without its pre-send re-check.
                held = len(outbox.pending_tasks(con, ctx.now_utc, states=("pending", "failed")))
                if held:
                    run_logger().warning("dispatch: %d tasks held: no serving tables to re-check them yet", held)
                return {"held_no_recheck": held}
            last_inbound = store.whatsapp_last_inbound(con)
        senders = registry.build_senders(
            choice,
            dry_run_dir=ctx.settings.resolve(ch.outbox_dir),
            whatsapp_status_lookup=confirmations,
            whatsapp_last_inbound=last_inbound,
            overrides=_with_unsubscribe_key(ctx, choice, overrides),
        )
        try:
            for channels, sender in senders:
                expired = 0
                if getattr(sender, "due_only_default", True):
                    with hold() as con:
                        expired = ops_store.expire_missed(con, ctx.now_utc, channels=channels)
                counts = outbox.dispatch(
                    None,
                    sender,
                    ctx.now_utc,
                    channels=channels,
                    max_attempts=ch.max_attempts,
                    unknown_ttl=timedelta(hours=ch.unknown_ttl_hours),
                    clock=_send_clock(ctx),
                    actions=actions,
                    hold=hold,
                )
                counts["expired"] += expired
                counts["dead"] += expired
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
    """One dispatcher pass: land channel feedback, cancel stale tasks, send, log the pass (``cobranza dispatch``)."""
    started = datetime.now(UTC)
    total = merge_dispatch(land_feedback(ctx), cancel_stale(ctx), send(ctx, overrides))
    record_pass(ctx, "dispatcher", started, total)
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

"""The inbound flow: every couple of minutes, turn landed webhooks into interactions and act on them.

One pass (``inbound(now_utc)``) on the operational store only: the webhook spool becomes
``raw_channels.webhook_events`` rows, those become interactions (delivery, read, and replies read by
``ml.inbound``: promises to pay, disputes, opt-outs), and the queued contacts of a customer who
promised, disputed or opted out are cancelled by the same pre-send re-check the dispatcher runs, so a
reply changes what is queued within minutes. Then the agent (``flows/agent.py``) answers every new
inbound message - replies and hand-offs queued in the outbox - and, when it queued replies, a send
pass limited to the replies hands them to the providers at once, so a debtor gets the answer within
a minute of the pass (hand-offs and reminders wait for the dispatcher). The next daily run replicates
the interactions into the warehouse (``raw_crm.interactions``), so the reply also changes the next
decision. Deployed every ``service.inbound_interval_minutes``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prefect import flow

from cobranza import runtime
from cobranza.settings import load_settings
from flows import stages
from flows.agent import answer_inbound_messages

runtime.apply_defaults()


@flow(name="inbound", log_prints=False)
def inbound(now_utc: datetime | None = None) -> dict[str, Any]:
    """One inbound pass at ``now_utc`` (default: now).

    Returns:
        ``webhook_events`` (new events landed), ``promises``, ``disputes`` (replies read so far) and
        ``cancelled`` (queued contacts cancelled by this pass), ``agent`` (messages answered, replies and
        hand-offs queued) and ``sent`` (replies handed to the providers in this pass).
    """
    started = datetime.now(UTC)
    ctx = stages.make_context(load_settings(), None if now_utc is None else now_utc.date(), now_utc)
    out: dict[str, Any] = {**stages.land_channel_feedback(ctx), "cancelled": stages.cancel_stale_tasks(ctx)}
    out["agent"] = answer_inbound_messages(ctx)
    if out["agent"].get("replies"):
        out["sent"] = stages.send_outbox(ctx, actions=("agent_reply",)).get("sent", 0)
    stages.record_pass(ctx, "inbound", started, out)
    return out

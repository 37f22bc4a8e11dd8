"""Early-warning stage (issue 21): raise the day's alerts, queue a person's task, tell the data team.

``raise_alerts(ctx)`` is the plain stage function (the daily run calls it after scoring and before
deciding, so an alert's hold already shapes the day's decisions; the bank sync calls it after its
rebuild). It reads the signals dbt found (``marts.mart_alert_signals``) and the behaviour scorer's
breaks (``ml.alerts.behaviour``), raises the new ones through ``ml.alerts.lifecycle`` (ranked, at
most ``alerts.max_share`` of customers a day), queues one ``alert_review`` task on the internal
channel per high-severity alert with a customer (``connectors.channels.outbox`` in the operational
store, replicated to the warehouse like every task; keyed by the alert, so it is queued beside a
contact the morning decision already queued), publishes the open alerts' holds to the operational
store (``ml.alerts.lifecycle.publish_holds``: the dispatcher's pre-send re-check holds the written
contacts of a customer under a fraud or redirection alert, even one queued before the alert), and
emits one Prefect
event per high-severity alert for the data team:

    event ``cobranza.alert.raised``, resource ``cobranza.alert.<alert_id>`` with labels
    ``cobranza.signal`` and ``cobranza.severity``; payload: customer, description, evidence.

A Prefect automation matches it, e.g. trigger ``{"match": {"prefect.resource.id": "cobranza.alert.*"},
"expect": ["cobranza.alert.raised"], "posture": "Reactive", "threshold": 1}`` with a send-notification
action to the data team's block. Outside a Prefect run the emit is a no-op.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
from prefect import task

from flows.context import RunContext, run_logger

SIGNALS = "marts.mart_alert_signals"


def _emit(alerts: pd.DataFrame) -> int:
    """One ``cobranza.alert.raised`` event per alert, inside a Prefect run (else none: no server to tell)."""
    from prefect.context import FlowRunContext, TaskRunContext
    from prefect.events import emit_event

    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return 0
    n = 0
    for r in alerts.itertuples():
        event = emit_event(
            event="cobranza.alert.raised",
            resource={
                "prefect.resource.id": f"cobranza.alert.{r.alert_id}",
                "cobranza.signal": str(r.signal),
                "cobranza.severity": str(r.severity),
            },
            payload={"customer_id": r.customer_id, "description": r.description, "evidence": r.evidence},
        )
        n += event is not None
    return n


def review_tasks(high: pd.DataFrame, ctx: RunContext) -> list[dict[str, Any]]:
    """One ``alert_review`` task on the internal queue per high alert with a customer, keyed by the alert.

    Not the customer's one task of the day (``outbox.enqueue_tasks``, not ``enqueue``): an alert the
    bank sync raises after the morning decision still reaches a person beside the contact the
    decision queued (which the dispatcher's re-check then holds, ``ml.nba.holds.held_by_alerts``).
    """
    from connectors.channels import outbox

    at = pd.Timestamp(ctx.now_utc).floor("s").to_pydatetime()

    def money(r: Any) -> tuple[Any, str]:
        # an alert without an amount or currency (behaviour, payer change) renders as 0 in XXX, ISO 4217's
        # "no currency": the task's template needs both (the payload is what every sender renders)
        amount = r.amount if r.amount is not None and r.amount == r.amount else 0
        return amount, r.currency if isinstance(r.currency, str) and r.currency else "XXX"

    return [
        {
            "task_id": outbox.message_task_key(f"alert:{r.alert_id}", "alert_review"),
            "customer_id": str(r.customer_id),
            "contact_id": None,
            "decision_date": ctx.as_of,
            "action": "alert_review",
            "channel": "internal",
            "scheduled_at": at,
            "not_before": at,
            "not_after": at + outbox.DEFAULT_TASK_WINDOW,
            "amount_at_stake": money(r)[0],
            "currency": money(r)[1],
            "invoice_ids": [],
            "reason_codes": [f"alert:{r.signal}:{r.alert_id[:8]}", f"severity:{r.severity}", "route:alert_review"],
            "payload": {
                "customer_name": str(r.customer_id),
                "description": r.description,
                "evidence": r.evidence,
                "amount_at_stake": str(money(r)[0]),
                "currency": money(r)[1],
            },
        }
        for r in high.itertuples()
    ]


def raise_alerts(ctx: RunContext) -> dict[str, Any]:
    """Raise the day's new alerts, queue review tasks for the high ones and emit their events."""
    from connectors import warehouse
    from connectors.channels import outbox
    from flows.service import ops_connection
    from ml.alerts import lifecycle
    from ml.alerts.behaviour import BEHAVIOUR_INPUTS, BehaviourConfig, score_behaviour

    cfg = ctx.settings.alerts
    since = ctx.as_of - timedelta(days=cfg.lookback_days)
    with warehouse.connect(ctx.warehouse) as con:
        signals = con.sql(f"select * from {SIGNALS} where first_seen_date > ?", params=[since]).to_arrow_table()
        findings = signals.to_pandas().rename(columns={"signal_id": "alert_id"})
        # in a fixed order: the isolation forest's fit depends on the rows' order, which a table's
        # physical layout (an incremental model's appended rows, parallel scans) does not fix
        inputs = con.sql(f"select * from {BEHAVIOUR_INPUTS} order by customer_id").to_arrow_table().to_pandas()
        breaks = score_behaviour(
            inputs, BehaviourConfig(z_threshold=cfg.behaviour_z, min_shift_days=cfg.behaviour_min_shift_days)
        )
        lifecycle.ensure_tables(con)
        open_behaviour = lifecycle.current(con, lifecycle.OPEN_STATUSES)
        open_behaviour = set(open_behaviour.loc[open_behaviour["signal"] == "behaviour_change", "customer_id"])
        breaks = breaks[~breaks["customer_id"].isin(open_behaviour)]
        behaviour = pd.DataFrame(
            {
                "alert_id": [lifecycle.behaviour_alert_id(c, ctx.as_of) for c in breaks["customer_id"]],
                "signal": "behaviour_change",
                "customer_id": breaks["customer_id"],
                "evidence_key": ctx.as_of.isoformat(),
                "severity": breaks["severity"],
                "score": breaks["isolation_score"],
                "first_seen_date": ctx.as_of,
                "amount": None,
                "currency": None,
                "evidence": [f"robust_z={z:.1f}" for z in breaks["robust_z"]],
                "description": breaks["description"],
            }
        )
        n_customers = int(con.sql("select count(*) from marts.dim_customers").fetchall()[0][0])
        new = lifecycle.raise_alerts(
            con,
            pd.concat([findings, behaviour], ignore_index=True) if len(behaviour) else findings,
            as_of=ctx.as_of,
            now_utc=ctx.now_utc,
            n_customers=n_customers,
            config=lifecycle.AlertsConfig(lookback_days=cfg.lookback_days, max_share=cfg.max_share),
        )
        high = new[(new["severity"] == "high") & new["customer_id"].notna()] if len(new) else new
        # the review tasks and the holds go to the operational store, where the dispatcher re-checks
        with ops_connection(ctx.settings, "alerts") as ops:
            tasks = outbox.enqueue_tasks(ops, review_tasks(high, ctx), created_at=ctx.now_utc) if len(high) else 0
            held = lifecycle.publish_holds(ops, con)
    emitted = _emit(new[new["severity"] == "high"]) if len(new) else 0
    by_signal = new["signal"].value_counts().to_dict() if len(new) else {}
    run_logger().info(
        "alerts raised: %s (review tasks %s, events %s, customers held or flagged %s)", by_signal, tasks, emitted, held
    )
    return {"raised": int(len(new)), "by_signal": by_signal, "review_tasks": tasks, "events": emitted, "held": held}


raise_day_alerts = task(name="raise-alerts")(raise_alerts)

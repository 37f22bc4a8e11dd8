"""Early-warning holds on the day's decisions (issue 21, DESIGN.md §13).

An open fraud or redirection alert (``ml.alerts.lifecycle.HOLD_SIGNALS``) holds every written
contact of that customer, since reminders quote payment details (amounts, references, the payment
link) a fraudster could be waiting for: the decision becomes ``wait`` and the account goes to a
person (the alert's ``alert_review`` task). A call task by a collector is a person already and
stays. An open exposure alert suggests a credit hold. Every effect is in the reason codes.

The same hold applies at the dispatcher's pre-send re-check (:func:`held_by_alerts`, called by
``ml.nba.revalidate.stale_tasks`` on the holds the alert stage publishes to the operational store):
an alert raised after the morning decision (the hourly bank sync) holds that customer's written
contacts already queued, and the alert's ``alert_review`` task routes the account to a person.
"""

from __future__ import annotations

import pandas as pd

from ml.nba.compliance import WRITTEN_CHANNELS


def apply_alert_holds(decisions: pd.DataFrame, holds: pd.DataFrame) -> pd.DataFrame:
    """Return the decisions with the alerts' holds applied.

    Args:
        decisions: Output of ``ml.nba.engine.decide``.
        holds: ``ml.alerts.lifecycle.holds`` (customer_id, alert_hold, credit_hold, alert_codes).
    """
    if holds is None or holds.empty or decisions.empty:
        return decisions
    out = decisions.copy()
    by = holds.set_index("customer_id")
    cust = out["customer_id"].astype(str)
    held = cust.map(by["alert_hold"]).fillna(False).astype(bool)
    written = out["channel"].isin(WRITTEN_CHANNELS)
    stop = held & written
    codes = cust.map(by["alert_codes"])
    out["reason_codes"] = [
        list(rc) + (["route:alert_review", f"held:{ch}"] if s else []) + (list(c) if isinstance(c, list) else [])
        for rc, c, s, ch in zip(out["reason_codes"], codes, stop, out["channel"], strict=True)
    ]
    for col in ("contact_id", "channel", "local_scheduled_at", "contact_name", "email", "phone"):
        if col in out:
            kept = [None if s else v for v, s in zip(out[col].astype(object), stop, strict=True)]
            out[col] = pd.Series(kept, index=out.index, dtype=object)
    if "scheduled_at" in out:
        out["scheduled_at"] = out["scheduled_at"].where(~stop)
    out.loc[stop, "action"] = "wait"
    out.loc[stop, "intent"] = "alert_hold"
    return out


def held_by_alerts(tasks: pd.DataFrame, holds: pd.DataFrame | None) -> pd.DataFrame:
    """Queued written contacts of a customer with an open fraud or redirection alert, with the reason.

    Args:
        tasks: ``task_id``, ``customer_id`` and ``channel`` of the tasks waiting to be sent.
        holds: ``ml.alerts.lifecycle.holds`` or ``published_holds`` (customer_id, alert_hold,
            alert_codes); None or empty holds nothing.

    Returns:
        ``task_id`` and ``reason`` (the alert codes, ``route:alert_review``).
    """
    empty = pd.DataFrame({"task_id": pd.Series([], dtype=object), "reason": pd.Series([], dtype=object)})
    if holds is None or holds.empty or tasks.empty:
        return empty
    held = holds[holds["alert_hold"].fillna(False).astype(bool)]
    codes = {str(c): [str(x) for x in k] for c, k in zip(held["customer_id"], held["alert_codes"], strict=True)}
    rows = tasks[tasks["channel"].isin(WRITTEN_CHANNELS) & tasks["customer_id"].astype(str).isin(codes)]
    if rows.empty:
        return empty
    why = {c: ", ".join(k for k in ks if k.startswith("hold:")) for c, ks in codes.items()}
    reason = [
        f"held: open fraud/redirection alert on customer {c} ({why[str(c)]}); no payment details sent, "
        "route:alert_review"
        for c in rows["customer_id"]
    ]
    return pd.DataFrame(
        {"task_id": rows["task_id"].to_numpy(dtype=object), "reason": pd.Series(reason, dtype=object).to_numpy()}
    )

"""Early-warning holds on the day's decisions (issue 21, DESIGN.md §13).

An open fraud or redirection alert (``ml.alerts.lifecycle.HOLD_SIGNALS``) holds every written
contact of that customer, since reminders quote payment details (amounts, references, the payment
link) a fraudster could be waiting for: the decision becomes ``wait`` and the account goes to a
person (the alert's ``alert_review`` task). A call task by a collector is a person already and
stays. An open exposure alert suggests a credit hold. Every effect is in the reason codes.
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

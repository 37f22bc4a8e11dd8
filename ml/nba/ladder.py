"""The control group and its static dunning ladder (DESIGN.md §7: uplift measured continuously).

Control membership is a stable hash of ``(salt, customer_id)``: a customer stays in the same arm
every day and across re-runs, and changing the share only moves the customers near the boundary.

The ladder is Odoo's classic follow-up levels, keyed on the days past due of the customer's oldest
overdue invoice: -3 pre-due e-mail, +1 e-mail, +7 e-mail, +15 call, +30 letter (a statement of
account), +60 legal. The pre-due level (issue 22) is the reminder Odoo's follow-up levels allow with a
negative delay ("can be negative if you want to send a reminder before the invoice due date") and most
dunning ladders start with; for an account with nothing overdue it is keyed on its invoice due next
(days past due -3..0), so the comparison with the policy, which sends pre-due reminders, is fair.
The highest level reached fires once: it is done when the customer was contacted (or escalated) on or
after the day the level became due. A level the contact rules block today simply fires on a later day.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class LadderStep:
    """One follow-up level.

    Attributes:
        days: Days past due of the oldest invoice at which the level is due.
        action: ``email``, ``call_task``, ``statement`` (a written statement of account) or ``escalate``.
    """

    days: int
    action: str


ODOO_LADDER: tuple[LadderStep, ...] = (
    LadderStep(-3, "email"),
    LadderStep(1, "email"),
    LadderStep(7, "email"),
    LadderStep(15, "call_task"),
    LadderStep(30, "statement"),
    LadderStep(60, "escalate"),
)


def control_mask(customer_ids: pd.Series, share: float, salt: str = "cobranza-control") -> pd.Series:
    """Whether each customer belongs to the control group (stable hash, ``share`` of the population).

    Args:
        customer_ids: Customer ids.
        share: Fraction in control, 0-1.
        salt: Experiment salt (change it to start a new experiment).

    Returns:
        Boolean series aligned with ``customer_ids``.
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"control share must be within 0..1, got {share}")
    values = [
        int.from_bytes(hashlib.blake2b(f"{salt}:{cid}".encode(), digest_size=8).digest(), "big") / 2**64
        for cid in customer_ids.astype(str)
    ]
    return pd.Series(np.asarray(values) < share, index=customer_ids.index)


def ladder_step(
    max_days_past_due: pd.Series,
    last_touch_age_days: pd.Series,
    ladder: tuple[LadderStep, ...] = ODOO_LADDER,
) -> pd.DataFrame:
    """The ladder level due today for each account, if it has not been done yet.

    Args:
        max_days_past_due: Days past due of the oldest overdue invoice; for an account with nothing
            overdue, of its invoice due next (0 or negative: the pre-due level).
        last_touch_age_days: Days since the last contact or escalation (NaN if none).
        ladder: The levels, ascending.

    Returns:
        Frame with ``step_days`` (0 when no level is reached), ``step_action`` ("" when nothing is
        due) and ``step_done`` (the reached level was already done).
    """
    dpd = max_days_past_due.to_numpy(dtype=np.int64)
    days = np.array([s.days for s in ladder])
    actions = np.array([s.action for s in ladder], dtype=object)
    idx = np.searchsorted(days, dpd, side="right") - 1
    reached = idx >= 0
    step_days = np.where(reached, days[np.maximum(idx, 0)], 0)
    # the level became due (dpd - step_days) days ago; a touch since then means it is done
    age = last_touch_age_days.to_numpy(dtype=float)
    done = reached & ~np.isnan(age) & (age <= (dpd - step_days))
    action = np.where(reached & ~done, actions[np.maximum(idx, 0)], "")
    return pd.DataFrame(
        {"step_days": step_days, "step_action": action, "step_done": done}, index=max_days_past_due.index
    )

"""Agent capacity for human call tasks, allocated globally by value (DESIGN.md §7).

Every account whose best action is a call competes for ``agents x calls_per_agent`` slots. The slots
go to the accounts where calling is worth the most *over their next best action*: a call that is only
slightly better than an e-mail should not take an agent from an account where nothing else works.
The accounts that lose fall back to their next best action. The same allocation serves a daily
contact budget when one is configured.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def allocate_by_value(call_gain: pd.Series, capacity: int, what: str = "call capacity") -> pd.Series:
    """Which candidates get one of ``capacity`` slots today (agents for calls, or a contact budget).

    Args:
        call_gain: Per candidate account, the value of the slot over its next best action (same
            currency for all rows). Ties break on the index order.
        capacity: Slots available today (agents x calls per agent); negative is an error.
        what: Name of the limit, for the error message.

    Returns:
        Boolean series aligned with ``call_gain``: True for the accounts that keep their slot.
    """
    if capacity < 0:
        raise ValueError(f"{what} must be >= 0, got {capacity}; check nba.agents, nba.calls_per_agent or the budget")
    keep = pd.Series(False, index=call_gain.index)
    if capacity == 0 or call_gain.empty:
        return keep
    order = np.lexsort((np.arange(len(call_gain)), -call_gain.to_numpy(dtype=float)))
    keep.iloc[order[:capacity]] = True
    return keep

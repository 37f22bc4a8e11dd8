"""Behaviour-change scorer: a customer's recent lateness against its own history (issue 21).

Reads the point-in-time inputs of ``intermediate.int_alert_payment_behaviour`` (one row per
customer: median and MAD of days late over its history, median over the recent window, share of
recent invoices still open). The robust z-score ``(recent median - history median) / (1.4826 MAD)``
(the MAD floored at ``mad_floor_days``, so a metronome customer two days late is not a break) says
whether the customer broke from its own habit; scikit-learn's IsolationForest, fitted on all
customers' (z, shift in days, share open), ranks the breaks by how unusual they are across the book.
A finding needs ``z >= z_threshold`` and a shift of at least ``min_shift_days``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.ensemble import IsolationForest

BEHAVIOUR_INPUTS = "intermediate.int_alert_payment_behaviour"


@dataclass(frozen=True)
class BehaviourConfig:
    """Thresholds of the scorer (the ``alerts`` settings section)."""

    z_threshold: float = 3.0
    min_shift_days: float = 30.0
    mad_floor_days: float = 3.0
    min_history: int = 6
    min_recent: int = 2
    seed: int = 42


def score_behaviour(inputs: pd.DataFrame, config: BehaviourConfig | None = None) -> pd.DataFrame:
    """Score every customer and return the breaks, strongest first.

    Args:
        inputs: Rows of :data:`BEHAVIOUR_INPUTS`.
        config: Thresholds.

    Returns:
        customer_id, robust_z, shift_days, isolation_score (higher = more unusual), severity,
        description; only customers past the thresholds.
    """
    cfg = config or BehaviourConfig()
    cols = ["customer_id", "robust_z", "shift_days", "isolation_score", "severity", "description"]
    df = inputs[(inputs["n_history"] >= cfg.min_history) & (inputs["n_recent"] >= cfg.min_recent)].copy()
    if df.empty:
        return pd.DataFrame(columns=cols)
    mad = np.maximum(df["history_mad_days_late"].astype(float) * 1.4826, cfg.mad_floor_days)
    df["shift_days"] = df["recent_median_days_late"].astype(float) - df["history_median_days_late"].astype(float)
    df["robust_z"] = df["shift_days"] / mad
    x = np.column_stack([df["robust_z"], df["shift_days"], df["recent_share_open"].astype(float)])
    if len(df) >= 10:
        forest = IsolationForest(n_estimators=200, random_state=cfg.seed).fit(x)
        df["isolation_score"] = -forest.score_samples(x)
    else:
        df["isolation_score"] = df["robust_z"]
    hit = df[(df["robust_z"] >= cfg.z_threshold) & (df["shift_days"] >= cfg.min_shift_days)].copy()
    hit["severity"] = np.where(hit["robust_z"] >= 2 * cfg.z_threshold, "high", "medium")
    hit["description"] = [
        f"pays {s:.0f} days later than its habit (median {h:.0f} -> {r:.0f} days late, robust z {z:.1f})"
        for s, h, r, z in zip(
            hit["shift_days"],
            hit["history_median_days_late"],
            hit["recent_median_days_late"],
            hit["robust_z"],
            strict=True,
        )
    ]
    return hit.sort_values(["isolation_score", "customer_id"], ascending=[False, True])[cols].reset_index(drop=True)

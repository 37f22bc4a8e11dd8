"""Synthetic `ml_invoice_features` frames with a real, partly non-linear signal."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

LAST_DUE = date(2026, 11, 22)
SNAPSHOT = date(2026, 12, 22)


def make_features(n: int = 2400, *, seed: int = 1, days: int = 540, n_open: int = 60) -> pd.DataFrame:
    """Invoices due over `days` days up to LAST_DUE (labelled) plus `n_open` open ones after it."""
    rng = np.random.default_rng(seed)
    n_customers = 150
    propensity = rng.beta(2, 5, n_customers)
    total = n + n_open
    customer = rng.integers(0, n_customers, total)
    p = propensity[customer]
    offsets = np.concatenate([rng.integers(0, days, n), -rng.integers(1, 30, n_open)])
    due = [LAST_DUE - timedelta(days=int(o)) for o in offsets]
    prior_share = rng.binomial(8, p) / 8
    prior_share = np.where(rng.random(total) < 0.1, np.nan, prior_share)
    days_late_mean = 40 * p + rng.normal(0, 6, total)
    amount_ratio = rng.lognormal(0, 0.6, total)
    disputes = rng.poisson(0.4, total)
    terms = rng.choice([15, 30, 45, 60], total)
    wobble = rng.normal(0, 1, total)
    logit = (
        -2.2
        + 3.0 * p
        + 2.8 * ((amount_ratio > 1.5) & (disputes > 0))
        + 1.4 * (days_late_mean > 18)
        + 2.0 * (wobble**2 > 1.2)
        - 0.01 * (terms - 30)
    )
    late = rng.random(total) < 1 / (1 + np.exp(-logit))
    known = np.arange(total) < n
    return pd.DataFrame(
        {
            "invoice_id": [f"INV-{i:05d}" for i in range(total)],
            "customer_id": [f"C{c:03d}" for c in customer],
            "snapshot_date": SNAPSHOT,
            "due_date": due,
            "amount_total": [Decimal(f"{a * 1000:.2f}") for a in amount_ratio],
            "is_label_known": known,
            "is_late": pd.array(np.where(known, late, None), dtype="boolean"),
            "f_cust_prior_late_share": prior_share,
            "f_cust_days_late_mean": days_late_mean,
            "f_amount_vs_norm": amount_ratio,
            "f_open_disputes": pd.array(np.where(rng.random(total) < 0.05, None, disputes), dtype="Int64"),
            "f_terms_days": terms,
            "f_wobble": wobble,
            "f_noise": rng.normal(0, 1, total),
        }
    )


def with_blurred_feature(
    features: pd.DataFrame, column: str = "f_wobble", *, scale: float = 1.0, seed: int = 9
) -> pd.DataFrame:
    """Add noise to one informative feature: a model trained on it is weaker but still useful."""
    out = features.copy()
    out[column] = out[column] + np.random.default_rng(seed).normal(0, scale, len(out))
    return out

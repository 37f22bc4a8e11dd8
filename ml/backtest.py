"""Evaluating the delinquency model on an AR history: time split, baselines, bootstrap and backtest.

What ``cobranza evaluate-history`` reports once an export has landed and its features are built:
for each label, the model and both baselines (logistic regression, the customer's prior late rate)
on the same time split, the paired bootstrap of the AUC differences, whether the model beats both
baselines, and a rolling backtest over earlier test windows. Nothing is registered.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import duckdb
import pandas as pd

from ml import evaluate
from ml.train import fit_and_evaluate, rolling_backtest

HISTORY_LABELS = ("is_late", "is_paid_after_due")
#: Metrics reported for the model and each baseline.
REPORTED_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile")
BASELINES = ("logreg", "prior_rate")


def export_as_of(con: duckdb.DuckDBPyConnection) -> date:
    """The as-of date of a landed AR export: the day after the latest date it records.

    Raises:
        ValueError: The export landed no invoices.
    """
    latest = con.execute(
        "select greatest("
        " (select max(issue_date) from raw_erp.invoices),"
        " (select max(cast(updated_at as date)) from raw_erp.invoices),"
        " (select max(payment_date) from raw_erp.payment_allocations))"
    ).fetchall()[0][0]
    if latest is None:
        raise ValueError("the export landed no invoices: check the mapping's raw_erp.invoices stream")
    return latest + timedelta(days=1)


def evaluate_label(
    features: pd.DataFrame,
    *,
    label: str,
    late_days: int,
    test_days: int,
    seed: int,
    folds: int,
    backtest_days: int | None = None,
) -> dict[str, Any]:
    """The evaluation of one label (see :func:`evaluate_history_labels`); ``{"error"}`` when it cannot be fit."""
    try:
        fit = fit_and_evaluate(features, seed=seed, test_days=test_days, label=label)
    except ValueError as exc:
        return {"error": str(exc)}
    m = fit.metrics
    out: dict[str, Any] = {
        "windows": {
            "train": f"due before {fit.split.validation_window.start}",
            "validation": str(fit.split.validation_window),
            "calibration": str(fit.split.calibration_window),
            "test": str(fit.split.test_window),
        },
        "n": {k: int(m[f"n_{k}"]) for k in ("train", "validation", "calibration", "test")},
        "test_late_rate": round(m["test_late_rate"], 4),
        "model": {k: round(m[k], 4) for k in REPORTED_METRICS},
    }
    for name in BASELINES:
        if f"baseline_{name}_roc_auc" in m:
            out[f"baseline_{name}"] = {k: round(m[f"baseline_{name}_{k}"], 4) for k in REPORTED_METRICS}
    y_test = evaluate.labels(fit.split.test, label)
    out["auc_vs_baselines"] = {
        name: {k: round(v, 4) for k, v in evaluate.paired_auc_difference(y_test, fit.test_scores, scores).items()}
        for name, scores in fit.baseline_scores.items()
    }
    out["beats_both_baselines"] = all(
        m["roc_auc"] > m[f"baseline_{name}_roc_auc"] for name in BASELINES if f"baseline_{name}_roc_auc" in m
    )
    if folds > 1:
        bt = rolling_backtest(
            features, folds=folds, seed=seed, test_days=test_days, label=label, first=fit, window_days=backtest_days
        )
        out["backtest"] = {"window_days": backtest_days or test_days, "folds": bt.folds, "pooled": bt.pooled}
        out["beats_both_baselines_backtest"] = all(
            bt.pooled["model"]["roc_auc"] > bt.pooled[name]["roc_auc"] for name in BASELINES
        )
    if label != "is_late":
        # features built for this label: the customer's lateness record counts "late" as its label does
        out["note"] = "features and prior-rate baseline count late as paid after the due date, as this label does"
    return out


def evaluate_history_labels(
    features: pd.DataFrame | dict[str, pd.DataFrame],
    *,
    late_days: int,
    test_days: int,
    seed: int,
    folds: int,
    backtest_days: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Evaluate the model against both baselines for each history label.

    Args:
        features: ``marts.ml_invoice_features`` of the history, ordered by ``invoice_id``; or one
            frame per label, each built with the ``late_days`` its label uses (``is_paid_after_due``
            with 0), so that the features' lateness record and the label agree (issue 22).
        late_days: N of the label "paid more than N days after due or still open then".
        test_days: Length of the test, calibration and validation windows.
        seed: Random seed.
        folds: Test windows of the rolling backtest (the latest is the main split's; 1 = none).
        backtest_days: Length of each backtest window (default ``test_days``).

    Returns:
        ``{label: {"windows", "n", "test_late_rate", "model", "baseline_logreg", "baseline_prior_rate",
        "auc_vs_baselines", "beats_both_baselines", "backtest", "beats_both_baselines_backtest"}}``; a
        label whose windows are too small or single-class carries ``"error"`` instead.
    """
    # With N = 0 the two labels are the same thing; evaluate it once.
    labels = HISTORY_LABELS if late_days != 0 else HISTORY_LABELS[:1]
    by_label = features if isinstance(features, dict) else dict.fromkeys(labels, features)
    return {
        label: evaluate_label(
            by_label[label],
            label=label,
            late_days=late_days,
            test_days=test_days,
            seed=seed,
            folds=folds,
            backtest_days=backtest_days,
        )
        for label in labels
    }

"""Data preparation, time-based split and metrics for the delinquency model.

Pure functions over the `ml_invoice_features` mart frame (one row per invoice, see DESIGN.md §6):
which columns are features, how the labelled rows are split in time, and how a vector of scores is
judged (ROC AUC, PR AUC, Brier, log loss, lift at the top decile, a reliability table). No MLflow and
no XGBoost here, so the same code judges the candidate, the champion and the baselines.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

logger = logging.getLogger(__name__)

FEATURE_PREFIX = "f_"
PRIOR_LATE_SHARE_FEATURE = "f_cust_prior_late_share"

# Below these sizes an AUC is mostly noise; the numbers are code, not config (STYLE.md).
MIN_LABELLED_ROWS = 200
MIN_TRAIN_ROWS = 100
MIN_WINDOW_ROWS = 30

REQUIRED_COLUMNS = ("invoice_id", "customer_id", "due_date", "is_label_known", "is_late")


@dataclass(frozen=True)
class Window:
    """An inclusive range of due dates."""

    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


@dataclass(frozen=True)
class TimeSplit:
    """Labelled invoices split by due date into train / validation / test."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    validation_window: Window
    test_window: Window


def feature_columns(features: pd.DataFrame) -> list[str]:
    """Return the model's feature columns: every `f_` column, sorted by name.

    Args:
        features: A frame shaped like the `ml_invoice_features` mart.

    Returns:
        The sorted feature column names.

    Raises:
        ValueError: If the frame has no `f_` column.
    """
    columns = sorted(c for c in features.columns if str(c).startswith(FEATURE_PREFIX))
    if not columns:
        raise ValueError(
            f"no feature columns (names starting with {FEATURE_PREFIX!r}) among "
            f"{sorted(map(str, features.columns))}; check the ml_invoice_features mart"
        )
    return columns


def feature_matrix(features: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Select `columns` as a float64 frame (nullable ints, Decimals and NA become floats / NaN).

    Args:
        features: A frame shaped like the `ml_invoice_features` mart.
        columns: The feature columns, in model order.

    Returns:
        A float64 frame with exactly `columns`, index preserved.

    Raises:
        ValueError: If a column is missing or not numeric.
    """
    missing = [c for c in columns if c not in features.columns]
    if missing:
        raise ValueError(
            f"feature columns missing from the input: {missing}; the model expects {columns} "
            "(was the ml_invoice_features mart changed without retraining?)"
        )
    out = {}
    for column in columns:
        try:
            out[column] = pd.to_numeric(features[column]).astype("float64")
        except (TypeError, ValueError) as exc:
            raise ValueError(f"feature column {column!r} is not numeric: {exc}") from exc
    return pd.DataFrame(out, index=features.index, columns=columns)


def labels(frame: pd.DataFrame) -> np.ndarray:
    """Return `is_late` of labelled rows as a 0/1 int array."""
    return frame["is_late"].astype(bool).to_numpy(dtype=np.int64)


def _check_columns(features: pd.DataFrame) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in features.columns]
    if missing:
        raise ValueError(f"features frame lacks required columns {missing}; got {list(features.columns)}")


def _check_window(name: str, window: Window | None, frame: pd.DataFrame, minimum: int, hint: str) -> None:
    where = f"{name} window {window}" if window else f"{name} window (due dates before the validation window)"
    if len(frame) < minimum:
        raise ValueError(f"{where} has only {len(frame)} labelled invoices; need at least {minimum}. {hint}")
    positives = int(labels(frame).sum())
    if positives in (0, len(frame)):
        only = "late" if positives else "on time"
        raise ValueError(
            f"{where} has a single class: all {len(frame)} labelled invoices are {only}; "
            f"cannot train or measure AUC. {hint}"
        )


def time_split(features: pd.DataFrame, *, test_days: int) -> TimeSplit:
    """Split the labelled invoices by due date.

    The last `test_days` days of due dates (ending at the latest labelled due date) are the test
    window, the `test_days` before that the validation window (early stopping), earlier the train set.

    Args:
        features: A frame shaped like the `ml_invoice_features` mart.
        test_days: Length in days of the test and the validation windows.

    Returns:
        The split, with the window bounds.

    Raises:
        ValueError: On missing columns, too few labelled invoices, or a window with a single class;
            the message names the window and what to do.
    """
    if test_days < 1:
        raise ValueError(f"test_days must be >= 1, got {test_days}")
    _check_columns(features)
    known = features["is_label_known"].fillna(False).astype(bool)
    labelled = features.loc[known.to_numpy()].copy()
    unlabelled_late = labelled["is_late"].isna()
    if unlabelled_late.any():
        example = labelled.loc[unlabelled_late, "invoice_id"].iloc[0]
        raise ValueError(
            f"{int(unlabelled_late.sum())} invoices have is_label_known true but is_late null "
            f"(e.g. invoice_id {example!r}); fix the ml_invoice_features mart"
        )
    if len(labelled) < MIN_LABELLED_ROWS:
        raise ValueError(
            f"only {len(labelled)} labelled invoices (is_label_known true) of {len(features)}; "
            f"need at least {MIN_LABELLED_ROWS} to train. Load more invoice history first."
        )
    due = pd.to_datetime(labelled["due_date"]).dt.normalize()
    if due.isna().any():
        example = labelled.loc[due.isna().to_numpy(), "invoice_id"].iloc[0]
        raise ValueError(f"labelled invoice {example!r} has no due_date; fix the ml_invoice_features mart")
    last = due.max()
    test_start = last - pd.Timedelta(days=test_days - 1)
    validation_start = test_start - pd.Timedelta(days=test_days)
    test_window = Window(test_start.date(), last.date())
    validation_window = Window(validation_start.date(), (test_start - pd.Timedelta(days=1)).date())

    in_test = (due >= test_start).to_numpy()
    in_validation = ((due >= validation_start) & (due < test_start)).to_numpy()
    split = TimeSplit(
        train=labelled.loc[~in_test & ~in_validation],
        validation=labelled.loc[in_validation],
        test=labelled.loc[in_test],
        validation_window=validation_window,
        test_window=test_window,
    )
    hint = f"Lower test_days (now {test_days}) or load more history."
    _check_window("test", test_window, split.test, MIN_WINDOW_ROWS, hint)
    _check_window("validation", validation_window, split.validation, MIN_WINDOW_ROWS, hint)
    _check_window("train", None, split.train, MIN_TRAIN_ROWS, hint)
    logger.info(
        "time split: train=%d (due < %s), validation=%d (%s), test=%d (%s)",
        len(split.train),
        validation_window.start,
        len(split.validation),
        validation_window,
        len(split.test),
        test_window,
    )
    return split


def lift_top_decile(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Late rate among the 10 % highest scores divided by the overall late rate.

    Args:
        y_true: 0/1 labels.
        scores: Risk scores, higher = riskier.

    Returns:
        The lift (1.0 = no better than random); NaN when there are no positives.
    """
    y_true = np.asarray(y_true)
    base_rate = y_true.mean()
    if len(y_true) == 0 or base_rate == 0:
        return float("nan")
    top_n = max(1, int(np.ceil(0.1 * len(y_true))))
    # Stable sort so ties are broken the same way on every run.
    top = np.argsort(-np.asarray(scores), kind="stable")[:top_n]
    return float(y_true[top].mean() / base_rate)


def binary_metrics(y_true: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Ranking and probability metrics for one score vector.

    Args:
        y_true: 0/1 labels (both classes present).
        scores: Probabilities of being late, in [0, 1].

    Returns:
        `roc_auc`, `pr_auc` (average precision), `brier`, `log_loss`, `lift_top_decile`.
    """
    probabilities = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    return {
        "roc_auc": float(roc_auc_score(y_true, probabilities)),
        "pr_auc": float(average_precision_score(y_true, probabilities)),
        "brier": float(brier_score_loss(y_true, probabilities)),
        "log_loss": float(log_loss(y_true, probabilities, labels=[0, 1])),
        "lift_top_decile": lift_top_decile(y_true, probabilities),
    }


def calibration_table(y_true: np.ndarray, scores: np.ndarray, *, bins: int = 10) -> list[dict[str, float]]:
    """Reliability table: mean predicted vs observed late rate per equal-width score bin.

    Args:
        y_true: 0/1 labels.
        scores: Probabilities of being late.
        bins: Number of equal-width bins over [0, 1].

    Returns:
        One dict per non-empty bin with `bin_low`, `bin_high`, `n`, `mean_predicted`, `observed_rate`.
    """
    scores = np.asarray(scores, dtype=np.float64)
    y_true = np.asarray(y_true)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    rows = []
    for b in range(bins):
        mask = index == b
        if mask.any():
            rows.append(
                {
                    "bin_low": float(edges[b]),
                    "bin_high": float(edges[b + 1]),
                    "n": float(mask.sum()),
                    "mean_predicted": float(scores[mask].mean()),
                    "observed_rate": float(y_true[mask].mean()),
                }
            )
    return rows

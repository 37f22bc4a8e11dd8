"""Data preparation, time-based split and metrics for the delinquency model.

Pure functions over the `ml_invoice_features` mart frame (one row per invoice, see DESIGN.md §6):
which columns are features, which label is predicted, how the labelled rows are split in time
(train / validation / calibration / test by due date), how a vector of scores is judged (ROC AUC,
PR AUC, Brier, log loss, lift at the top decile, a reliability table), Platt calibration, and the
population stability index (PSI) used for drift. No MLflow and no XGBoost here, so the same code
judges the candidate, the champion and the baselines.
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

REQUIRED_COLUMNS = ("invoice_id", "customer_id", "due_date")

# Label column -> the column saying the label is observable (both built by the ml_invoice_features mart).
# `is_late`: paid more than late_days after due, or unpaid then; `is_paid_after_due`: any delay.
LABELS = {"is_late": "is_label_known", "is_paid_after_due": "is_after_due_known"}
DEFAULT_LABEL = "is_late"

PSI_BINS = 10
_PSI_FLOOR = 1e-4  # empty bins would make PSI infinite; this is the usual floor


@dataclass(frozen=True)
class Window:
    """An inclusive range of due dates."""

    start: date
    end: date

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


@dataclass(frozen=True)
class TimeSplit:
    """Labelled invoices split by due date into train / validation / calibration / test.

    Validation drives early stopping, calibration fits the probability calibration, test judges
    the model, the baselines and the champion; each window is later than the one before.
    """

    train: pd.DataFrame
    validation: pd.DataFrame
    calibration: pd.DataFrame
    test: pd.DataFrame
    validation_window: Window
    calibration_window: Window
    test_window: Window
    label: str = DEFAULT_LABEL


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


def labels(frame: pd.DataFrame, label: str = DEFAULT_LABEL) -> np.ndarray:
    """Return the label column (default `is_late`) of labelled rows as a 0/1 int array."""
    return frame[label].astype(bool).to_numpy(dtype=np.int64)


def _check_columns(features: pd.DataFrame, label: str) -> None:
    if label not in LABELS:
        raise ValueError(f"unknown label {label!r}; use one of {sorted(LABELS)}")
    missing = [c for c in (*REQUIRED_COLUMNS, label, LABELS[label]) if c not in features.columns]
    if missing:
        raise ValueError(f"features frame lacks required columns {missing}; got {list(features.columns)}")


def _check_window(
    name: str, window: Window | None, frame: pd.DataFrame, minimum: int, hint: str, label: str = DEFAULT_LABEL
) -> None:
    where = f"{name} window {window}" if window else f"{name} window (due dates before the validation window)"
    if len(frame) < minimum:
        raise ValueError(f"{where} has only {len(frame)} labelled invoices; need at least {minimum}. {hint}")
    positives = int(labels(frame, label).sum())
    if positives in (0, len(frame)):
        only = "late" if positives else "on time"
        raise ValueError(
            f"{where} has a single class: all {len(frame)} labelled invoices are {only}; "
            f"cannot train or measure AUC. {hint}"
        )


def time_split(features: pd.DataFrame, *, test_days: int, label: str = DEFAULT_LABEL) -> TimeSplit:
    """Split the labelled invoices by due date.

    The last `test_days` days of due dates (ending at the latest labelled due date) are the test
    window, the `test_days` before that the calibration window, the `test_days` before that the
    validation window (early stopping), earlier the train set. Features are as of each invoice's
    snapshot date (the mart guarantees it), so no window sees data from after its invoices' issue.

    Args:
        features: A frame shaped like the `ml_invoice_features` mart.
        test_days: Length in days of the test, calibration and validation windows.
        label: `is_late` (more than late_days after due, the default) or `is_paid_after_due`.

    Returns:
        The split, with the window bounds.

    Raises:
        ValueError: On missing columns, too few labelled invoices, or a window with a single class;
            the message names the window and what to do.
    """
    if test_days < 1:
        raise ValueError(f"test_days must be >= 1, got {test_days}")
    _check_columns(features, label)
    known_column = LABELS[label]
    known = features[known_column].fillna(False).astype(bool)
    labelled = features.loc[known.to_numpy()].copy()
    unlabelled = labelled[label].isna()
    if unlabelled.any():
        example = labelled.loc[unlabelled, "invoice_id"].iloc[0]
        raise ValueError(
            f"{int(unlabelled.sum())} invoices have {known_column} true but {label} null "
            f"(e.g. invoice_id {example!r}); fix the ml_invoice_features mart"
        )
    if len(labelled) < MIN_LABELLED_ROWS:
        raise ValueError(
            f"only {len(labelled)} labelled invoices ({known_column} true) of {len(features)}; "
            f"need at least {MIN_LABELLED_ROWS} to train. Load more invoice history first."
        )
    due = pd.to_datetime(labelled["due_date"]).dt.normalize()
    if due.isna().any():
        example = labelled.loc[due.isna().to_numpy(), "invoice_id"].iloc[0]
        raise ValueError(f"labelled invoice {example!r} has no due_date; fix the ml_invoice_features mart")
    last = due.max()
    day = pd.Timedelta(days=1)
    test_start = last - pd.Timedelta(days=test_days - 1)
    calibration_start = test_start - pd.Timedelta(days=test_days)
    validation_start = calibration_start - pd.Timedelta(days=test_days)
    test_window = Window(test_start.date(), last.date())
    calibration_window = Window(calibration_start.date(), (test_start - day).date())
    validation_window = Window(validation_start.date(), (calibration_start - day).date())

    in_test = (due >= test_start).to_numpy()
    in_calibration = ((due >= calibration_start) & (due < test_start)).to_numpy()
    in_validation = ((due >= validation_start) & (due < calibration_start)).to_numpy()
    split = TimeSplit(
        train=labelled.loc[(due < validation_start).to_numpy()],
        validation=labelled.loc[in_validation],
        calibration=labelled.loc[in_calibration],
        test=labelled.loc[in_test],
        validation_window=validation_window,
        calibration_window=calibration_window,
        test_window=test_window,
        label=label,
    )
    hint = f"Lower test_days (now {test_days}) or load more history."
    _check_window("test", test_window, split.test, MIN_WINDOW_ROWS, hint, label)
    _check_window("calibration", calibration_window, split.calibration, MIN_WINDOW_ROWS, hint, label)
    _check_window("validation", validation_window, split.validation, MIN_WINDOW_ROWS, hint, label)
    _check_window("train", None, split.train, MIN_TRAIN_ROWS, hint, label)
    logger.info(
        "time split on %s: train=%d (due < %s), validation=%d (%s), calibration=%d (%s), test=%d (%s)",
        label,
        len(split.train),
        validation_window.start,
        len(split.validation),
        validation_window,
        len(split.calibration),
        calibration_window,
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


# Resamples x rows held in memory at once by the bootstrap (float64: ~40 MB per array).
BOOTSTRAP_BLOCK_CELLS = 5_000_000


def paired_auc_difference(
    y_true: np.ndarray, scores: np.ndarray, other: np.ndarray, *, resamples: int = 2000, seed: int = 42
) -> dict[str, float]:
    """ROC AUC of ``scores`` minus that of ``other`` on the same rows, with a paired bootstrap 95 % interval.

    Both scorers are judged on the same resampled rows each time, so the interval reflects the
    difference between them, not the test window's own noise twice. An interval that contains 0
    means the test window cannot tell the two apart (small windows: a few hundred invoices).

    Args:
        y_true: 0/1 labels.
        scores: The candidate's scores.
        other: The reference's scores (e.g. a baseline).
        resamples: Bootstrap resamples (resamples missing a class are skipped).
        seed: Seed of the resampling.

    Returns:
        ``delta`` (point estimate), ``ci_low``, ``ci_high`` (2.5 % and 97.5 % percentiles) and
        ``p_better`` (share of resamples where the candidate's AUC is higher).
    """
    y = np.asarray(y_true).astype(int)
    a, b = np.asarray(scores, dtype=np.float64), np.asarray(other, dtype=np.float64)
    rng = np.random.default_rng(seed)
    n = len(y)
    # A resample is a row of multiplicities; AUCs of all resamples come from one sort per scorer.
    block = max(1, min(resamples, BOOTSTRAP_BLOCK_CELLS // max(n, 1)))
    deltas = []
    for start in range(0, resamples, block):
        rows = min(block, resamples - start)
        idx = rng.integers(0, n, (rows, n)) + (np.arange(rows) * n)[:, None]
        counts = np.bincount(idx.ravel(), minlength=rows * n).reshape(rows, n).astype(np.float64)
        auc_a, auc_b = _weighted_aucs(y, a, counts), _weighted_aucs(y, b, counts)
        both = ~np.isnan(auc_a)  # resamples missing a class have no AUC
        deltas.append(auc_a[both] - auc_b[both])
    d = np.concatenate(deltas)
    return {
        "delta": float(roc_auc_score(y, a) - roc_auc_score(y, b)),
        "ci_low": float(np.percentile(d, 2.5)),
        "ci_high": float(np.percentile(d, 97.5)),
        "p_better": float((d > 0).mean()),
    }


def _weighted_aucs(y: np.ndarray, scores: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """ROC AUC of `scores` for each row of `counts` (row multiplicities, e.g. bootstrap resamples).

    Ties count one half, as in `roc_auc_score`; NaN for a row without both classes.
    """
    order = np.argsort(scores, kind="mergesort")
    s, yy, c = scores[order], y[order], counts[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # groups of tied scores
    neg = np.add.reduceat(c * (yy == 0), starts, axis=1)
    pos = np.add.reduceat(c * (yy == 1), starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, (pos * (neg_below + 0.5 * neg)).sum(axis=1) / pairs, np.nan)


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


def _logit(scores: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(scores, dtype=np.float64), 1e-7, 1 - 1e-7)
    return np.log(p / (1 - p))


def fit_platt(y_true: np.ndarray, raw_scores: np.ndarray) -> tuple[float, float]:
    """Fit Platt scaling on the logit of raw scores: p = sigmoid(slope * logit(raw) + intercept).

    Platt (two parameters) rather than isotonic regression: a calibration window holds a few
    thousand invoices at most, where isotonic steps overfit; and a strictly increasing map keeps
    the ranking, so ROC AUC, PR AUC and lift are exactly those of the raw scores.

    Args:
        y_true: 0/1 labels of the calibration window (both classes present).
        raw_scores: The model's uncalibrated probabilities on the same rows.

    Returns:
        `(slope, intercept)`.
    """
    from sklearn.linear_model import LogisticRegression

    # Effectively unregularised (the two parameters are not the thing to shrink).
    model = LogisticRegression(C=1e6, max_iter=1000)
    model.fit(_logit(raw_scores).reshape(-1, 1), np.asarray(y_true))
    return float(model.coef_[0, 0]), float(model.intercept_[0])


def apply_platt(raw_scores: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """Map raw probabilities through a fitted Platt scaling (see `fit_platt`)."""
    return 1.0 / (1.0 + np.exp(-(slope * _logit(raw_scores) + intercept)))


def psi_reference(values: np.ndarray, *, bins: int = PSI_BINS) -> dict[str, list[float]]:
    """Describe a reference distribution for PSI: quantile bin edges and the share in each bin.

    Missing values get their own bin (a feature that starts arriving empty is drift too).

    Args:
        values: The reference values (e.g. a feature over the training window).
        bins: Number of quantile bins; fewer when the values have fewer distinct quantiles.

    Returns:
        `{"edges": inner edges, "fractions": share per bin, the last being the missing share}`.
    """
    values = np.asarray(values, dtype=np.float64)
    finite = values[~np.isnan(values)]
    if len(finite):
        quantiles = np.quantile(finite, np.linspace(0, 1, bins + 1)[1:-1], method="lower")
        edges = np.unique(quantiles)
    else:
        edges = np.array([], dtype=np.float64)
    return {"edges": [float(e) for e in edges], "fractions": _bin_fractions(values, edges).tolist()}


def _bin_fractions(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    missing = np.isnan(values)
    counts = np.bincount(np.searchsorted(edges, values[~missing], side="right"), minlength=len(edges) + 1)
    counts = np.append(counts, missing.sum()).astype(np.float64)
    return counts / max(len(values), 1)


def psi(reference: dict[str, list[float]], values: np.ndarray) -> float:
    """Population stability index of `values` against a `psi_reference`.

    PSI = sum over bins of (current - reference) * ln(current / reference); the usual reading is
    < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 a major shift.

    Args:
        reference: The output of `psi_reference` on the reference sample.
        values: The current sample.

    Returns:
        The PSI (NaN when `values` is empty).
    """
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return float("nan")
    expected = np.clip(np.asarray(reference["fractions"], dtype=np.float64), _PSI_FLOOR, None)
    actual = np.clip(_bin_fractions(values, np.asarray(reference["edges"], dtype=np.float64)), _PSI_FLOOR, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))

"""Split, metrics and fitting without MLflow."""

from __future__ import annotations

import json
import logging
from datetime import date

import numpy as np
import pandas as pd
import pytest
from delinquency_data import make_features

from ml import evaluate
from ml.train import fit_and_evaluate


def test_feature_columns_are_the_sorted_f_columns(features: pd.DataFrame) -> None:
    columns = evaluate.feature_columns(features)
    assert columns == sorted(columns)
    assert all(c.startswith("f_") for c in columns)
    assert "amount_total" not in columns and "is_late" not in columns


def test_feature_columns_missing_is_a_clear_error(features: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="no feature columns"):
        evaluate.feature_columns(features[["invoice_id", "due_date"]])


def test_feature_matrix_turns_nullable_ints_into_float_nan(features: pd.DataFrame) -> None:
    matrix = evaluate.feature_matrix(features, ["f_open_disputes"])
    assert matrix["f_open_disputes"].dtype == np.float64
    assert matrix["f_open_disputes"].isna().any()


def test_time_split_windows(features: pd.DataFrame) -> None:
    split = evaluate.time_split(features, test_days=90)
    assert str(split.test_window) == "2026-08-25..2026-11-22"
    assert str(split.calibration_window) == "2026-05-27..2026-08-24"
    assert str(split.validation_window) == "2026-02-26..2026-05-26"
    train_due = pd.to_datetime(split.train["due_date"])
    validation_due = pd.to_datetime(split.validation["due_date"])
    calibration_due = pd.to_datetime(split.calibration["due_date"])
    test_due = pd.to_datetime(split.test["due_date"])
    assert train_due.max() < validation_due.min() <= validation_due.max() < calibration_due.min()
    assert calibration_due.max() < test_due.min()
    assert split.train["is_label_known"].all() and split.test["is_label_known"].all()
    n_labelled = int(features["is_label_known"].sum())
    assert len(split.train) + len(split.validation) + len(split.calibration) + len(split.test) == n_labelled


def test_paid_after_due_label_uses_its_own_known_flag(features: pd.DataFrame) -> None:
    frame = features.copy()
    # Paid after due is known earlier than late-by-N: the open invoices' due dates have passed.
    frame["is_after_due_known"] = True
    frame["is_paid_after_due"] = frame["is_late"].fillna(True) | (frame["f_noise"] > 1.0)
    split = evaluate.time_split(frame, test_days=90, label="is_paid_after_due")
    assert split.label == "is_paid_after_due"
    assert len(split.train) + len(split.validation) + len(split.calibration) + len(split.test) == len(frame)
    late_known = split.test.loc[split.test["is_label_known"]]
    assert evaluate.labels(split.test, "is_paid_after_due").mean() > evaluate.labels(late_known).mean()
    with pytest.raises(ValueError, match=r"lacks required columns \['is_paid_after_due', 'is_after_due_known'\]"):
        evaluate.time_split(features, test_days=90, label="is_paid_after_due")
    with pytest.raises(ValueError, match="unknown label 'is_on_time'"):
        evaluate.time_split(features, test_days=90, label="is_on_time")


def test_platt_calibration_fixes_overconfidence_and_keeps_the_ranking() -> None:
    rng = np.random.default_rng(3)
    truth = rng.uniform(0.05, 0.6, 5000)
    y = (rng.random(5000) < truth).astype(int)
    # An overconfident model: right ranking, probabilities pushed towards 0 and 1.
    logit = np.log(truth / (1 - truth))
    overconfident = 1 / (1 + np.exp(-3 * (logit + 0.5)))
    slope, intercept = evaluate.fit_platt(y, overconfident)
    calibrated = evaluate.apply_platt(overconfident, slope, intercept)
    assert 0.2 < slope < 0.5
    before, after = evaluate.binary_metrics(y, overconfident), evaluate.binary_metrics(y, calibrated)
    assert after["brier"] < before["brier"] and after["log_loss"] < before["log_loss"]
    assert after["roc_auc"] == pytest.approx(before["roc_auc"])
    assert abs(calibrated.mean() - y.mean()) < 0.01


def test_psi_is_zero_on_the_same_distribution_and_large_on_a_shift() -> None:
    rng = np.random.default_rng(5)
    reference = evaluate.psi_reference(rng.normal(0, 1, 20_000))
    assert len(reference["edges"]) == 9 and len(reference["fractions"]) == 11
    assert evaluate.psi(reference, rng.normal(0, 1, 5_000)) < 0.01
    assert 0.1 < evaluate.psi(reference, rng.normal(0.5, 1, 5_000)) < 0.5
    assert evaluate.psi(reference, rng.normal(2, 1, 5_000)) > 1.0
    # Missing values are a bin of their own: a feature that stops arriving is drift.
    half_missing = np.where(rng.random(5_000) < 0.5, np.nan, rng.normal(0, 1, 5_000))
    assert evaluate.psi(reference, half_missing) > 1.0
    assert np.isnan(evaluate.psi(reference, np.array([])))
    # A discrete feature gets fewer, unique edges.
    assert evaluate.psi_reference(np.array([1.0, 1.0, 2.0, 2.0, 3.0] * 100))["edges"] == [1.0, 2.0, 3.0]


def test_too_little_data_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"only 150 labelled invoices .*need at least 200"):
        evaluate.time_split(make_features(n=150), test_days=90)


def test_single_class_window_is_a_clear_error(features: pd.DataFrame) -> None:
    frame = features.copy()
    in_test = pd.to_datetime(frame["due_date"]) >= pd.Timestamp(date(2026, 8, 25))
    frame.loc[in_test & frame["is_label_known"], "is_late"] = False
    with pytest.raises(ValueError, match=r"test window 2026-08-25\.\.2026-11-22 has a single class"):
        evaluate.time_split(frame, test_days=90)


def test_known_label_without_value_is_a_clear_error(features: pd.DataFrame) -> None:
    frame = features.copy()
    frame.loc[0, "is_late"] = None
    with pytest.raises(ValueError, match="is_label_known true but is_late null"):
        evaluate.time_split(frame, test_days=90)


def test_lift_top_decile() -> None:
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 1])
    scores = np.linspace(1, 0, 10)  # the first invoice is the riskiest
    assert evaluate.lift_top_decile(y, scores) == pytest.approx(1.0 / 0.2)
    assert np.isnan(evaluate.lift_top_decile(np.zeros(5), np.ones(5)))


def test_calibration_table_counts_every_row() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random(500)
    y = (rng.random(500) < scores).astype(int)
    table = evaluate.calibration_table(y, scores)
    assert sum(row["n"] for row in table) == 500
    assert all(abs(row["mean_predicted"] - row["observed_rate"]) < 0.2 for row in table)


def test_fit_has_real_signal_and_beats_baselines(features: pd.DataFrame) -> None:
    result = fit_and_evaluate(features, seed=42)
    metrics = result.metrics
    assert metrics["roc_auc"] > 0.7
    assert metrics["roc_auc"] > metrics["baseline_logreg_roc_auc"]
    assert metrics["roc_auc"] > metrics["baseline_prior_rate_roc_auc"]
    assert metrics["pr_auc"] > metrics["baseline_logreg_pr_auc"]
    assert metrics["lift_top_decile"] > 1.5
    assert 0 < metrics["brier"] < 0.25
    for name in ("logreg", "prior_rate"):
        for key in ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile"):
            assert np.isfinite(metrics[f"baseline_{name}_{key}"])
    assert result.model.get_booster().feature_names == evaluate.feature_columns(features)
    # Calibrated on its own window: the test scores are the Platt map of the raw ones.
    calibration = json.loads(result.model.get_booster().attr("calibration"))
    np.testing.assert_allclose(
        result.test_scores,
        evaluate.apply_platt(result.raw_test_scores, calibration["slope"], calibration["intercept"]),
    )
    assert metrics["n_calibration"] >= 30
    reference = json.loads(result.model.get_booster().attr("drift_reference"))
    assert set(reference) == {*evaluate.feature_columns(features), "__score__"}


def test_same_data_and_seed_give_the_same_metrics(features: pd.DataFrame) -> None:
    first = fit_and_evaluate(features, seed=7)
    second = fit_and_evaluate(features, seed=7)
    assert first.metrics == second.metrics
    np.testing.assert_array_equal(first.test_scores, second.test_scores)


def test_prior_rate_baseline_skipped_without_its_column(
    features: pd.DataFrame, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="ml.train"):
        result = fit_and_evaluate(features.drop(columns=["f_cust_prior_late_share"]))
    assert "baseline_prior_rate_roc_auc" not in result.metrics
    assert "skipping the prior-late-rate baseline" in caplog.text

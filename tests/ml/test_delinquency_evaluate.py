"""Split, metrics and fitting without MLflow."""

from __future__ import annotations

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
    assert str(split.validation_window) == "2026-05-27..2026-08-24"
    train_due = pd.to_datetime(split.train["due_date"])
    validation_due = pd.to_datetime(split.validation["due_date"])
    test_due = pd.to_datetime(split.test["due_date"])
    assert train_due.max() < validation_due.min() <= validation_due.max() < test_due.min()
    assert split.train["is_label_known"].all() and split.test["is_label_known"].all()
    n_labelled = int(features["is_label_known"].sum())
    assert len(split.train) + len(split.validation) + len(split.test) == n_labelled


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
    assert metrics["lift_top_decile"] > 1.5
    assert 0 < metrics["brier"] < 0.25
    assert result.model.get_booster().feature_names == evaluate.feature_columns(features)


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

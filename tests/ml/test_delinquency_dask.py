"""Distributed training path: `xgboost.dask` on a local Dask cluster (two worker processes on 127.0.0.1)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ml import evaluate
from ml.train import fit_and_evaluate

pytestmark = pytest.mark.slow


def test_xgboost_dask_trains_a_model_as_good_as_the_local_one(features: pd.DataFrame) -> None:
    from distributed import LocalCluster
    from xgboost import XGBClassifier

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    ) as cluster:
        distributed = fit_and_evaluate(features, seed=42, dask_scheduler=cluster.scheduler_address)
    local = fit_and_evaluate(features, seed=42)
    model = distributed.model
    # The same flavor as a local fit, so logging, calibration and scoring do not change.
    assert type(model) is XGBClassifier
    assert model.get_booster().feature_names == evaluate.feature_columns(features)
    assert json.loads(model.get_booster().attr("calibration"))["method"] == "platt"
    assert model.best_iteration > 5
    metrics = distributed.metrics
    assert metrics["roc_auc"] > metrics["baseline_logreg_roc_auc"]
    assert metrics["roc_auc"] > metrics["baseline_prior_rate_roc_auc"]
    assert abs(metrics["roc_auc"] - local.metrics["roc_auc"]) < 0.03
    assert model.predict_proba(evaluate.feature_matrix(features.head(5), model.get_booster().feature_names)).shape == (
        5,
        2,
    )

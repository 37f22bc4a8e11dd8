"""Rolling-origin backtest and monotone constraints of the delinquency model (synthetic features)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from delinquency_data import make_features

from ml import evaluate
from ml.train import MONOTONE_INCREASING, fit_and_evaluate, monotone_constraints, rolling_backtest


def test_backtest_folds_are_consecutive_disjoint_windows_pooled_whole() -> None:
    features = make_features(n=2400, days=540)
    # 540 days hold three folds of four 90-day windows; the fourth fold has no train window left.
    bt = rolling_backtest(features, folds=4, test_days=90)
    folds = [f for f in bt.folds if "error" not in f]
    assert [f["fold"] for f in folds] == [0, 1, 2]
    assert [f["fold"] for f in bt.folds if "error" in f] == [3], "a fold without history is reported, not pooled"
    windows = [tuple(pd.Timestamp(d) for d in f["test"].split("..")) for f in folds]
    for (start, _), (_, earlier_end) in zip(windows, windows[1:], strict=False):
        assert earlier_end < start, f"test windows overlap: {windows}"
    assert bt.pooled["n_test"] == sum(f["n_test"] for f in folds) and bt.pooled["n_folds"] == 3
    # Fold 0 is the production split itself.
    first = fit_and_evaluate(features, test_days=90)
    assert folds[0]["roc_auc"]["model"] == pytest.approx(first.metrics["roc_auc"], abs=1e-4)
    assert folds[0]["n_test"] == len(first.split.test)
    for name in ("logreg", "prior_rate"):
        d = bt.pooled["auc_vs_baselines"][name]
        assert d["delta"] == pytest.approx(bt.pooled["model"]["roc_auc"] - bt.pooled[name]["roc_auc"], abs=2e-4)
        assert 0 <= bt.pooled["folds_won"][name] <= 3
    with pytest.raises(ValueError, match="folds must be >= 1"):
        rolling_backtest(features, folds=0)


def test_the_model_never_lowers_the_risk_when_the_lateness_record_worsens() -> None:
    features = make_features(n=2400, days=540)
    assert monotone_constraints(["f_a", "f_cust_prior_late_share", "f_z"]) == "(0,1,0)"
    assert "f_cust_prior_late_share" in MONOTONE_INCREASING
    fit = fit_and_evaluate(features, test_days=90)
    x = evaluate.feature_matrix(fit.split.test, fit.feature_columns).head(200)
    previous = None
    for share in np.linspace(0, 1, 11):
        scores = fit.model.predict_proba(x.assign(f_cust_prior_late_share=share))[:, 1]
        if previous is not None:
            assert (scores >= previous - 1e-7).all(), f"risk fell when the prior late share rose to {share:.1f}"
        previous = scores

"""Model lifecycle against a real local MLflow store and a real DuckDB warehouse.

Two models are trained once for the module: v1 on a blurred feature (weaker, first champion) and
v2 on the clean data (beats v1 on the same test window). Then: rollback to v1, re-judging v2 with
`evaluate_and_promote` (promoted again, idempotently), contributions, customer risk, PSI drift,
and the daily scoring stage writing its four tables, a drifted feature flagging the next retrain.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from delinquency_data import SNAPSHOT, with_blurred_feature

from ml import evaluate, registry
from ml.score import (
    SCORE_FEATURE,
    customer_risk,
    explain_invoices,
    feature_drift,
    model_scores,
)
from ml.train import TrainResult, evaluate_and_promote, train_and_register


@dataclass
class Lifecycle:
    tracking_uri: str
    root: Path
    weak: TrainResult
    better: TrainResult


@pytest.fixture(scope="module")
def lifecycle(empty_store: Path, tmp_path_factory: pytest.TempPathFactory, features: pd.DataFrame) -> Lifecycle:
    root = tmp_path_factory.mktemp("lifecycle")
    shutil.copyfile(empty_store, root / "mlflow.db")
    uri = f"sqlite:///{root / 'mlflow.db'}"

    def train(frame: pd.DataFrame) -> TrainResult:
        return train_and_register(
            frame,
            tracking_uri=uri,
            artifact_location=str(root / "artifacts"),
            seed=42,
            late_days=30,
            tags={"simulator_seed": "42"},
        )

    return Lifecycle(uri, root, train(with_blurred_feature(features, scale=1.5)), train(features))


def _open(features: pd.DataFrame) -> pd.DataFrame:
    return features.loc[~features["is_label_known"]].reset_index(drop=True)


def test_run_logs_calibration_baselines_and_tags(lifecycle: Lifecycle) -> None:
    client = registry.client(lifecycle.tracking_uri)
    run = client.get_run(lifecycle.better.run_id)
    tags, metrics, params = run.data.tags, run.data.metrics, run.data.params
    assert tags["simulator_seed"] == "42" and tags["label"] == "is_late"
    assert tags["git_commit"] != "" and tags["calibration_window"] == "2026-05-27..2026-08-24"
    assert params["late_days"] == "30" and params["calibration"] == "platt"
    for key in ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile", "uncalibrated_brier"):
        assert key in metrics
    for name in ("logreg", "prior_rate"):
        assert {f"baseline_{name}_{k}" for k in ("roc_auc", "pr_auc", "brier", "log_loss")} <= set(metrics)
    model_info = client.get_model_version(registry.MODEL_NAME, lifecycle.better.model_version)
    assert model_info.tags["baseline_logreg_roc_auc"] == f"{metrics['baseline_logreg_roc_auc']:.4f}"


def test_rollback_then_promote_the_better_version_again(lifecycle: Lifecycle, features: pd.DataFrame) -> None:
    uri = lifecycle.tracking_uri
    assert lifecycle.better.promoted and registry.champion_version(uri) == "2"
    assert registry.rollback(uri) == "1"
    assert registry.champion_version(uri) == "1"
    with pytest.raises(LookupError, match="no challenger to promote"):
        evaluate_and_promote(features, tracking_uri=uri)

    result = evaluate_and_promote(features, tracking_uri=uri, version="2")
    assert result["promoted"] and result["champion_version"] == "2"
    assert result["reason"].startswith("v2 AUC") and "beats champion v1" in result["reason"]
    # Re-judged on the same window with the same calibrated scores: the same AUC as at training.
    assert result["metrics"]["roc_auc"] == pytest.approx(lifecycle.better.metrics["roc_auc"])
    again = evaluate_and_promote(features, tracking_uri=uri, version="2")
    assert again["promoted"] and again["reason"] == "v2 is already champion"
    info = registry.champion_info(uri)
    assert info["version"] == "2" and "beats champion v1" in info["promotion_decision"]
    with pytest.raises(LookupError, match="has no version '9'"):
        evaluate_and_promote(features, tracking_uri=uri, version="9")


def test_scores_are_calibrated_probabilities(lifecycle: Lifecycle, features: pd.DataFrame) -> None:
    model, _ = registry.load_champion(lifecycle.tracking_uri)
    split = evaluate.time_split(features, test_days=90)
    scores = model_scores(model, split.test)
    raw = model.predict_proba(evaluate.feature_matrix(split.test, evaluate.feature_columns(features)))[:, 1]
    assert not np.allclose(scores, raw)
    # Calibrated on an earlier window, the mean predicted risk is close to the observed late rate.
    assert abs(scores.mean() - evaluate.labels(split.test).mean()) < 0.05


def test_contributions_explain_the_difference_in_margin(lifecycle: Lifecycle, features: pd.DataFrame) -> None:
    model, version = registry.load_champion(lifecycle.tracking_uri)
    rows = _open(features).head(40)
    columns = evaluate.feature_columns(features)
    top3 = explain_invoices(model, version, rows, top_k=3)
    assert len(top3) == 3 * len(rows) and set(top3["model_version"]) == {version}
    assert top3.groupby("invoice_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3]).all()
    magnitude = top3.assign(a=top3["contribution"].abs()).pivot(index="invoice_id", columns="rank", values="a")
    assert (magnitude[1] >= magnitude[2]).all() and (magnitude[2] >= magnitude[3]).all()
    # All contributions of an invoice sum to its margin minus a common bias: differences must match.
    every = explain_invoices(model, version, rows, top_k=len(columns))
    totals = every.groupby("invoice_id", sort=False)["contribution"].sum().reindex(rows["invoice_id"])
    margin = model.predict(evaluate.feature_matrix(rows, columns), output_margin=True)
    np.testing.assert_allclose(np.diff(totals.to_numpy()), np.diff(margin), atol=1e-4)
    first = rows.iloc[0]
    row = every.loc[(every["invoice_id"] == first["invoice_id"]) & (every["feature"] == "f_wobble")]
    assert row["feature_value"].iloc[0] == pytest.approx(first["f_wobble"])


def test_customer_risk_rolls_up_exact_amounts() -> None:
    scores = pd.DataFrame(
        {
            "invoice_id": ["A", "B", "C"],
            "customer_id": ["C1", "C1", "C2"],
            "risk_score": [0.5, 0.1, 0.9],
            "model_version": "7",
        }
    )
    amounts = pd.DataFrame(
        {
            "invoice_id": ["A", "B", "C"],
            "currency": ["USD", "USD", "EUR"],
            "amount_open": [Decimal("100.10"), Decimal("300.00"), Decimal("10.00")],
        }
    )
    out = customer_risk(scores, amounts).set_index("customer_id")
    assert out.loc["C1", "n_open_invoices"] == 2 and out.loc["C1", "amount_open"] == Decimal("400.10")
    assert out.loc["C1", "max_risk"] == 0.5
    assert out.loc["C1", "amount_weighted_risk"] == pytest.approx((50.05 + 30.0) / 400.10)
    assert out.loc["C1", "expected_late_amount"] == Decimal("80.05")
    assert out.loc["C2", "currency"] == "EUR" and out.loc["C2", "expected_late_amount"] == Decimal("9.00")


def test_drift_is_quiet_on_training_like_data_and_flags_a_shift(lifecycle: Lifecycle, features: pd.DataFrame) -> None:
    model, _ = registry.load_champion(lifecycle.tracking_uri)
    split = evaluate.time_split(features, test_days=90)
    # The reference is the training run's test window: the same rows give PSI 0, older ones little.
    same = feature_drift(model, split.test, threshold=0.25).set_index("feature")
    assert same["psi"].max() < 1e-9 and not same["is_drifted"].any()
    older = feature_drift(model, split.train, threshold=0.25).set_index("feature")
    assert older.loc[evaluate.feature_columns(features), "psi"].max() < 0.1
    recent = pd.concat([split.validation, split.calibration, split.test])
    shifted = feature_drift(model, recent.assign(f_wobble=recent["f_wobble"] + 2), threshold=0.25).set_index("feature")
    assert shifted.loc["f_wobble", "is_drifted"] and shifted.loc["f_wobble", "psi"] > 1
    assert not shifted.drop(index=["f_wobble", SCORE_FEATURE])["is_drifted"].any()
    few = feature_drift(model, recent.head(50).assign(f_wobble=5.0), threshold=0.25).set_index("feature")
    assert few.loc["f_wobble", "psi"] > 1 and not few.loc["f_wobble", "is_drifted"]  # too few rows to flag


def _warehouse(path: Path, features: pd.DataFrame, *, shift: float = 0.0) -> None:
    import duckdb

    open_rows = _open(features).drop(columns=["is_late", "is_label_known"])
    ledger = pd.DataFrame(
        {
            "invoice_id": open_rows["invoice_id"],
            "status": "posted",
            "currency": "USD",
            "amount_open": open_rows["amount_total"],
        }
    )
    history = features.assign(f_wobble=features["f_wobble"] + shift)
    with duckdb.connect(str(path)) as con:
        con.execute("create schema if not exists marts")
        for name, frame in (
            ("ml_open_invoice_features", open_rows),
            ("fct_invoices", ledger),
            ("ml_invoice_features", history),
        ):
            con.register("frame", frame)
            con.execute(f"create or replace table marts.{name} as select * from frame")
            con.unregister("frame")


def test_daily_scoring_writes_its_tables_and_drift_flags_a_retrain(
    lifecycle: Lifecycle, features: pd.DataFrame, tmp_path: Path
) -> None:
    import duckdb

    from cobranza.settings import load_settings
    from flows import stages

    settings = load_settings(data_dir=tmp_path)
    settings.model.tracking_uri = lifecycle.tracking_uri
    settings.model.artifact_location = lifecycle.root / "artifacts"
    settings.model.test_days = 90
    _warehouse(settings.duckdb_path, features)
    day = date.fromordinal(SNAPSHOT.toordinal() + 1)
    ctx = stages.make_context(settings, day)
    champion = registry.champion_version(lifecycle.tracking_uri)

    quiet = stages.score_open_invoices.fn(ctx)
    n_open = int((~features["is_label_known"]).sum())
    assert quiet["scored"] == n_open and quiet["model_version"] == champion
    assert quiet["drift"]["checked"] and not quiet["drift"]["retrain_flag"]
    with duckdb.connect(str(settings.duckdb_path)) as con:
        counts = {
            t: con.execute(f"select count(*), min(model_version), max(model_version) from ml_scores.{t}").fetchall()[0]
            for t in ("invoice_scores", "invoice_explanations", "customer_risk", "score_drift")
        }
    assert counts["invoice_scores"] == (n_open, champion, champion)
    assert counts["invoice_explanations"][0] == 3 * n_open
    assert counts["customer_risk"][0] == quiet["customers"] == _open(features)["customer_id"].nunique()
    assert counts["score_drift"][0] == len(evaluate.feature_columns(features)) + 1
    # The champion is recent and nothing drifted: no retrain.
    assert stages.train_model.fn(ctx)["trained"] is False

    # The newest invoices arrive with a shifted feature: flagged, reported, and the next run retrains.
    _warehouse(settings.duckdb_path, features, shift=3.0)
    drifted = stages.score_open_invoices.fn(ctx)
    assert drifted["drift"]["retrain_flag"] and "f_wobble" in drifted["drift"]["drifted"]
    retrained = stages.train_model.fn(ctx)
    assert retrained["trained"] is True
    assert retrained["retrain_reason"].startswith(f"drift flagged for champion v{champion}: ")
    assert "f_wobble" in retrained["retrain_reason"]

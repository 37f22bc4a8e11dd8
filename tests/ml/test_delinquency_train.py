"""End to end against a local SQLite MLflow store: train, register, promote, load, score.

Three models are logged once for the module (~6 s each): a weaker one (champion v1), a better one
(v2 beats v1 on the same test window) and v3, the same data and seed as v2 (identical metrics, so it
cannot beat v2 and becomes challenger).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from delinquency_data import make_features, with_blurred_feature

from ml import registry
from ml.score import champion_exists, load_champion, score_invoices
from ml.train import TrainResult, train_and_register

TAGS = {"flow_run_id": "test-run"}


@dataclass
class Story:
    tracking_uri: str
    artifacts: Path
    weak: TrainResult
    better: TrainResult
    repeat: TrainResult


@pytest.fixture(scope="module")
def story(empty_store: Path, tmp_path_factory: pytest.TempPathFactory, features: pd.DataFrame) -> Story:
    root = tmp_path_factory.mktemp("mlflow_e2e")
    shutil.copyfile(empty_store, root / "mlflow.db")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    artifacts = root / "artifacts"

    def train(frame: pd.DataFrame) -> TrainResult:
        return train_and_register(
            frame, tracking_uri=tracking_uri, artifact_location=str(artifacts), seed=42, tags=TAGS
        )

    weak = train(with_blurred_feature(features))
    better = train(features)
    repeat = train(features)
    return Story(tracking_uri, artifacts, weak, better, repeat)


def test_first_model_becomes_champion(story: Story) -> None:
    weak = story.weak
    assert weak.model_version == "1"
    assert weak.promoted and weak.champion_version == "1"
    assert "there is no champion yet" in weak.reason
    assert weak.metrics["roc_auc"] > 0.65


def test_better_model_is_promoted_on_the_same_window(story: Story) -> None:
    better = story.better
    assert better.promoted and better.champion_version == "2"
    assert better.metrics["roc_auc"] > 0.7
    assert better.reason == (
        f"v2 AUC {better.metrics['roc_auc']:.3f} beats champion v1 AUC "
        f"{better.metrics['champion_roc_auc_same_window']:.3f} on test window 2026-08-25..2026-11-22"
    )


def test_same_data_and_seed_reproduce_metrics_and_do_not_promote(story: Story) -> None:
    better, repeat = story.better, story.repeat
    model_metrics = {k: v for k, v in better.metrics.items() if k != "champion_roc_auc_same_window"}
    assert {k: repeat.metrics[k] for k in model_metrics} == model_metrics
    # The champion (v2) scored on the same window gives exactly v2's own AUC.
    assert repeat.metrics["champion_roc_auc_same_window"] == better.metrics["roc_auc"]
    assert not repeat.promoted and repeat.champion_version == "2"
    assert "does not beat champion v2" in repeat.reason
    aliases = registry.client(story.tracking_uri).get_registered_model(registry.MODEL_NAME).aliases
    assert {k: str(v) for k, v in aliases.items()} == {"champion": "2", "challenger": "3"}


def test_run_is_logged_with_params_tags_and_artifacts(story: Story) -> None:
    client = registry.client(story.tracking_uri)
    run = client.get_run(story.better.run_id)
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "cobranza/delinquency"
    assert experiment.artifact_location == str(story.artifacts)
    assert run.data.tags["flow_run_id"] == "test-run"
    assert run.data.tags["data_snapshot_date"] == "2026-12-22"
    assert run.data.tags["test_window"] == "2026-08-25..2026-11-22"
    assert run.data.params["tree_method"] == "hist" and run.data.params["nthread"] == "2"
    assert run.data.params["seed"] == "42"
    for key in ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile", "baseline_logreg_roc_auc"):
        assert key in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(story.better.run_id)}
    assert {"feature_importance.png", "calibration.png", "calibration.json", "feature_columns.json"} <= artifacts
    version = client.get_model_version(registry.MODEL_NAME, "2")
    assert version.tags["test_window"] == "2026-08-25..2026-11-22"
    assert version.run_id == story.better.run_id


def test_load_champion_by_alias(story: Story, features: pd.DataFrame) -> None:
    assert champion_exists(story.tracking_uri)
    model, version = load_champion(story.tracking_uri)
    assert version == "2"
    assert model.get_booster().feature_names == sorted(c for c in features.columns if c.startswith("f_"))


def test_score_invoices_uses_the_champion(story: Story, features: pd.DataFrame) -> None:
    open_invoices = features.loc[~features["is_label_known"]].drop(columns=["is_late"])
    scores = score_invoices(open_invoices, tracking_uri=story.tracking_uri)
    assert list(scores.columns) == ["invoice_id", "customer_id", "risk_score", "model_version"]
    assert scores["invoice_id"].tolist() == open_invoices["invoice_id"].tolist()
    assert scores["risk_score"].between(0, 1).all()
    assert scores["risk_score"].nunique() > 10
    assert set(scores["model_version"]) == {"2"}


def test_score_invoices_names_missing_features(story: Story, features: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match=r"feature columns missing from the input: \['f_wobble'\]"):
        score_invoices(features.drop(columns=["f_wobble"]).head(5), tracking_uri=story.tracking_uri)
    empty = score_invoices(features.head(0), tracking_uri=story.tracking_uri)
    assert empty.empty and list(empty.columns) == ["invoice_id", "customer_id", "risk_score", "model_version"]


def test_score_without_champion_is_a_clear_error(tracking_uri: str, features: pd.DataFrame) -> None:
    assert not champion_exists(tracking_uri)
    with pytest.raises(registry.NoChampionError, match="no champion model registered.*run `cobranza train` first"):
        score_invoices(features.head(5), tracking_uri=tracking_uri)


def test_too_little_data_fails_before_touching_mlflow(tracking_uri: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only 120 labelled invoices"):
        train_and_register(make_features(n=120), tracking_uri=tracking_uri, artifact_location=str(tmp_path))
    assert registry.client(tracking_uri).get_experiment_by_name(registry.EXPERIMENT_NAME) is None

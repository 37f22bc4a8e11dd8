"""Train, evaluate, log and register the invoice delinquency model (XGBoost + MLflow).

Input is the dbt mart `ml_invoice_features` as a DataFrame (one row per invoice; features are the
`f_` columns). The model is an `xgboost.XGBClassifier` (hist, 2 threads, seeded) with early stopping
on a validation window; it is judged on a later test window against two baselines (logistic
regression on the same features and the customer's prior late share), logged to the MLflow
experiment `cobranza/delinquency` and registered as `cobranza_delinquency`. Promotion is decided in
`ml.registry` after the current champion is scored on the same test window (DESIGN.md §6).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import numpy as np
import pandas as pd

from ml import evaluate, registry

logger = logging.getLogger(__name__)

XGB_PARAMS: dict[str, Any] = {
    "n_estimators": 600,
    "learning_rate": 0.05,
    "max_depth": 4,
    "min_child_weight": 2.0,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "reg_lambda": 1.0,
    "tree_method": "hist",
    "n_jobs": 2,  # nthread: the sklearn wrapper's name for it
    "objective": "binary:logistic",
    "eval_metric": "logloss",
    "early_stopping_rounds": 40,
}
INPUT_EXAMPLE_ROWS = 5
IMPORTANCE_TOP = 25
# Packages the logged model needs at serving time; listing them skips MLflow's slow inference
# (and its confusion between xgboost and xgboost-cpu, STACK.md).
_SERVING_PACKAGES = ("mlflow", "xgboost-cpu", "scikit-learn", "pandas", "numpy")


@dataclass
class TrainResult:
    """What `train_and_register` did."""

    run_id: str
    model_version: str
    metrics: dict[str, float]
    promoted: bool
    reason: str
    champion_version: str


@dataclass
class FitResult:
    """A fitted model and its test-window evaluation, before anything is logged."""

    model: Any
    feature_columns: list[str]
    split: evaluate.TimeSplit
    metrics: dict[str, float]
    test_scores: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


def _baseline_logreg(split: evaluate.TimeSplit, columns: list[str], seed: int) -> np.ndarray:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipeline = make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(max_iter=2000, random_state=seed),
    )
    pipeline.fit(evaluate.feature_matrix(split.train, columns), evaluate.labels(split.train))
    return pipeline.predict_proba(evaluate.feature_matrix(split.test, columns))[:, 1]


def _baseline_prior_rate(split: evaluate.TimeSplit) -> np.ndarray | None:
    column = evaluate.PRIOR_LATE_SHARE_FEATURE
    if column not in split.test.columns:
        logger.warning("no %s column: skipping the prior-late-rate baseline", column)
        return None
    fallback = float(evaluate.labels(split.train).mean())
    scores = pd.to_numeric(split.test[column]).astype("float64").fillna(fallback)
    return scores.to_numpy()


def fit_and_evaluate(features: pd.DataFrame, *, seed: int = 42, test_days: int = 90) -> FitResult:
    """Split, fit XGBoost with early stopping, and compute test-window metrics and baselines.

    No MLflow side effects, so it can be called in tests and notebooks.

    Args:
        features: The `ml_invoice_features` frame.
        seed: Random seed (XGBoost row/column sampling, logistic regression).
        test_days: Length in days of the test and validation windows.

    Returns:
        The fitted model, the split and the metrics (`roc_auc`, `pr_auc`, `brier`, `log_loss`,
        `lift_top_decile`, baseline AUCs, window sizes, `best_iteration`).

    Raises:
        ValueError: If there is too little labelled data or a window has a single class.
    """
    from xgboost import XGBClassifier

    columns = evaluate.feature_columns(features)
    split = evaluate.time_split(features, test_days=test_days)
    params = {**XGB_PARAMS, "random_state": seed}
    model = XGBClassifier(**params)
    model.fit(
        evaluate.feature_matrix(split.train, columns),
        evaluate.labels(split.train),
        eval_set=[(evaluate.feature_matrix(split.validation, columns), evaluate.labels(split.validation))],
        verbose=False,
    )
    y_test = evaluate.labels(split.test)
    test_scores = model.predict_proba(evaluate.feature_matrix(split.test, columns))[:, 1]
    metrics = evaluate.binary_metrics(y_test, test_scores)
    logreg_scores = _baseline_logreg(split, columns, seed)
    metrics["baseline_logreg_roc_auc"] = evaluate.binary_metrics(y_test, logreg_scores)["roc_auc"]
    prior = _baseline_prior_rate(split)
    if prior is not None:
        metrics["baseline_prior_rate_roc_auc"] = evaluate.binary_metrics(y_test, prior)["roc_auc"]
    metrics.update(
        {
            "n_train": float(len(split.train)),
            "n_validation": float(len(split.validation)),
            "n_test": float(len(split.test)),
            "test_late_rate": float(y_test.mean()),
            "best_iteration": float(model.best_iteration),
        }
    )
    logger.info(
        "test window %s: AUC %.3f (logreg %.3f, prior rate %s), best iteration %d",
        split.test_window,
        metrics["roc_auc"],
        metrics["baseline_logreg_roc_auc"],
        f"{metrics['baseline_prior_rate_roc_auc']:.3f}" if prior is not None else "n/a",
        model.best_iteration,
    )
    return FitResult(model, columns, split, metrics, test_scores, params)


def _champion_score(tracking_uri: str, split: evaluate.TimeSplit) -> registry.ChampionScore | None:
    """Score the current champion on the candidate's test window (None if there is no champion)."""
    if not registry.champion_exists(tracking_uri):
        return None
    model, version = registry.load_champion(tracking_uri)
    columns = list(model.get_booster().feature_names or [])
    missing = [c for c in columns if c not in split.test.columns]
    if missing:
        # The champion cannot score the current mart at all, so any passing candidate is better.
        logger.warning("champion v%s needs feature columns no longer present: %s", version, missing)
        return registry.ChampionScore(version, float("-inf"))
    scores = model.predict_proba(evaluate.feature_matrix(split.test, columns))[:, 1]
    auc = evaluate.binary_metrics(evaluate.labels(split.test), scores)["roc_auc"]
    logger.info("champion v%s AUC %.3f on test window %s", version, auc, split.test_window)
    return registry.ChampionScore(version, auc)


def _pip_requirements() -> list[str]:
    requirements = []
    for name in _SERVING_PACKAGES:
        try:
            requirements.append(f"{name}=={package_version(name)}")
        except PackageNotFoundError:
            logger.warning("package %s not installed; left out of pip_requirements", name)
    return requirements


def _experiment_id(tracking_uri: str, artifact_location: str) -> str:
    mlflow_client = registry.client(tracking_uri)
    experiment = mlflow_client.get_experiment_by_name(registry.EXPERIMENT_NAME)
    if experiment is not None:
        return experiment.experiment_id
    return mlflow_client.create_experiment(registry.EXPERIMENT_NAME, artifact_location=artifact_location)


def _log_figures(fit: FitResult) -> None:
    """Log the feature-importance and calibration plots and tables (skipped without matplotlib)."""
    import mlflow

    importance = fit.model.get_booster().get_score(importance_type="gain")
    ranked = sorted(importance.items(), key=lambda kv: (-kv[1], kv[0]))
    mlflow.log_dict(dict(ranked), "feature_importance_gain.json")
    calibration = evaluate.calibration_table(evaluate.labels(fit.split.test), fit.test_scores)
    mlflow.log_dict({"test_window": str(fit.split.test_window), "bins": calibration}, "calibration.json")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        logger.warning("matplotlib not installed: skipping the importance and calibration plots")
        return

    top = ranked[:IMPORTANCE_TOP][::-1]
    figure = Figure(figsize=(7, max(2.5, 0.3 * len(top) + 1)))
    axes = figure.subplots()
    axes.barh([name for name, _ in top], [value for _, value in top])
    axes.set_xlabel("gain")
    axes.set_title("Feature importance (gain)")
    figure.tight_layout()
    mlflow.log_figure(figure, "feature_importance.png")

    figure = Figure(figsize=(5, 5))
    axes = figure.subplots()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey")
    axes.plot([r["mean_predicted"] for r in calibration], [r["observed_rate"] for r in calibration], "o-")
    axes.set_xlabel("mean predicted probability")
    axes.set_ylabel("observed late rate")
    axes.set_title(f"Calibration, test window {fit.split.test_window}")
    figure.tight_layout()
    mlflow.log_figure(figure, "calibration.png")


def train_and_register(
    features: pd.DataFrame,
    *,
    tracking_uri: str,
    artifact_location: str,
    seed: int = 42,
    test_days: int = 90,
    data_snapshot_date: date | None = None,
    tags: dict[str, str] | None = None,
) -> TrainResult:
    """Train on `ml_invoice_features`, log and register the model, and apply the promotion rule.

    Args:
        features: The `ml_invoice_features` frame (one row per invoice).
        tracking_uri: MLflow tracking and registry URI, e.g. `sqlite:////srv/cobranza/mlflow.db`.
        artifact_location: Artifact root used when the experiment `cobranza/delinquency` is created.
        seed: Random seed; the same data and seed give the same model and metrics.
        test_days: Length in days of the test and validation windows.
        data_snapshot_date: As-of date of the features; defaults to the latest `snapshot_date`.
        tags: Extra run tags (e.g. the Prefect flow run id).

    Returns:
        The run id, registered version, metrics, promotion outcome and the champion after it.

    Raises:
        ValueError: If there is too little labelled data or a window has a single class.
    """
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    fit = fit_and_evaluate(features, seed=seed, test_days=test_days)
    if data_snapshot_date is None and "snapshot_date" in features.columns and len(features):
        data_snapshot_date = pd.to_datetime(features["snapshot_date"]).max().date()
    run_tags = {
        **(tags or {}),
        "data_snapshot_date": data_snapshot_date.isoformat() if data_snapshot_date else "unknown",
        "test_window": str(fit.split.test_window),
        "validation_window": str(fit.split.validation_window),
    }
    champion = _champion_score(tracking_uri, fit.split)
    metrics = dict(fit.metrics)
    if champion is not None and np.isfinite(champion.roc_auc):
        metrics["champion_roc_auc_same_window"] = champion.roc_auc

    experiment_id = _experiment_id(tracking_uri, artifact_location)
    x_example = evaluate.feature_matrix(fit.split.train.head(INPUT_EXAMPLE_ROWS), fit.feature_columns)
    # pyfunc serving calls `predict` (class labels); Cobranza itself loads the flavor and uses
    # `predict_proba`.
    signature = infer_signature(x_example, fit.model.predict(x_example))
    with registry.tracking(tracking_uri):
        run_name = f"delinquency-{run_tags['data_snapshot_date']}"
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=run_tags) as run:
            mlflow.log_params(
                {
                    **{k: v for k, v in fit.params.items() if k != "n_jobs"},
                    "nthread": fit.params["n_jobs"],
                    "seed": seed,
                    "test_days": test_days,
                    "n_features": len(fit.feature_columns),
                }
            )
            mlflow.log_metrics(metrics)
            mlflow.log_dict({"feature_columns": fit.feature_columns}, "feature_columns.json")
            _log_figures(fit)
            info = mlflow.xgboost.log_model(
                fit.model,
                name="model",
                signature=signature,
                input_example=x_example,
                pip_requirements=_pip_requirements(),
                registered_model_name=registry.MODEL_NAME,
            )
    version = str(info.registered_model_version)
    mlflow_client = registry.client(tracking_uri)
    for key in ("roc_auc", "pr_auc", "brier", "lift_top_decile"):
        mlflow_client.set_model_version_tag(registry.MODEL_NAME, version, key, f"{metrics[key]:.4f}")
    mlflow_client.set_model_version_tag(registry.MODEL_NAME, version, "test_window", str(fit.split.test_window))
    mlflow_client.set_model_version_tag(
        registry.MODEL_NAME, version, "data_snapshot_date", run_tags["data_snapshot_date"]
    )
    decision = registry.promote(
        tracking_uri, version, metrics, champion=champion, test_window=str(fit.split.test_window)
    )
    return TrainResult(
        run_id=run.info.run_id,
        model_version=version,
        metrics=metrics,
        promoted=decision.promote,
        reason=decision.reason,
        champion_version=registry.champion_version(tracking_uri) or "",
    )

"""Train, evaluate, log and register the invoice delinquency model (XGBoost + MLflow).

Input is the dbt mart `ml_invoice_features` as a DataFrame (one row per invoice; features are the
`f_` columns, as of each invoice's snapshot date). The model is an `xgboost.XGBClassifier` (hist,
2 threads, seeded) with early stopping on a validation window, Platt-calibrated on its own later
window, and judged on the last (test) window against two baselines fitted and scored on the same
split (logistic regression on the same features, and the customer's prior late share). With a Dask
scheduler address the booster is trained through `xgboost.dask` on that cluster instead; the result
is the same `XGBClassifier` flavor either way.

The calibration and the drift reference (PSI bins of every feature and of the score on the training
run's test window) travel inside the model as booster attributes, so whatever loads
`models:/cobranza_delinquency@champion` has them. Runs are logged to the MLflow experiment
`cobranza/delinquency` (params, metrics, calibration and importance plots, signature, input example,
tags) and registered as `cobranza_delinquency`; promotion is decided in `ml.registry` after the
current champion is scored on the same test window (DESIGN.md §6).
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ml import evaluate, registry
from ml.score import model_scores

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
# The customer's own lateness record can only raise the risk, never lower it: monotone constraints
# (the norm in credit scoring) keep the trees from learning noise-driven reversals on small
# histories. On the IBM export they raised the test AUC on every one of three rolling windows
# (bench/RESULTS.md); features absent from the frame are skipped.
MONOTONE_INCREASING = (
    "f_cust_prior_late_share",
    "f_cust_settled_late_share",
    "f_cust_mean_days_late",
    "f_cust_last_days_late",
    "f_cust_last3_late_share",
    "f_inv_paper_delivery",
)
INPUT_EXAMPLE_ROWS = 5
IMPORTANCE_TOP = 25
# Logistic regression on millions of rows adds minutes and nothing to a 20-coefficient baseline;
# it is fitted on a seeded sample of the train window this large (the test window is scored whole).
LOGREG_MAX_ROWS = 200_000
BASELINE_METRICS = ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile")
# Booster attributes carried inside the logged model (read back by ml.score).
ATTR_CALIBRATION = "calibration"
ATTR_DRIFT_REFERENCE = "drift_reference"
ATTR_LABEL = "label"
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
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class FitResult:
    """A fitted model and its test-window evaluation, before anything is logged."""

    model: Any
    feature_columns: list[str]
    split: evaluate.TimeSplit
    metrics: dict[str, float]
    test_scores: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)
    raw_test_scores: np.ndarray | None = None
    baseline_scores: dict[str, np.ndarray] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _baseline_logreg(split: evaluate.TimeSplit, columns: list[str], seed: int) -> np.ndarray:
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    train = split.train
    if len(train) > LOGREG_MAX_ROWS:
        train = train.sample(n=LOGREG_MAX_ROWS, random_state=seed)
    pipeline = make_pipeline(
        SimpleImputer(strategy="median"),
        StandardScaler(),
        LogisticRegression(max_iter=2000, random_state=seed),
    )
    pipeline.fit(evaluate.feature_matrix(train, columns), evaluate.labels(train, split.label))
    return pipeline.predict_proba(evaluate.feature_matrix(split.test, columns))[:, 1]


def _baseline_prior_rate(split: evaluate.TimeSplit) -> np.ndarray | None:
    column = evaluate.PRIOR_LATE_SHARE_FEATURE
    if column not in split.test.columns:
        logger.warning("no %s column: skipping the prior-late-rate baseline", column)
        return None
    fallback = float(evaluate.labels(split.train, split.label).mean())
    scores = pd.to_numeric(split.test[column]).astype("float64").fillna(fallback)
    return scores.to_numpy()


def _fit_local(params: dict[str, Any], x_train, y_train, x_val, y_val) -> Any:
    from xgboost import XGBClassifier

    model = XGBClassifier(**params)
    model.fit(x_train, y_train, eval_set=[(x_val, y_val)], verbose=False)
    return model


def _fit_dask(params: dict[str, Any], x_train, y_train, x_val, y_val, scheduler: str) -> Any:
    """Train through `xgboost.dask` on the cluster at `scheduler`; return a local `XGBClassifier`.

    The frames are partitioned over the cluster's workers; every worker trains on its partitions
    with its own threads (`n_jobs` is left to the workers). The trained model is saved and loaded
    into a plain `XGBClassifier` so that logging, calibration and scoring are the same as locally.
    """
    import tempfile

    import dask.dataframe as dd
    from distributed import Client
    from xgboost import XGBClassifier
    from xgboost import dask as dxgb

    def partitioned(x: pd.DataFrame, y: np.ndarray, n: int) -> tuple[Any, Any]:
        frame = dd.from_pandas(x.assign(_label=y).reset_index(drop=True), npartitions=n)
        return frame.drop(columns="_label"), frame["_label"]

    with Client(scheduler) as client:
        n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        logger.info("training through xgboost.dask on %s (%d workers)", scheduler, n_workers)
        dx, dy = partitioned(x_train, y_train, n_workers)
        vx, vy = partitioned(x_val, y_val, n_workers)
        model = dxgb.DaskXGBClassifier(**{k: v for k, v in params.items() if k != "n_jobs"})
        model.client = client
        model.fit(dx, dy, eval_set=[(vx, vy)], verbose=False)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "model.json"
            model.save_model(path)
            local = XGBClassifier()
            local.load_model(path)
    local.set_params(**params)
    return local


def monotone_constraints(columns: list[str]) -> str:
    """XGBoost's `monotone_constraints` for these feature columns: +1 on the lateness record.

    The positional form, which `xgboost.dask` accepts too (it does not map feature names).

    Args:
        columns: The model's feature columns, in the order of the training matrix.

    Returns:
        `"(c1,c2,...)"`: 1 for each column of `MONOTONE_INCREASING`, 0 for the others.
    """
    return "(" + ",".join("1" if c in MONOTONE_INCREASING else "0" for c in columns) + ")"


_REPORTED_ABSENT: set[tuple[str, ...]] = set()


def _observed_columns(train: pd.DataFrame, columns: list[str]) -> list[str]:
    """The feature columns with at least one value in the training window (issue 22).

    A feature the data does not have (an export without credit ratings, regions or document types)
    is left out of the fit instead of being imputed from nothing by every fit; it is reported once
    per process, not once per fold and label.
    """
    absent = tuple(c for c in columns if not train[c].notna().any())
    if absent and absent not in _REPORTED_ABSENT:
        _REPORTED_ABSENT.add(absent)
        logger.info("features without a value in the training window, left out of the fit: %s", ", ".join(absent))
    kept = [c for c in columns if c not in absent]
    if not kept:
        raise ValueError(f"no feature has a value in the training window ({len(train)} rows); check the features")
    return kept


def fit_and_evaluate(
    features: pd.DataFrame,
    *,
    seed: int = 42,
    test_days: int = 90,
    label: str = evaluate.DEFAULT_LABEL,
    dask_scheduler: str | None = None,
) -> FitResult:
    """Split, fit XGBoost with early stopping, calibrate, and judge it against both baselines.

    No MLflow side effects, so it can be called in tests, notebooks and `evaluate-history`.

    Args:
        features: The `ml_invoice_features` frame.
        seed: Random seed (XGBoost row/column sampling, logistic regression and its sample).
        test_days: Length in days of the test, calibration and validation windows.
        label: `is_late` (default) or `is_paid_after_due`.
        dask_scheduler: Address of a Dask scheduler (e.g. `tcp://127.0.0.1:8786`); when set the
            booster is trained with `xgboost.dask` on that cluster.

    Returns:
        The fitted model (calibration and drift reference stored as booster attributes), the
        split and the metrics: calibrated-model `roc_auc`, `pr_auc`, `brier`, `log_loss`,
        `lift_top_decile`, the raw model's `uncalibrated_brier` / `uncalibrated_log_loss`, the same
        five metrics for each baseline (`baseline_logreg_*`, `baseline_prior_rate_*`), window sizes
        and `best_iteration`.

    Raises:
        ValueError: If there is too little labelled data or a window has a single class.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()
    columns = evaluate.feature_columns(features)
    split = evaluate.time_split(features, test_days=test_days, label=label)
    columns = _observed_columns(split.train, columns)
    x_train = evaluate.feature_matrix(split.train, columns)
    x_val = evaluate.feature_matrix(split.validation, columns)
    y_train, y_val = evaluate.labels(split.train, label), evaluate.labels(split.validation, label)
    timings["split_seconds"] = time.perf_counter() - started

    started = time.perf_counter()
    params = {**XGB_PARAMS, "random_state": seed, "monotone_constraints": monotone_constraints(columns)}
    if dask_scheduler:
        model = _fit_dask(params, x_train, y_train, x_val, y_val, dask_scheduler)
    else:
        model = _fit_local(params, x_train, y_train, x_val, y_val)
    timings["xgboost_fit_seconds"] = time.perf_counter() - started

    started = time.perf_counter()
    y_cal = evaluate.labels(split.calibration, label)
    raw_cal = model.predict_proba(evaluate.feature_matrix(split.calibration, columns))[:, 1]
    slope, intercept = evaluate.fit_platt(y_cal, raw_cal)
    booster = model.get_booster()
    booster.set_attr(
        **{
            ATTR_CALIBRATION: json.dumps({"method": "platt", "slope": slope, "intercept": intercept}),
            ATTR_LABEL: label,
        }
    )
    x_test = evaluate.feature_matrix(split.test, columns)
    y_test = evaluate.labels(split.test, label)
    raw_test = model.predict_proba(x_test)[:, 1]
    test_scores = evaluate.apply_platt(raw_test, slope, intercept)
    # The drift reference is the training run's latest window (test), not its train window: the
    # customer-history features are cumulative (prior invoices, settled, disputes...), so the oldest
    # invoices of an expanding history always look "drifted" against today's (PSI > 1 at profile S
    # for half the features), which would flag a retrain every day. Against the test window only
    # the calendar feature moves (exempt in ml.score).
    reference = {c: evaluate.psi_reference(x_test[c].to_numpy()) for c in columns}
    reference["__score__"] = evaluate.psi_reference(test_scores)
    booster.set_attr(**{ATTR_DRIFT_REFERENCE: json.dumps(reference)})

    metrics = evaluate.binary_metrics(y_test, test_scores)
    raw_metrics = evaluate.binary_metrics(y_test, raw_test)
    metrics["uncalibrated_brier"] = raw_metrics["brier"]
    metrics["uncalibrated_log_loss"] = raw_metrics["log_loss"]
    metrics["calibration_slope"] = slope
    metrics["calibration_intercept"] = intercept
    timings["calibrate_seconds"] = time.perf_counter() - started

    started = time.perf_counter()
    baselines = {"logreg": _baseline_logreg(split, columns, seed)}
    prior = _baseline_prior_rate(split)
    if prior is not None:
        baselines["prior_rate"] = prior
    for name, scores in baselines.items():
        for key, value in evaluate.binary_metrics(y_test, scores).items():
            metrics[f"baseline_{name}_{key}"] = value
    timings["baselines_seconds"] = time.perf_counter() - started
    metrics.update(
        {
            "n_train": float(len(split.train)),
            "n_validation": float(len(split.validation)),
            "n_calibration": float(len(split.calibration)),
            "n_test": float(len(split.test)),
            "test_late_rate": float(y_test.mean()),
            "best_iteration": float(model.best_iteration),
        }
    )
    logger.info(
        "%s, test window %s: AUC %.3f PR AUC %.3f (logreg %.3f, prior rate %s), best iteration %d",
        label,
        split.test_window,
        metrics["roc_auc"],
        metrics["pr_auc"],
        metrics["baseline_logreg_roc_auc"],
        f"{metrics['baseline_prior_rate_roc_auc']:.3f}" if prior is not None else "n/a",
        model.best_iteration,
    )
    return FitResult(
        model,
        columns,
        split,
        metrics,
        test_scores,
        params,
        raw_test_scores=raw_test,
        baseline_scores=baselines,
        timings=timings,
    )


def champion_score_on(tracking_uri: str, split: evaluate.TimeSplit) -> registry.ChampionScore | None:
    """Score the current champion on a candidate's test window (None if there is no champion).

    Args:
        tracking_uri: MLflow tracking (and registry) URI.
        split: The candidate's split; only its test window is used.
    """
    if not registry.champion_exists(tracking_uri):
        return None
    model, version = registry.load_champion(tracking_uri)
    columns = list(model.get_booster().feature_names or [])
    missing = [c for c in columns if c not in split.test.columns]
    if missing:
        # The champion cannot score the current mart at all, so any passing candidate is better.
        logger.warning("champion v%s needs feature columns no longer present: %s", version, missing)
        return registry.ChampionScore(version, float("-inf"))
    scores = model_scores(model, split.test)
    auc = evaluate.binary_metrics(evaluate.labels(split.test, split.label), scores)["roc_auc"]
    logger.info("champion v%s AUC %.3f on test window %s", version, auc, split.test_window)
    return registry.ChampionScore(version, auc)


def git_commit() -> str:
    """The checkout's commit (with `-dirty` when files are modified), or `unknown` outside git."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("-dirty" if dirty else "")


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
    y_test = evaluate.labels(fit.split.test, fit.split.label)
    calibration = evaluate.calibration_table(y_test, fit.test_scores)
    raw = evaluate.calibration_table(y_test, fit.raw_test_scores) if fit.raw_test_scores is not None else []
    mlflow.log_dict(
        {"test_window": str(fit.split.test_window), "bins": calibration, "uncalibrated_bins": raw},
        "calibration.json",
    )
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
    if raw:
        axes.plot([r["mean_predicted"] for r in raw], [r["observed_rate"] for r in raw], "s:", label="raw XGBoost")
    axes.plot(
        [r["mean_predicted"] for r in calibration],
        [r["observed_rate"] for r in calibration],
        "o-",
        label="calibrated (Platt)",
    )
    axes.legend(loc="upper left")
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
    late_days: int | None = None,
    dask_scheduler: str | None = None,
) -> TrainResult:
    """Train on `ml_invoice_features`, log and register the model, and apply the promotion rule.

    Args:
        features: The `ml_invoice_features` frame (one row per invoice).
        tracking_uri: MLflow tracking and registry URI, e.g. `sqlite:////srv/cobranza/mlflow.db`.
        artifact_location: Artifact root used when the experiment `cobranza/delinquency` is created.
        seed: Random seed; the same data and seed give the same model and metrics.
        test_days: Length in days of the test, calibration and validation windows.
        data_snapshot_date: As-of date of the features; defaults to the latest `snapshot_date`.
        tags: Extra run tags (e.g. the Prefect flow run id, the simulator seed).
        late_days: The N of the label the mart was built with (logged as a parameter).
        dask_scheduler: Train through `xgboost.dask` on this scheduler (see `fit_and_evaluate`).

    Returns:
        The run id, registered version, metrics, promotion outcome and the champion after it.

    Raises:
        ValueError: If there is too little labelled data or a window has a single class.
    """
    import mlflow
    import mlflow.xgboost
    from mlflow.models import infer_signature

    fit = fit_and_evaluate(features, seed=seed, test_days=test_days, dask_scheduler=dask_scheduler)
    timings = dict(fit.timings)
    if data_snapshot_date is None and "snapshot_date" in features.columns and len(features):
        data_snapshot_date = pd.to_datetime(features["snapshot_date"]).max().date()
    run_tags = {
        **(tags or {}),
        "data_snapshot_date": data_snapshot_date.isoformat() if data_snapshot_date else "unknown",
        "test_window": str(fit.split.test_window),
        "validation_window": str(fit.split.validation_window),
        "calibration_window": str(fit.split.calibration_window),
        "label": fit.split.label,
        "git_commit": git_commit(),
        "training_backend": "xgboost.dask" if dask_scheduler else "xgboost",
    }
    started = time.perf_counter()
    champion = champion_score_on(tracking_uri, fit.split)
    timings["champion_score_seconds"] = time.perf_counter() - started
    metrics = dict(fit.metrics)
    if champion is not None and np.isfinite(champion.roc_auc):
        metrics["champion_roc_auc_same_window"] = champion.roc_auc

    started = time.perf_counter()
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
                    "label": fit.split.label,
                    "late_days": late_days if late_days is not None else "unknown",
                    "calibration": "platt",
                    "logreg_max_rows": LOGREG_MAX_ROWS,
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
    for key in registry.SUMMARY_METRICS:
        if key in metrics:
            mlflow_client.set_model_version_tag(registry.MODEL_NAME, version, key, f"{metrics[key]:.4f}")
    mlflow_client.set_model_version_tag(registry.MODEL_NAME, version, "test_window", str(fit.split.test_window))
    mlflow_client.set_model_version_tag(
        registry.MODEL_NAME, version, "data_snapshot_date", run_tags["data_snapshot_date"]
    )
    decision = registry.promote(
        tracking_uri, version, metrics, champion=champion, test_window=str(fit.split.test_window)
    )
    timings["log_and_register_seconds"] = time.perf_counter() - started
    return TrainResult(
        run_id=run.info.run_id,
        model_version=version,
        metrics=metrics,
        promoted=decision.promote,
        reason=decision.reason,
        champion_version=registry.champion_version(tracking_uri) or "",
        timings={k: round(v, 2) for k, v in timings.items()},
    )


def evaluate_and_promote(
    features: pd.DataFrame,
    *,
    tracking_uri: str,
    version: str | None = None,
    test_days: int = 90,
    seed: int = 42,
) -> dict[str, Any]:
    """Re-judge a registered version on today's test window and apply the promotion rule.

    The version (default: the current `challenger`) is scored on the latest test window of
    `features`, next to both baselines fitted on the same split and the current champion scored on
    the same rows; `registry.promote` then moves the aliases (idempotent: promoting the champion
    again changes nothing).

    Args:
        features: The `ml_invoice_features` frame.
        tracking_uri: MLflow tracking (and registry) URI.
        version: The registry version to judge; default the `challenger`.
        test_days: Length in days of the windows (as in training).
        seed: Seed of the logistic-regression baseline.

    Returns:
        ``{"version", "promoted", "challenger", "reason", "champion_version", "metrics"}``.

    Raises:
        LookupError: No challenger (when `version` is not given) or no such version.
        ValueError: Too little labelled data, or the version cannot score the current features.
    """
    if version is None:
        version = registry.challenger_version(tracking_uri)
        if version is None:
            raise LookupError(
                f"{registry.MODEL_NAME} has no challenger to promote; name a version (`cobranza promote VERSION`)"
            )
    model = registry.load_version(tracking_uri, version)
    label = model.get_booster().attr(ATTR_LABEL) or evaluate.DEFAULT_LABEL
    split = evaluate.time_split(features, test_days=test_days, label=label)
    columns = list(model.get_booster().feature_names or [])
    y_test = evaluate.labels(split.test, label)
    metrics = evaluate.binary_metrics(y_test, model_scores(model, split.test))
    baselines = {"logreg": _baseline_logreg(split, columns, seed)}
    prior = _baseline_prior_rate(split)
    if prior is not None:
        baselines["prior_rate"] = prior
    for name, scores in baselines.items():
        metrics[f"baseline_{name}_roc_auc"] = evaluate.binary_metrics(y_test, scores)["roc_auc"]
    champion = champion_score_on(tracking_uri, split)
    if champion is not None and np.isfinite(champion.roc_auc):
        metrics["champion_roc_auc_same_window"] = champion.roc_auc
    window = str(split.test_window)
    decision = registry.promote(tracking_uri, str(version), metrics, champion=champion, test_window=window)
    return {
        "version": str(version),
        "promoted": decision.promote,
        "challenger": decision.challenger,
        "reason": decision.reason,
        "champion_version": registry.champion_version(tracking_uri) or "",
        "test_window": str(split.test_window),
        "metrics": metrics,
    }


@dataclass
class BacktestResult:
    """Rolling-origin evaluation: the same time-split protocol repeated on earlier test windows."""

    folds: list[dict[str, Any]]
    pooled: dict[str, Any]


def rolling_backtest(
    features: pd.DataFrame,
    *,
    folds: int,
    seed: int = 42,
    test_days: int = 90,
    label: str = evaluate.DEFAULT_LABEL,
    first: FitResult | None = None,
    window_days: int | None = None,
) -> BacktestResult:
    """Evaluate the model and both baselines on `folds` consecutive test windows, pooled.

    Fold k cuts the history at `k x test_days` days before the latest labelled due date and runs
    `fit_and_evaluate` on what is left (train / validation / calibration / test windows as in
    production, each fold trained only on invoices due before its own windows). The test windows
    do not overlap, so their invoices pool into one larger test set: on a small export one 90-day
    window holds a few hundred invoices and cannot tell scorers apart, three windows can do better.

    Args:
        features: The `ml_invoice_features` frame.
        folds: Number of test windows (>= 1); folds whose history is too short are reported with
            their error and left out of the pool.
        seed: Random seed.
        test_days: Length in days of the production split's windows.
        label: `is_late` or `is_paid_after_due`.
        first: The already computed fit on the whole history (fold 0), to avoid fitting it twice
            (used only when the backtest's windows are the production split's).
        window_days: Length in days of every backtest window (test, calibration, validation) and
            the step between folds; default ``test_days`` (issue 22: set apart from it).

    Returns:
        Per-fold window, size and ROC AUC of each scorer; pooled metrics of each scorer and the
        paired bootstrap AUC difference of the model to each baseline on the pooled test rows.

    Raises:
        ValueError: If `folds` < 1 or no fold could be evaluated.
    """
    if folds < 1:
        raise ValueError(f"folds must be >= 1, got {folds}")
    window = test_days if window_days is None else window_days
    if window < 1:
        raise ValueError(f"the backtest window must be at least 1 day, got {window}")
    if window != test_days:
        first = None
    labelled = features[features[evaluate.LABELS[label]].fillna(False).astype(bool).to_numpy()]
    due = pd.to_datetime(features["due_date"]).dt.normalize()
    last = pd.to_datetime(labelled["due_date"]).dt.normalize().max()
    per_fold: list[dict[str, Any]] = []
    y_all: list[np.ndarray] = []
    scores: dict[str, list[np.ndarray]] = {"model": [], "logreg": [], "prior_rate": []}
    for k in range(folds):
        try:
            if k == 0 and first is not None:
                fit = first
            else:
                cut = last - pd.Timedelta(days=window * k)
                fit = fit_and_evaluate(features[(due <= cut).to_numpy()], seed=seed, test_days=window, label=label)
        except ValueError as exc:
            per_fold.append({"fold": k, "error": str(exc)})
            continue
        if set(fit.baseline_scores) != {"logreg", "prior_rate"}:
            per_fold.append({"fold": k, "error": "a baseline could not be scored"})
            continue
        y = evaluate.labels(fit.split.test, label)
        y_all.append(y)
        scores["model"].append(fit.test_scores)
        for name, s in fit.baseline_scores.items():
            scores[name].append(s)
        m = fit.metrics
        per_fold.append(
            {
                "fold": k,
                "test": str(fit.split.test_window),
                "n_test": int(len(y)),
                "late_rate": round(float(np.mean(y)), 4),
                "roc_auc": {
                    "model": round(m["roc_auc"], 4),
                    "logreg": round(m["baseline_logreg_roc_auc"], 4),
                    "prior_rate": round(m["baseline_prior_rate_roc_auc"], 4),
                },
            }
        )
    if not y_all:
        raise ValueError(f"no backtest fold could be evaluated: {per_fold}")
    y = np.concatenate(y_all)
    pooled_scores = {name: np.concatenate(s) for name, s in scores.items()}
    evaluated = [f for f in per_fold if "error" not in f]
    pooled: dict[str, Any] = {
        "n_folds": len(evaluated),
        "n_test": int(len(y)),
        **{
            name: {k: round(v, 4) for k, v in evaluate.binary_metrics(y, s).items()}
            for name, s in pooled_scores.items()
        },
        "auc_vs_baselines": {
            name: {
                k: round(v, 4)
                for k, v in evaluate.paired_auc_difference(y, pooled_scores["model"], pooled_scores[name]).items()
            }
            for name in ("logreg", "prior_rate")
        },
        "folds_won": {
            name: sum(f["roc_auc"]["model"] > f["roc_auc"][name] for f in evaluated)
            for name in ("logreg", "prior_rate")
        },
    }
    return BacktestResult(folds=per_fold, pooled=pooled)

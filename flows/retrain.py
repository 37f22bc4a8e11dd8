"""Delinquency-model lifecycle flows: weekly retrain, promote, score, and evaluating an external AR history.

Orchestration only: the steps are ``flows.stages`` tasks, the file connector, dbt, ``ml.train`` and
``ml.backtest`` (the history evaluation).

- ``weekly_retrain``: train a candidate on the published copy's feature marts and promote it only if it wins.
- ``promote_version``: re-judge the challenger (or a named version) on today's test window.
- ``score_today``: score the open invoices with ``@champion`` (scores, explanations, customer risk, drift).
- ``evaluate_history``: ingest an external AR history (e.g. the IBM late-payment sample) through the
  generic ERP-export connector and a column mapping into a private warehouse, build the features
  with dbt, and train and evaluate with the same time-split protocol as production, against both
  baselines. Nothing is registered: it answers "would the model work on our data?".
"""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow

from cobranza import runtime
from cobranza.settings import load_settings
from flows import stages

runtime.apply_defaults()

FEATURE_MARTS = "+ml_invoice_features"


@flow(name="weekly_retrain")
def weekly_retrain(as_of: date | None = None) -> dict[str, Any]:
    """Train, evaluate against baselines and the champion, and register the delinquency model.

    Reads the features from the published read copy of the warehouse (the daily run builds them and
    publishes it), so it writes only MLflow, takes no warehouse lock and overlaps any flow; without
    a published copy yet (a warehouse from before it existed) it rebuilds the feature marts under the
    warehouse lock and trains on the warehouse as before.
    """
    settings = load_settings()
    ctx = stages.make_context(settings, as_of)
    if settings.published_path.exists():
        trained = stages.train_model(ctx, force=True, features_from=settings.published_path)
        return {"dbt": {}, "features_from": str(settings.published_path), "train": trained}
    with stages.warehouse_lock(settings, "weekly_retrain"):
        built = stages.dbt_build(ctx, models=FEATURE_MARTS)
        trained = stages.train_model(ctx, force=True)
    return {"dbt": built, "features_from": str(ctx.warehouse), "train": trained}


@flow(name="promote_delinquency_model")
def promote_version(version: str | None = None, as_of: date | None = None) -> dict[str, Any]:
    """Judge the challenger (or ``version``) against the champion on today's test window and promote if it wins."""
    from connectors import warehouse
    from ml.train import evaluate_and_promote

    settings = load_settings()
    ctx = stages.make_context(settings, as_of)
    with warehouse.connect(ctx.warehouse) as con:
        if not warehouse.table_exists(con, "marts.ml_invoice_features"):
            raise FileNotFoundError(f"{ctx.warehouse} has no marts.ml_invoice_features; run `cobranza run` first")
        features = warehouse.read_frame(con, "marts.ml_invoice_features", order_by="invoice_id")
    return evaluate_and_promote(
        features,
        tracking_uri=settings.tracking_uri,
        version=version,
        test_days=settings.model.test_days,
        seed=settings.simulator.seed,
    )


@flow(name="score_open_invoices")
def score_today(as_of: date | None = None) -> dict[str, Any]:
    """Score the open invoices already in the warehouse's marts with ``@champion``."""
    ctx = stages.make_context(load_settings(), as_of)
    return stages.score_open_invoices(ctx)


def _single_file_mapping(mapping_path: Path, file: Path):
    """Load the mapping with every stream reading ``file`` (a history export is one file)."""
    from connectors.sources.files.config import load_mapping

    mapping = load_mapping(mapping_path, base_dir=file.parent)
    paths = {m.path for m in mapping.streams.values()}
    if len(paths) == 1:
        for m in mapping.streams.values():
            m.path = file.name
    elif not all((file.parent / p).exists() for p in paths):
        raise FileNotFoundError(
            f"{mapping_path} reads several files {sorted(paths)}; put them next to {file} or use a one-file mapping"
        )
    return mapping


@flow(name="evaluate_history")
def evaluate_history(
    file: Path,
    mapping: Path,
    late_days: int | None = None,
    as_of: date | None = None,
    test_days: int | None = None,
    work_dir: Path | None = None,
    seed: int = 42,
    folds: int = 3,
    backtest_days: int | None = None,
) -> dict[str, Any]:
    """Ingest an AR history export, build features, and evaluate the model and both baselines on a time split.

    Args:
        file: The export (CSV/Parquet/JSON) the mapping reads.
        mapping: Column-mapping YAML for the file connector (e.g.
            ``connectors/sources/files/mappings/ibm_late_payment_histories.yml``).
        late_days: N of the label "paid more than N days after due or still open then"
            (default: ``model.late_days``).
        as_of: The export's date (default: the day after the latest date in it).
        test_days: Length of the test, calibration and validation windows (default ``model.test_days``).
        work_dir: Folder for the private warehouse (default: a temporary folder, removed afterwards).
        seed: Random seed.
        folds: Test windows of the rolling backtest (the latest is the main split's; 1 = none).
        backtest_days: Length of each backtest window (default ``test_days``).

    Returns:
        ``{"file", "as_of", "late_days", "invoices", "labels": {label: {"windows", "n", "late_rate",
        "model", "baseline_logreg", "baseline_prior_rate", "auc_vs_baselines", "beats_both_baselines",
        "backtest": {"folds", "pooled"}, "beats_both_baselines_backtest"}}}``; a label whose windows
        are too small or single-class carries ``"error"`` instead.
    """
    from connectors import warehouse
    from connectors.contracts import ALL_STREAMS
    from connectors.load import ensure_raw_table
    from connectors.sources.files.reader import load_mapping_files
    from flows.dbt_runner import run_dbt
    from ml.backtest import evaluate_history_labels, export_as_of

    settings = load_settings()
    late_days = settings.model.late_days if late_days is None else late_days
    test_days = test_days or settings.model.test_days
    file, mapping = Path(file).resolve(), Path(mapping).resolve()
    if not file.is_file():
        raise FileNotFoundError(f"{file}: no such history file")
    log = stages.run_logger()
    with tempfile.TemporaryDirectory(prefix="cobranza-history-") as tmp:
        root = Path(work_dir) if work_dir else Path(tmp)
        db = root / "history.duckdb"
        with warehouse.connect(db) as con:
            load_mapping_files(con, _single_file_mapping(mapping, file))
            # Streams the export does not have (bank lines, contacts...) exist empty, so dbt builds.
            for contract in ALL_STREAMS:
                ensure_raw_table(con, contract)
            as_of = as_of or export_as_of(con)
        log.info("history %s landed; building features as of %s with late_days=%d", file.name, as_of, late_days)
        features: dict[str, Any] = {}
        # each label gets the features built with its own notion of late (issue 22): the customer's
        # lateness record of "paid after due" counts any delay, that of "is_late" more than N days
        for label, days in (("is_late", late_days), ("is_paid_after_due", 0)):
            if label != "is_late" and days == late_days:
                features[label] = features["is_late"]
                continue
            run_dbt(
                ["build", "--select", FEATURE_MARTS],
                duckdb_path=db,
                work_dir=root / "dbt",
                as_of=as_of,
                late_days=days,
            )
            with warehouse.connect(db) as con:
                features[label] = warehouse.read_frame(con, "marts.ml_invoice_features", order_by="invoice_id")
    result: dict[str, Any] = {
        "file": str(file),
        "mapping": str(mapping),
        "as_of": as_of.isoformat(),
        "late_days": late_days,
        "test_days": test_days,
        "backtest_days": backtest_days or test_days,
        "invoices": len(features["is_late"]),
    }
    result["labels"] = evaluate_history_labels(
        features, late_days=late_days, test_days=test_days, seed=seed, folds=folds, backtest_days=backtest_days
    )
    return result

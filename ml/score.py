"""Score open invoices with the champion delinquency model, explain the scores, and check drift.

Always loads `models:/cobranza_delinquency@champion` (never a pinned version, STYLE.md). The risk is
the champion's calibrated probability of the invoice being late: XGBoost's `predict_proba` mapped
through the Platt calibration stored in the model (booster attribute `calibration`, see `ml.train`).
Every output row carries the model version that produced it, so warehouse tables trace back to the
registry.

Explanations are XGBoost's per-feature contributions to the log-odds with `approx_contribs=True`
(Saabas-style path attribution): exact TreeSHAP takes ~144 s per 100k rows on 2 cores, the
approximation ~1 s (STACK.md). Drift is the population stability index of every feature and of the
score against the reference the model carries from its training run (`evaluate.psi`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from ml import evaluate, registry
from ml.registry import champion_exists, load_champion

logger = logging.getLogger(__name__)

__all__ = [
    "champion_exists",
    "customer_risk",
    "explain_invoices",
    "feature_drift",
    "load_champion",
    "model_scores",
    "score_invoices",
    "score_with_champion",
]

OUTPUT_COLUMNS = ["invoice_id", "customer_id", "risk_score", "model_version"]
EXPLANATION_COLUMNS = ["invoice_id", "rank", "feature", "contribution", "feature_value", "model_version"]
CUSTOMER_RISK_COLUMNS = [
    "customer_id",
    "currency",
    "n_open_invoices",
    "amount_open",
    "max_risk",
    "amount_weighted_risk",
    "expected_late_amount",
    "model_version",
]
DRIFT_COLUMNS = ["feature", "psi", "n_reference_bins", "n_current", "is_drifted", "is_exempt"]
SCORE_FEATURE = "__score__"

#: The warehouse tables a scoring pass writes (partitioned by ``as_of_date``, stamped ``scored_at``).
#: dbt reads them as sources (``models/staging/ops``).
SCORES_TABLE = "ml_scores.invoice_scores"
EXPLANATIONS_TABLE = "ml_scores.invoice_explanations"
CUSTOMER_RISK_TABLE = "ml_scores.customer_risk"
DRIFT_TABLE = "ml_scores.score_drift"
#: Column definitions of each table, in the order a scoring pass writes them.
TABLES = {
    EXPLANATIONS_TABLE: (
        "as_of_date date, invoice_id varchar, rank integer, feature varchar, contribution double, "
        "feature_value double, model_version varchar, scored_at timestamp"
    ),
    CUSTOMER_RISK_TABLE: (
        "as_of_date date, customer_id varchar, currency varchar, n_open_invoices integer, "
        "amount_open decimal(18,2), max_risk double, amount_weighted_risk double, "
        "expected_late_amount decimal(18,2), model_version varchar, scored_at timestamp"
    ),
    DRIFT_TABLE: (
        "as_of_date date, feature varchar, psi double, n_reference_bins integer, n_current integer, "
        "is_drifted boolean, is_exempt boolean, model_version varchar, scored_at timestamp"
    ),
    SCORES_TABLE: (
        "as_of_date date, invoice_id varchar, customer_id varchar, risk_score double, "
        "model_version varchar, scored_at timestamp"
    ),
}

# Features whose drift is expected by construction and must not trigger a retrain: a month of new
# invoices always has one or two due months, never the training year's spread.
DRIFT_EXEMPT = frozenset({"f_due_month"})
# Below this many current rows PSI is mostly sampling noise: reported, never flagged.
DRIFT_MIN_ROWS = 200


def _attr_json(model: Any, name: str) -> dict[str, Any] | None:
    raw = model.get_booster().attr(name)
    return json.loads(raw) if raw else None


def model_scores(model: Any, features: pd.DataFrame) -> np.ndarray:
    """Calibrated probability of being late for each row (raw `predict_proba` if uncalibrated).

    Args:
        model: An `XGBClassifier` trained by `ml.train` (feature names stored in the booster).
        features: Rows with every feature column the model was trained on.

    Returns:
        One float64 probability per row, in input order.

    Raises:
        ValueError: If feature columns are missing or not numeric.
    """
    columns = list(model.get_booster().feature_names or [])
    raw = model.predict_proba(evaluate.feature_matrix(features, columns))[:, 1]
    calibration = _attr_json(model, "calibration")
    if not calibration:
        return raw.astype("float64")
    return evaluate.apply_platt(raw, calibration["slope"], calibration["intercept"])


def score_invoices(features: pd.DataFrame, *, tracking_uri: str) -> pd.DataFrame:
    """Score invoices with the current champion.

    Args:
        features: Rows shaped like the `ml_invoice_features` mart (label columns may be null);
            must contain `invoice_id`, `customer_id` and every feature the champion was trained on.
        tracking_uri: MLflow tracking (and registry) URI.

    Returns:
        One row per input row: `invoice_id`, `customer_id`, `risk_score` (calibrated probability
        of being late, 0-1) and `model_version`, in input order.

    Raises:
        registry.NoChampionError: If no champion is registered ("run `cobranza train` first").
        ValueError: If identifier or feature columns the champion needs are missing.
    """
    model, version = registry.load_champion(tracking_uri)
    return _scores_frame(model, version, features)


def _scores_frame(model: Any, version: str, features: pd.DataFrame) -> pd.DataFrame:
    missing_ids = [c for c in ("invoice_id", "customer_id") if c not in features.columns]
    if missing_ids:
        raise ValueError(f"features frame lacks {missing_ids}; cannot attribute scores to invoices")
    if not model.get_booster().feature_names:
        raise ValueError(f"champion v{version} has no stored feature names; retrain it with ml.train")
    if features.empty:
        return pd.DataFrame(
            {
                "invoice_id": pd.Series(dtype="str"),
                "customer_id": pd.Series(dtype="str"),
                "risk_score": pd.Series(dtype="float64"),
                "model_version": pd.Series(dtype="str"),
            }
        )
    out = pd.DataFrame(
        {
            "invoice_id": features["invoice_id"].to_numpy(),
            "customer_id": features["customer_id"].to_numpy(),
            "risk_score": model_scores(model, features),
            "model_version": version,
        }
    )
    logger.info("scored %d invoices with %s v%s", len(out), registry.MODEL_NAME, version)
    return out[OUTPUT_COLUMNS]


def explain_invoices(model: Any, version: str, features: pd.DataFrame, *, top_k: int = 3) -> pd.DataFrame:
    """The `top_k` features contributing most (by absolute log-odds contribution) to each score.

    Args:
        model: The scoring `XGBClassifier`.
        version: Its registry version (written on every row).
        features: Rows with `invoice_id` and the model's feature columns.
        top_k: Contributions kept per invoice.

    Returns:
        Long format, `top_k` rows per invoice: `invoice_id`, `rank` (1 = strongest), `feature`,
        `contribution` (log-odds; positive pushes towards late), `feature_value`, `model_version`.
    """
    from xgboost import DMatrix

    columns = list(model.get_booster().feature_names or [])
    if features.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in EXPLANATION_COLUMNS})
    matrix = evaluate.feature_matrix(features, columns)
    booster = model.get_booster()
    best = getattr(model, "best_iteration", None)
    iteration_range = (0, best + 1) if best is not None else (0, 0)
    contributions = booster.predict(
        DMatrix(matrix, feature_names=columns),
        pred_contribs=True,
        approx_contribs=True,
        iteration_range=iteration_range,
    )[:, : len(columns)]
    k = min(top_k, len(columns))
    # Stable sort: ties (e.g. zero contributions) rank in column order on every run.
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")[:, :k]
    n = len(matrix)
    values = matrix.to_numpy()
    return pd.DataFrame(
        {
            "invoice_id": np.repeat(features["invoice_id"].to_numpy(), k),
            "rank": np.tile(np.arange(1, k + 1), n),
            "feature": np.asarray(columns, dtype=object)[order].ravel(),
            "contribution": np.take_along_axis(contributions, order, axis=1).ravel().astype("float64"),
            "feature_value": np.take_along_axis(values, order, axis=1).ravel(),
            "model_version": version,
        }
    )[EXPLANATION_COLUMNS]


def customer_risk(scores: pd.DataFrame, open_amounts: pd.DataFrame) -> pd.DataFrame:
    """Roll invoice risk up to customers: worst invoice, amount-weighted risk, expected late amount.

    Args:
        scores: `score_invoices` output (invoice_id, customer_id, risk_score, model_version).
        open_amounts: One row per open invoice: `invoice_id`, `currency`, `amount_open` (Decimal).

    Returns:
        One row per (customer, currency): `n_open_invoices`, `amount_open` (Decimal),
        `max_risk`, `amount_weighted_risk`, `expected_late_amount` (Decimal, 2 places: sum of
        risk x open amount), `model_version`.
    """
    if scores.empty:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in CUSTOMER_RISK_COLUMNS})
    joined = scores.merge(open_amounts[["invoice_id", "currency", "amount_open"]], on="invoice_id", how="left")
    unknown = joined["amount_open"].isna()
    if unknown.any():
        logger.warning(
            "%d scored invoices have no open amount (e.g. %s); counted with amount 0",
            int(unknown.sum()),
            joined.loc[unknown, "invoice_id"].iloc[0],
        )
    amount = pd.to_numeric(joined["amount_open"].fillna(Decimal(0))).astype("float64")
    joined = joined.assign(
        currency=joined["currency"].fillna("n/a"),
        _amount=amount,
        _weighted=amount * joined["risk_score"],
        _exact=joined["amount_open"].fillna(Decimal(0)),
    )
    grouped = joined.groupby(["customer_id", "currency"], sort=True)
    out = grouped.agg(
        n_open_invoices=("invoice_id", "size"),
        max_risk=("risk_score", "max"),
        mean_risk=("risk_score", "mean"),
        amount_float=("_amount", "sum"),
        weighted=("_weighted", "sum"),
        model_version=("model_version", "first"),
    ).reset_index()
    out["amount_open"] = grouped["_exact"].sum().to_numpy()
    has_amount = out["amount_float"] > 0
    ratio = out["weighted"] / out["amount_float"].where(has_amount, 1.0)
    out["amount_weighted_risk"] = np.where(has_amount, ratio, out["mean_risk"])
    out["expected_late_amount"] = [Decimal(f"{v:.2f}") for v in out["weighted"]]
    return out[CUSTOMER_RISK_COLUMNS]


def feature_drift(model: Any, features: pd.DataFrame, *, threshold: float) -> pd.DataFrame:
    """PSI of each feature and of the score against the reference stored in the model.

    Args:
        model: The champion (trained by `ml.train`, which stores the reference).
        features: A recent sample with the model's feature columns, built the same way as the
            training rows (e.g. invoices issued in the last 30 days, features as of issue).
        threshold: PSI above which a feature (or the score) counts as drifted.

    Returns:
        One row per feature plus `__score__`: `feature`, `psi`, `n_reference_bins`, `n_current`,
        `is_drifted` (psi > threshold, enough rows, not exempt), `is_exempt`. Empty when the model
        carries no reference (trained before drift references existed).
    """
    reference = _attr_json(model, "drift_reference")
    if not reference:
        logger.warning("champion has no drift reference (trained before it existed): drift not checked")
        return pd.DataFrame({c: pd.Series(dtype="object") for c in DRIFT_COLUMNS})
    columns = list(model.get_booster().feature_names or [])
    matrix = evaluate.feature_matrix(features, columns)
    current = {c: matrix[c].to_numpy() for c in columns}
    current[SCORE_FEATURE] = model_scores(model, features) if len(features) else np.array([])
    rows = []
    for name, ref in reference.items():
        values = current.get(name)
        if values is None:
            continue
        value = evaluate.psi(ref, values)
        exempt = name in DRIFT_EXEMPT
        drifted = bool(len(values) >= DRIFT_MIN_ROWS and not exempt and np.isfinite(value) and value > threshold)
        rows.append(
            {
                "feature": name,
                "psi": value,
                "n_reference_bins": len(ref["fractions"]),
                "n_current": len(values),
                "is_drifted": drifted,
                "is_exempt": exempt,
            }
        )
    out = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    for row in out.loc[out["is_drifted"]].itertuples():
        logger.warning("drift: %s PSI %.3f > %.2f against the training reference", row.feature, row.psi, threshold)
    return out


@dataclass
class ScoringOutput:
    """Everything one daily scoring pass produces, all stamped with the champion's version."""

    model_version: str
    invoice_scores: pd.DataFrame
    explanations: pd.DataFrame
    customer_risk: pd.DataFrame
    drift: pd.DataFrame

    @property
    def drifted(self) -> list[str]:
        """Features (and `__score__`) past the drift threshold."""
        return self.drift.loc[self.drift["is_drifted"].astype(bool), "feature"].tolist() if len(self.drift) else []

    def tables(self, as_of: date, scored_at: datetime) -> dict[str, tuple[pd.DataFrame, str]]:
        """``{table: (rows, column definitions)}`` of this pass for run date ``as_of``, in :data:`TABLES` order.

        Each frame carries ``as_of_date`` first and ``scored_at`` (naive UTC) last, in the DDL's order.
        """
        stamp = {"as_of_date": as_of, "scored_at": scored_at.astimezone(UTC).replace(tzinfo=None)}
        frames = {
            EXPLANATIONS_TABLE: self.explanations,
            CUSTOMER_RISK_TABLE: self.customer_risk,
            DRIFT_TABLE: self.drift,
            SCORES_TABLE: self.invoice_scores[["invoice_id", "customer_id", "risk_score", "model_version"]],
        }
        return {
            table: (frame.assign(**stamp)[["as_of_date", *frame.columns, "scored_at"]], TABLES[table])
            for table, frame in frames.items()
        }

    def drift_summary(self) -> dict[str, Any]:
        """PSI of the score, the worst features, and whether a retrain is flagged."""
        if self.drift.empty:
            return {"checked": False, "retrain_flag": False}
        by_feature = self.drift.loc[self.drift["feature"] != SCORE_FEATURE].sort_values("psi", ascending=False)
        score = self.drift.loc[self.drift["feature"] == SCORE_FEATURE, "psi"]
        return {
            "checked": True,
            "score_psi": round(float(score.iloc[0]), 4) if len(score) else None,
            "max_feature_psi": {r.feature: round(float(r.psi), 4) for r in by_feature.head(3).itertuples()},
            "drifted": self.drifted,
            "retrain_flag": bool(self.drifted),
            "n_current": int(self.drift["n_current"].max()),
        }


def ensure_tables(con: Any) -> None:
    """Create the score tables (:data:`TABLES`), empty, where missing: dbt reads them as sources."""
    for table, ddl in TABLES.items():
        con.execute(f"create schema if not exists {table.split('.', 1)[0]}")
        con.execute(f"create table if not exists {table} ({ddl})")


def drifted_features(con: Any, model_version: str) -> list[str]:
    """Features (or the score) a past scoring run flagged as drifted for ``model_version``, sorted.

    Args:
        con: DuckDB warehouse connection (reads :data:`DRIFT_TABLE`; none yet means none flagged).
    """
    schema, name = DRIFT_TABLE.split(".", 1)
    if not con.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
    ).fetchall():
        return []
    rows = con.execute(
        f"select distinct feature from {DRIFT_TABLE} where model_version = ? and is_drifted", [model_version]
    ).fetchall()
    return sorted(r[0] for r in rows)


def score_with_champion(
    open_features: pd.DataFrame,
    open_amounts: pd.DataFrame,
    recent_features: pd.DataFrame,
    *,
    tracking_uri: str,
    drift_threshold: float,
    top_k: int = 3,
) -> ScoringOutput:
    """Load `@champion` once and produce the daily scores, explanations, customer risk and drift.

    Args:
        open_features: `ml_open_invoice_features` rows (features as of today).
        open_amounts: Open invoices' `invoice_id`, `currency`, `amount_open`.
        recent_features: `ml_invoice_features` rows of recently issued invoices (features as of
            issue, like the training rows) for the drift check.
        tracking_uri: MLflow tracking (and registry) URI.
        drift_threshold: PSI above which a feature or the score counts as drifted.
        top_k: Contributions kept per invoice.

    Raises:
        registry.NoChampionError: If no champion is registered.
    """
    model, version = registry.load_champion(tracking_uri)
    scores = _scores_frame(model, version, open_features)
    return ScoringOutput(
        model_version=version,
        invoice_scores=scores,
        explanations=explain_invoices(model, version, open_features, top_k=top_k),
        customer_risk=customer_risk(scores, open_amounts),
        drift=feature_drift(model, recent_features, threshold=drift_threshold).assign(model_version=version),
    )

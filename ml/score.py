"""Score open invoices with the champion delinquency model.

Always loads `models:/cobranza_delinquency@champion` (never a pinned version, STYLE.md) and returns
the XGBoost `predict_proba` probability of the invoice being late, tagged with the model version
that produced it so that downstream tables can be traced back to the registry.
"""

from __future__ import annotations

import logging

import pandas as pd

from ml import evaluate, registry
from ml.registry import champion_exists, load_champion

logger = logging.getLogger(__name__)

__all__ = ["champion_exists", "load_champion", "score_invoices"]

OUTPUT_COLUMNS = ["invoice_id", "customer_id", "risk_score", "model_version"]


def score_invoices(features: pd.DataFrame, *, tracking_uri: str) -> pd.DataFrame:
    """Score invoices with the current champion.

    Args:
        features: Rows shaped like the `ml_invoice_features` mart (label columns may be null);
            must contain `invoice_id`, `customer_id` and every feature the champion was trained on.
        tracking_uri: MLflow tracking (and registry) URI.

    Returns:
        One row per input row: `invoice_id`, `customer_id`, `risk_score` (probability of being
        late, 0-1) and `model_version`, in input order.

    Raises:
        registry.NoChampionError: If no champion is registered ("run `cobranza train` first").
        ValueError: If identifier or feature columns the champion needs are missing.
    """
    model, version = registry.load_champion(tracking_uri)
    missing_ids = [c for c in ("invoice_id", "customer_id") if c not in features.columns]
    if missing_ids:
        raise ValueError(f"features frame lacks {missing_ids}; cannot attribute scores to invoices")
    columns = list(model.get_booster().feature_names or [])
    if not columns:
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
    scores = model.predict_proba(evaluate.feature_matrix(features, columns))[:, 1]
    out = pd.DataFrame(
        {
            "invoice_id": features["invoice_id"].to_numpy(),
            "customer_id": features["customer_id"].to_numpy(),
            "risk_score": scores.astype("float64"),
            "model_version": version,
        }
    )
    logger.info("scored %d invoices with %s v%s", len(out), registry.MODEL_NAME, version)
    return out[OUTPUT_COLUMNS]

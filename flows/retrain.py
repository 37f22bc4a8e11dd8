"""Weekly retrain: rebuild the feature marts, train a challenger and promote it only if it wins."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow

from cobranza import runtime
from cobranza.settings import load_settings
from flows import stages

runtime.apply_defaults()


@flow(name="weekly_retrain")
def weekly_retrain(as_of: date | None = None) -> dict[str, Any]:
    """Train, evaluate against baselines and the champion, and register the delinquency model."""
    ctx = stages.make_context(load_settings(), as_of)
    built = stages.dbt_build(ctx, select="+ml_invoice_features")
    trained = stages.train_model(ctx, force=True)
    return {"dbt": built, "train": trained}

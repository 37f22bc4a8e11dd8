"""Fixtures for the delinquency model tests: synthetic features and throw-away MLflow stores."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from delinquency_data import make_features

# Tests never phone home; the library leaves this to its callers.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


@pytest.fixture(scope="session")
def features() -> pd.DataFrame:
    return make_features()


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store with its schema created once (migrations cost ~6 s per new file)."""
    from mlflow import MlflowClient

    path = tmp_path_factory.mktemp("mlflow_template") / "mlflow.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture
def tracking_uri(empty_store: Path, tmp_path: Path) -> str:
    """A fresh, empty tracking store for one test."""
    path = tmp_path / "mlflow.db"
    shutil.copyfile(empty_store, path)
    return f"sqlite:///{path}"

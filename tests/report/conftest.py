"""Fixtures of the KPI report tests: the session's profile-S world (see report_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
import report_helpers


@pytest.fixture(scope="session")
def profile_s_data(tmp_path_factory) -> Path:
    """Data folder of a profile-S daily run (warehouse, MLflow, GX Data Docs), built once per session."""
    return report_helpers.profile_s_world(tmp_path_factory)


@pytest.fixture(scope="session")
def kpi_report(profile_s_data, tmp_path_factory):
    """The whole-portfolio report built from the profile-S world, with its result."""
    from cobranza.report import build_report

    out = tmp_path_factory.mktemp("kpi_report")
    result = build_report(
        profile_s_data / "warehouse.duckdb",
        out,
        tracking_uri=f"sqlite:///{profile_s_data / 'mlflow.db'}",
    )
    return result

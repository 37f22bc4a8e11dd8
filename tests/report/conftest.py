"""Fixtures of the KPI report tests: the report built on the session's profile-S world (tests/conftest.py)."""

from __future__ import annotations

import pytest


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

"""Fixtures of the UI smoke tests: the session's profile-S world, shared with tests/report.

The world is built by tests/report/report_helpers.py (imported from that folder: never
``from conftest import``), so a session that runs both folders runs the daily flow once.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))

import report_helpers  # noqa: E402  (found through the path added above)


@pytest.fixture(scope="session")
def profile_s_data(tmp_path_factory) -> Path:
    """Data folder of a profile-S daily run (warehouse, MLflow, GX Data Docs), built once per session."""
    return report_helpers.profile_s_world(tmp_path_factory)

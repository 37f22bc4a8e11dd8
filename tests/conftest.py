"""Suite-wide test set-up: quiet offline defaults, an isolated Prefect home, shared fixtures.

Prefect's in-process API starts once per session (``prefect_test_harness``, 12-17 s on 2 cores),
only for the tests that run real flows; everything else calls library code directly.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import pytest

from cobranza import runtime

# Before anything imports Prefect: its home (database, settings) lives in a throw-away folder.
os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="cobranza-prefect-home-")
os.environ.pop("PREFECT_API_URL", None)
runtime.apply_defaults()

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
# The profile-S world helpers live beside the report tests; never ``from conftest import``.
sys.path.insert(0, str(Path(__file__).resolve().parent / "report"))


@pytest.fixture(scope="session")
def prefect_harness():
    """One ephemeral Prefect API for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=300):  # generous: 2 cores may be busy
        yield


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real sample files beside the project (../shared/data); skip when absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is absent (it sits beside the repo in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def profile_s_data(tmp_path_factory) -> Path:
    """Data folder of a profile-S daily run (warehouse, MLflow, GX Data Docs), built once per session.

    Shared by the report, notebook and UI tests (tests/report/report_helpers.py builds it).
    """
    import report_helpers

    return report_helpers.profile_s_world(tmp_path_factory)

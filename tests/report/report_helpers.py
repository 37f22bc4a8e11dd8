"""Shared test helpers for the report, notebook and UI tests: one profile-S world per test session.

The daily run (``cobranza run``) runs once, in a child process, into a session temporary folder
(warehouse, MLflow store, GX Data Docs) the first time any of those test folders asks for it; the
others reuse it. A child process, so that no DuckDB handle stays open in the test process: dbt
keeps its connection, and DuckDB then refuses the file to every other process (the notebook
kernels, ``dbt docs generate``, a copy-and-alter test). Each folder's conftest.py
exposes it as the ``profile_s_data`` fixture (tests/notebooks and tests/ui put this folder on
``sys.path`` to import this module: never ``from conftest import``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

AS_OF = date(2026, 11, 23)
_WORLD: dict[str, Path] = {}


def profile_s_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run the daily collections flow on profile S once per session and return its data folder."""
    if "error" in _WORLD:  # built and failed earlier in this session: do not pay for it again
        raise AssertionError(f"the profile-S daily run failed earlier in this session:\n{_WORLD['error']}")
    if "data" not in _WORLD:
        data = tmp_path_factory.mktemp("profile_s_world")
        env = {
            **os.environ,
            "COBRANZA_DATA_DIR": str(data),
            "PREFECT_HOME": str(data / "prefect-home"),
        }
        env.pop("PREFECT_API_URL", None)
        cli = Path(sys.executable).with_name("cobranza")
        run = subprocess.run(
            [str(cli), "run", "--as-of", AS_OF.isoformat(), "--profile", "S", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if run.returncode != 0:
            _WORLD["error"] = run.stderr[-4000:]
            raise AssertionError(f"cobranza run failed:\n{_WORLD['error']}")
        summary = json.loads(run.stdout.strip().splitlines()[-1])
        assert summary["as_of"] == AS_OF.isoformat()
        _WORLD["data"] = data
    return _WORLD["data"]


def copy_world(data: Path, dest: Path) -> Path:
    """A private copy of the world's warehouse and MLflow store, for tests that alter them."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal", "mlflow.db"):
        if (data / name).exists():
            shutil.copy2(data / name, dest / name)
    return dest


def chromium_binary() -> str | None:
    """Debian's chromium (installed by .ci/system-deps), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")

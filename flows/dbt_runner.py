"""Runs dbt in-process (``dbtRunner``) against the configured warehouse.

``dbt build`` (not run-then-test) so a failing test stops the models downstream of it. Artifacts
and logs go under the data directory, so parallel runs (tests, benches) never share a target folder.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"


class DbtBuildError(RuntimeError):
    """dbt build failed; the message lists the failing nodes and their errors."""


def _bound_duckdb(duckdb_path: Path) -> None:
    """Hand the run's DuckDB bounds (``connectors.warehouse.limits``, from the settings) to dbt-duckdb's profile."""
    from connectors import warehouse

    bounds = warehouse.limits()
    temp = bounds.get("temp_directory") or Path(f"{duckdb_path}.tmp")  # DuckDB's own default folder
    Path(temp).mkdir(parents=True, exist_ok=True)
    os.environ["COBRANZA_DBT_DUCKDB_TEMP_DIRECTORY"] = str(temp)
    for key in ("memory_limit", "threads"):
        name = f"COBRANZA_DBT_DUCKDB_{key.upper()}"
        if bounds.get(key):
            os.environ[name] = str(bounds[key])
        else:
            os.environ.pop(name, None)


def dbt_args(
    command: list[str], *, duckdb_path: Path, work_dir: Path, as_of: date, late_days: int, target: str | None = None
) -> list[str]:
    """Full dbt CLI arguments for one command on this project and warehouse (``target``: a profile output)."""
    os.environ["COBRANZA_DBT_DUCKDB_PATH"] = str(duckdb_path)
    _bound_duckdb(duckdb_path)
    dbt_vars = {"as_of_date": as_of.isoformat(), "late_days": late_days}
    return [
        *command,
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(work_dir / "target"),
        "--log-path",
        str(work_dir / "logs"),
        "--vars",
        json.dumps(dbt_vars),
        "--quiet",
        *(["--target", target] if target else []),
    ]


def ensure_operational_tables(duckdb_path: Path) -> None:
    """Create, empty, the Python-owned tables the dbt project reads as sources (models/staging/ops).

    Each owner creates its own (idempotent): the outbox (``connectors.channels.outbox``), the raw
    gate's exclusions (``expectations.gates``), the scores (``ml.score``), the decision log
    (``ml.nba.decision_log``), the alerts (``ml.alerts.lifecycle``) and the agent's decisions
    (``ml.agent.log``). A fresh warehouse then
    builds before the first score, decision or dispatch.
    """
    from connectors import warehouse
    from connectors.channels import outbox
    from expectations.gates import ensure_excluded_table
    from ml import score
    from ml.agent import log as agent_log
    from ml.alerts import lifecycle
    from ml.nba import decision_log

    with warehouse.connect(duckdb_path) as con:
        outbox.ensure_schema(con)
        ensure_excluded_table(con)
        score.ensure_tables(con)
        decision_log.ensure_table(con)
        lifecycle.ensure_tables(con)
        agent_log.ensure_table(con)


def run_dbt(
    command: list[str], *, duckdb_path: Path, work_dir: Path, as_of: date, late_days: int, target: str | None = None
) -> dict[str, int]:
    """Invoke dbt and return counts of node results by status; raise on any failure."""
    from dbt.cli.main import dbtRunner

    if target in (None, "duckdb"):
        ensure_operational_tables(duckdb_path)
    args = dbt_args(
        command, duckdb_path=duckdb_path, work_dir=work_dir, as_of=as_of, late_days=late_days, target=target
    )
    res = dbtRunner().invoke(args)
    counts: dict[str, int] = {}
    failures: list[str] = []
    for r in getattr(res.result, "results", None) or []:
        status = str(r.status)
        counts[status] = counts.get(status, 0) + 1
        if status in ("error", "fail", "runtime error"):
            failures.append(f"{r.node.unique_id}: {(r.message or '').strip()[:300]}")
    if not res.success:
        detail = "; ".join(failures) or (str(res.exception) if res.exception else "see the dbt log")
        raise DbtBuildError(f"dbt {' '.join(command)} failed: {detail} (log: {work_dir / 'logs' / 'dbt.log'})")
    return counts

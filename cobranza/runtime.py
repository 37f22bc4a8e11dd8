"""Process-wide defaults for the embedded stack: quiet, offline-safe and patient on 2 cores.

Set before Prefect, MLflow, GX or dbt are imported (STACK.md): analytics and telemetry off (this
machine class has no internet, and offline telemetry has locked Prefect's database once), a longer
start-up timeout for Prefect's in-process API. Values already in the environment win.
"""

from __future__ import annotations

import os

DEFAULTS = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "DO_NOT_TRACK": "1",
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "GX_ANALYTICS_ENABLED": "false",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "DBT_PRINTER_WIDTH": "100",
}


def apply_defaults() -> None:
    """Put the quiet defaults into ``os.environ`` unless already set."""
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)

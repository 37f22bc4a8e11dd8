"""The run context every stage receives: settings, the business date and the decision clock, fixed once.

And the logger a stage writes to: Prefect's run logger inside a flow run, a plain one outside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

from prefect.logging import get_run_logger

from cobranza.settings import Settings


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow run, the ``cobranza.flows`` logger outside one (CLI, bench)."""
    try:
        return get_run_logger()
    except Exception:  # called outside a flow run
        return logging.getLogger("cobranza.flows")


@dataclass(frozen=True)
class RunContext:
    """What every stage needs to know about this run."""

    settings: Settings
    as_of: date
    now_utc: datetime

    @property
    def warehouse(self) -> Path:
        """The DuckDB file."""
        return self.settings.duckdb_path

    @property
    def landing_dir(self) -> Path:
        """Folder of the source extracts."""
        return self.settings.resolve(self.settings.sources.landing_dir)

    @property
    def dbt_dir(self) -> Path:
        """dbt target and logs for this data directory."""
        return self.settings.data_dir / "dbt"


def make_context(settings: Settings, as_of: date | None, now_utc: datetime | None = None) -> RunContext:
    """Fix the business date and the decision clock of a run.

    A run for today decides at the current time; a run for another date (back-fill, tests) decides
    as if it ran at 06:00 UTC that day, so its schedule is reproducible.
    """
    from cobranza import logmask

    logmask.install()  # phone numbers and e-mail addresses never reach a log line of a run
    today = datetime.now(UTC).date()
    as_of = as_of or today
    if now_utc is None:
        now_utc = datetime.now(UTC) if as_of == today else datetime.combine(as_of, time(6, 0), tzinfo=UTC)
    return RunContext(settings=settings, as_of=as_of, now_utc=now_utc)

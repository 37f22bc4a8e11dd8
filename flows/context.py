"""The run context every stage receives: settings, the business date and the decision clock, fixed once.

The business date is the date on the company's clock (``company.timezone``), not UTC's: a run at
23:30 in Mexico City belongs to that day though UTC has moved on. A company public holiday
(``company.country``, via the ``holidays`` package) is named in the context with what the run does
about it (``company.on_holiday``). And the logger a stage writes to: Prefect's run logger inside a
flow run, a plain one outside it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from prefect.logging import get_run_logger

from cobranza.settings import Settings


def run_logger() -> logging.Logger | logging.LoggerAdapter:
    """The Prefect run logger inside a flow run, the ``cobranza.flows`` logger outside one (CLI, bench)."""
    try:
        return get_run_logger()
    except Exception:  # called outside a flow run
        return logging.getLogger("cobranza.flows")


def company_zone(settings: Settings) -> ZoneInfo:
    """The company's time zone (``company.timezone``)."""
    return ZoneInfo(settings.company.timezone)


def business_date(settings: Settings, now_utc: datetime) -> date:
    """The business date at instant ``now_utc`` (a naive value is read as UTC): its date on the company's clock."""
    if now_utc.tzinfo is None:
        now_utc = now_utc.replace(tzinfo=UTC)
    return now_utc.astimezone(company_zone(settings)).date()


@lru_cache(maxsize=64)
def _holiday_names(country: str, year: int) -> dict[date, str]:
    import holidays

    return dict(holidays.country_holidays(country, years=year).items())


def company_holiday(settings: Settings, day: date) -> str | None:
    """The name of the company's public holiday on ``day`` (``company.country``), or None."""
    return _holiday_names(settings.company.country, day.year).get(day)


@dataclass(frozen=True)
class RunContext:
    """What every stage needs to know about this run.

    Attributes:
        settings: The settings of the run.
        as_of: The business date (on the company's clock).
        now_utc: The decision clock.
        holiday: The company holiday ``as_of`` falls on, or None on a business day.
    """

    settings: Settings
    as_of: date
    now_utc: datetime
    holiday: str | None = None

    @property
    def day_plan(self) -> str:
        """What the daily run does today: ``business_day``, or the holiday policy (skip, run, dispatch_only)."""
        return self.settings.company.on_holiday if self.holiday else "business_day"

    @property
    def decides(self) -> bool:
        """Whether new contacts may be decided today (a business day, or a holiday run as one)."""
        return self.day_plan in ("business_day", "run")

    @property
    def refreshes_data(self) -> bool:
        """Whether the daily run ingests and builds today (all but ``dispatch_only`` holidays)."""
        return self.day_plan != "dispatch_only"

    def company_day(self) -> dict[str, object]:
        """The run's day for its summary: date, zone, holiday (if any) and what the run did about it."""
        return {
            "business_date": self.as_of.isoformat(),
            "timezone": self.settings.company.timezone,
            "country": self.settings.company.country,
            "holiday": self.holiday,
            "plan": self.day_plan,
        }

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

    Without ``as_of`` the business date is the date of ``now_utc`` (default: now) on the company's
    clock. A run for today decides at the current time; a run for another date (back-fill, tests)
    without a clock decides as if it ran at 06:00 UTC that day, so its schedule is reproducible
    (unchanged from the UTC-dated runs before; for a company zone more than six hours behind UTC,
    at local midnight instead, so the clock always lies on the business date).
    """
    from cobranza import logmask
    from connectors import warehouse

    logmask.install()  # phone numbers and e-mail addresses never reach a log line of a run
    wall = datetime.now(UTC)
    if as_of is None:
        as_of = business_date(settings, now_utc or wall)
    if now_utc is None:
        if as_of == business_date(settings, wall):
            now_utc = wall
        else:
            local_midnight = datetime.combine(as_of, time(0), tzinfo=company_zone(settings)).astimezone(UTC)
            now_utc = max(datetime.combine(as_of, time(6, 0), tzinfo=UTC), local_midnight)
    wh = settings.warehouse  # every DuckDB connection of the run is bounded (issue 19)
    warehouse.set_limits(wh.memory_limit, wh.threads, settings.resolve(wh.temp_directory))
    return RunContext(settings=settings, as_of=as_of, now_utc=now_utc, holiday=company_holiday(settings, as_of))

"""Contact rules for next-best-action: lawful contact windows and spacing (DESIGN.md §10).

The default is the strictest intersection of the statutes listed in DESIGN.md §10: Monday to Friday,
09:00 to 19:00 in the contact's local time, never on a public holiday of the customer's country, and
at least 48 hours between two contacts to the same customer. The window is half-open: 09:00:00 is
lawful, 19:00:00 is not.

Local time is computed with :mod:`zoneinfo`, so daylight-saving transitions are handled by the IANA
database (a wall-clock hour that does not exist on a spring-forward day is never produced). Public
holidays come from the ``holidays`` package (``holidays.country_holidays``), national calendar only:
regional holidays (US states, Spanish autonomous communities, Brazilian states) are not applied
because the contract carries no subdivision.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import pandas as pd

logger = logging.getLogger(__name__)

_WEEKDAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: How far ahead :func:`next_lawful_slot` searches before giving up (covers long holiday runs).
MAX_LOOKAHEAD_DAYS = 31


@dataclass(frozen=True)
class ContactRules:
    """When and how often a customer may be contacted.

    Attributes:
        start_hour: First lawful local hour (inclusive), 0-23.
        end_hour: End of the lawful local window (exclusive), 1-24.
        weekdays: Lawful weekdays, Monday = 0 ... Sunday = 6.
        min_spacing_hours: Minimum hours between two contacts to the same customer.
        respect_holidays: Skip public holidays of the customer's country.
    """

    start_hour: int = 9
    end_hour: int = 19
    weekdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})
    min_spacing_hours: int = 48
    respect_holidays: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.start_hour < self.end_hour <= 24:
            raise ValueError(
                f"ContactRules window {self.start_hour}-{self.end_hour} is invalid: "
                "need 0 <= start_hour < end_hour <= 24"
            )
        if not self.weekdays or not set(self.weekdays) <= set(range(7)):
            raise ValueError(f"ContactRules.weekdays must be a non-empty subset of 0..6, got {self.weekdays}")
        if self.min_spacing_hours < 0:
            raise ValueError("ContactRules.min_spacing_hours must be >= 0")

    def describe(self, tz: str) -> str:
        """Human/reason-code form of the window, e.g. ``mon-fri 09-19 America/Bogota``."""
        days = sorted(self.weekdays)
        if days == list(range(days[0], days[-1] + 1)) and len(days) > 1:
            day_txt = f"{_WEEKDAY_NAMES[days[0]]}-{_WEEKDAY_NAMES[days[-1]]}"
        else:
            day_txt = ",".join(_WEEKDAY_NAMES[d] for d in days)
        return f"{day_txt} {self.start_hour:02d}-{self.end_hour:02d} {tz}"


DEFAULT_RULES = ContactRules()


@lru_cache(maxsize=256)
def zone(tz: str) -> ZoneInfo:
    """Return the :class:`ZoneInfo` for an IANA name, with a clear error for a bad one."""
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown IANA timezone {tz!r}; fix the contact's or customer's timezone") from exc


@lru_cache(maxsize=1024)
def _holiday_calendar(country: str, year: int) -> frozenset[date]:
    try:
        cal = holidays.country_holidays(country.upper(), years=year)
    except (NotImplementedError, KeyError):
        logger.warning("no public-holiday calendar for country %r; only weekdays/hours apply", country)
        return frozenset()
    return frozenset(cal.keys())


def is_holiday(day: date, country: str | None) -> bool:
    """Whether ``day`` is a national public holiday in ``country`` (ISO 3166-1 alpha-2)."""
    if not country:
        return False
    return day in _holiday_calendar(country, day.year)


def is_lawful_day(day: date, country: str | None, rules: ContactRules = DEFAULT_RULES) -> bool:
    """Whether contacts are allowed at all on local calendar day ``day``."""
    if day.weekday() not in rules.weekdays:
        return False
    return not (rules.respect_holidays and is_holiday(day, country))


def _as_utc(ts: datetime | pd.Timestamp) -> datetime:
    if isinstance(ts, pd.Timestamp):
        ts = ts.to_pydatetime()
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"timestamp {ts!r} is naive; pass a timezone-aware UTC instant")
    return ts.astimezone(UTC)


def is_lawful(
    ts_utc: datetime | pd.Timestamp,
    tz: str,
    country: str | None,
    rules: ContactRules = DEFAULT_RULES,
) -> bool:
    """Whether a contact at instant ``ts_utc`` is inside the lawful window.

    Args:
        ts_utc: Timezone-aware instant (any zone; it is converted).
        tz: IANA timezone of the contact (the local clock the window applies to).
        country: ISO 3166-1 alpha-2 country whose public holidays apply (the customer's).
        rules: Contact rules.

    Returns:
        True when the local weekday is allowed, the local day is not a public holiday (if the rules
        respect holidays) and ``start_hour <= local time < end_hour``.
    """
    local = _as_utc(ts_utc).astimezone(zone(tz))
    if not is_lawful_day(local.date(), country, rules):
        return False
    start = time(rules.start_hour)
    if rules.end_hour == 24:
        return local.time() >= start
    return start <= local.time() < time(rules.end_hour)


def _local_to_utc(day: date, hour: int, tz: ZoneInfo) -> datetime:
    """UTC instant of local ``day hour:00``; a wall time skipped by DST resolves forward."""
    naive = datetime.combine(day, time(hour))
    # fold=0 picks the first occurrence of an ambiguous time; for a non-existent time zoneinfo uses
    # the pre-transition offset, which lands after the gap once normalised through UTC.
    return naive.replace(tzinfo=tz).astimezone(UTC)


def next_lawful_slot(
    now_utc: datetime | pd.Timestamp,
    tz: str,
    country: str | None,
    rules: ContactRules = DEFAULT_RULES,
    preferred_hour: int | None = None,
) -> tuple[datetime, str]:
    """The next lawful contact instant at or after ``now_utc``.

    Policy: if the contact has a preferred hour inside the window, use the first lawful day whose
    preferred hour is still ahead (today if it has not passed yet, otherwise the next lawful day),
    so a stated preference is never traded for a few hours. Without a usable preferred hour, contact
    now if now is lawful, else at the window start of the next lawful day.

    Args:
        now_utc: Timezone-aware current instant.
        tz: Contact's IANA timezone.
        country: Customer's country for public holidays.
        rules: Contact rules.
        preferred_hour: Contact's preferred local hour (0-23) or None.

    Returns:
        ``(slot_utc, how)`` where ``slot_utc`` is a timezone-aware UTC datetime (whole seconds) and
        ``how`` is ``preferred_hour``, ``now`` or ``window_start``.

    Raises:
        ValueError: If no lawful slot exists within ``MAX_LOOKAHEAD_DAYS``.
    """
    now = _as_utc(now_utc).replace(microsecond=0)
    zi = zone(tz)
    use_pref = preferred_hour is not None and rules.start_hour <= preferred_hour < rules.end_hour
    if not use_pref and is_lawful(now, tz, country, rules):
        return now, "now"
    hour = int(preferred_hour) if use_pref else rules.start_hour
    how = "preferred_hour" if use_pref else "window_start"
    today = now.astimezone(zi).date()
    for offset in range(MAX_LOOKAHEAD_DAYS + 1):
        day = today + timedelta(days=offset)
        if not is_lawful_day(day, country, rules):
            continue
        slot = _local_to_utc(day, hour, zi)
        if slot >= now and is_lawful(slot, tz, country, rules):
            return slot, how
    raise ValueError(
        f"no lawful contact slot within {MAX_LOOKAHEAD_DAYS} days after {now.isoformat()} "
        f"for {rules.describe(tz)} (country {country!r}); check ContactRules"
    )


def format_local(ts_utc: datetime | pd.Timestamp, tz: str) -> str:
    """ISO-8601 local wall time with offset and zone name, e.g. ``2026-03-02T09:00:00-05:00 America/Bogota``."""
    return f"{_as_utc(ts_utc).astimezone(zone(tz)).isoformat()} {tz}"

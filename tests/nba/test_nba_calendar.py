"""The calendar the contact rules stand on (ml.nba.compliance): local windows, holidays, DST, zones.

Checked through the strict default profile (Mon-Fri 09:00-19:00 local, no public holiday), the rule
set the engine applies to a country without a statute of its own.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ml.nba.compliance import STRICT_DEFAULT, format_local, in_window, is_holiday, zone


def is_lawful(ts: datetime, tz: str, country: str | None, profile=STRICT_DEFAULT) -> bool:
    return in_window(ts, tz, country, profile, "email")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        (utc(2026, 3, 2, 14, 0), True),  # Mon 09:00 Bogota (UTC-5): window opens
        (utc(2026, 3, 2, 13, 59, 59), False),  # 08:59:59
        (utc(2026, 3, 2, 23, 59, 59), True),  # 18:59:59
        (utc(2026, 3, 3, 0, 0), False),  # 19:00 sharp: half-open window
        (utc(2026, 3, 7, 15, 0), False),  # Saturday 10:00
        (utc(2026, 3, 8, 15, 0), False),  # Sunday 10:00
    ],
)
def test_window_edges_bogota(ts: datetime, expected: bool) -> None:
    assert is_lawful(ts, "America/Bogota", "CO") is expected


@pytest.mark.parametrize(
    ("ts", "tz", "country"),
    [
        (utc(2026, 12, 25, 15, 0), "America/Bogota", "CO"),  # Christmas, a Friday
        (utc(2026, 12, 25, 16, 0), "America/Mexico_City", "MX"),
        (utc(2026, 12, 25, 10, 0), "Europe/Madrid", "ES"),
        (utc(2026, 1, 12, 15, 0), "America/Bogota", "CO"),  # Reyes Magos, moved to Monday (Ley Emiliani)
        (utc(2026, 2, 2, 16, 0), "America/Mexico_City", "MX"),  # Día de la Constitución (first Monday Feb)
        (utc(2026, 3, 16, 16, 0), "America/Mexico_City", "MX"),  # Natalicio de Benito Juárez (3rd Monday Mar)
        (utc(2026, 7, 20, 15, 0), "America/Bogota", "CO"),  # Independencia de Colombia, a Monday
    ],
)
def test_public_holidays_are_not_lawful(ts: datetime, tz: str, country: str) -> None:
    assert is_lawful(ts, tz, country) is False
    assert not is_holiday(ts.date(), "ZZ")


def test_holidays_are_per_country() -> None:
    # 2026-01-12 is a holiday in Colombia but an ordinary Monday in Mexico.
    assert is_lawful(utc(2026, 1, 12, 16, 0), "America/Mexico_City", "MX") is True
    assert is_lawful(utc(2026, 1, 12, 16, 0), "America/Mexico_City", "CO") is False


def test_unknown_country_applies_hours_only() -> None:
    assert is_lawful(utc(2026, 12, 25, 15, 0), "America/Bogota", "ZZ") is True


@pytest.mark.parametrize(
    ("ts", "expected"),
    [
        # New York springs forward on Sun 2026-03-08: Monday 09:00 is 13:00 UTC (EDT), not 14:00.
        (utc(2026, 3, 9, 13, 0), True),
        (utc(2026, 3, 9, 12, 59), False),
        (utc(2026, 3, 9, 22, 59), True),
        (utc(2026, 3, 9, 23, 0), False),
        # Falls back on Sun 2026-11-01: Monday 09:00 EST is 14:00 UTC.
        (utc(2026, 11, 2, 13, 30), False),
        (utc(2026, 11, 2, 14, 0), True),
        (utc(2026, 11, 2, 23, 59), True),
        (utc(2026, 11, 3, 0, 0), False),
    ],
)
def test_dst_transitions_new_york(ts: datetime, expected: bool) -> None:
    assert is_lawful(ts, "America/New_York", "US") is expected


def test_dst_transition_madrid() -> None:
    # Madrid moves to CEST (UTC+2) on Sun 2026-03-29; Monday 09:00 local = 07:00 UTC.
    assert is_lawful(utc(2026, 3, 30, 7, 0), "Europe/Madrid", "ES") is True
    assert is_lawful(utc(2026, 3, 30, 6, 59), "Europe/Madrid", "ES") is False
    # The Friday before, still CET (UTC+1): 09:00 local = 08:00 UTC.
    assert is_lawful(utc(2026, 3, 27, 7, 30), "Europe/Madrid", "ES") is False
    assert is_lawful(utc(2026, 3, 27, 8, 0), "Europe/Madrid", "ES") is True


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="timezone"):
        zone("Mars/Olympus")
    with pytest.raises(ValueError, match="naive"):
        format_local(datetime(2026, 3, 2, 15), "America/Bogota")


def test_format_local() -> None:
    assert format_local(utc(2026, 3, 2, 14, 0), "America/Bogota") == "2026-03-02T09:00:00-05:00 America/Bogota"

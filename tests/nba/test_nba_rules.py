"""Lawful contact windows: hours, weekdays, public holidays and DST transitions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ml.nba.rules import DEFAULT_RULES, ContactRules, format_local, is_lawful, next_lawful_slot


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
    assert is_lawful(ts, tz, country, ContactRules(respect_holidays=False)) is True


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


def test_next_slot_over_weekend_and_dst() -> None:
    # Fri 2026-03-06 19:30 EST -> next lawful is Mon 2026-03-09 09:00 EDT = 13:00 UTC.
    slot, how = next_lawful_slot(utc(2026, 3, 7, 0, 30), "America/New_York", "US")
    assert slot == utc(2026, 3, 9, 13, 0)
    assert how == "window_start"
    assert slot.astimezone(ZoneInfo("America/New_York")).hour == 9


def test_next_slot_skips_holiday() -> None:
    # Thu 2026-12-24 20:00 Bogota -> Fri 25 is Christmas -> Mon 28 09:00 = 14:00 UTC.
    slot, _ = next_lawful_slot(utc(2026, 12, 25, 1, 0), "America/Bogota", "CO")
    assert slot == utc(2026, 12, 28, 14, 0)


def test_next_slot_now_when_inside_window() -> None:
    now = utc(2026, 3, 2, 16, 30, 12, 999)
    slot, how = next_lawful_slot(now, "America/Bogota", "CO")
    assert (slot, how) == (utc(2026, 3, 2, 16, 30, 12), "now")


def test_next_slot_preferred_hour_today_or_next_lawful_day() -> None:
    # 08:00 Bogota, prefers 11:00 -> today 11:00.
    slot, how = next_lawful_slot(utc(2026, 3, 2, 13, 0), "America/Bogota", "CO", preferred_hour=11)
    assert (slot, how) == (utc(2026, 3, 2, 16, 0), "preferred_hour")
    # 12:00 Bogota, 11:00 has passed -> tomorrow 11:00.
    slot, _ = next_lawful_slot(utc(2026, 3, 2, 17, 0), "America/Bogota", "CO", preferred_hour=11)
    assert slot == utc(2026, 3, 3, 16, 0)
    # Friday 12:00, preferred 10:00 -> Monday 10:00.
    slot, _ = next_lawful_slot(utc(2026, 3, 6, 17, 0), "America/Bogota", "CO", preferred_hour=10)
    assert slot == utc(2026, 3, 9, 15, 0)


def test_preferred_hour_outside_window_is_ignored() -> None:
    slot, how = next_lawful_slot(utc(2026, 3, 2, 12, 0), "America/Bogota", "CO", preferred_hour=7)
    assert (slot, how) == (utc(2026, 3, 2, 14, 0), "window_start")
    slot, how = next_lawful_slot(utc(2026, 3, 2, 15, 0), "America/Bogota", "CO", preferred_hour=21)
    assert (slot, how) == (utc(2026, 3, 2, 15, 0), "now")


def test_nonexistent_local_time_resolves_after_gap() -> None:
    rules = ContactRules(start_hour=0, end_hour=24, weekdays=frozenset(range(7)), respect_holidays=False)
    # 02:00 does not exist in New York on 2026-03-08.
    slot, _ = next_lawful_slot(utc(2026, 3, 8, 5, 0), "America/New_York", "US", rules, preferred_hour=2)
    assert slot == utc(2026, 3, 8, 7, 0)
    assert slot.astimezone(ZoneInfo("America/New_York")).hour == 3


def test_slot_is_always_lawful_and_not_before_now() -> None:
    start = utc(2026, 1, 1, 0, 0)
    for hours in range(0, 24 * 400, 7):
        now = start + timedelta(hours=hours)
        for tz, country in (("America/Bogota", "CO"), ("America/New_York", "US"), ("Europe/Madrid", "ES")):
            for pref in (None, 9, 18):
                slot, _ = next_lawful_slot(now, tz, country, preferred_hour=pref)
                assert slot >= now.replace(microsecond=0)
                assert is_lawful(slot, tz, country)


def test_rules_validation_and_description() -> None:
    with pytest.raises(ValueError, match="window"):
        ContactRules(start_hour=19, end_hour=9)
    with pytest.raises(ValueError, match="weekdays"):
        ContactRules(weekdays=frozenset())
    assert DEFAULT_RULES.describe("America/Bogota") == "mon-fri 09-19 America/Bogota"
    assert ContactRules(weekdays=frozenset({0, 2})).describe("UTC") == "mon,wed 09-19 UTC"


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="naive"):
        is_lawful(datetime(2026, 3, 2, 15), "America/Bogota", "CO")
    with pytest.raises(ValueError, match="timezone"):
        is_lawful(utc(2026, 3, 2, 15), "Mars/Olympus", "CO")
    # Sundays only: the search still finds the next Sunday.
    slot, _ = next_lawful_slot(utc(2026, 3, 2), "UTC", None, ContactRules(weekdays=frozenset({6})))
    assert slot == utc(2026, 3, 8, 9, 0)


def test_format_local() -> None:
    assert format_local(utc(2026, 3, 2, 14, 0), "America/Bogota") == "2026-03-02T09:00:00-05:00 America/Bogota"

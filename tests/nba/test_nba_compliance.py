"""Compliance module: country profiles as data, strictest intersection, audited relaxations, rule checks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml.nba import compliance as C

MON = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # Monday 10:00 in Bogota


def check(**kw):
    args = {
        "at": MON,
        "channel": "email",
        "role": "debtor",
        "consent": True,
        "tz": "America/Bogota",
        "country": "CO",
        "profile": C.effective_profile("CO")[0],
        "history": [],
    }
    args.update(kw)
    return C.check_contact(**args)


def test_every_country_has_a_profile_and_the_default_is_the_strict_intersection() -> None:
    assert set(C.COUNTRY_PROFILES) == {"MX", "CO", "CL", "PE", "AR", "ES", "US"}
    for country in C.COUNTRY_PROFILES:
        p, relax = C.effective_profile(country)
        assert relax is None
        assert p.max_calls_7d <= 1 and p.max_written_7d <= 2 and p.min_spacing_hours >= 48
        assert p.one_channel_per_week and p.allowed_roles <= {"debtor", "guarantor"}
        for windows in (p.written_windows, p.call_windows):
            assert set(windows) <= {0, 1, 2, 3, 4}
            assert all(9 <= s < e <= 19 for s, e in windows.values())
    # a country without a statute gets the strict default itself
    assert C.effective_profile("BR")[0] is C.STRICT_DEFAULT


def test_intersection_takes_the_stricter_side_of_every_rule() -> None:
    us = C.intersect(C.STRICT_DEFAULT, C.COUNTRY_PROFILES["US"])
    assert us.call_cooldown_days == 7 and us.max_calls_7d == 1
    assert us.holidays_written  # strict default bars holidays even where Regulation F does not
    pe = C.intersect(C.COUNTRY_PROFILES["PE"], C.COUNTRY_PROFILES["CO"])
    assert pe.written_windows[5] == (8, 15) and 6 not in pe.call_windows
    assert pe.max_contacts_day == 1


def test_relaxation_needs_an_audit_record_and_never_goes_below_the_statute() -> None:
    with pytest.raises(ValueError, match="audit record"):
        C.Relaxation("R0", "enterprise", " ", date(2026, 1, 5), "why", {"max_written_7d": 3})
    with pytest.raises(ValueError, match="unknown fields"):
        C.Relaxation("R0", "enterprise", "cco", date(2026, 1, 5), "why", {"bogus": 1})
    relax = C.Relaxation(
        "R1",
        "enterprise",
        "Chief Compliance Officer",
        date(2026, 1, 5),
        "B2B accounts payable desks answer on Saturdays",
        {"written_windows": {d: (7, 21) for d in range(7)}, "max_written_7d": 5, "min_spacing_hours": 24},
    )
    co, used = C.effective_profile("CO", "enterprise", [relax])
    assert used is relax and co.name.startswith("relaxed:R1")
    # Ley 2300 still applies: 07-19 on weekdays, 08-15 on Saturday, never Sunday, one contact a day
    assert co.written_windows[0] == (7, 19) and co.written_windows[5] == (8, 15) and 6 not in co.written_windows
    assert co.max_contacts_day == 1 and co.max_written_7d == 5 and co.min_spacing_hours == 24
    cl, _ = C.effective_profile("CL", "enterprise", [relax])
    assert cl.max_written_7d == 2 and cl.min_spacing_hours == 48  # Ley 21.320 caps win
    smb, none = C.effective_profile("CO", "smb", [relax])
    assert none is None and smb.name == "strict+CO"
    assert relax.audit_record()["approved_by"] == "Chief Compliance Officer"


def test_each_rule_is_reported() -> None:
    assert check() == []
    assert check(role="other") == ["third_party"]
    assert check(consent=False) == ["no_consent"]
    assert check(at=MON.replace(hour=2)) == ["window"]  # 21:00 Sunday in Bogota
    assert check(at=datetime(2026, 1, 12, 15, tzinfo=UTC)) == ["window"]  # Reyes Magos (moved) in Colombia
    assert check(invoice_blocked=True) == ["blocked_invoice"]
    day_before = [C.PastContact(MON - timedelta(hours=24), "email")]
    assert set(check(history=day_before)) == {"spacing"}
    two = [C.PastContact(MON - timedelta(days=5), "email"), C.PastContact(MON - timedelta(days=3), "email")]
    assert check(history=two) == ["cap_written_7d"]
    # every rolling week containing the instant counts, on both sides of it
    around = [C.PastContact(MON - timedelta(days=3), "email"), C.PastContact(MON + timedelta(days=3), "email")]
    assert check(history=around) == ["cap_written_7d"]
    spread = [C.PastContact(MON - timedelta(days=5), "email"), C.PastContact(MON + timedelta(days=3), "email")]
    assert check(history=spread) == []
    other = [C.PastContact(MON - timedelta(days=4), "whatsapp")]
    assert check(history=other) == ["one_channel_week"]
    call = [C.PastContact(MON - timedelta(days=3), "call", conversation=True)]
    assert set(check(channel="call", history=call)) == {"cap_calls_7d", "call_cooldown"}


def test_us_regulation_f_cooldown_after_a_conversation() -> None:
    us = C.COUNTRY_PROFILES["US"]
    at = datetime(2026, 3, 4, 16, tzinfo=UTC)  # Wednesday 11:00 New York
    talk = [C.PastContact(at - timedelta(days=3), "call", conversation=True)]
    kw = {"at": at, "tz": "America/New_York", "country": "US", "profile": us}
    assert check(channel="call", history=talk, **kw) == ["call_cooldown"]
    assert check(channel="email", history=talk, **kw) == []
    seven = [C.PastContact(at - timedelta(hours=20 * i + 1), "call") for i in range(7)]
    assert check(channel="call", history=seven, **kw) == ["cap_calls_7d"]


def test_peru_restricts_calls_but_not_letters_on_weekends() -> None:
    pe = C.COUNTRY_PROFILES["PE"]
    sat = datetime(2026, 3, 7, 15, tzinfo=UTC)  # Saturday 10:00 Lima
    kw = {"at": sat, "tz": "America/Lima", "country": "PE", "profile": pe}
    assert check(channel="call", **kw) == ["window"]
    assert check(channel="email", **kw) == []


ZONES = ["America/Bogota", "America/Mexico_City", "America/Santiago", "America/Lima", "Europe/Madrid",
         "America/Argentina/Buenos_Aires", "America/New_York", "America/Los_Angeles"]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
    tz=st.sampled_from(ZONES),
    country=st.sampled_from(["MX", "CO", "CL", "PE", "AR", "ES", "US", "BR"]),
    channel=st.sampled_from(C.CONTACT_CHANNELS),
    pref=st.one_of(st.none(), st.integers(0, 23)),
    strict=st.booleans(),
)
def test_next_slot_is_always_lawful_and_never_early(start, tz, country, channel, pref, strict) -> None:
    profile = C.effective_profile(country)[0] if strict else C.COUNTRY_PROFILES.get(country, C.STRICT_DEFAULT)
    now = start.replace(tzinfo=UTC)
    slot, how = C.next_slot(now, tz, country, profile, channel, pref)
    assert slot >= now.replace(microsecond=0)
    assert C.in_window(slot, tz, country, profile, channel)
    if how == "preferred_hour":
        assert slot.astimezone(C.zone(tz)).hour == pref

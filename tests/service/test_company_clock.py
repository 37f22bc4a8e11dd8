"""The company clock (issue 18 item 5): business date in the company's zone, holidays and their policy.

``flows.context.make_context`` fixes the business date on the company's clock
(``company.timezone``) and names a company holiday (``company.country``); the decide stage decides
nothing new on a holiday unless ``company.on_holiday`` is ``run``, and says why.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from cobranza.settings import Settings
from flows import stages
from flows.context import business_date, make_context


def _settings(tmp_path, **company) -> Settings:
    return Settings(data_dir=tmp_path, company=company or {})


def test_late_evening_in_mexico_city_is_still_the_same_business_day(tmp_path):
    settings = _settings(tmp_path)
    # 23:30 on Tuesday 2026-12-01 in Mexico City (UTC-6) is 05:30 on Wednesday in UTC.
    now = datetime(2026, 12, 2, 5, 30, tzinfo=UTC)

    ctx = make_context(settings, None, now)

    assert ctx.as_of == date(2026, 12, 1)
    assert ctx.now_utc == now
    assert ctx.holiday is None and ctx.decides
    # The same instant is already Wednesday for a company in Madrid.
    assert business_date(_settings(tmp_path, timezone="Europe/Madrid"), now) == date(2026, 12, 2)


def test_just_after_local_midnight_is_the_next_business_day(tmp_path):
    settings = _settings(tmp_path)
    # 00:10 on 2026-12-02 in Mexico City = 06:10 UTC.
    assert business_date(settings, datetime(2026, 12, 2, 6, 10, tzinfo=UTC)) == date(2026, 12, 2)
    assert business_date(settings, datetime(2026, 12, 2, 5, 59, tzinfo=UTC)) == date(2026, 12, 1)


def test_replayed_day_clock_lies_on_the_business_date(tmp_path):
    # Mexico City and Madrid: 06:00 UTC, as before (00:00 and 07:00 local, same date).
    for zone in ("America/Mexico_City", "Europe/Madrid"):
        ctx = make_context(_settings(tmp_path, timezone=zone), date(2026, 11, 23))
        assert ctx.now_utc == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
        assert business_date(ctx.settings, ctx.now_utc) == date(2026, 11, 23)
    # Los Angeles (UTC-8): 06:00 UTC would be the evening before; local midnight instead.
    ctx = make_context(_settings(tmp_path, timezone="America/Los_Angeles"), date(2026, 11, 23))
    assert ctx.now_utc == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    assert business_date(ctx.settings, ctx.now_utc) == date(2026, 11, 23)


def test_holiday_named_on_the_company_calendar_only(tmp_path):
    # 2026-11-16: Revolution Day in Mexico (third Monday of November), a working day in Spain.
    mx = make_context(_settings(tmp_path), date(2026, 11, 16))
    es = make_context(_settings(tmp_path, country="ES", timezone="Europe/Madrid"), date(2026, 11, 16))

    assert mx.holiday == "Revolution Day"
    assert mx.company_day() == {
        "business_date": "2026-11-16",
        "timezone": "America/Mexico_City",
        "country": "MX",
        "holiday": "Revolution Day",
        "plan": "skip",
    }
    assert es.holiday is None and es.day_plan == "business_day"


@pytest.mark.parametrize(
    ("policy", "decides", "refreshes"),
    [("skip", False, True), ("run", True, True), ("dispatch_only", False, False)],
)
def test_holiday_policies(tmp_path, policy, decides, refreshes):
    ctx = make_context(_settings(tmp_path, on_holiday=policy), date(2026, 12, 25))
    assert ctx.holiday == "Christmas Day"
    assert (ctx.day_plan, ctx.decides, ctx.refreshes_data) == (policy, decides, refreshes)
    # A business day runs in full whatever the policy.
    normal = make_context(_settings(tmp_path, on_holiday=policy), date(2026, 12, 24))
    assert (normal.day_plan, normal.decides, normal.refreshes_data) == ("business_day", True, True)


def test_decide_stage_decides_nothing_on_a_skipped_holiday_and_says_why(tmp_path):
    # No warehouse exists: a stage that tried to decide would fail opening the marts.
    for policy in ("skip", "dispatch_only"):
        ctx = make_context(_settings(tmp_path, on_holiday=policy), date(2026, 9, 16))
        out = stages.decide(ctx)
        assert out["new_outbox_tasks"] == 0 and out["actions"] == {}
        assert "Independence Day" in out["skipped"] and f"on_holiday={policy}" in out["skipped"]
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_decide_stage_runs_on_a_holiday_run_as_a_business_day(tmp_path):
    ctx = make_context(_settings(tmp_path, on_holiday="run"), date(2026, 9, 16))
    with pytest.raises(Exception) as err:  # it really tries: the empty data dir has no marts
        stages.decide(ctx)
    assert "skipped" not in str(err.value)


def test_bad_zone_and_country_are_refused_with_what_to_do(tmp_path):
    with pytest.raises(ValueError, match="unknown time zone 'Mexico/Nowhere'.*IANA"):
        _settings(tmp_path, timezone="Mexico/Nowhere")
    with pytest.raises(ValueError, match="no public-holiday calendar for country 'XX'"):
        _settings(tmp_path, country="XX")


def test_daily_plan_on_a_dispatch_only_holiday_runs_only_the_operational_side(tmp_path):
    from flows.daily import plan_of_day

    holiday = make_context(_settings(tmp_path, on_holiday="dispatch_only"), date(2026, 12, 25))
    assert [key for key, _, _ in plan_of_day(holiday)] == ["replicate", "dispatch", "replicate_end"]
    # skip still ingests and builds (only the decide stage decides nothing new); a business day runs it all
    for ctx in (
        make_context(_settings(tmp_path, on_holiday="skip"), date(2026, 12, 25)),
        make_context(_settings(tmp_path, on_holiday="dispatch_only"), date(2026, 12, 24)),
    ):
        keys = [key for key, _, _ in plan_of_day(ctx)]
        assert {"ingest", "dbt", "score", "decide", "dispatch"} <= set(keys)

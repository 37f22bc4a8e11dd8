"""Contact-rule compliance per country, as data (DESIGN.md §10): who, when, how often, on which channel.

Each country's statute is a :class:`ContactProfile` value in :data:`COUNTRY_PROFILES`; the profile
the policy applies by default is the *strictest intersection* of :data:`STRICT_DEFAULT` (DESIGN §10)
and the country's statute (:func:`effective_profile`). A segment may be relaxed towards the statute
with a :class:`Relaxation`, which always carries an audit record (who approved it, why, when) and can
never go below the statute: a relaxed profile is intersected with the statute again.

Sources (summarised; the profile values are the encoding):

* Mexico: Ley para la Transparencia y Ordenamiento de los Servicios Financieros art. 17 / CONDUSEF
  Disposiciones de despachos de cobranza: 07:00-22:00, only the debtor, co-obligors or guarantors.
* Colombia: Ley 2300 de 2023 art. 3: Mon-Fri 07:00-19:00, Sat 08:00-15:00, no Sundays or holidays,
  at most one contact a day, one channel a week, only channels the debtor authorised.
* Chile: Ley 21.320 (modifies Ley 19.496 art. 37): at most one call or visit a week, at most two other
  messages a week at least two days apart, Mon-Sat 08:00-20:00; records kept two years.
* Peru: Ley 29571 (Código de Protección y Defensa del Consumidor) art. 62: no calls or visits
  20:00-07:00, nor on Saturdays, Sundays and holidays.
* Argentina: Ley 24.240 art. 8 bis (trato digno) with the BCRA's user-protection rules; encoded
  conservatively as Mon-Fri 08:00-20:00, no holidays.
* Spain: reference practice (Ley 3/2023 draft on consumer credit services) Mon-Fri 09:00-21:00.
* United States: CFPB Regulation F (12 CFR 1006.6, 1006.14): 08:00-21:00 local, at most 7 calls in 7
  days, no call for 7 days after a telephone conversation.

Weeks are rolling 7-day windows (the strictest reading of "per week"); days and hours are the
contact's local wall clock (timezone from the address, never the phone prefix); public holidays come
from the ``holidays`` package (:func:`is_holiday`, national calendar only: the contract carries no
subdivision, so regional holidays are not applied).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import pandas as pd

logger = logging.getLogger(__name__)


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


def as_utc(ts: datetime | pd.Timestamp) -> datetime:
    """A timezone-aware instant as a UTC :class:`datetime`; a naive one is an error."""
    if isinstance(ts, pd.Timestamp):
        ts = ts.to_pydatetime()
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"timestamp {ts!r} is naive; pass a timezone-aware UTC instant")
    return ts.astimezone(UTC)


def format_local(ts_utc: datetime | pd.Timestamp, tz: str) -> str:
    """ISO-8601 local wall time with offset and zone name, e.g. ``2026-03-02T09:00:00-05:00 America/Bogota``."""
    return f"{as_utc(ts_utc).astimezone(zone(tz)).isoformat()} {tz}"


#: Channels that are a written message (everything but a call).
WRITTEN_CHANNELS = ("email", "whatsapp", "sms")
CALL_CHANNELS = ("call",)
CONTACT_CHANNELS = WRITTEN_CHANNELS + CALL_CHANNELS
#: Call outcomes that mean a telephone conversation took place (Regulation F's 7-day cooldown).
CONVERSATION_OUTCOMES = ("replied", "promise_to_pay", "paid_claim", "dispute")
#: Look-back that every rolling rule needs (7-day caps, 7-day cooldown, spacing).
HISTORY_DAYS = 8
UNLIMITED = 10_000

Windows = Mapping[int, tuple[int, int]]


def _days(days: Iterable[int], start: int, end: int) -> dict[int, tuple[int, int]]:
    return {d: (start, end) for d in days}


WEEKDAYS = range(5)
ALL_DAYS = range(7)


@dataclass(frozen=True)
class ContactProfile:
    """Contact rules for one jurisdiction (or their intersection).

    Attributes:
        name: Identifier used in reason codes (``strict``, ``CO``, ``strict+CO``...).
        statute: Legal basis, for audit.
        written_windows: Local weekday (Monday 0) -> ``(start_hour, end_hour)`` half-open window for
            written messages; a missing weekday is not lawful.
        call_windows: The same for calls.
        holidays_written: No written message on a public holiday.
        holidays_call: No call on a public holiday.
        max_calls_7d: Calls allowed in any rolling 7 days.
        max_written_7d: Written messages allowed in any rolling 7 days.
        max_contacts_day: Contacts allowed per local calendar day.
        min_spacing_hours: Minimum hours between two contacts of any kind.
        one_channel_per_week: All contacts of a rolling 7 days on one channel.
        call_cooldown_days: No call for this many days after a telephone conversation.
        allowed_roles: Who may be contacted (never a third party).
        retention_years: How long contact records must be kept.
    """

    name: str
    statute: str
    written_windows: Windows = field(default_factory=dict)
    call_windows: Windows = field(default_factory=dict)
    holidays_written: bool = True
    holidays_call: bool = True
    max_calls_7d: int = UNLIMITED
    max_written_7d: int = UNLIMITED
    max_contacts_day: int = UNLIMITED
    min_spacing_hours: int = 0
    one_channel_per_week: bool = False
    call_cooldown_days: int = 0
    allowed_roles: frozenset[str] = frozenset({"debtor", "guarantor"})
    retention_years: int = 2

    def __post_init__(self) -> None:
        for label, windows in (("written_windows", self.written_windows), ("call_windows", self.call_windows)):
            for day, (start, end) in windows.items():
                if day not in range(7) or not 0 <= start < end <= 24:
                    raise ValueError(f"profile {self.name!r}: {label}[{day}] = ({start}, {end}) is invalid")

    def windows(self, channel: str) -> Windows:
        """The windows that apply to ``channel``."""
        return self.call_windows if channel in CALL_CHANNELS else self.written_windows

    def respects_holidays(self, channel: str) -> bool:
        """Whether ``channel`` is barred on public holidays."""
        return self.holidays_call if channel in CALL_CHANNELS else self.holidays_written

    def describe(self, channel: str, tz: str) -> str:
        """Reason-code form, e.g. ``strict+CO:mon-fri 09-19 America/Bogota``."""
        names = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        spans: dict[tuple[int, int], list[int]] = {}
        for d, w in sorted(self.windows(channel).items()):
            spans.setdefault(w, []).append(d)
        txt = ";".join(
            (f"{names[ds[0]]}-{names[ds[-1]]}" if len(ds) > 1 else names[ds[0]]) + f" {s:02d}-{e:02d}"
            for (s, e), ds in spans.items()
        )
        return f"{self.name}:{txt or 'never'} {tz}"

    def audit_dict(self) -> dict[str, Any]:
        """JSON-able form (for audit records)."""
        d = asdict(self)
        d["allowed_roles"] = sorted(self.allowed_roles)
        d["written_windows"] = {str(k): list(v) for k, v in sorted(self.written_windows.items())}
        d["call_windows"] = {str(k): list(v) for k, v in sorted(self.call_windows.items())}
        return d


#: DESIGN §10 default: the strictest intersection of the statutes.
STRICT_DEFAULT = ContactProfile(
    name="strict",
    statute="DESIGN.md §10 strictest intersection",
    written_windows=_days(WEEKDAYS, 9, 19),
    call_windows=_days(WEEKDAYS, 9, 19),
    max_calls_7d=1,
    max_written_7d=2,
    max_contacts_day=1,
    min_spacing_hours=48,
    one_channel_per_week=True,
    call_cooldown_days=7,
)

COUNTRY_PROFILES: dict[str, ContactProfile] = {
    "MX": ContactProfile(
        name="MX",
        statute="LTOSF art. 17; CONDUSEF despachos de cobranza",
        written_windows=_days(ALL_DAYS, 7, 22),
        call_windows=_days(ALL_DAYS, 7, 22),
        holidays_written=False,
        holidays_call=False,
    ),
    "CO": ContactProfile(
        name="CO",
        statute="Ley 2300 de 2023 art. 3",
        written_windows={**_days(WEEKDAYS, 7, 19), 5: (8, 15)},
        call_windows={**_days(WEEKDAYS, 7, 19), 5: (8, 15)},
        max_contacts_day=1,
        one_channel_per_week=True,
    ),
    "CL": ContactProfile(
        name="CL",
        statute="Ley 21.320 (Ley 19.496 art. 37)",
        written_windows=_days(range(6), 8, 20),
        call_windows=_days(range(6), 8, 20),
        max_calls_7d=1,
        max_written_7d=2,
        min_spacing_hours=48,
    ),
    "PE": ContactProfile(
        name="PE",
        statute="Ley 29571 art. 62",
        written_windows=_days(ALL_DAYS, 0, 24),
        call_windows=_days(WEEKDAYS, 7, 20),
        holidays_written=False,
        holidays_call=True,
    ),
    "AR": ContactProfile(
        name="AR",
        statute="Ley 24.240 art. 8 bis; BCRA protección de usuarios (conservative reading)",
        written_windows=_days(WEEKDAYS, 8, 20),
        call_windows=_days(WEEKDAYS, 8, 20),
    ),
    "ES": ContactProfile(
        name="ES",
        statute="reference practice, Mon-Fri 09:00-21:00",
        written_windows=_days(WEEKDAYS, 9, 21),
        call_windows=_days(WEEKDAYS, 9, 21),
    ),
    "US": ContactProfile(
        name="US",
        statute="12 CFR 1006.6(b)(1)(i), 1006.14(b)(2) (Regulation F)",
        written_windows=_days(ALL_DAYS, 8, 21),
        call_windows=_days(ALL_DAYS, 8, 21),
        holidays_written=False,
        holidays_call=False,
        max_calls_7d=7,
        call_cooldown_days=7,
    ),
}


def _intersect_windows(a: Windows, b: Windows) -> dict[int, tuple[int, int]]:
    out = {}
    for day in set(a) & set(b):
        start, end = max(a[day][0], b[day][0]), min(a[day][1], b[day][1])
        if start < end:
            out[day] = (start, end)
    return out


def intersect(a: ContactProfile, b: ContactProfile) -> ContactProfile:
    """The profile that satisfies both ``a`` and ``b`` (every limit at its stricter value)."""
    return ContactProfile(
        name=f"{a.name}+{b.name}",
        statute=f"{a.statute} & {b.statute}",
        written_windows=_intersect_windows(a.written_windows, b.written_windows),
        call_windows=_intersect_windows(a.call_windows, b.call_windows),
        holidays_written=a.holidays_written or b.holidays_written,
        holidays_call=a.holidays_call or b.holidays_call,
        max_calls_7d=min(a.max_calls_7d, b.max_calls_7d),
        max_written_7d=min(a.max_written_7d, b.max_written_7d),
        max_contacts_day=min(a.max_contacts_day, b.max_contacts_day),
        min_spacing_hours=max(a.min_spacing_hours, b.min_spacing_hours),
        one_channel_per_week=a.one_channel_per_week or b.one_channel_per_week,
        call_cooldown_days=max(a.call_cooldown_days, b.call_cooldown_days),
        allowed_roles=a.allowed_roles & b.allowed_roles,
        retention_years=max(a.retention_years, b.retention_years),
    )


_RELAXABLE = {f.name for f in fields(ContactProfile)} - {"name", "statute"}


@dataclass(frozen=True)
class Relaxation:
    """An approved, audited loosening of the strict default for one segment (optionally one country).

    The relaxed profile is the strict default with ``overrides`` applied, intersected again with the
    country's statute: a relaxation can never authorise what the law forbids.

    Attributes:
        relaxation_id: Stable identifier, quoted in every decision it affects.
        segment: Customer segment it applies to.
        approved_by: Who approved it (compliance officer).
        approved_on: Approval date.
        reason: Why.
        overrides: ContactProfile field -> value (windows as ``{weekday: [start, end]}``).
        country: Only this country, or every country when None.
    """

    relaxation_id: str
    segment: str
    approved_by: str
    approved_on: date
    reason: str
    overrides: Mapping[str, Any]
    country: str | None = None

    def __post_init__(self) -> None:
        unknown = set(self.overrides) - _RELAXABLE
        if unknown:
            raise ValueError(
                f"relaxation {self.relaxation_id!r}: unknown fields {sorted(unknown)}; use {sorted(_RELAXABLE)}"
            )
        if not self.approved_by.strip() or not self.reason.strip():
            raise ValueError(f"relaxation {self.relaxation_id!r} needs approved_by and reason (audit record)")

    def audit_record(self) -> dict[str, Any]:
        """The audit record stored with the decisions."""
        return {
            "relaxation_id": self.relaxation_id,
            "segment": self.segment,
            "country": self.country,
            "approved_by": self.approved_by,
            "approved_on": self.approved_on.isoformat(),
            "reason": self.reason,
            "overrides": json.loads(json.dumps(dict(self.overrides), default=str)),
        }


def _coerce_override(name: str, value: Any) -> Any:
    if name in ("written_windows", "call_windows"):
        return {int(k): (int(v[0]), int(v[1])) for k, v in dict(value).items()}
    if name == "allowed_roles":
        return frozenset(str(v) for v in value)
    return value


def effective_profile(
    country: str | None, segment: str | None = None, relaxations: Iterable[Relaxation] = ()
) -> tuple[ContactProfile, Relaxation | None]:
    """The profile that governs a contact to a customer of ``country`` and ``segment``.

    Args:
        country: ISO 3166-1 alpha-2 country of the customer's address.
        segment: Customer segment.
        relaxations: Approved relaxations; the first matching (segment, country) wins, a
            country-specific one before a generic one.

    Returns:
        ``(profile, relaxation applied or None)``. A country without a statute gets the strict default.
    """
    statute = COUNTRY_PROFILES.get((country or "").upper())
    base = intersect(STRICT_DEFAULT, statute) if statute else STRICT_DEFAULT
    match = None
    for r in sorted(relaxations, key=lambda r: r.country is None):
        if r.segment == segment and (r.country is None or r.country.upper() == (country or "").upper()):
            match = r
            break
    if match is None:
        return base, None
    loosened = replace(
        STRICT_DEFAULT,
        name=f"relaxed:{match.relaxation_id}",
        **{k: _coerce_override(k, v) for k, v in match.overrides.items()},
    )
    return (intersect(loosened, statute) if statute else loosened), match


# ----------------------------------------------------------------------------------------------
# checking one proposed contact


@dataclass(frozen=True)
class PastContact:
    """A contact already made (or scheduled) to a customer.

    Attributes:
        at: Timezone-aware instant.
        channel: email, whatsapp, sms or call.
        conversation: A call that reached a person (starts the call cooldown).
    """

    at: datetime
    channel: str
    conversation: bool = False


def _local(ts: datetime, tz: str) -> datetime:
    if ts.tzinfo is None:
        raise ValueError(f"timestamp {ts!r} is naive; pass a timezone-aware instant")
    return ts.astimezone(zone(tz))


def in_window(ts: datetime, tz: str, country: str | None, profile: ContactProfile, channel: str) -> bool:
    """Whether ``ts`` is inside the profile's local window for ``channel`` (holidays included)."""
    local = _local(ts, tz)
    window = profile.windows(channel).get(local.weekday())
    if window is None:
        return False
    if profile.respects_holidays(channel) and is_holiday(local.date(), country):
        return False
    start, end = window
    return time(start) <= local.time() and (end == 24 or local.time() < time(end))


def _max_in_rolling_week(at: datetime, others: list[datetime]) -> int:
    """Most of ``others`` inside one 7-day window [s, s + 7 days) that also contains ``at``."""
    week = timedelta(days=7)
    starts = [t for t in others if at - week < t <= at] + [at]
    return max((sum(s <= t < s + week for t in others) for s in starts), default=0)


def check_contact(
    *,
    at: datetime,
    channel: str,
    role: str,
    consent: bool,
    tz: str,
    country: str | None,
    profile: ContactProfile,
    history: list[PastContact],
    invoice_blocked: bool = False,
) -> list[str]:
    """Every rule a proposed contact would break (an empty list means lawful).

    Args:
        at: Proposed instant (timezone-aware).
        channel: email, whatsapp, sms or call.
        role: Contact's role (debtor, guarantor, third parties...).
        consent: The contact's consent for ``channel`` at ``at`` (opt-outs applied).
        tz: Contact's IANA timezone (from the address).
        country: Customer's country (public holidays).
        profile: Governing profile (:func:`effective_profile`).
        history: Contacts to the same customer (any contact person), before or after ``at``.
        invoice_blocked: The contact is about an invoice that is disputed or already paid.

    Returns:
        Violation codes such as ``window``, ``cap_calls_7d``, ``spacing``, ``no_consent``.
    """
    if channel not in CONTACT_CHANNELS:
        raise ValueError(f"unknown contact channel {channel!r}; use one of {CONTACT_CHANNELS}")
    v: list[str] = []
    if role not in profile.allowed_roles:
        v.append("third_party")
    if not consent:
        v.append("no_consent")
    if invoice_blocked:
        v.append("blocked_invoice")
    if not in_window(at, tz, country, profile, channel):
        v.append("window")
    week = [h for h in history if abs((h.at - at).total_seconds()) < 7 * 86400]
    is_call = channel in CALL_CHANNELS
    same_kind = [h.at for h in week if (h.channel in CALL_CHANNELS) == is_call]
    cap = profile.max_calls_7d if is_call else profile.max_written_7d
    if _max_in_rolling_week(at, same_kind) + 1 > cap:
        v.append("cap_calls_7d" if is_call else "cap_written_7d")
    if profile.one_channel_per_week and any(h.channel != channel for h in week):
        v.append("one_channel_week")
    if profile.min_spacing_hours and any(
        abs((h.at - at).total_seconds()) < profile.min_spacing_hours * 3600 for h in history
    ):
        v.append("spacing")
    local_day = _local(at, tz).date()
    same_day = sum(_local(h.at, tz).date() == local_day for h in history)
    if same_day + 1 > profile.max_contacts_day:
        v.append("cap_day")
    if (
        is_call
        and profile.call_cooldown_days
        and any(
            h.conversation and timedelta(0) <= at - h.at < timedelta(days=profile.call_cooldown_days) for h in history
        )
    ):
        v.append("call_cooldown")
    return sorted(set(v))


def next_slot(
    not_before: datetime,
    tz: str,
    country: str | None,
    profile: ContactProfile,
    channel: str,
    preferred_hour: int | None = None,
    max_days: int = 31,
) -> tuple[datetime, str]:
    """The first lawful instant at or after ``not_before`` for ``channel``, at the preferred hour if any.

    With a preferred local hour inside a day's window, the first day whose preferred hour is still
    ahead is used (a preference is never traded for a few hours); otherwise ``not_before`` itself when
    lawful, else the next window start.

    Returns:
        ``(slot in UTC, how)`` with ``how`` in ``preferred_hour``, ``now``, ``window_start``.

    Raises:
        ValueError: When no lawful slot exists within ``max_days``.
    """
    start = not_before.astimezone(UTC).replace(microsecond=0)
    if start < not_before:
        start += timedelta(seconds=1)
    zi = zone(tz)
    today = start.astimezone(zi).date()
    if preferred_hour is not None:
        for offset in range(max_days + 1):
            day = today + timedelta(days=offset)
            w = profile.windows(channel).get(day.weekday())
            if w is None or not w[0] <= preferred_hour < w[1]:
                continue
            slot = datetime.combine(day, time(preferred_hour)).replace(tzinfo=zi).astimezone(UTC)
            if slot >= start and in_window(slot, tz, country, profile, channel):
                return slot, "preferred_hour"
    if in_window(start, tz, country, profile, channel):
        return start, "now"
    for offset in range(max_days + 1):
        day = today + timedelta(days=offset)
        w = profile.windows(channel).get(day.weekday())
        if w is None:
            continue
        slot = datetime.combine(day, time(w[0])).replace(tzinfo=zi).astimezone(UTC)
        if slot >= start and in_window(slot, tz, country, profile, channel):
            return slot, "window_start"
    raise ValueError(
        f"no lawful {channel} slot within {max_days} days after {start.isoformat()} for "
        f"{profile.describe(channel, tz)} (country {country!r}); check the contact profile"
    )


def history_by_customer(frame: pd.DataFrame) -> dict[str, list[PastContact]]:
    """Group a frame of past contacts (customer_id, channel, scheduled_at[, conversation]) per customer."""
    out: dict[str, list[PastContact]] = {}
    if frame is None or frame.empty:
        return out
    ts = pd.to_datetime(frame["scheduled_at"], utc=True)
    conv = frame["conversation"] if "conversation" in frame else pd.Series(False, index=frame.index)
    ch = frame["channel"].astype(str).str.replace("call_task", "call")
    for cid, t, c, k in zip(frame["customer_id"], ts, ch, conv.fillna(False), strict=True):
        if c not in CONTACT_CHANNELS:
            continue
        out.setdefault(str(cid), []).append(PastContact(t.to_pydatetime(), c, bool(k)))
    return out

"""Next-best-action policy: who is contacted, on which channel, when, and why not."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest
from factories import account, contact, frames, invoice
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml.nba.policy import OUTPUT_COLUMNS, decide
from ml.nba.rules import DEFAULT_RULES, ContactRules, is_lawful

AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)  # Monday 06:00 in Bogota: before the window


def run(accounts, contacts, recent=None, now=NOW, **kw):
    acc, con, rec = frames(accounts, contacts, recent)
    return decide(acc, con, rec, as_of=AS_OF, now_utc=now, **kw).set_index("customer_id")


def test_output_shape_and_consolidation() -> None:
    invs = [invoice("a", "1234567.89", 45), invoice("b", "100.01", 5), invoice("c", "0.10", 1)]
    out = run([account("C1", invoices=invs)], [contact("k1", "C1")])
    assert list(out.reset_index().columns) == OUTPUT_COLUMNS
    row = out.loc["C1"]
    assert row["action"] == "email" and row["channel"] == "email"
    assert row["invoice_ids"] == ["a", "b", "c"]
    assert row["amount_at_stake"] == Decimal("1234668.00")
    assert isinstance(row["amount_at_stake"], Decimal)
    assert row["scheduled_at"] == pd.Timestamp("2026-03-02 14:00", tz="UTC")
    assert row["local_scheduled_at"] == "2026-03-02T09:00:00-05:00 America/Bogota"
    assert "consent:email" in row["reason_codes"]
    assert "window:mon-fri 09-19 America/Bogota" in row["reason_codes"]
    assert "dpd:45" in row["reason_codes"] and "risk:0.30" in row["reason_codes"]
    assert row["email"] == "k1@example.com" and row["language"] == "es"


@pytest.mark.parametrize(
    ("contacts", "reason"),
    [
        ([], "skip:no_contact"),
        ([contact("k", "C1", role="other", consent_call=True)], "skip:third_party_only"),
        ([contact("k", "C1", consent_email=False)], "skip:no_consent"),
        ([contact("k", "C1", email=None)], "skip:no_address"),
        ([contact("k", "C1", consent_email=False, consent_sms=True, phone="")], "skip:no_address"),
    ],
)
def test_wait_with_reason(contacts, reason) -> None:
    row = run([account("C1")], contacts).loc["C1"]
    assert row["action"] == "wait"
    assert row["channel"] is None and row["contact_id"] is None and pd.isna(row["scheduled_at"])
    assert reason in row["reason_codes"]


def test_third_party_never_contacted_even_if_preferred() -> None:
    out = run(
        [account("C1")],
        [
            contact("a_other", "C1", role="other", consent_whatsapp=True, preferred_channel="whatsapp"),
            contact("z_debtor", "C1", role="debtor", consent_email=False, consent_sms=True),
        ],
    )
    assert out.loc["C1", "contact_id"] == "z_debtor"
    assert out.loc["C1", "action"] == "sms"


def test_preferred_channel_if_consented_else_ordered_fallback() -> None:
    out = run(
        [account("C1"), account("C2"), account("C3")],
        [
            contact("k1", "C1", consent_whatsapp=True, preferred_channel="whatsapp"),
            contact("k2", "C2", consent_whatsapp=True, consent_sms=True, preferred_channel="call"),
            contact(
                "k3", "C3", consent_email=False, consent_whatsapp=True, consent_sms=True, preferred_channel="email"
            ),
        ],
    )
    assert out.loc["C1", "action"] == "whatsapp" and "pref:honoured" in out.loc["C1", "reason_codes"]
    assert out.loc["C2", "action"] == "email" and "pref:fallback" in out.loc["C2", "reason_codes"]
    assert out.loc["C3", "action"] == "whatsapp"


@pytest.mark.parametrize(
    ("risk", "dpd", "call_consent", "expected"),
    [
        (0.82, 45, True, "call_task"),
        (0.70, 31, True, "call_task"),
        (0.69, 45, True, "email"),
        (0.90, 30, True, "email"),
        (0.90, 45, False, "email"),
        (float("nan"), 90, True, "email"),
    ],
)
def test_call_task_rule(risk, dpd, call_consent, expected) -> None:
    acc = account("C1", invoices=[invoice("a", "10.00", dpd)], risk_score=risk)
    row = run([acc], [contact("k", "C1", consent_call=call_consent)]).loc["C1"]
    assert row["action"] == expected
    if expected == "call_task":
        assert row["channel"] == "call" and "consent:call" in row["reason_codes"]


def test_debtor_preferred_over_guarantor_and_guarantor_used_alone() -> None:
    out = run(
        [account("C1"), account("C2")],
        [
            contact("a_guarantor", "C1", role="guarantor"),
            contact("b_debtor", "C1", role="debtor"),
            contact("g2", "C2", role="guarantor"),
        ],
    )
    assert out.loc["C1", "contact_id"] == "b_debtor"
    assert out.loc["C2", "contact_id"] == "g2" and "role:guarantor" in out.loc["C2", "reason_codes"]


@pytest.mark.parametrize(
    ("hours_ago", "expected"),
    [(47, "wait"), (48, "email"), (49, "email"), (-20, "wait")],  # -20 = already scheduled in the future
)
def test_spacing(hours_ago, expected) -> None:
    recent = [{"customer_id": "C1", "channel": "sms", "scheduled_at": NOW - timedelta(hours=hours_ago)}]
    row = run([account("C1")], [contact("k", "C1")], recent).loc["C1"]
    assert row["action"] == expected
    if expected == "wait":
        assert "skip:spacing" in row["reason_codes"]


def test_spacing_is_a_rule_field() -> None:
    recent = [{"customer_id": "C1", "channel": "sms", "scheduled_at": NOW - timedelta(hours=30)}]
    row = run([account("C1")], [contact("k", "C1")], recent, rules=ContactRules(min_spacing_hours=24)).loc["C1"]
    assert row["action"] == "email"


def test_contact_timezone_wins_customer_timezone_is_fallback() -> None:
    out = run(
        [
            account("C1", country="MX", timezone="America/Mexico_City"),
            account("C2", country="MX", timezone="America/Tijuana"),
        ],
        [
            contact("k1", "C1", timezone="America/Cancun"),
            contact("k2", "C2", timezone="Not/AZone"),
        ],
    )
    assert out.loc["C1", "timezone"] == "America/Cancun"
    assert out.loc["C1", "scheduled_at"] == pd.Timestamp("2026-03-02 14:00", tz="UTC")  # 09:00 Cancun (UTC-5)
    assert out.loc["C2", "timezone"] == "America/Tijuana"
    assert "tz:customer_fallback" in out.loc["C2", "reason_codes"]
    assert out.loc["C2", "scheduled_at"] == pd.Timestamp("2026-03-02 17:00", tz="UTC")  # 09:00 PST


def test_holiday_pushes_schedule_to_next_business_day() -> None:
    now = datetime(2026, 12, 24, 23, 30, tzinfo=UTC)  # Thu 18:30 Bogota: still lawful -> now
    row = run([account("C1")], [contact("k", "C1")], now=now).loc["C1"]
    assert row["scheduled_at"] == pd.Timestamp(now)
    now = datetime(2026, 12, 25, 0, 30, tzinfo=UTC)  # Thu 19:30 -> Fri 25 holiday -> Mon 28
    row = run([account("C1")], [contact("k", "C1")], now=now).loc["C1"]
    assert row["scheduled_at"] == pd.Timestamp("2026-12-28 14:00", tz="UTC")


def test_language_fallback_and_dispute_review() -> None:
    out = run(
        [account("C1"), account("C2", needs_dispute_review=True), account("C3", needs_dispute_review=False)],
        [contact("k1", "C1", language="fr"), contact("k2", "C2"), contact("k3", "C3")],
    )
    assert out.loc["C1", "language"] == "es" and "lang:fallback_es" in out.loc["C1", "reason_codes"]
    assert out.loc["C2", "action"] == "dispute_review" and out.loc["C2", "channel"] == "internal"
    assert out.loc["C2", "contact_id"] is None
    assert out.loc["C3", "action"] == "email"


def test_money_must_be_decimal() -> None:
    acc = pd.DataFrame([account("C1")]).assign(overdue_amount=[1000.0])
    _, con, rec = frames([], [contact("k", "C1")])
    with pytest.raises(TypeError, match="Decimal"):
        decide(acc, con, rec, as_of=AS_OF, now_utc=NOW)


def test_bad_inputs() -> None:
    acc, con, rec = frames([account("C1"), account("C1")], [contact("k", "C1")])
    with pytest.raises(ValueError, match="one row per customer"):
        decide(acc, con, rec, as_of=AS_OF, now_utc=NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(acc, con, rec, as_of=AS_OF, now_utc=NOW.replace(tzinfo=None))
    with pytest.raises(ValueError, match="missing columns"):
        decide(acc.drop(columns=["invoices"]), con, rec, as_of=AS_OF, now_utc=NOW)
    empty = decide(acc.iloc[0:0], con, rec, as_of=AS_OF, now_utc=NOW)
    assert empty.empty and list(empty.columns) == OUTPUT_COLUMNS


def test_many_accounts_one_row_each() -> None:
    accounts = [account(f"C{i:05d}", risk_score=(i % 10) / 10) for i in range(3000)]
    contacts = [
        contact(f"K{i:05d}", f"C{i:05d}", consent_call=i % 2 == 0, preferred_hour=8 + i % 12) for i in range(3000)
    ]
    out = run(accounts, contacts)
    assert len(out) == 3000 and out.index.is_unique
    assert set(out["action"]) <= {"email", "call_task"}


# --- property: no decision ever breaks a hard rule -----------------------------------------------

ZONES = [
    ("America/Bogota", "CO"),
    ("America/Mexico_City", "MX"),
    ("America/Santiago", "CL"),
    ("America/Lima", "PE"),
    ("America/Argentina/Buenos_Aires", "AR"),
    ("Europe/Madrid", "ES"),
    ("America/New_York", "US"),
    ("America/Sao_Paulo", "BR"),
]

contact_st = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["debtor", "guarantor", "other", "Debtor "]),
        "consent_email": st.booleans(),
        "consent_whatsapp": st.booleans(),
        "consent_sms": st.booleans(),
        "consent_call": st.booleans(),
        "preferred_channel": st.sampled_from(["email", "whatsapp", "sms", "call", None]),
        "preferred_hour": st.one_of(st.none(), st.integers(0, 23)),
        "zone": st.sampled_from(ZONES),
        "has_email": st.booleans(),
        "language": st.sampled_from(["es", "en", "pt", "fr", None]),
    }
)
customer_st = st.fixed_dictionaries(
    {
        "zone": st.sampled_from(ZONES),
        "risk": st.one_of(st.just(float("nan")), st.floats(0, 1)),
        "dpd": st.integers(1, 200),
        "contacts": st.lists(contact_st, max_size=4),
        "recent_hours_ago": st.one_of(st.none(), st.integers(-72, 200)),
    }
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    customers=st.lists(customer_st, min_size=1, max_size=12),
    now=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
)
def test_property_no_unlawful_contact(customers, now) -> None:
    accounts, contacts, recent = [], [], []
    for i, c in enumerate(customers):
        cid = f"C{i}"
        tz, country = c["zone"]
        accounts.append(
            account(
                cid,
                country=country,
                timezone=tz,
                risk_score=c["risk"],
                invoices=[invoice(f"{cid}-1", "5.00", c["dpd"])],
            )
        )
        for j, k in enumerate(c["contacts"]):
            contacts.append(
                contact(
                    f"{cid}-K{j}",
                    cid,
                    role=k["role"],
                    email=f"k{j}@x.co" if k["has_email"] else None,
                    timezone=k["zone"][0],
                    language=k["language"],
                    **{f: k[f] for f in ("consent_email", "consent_whatsapp", "consent_sms", "consent_call")},
                    preferred_channel=k["preferred_channel"],
                    preferred_hour=k["preferred_hour"],
                )
            )
        if c["recent_hours_ago"] is not None:
            recent.append(
                {"customer_id": cid, "channel": "email", "scheduled_at": now - timedelta(hours=c["recent_hours_ago"])}
            )

    acc, con, rec = frames(accounts, contacts, recent)
    out = decide(acc, con, rec, as_of=now.date(), now_utc=now)

    assert len(out) == len(accounts) and out["customer_id"].is_unique
    by_id = {c["contact_id"]: c for c in contacts}
    last = {r["customer_id"]: r["scheduled_at"] for r in recent}
    consent_col = {
        "email": "consent_email",
        "whatsapp": "consent_whatsapp",
        "sms": "consent_sms",
        "call": "consent_call",
    }
    for row in out.itertuples():
        if row.action == "wait":
            assert row.contact_id is None and pd.isna(row.scheduled_at)
            continue
        k = by_id[row.contact_id]
        assert k["customer_id"] == row.customer_id
        assert k["role"].strip().lower() in ("debtor", "guarantor")
        assert k[consent_col[row.channel]] is True
        if row.channel == "email":
            assert row.email and "@" in row.email
        assert row.scheduled_at >= pd.Timestamp(now).floor("s")
        country = acc.set_index("customer_id").loc[row.customer_id, "country"]
        assert is_lawful(row.scheduled_at, row.timezone, country, DEFAULT_RULES)
        assert row.timezone == k["timezone"]
        if row.customer_id in last:
            assert last[row.customer_id] <= now - timedelta(hours=DEFAULT_RULES.min_spacing_hours)

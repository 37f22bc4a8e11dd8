"""Property-based tests over generated account states, contact histories, timezones and dates.

Whatever the accounts, contacts, histories, promises, disputes, payments, zones and clocks, no
decision is ever outside a lawful window, over a cap, without consent, to a third party, or about a
disputed or paid invoice. Every contact decision is re-checked independently with
``ml.nba.compliance.check_contact`` against the contacts already made, and over multi-day runs every
contact is checked against all the others of its customer (both sides in time).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluation.closed_loop import ObservedState
from ml.nba import compliance as C
from ml.nba.compliance import Relaxation
from ml.nba.engine import contacts_of, decide
from ml.nba.value import NbaConfig

COUNTRIES = {
    "MX": ("America/Mexico_City", "MXN"),
    "CO": ("America/Bogota", "COP"),
    "CL": ("America/Santiago", "CLP"),
    "PE": ("America/Lima", "PEN"),
    "AR": ("America/Argentina/Buenos_Aires", "ARS"),
    "ES": ("Europe/Madrid", "EUR"),
    "US": ("America/Los_Angeles", "USD"),
}
ZONES = [z for z, _ in COUNTRIES.values()] + ["America/New_York", "Asia/Tokyo", "Pacific/Auckland"]
RATES = {"MXN": 0.0585, "COP": 0.000256, "CLP": 0.00113, "PEN": 0.267, "ARS": 0.0012, "EUR": 1.09, "USD": 1.0}
CHANNELS = ("email", "whatsapp", "sms", "call")
RELAX = Relaxation(
    "R-prop",
    "enterprise",
    "Compliance officer",
    date(2025, 1, 1),
    "property test: a relaxed segment must still obey the statute",
    {
        "written_windows": {d: (6, 22) for d in range(7)},
        "max_written_7d": 6,
        "min_spacing_hours": 0,
        "max_contacts_day": 3,
        "one_channel_per_week": False,
    },  # fmt: skip
)

invoice_state = st.sampled_from(["open", "open", "open", "disputed", "paid_erp", "paid_bank", "cancelled"])


@st.composite
def worlds(draw):
    """Raw ERP/CRM/bank frames of a few customers, plus the decision clock and configuration."""
    as_of = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2027, 12, 20)))
    now = datetime.combine(as_of, datetime.min.time(), tzinfo=UTC) + timedelta(minutes=draw(st.integers(0, 1439)))
    n = draw(st.integers(1, 5))
    customers, invoices, disputes, bank, contacts, interactions, history = [], [], [], [], [], [], []
    for k in range(n):
        cid = f"C{k:06d}"
        country = draw(st.sampled_from(sorted(COUNTRIES)))
        tz, ccy = COUNTRIES[country]
        seg = draw(st.sampled_from(["smb", "enterprise", "mid_market"]))
        customers.append({"customer_id": cid, "name": f"Cliente {k}", "country": country, "timezone": tz,
                          "segment": seg})  # fmt: skip
        for j in range(draw(st.integers(1, 4))):
            iid = f"inv_{k:03d}{j}"
            state = draw(invoice_state)
            amount = Decimal(draw(st.integers(1_000, 50_000_000))).scaleb(-2)
            due = as_of - timedelta(days=draw(st.integers(-15, 150)))
            invoices.append({
                "invoice_id": iid, "number": f"INV-2025-{k:03d}{j:03d}", "customer_id": cid, "due_date": due,
                "currency": ccy, "amount_open": Decimal(0) if state == "paid_erp" else amount,
                "status": "cancelled" if state == "cancelled" else "posted", "payment_reference": f"RF{k:03d}{j}",
            })  # fmt: skip
            if state == "disputed":
                disputes.append({"dispute_id": f"d{iid}", "invoice_id": iid, "customer_id": cid,
                                 "opened_at": pd.Timestamp(as_of - timedelta(days=3)), "resolved_at": None,
                                 "status": "open"})  # fmt: skip
            if state == "paid_bank":
                by_ref = draw(st.booleans())
                bank.append({"bank_txn_id": f"bt{iid}", "booking_date": as_of - timedelta(days=1),
                             "credit_debit": "CRDT", "creditor_reference": f"RF{k:03d}{j}" if by_ref else None,
                             "remittance_text": None if by_ref else f"pago INV-2025-{k:03d}{j:03d}"})  # fmt: skip
        for j in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
            # most first contacts are a consented debtor, so that most examples do decide contacts
            usable = j == 0 and draw(st.sampled_from([True, True, True, False]))
            has_phone = draw(st.booleans())
            contacts.append({
                "contact_id": f"K{k}{j}", "customer_id": cid, "full_name": f"P {k}{j}",
                "role": "debtor" if usable else draw(st.sampled_from(["debtor", "guarantor", "other", "ref", ""])),
                "email": f"k{k}{j}@x.co" if usable or draw(st.sampled_from([True, True, True, False])) else "",
                "phone": "+573001112233" if has_phone else "", "language": draw(st.sampled_from(["es", "en", "fr"])),
                "timezone": draw(st.sampled_from([*ZONES, "", "Mars/Base"])),
                **{f"consent_{c}": draw(st.sampled_from([True, True, False])) for c in CHANNELS},
                **({"consent_email": True} if usable else {}),
                "preferred_channel": draw(st.sampled_from([*CHANNELS, None])),
                "preferred_hour": draw(st.one_of(st.none(), st.integers(0, 23))),
            })  # fmt: skip
        for _ in range(draw(st.sampled_from([0, 0, 1, 2, 4]))):
            history.append({"customer_id": cid, "channel": draw(st.sampled_from(CHANNELS)),
                            "scheduled_at": now + timedelta(minutes=draw(st.integers(-9 * 1440, 3 * 1440))),
                            "conversation": draw(st.booleans())})  # fmt: skip
        kind = draw(st.sampled_from(["none"] * 5 + ["promise", "paid_claim", "call_talk"]))
        if kind != "none":
            interactions.append({
                "interaction_id": f"i{k}", "customer_id": cid, "contact_id": None,
                "channel": "call" if kind == "call_talk" else "email",
                "direction": "inbound" if kind == "paid_claim" else "outbound",
                "occurred_at": now - timedelta(days=draw(st.integers(0, 40))),
                "outcome": {"promise": "promise_to_pay", "paid_claim": "paid_claim", "call_talk": "replied"}[kind],
                "promised_date": as_of + timedelta(days=draw(st.integers(-20, 10))) if kind == "promise" else None,
            })  # fmt: skip
    config = NbaConfig(
        usd_rates=RATES,
        control_share=draw(st.sampled_from([0.0, 0.0, 0.5, 1.0])),
        agents=draw(st.integers(0, 2)),
        calls_per_agent=draw(st.integers(0, 3)),
        min_gain_usd=draw(st.sampled_from([0.0, 1.0, 100.0])),
        relaxations=(RELAX,) if draw(st.booleans()) else (),
        seed=draw(st.integers(0, 2**31)),
    )
    return as_of, now, config, customers, invoices, disputes, bank, contacts, interactions, history


def _state(customers, invoices, disputes, bank) -> ObservedState:
    s = ObservedState(predue_days=7)
    s.customers = pd.DataFrame(customers)
    s.invoices = pd.DataFrame(invoices)
    s.disputes = pd.DataFrame(
        disputes, columns=["dispute_id", "invoice_id", "customer_id", "opened_at", "resolved_at", "status"]
    )
    s.bank = pd.DataFrame(
        bank, columns=["bank_txn_id", "booking_date", "credit_debit", "creditor_reference", "remittance_text"]
    )
    s.allocations = pd.DataFrame(columns=["allocation_id", "invoice_id", "payment_date"])
    return s


def _frame(rows, columns) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=columns)


CONTACT_COLS = ["contact_id", "customer_id", "full_name", "role", "email", "phone", "language", "timezone",
                *[f"consent_{c}" for c in CHANNELS], "preferred_channel", "preferred_hour"]  # fmt: skip
INTER_COLS = ["interaction_id", "customer_id", "contact_id", "channel", "direction", "occurred_at", "outcome",
              "promised_date"]  # fmt: skip
HIST_COLS = ["customer_id", "channel", "scheduled_at", "conversation"]


def _check_all(decisions, world, history_rows, accounts) -> None:
    as_of, now, config, customers, invoices, *_ = world
    cust = {c["customer_id"]: c for c in customers}
    contacts = {c["contact_id"]: c for c in world[7]}
    inv = {i["invoice_id"]: i for i in invoices}
    disputed = {d["invoice_id"] for d in world[5]}
    paid_bank = {b_inv for b_inv in inv if any(b["bank_txn_id"] == f"bt{b_inv}" for b in world[6])}
    hist = C.history_by_customer(_frame(history_rows, HIST_COLS))
    for c in world[8]:
        if c["channel"] == "call" and c["outcome"] == "replied" and c["occurred_at"] > now - timedelta(days=8):
            hist.setdefault(c["customer_id"], []).append(C.PastContact(c["occurred_at"], "call", True))
    blocked_accounts = set(accounts.loc[accounts["needs_dispute_review"], "customer_id"]) if len(accounts) else set()
    for r in contacts_of(decisions).itertuples(index=False):
        k = contacts[r.contact_id]
        assert k["customer_id"] == r.customer_id
        ch = "call" if r.action == "call_task" else r.action
        assert r.channel == ch
        c = cust[r.customer_id]
        tz = k["timezone"] if k["timezone"] in ZONES else c["timezone"]
        assert r.timezone == tz
        at = pd.Timestamp(r.scheduled_at).to_pydatetime()
        assert at >= now.replace(microsecond=0, second=0) - timedelta(minutes=1)
        profile, _ = C.effective_profile(c["country"], c["segment"], config.relaxations)
        ids = set(r.invoice_ids)
        blocked = any(
            inv[i]["status"] != "posted" or inv[i]["amount_open"] <= 0 or i in disputed or i in paid_bank for i in ids
        )
        violations = C.check_contact(
            at=at, channel=ch, role=k["role"], consent=bool(k[f"consent_{ch}"]), tz=tz, country=c["country"],
            profile=profile, history=hist.get(r.customer_id, []), invoice_blocked=blocked or not ids,
        )  # fmt: skip
        assert violations == [], (r.customer_id, ch, at, violations)
        assert r.customer_id not in blocked_accounts


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(world=worlds())
def test_no_decision_ever_breaks_a_rule(world) -> None:
    as_of, now, config, customers, invoices, disputes, bank, contacts, interactions, history = world
    state = _state(customers, invoices, disputes, bank)
    accounts = state.accounts(as_of)
    decisions = decide(
        accounts,
        _frame(contacts, CONTACT_COLS),
        _frame(history, HIST_COLS),
        as_of=as_of,
        now_utc=now,
        config=config,
        interactions=_frame(interactions, INTER_COLS),
    )
    assert decisions["customer_id"].is_unique
    assert set(decisions["customer_id"]) == set(accounts["customer_id"])
    _check_all(decisions, world, history, accounts)
    # an account with a promise still running or a fresh paid claim is never dunned
    for i in interactions:
        active = i["outcome"] == "promise_to_pay" and as_of <= i["promised_date"] + timedelta(days=3)
        claim = i["outcome"] == "paid_claim" and i["occurred_at"].date() > as_of - timedelta(days=5)
        if (active and i["occurred_at"].date() >= as_of - timedelta(days=45)) or claim:
            assert i["customer_id"] not in set(contacts_of(decisions)["customer_id"])


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(world=worlds(), days=st.integers(3, 7))
def test_caps_and_spacing_hold_over_consecutive_days(world, days) -> None:
    as_of, now, config, customers, invoices, disputes, bank, contacts, interactions, history = world
    state = _state(customers, invoices, disputes, bank)
    made: list[dict] = list(history)
    for d in range(days):
        day_now = now + timedelta(days=d)
        accounts = state.accounts(day_now.date())
        decisions = decide(
            accounts,
            _frame(contacts, CONTACT_COLS),
            _frame(made, HIST_COLS),
            as_of=day_now.date(),
            now_utc=day_now,
            config=config,
            interactions=_frame(interactions, INTER_COLS),
        )
        _check_all(decisions, (day_now.date(), day_now, *world[2:]), made, accounts)
        for r in contacts_of(decisions).itertuples(index=False):
            ch = "call" if r.action == "call_task" else r.action
            made.append({"customer_id": r.customer_id, "channel": ch, "scheduled_at": r.scheduled_at,
                         "conversation": False})  # fmt: skip
    # every contact the policy made, against all the other contacts of its customer (past and future)
    ours = made[len(history) :]
    cust = {c["customer_id"]: c for c in customers}
    for n, m in enumerate(ours):
        others = [o for j, o in enumerate(made) if o["customer_id"] == m["customer_id"] and j != len(history) + n]
        c = cust[m["customer_id"]]
        profile, _ = C.effective_profile(c["country"], c["segment"], config.relaxations)
        past = [C.PastContact(pd.Timestamp(o["scheduled_at"]).to_pydatetime(), o["channel"]) for o in others]
        at = pd.Timestamp(m["scheduled_at"]).to_pydatetime()
        rules = C.check_contact(
            at=at, channel=m["channel"], role="debtor", consent=True, tz="UTC", country=None, profile=profile,
            history=past,
        )  # fmt: skip
        # window/holiday depend on the contact's zone (checked daily above); here: caps, spacing, channel
        assert not set(rules) - {"window"}, (m, rules)

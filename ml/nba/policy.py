"""Next-best-action decision policy: one consolidated contact per overdue customer (DESIGN.md §7).

This is the rule-based first step of the policy: hard rules first (who may be contacted, on which
consented channel, at which lawful hour, with which spacing), then a simple value rule (high risk and
more than 30 days past due earn a human call task, everything else a written reminder on the
contact's preferred consented channel). Expected-value ranking and bandit-learned channel response
rates come later and plug in after the hard rules.

Pure pandas, no database access: the caller passes the dunnable accounts (paid, cancelled, disputed
and bank-paid invoices already removed upstream), the CRM contacts (``connectors.contracts.CONTACTS``
columns) and the contacts already in the outbox. Work is vectorised per contact; the only Python
loop over time zones runs once per distinct ``(timezone, country, preferred hour)``, not per row.
Money stays :class:`decimal.Decimal` throughout.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from ml.nba.rules import DEFAULT_RULES, ContactRules, format_local, next_lawful_slot, zone

logger = logging.getLogger(__name__)

#: Actions the policy can emit. ``wait`` rows are kept for audit but never enqueued.
ACTIONS = ("email", "whatsapp", "sms", "call_task", "wait", "dispute_review")
#: Written channels in fallback order when the preferred one is not usable.
WRITTEN_CHANNELS = ("email", "whatsapp", "sms")
#: Roles that may be contacted: the debtor or a guarantor/co-obligor, never a third party.
CONTACTABLE_ROLES = ("debtor", "guarantor")
SUPPORTED_LANGUAGES = ("es", "en", "pt")
_COUNTRY_LANGUAGE = {"BR": "pt", "PT": "pt", "US": "en", "GB": "en", "CA": "en", "IE": "en"}

OUTPUT_COLUMNS = [
    "customer_id",
    "customer_name",
    "contact_id",
    "contact_name",
    "action",
    "channel",
    "scheduled_at",
    "local_scheduled_at",
    "timezone",
    "country",
    "currency",
    "amount_at_stake",
    "invoice_ids",
    "invoices",
    "n_overdue_invoices",
    "max_days_past_due",
    "risk_score",
    "language",
    "email",
    "phone",
    "payment_link",
    "reason_codes",
]

_ACCOUNT_COLUMNS = (
    "customer_id",
    "customer_name",
    "country",
    "timezone",
    "currency",
    "overdue_amount",
    "n_overdue_invoices",
    "max_days_past_due",
    "invoices",
)
_CONTACT_COLUMNS = (
    "contact_id",
    "customer_id",
    "role",
    "email",
    "phone",
    "language",
    "timezone",
    "consent_email",
    "consent_whatsapp",
    "consent_sms",
    "consent_call",
    "preferred_channel",
    "preferred_hour",
)


@dataclass(frozen=True)
class PolicyParams:
    """Value thresholds of the rule-based policy.

    Attributes:
        call_risk_threshold: Minimum risk score (inclusive) for a human call task.
        call_min_days_past_due: Call tasks only when ``max_days_past_due`` is strictly above this.
    """

    call_risk_threshold: float = 0.7
    call_min_days_past_due: int = 30


DEFAULT_PARAMS = PolicyParams()


def _require(df: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}; expected at least {list(columns)}")


def _check_money(values: pd.Series) -> None:
    bad = values[~values.map(lambda v: isinstance(v, Decimal | int))]
    if len(bad):
        raise TypeError(
            f"overdue_amount must be Decimal (money never travels as float); got {type(bad.iloc[0]).__name__} "
            f"at index {bad.index[0]!r}. Read DECIMAL columns with fetchall()/arrow, not DataFrame .df()"
        )


def _bool(s: pd.Series) -> pd.Series:
    return s.astype("boolean").fillna(False).astype(bool)


def _text(s: pd.Series) -> pd.Series:
    return s.astype("object").where(s.notna(), None).map(lambda v: str(v).strip() if v is not None else "")


def _fallback_language(country: pd.Series) -> pd.Series:
    return country.fillna("").str.upper().map(_COUNTRY_LANGUAGE).fillna("es")


def _valid_zones(names: pd.Series) -> set[str]:
    ok: set[str] = set()
    for name in names.dropna().unique():
        try:
            zone(str(name))
        except ValueError:
            logger.warning("ignoring unknown timezone %r", name)
            continue
        ok.add(str(name))
    return ok


def _rank_contacts(c: pd.DataFrame, call_warranted: pd.Series) -> pd.DataFrame:
    """Pick the channel for every contact; vectorised over contacts."""
    is_party = c["role"].isin(CONTACTABLE_ROLES)
    has_email = c["email"].str.contains("@", regex=False)
    has_phone = c["phone"].str.startswith("+")
    usable = {
        "email": is_party & c["consent_email"] & has_email,
        "whatsapp": is_party & c["consent_whatsapp"] & has_phone,
        "sms": is_party & c["consent_sms"] & has_phone,
        "call": is_party & c["consent_call"] & has_phone,
    }
    pref = c["preferred_channel"]
    conditions = [(pref == ch) & usable[ch] for ch in WRITTEN_CHANNELS] + [usable[ch] for ch in WRITTEN_CHANNELS]
    choices = list(WRITTEN_CHANNELS) * 2
    written = pd.Series(np.select(conditions, choices, default=""), index=c.index)
    use_call = call_warranted & usable["call"]
    out = c.assign(
        is_party=is_party,
        any_consent=is_party & (c["consent_email"] | c["consent_whatsapp"] | c["consent_sms"] | c["consent_call"]),
        channel=np.where(use_call, "call", written),
        use_call=use_call,
    )
    out["eligible"] = out["channel"] != ""
    out["pref_honoured"] = out["channel"] == pref
    out["role_rank"] = np.where(out["role"] == "debtor", 0, 1)
    out["channel_rank"] = out["channel"].map({"call": 0, "email": 1, "whatsapp": 2, "sms": 3}).fillna(9)
    return out


def _skip_reasons(acc: pd.DataFrame, c: pd.DataFrame) -> pd.Series:
    """Why a customer without an eligible contact gets ``wait`` (one reason code per customer)."""
    agg = c.groupby("customer_id").agg(
        n=("contact_id", "size"),
        party=("is_party", "any"),
        consent=("any_consent", "any"),
    )
    agg = agg.reindex(acc["customer_id"]).fillna({"n": 0, "party": False, "consent": False})
    reason = np.select(
        [agg["n"] == 0, ~agg["party"].astype(bool), ~agg["consent"].astype(bool)],
        ["skip:no_contact", "skip:third_party_only", "skip:no_consent"],
        default="skip:no_address",
    )
    return pd.Series(reason, index=acc["customer_id"].to_numpy())


def _schedule(chosen: pd.DataFrame, now_utc: datetime, rules: ContactRules) -> pd.DataFrame:
    """Next lawful slot per distinct (timezone, country, preferred hour): a few hundred calls at most."""
    chosen = chosen.assign(pref_key=chosen["preferred_hour"].fillna(-1).astype("int64"))
    keys = chosen[["timezone", "country", "pref_key"]].drop_duplicates()
    rows = []
    for tz, country, pref in keys.itertuples(index=False):
        slot, how = next_lawful_slot(now_utc, tz, country or None, rules, None if pref < 0 else int(pref))
        rows.append((tz, country, pref, slot, format_local(slot, tz), how))
    slots = pd.DataFrame(
        rows,
        columns=["timezone", "country", "pref_key", "scheduled_at", "local_scheduled_at", "slot_how"],
    ).astype({"pref_key": "int64"})
    slots["scheduled_at"] = pd.to_datetime(slots["scheduled_at"], utc=True)
    return chosen.merge(slots, on=["timezone", "country", "pref_key"], how="left")


def decide(
    accounts: pd.DataFrame,
    contacts: pd.DataFrame,
    recent_contacts: pd.DataFrame,
    *,
    as_of: date,
    now_utc: datetime,
    rules: ContactRules = DEFAULT_RULES,
    params: PolicyParams = DEFAULT_PARAMS,
) -> pd.DataFrame:
    """Decide today's action for every customer with a dunnable overdue balance.

    Hard rules, in order: a pending dispute claim (optional boolean column
    ``needs_dispute_review`` on ``accounts``) routes the account to an internal ``dispute_review``;
    a customer contacted (or scheduled) within ``rules.min_spacing_hours`` waits; only contacts with
    role debtor or guarantor, a consent for the channel and an address for it are eligible. Then: a
    risk score >= ``params.call_risk_threshold`` with ``max_days_past_due`` >
    ``params.call_min_days_past_due`` and a call consent gives ``call_task``; otherwise the
    contact's preferred written channel if usable, else the first usable of email, WhatsApp, SMS.
    Debtor contacts are preferred over guarantors. One consolidated contact covers all the
    customer's overdue invoices, at the next lawful slot in the contact's timezone (the customer's
    if the contact has none), skipping weekends and the customer's country's public holidays.

    Args:
        accounts: One row per customer: customer_id, customer_name, country, timezone, currency,
            overdue_amount (Decimal), n_overdue_invoices, max_days_past_due, invoices (list of dicts
            with invoice_id, number, due_date, amount_open, days_past_due), risk_score (float or
            NaN). Optional: payment_link, needs_dispute_review.
        contacts: CRM contacts (``connectors.contracts.CONTACTS`` columns).
        recent_contacts: customer_id, channel, scheduled_at (UTC) of contacts already in the outbox.
        as_of: Business date of the decision (logged in reason codes as ``as_of:``).
        now_utc: Timezone-aware current instant; nothing is scheduled before it.
        rules: Lawful window and spacing.
        params: Value thresholds.

    Returns:
        One row per customer with ``OUTPUT_COLUMNS``. ``wait`` rows have no contact, channel or
        schedule and carry a ``skip:`` reason code; they are kept for audit and never sent.

    Raises:
        ValueError: On missing columns, duplicate customers or a naive ``now_utc``.
        TypeError: If ``overdue_amount`` is not Decimal.
    """
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware (UTC)")
    _require(accounts, _ACCOUNT_COLUMNS, "accounts")
    if accounts.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    if accounts["customer_id"].duplicated().any():
        dup = accounts.loc[accounts["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise ValueError(f"accounts must have one row per customer; {dup!r} appears more than once")
    _check_money(accounts["overdue_amount"])
    now = pd.Timestamp(now_utc).tz_convert("UTC")

    acc = accounts.reset_index(drop=True).copy()
    acc["country"] = _text(acc["country"]).str.upper()
    acc["timezone"] = _text(acc["timezone"])
    risk = pd.to_numeric(acc["risk_score"], errors="coerce") if "risk_score" in acc else np.nan
    acc["risk_score"] = pd.Series(risk, index=acc.index, dtype="float64")
    acc["max_days_past_due"] = pd.to_numeric(acc["max_days_past_due"]).astype("int64")
    acc["call_warranted"] = (acc["risk_score"] >= params.call_risk_threshold) & (
        acc["max_days_past_due"] > params.call_min_days_past_due
    )
    acc["payment_link"] = _text(acc["payment_link"]) if "payment_link" in acc else ""
    review = _bool(acc["needs_dispute_review"]) if "needs_dispute_review" in acc else False
    acc["needs_review"] = pd.Series(review, index=acc.index, dtype=bool)

    # Spacing: anything already scheduled after now - spacing (including the future) blocks.
    cutoff = now - pd.Timedelta(hours=rules.min_spacing_hours)
    if len(recent_contacts):
        _require(recent_contacts, ("customer_id", "scheduled_at"), "recent_contacts")
        rc = recent_contacts.assign(scheduled_at=pd.to_datetime(recent_contacts["scheduled_at"], utc=True))
        last = rc.groupby("customer_id")["scheduled_at"].max()
    else:
        last = pd.Series(dtype="datetime64[us, UTC]")
    acc["last_contact_at"] = pd.to_datetime(last.reindex(acc["customer_id"]).to_numpy(), utc=True)
    acc["spaced_out"] = acc["last_contact_at"].notna() & (acc["last_contact_at"] > cutoff)

    # Contacts: normalise, then choose a channel per contact.
    _require(contacts, _CONTACT_COLUMNS, "contacts")
    c = contacts[contacts["customer_id"].isin(acc["customer_id"])].copy()
    for col in ("role", "preferred_channel", "language"):
        c[col] = _text(c[col]).str.lower()
    for col in ("email", "phone", "timezone", "contact_id"):
        c[col] = _text(c[col])
    c["full_name"] = _text(c["full_name"]) if "full_name" in c else ""
    for col in ("consent_email", "consent_whatsapp", "consent_sms", "consent_call"):
        c[col] = _bool(c[col])
    c["preferred_hour"] = pd.to_numeric(c["preferred_hour"], errors="coerce").astype("Int64")
    c = c.merge(acc[["customer_id", "call_warranted", "timezone"]], on="customer_id", suffixes=("", "_cust"))
    ranked = _rank_contacts(c, c["call_warranted"])

    eligible = ranked[ranked["eligible"]].sort_values(
        ["customer_id", "role_rank", "use_call", "pref_honoured", "channel_rank", "contact_id"],
        ascending=[True, True, False, False, True, True],
    )
    best = eligible.drop_duplicates("customer_id", keep="first")

    # Timezone: the contact's, else the customer's; an account with neither valid cannot be timed.
    valid = _valid_zones(pd.concat([best["timezone"], best["timezone_cust"], acc["timezone"]]))
    best = best.assign(
        tz_fallback=~best["timezone"].isin(valid),
        timezone=best["timezone"].where(best["timezone"].isin(valid), best["timezone_cust"]),
    )

    out = acc.merge(
        best[
            [
                "customer_id",
                "contact_id",
                "full_name",
                "role",
                "channel",
                "pref_honoured",
                "timezone",
                "tz_fallback",
                "preferred_hour",
                "language",
                "email",
                "phone",
            ]
        ].rename(columns={"timezone": "contact_tz", "full_name": "contact_name"}),
        on="customer_id",
        how="left",
    )
    out["skip"] = _skip_reasons(acc, ranked).reindex(out["customer_id"]).to_numpy()
    has_contact = out["contact_id"].notna()
    bad_tz = has_contact & ~out["contact_tz"].isin(valid)
    out.loc[bad_tz, "skip"] = "skip:bad_timezone"

    send = has_contact & ~bad_tz & ~out["spaced_out"] & ~out["needs_review"]
    out["action"] = np.select(
        [out["needs_review"], send & (out["channel"] == "call"), send],
        ["dispute_review", "call_task", out["channel"].fillna("")],
        default="wait",
    )
    out.loc[out["spaced_out"] & ~out["needs_review"], "skip"] = "skip:spacing"

    # Schedule the sends at the next lawful slot, once per distinct (zone, country, hour).
    sched = out.loc[send, ["customer_id", "contact_tz", "country", "preferred_hour"]].rename(
        columns={"contact_tz": "timezone"}
    )
    if len(sched):
        sched = _schedule(sched, now.to_pydatetime(), rules).set_index("customer_id")
    else:
        sched = pd.DataFrame(columns=["scheduled_at", "local_scheduled_at", "slot_how"])
    sched = sched.reindex(out["customer_id"])
    out["scheduled_at"] = pd.to_datetime(sched["scheduled_at"].to_numpy(), utc=True)
    out["local_scheduled_at"] = sched["local_scheduled_at"].to_numpy()
    out["slot_how"] = sched["slot_how"].to_numpy()
    is_review = out["action"] == "dispute_review"
    out.loc[is_review, "scheduled_at"] = now.floor("s")
    out.loc[is_review, "local_scheduled_at"] = f"{now.floor('s').isoformat()} UTC"

    out["channel"] = np.select(
        [out["action"].isin(WRITTEN_CHANNELS), out["action"] == "call_task", is_review],
        [out["action"], "call", "internal"],
        default=None,
    )

    lang_ok = out["language"].isin(SUPPORTED_LANGUAGES)
    out["lang_fallback"] = has_contact & ~lang_ok
    out["language"] = out["language"].where(lang_ok, _fallback_language(out["country"]))
    out["timezone"] = out["contact_tz"].where(out["contact_tz"].notna(), out["timezone"])
    out["amount_at_stake"] = out["overdue_amount"]
    out["invoice_ids"] = [[str(i["invoice_id"]) for i in invs] for invs in out["invoices"]]
    out["reason_codes"] = _reason_codes(out, rules, as_of)

    for col in ("contact_id", "contact_name", "email", "phone"):
        out[col] = out[col].astype("object").where(~out["action"].isin(("wait", "dispute_review")), None)
    result = out[OUTPUT_COLUMNS].sort_values("customer_id", kind="stable").reset_index(drop=True)
    counts = result["action"].value_counts().to_dict()
    logger.info("nba decide as_of=%s: %d accounts -> %s", as_of, len(result), counts)
    return result


def _reason_codes(out: pd.DataFrame, rules: ContactRules, as_of: date) -> list[list[str]]:
    """Per-row reason codes; one pass over already-computed columns."""
    codes: list[list[str]] = []
    cols = zip(
        out["action"],
        out["channel"],
        out["role"],
        out["pref_honoured"],
        out["timezone"],
        out["slot_how"],
        out["risk_score"],
        out["max_days_past_due"],
        out["skip"],
        out["last_contact_at"],
        out["tz_fallback"],
        out["lang_fallback"],
        out["language"],
        strict=True,
    )
    for action, channel, role, pref_ok, tz, how, risk, dpd, skip, last, tz_fb, lang_fb, lang in cols:
        rc: list[str] = [f"as_of:{as_of.isoformat()}"]
        rc.append("risk:na" if pd.isna(risk) else f"risk:{risk:.2f}")
        rc.append(f"dpd:{int(dpd)}")
        if action == "dispute_review":
            rc.append("review:dispute_claim")
        elif action == "wait":
            rc.append(str(skip))
            if skip == "skip:spacing" and pd.notna(last):
                rc.append(f"last_contact:{pd.Timestamp(last).isoformat()}")
        else:
            consent = "call" if action == "call_task" else channel
            rc += [f"role:{role}", f"consent:{consent}", f"window:{rules.describe(tz)}", f"slot:{how}"]
            if action == "call_task":
                rc.append("rule:high_risk_call")
            rc.append("pref:honoured" if pref_ok else "pref:fallback")
            if tz_fb is True:
                rc.append("tz:customer_fallback")
            if lang_fb is True:
                rc.append(f"lang:fallback_{lang}")
        codes.append(rc)
    return codes


def sendable(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions that go to the outbox (everything but ``wait``)."""
    return decisions[decisions["action"] != "wait"]


def summary(decisions: pd.DataFrame) -> dict[str, Any]:
    """Counts per action and total amount at stake per currency, for logs and reports."""
    by_ccy: dict[str, Decimal] = {}
    active = sendable(decisions)
    for ccy, amt in zip(active["currency"], active["amount_at_stake"], strict=True):
        by_ccy[ccy] = by_ccy.get(ccy, Decimal(0)) + amt
    return {"actions": decisions["action"].value_counts().to_dict(), "amount_at_stake": by_ccy}

"""Value-based next-best-action under lawful contact rules: the daily decision (DESIGN.md §7, §10).

One call, :func:`decide`, used by the daily flow (``flows.stages.decide_actions``) and by the
closed-loop evaluation (:mod:`evaluation.closed_loop`) alike. Per customer with a dunnable overdue
balance, in this order:

1. **Suppression and routing** - a pending dispute claim goes to an internal ``dispute_review`` and
   is not dunned; an active promise to pay (or a recent "already paid" claim) waits until the
   promised date plus grace; a broken promise resumes dunning with escalation (payment-plan offer,
   call, credit hold or legal). Disputed invoices and invoices already paid in the bank never reach
   this module (``marts.mart_dunning_accounts`` removes them).
2. **Hard rules** - every (contact person, channel) candidate is checked by
   :func:`ml.nba.compliance.check_contact` at its proposed slot (the next lawful window at the
   contact's preferred hour) against the contacts already made or scheduled: role, consent, window,
   holidays, caps, spacing, one channel a week, call cooldown. Only lawful candidates remain.
3. **Value** - treatment accounts rank the lawful candidates by expected value
   (:mod:`ml.nba.value`) with response rates drawn from Beta posteriors (:mod:`ml.nba.bandit`), plus
   an escalation candidate where it applies; ``wait`` wins when nothing beats it by ``min_gain_usd``.
   Control accounts (a stable share) follow the static ladder (:mod:`ml.nba.ladder`) under the same
   hard rules.
4. **Capacity** - call tasks are limited to agents x calls per agent, given to the accounts where a
   call is worth most over their next best action; the rest fall back to it (:mod:`ml.nba.capacity`).

Every row carries reason codes: rules passed or failed, risk and its top drivers, the values of the
alternatives, why this channel and this time. Money stays Decimal; USD floats are only for ranking.
"""

from __future__ import annotations

import logging
from collections import namedtuple
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from ml.nba import bandit, capacity, compliance, ladder, value
from ml.nba.compliance import format_local
from ml.nba.frames import (
    ACCOUNT_COLUMNS,
    CONTACT_COLUMNS,
    SUPPORTED_LANGUAGES,
    as_bool,
    as_text,
    check_money,
    fallback_language,
    require,
    valid_zones,
)

logger = logging.getLogger(__name__)

#: Actions the engine emits. ``wait`` is audit only; ``escalate`` and ``dispute_review`` are internal.
ACTIONS = ("email", "whatsapp", "sms", "call_task", "wait", "dispute_review", "escalate")
#: What a contact is about (the template): reminder, statement, payment_plan_offer, call, ...
INTENTS = (
    "reminder",
    "pre_due_reminder",
    "statement",
    "payment_plan_offer",
    "call",
    "legal",
    "credit_hold",
    "dispute_review",
    "wait",
)
ARMS = ("treatment", "control")

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
    "arm",
    "intent",
    "segment",
    "expected_value_usd",
    "value_over_wait_usd",
    "p_pay",
    "rule_profile",
]

_ROLE_RANK = {"debtor": 0, "guarantor": 1}
_CHANNEL_ACTION = {"email": "email", "whatsapp": "whatsapp", "sms": "sms", "call": "call_task"}


def _empty_history() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": pd.Series(dtype=str),
            "channel": pd.Series(dtype=str),
            "scheduled_at": pd.Series(dtype="datetime64[us, UTC]"),
            "conversation": pd.Series(dtype=bool),
        }
    )


def _history(history: pd.DataFrame | None, interactions: pd.DataFrame | None, now: pd.Timestamp) -> pd.DataFrame:
    """Contacts made or scheduled around now, with call conversations flagged from the CRM log."""
    h = _empty_history() if history is None or history.empty else history.copy()
    require(h, ("customer_id", "channel", "scheduled_at"), "history")
    h["customer_id"] = h["customer_id"].astype(str)
    h["channel"] = h["channel"].astype(str).replace({"call_task": "call"})
    h["scheduled_at"] = pd.to_datetime(h["scheduled_at"], utc=True)
    h["conversation"] = as_bool(h["conversation"]) if "conversation" in h else False
    if interactions is not None and len(interactions):
        it = interactions
        conv = it[
            (it["channel"].astype(str) == "call")
            & it["outcome"].astype(str).isin(compliance.CONVERSATION_OUTCOMES)
            & (pd.to_datetime(it["occurred_at"], utc=True) > now - pd.Timedelta(days=compliance.HISTORY_DAYS))
        ]
        if len(conv):
            extra = pd.DataFrame(
                {
                    "customer_id": conv["customer_id"].astype(str).to_numpy(),
                    "channel": "call",
                    "scheduled_at": pd.to_datetime(conv["occurred_at"], utc=True).to_numpy(),
                    "conversation": True,
                }
            )
            h = pd.concat([h, extra], ignore_index=True)
    return h[h["scheduled_at"] > now - pd.Timedelta(days=14)]


def _promises(interactions: pd.DataFrame | None, as_of: date, cfg: value.NbaConfig) -> pd.DataFrame:
    """Per customer: the latest promise (or paid claim) and whether it is active or broken."""
    cols = ["promise_until", "promise_active", "promise_broken", "paid_claim_active"]
    if interactions is None or interactions.empty:
        return pd.DataFrame(columns=cols)
    it = interactions.assign(
        occurred_at=pd.to_datetime(interactions["occurred_at"], utc=True),
        customer_id=interactions["customer_id"].astype(str),
        outcome=interactions["outcome"].astype(str),
    )
    it = it[it["occurred_at"].dt.date <= as_of]
    lookback = as_of - timedelta(days=cfg.promise_lookback_days)
    prom = it[(it["outcome"] == "promise_to_pay") & (it["occurred_at"].dt.date >= lookback)]
    prom = prom.assign(promised=pd.to_datetime(prom["promised_date"]).dt.date)
    prom = prom.dropna(subset=["promised"]).sort_values("occurred_at").drop_duplicates("customer_id", keep="last")
    ids = sorted(set(it["customer_id"].to_numpy(dtype=object)))  # (iterating an Arrow string column is slow)
    out = pd.DataFrame(index=pd.Index(ids, name="customer_id"), columns=cols)
    until = pd.Series(
        [p + timedelta(days=cfg.promise_grace_days) for p in prom["promised"]], index=prom["customer_id"], dtype=object
    )
    out["promise_until"] = until.reindex(out.index)
    has = out["promise_until"].notna()
    out["promise_active"] = has & out["promise_until"].map(lambda d: d is not None and d == d and as_of <= d)
    out["promise_broken"] = has & ~out["promise_active"]
    claim = it[(it["outcome"] == "paid_claim") & (it["occurred_at"].dt.date > as_of - timedelta(days=5))]
    out["paid_claim_active"] = out.index.isin(claim["customer_id"])
    return out


def _unresponsive(interactions: pd.DataFrame | None, as_of: date, n: int) -> set[str]:
    """Customers whose last ``n`` outbound contacts (60 days) drew no engagement."""
    if interactions is None or interactions.empty:
        return set()
    it = interactions[interactions["direction"].astype(str) == "outbound"]
    at = pd.to_datetime(it["occurred_at"], utc=True)
    it = it[(at.dt.date > as_of - timedelta(days=60)) & (at.dt.date <= as_of)]
    ok = it["outcome"].astype(str).isin(bandit.SUCCESS_OUTCOMES)
    g = pd.DataFrame({"c": it["customer_id"].astype(str), "ok": ok}).groupby("c")["ok"].agg(["size", "sum"])
    return set(g.index[(g["size"] >= n) & (g["sum"] == 0)])


_Cand = namedtuple("_Cand", "customer_id channel role consent timezone country profile_key preferred_hour")


def _candidates(
    acc: pd.DataFrame, contacts: pd.DataFrame, hist_by: dict, now: pd.Timestamp, profiles: dict
) -> pd.DataFrame:
    """Every (contact, channel) of the accounts with its slot and the rules it would break there."""
    c = contacts[contacts["customer_id"].astype(str).isin(acc["customer_id"])].copy()
    c["customer_id"] = c["customer_id"].astype(str)
    for col in ("role", "preferred_channel", "language"):
        c[col] = as_text(c[col]).str.lower()
    for col in ("email", "phone", "timezone", "contact_id"):
        c[col] = as_text(c[col])
    c["full_name"] = as_text(c["full_name"]) if "full_name" in c else ""
    for col in ("consent_email", "consent_whatsapp", "consent_sms", "consent_call"):
        c[col] = as_bool(c[col])
    c["preferred_hour"] = pd.to_numeric(c["preferred_hour"], errors="coerce")
    c = c.merge(acc[["customer_id", "timezone", "country", "profile_key"]], on="customer_id", suffixes=("", "_cust"))
    valid = valid_zones(pd.concat([c["timezone"], c["timezone_cust"]]))
    c["tz_fallback"] = ~c["timezone"].isin(valid)
    c["timezone"] = c["timezone"].where(c["timezone"].isin(valid), c["timezone_cust"])
    c = c[c["timezone"].isin(valid)]
    has_email = c["email"].str.contains("@", regex=False)
    has_phone = c["phone"].str.startswith("+")
    rows = []
    for ch, addr in (("email", has_email), ("whatsapp", has_phone), ("sms", has_phone), ("call", has_phone)):
        part = c[addr].assign(channel=ch, consent=c.loc[addr, f"consent_{ch}"])
        rows.append(part)
    cand = pd.concat(rows, ignore_index=True) if rows else c.head(0).assign(channel="", consent=False)
    if cand.empty:
        return cand.assign(scheduled_at=pd.NaT, slot_how="", violations=[[]] * 0)
    slot_cache: dict = {}
    sched, how, viol = [], [], []
    now_dt = now.to_pydatetime()
    names = ["customer_id", "channel", "role", "consent", "timezone", "country", "profile_key", "preferred_hour"]
    # plain object arrays: iterating Arrow-backed string columns element by element is slow
    for row in zip(*(cand[n].to_numpy(dtype=object) for n in names), strict=True):
        r = _Cand(*row)
        prof = profiles[r.profile_key][0]
        if not r.consent or r.role not in prof.allowed_roles:
            # ineligible whatever the time: skip the slot search (most candidates at scale)
            sched.append(None)
            how.append("")
            viol.append(["no_consent"] * (not r.consent) + ["third_party"] * (r.role not in prof.allowed_roles))
            continue
        pref = None if pd.isna(r.preferred_hour) else int(r.preferred_hour)
        key = (r.timezone, r.country, prof.name, r.channel, pref)
        if key not in slot_cache:
            try:
                slot_cache[key] = compliance.next_slot(now_dt, r.timezone, r.country or None, prof, r.channel, pref)
            except ValueError:
                slot_cache[key] = (None, "no_window")
        slot, h = slot_cache[key]
        sched.append(slot)
        how.append(h)
        if slot is None:
            viol.append(["window"])
            continue
        viol.append(
            compliance.check_contact(
                at=slot,
                channel=r.channel,
                role=r.role,
                consent=bool(r.consent),
                tz=r.timezone,
                country=r.country or None,
                profile=prof,
                history=hist_by.get(r.customer_id, []),
            )
        )
    cand["scheduled_at"] = pd.to_datetime(pd.Series(sched, index=cand.index, dtype=object), utc=True)
    cand["slot_how"] = how
    cand["violations"] = viol
    cand["lawful"] = cand["violations"].map(len) == 0
    cand["role_rank"] = cand["role"].map(_ROLE_RANK).fillna(9)
    cand["pref_honoured"] = cand["channel"] == cand["preferred_channel"]
    return cand


def decide(
    accounts: pd.DataFrame,
    contacts: pd.DataFrame,
    history: pd.DataFrame | None,
    *,
    as_of: date,
    now_utc: datetime,
    config: value.NbaConfig | None = None,
    interactions: pd.DataFrame | None = None,
    escalations: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Decide today's one action for every customer with a dunnable overdue balance.

    Args:
        accounts: One row per customer (``marts.mart_dunning_accounts`` shaped by
            ``ml.nba.inputs.accounts_for_decision``): customer_id, customer_name, country, timezone,
            currency, overdue_amount (Decimal), n_overdue_invoices, max_days_past_due, invoices,
            risk_score; optional segment, payment_link, needs_dispute_review, risk_drivers (list),
            upcoming_invoices (invoices coming due soon, same dicts: a treatment contact covers them
            too, and an account with only upcoming invoices gets a pre-due reminder).
        contacts: CRM contacts (``marts.dim_contacts`` columns).
        history: Contacts already made or scheduled: customer_id, channel, scheduled_at (UTC),
            optional conversation. Future scheduled contacts count too.
        as_of: Business date of the decision.
        now_utc: Timezone-aware instant; nothing is scheduled before it.
        config: Policy configuration (defaults: :class:`ml.nba.value.NbaConfig`).
        interactions: CRM interaction log (customer_id, channel, direction, occurred_at, outcome,
            promised_date) for promises, call conversations and learned response rates.
        escalations: customer_id, escalated_at of earlier escalations (not repeated within the cooldown).

    Returns:
        One row per customer with :data:`OUTPUT_COLUMNS`.

    Raises:
        ValueError: On missing columns, duplicate customers, a naive ``now_utc`` or a currency without rate.
        TypeError: If ``overdue_amount`` is not Decimal.
    """
    cfg = config or value.NbaConfig()
    if now_utc.tzinfo is None:
        raise ValueError("now_utc must be timezone-aware (UTC)")
    require(accounts, ACCOUNT_COLUMNS, "accounts")
    if accounts.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    if accounts["customer_id"].duplicated().any():
        dup = accounts.loc[accounts["customer_id"].duplicated(), "customer_id"].iloc[0]
        raise ValueError(f"accounts must have one row per customer; {dup!r} appears more than once")
    check_money(accounts["overdue_amount"])
    require(contacts, CONTACT_COLUMNS, "contacts")
    now = pd.Timestamp(now_utc).tz_convert("UTC")

    acc = _prepare_accounts(accounts, cfg)
    profiles = _rule_profiles(acc, cfg)
    hist_by, esc_recent, suppressed = _account_state(acc, history, interactions, escalations, as_of, now, cfg)
    cand, lawful = _lawful_candidates(acc, suppressed, contacts, hist_by, interactions, as_of, now, profiles, cfg)
    out, chosen_idx = _choose(acc, lawful, cand, suppressed, esc_recent, cfg)
    result = _materialise(out, lawful, chosen_idx, profiles, as_of, now, cfg)
    control = acc["arm"] == "control"
    logger.info(
        "nba decide as_of=%s: %d accounts -> %s (control %d)",
        as_of,
        len(result),
        result["action"].value_counts().to_dict(),
        int(control.sum()),
    )
    return result


def _prepare_accounts(accounts: pd.DataFrame, cfg: value.NbaConfig) -> pd.DataFrame:
    """Phase 0: the accounts typed, in their experiment arm, with their stake, risk and lateness in USD-days."""
    acc = accounts.reset_index(drop=True).copy()
    acc["customer_id"] = acc["customer_id"].astype(str)
    acc.index = pd.Index(acc["customer_id"].to_numpy(), name=None)
    acc["country"] = as_text(acc["country"]).str.upper()
    acc["timezone"] = as_text(acc["timezone"])
    acc["segment"] = as_text(acc["segment"]).replace("", "unknown") if "segment" in acc else "unknown"
    acc["risk_score"] = pd.to_numeric(acc["risk_score"], errors="coerce").astype(float)
    acc["max_days_past_due"] = pd.to_numeric(acc["max_days_past_due"]).astype("int64")
    acc["payment_link"] = as_text(acc["payment_link"]) if "payment_link" in acc else ""
    acc["needs_review"] = as_bool(acc["needs_dispute_review"]) if "needs_dispute_review" in acc else False
    drivers = acc["risk_drivers"] if "risk_drivers" in acc else pd.Series([[]] * len(acc), index=acc.index)
    acc["drivers"] = drivers.map(lambda d: list(d) if isinstance(d, list | tuple | np.ndarray) else [])
    control = ladder.control_mask(acc["customer_id"], cfg.control_share, cfg.control_salt)
    acc["arm"] = np.where(control, "control", "treatment")
    ups = acc["upcoming_invoices"] if "upcoming_invoices" in acc else pd.Series([[]] * len(acc), index=acc.index)
    acc["upcoming"] = ups.map(lambda u: list(u) if isinstance(u, list | tuple | np.ndarray) else [])
    acc["upcoming_amount"] = acc["upcoming"].map(lambda u: sum((i["amount_open"] for i in u), Decimal(0)))
    acc["stake_all"] = [o + u for o, u in zip(acc["overdue_amount"], acc["upcoming_amount"], strict=True)]
    acc["amount_usd"] = value.to_usd(acc["stake_all"], acc["currency"], cfg.usd_rates)
    acc["p0"] = value.p_wait(acc["risk_score"])
    # DSO-aware value: USD-days of balance a paying customer would pull forward over what a contact covers
    lateness = acc["expected_days_late"] if "expected_days_late" in acc else pd.Series(np.nan, index=acc.index)
    acc["days_late"] = value.expected_days_late(lateness, acc["risk_score"], cfg)
    nan = pd.Series(np.nan, index=acc.index)
    since = acc["days_since_payment"] if "days_since_payment" in acc else nan
    acc["stopped_paying"] = value.stopped_paying(since, acc["max_days_past_due"], acc["days_late"], cfg)
    recent = acc["recent_days_late"] if "recent_days_late" in acc else nan
    acc["days_late"] = value.current_lateness(
        acc["days_late"], recent, acc["max_days_past_due"], acc["stopped_paying"], cfg
    )
    acc["amount_days_usd"] = _amount_days_usd(acc, cfg)

    return acc


def _rule_profiles(acc: pd.DataFrame, cfg: value.NbaConfig) -> dict:
    """Phase 0: the compliance profile governing each (country, segment), written onto ``acc``."""
    # rule profile per (country, segment)
    profiles: dict = {}
    keys = []
    for country, seg in zip(acc["country"], acc["segment"], strict=True):
        key = (country, seg)
        if key not in profiles:
            profiles[key] = compliance.effective_profile(country or None, seg, cfg.relaxations)
        keys.append(key)
    acc["profile_key"] = keys
    acc["rule_profile"] = [profiles[k][0].name for k in keys]
    acc["relaxation"] = [profiles[k][1].relaxation_id if profiles[k][1] else "" for k in keys]

    return profiles


def _account_state(
    acc: pd.DataFrame,
    history: pd.DataFrame | None,
    interactions: pd.DataFrame | None,
    escalations: pd.DataFrame | None,
    as_of: date,
    now: pd.Timestamp,
    cfg: value.NbaConfig,
) -> tuple[dict, pd.Series, pd.Series]:
    """Phase 1 (suppression and routing): contact history, promises, escalations, what a contact can move.

    Returns the history by customer (for the hard rules), the recently escalated accounts and the
    suppressed ones (dispute review, active promise, recent paid claim).
    """
    # history, promises, fatigue
    hist = _history(history, interactions, now)
    hist_by = compliance.history_by_customer(hist)
    contact_hist = hist[hist["channel"].isin(compliance.CONTACT_CHANNELS)]
    acc["n14"] = acc["customer_id"].map(contact_hist.groupby("customer_id").size()).fillna(0).astype(int)
    last = contact_hist.groupby("customer_id")["scheduled_at"].max()
    acc["last_contact_at"] = _map_ts(acc["customer_id"], last)
    prom = _promises(interactions, as_of, cfg).reindex(acc["customer_id"])
    acc["promise_active"] = prom["promise_active"].fillna(False).astype(bool).to_numpy()
    acc["paid_claim"] = prom["paid_claim_active"].fillna(False).astype(bool).to_numpy()
    acc["promise_broken"] = prom["promise_broken"].fillna(False).astype(bool).to_numpy()
    acc["promise_until"] = prom["promise_until"].to_numpy()
    acc["unresponsive"] = acc["customer_id"].isin(_unresponsive(interactions, as_of, cfg.unresponsive_contacts))
    if escalations is not None and len(escalations):
        esc = escalations.assign(
            escalated_at=pd.to_datetime(escalations["escalated_at"], utc=True),
            customer_id=escalations["customer_id"].astype(str),
        )
        last_esc = esc.groupby("customer_id")["escalated_at"].max()
    else:
        last_esc = pd.Series(dtype="datetime64[us, UTC]")
    acc["last_escalated_at"] = _map_ts(acc["customer_id"], last_esc)
    esc_recent = acc["last_escalated_at"].notna() & (
        acc["last_escalated_at"] > now - pd.Timedelta(days=cfg.escalation_cooldown_days)
    )
    touch = pd.concat([acc["last_contact_at"], acc["last_escalated_at"]], axis=1).max(axis=1)
    acc["touch_age_days"] = (now - pd.to_datetime(touch, utc=True)).dt.total_seconds() / 86400.0

    suppressed = acc["needs_review"] | acc["promise_active"] | acc["paid_claim"]
    # what a contact can still move: little once the account stopped paying, and only the share that
    # recent contacts have not already made the customer pay
    acc["committed"] = value.committed_share(acc["customer_id"], interactions, as_of, cfg.pay_on_response, cfg)
    acc["pull_factor"] = np.where(acc["stopped_paying"], cfg.stopped_paying_factor, 1.0) * (1.0 - acc["committed"])

    return hist_by, esc_recent, suppressed


def _lawful_candidates(
    acc: pd.DataFrame,
    suppressed: pd.Series,
    contacts: pd.DataFrame,
    hist_by: dict,
    interactions: pd.DataFrame | None,
    as_of: date,
    now: pd.Timestamp,
    profiles: dict,
    cfg: value.NbaConfig,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Phases 2 and 3: every (contact, channel) candidate checked by the hard rules; the lawful ones valued.

    Returns all candidates and the lawful ones with their response draw, P(pay), gain over waiting
    and expected value, best first per customer.
    """
    # candidates (only for accounts that may be contacted today)
    cand = _candidates(acc[~suppressed], contacts, hist_by, now, profiles)
    lawful = cand[cand["lawful"]] if len(cand) else cand

    # response draws and value of each lawful candidate
    if len(lawful):
        post = bandit.customer_posteriors(
            acc[["customer_id", "segment"]],
            bandit.response_counts(
                interactions if interactions is not None else pd.DataFrame(),
                acc.set_index("customer_id")["segment"],
                as_of,
                cfg.bandit,
            ),
            cfg.bandit,
        )
        post["draw"] = bandit.thompson_draws(post, cfg.seed, as_of, cfg.bandit.exploration)
        lawful = lawful.merge(post[["customer_id", "channel", "draw", "alpha", "beta"]], on=["customer_id", "channel"])
        a = acc.loc[lawful["customer_id"]]
        fat = value.fatigue(pd.Series(a["n14"].to_numpy(), index=lawful.index), cfg.fatigue_per_contact)
        p0 = pd.Series(a["p0"].to_numpy(), index=lawful.index)
        amount = pd.Series(a["amount_usd"].to_numpy(), index=lawful.index)
        lawful["p_pay"] = value.p_pay(p0, lawful["draw"], fat, cfg.pay_on_response)
        cost = lawful["channel"].map(cfg.cost).astype(float)
        amount_days = pd.Series(a["amount_days_usd"].to_numpy(), index=lawful.index)
        risk = pd.Series(a["risk_score"].to_numpy(), index=lawful.index)
        pull = value.p_pull(lawful["draw"], fat, value.pay_after_engaging(risk, cfg))
        pull = pull * pd.Series(a["pull_factor"].to_numpy(), index=lawful.index)
        lawful["gain"] = value.dso_gain(pull, amount_days, cost, cfg.value_horizon_days)
        lawful["ev"] = p0 * amount + lawful["gain"]
        lawful = lawful.sort_values(
            ["customer_id", "gain", "role_rank", "pref_honoured", "contact_id"],
            ascending=[True, False, True, False, True],
        )

    return cand, lawful


def _choose(
    acc: pd.DataFrame,
    lawful: pd.DataFrame,
    cand: pd.DataFrame,
    suppressed: pd.Series,
    esc_recent: pd.Series,
    cfg: value.NbaConfig,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Phases 3 and 4: treatment by value (or escalation), control by the ladder, under call capacity and budget.

    Returns the accounts with their action, intent and skip reason, and the chosen candidate (an index
    into ``lawful``) per contacted customer.
    """
    # ---- treatment: best by value; control: the ladder
    out = acc.copy()
    out["action"] = "wait"
    out["intent"] = "wait"
    out["skip"] = ""
    out["pick"] = -1  # index into ``lawful`` of the chosen candidate
    out["ev_text"] = ""
    out["expected_value_usd"] = out["p0"] * out["amount_usd"]
    out["value_over_wait_usd"] = 0.0
    out["p_pay"] = out["p0"]

    out.loc[out["needs_review"], ["action", "intent"]] = ["dispute_review", "dispute_review"]
    out.loc[~out["needs_review"] & out["paid_claim"], "skip"] = "suppress:paid_claim"
    out.loc[~out["needs_review"] & ~out["paid_claim"] & out["promise_active"], "skip"] = "suppress:promise_active"

    active = ~suppressed
    best_any = lawful.drop_duplicates("customer_id") if len(lawful) else lawful
    noncall = lawful[lawful["channel"] != "call"].drop_duplicates("customer_id") if len(lawful) else lawful
    calls = lawful[lawful["channel"] == "call"].drop_duplicates("customer_id") if len(lawful) else lawful
    bi = best_any.set_index("customer_id") if len(best_any) else None
    ni = noncall.set_index("customer_id") if len(noncall) else None
    ci = calls.set_index("customer_id") if len(calls) else None
    if len(lawful):
        # per customer "channel=gain;..." in the lawful order (one pass; a groupby-apply was slow)
        alt_parts: dict[str, list[str]] = {}
        dedup = lawful.drop_duplicates(["customer_id", "channel"])
        for cid, ch, gn in zip(dedup["customer_id"], dedup["channel"], dedup["gain"], strict=True):
            alt_parts.setdefault(cid, []).append(f"{ch}={gn:.2f}")
        out["ev_text"] = out["customer_id"].map({c: ";".join(v) for c, v in alt_parts.items()}).fillna("")
    no_cand = active & ~out["customer_id"].isin(lawful["customer_id"] if len(lawful) else [])
    out.loc[no_cand, "skip"] = _why_no_candidate(out[no_cand], cand)

    # escalation candidate (treatment): legal or credit hold when contacts stopped working
    esc_ok = (
        active
        & ~esc_recent
        & (out["max_days_past_due"] >= cfg.credit_hold_min_dpd)
        & (out["promise_broken"] | out["unresponsive"] | (not cfg.escalate_unresponsive_only))
    )
    # the USD-days an escalation can pull forward: the overdue invoices only (issue 22)
    out["overdue_days_usd"] = _amount_days_usd(out.assign(upcoming=[[] for _ in range(len(out))]), cfg).to_numpy()
    legal = out["max_days_past_due"] >= cfg.legal_min_dpd
    out["esc_gain"] = np.where(esc_ok, value.escalation_gain(out, legal, cfg), -np.inf)

    treat = active & (out["arm"] == "treatment")
    best_gain = out["customer_id"].map(bi["gain"]) if bi is not None else pd.Series(np.nan, index=out.index)
    best_gain = best_gain.astype(float).fillna(-np.inf)
    use_esc = treat & (out["esc_gain"] > np.maximum(best_gain, cfg.min_gain_usd))
    out.loc[use_esc, "action"] = "escalate"
    out.loc[use_esc, "intent"] = np.where(legal[use_esc], "legal", "credit_hold")
    out.loc[use_esc, "value_over_wait_usd"] = out.loc[use_esc, "esc_gain"]
    use_contact = treat & ~use_esc & (best_gain >= cfg.min_gain_usd)
    out.loc[treat & ~use_esc & ~use_contact & ~no_cand, "skip"] = "value:wait_best"

    # capacity: treatment call winners compete for agents; control calls are served first
    ctrl = active & (out["arm"] == "control")
    # nothing overdue: the ladder's pre-due level is keyed on the invoice due next (issue 22)
    next_due = out["upcoming"].map(lambda u: max((int(i["days_past_due"]) for i in u), default=-(10**6)))
    ladder_dpd = out["max_days_past_due"].where(out["n_overdue_invoices"].astype(int) > 0, next_due)
    step = ladder.ladder_step(ladder_dpd, out["touch_age_days"])
    out["ladder_action"] = step["step_action"].to_numpy()
    has_call = out["customer_id"].isin(ci.index if ci is not None else [])
    ctrl_call = ctrl & (out["ladder_action"] == "call_task") & has_call
    cap = max(cfg.call_capacity - int(ctrl_call.sum()), 0)
    wants_call = use_contact & out["customer_id"].map(bi["channel"] if bi is not None else {}).eq("call")
    alt_gain = out["customer_id"].map(ni["gain"]) if ni is not None else pd.Series(np.nan, index=out.index)
    alt_gain = alt_gain.astype(float).fillna(0.0).clip(lower=0.0)
    call_gain = (best_gain - alt_gain)[wants_call]
    keep_call = capacity.allocate_by_value(call_gain, cap)
    lost = keep_call.index[~keep_call]
    out["capacity_fallback"] = out["customer_id"].isin(lost)

    chosen_idx: dict[str, int] = {}
    best_row = dict(zip(best_any["customer_id"], best_any.index, strict=True)) if len(best_any) else {}
    noncall_row = dict(zip(noncall["customer_id"], noncall.index, strict=True)) if len(noncall) else {}
    lost_set = set(lost)
    for cid in out.index[use_contact]:
        if cid not in lost_set:
            chosen_idx[cid] = int(best_row[cid])
        elif cid in noncall_row and ni.at[cid, "gain"] >= cfg.min_gain_usd:
            chosen_idx[cid] = int(noncall_row[cid])
        else:
            out.at[cid, "skip"] = "capacity:no_fallback"
    if cfg.daily_contact_budget is not None and len(chosen_idx) > cfg.daily_contact_budget:
        # the contact budget goes to the most valuable contacts of the day, like agent capacity
        gains = pd.Series({cid: float(lawful.at[i, "gain"]) for cid, i in chosen_idx.items()})
        keep = capacity.allocate_by_value(gains, cfg.daily_contact_budget, "daily contact budget")
        for cid in keep.index[~keep]:
            del chosen_idx[cid]
            out.at[cid, "skip"] = "budget:below_cut"

    # control: ladder action on the first lawful matching candidate (debtor first)
    # per control customer, its lawful candidates (debtor first) as (row index, channel) in one pass
    pools: dict[str, list[tuple[int, str]]] = {}
    ctrl_ids = set(out.index[ctrl])
    if len(lawful) and ctrl_ids:
        ordered = lawful.sort_values(["role_rank", "contact_id"])
        for idx, cid, ch in zip(ordered.index, ordered["customer_id"], ordered["channel"], strict=True):
            if cid in ctrl_ids:
                pools.setdefault(cid, []).append((idx, ch))
    for cid in out.index[ctrl]:
        act = out.at[cid, "ladder_action"]
        if not act:
            out.at[cid, "skip"] = "ladder:step_done" if out.at[cid, "max_days_past_due"] >= 1 else "ladder:not_due"
            continue
        if act == "escalate":
            out.at[cid, "action"], out.at[cid, "intent"] = "escalate", "legal"
            continue
        want = "call" if act == "call_task" else "email"
        pool = pools.get(cid, [])
        hit = [i for i, ch in pool if ch == want]
        if not hit:  # the ladder's fallback: a lawful written channel
            hit = [i for i, ch in pool if ch in compliance.WRITTEN_CHANNELS]
        if not hit:
            out.at[cid, "skip"] = out.at[cid, "skip"] or "ladder:blocked"
            continue
        chosen_idx[cid] = int(hit[0])
        pre_due = int(out.at[cid, "n_overdue_invoices"]) == 0
        intent = "pre_due_reminder" if pre_due else "reminder"
        out.at[cid, "intent"] = "statement" if act == "statement" else ("call" if want == "call" else intent)

    return out, chosen_idx


def _materialise(
    out: pd.DataFrame,
    lawful: pd.DataFrame,
    chosen_idx: dict[str, int],
    profiles: dict,
    as_of: date,
    now: pd.Timestamp,
    cfg: value.NbaConfig,
) -> pd.DataFrame:
    """The output rows: the chosen contact, its slot in local time, language, invoices covered and reasons."""
    # materialise the chosen contacts
    cols = ["contact_id", "full_name", "role", "channel", "scheduled_at", "slot_how", "timezone", "language"]
    cols += ["email", "phone", "tz_fallback", "pref_honoured", "consent", "violations"]
    out["contact_id"] = None
    chosen = pd.DataFrame(columns=["customer_id", *cols, "p_pay", "ev", "gain"])
    if chosen_idx:
        chosen = lawful.loc[list(chosen_idx.values())].copy()
        chosen = chosen.set_index("customer_id")
    out = out.join(chosen[cols + ["p_pay", "ev", "gain"]].add_prefix("c_"), how="left")
    picked = out["c_contact_id"].notna()
    out.loc[picked, "action"] = out.loc[picked, "c_channel"].map(_CHANNEL_ACTION)
    is_treat_pick = picked & (out["arm"] == "treatment")
    out.loc[is_treat_pick, "p_pay"] = out.loc[is_treat_pick, "c_p_pay"].astype(float)
    out.loc[is_treat_pick, "expected_value_usd"] = out.loc[is_treat_pick, "c_ev"].astype(float)
    out.loc[is_treat_pick, "value_over_wait_usd"] = out.loc[is_treat_pick, "c_gain"].astype(float)
    statement = out["n_overdue_invoices"] >= cfg.statement_min_invoices
    plan = (out["max_days_past_due"] >= cfg.payment_plan_min_dpd) & (
        (out["risk_score"] >= cfg.payment_plan_min_risk) | out["promise_broken"]
    )
    written = is_treat_pick & out["c_channel"].isin(compliance.WRITTEN_CHANNELS)
    predue = out["n_overdue_invoices"].astype(int) == 0
    out.loc[written, "intent"] = np.select(
        [predue[written], plan[written], statement[written]],
        ["pre_due_reminder", "payment_plan_offer", "statement"],
        "reminder",
    )
    out.loc[is_treat_pick & (out["c_channel"] == "call"), "intent"] = "call"

    # schedule, channel and presentation columns
    out["channel"] = np.select(
        [picked, out["action"].isin(("dispute_review", "escalate"))],
        [out["c_channel"].fillna(""), "internal"],
        default=None,
    )
    out["scheduled_at"] = pd.to_datetime(out["c_scheduled_at"], utc=True)
    internal = out["action"].isin(("dispute_review", "escalate"))
    out.loc[internal, "scheduled_at"] = now.floor("s")
    out["contact_tz"] = out["c_timezone"]
    out["timezone"] = out["contact_tz"].where(picked, out["timezone"])
    out["local_scheduled_at"] = [
        format_local(ts, tz) if isinstance(ts, pd.Timestamp) and not pd.isna(ts) and tz else None
        for ts, tz in zip(out["scheduled_at"], out["timezone"], strict=True)
    ]
    out.loc[internal, "local_scheduled_at"] = f"{now.floor('s').isoformat()} UTC"
    lang = out["c_language"].where(picked, None)
    lang_ok = lang.isin(SUPPORTED_LANGUAGES)
    out["lang_fallback"] = picked & ~lang_ok
    out["language"] = lang.where(lang_ok, fallback_language(out["country"]))
    for col, src in (("contact_id", "c_contact_id"), ("contact_name", "c_full_name"), ("email", "c_email")):
        out[col] = _none_unless(out[src], picked)
    out["phone"] = _none_unless(out["c_phone"], picked)
    # a contact covers the overdue invoices, plus those coming due when the policy (or the ladder's
    # statement) sends a consolidated statement of account
    with_upcoming = (out["arm"] == "treatment") | out["intent"].isin(("statement", "pre_due_reminder"))
    covered = [
        list(invs) + (list(up) if both else [])
        for invs, up, both in zip(out["invoices"], out["upcoming"], with_upcoming, strict=True)
    ]
    out["invoices"] = covered
    out["amount_at_stake"] = [sum((i["amount_open"] for i in invs), Decimal(0)) for invs in covered]
    out["invoice_ids"] = [[str(i["invoice_id"]) for i in invs] for invs in covered]
    out["reason_codes"] = _reason_codes(out, profiles, as_of)
    out["channel"] = _none_unless(out["channel"], out["action"] != "wait")
    result = out.reset_index(drop=True)[OUTPUT_COLUMNS].sort_values("customer_id", kind="stable")
    result = result.reset_index(drop=True)
    return result


def _amount_days_usd(acc: pd.DataFrame, cfg: value.NbaConfig) -> pd.Series:
    """Per account: sum over the invoices a treatment contact covers of USD amount x days pulled forward."""
    covered = [list(i) + list(u) for i, u in zip(acc["invoices"], acc["upcoming"], strict=True)]
    x = pd.DataFrame({"customer_id": acc["customer_id"].to_numpy(), "inv": covered}).explode("inv")
    x = x.dropna(subset=["inv"])
    if x.empty:
        return pd.Series(0.0, index=acc.index)
    amount = pd.Series([i["amount_open"] for i in x["inv"]], index=x.index)
    dpd = pd.Series([i["days_past_due"] for i in x["inv"]], index=x.index)
    cur = x["customer_id"].map(acc["currency"])
    fwd = value.days_forward(x["customer_id"].map(acc["days_late"]), dpd, cfg)
    usd_days = value.to_usd(amount, cur, cfg.usd_rates) * fwd
    return acc["customer_id"].map(usd_days.groupby(x["customer_id"]).sum()).fillna(0.0).astype(float)


def _none_unless(values: pd.Series, keep: pd.Series) -> pd.Series:
    """Object column with Python ``None`` (never NaN) where ``keep`` is false or the value is missing."""
    obj = values.astype(object)
    return pd.Series(
        [v if k and not (v is None or v != v) else None for v, k in zip(obj, keep, strict=True)],
        index=values.index,
        dtype=object,
    )


def _map_ts(ids: pd.Series, by_id: pd.Series) -> pd.Series:
    """Look up UTC timestamps by id (NaT where missing), index aligned with ``ids``."""
    values = by_id.reindex(ids.to_numpy()).to_numpy() if len(by_id) else [pd.NaT] * len(ids)
    return pd.Series(pd.to_datetime(values, utc=True), index=ids.index)


def _why_no_candidate(rows: pd.DataFrame, cand: pd.DataFrame) -> list[str]:
    """One ``skip:`` code per account without a lawful candidate.

    Peels the reasons in order: only third parties; else no consent on any channel of the debtor or
    guarantor; else the most common rule the consented candidates break (spacing, caps, window...).
    """
    out = []
    wanted = set(rows["customer_id"])
    by_cust: dict[str, list[list[str]]] = {}
    if len(cand):  # one pass over the candidates (a groupby per customer was slow)
        for cid, v in zip(cand["customer_id"], cand["violations"], strict=True):
            if cid in wanted:
                by_cust.setdefault(cid, []).append(v)
    for cid in rows["customer_id"]:
        viol = by_cust.get(cid)
        if not viol:
            out.append("skip:no_contact")
            continue
        if all("third_party" in v for v in viol):
            out.append("skip:third_party")
            continue
        viol = [v for v in viol if "third_party" not in v]
        if all("no_consent" in v for v in viol):
            out.append("skip:no_consent")
            continue
        counts: dict[str, int] = {}
        for v in viol:
            if "no_consent" not in v:
                for code in v:
                    counts[code] = counts.get(code, 0) + 1
        out.append(f"skip:{max(sorted(counts), key=counts.get)}" if counts else "skip:no_contact")
    return out


def _reason_codes(out: pd.DataFrame, profiles: dict, as_of: date) -> list[list[str]]:
    codes: list[list[str]] = []
    need = ["arm", "risk_score", "drivers", "max_days_past_due", "rule_profile", "relaxation", "promise_broken"]
    need += ["action", "intent", "value_over_wait_usd", "skip", "promise_until", "ev_text", "c_channel"]
    need += ["profile_key", "timezone", "c_role", "c_slot_how", "ladder_action", "p_pay", "capacity_fallback"]
    need += ["c_pref_honoured", "c_tz_fallback", "lang_fallback", "language"]
    for r in out[need].to_dict("records"):
        rc = [f"as_of:{as_of.isoformat()}", f"arm:{r['arm']}"]
        rc.append("risk:na" if pd.isna(r["risk_score"]) else f"risk:{r['risk_score']:.2f}")
        rc += [f"driver:{d}" for d in r["drivers"][:3]]
        rc.append(f"dpd:{int(r['max_days_past_due'])}")
        rc.append(f"profile:{r['rule_profile']}")
        if r["relaxation"]:
            rc.append(f"relaxed:{r['relaxation']}")
        if r["promise_broken"]:
            rc.append("promise:broken")
        action = r["action"]
        if action == "dispute_review":
            rc.append("review:dispute_claim")
        elif action == "escalate":
            rc.append(f"escalate:{r['intent']}")
            rc.append("why:promise_broken" if r["promise_broken"] else "why:unresponsive")
            if r["arm"] == "treatment":
                rc.append(f"value:{r['value_over_wait_usd']:.2f}usd")
        elif action == "wait":
            rc.append(r["skip"] or "value:wait_best")
            if r["skip"] == "suppress:promise_active" and r["promise_until"] is not None:
                rc.append(f"promise_until:{r['promise_until']}")
            if r["ev_text"]:
                rc.append(f"ev:{r['ev_text']}")
        else:
            ch = r["c_channel"]
            prof = profiles[r["profile_key"]][0]
            rc += [
                f"role:{r['c_role']}",
                f"consent:{ch}",
                f"window:{prof.describe(ch, r['timezone'])}",
                f"slot:{r['c_slot_how']}",
                "rules:passed",
            ]
            if r["arm"] == "control":
                rc.append(f"ladder:{r['ladder_action']}@dpd{int(r['max_days_past_due'])}")
            else:
                rc.append(f"choice:max_value={r['value_over_wait_usd']:.2f}usd")
                rc.append(f"p_pay:{r['p_pay']:.3f}")
                if r["ev_text"]:
                    rc.append(f"ev:{r['ev_text']}")
            if r["capacity_fallback"]:
                rc.append("capacity:call_fallback")
            rc.append(f"intent:{r['intent']}")
            rc.append("pref:honoured" if bool(r["c_pref_honoured"]) else "pref:other")
            if bool(r["c_tz_fallback"]):
                rc.append("tz:customer_fallback")
            if r["lang_fallback"]:
                rc.append(f"lang:fallback_{r['language']}")
        codes.append(rc)
    return codes


def contacts_of(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions that contact a customer (written messages and call tasks)."""
    return decisions[decisions["action"].isin(("email", "whatsapp", "sms", "call_task"))]

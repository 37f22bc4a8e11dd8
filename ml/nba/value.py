"""Expected value of an action (DESIGN.md §7): the days of outstanding balance a contact pulls forward, in USD.

A contact is worth what it takes off DSO: P(the customer pays because of it) x the days each covered
invoice would otherwise have stayed open (less the days a contacted customer takes to pay) x its
amount, counted in dollars collected ``value_horizon_days`` sooner, less the action's cost. A customer
who pays on time anyway gains little from a reminder, a chronic late payer a lot, one far past his
usual lateness (likely defaulted) only the tail. The days an invoice would stay open come from the
customer's expected days late (mean days late of his settled invoices, ``f_cust_mean_days_late``):

* ``remaining`` = max(L - days past due, 0) + ``tail_share`` x max(L, 0): the usual lateness not yet
  run, plus a tail (an invoice already later than usual is still expected to take a while);
* ``days_forward`` = max(remaining - max(days until due, ``contact_pay_days``), 0): a business releases
  payables on the due date at the earliest, so a contact about an invoice not yet due can make it
  paid on time, never early.

An account without a lateness estimate falls back to ``risk x days_late_at_full_risk``. An account
that stopped paying (no payment for 90 days and an invoice 60 days past his usual lateness: most likely
a defaulted customer, whose open items the bad-debt policy writes off) is worth a tenth of a contact
(``stopped_paying_factor`` 0.1, on since issue 22: with the collectable DSO and the write-off, the
contacts the policy spent on such accounts - 9% of its budget - moved nothing; bench/RESULTS.md,
2026-12-06). Two options, off by default (they did not lower DSO in the closed loop, bench/RESULTS.md
issue 6, 2026-12-04): the customer's recent lateness (invoices due in the last 180 days) floored by his
oldest open invoice's days past due (``recent_lateness``, ``open_lateness``); and a cut by the share that
recent contacts already made him pay (``commit_days``, :func:`committed_share`: a reply most likely
did, an unanswered message sometimes).

The other numbers per account:

* ``p_wait`` = P(payment within the horizon | no action) = 1 - risk score (the champion's probability
  that the invoices end up more than N days late); an unscored account counts as 0.5;
* ``response`` = the channel's response rate for this customer, a Thompson draw from its Beta
  posterior (:mod:`ml.nba.bandit`);
* ``fatigue`` = 1 / (1 + k x contacts in the last 14 days): diminishing returns of repeated contacts.

P(payment | action) = p_wait + (1 - p_wait) x response x fatigue x pay_on_response is reported per
decision (``p_pay``); the value uses P(pull) = response x fatigue x pay_on_response. Amounts are
compared in USD (the FX seed's ``rate_to_usd``), costs are configured in USD.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ml.nba.bandit import DEFAULT_BANDIT, SUCCESS_OUTCOMES, BanditParams
from ml.nba.compliance import Relaxation

#: Default action costs in USD (provider prices and agent time).
DEFAULT_COSTS_USD: Mapping[str, float] = {
    "email": 0.02,
    "whatsapp": 0.06,
    "sms": 0.05,
    "call": 3.0,
    "escalate": 120.0,
}


@dataclass(frozen=True)
class NbaConfig:
    """Everything the value-based policy needs beyond its data.

    Attributes:
        costs_usd: Cost per action kind (email, whatsapp, sms, call, escalate) in USD.
        agents: Collectors available for call tasks.
        calls_per_agent: Calls one collector makes a day.
        control_share: Share of customers in the static-ladder control group.
        control_salt: Experiment salt of the control-group hash.
        pay_on_response: P(payment within the horizon | the customer engaged), for a customer of
            ``typical_risk``.
        pay_risk_scaled: Scale it per customer by his own payment record, (1 - risk) / (1 - typical_risk)
            (:func:`pay_after_engaging`): who answers a reminder and then pays depends on how he pays.
        typical_risk: The risk score at which ``pay_on_response`` applies unscaled.
        fatigue_per_contact: ``k`` of the fatigue factor.
        min_gain_usd: A contact must be worth at least this much over waiting.
        promise_grace_days: A promise to pay suppresses dunning until promised date + grace.
        promise_lookback_days: A promise older than this no longer counts as broken.
        statement_min_invoices: From this many overdue invoices a written contact is a statement.
        payment_plan_min_dpd: Payment-plan offers from this many days past due (with high risk or a
            broken promise).
        payment_plan_min_risk: Risk from which a payment plan is offered.
        legal_min_dpd: Escalation to legal from this many days past due.
        credit_hold_min_dpd: Credit hold (escalation without legal) from this many days past due.
        legal_recovery: P(recovery | legal) of the money that would not come anyway.
        escalation_cooldown_days: An escalated account is not escalated again within this period.
        escalate_unresponsive_only: Escalate only accounts that broke a promise or ignored
            ``unresponsive_contacts`` contacts (the issue-6 rule); off: any account past
            ``credit_hold_min_dpd`` whose escalation is worth more than a contact (issue 22).
        escalation_pay_rate: P(the customer pays its overdue invoices after a legal letter or a credit
            hold), the prior of the DSO-aware escalation value: enforcement-worded letters and a
            supplier's threat to stop deliveries move customers that reminders do not (Fellner et al.
            2013, Hallsworth et al. 2017, Petersen and Rajan 1997; bench/RESULTS.md, issue 22). 0: the
            issue-6 value (``legal_recovery`` x the amount that would not come anyway).
        unresponsive_contacts: Contacts without engagement that make an account unresponsive.
        predue_days: Invoices due within this many days count as upcoming: a treatment contact covers
            them too (a statement of the open items), and an account with only upcoming invoices gets
            a pre-due reminder. 60 days: the invoices of a late payer coming due in the next two months
            are the ones a contact pulls forward the most days; the value keeps on-time payers out
            (bench/RESULTS.md, issue 6). Must equal the dbt var ``predue_days`` of
            ``marts.mart_dunning_accounts``.
        value_horizon_days: A dollar collected this many days sooner is worth a dollar (scale of the
            DSO-aware value, comparable with the costs and ``min_gain_usd``).
        contact_pay_days: Days a customer who engages takes to pay after the contact.
        tail_share: Share of the expected days late still ahead of an invoice already past them.
        days_late_at_full_risk: Expected days late of an account without a lateness estimate, per unit
            of risk score.
        recent_lateness: Use the customer's recent days late (invoices due in the last 180 days,
            ``f_cust_mean_days_late + f_cust_days_late_trend``) instead of his lifetime mean when he has
            one: a deteriorating payer is later now than his history says.
        open_lateness: The lateness is at least the days past due of the account's oldest open invoice
            (an account now 40 days past due is at least 40 days late), unless it stopped paying.
        stopped_paying_days: An account with no payment for more than this many days (or never) ...
        stopped_paying_gap_days: ... and an invoice this many days later than its usual lateness has
            stopped paying (a defaulted customer): reminders rarely move it.
        stopped_paying_factor: Multiplier on P(pull) of a contact (and of an escalation) to an account
            that stopped paying (1.0: no distinction). 0.1: a defaulted customer pays a written reminder
            about a tenth as often (the simulator's evidence-based reaction model, issue 22), and the
            bad-debt policy writes its open items off.
        commit_days: Outbound contacts of the last this many days may already have made the customer
            pay what they covered (a reply most likely, an unanswered message sometimes): a new contact
            is only worth the share not yet committed (0: off).
        nudge_rate: P(the customer pays because of a delivered message he did not answer).
        daily_contact_budget: At most this many treatment contacts a day, the most valuable first
            (None: only ``min_gain_usd`` limits them).
        seed: Seed of the Thompson draws (combined with the decision date).
        interaction_history_days: The daily decision reads this many days of interactions (replies,
            promises, deliveries) before the run date (:func:`ml.nba.daily.decide_day`).
        escalation_lookback_days: ... and the escalations of this many days before it (longer than
            ``escalation_cooldown_days``, which decides what they suppress).
        recent_contact_days: ... and the outbox's contacts of this many days before the decision clock
            (longer than the longest spacing rule of :mod:`ml.nba.compliance`).
        relaxations: Approved contact-rule relaxations per segment.
        bandit: Priors and memory of the response model.
        usd_rates: Currency -> USD per unit; a missing currency is an error.
    """

    costs_usd: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_COSTS_USD))
    agents: int = 2
    calls_per_agent: int = 40
    control_share: float = 0.10
    control_salt: str = "cobranza-control"
    pay_on_response: float = 0.6
    pay_risk_scaled: bool = False
    typical_risk: float = 0.25
    fatigue_per_contact: float = 0.5
    min_gain_usd: float = 1.0
    promise_grace_days: int = 3
    promise_lookback_days: int = 45
    statement_min_invoices: int = 3
    payment_plan_min_dpd: int = 45
    payment_plan_min_risk: float = 0.6
    legal_min_dpd: int = 90
    credit_hold_min_dpd: int = 60
    legal_recovery: float = 0.25
    escalation_cooldown_days: int = 30
    escalate_unresponsive_only: bool = False
    escalation_pay_rate: float = 0.4
    unresponsive_contacts: int = 3
    predue_days: int = 60
    value_horizon_days: float = 30.0
    contact_pay_days: float = 5.0
    tail_share: float = 0.5
    days_late_at_full_risk: float = 45.0
    recent_lateness: bool = False
    open_lateness: bool = False
    stopped_paying_days: int = 90
    stopped_paying_gap_days: int = 60
    stopped_paying_factor: float = 0.1
    commit_days: int = 0
    nudge_rate: float = 0.15
    daily_contact_budget: int | None = None
    seed: int = 42
    interaction_history_days: int = 365
    escalation_lookback_days: int = 60
    recent_contact_days: int = 14
    relaxations: tuple[Relaxation, ...] = ()
    bandit: BanditParams = DEFAULT_BANDIT
    usd_rates: Mapping[str, float] = field(default_factory=lambda: {"USD": 1.0})

    @property
    def call_capacity(self) -> int:
        """Calls the team can make today."""
        return self.agents * self.calls_per_agent

    def cost(self, kind: str) -> float:
        """Cost of an action kind in USD."""
        try:
            return float(self.costs_usd[kind])
        except KeyError as exc:
            raise ValueError(f"no cost configured for action {kind!r}; set nba.costs_usd.{kind}") from exc


def p_wait(risk: pd.Series) -> pd.Series:
    """P(payment within the horizon | no action) from the risk score (NaN -> 0.5)."""
    return (1.0 - risk.astype(float).fillna(0.5)).clip(0.01, 0.99)


def fatigue(recent_contacts: pd.Series, k: float) -> pd.Series:
    """Diminishing-returns factor from the contacts of the last 14 days."""
    return 1.0 / (1.0 + k * recent_contacts.astype(float).clip(lower=0))


def p_pay(p0: pd.Series, response: pd.Series, fat: pd.Series, pay_on_response: float) -> pd.Series:
    """P(payment within the horizon | contact): the contact converts only what would not come anyway."""
    return p0 + (1.0 - p0) * response.clip(0, 1) * fat * pay_on_response


def expected_days_late(days_late: pd.Series, risk: pd.Series, cfg: NbaConfig) -> pd.Series:
    """Customer's expected days late; without history, ``risk x days_late_at_full_risk`` (risk NaN -> 0.5)."""
    fallback = risk.astype(float).fillna(0.5).clip(0, 1) * cfg.days_late_at_full_risk
    return pd.to_numeric(days_late, errors="coerce").astype(float).fillna(fallback)


def current_lateness(
    days_late: pd.Series, recent: pd.Series, max_days_past_due: pd.Series, stopped: pd.Series, cfg: NbaConfig
) -> pd.Series:
    """The lateness a contact works against today: recent rather than lifetime, at least the oldest open invoice's."""
    late = days_late.astype(float)
    if cfg.recent_lateness:
        late = pd.to_numeric(recent, errors="coerce").astype(float).fillna(late)
    if cfg.open_lateness:
        oldest = max_days_past_due.astype(float).where(~stopped.astype(bool), -np.inf)
        late = np.maximum(late, oldest)
    return late


def stopped_paying(
    days_since_payment: pd.Series, max_days_past_due: pd.Series, days_late: pd.Series, cfg: NbaConfig
) -> pd.Series:
    """Accounts that stopped paying: no payment for ``stopped_paying_days``, an invoice far past his usual lateness."""
    since = pd.to_numeric(days_since_payment, errors="coerce").astype(float)
    quiet = since.isna() | (since > cfg.stopped_paying_days)
    far = max_days_past_due.astype(float) > days_late.astype(float).clip(lower=0) + cfg.stopped_paying_gap_days
    return quiet & far


def committed_share(
    customers: pd.Series, interactions: pd.DataFrame | None, as_of: date, pay_on_response: float, cfg: NbaConfig
) -> pd.Series:
    """P(the customer already pays what recent contacts covered): 1 - prod over them of (1 - q).

    ``q`` is ``pay_on_response`` for a contact he answered, ``nudge_rate`` for a delivered message he
    did not, 0 for a bounce or a dispute. Contacts of the last ``commit_days`` days (CRM log).
    """
    out = pd.Series(0.0, index=customers.index)
    if cfg.commit_days <= 0 or interactions is None or interactions.empty:
        return out
    it = interactions[interactions["direction"].astype(str) == "outbound"]
    at = pd.to_datetime(it["occurred_at"], utc=True).dt.date
    it = it[(at > as_of - timedelta(days=cfg.commit_days)) & (at <= as_of)]
    if it.empty:
        return out
    outcome = it["outcome"].astype(str)
    q = np.select(
        [outcome.isin(SUCCESS_OUTCOMES).to_numpy(), outcome.isin(("delivered", "read")).to_numpy()],
        [pay_on_response, cfg.nudge_rate],
        0.0,
    )
    keep = pd.Series(np.log1p(-np.clip(q, 0.0, 0.999)), index=it.index).groupby(it["customer_id"].astype(str)).sum()
    return 1.0 - np.exp(customers.astype(str).map(keep).fillna(0.0).astype(float))


def days_forward(days_late: pd.Series, days_past_due: pd.Series, cfg: NbaConfig) -> pd.Series:
    """Days a contact that makes the customer pay pulls an invoice forward (0 for an on-time payer)."""
    late = days_late.astype(float).to_numpy()
    dpd = days_past_due.astype(float).to_numpy()
    remaining = np.maximum(late - dpd, 0.0) + cfg.tail_share * np.maximum(late, 0.0)
    with_contact = np.maximum(-dpd, cfg.contact_pay_days)  # paid on the due date at the earliest
    return pd.Series(np.maximum(remaining - with_contact, 0.0), index=days_late.index)


def pay_after_engaging(risk: pd.Series, cfg: NbaConfig) -> pd.Series:
    """P(the customer pays | he engaged with the contact), per customer, from his own payment record.

    ``pay_on_response x (1 - risk) / (1 - typical_risk)``, clipped to [0, 1]: a customer whose
    invoices were mostly paid very late (the risk score, or the prior late share the score falls back
    to) keeps fewer of the promises he makes, one who pays on time more. Issue 22: on a simulated
    world (seed 7, S, the dunnable accounts of the first day) the correlation of the policy's P(pull)
    with the simulator's true one is 0.16-0.26 per channel from the response rate alone and 0.31-0.44
    with this factor. A missing risk counts as ``typical_risk``. Off by default (the constant): it
    moves contact value from late payers to escalations and to better payers: over 90 days (S, equal
    contacts) it wins replies and promises (seed 42: 674 vs 591 replies, 308 vs 274 promises) but
    loses DSO (collectable 66.1 vs 64.2 on seed 42, 65.5 vs 65.4 on seed 7): the days the DSO sheds
    are in the large old balances of late payers, whom it contacts less (bench/RESULTS.md).
    """
    if not cfg.pay_risk_scaled:
        return pd.Series(cfg.pay_on_response, index=risk.index, dtype=float)
    r = pd.to_numeric(risk, errors="coerce").astype(float).fillna(cfg.typical_risk).clip(0.0, 1.0)
    return (cfg.pay_on_response * (1.0 - r) / (1.0 - cfg.typical_risk)).clip(0.0, 1.0)


def p_pull(response: pd.Series, fat: pd.Series, pay_on_response: float | pd.Series) -> pd.Series:
    """P(the customer pays because of the contact): engages, then pays."""
    return response.clip(0, 1) * fat * pay_on_response


def escalation_gain(acc: pd.DataFrame, legal: pd.Series, cfg: NbaConfig) -> np.ndarray:
    """Value of escalating (legal where ``legal``, else a credit hold) over waiting, in USD.

    With ``escalation_pay_rate`` (and ``overdue_days_usd`` in ``acc``): that P x the USD-days the
    overdue invoices would be pulled forward / ``value_horizon_days`` (x ``pull_factor``), the scale of
    a contact's gain; otherwise ``legal_recovery`` x the amount that would not come anyway (half of it
    for a credit hold). Less the escalation's cost (a quarter of it for a credit hold).
    """
    if cfg.escalation_pay_rate > 0 and "overdue_days_usd" in acc:
        # DSO-aware, on the scale of a contact's gain: P(pays) x USD-days of the overdue invoices / horizon
        pull = cfg.escalation_pay_rate * acc.get("pull_factor", 1.0)
        gain = pull * acc["overdue_days_usd"] / cfg.value_horizon_days
        return np.where(legal, gain - cfg.cost("escalate"), gain - cfg.cost("escalate") / 4)
    stake = (1 - acc["p0"]) * acc["amount_usd"]
    return np.where(
        legal,
        cfg.legal_recovery * stake - cfg.cost("escalate"),
        0.5 * cfg.legal_recovery * stake - cfg.cost("escalate") / 4,
    )


def dso_gain(p: pd.Series, amount_days_usd: pd.Series, cost_usd: pd.Series | float, horizon_days: float) -> pd.Series:
    """Value over waiting: P(pull) x USD-days pulled forward / horizon - cost."""
    return p * amount_days_usd / horizon_days - cost_usd


def to_usd(amounts: pd.Series, currencies: pd.Series, rates: Mapping[str, float]) -> pd.Series:
    """Convert Decimal (or numeric) amounts to USD floats for ranking; never used for what reaches a customer."""
    missing = sorted(set(currencies.astype(str)) - set(rates))
    if missing:
        raise ValueError(f"no USD rate for currencies {missing}; add them to the fx_rates seed (reference.fx_rates)")
    rate = currencies.astype(str).map(rates).astype(float)
    return pd.Series(np.asarray([float(a) for a in amounts], dtype=float), index=amounts.index) * rate

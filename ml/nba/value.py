"""Expected value of an action (DESIGN.md §7): P(payment within the horizon | action, state) x amount - cost.

The state enters through three numbers per account:

* ``p_wait`` = P(payment within the horizon | no action) = 1 - risk score (the champion's probability
  that the invoices end up more than N days late); an unscored account counts as 0.5;
* ``response`` = the channel's response rate for this customer, a Thompson draw from its Beta
  posterior (:mod:`ml.nba.bandit`);
* ``fatigue`` = 1 / (1 + k x contacts in the last 14 days): diminishing returns of repeated contacts.

P(payment | action) = p_wait + (1 - p_wait) x response x fatigue x pay_on_response, i.e. a contact can
only win the money that would not have come anyway, and only when the customer engages and then pays.
Amounts are compared in USD (the FX seed's ``rate_to_usd``), costs are configured in USD.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ml.nba.bandit import DEFAULT_BANDIT, BanditParams
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
        pay_on_response: P(payment within the horizon | the customer engaged).
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
        unresponsive_contacts: Contacts without engagement that make an account unresponsive.
        predue_days: Invoices due within this many days count as upcoming (pre-due reminders).
        daily_contact_budget: At most this many treatment contacts a day, the most valuable first
            (None: only ``min_gain_usd`` limits them).
        seed: Seed of the Thompson draws (combined with the decision date).
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
    unresponsive_contacts: int = 3
    predue_days: int = 7
    daily_contact_budget: int | None = None
    seed: int = 42
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


def expected_value(p: pd.Series, amount_usd: pd.Series, cost_usd: pd.Series | float) -> pd.Series:
    """P x amount - cost."""
    return p * amount_usd - cost_usd


def to_usd(amounts: pd.Series, currencies: pd.Series, rates: Mapping[str, float]) -> pd.Series:
    """Convert Decimal (or numeric) amounts to USD floats for ranking; never used for what reaches a customer."""
    missing = sorted(set(currencies.astype(str)) - set(rates))
    if missing:
        raise ValueError(f"no USD rate for currencies {missing}; add them to the fx_rates seed (reference.fx_rates)")
    rate = currencies.astype(str).map(rates).astype(float)
    return pd.Series(np.asarray([float(a) for a in amounts], dtype=float), index=amounts.index) * rate

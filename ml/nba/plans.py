"""Payment-plan and promise-to-pay policy: what a debtor may be offered and may promise (code, not prose).

One definition, used by the debtor portal (``portal``) and by whatever answers a plan request on a
channel, so a debtor is never offered on the web what a message would refuse, or the reverse.

Plans:

- the **maximum number of instalments** depends on the customer's segment (:data:`SEGMENT_RULES`:
  enterprise 12, mid market 6, small business 4; an unknown segment gets the small-business rule),
  and is halved (at least 2) for a **high-risk** account (risk score >= :data:`HIGH_RISK`), whose
  first instalment is also a larger **down payment** (:attr:`PlanRule.high_risk_down_payment`);
- every instalment is at least the **minimum instalment**: the larger of a share of the balance
  (:attr:`PlanRule.min_instalment_share`) and a floor per currency (:data:`MIN_INSTALMENT_FLOOR`,
  in major units: USD 50, MXN 1,000, COP 200,000 ...); counts that would break it are not offered,
  and a balance too small for two instalments gets no plan (a promise or "pay now" instead);
- instalments fall every :data:`INSTALMENT_INTERVAL_DAYS` days from a first due date
  :data:`FIRST_INSTALMENT_DAYS` days after the offer; amounts are in the currency's minor unit
  (Babel's CLDR digits) and add up exactly to the balance (the last instalment absorbs the rounding).

Acceptance never trusts amounts sent back by a form: :func:`accept` recomputes the offers for the
balance on file and accepts only one of them by its instalment count.

Promises (:func:`check_promise`): a date from today to :data:`PROMISE_MAX_DAYS` days ahead, an amount
above zero and not above the open balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

from babel.numbers import get_currency_precision


@dataclass(frozen=True)
class PlanRule:
    """The plan limits of one segment.

    Attributes:
        max_instalments: Most instalments offered (before the high-risk cut).
        min_instalment_share: Smallest instalment as a share of the balance.
        high_risk_down_payment: Share of the balance due as the first instalment of a high-risk plan.
    """

    max_instalments: int
    min_instalment_share: Decimal
    high_risk_down_payment: Decimal


#: Plan limits per customer segment (``dim_customers.segment``).
SEGMENT_RULES: dict[str, PlanRule] = {
    "enterprise": PlanRule(12, Decimal("0.05"), Decimal("0.20")),
    "mid_market": PlanRule(6, Decimal("0.10"), Decimal("0.25")),
    "smb": PlanRule(4, Decimal("0.15"), Decimal("0.30")),
}
DEFAULT_SEGMENT = "smb"
#: Risk score from which an account gets fewer instalments and a down payment.
HIGH_RISK = 0.6
#: Smallest instalment per currency, major units; other currencies use ``DEFAULT_FLOOR``.
MIN_INSTALMENT_FLOOR: dict[str, Decimal] = {
    "USD": Decimal(50),
    "EUR": Decimal(50),
    "GBP": Decimal(50),
    "MXN": Decimal(1000),
    "COP": Decimal(200000),
    "BRL": Decimal(250),
    "CLP": Decimal(50000),
    "PEN": Decimal(200),
    "ARS": Decimal(50000),
}
DEFAULT_FLOOR = Decimal(50)
INSTALMENT_INTERVAL_DAYS = 30
FIRST_INSTALMENT_DAYS = 7
#: Latest date a promise may name, in days from today.
PROMISE_MAX_DAYS = 30


class PolicyError(ValueError):
    """An offer, an acceptance or a promise outside the policy (the message says which rule)."""


@dataclass(frozen=True)
class Instalment:
    """One instalment: its number (1-based), due date and amount."""

    number: int
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class PlanOffer:
    """A plan the policy allows for one balance.

    Attributes:
        instalments: The schedule (amounts add up to ``total``).
        total: The balance the plan covers.
        currency: ISO currency.
    """

    instalments: tuple[Instalment, ...]
    total: Decimal
    currency: str

    @property
    def count(self) -> int:
        """Number of instalments."""
        return len(self.instalments)


def rule_for(segment: str | None) -> PlanRule:
    """The segment's rule (the small-business rule for an unknown or missing segment)."""
    return SEGMENT_RULES.get(str(segment or "").strip().lower(), SEGMENT_RULES[DEFAULT_SEGMENT])


def max_instalments(segment: str | None, risk: float | None) -> int:
    """Most instalments the policy allows: the segment's, halved (at least 2) for a high-risk account."""
    rule = rule_for(segment)
    if risk is not None and risk == risk and risk >= HIGH_RISK:
        return max(2, rule.max_instalments // 2)
    return rule.max_instalments


def minimum_instalment(balance: Decimal, currency: str, segment: str | None) -> Decimal:
    """Smallest instalment: the larger of the segment's share of the balance and the currency's floor."""
    floor = MIN_INSTALMENT_FLOOR.get(currency.upper(), DEFAULT_FLOOR)
    return max(balance * rule_for(segment).min_instalment_share, floor)


def quantum(currency: str) -> Decimal:
    """The currency's smallest amount (``0.01`` for MXN, ``1`` for CLP), from Babel's CLDR digits."""
    return Decimal(1).scaleb(-get_currency_precision(currency.upper()))


def schedule(
    balance: Decimal, currency: str, count: int, today: date, down_payment: Decimal | None = None
) -> PlanOffer:
    """Split ``balance`` into ``count`` instalments (equal, or a down payment share then equal).

    Raises:
        PolicyError: ``count`` below 2 or a balance that is not positive.
    """
    if count < 2:
        raise PolicyError(f"a plan has at least 2 instalments, not {count}")
    if balance <= 0:
        raise PolicyError(f"a plan needs a positive balance, not {balance}")
    q = quantum(currency)
    if down_payment:
        first = (balance * down_payment).quantize(q, ROUND_DOWN)
        rest = ((balance - first) / (count - 1)).quantize(q, ROUND_DOWN)
        amounts = [first] + [rest] * (count - 1)
    else:
        each = (balance / count).quantize(q, ROUND_DOWN)
        amounts = [each] * count
    amounts[-1] = balance - sum(amounts[:-1])
    start = today + timedelta(days=FIRST_INSTALMENT_DAYS)
    items = tuple(
        Instalment(i + 1, start + timedelta(days=INSTALMENT_INTERVAL_DAYS * i), amount)
        for i, amount in enumerate(amounts)
    )
    return PlanOffer(items, balance, currency.upper())


def offers(balance: Decimal, currency: str, segment: str | None, risk: float | None, today: date) -> list[PlanOffer]:
    """Every plan the policy allows for this balance, fewest instalments first (empty: no plan).

    Args:
        balance: The open balance the plan covers (> 0).
        currency: Its ISO currency.
        segment: The customer's segment.
        risk: The account's risk score (0-1; None or NaN: unscored, treated as not high risk).
        today: The offer date.
    """
    if balance <= 0:
        return []
    high = risk is not None and risk == risk and risk >= HIGH_RISK
    down = rule_for(segment).high_risk_down_payment if high else None
    minimum = minimum_instalment(balance, currency, segment)
    out = []
    for count in range(2, max_instalments(segment, risk) + 1):
        plan = schedule(balance, currency, count, today, down)
        if min(i.amount for i in plan.instalments) >= minimum:
            out.append(plan)
    return out


def accept(
    count: int, balance: Decimal, currency: str, segment: str | None, risk: float | None, today: date
) -> PlanOffer:
    """The offer with ``count`` instalments, recomputed for the balance on file.

    Raises:
        PolicyError: No plan with that many instalments is allowed for this account.
    """
    for plan in offers(balance, currency, segment, risk, today):
        if plan.count == count:
            return plan
    allowed = [p.count for p in offers(balance, currency, segment, risk, today)]
    raise PolicyError(f"a plan of {count} instalments is not offered for this account (allowed: {allowed or 'none'})")


def check_promise(promised_date: date, amount: Decimal, balance: Decimal, today: date) -> None:
    """Whether a promise is within policy.

    Raises:
        PolicyError: A date in the past or more than :data:`PROMISE_MAX_DAYS` days ahead, an amount
            not above zero or above the open balance.
    """
    if promised_date < today:
        raise PolicyError(f"the promised date {promised_date} is in the past")
    if promised_date > today + timedelta(days=PROMISE_MAX_DAYS):
        raise PolicyError(f"the promised date {promised_date} is more than {PROMISE_MAX_DAYS} days ahead")
    if amount <= 0:
        raise PolicyError("the promised amount must be above zero")
    if amount > balance:
        raise PolicyError(f"the promised amount {amount} is above the open balance {balance}")

"""The payment-plan and promise policy (ml.nba.plans): limits by segment and risk, exact schedules."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from ml.nba import plans

TODAY = date(2026, 12, 5)


def test_max_instalments_by_segment_and_risk() -> None:
    assert plans.max_instalments("enterprise", 0.1) == 12
    assert plans.max_instalments("mid_market", None) == 6
    assert plans.max_instalments("smb", float("nan")) == 4
    assert plans.max_instalments("unknown", 0.1) == 4  # the small-business rule
    assert plans.max_instalments("enterprise", 0.6) == 6
    assert plans.max_instalments("smb", 0.9) == 2


def test_offers_respect_the_minimum_instalment_and_add_up() -> None:
    offers = plans.offers(Decimal("7500000.50"), "COP", "mid_market", 0.2, TODAY)
    # 10% of the balance (750,000.05) is the minimum: 2..6 instalments all keep above it
    assert [o.count for o in offers] == [2, 3, 4, 5, 6]
    for o in offers:
        assert sum(i.amount for i in o.instalments) == Decimal("7500000.50")
        assert min(i.amount for i in o.instalments) >= Decimal("750000.05")
        assert o.instalments[0].due_date == TODAY + timedelta(days=plans.FIRST_INSTALMENT_DAYS)
        assert o.instalments[-1].due_date - o.instalments[0].due_date == timedelta(days=30 * (o.count - 1))
    # a USD 180 balance: the USD 50 floor leaves 2 and 3 instalments only
    assert [o.count for o in plans.offers(Decimal(180), "USD", "enterprise", 0.1, TODAY)] == [2, 3]
    # too small for two instalments of the floor: no plan
    assert plans.offers(Decimal(90), "USD", "enterprise", 0.1, TODAY) == []
    assert plans.offers(Decimal(0), "USD", "enterprise", 0.1, TODAY) == []


def test_high_risk_plan_has_a_down_payment() -> None:
    offers = plans.offers(Decimal(10000), "USD", "smb", 0.8, TODAY)
    assert [o.count for o in offers] == [2]
    first, second = offers[0].instalments
    assert first.amount == Decimal("3000.00") and second.amount == Decimal("7000.00")


def test_zero_decimal_currency_schedule() -> None:
    plan = plans.schedule(Decimal(1000000), "CLP", 3, TODAY)
    assert [i.amount for i in plan.instalments] == [Decimal(333333), Decimal(333333), Decimal(333334)]


def test_accept_recomputes_and_refuses_what_is_not_offered() -> None:
    plan = plans.accept(4, Decimal("7500000.50"), "COP", "mid_market", 0.2, TODAY)
    assert plan.count == 4 and plan.total == Decimal("7500000.50")
    with pytest.raises(plans.PolicyError, match="not offered"):
        plans.accept(7, Decimal("7500000.50"), "COP", "mid_market", 0.2, TODAY)
    with pytest.raises(plans.PolicyError, match="not offered"):
        plans.accept(4, Decimal("7500000.50"), "COP", "mid_market", 0.9, TODAY)  # high risk: at most 3


@pytest.mark.parametrize(
    ("days", "amount", "why"),
    [
        (-1, "100", "in the past"),
        (31, "100", "more than 30 days"),
        (3, "0", "above zero"),
        (3, "-5", "above zero"),
        (3, "1000.01", "above the open balance"),
    ],
)
def test_promise_outside_policy(days, amount, why) -> None:
    with pytest.raises(plans.PolicyError, match=why):
        plans.check_promise(TODAY + timedelta(days=days), Decimal(amount), Decimal(1000), TODAY)


def test_promise_within_policy() -> None:
    plans.check_promise(TODAY, Decimal(1000), Decimal(1000), TODAY)
    plans.check_promise(TODAY + timedelta(days=30), Decimal("0.01"), Decimal(1000), TODAY)

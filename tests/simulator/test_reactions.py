"""The reaction driver: debtors answer intra-day, in words the product reads, and the bank day is known up front."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from ml.inbound.optouts import read_opt_out
from ml.inbound.replies import read_reply
from simulator.emulators.reactions import TEXTS, ReactionDriver
from simulator.stepping import open_market


@pytest.fixture(scope="module")
def driven():
    market = open_market("S", seed=42, as_of=date(2026, 11, 22), horizon_days=10)
    driver = ReactionDriver(market, seed=7)
    day = driver.open_day()
    bank = driver.bank_lines()
    deb = market.cont["debtor_idx"]
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) + timedelta(hours=14)

    def batch(lo: int, hi: int, offset: timedelta) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "customer_id": f"C{i + 1:06d}",
                "contact_id": f"CT{deb[i] + 1:07d}",
                "channel": ("whatsapp", "sms", "email")[i % 3],
                "scheduled_at": start + offset + timedelta(minutes=i % 40),
                "invoice_ids": [],
                "task_id": f"task{i}",
                "language": ("es", "en", "pt")[i % 3],
            }
            for i in range(lo, hi)
        )

    first = driver.contacts_sent(batch(0, 900, timedelta(0)))
    second = driver.contacts_sent(batch(0, 100, timedelta(hours=3)))
    result = driver.close_day()
    return driver, bank, result, first + second, day


def test_bank_lines_known_at_the_start_of_the_day_are_the_days_lines(driven) -> None:
    _, bank, result, _, day = driven
    assert set(bank["bank_txn_id"]) == set(result.statement_lines["bank_txn_id"])
    arrives = pd.to_datetime(bank["arrives_at"], utc=True)
    assert (arrives.dt.date == day).all()
    paid = bank[bank["credit_debit"] == "CRDT"]
    assert paid["invoice_ids"].map(len).gt(0).any()  # customer payments name the invoices they pay


def test_every_contact_is_logged_once_across_batches(driven) -> None:
    _, _, result, _, _ = driven
    ids = result.interactions["interaction_id"]
    assert ids.is_unique
    assert result.contacts == 1000


def test_replies_are_due_after_the_contact_and_read_as_meant(driven) -> None:
    driver, _, _, queued, day = driven
    kinds = {q.kind for q in queued}
    assert {"promise", "opt_out", "reply"} <= kinds
    assert all(q.channel in ("whatsapp", "sms") or q.kind == "opt_out" for q in queued)
    expected = {"promise": "promise_to_pay", "dispute": "dispute", "paid_claim": "paid_claim", "reply": "replied"}
    for q in queued:
        if q.kind == "opt_out":
            assert q.channel == "email" or read_opt_out(q.text) is not None
            continue
        reading = read_reply(q.text, day)
        assert reading.outcome == expected[q.kind], q.text
        if q.kind == "promise":
            assert reading.promised_date == q.promised_date
    due = driver.due(datetime.combine(day + timedelta(days=2), datetime.min.time(), tzinfo=UTC))
    assert len(due) == len(queued) and driver.pending() == 0
    assert [q.at for q in due] == sorted(q.at for q in due)


def test_texts_cover_the_three_languages() -> None:
    for kind, by_lang in TEXTS.items():
        assert set(by_lang) == {"es", "en", "pt"}, kind

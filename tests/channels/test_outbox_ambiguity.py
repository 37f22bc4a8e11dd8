"""The outbox's ambiguity rules: what may have reached the customer counts, events carry real send times,
a crash leaves only the message in flight uncertain (issue 16, "Sent twice, or never")."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import pytest
from factories import account, contact, decide, frames, invoice

from connectors.channels.base import SendResult
from connectors.channels.outbox import (
    AMBIGUOUS_DEAD,
    EVENTS_TABLE,
    dispatch,
    enqueue,
    recent_contacts,
    record_events,
    task_states,
)

AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


class Streaming:
    """A provider that claims and reports per message (as every real sender does), with scripted answers."""

    name = "scripted"

    def __init__(self, answer=None, *, window: timedelta | None = None, delay: float = 0.0, crash_after: int = 0):
        self.answer = answer or (lambda t: SendResult(t["task_id"], True, f"msg-{t['task_id'][:6]}"))
        self.delay = delay
        self.crash_after = crash_after
        self.sent: list[str] = []
        if window is not None:
            self.ambiguity_window = window

    def send_batch(self, tasks, *, claim=None, report=None):
        out = []
        for t in tasks:
            claim(t)
            time.sleep(self.delay)
            self.sent.append(t["task_id"])
            if self.crash_after and len(self.sent) == self.crash_after:
                raise KeyboardInterrupt("the dispatcher dies here, before the outcome is written")
            res = self.answer(t)
            report(t, res)
            out.append(res)
        return out

    def reconcile(self, tasks):
        return {}


def _customers(con) -> dict[str, str]:
    return dict(zip(task_states(con)["task_id"], task_states(con)["customer_id"], strict=True))


def test_sending_events_carry_each_message_s_own_send_time(con, decisions) -> None:
    enqueue(con, decisions, AS_OF)
    dispatch(con, Streaming(delay=0.05), NOW + timedelta(days=1), due_only=False)
    at = [
        r[0]
        for r in con.execute(
            f"select event_at from {EVENTS_TABLE} where state = 'sending' order by event_seq"
        ).fetchall()
    ]
    assert len(at) == 4
    # Not the run's start: every claim is later than the one before, by the time its send took.
    assert all(b - a >= timedelta(seconds=0.04) for a, b in zip(at, at[1:], strict=False))
    assert at[0] >= (NOW + timedelta(days=1)).replace(tzinfo=None)
    # An explicit clock (the daily flow passes the wall clock on a live run) is used as given.
    ticks = iter(datetime(2026, 3, 4, 9, 0, s, tzinfo=UTC) for s in range(100))
    enqueue(con, decisions, AS_OF + timedelta(days=1))
    dispatch(con, Streaming(), NOW + timedelta(days=2), due_only=False, clock=lambda: next(ticks))
    latest = con.execute(f"select max(event_at) from {EVENTS_TABLE} where state = 'sending'").fetchall()[0][0]
    assert latest.date() == date(2026, 3, 4)


def test_a_crash_leaves_only_the_message_in_flight_uncertain(con, decisions) -> None:
    enqueue(con, decisions, AS_OF)
    crashing = Streaming(crash_after=2)
    with pytest.raises(KeyboardInterrupt):
        dispatch(con, crashing, NOW, due_only=False, batch_size=1000)
    states = task_states(con)["state"].value_counts().to_dict()
    assert states == {"sent": 1, "sending": 1, "pending": 2}
    # The next run sends the two that never left and does not resend the uncertain one.
    after = Streaming()
    counts = dispatch(con, after, NOW, due_only=False)
    assert len(after.sent) == 2 and counts["unknown"] == 1 and crashing.sent[1] not in after.sent


def test_smtp_like_ambiguity_is_dead_at_once_never_resent_and_still_counts(con, decisions) -> None:
    enqueue(con, decisions, AS_OF)
    lost = "connection lost during DATA"
    lost_250 = Streaming(lambda t: SendResult(t["task_id"], False, detail=lost, ambiguous=True), window=timedelta(0))
    counts = dispatch(con, lost_250, NOW, due_only=False)
    assert counts["dead"] == 4
    states = task_states(con)
    assert set(states["state"]) == {"dead"} and states["last_error"].str.startswith(AMBIGUOUS_DEAD).all()
    again = Streaming()
    assert dispatch(con, again, NOW + timedelta(days=3), due_only=False)["considered"] == 0 and not again.sent
    # They may have reached the customer: they count for spacing and caps (internal C5 does not).
    recent = recent_contacts(con, NOW - timedelta(days=7))
    assert set(recent["customer_id"]) == {"C1", "C2", "C3"}


def test_a_crash_mid_send_then_ttl_dead_counts_as_a_contact_but_a_refusal_does_not(con, decisions) -> None:
    enqueue(con, decisions, AS_OF)
    tasks = task_states(con).set_index("customer_id")
    record_events(con, [{"task_id": tasks.loc["C1", "task_id"], "state": "sending", "at": NOW}])  # died mid-send
    refused = Streaming(lambda t: SendResult(t["task_id"], False, detail="21211 invalid number", retryable=False),
                        window=timedelta(hours=1))  # fmt: skip
    dispatch(con, refused, NOW, due_only=False)  # C2, C3 (and the internal C5) refused: never left
    dispatch(con, refused, NOW + timedelta(hours=2), due_only=False)  # C1 unconfirmed past the window
    states = task_states(con).set_index("customer_id")
    assert states.loc["C1", "state"] == "dead" and states.loc["C1", "last_error"].startswith(AMBIGUOUS_DEAD)
    assert states.loc["C2", "state"] == "dead" and "21211" in states.loc["C2", "last_error"]
    recent = recent_contacts(con, NOW - timedelta(days=7))
    assert recent["customer_id"].tolist() == ["C1"]
    # The decision engine sees it: C1 is not contacted again the next day (spacing).
    acc, cons, _ = frames([account("C1", invoices=[invoice("a", "1234567.89", 46)], risk_score=0.9)],
                          [contact("k1", "C1")])  # fmt: skip
    tomorrow = NOW + timedelta(days=1)
    again = decide(acc, cons, recent_contacts(con, tomorrow - timedelta(hours=48)), as_of=AS_OF, now_utc=tomorrow)
    assert again.loc[0, "action"] == "wait" and "skip:one_channel_week" in again.loc[0, "reason_codes"]


def test_a_dead_run_s_dispatch_log_is_folded_once_and_a_torn_line_ignored(tmp_path, decisions) -> None:
    """The write-ahead log of a killed dispatcher: its claim becomes ``sending``, its outcome lands as
    logged, a torn last line is skipped, and folding twice (a crash after the insert) adds nothing."""
    import json as jsonlib

    import duckdb

    from connectors.channels.outbox import land_dispatch_logs

    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as con:
        enqueue(con, decisions, AS_OF)
        ids = task_states(con)["task_id"].tolist()
        wal = tmp_path / "w.duckdb.smtp.wal"
        rows = [
            {"task_id": ids[0], "state": "sending", "at": "2026-03-02T11:00:00.100000+00:00", "detail": None,
             "provider_message_id": None},
            {"task_id": ids[0], "state": "sent", "at": "2026-03-02T11:00:00.300000+00:00", "detail": None,
             "provider_message_id": "<cbz.x@ar.example.com>"},
            {"task_id": ids[1], "state": "sending", "at": "2026-03-02T11:00:00.200000+00:00", "detail": None,
             "provider_message_id": None},
        ]  # fmt: skip
        wal.write_text("".join(jsonlib.dumps(r) + "\n" for r in rows) + '{"task_id": "' + ids[2][:10], encoding="utf-8")
        assert land_dispatch_logs(con) == 3 and wal.stat().st_size == 0
        states = task_states(con).set_index("task_id")
        assert states.loc[ids[0], "state"] == "sent" and states.loc[ids[0], "provider_message_id"].startswith("<cbz")
        assert states.loc[ids[1], "state"] == "sending" and states.loc[ids[2], "state"] == "pending"
        # The run died after its batch insert but before emptying the log: nothing lands twice.
        wal.write_text("".join(jsonlib.dumps(r) + "\n" for r in rows), encoding="utf-8")
        assert land_dispatch_logs(con) == 0
        assert con.execute(f"select count(*) from {EVENTS_TABLE} where state <> 'pending'").fetchall()[0][0] == 3

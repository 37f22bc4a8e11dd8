"""Outbox idempotency, append-only events, crash recovery and the dry-run channel."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from factories import account, contact, decide, frames, invoice

from connectors.channels.dry_run import DryRunSender
from connectors.channels.outbox import (
    EVENTS_TABLE,
    TASKS_TABLE,
    SendResult,
    dispatch,
    enqueue,
    pending_tasks,
    recent_contacts,
    record_events,
    task_key,
    task_states,
)

# The same decided day as conftest.py's fixtures (importing conftest by name clashes across folders).
AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


def lines(path: Path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def test_enqueue_is_idempotent(con, decisions) -> None:
    assert enqueue(con, decisions, AS_OF) == 4  # C4 waits (third party only)
    assert enqueue(con, decisions, AS_OF) == 0
    assert enqueue(con, pd.concat([decisions, decisions]), AS_OF) == 0
    assert con.execute(f"select count(*) from {TASKS_TABLE}").fetchone()[0] == 4
    assert con.execute(f"select count(*) from {EVENTS_TABLE} where state = 'pending'").fetchone()[0] == 4
    row = con.execute(
        f"select task_id, amount_at_stake, invoice_ids, action from {TASKS_TABLE} where customer_id = 'C1'"
    ).fetchone()
    assert row[0] == task_key("C1", AS_OF, "call_task")
    assert row[1] == Decimal("1234577.89") and row[2] == ["a", "b"] and row[3] == "call_task"
    # A new day is a new decision.
    assert enqueue(con, decisions, AS_OF + timedelta(days=1)) == 4


def test_duplicate_keys_inside_one_batch(con, decisions) -> None:
    assert enqueue(con, pd.concat([decisions, decisions]), AS_OF) == 4


def test_pending_tasks_keep_money_decimal(con, decisions) -> None:
    enqueue(con, decisions, AS_OF)
    tasks = pending_tasks(con, NOW)
    assert len(tasks) == 4 and set(tasks["state"]) == {"pending"}
    assert all(isinstance(a, Decimal) for a in tasks["amount_at_stake"])
    assert str(tasks["scheduled_at"].dt.tz) == "UTC"
    c1 = tasks.set_index("customer_id").loc["C1", "payload"]
    assert c1["invoices"][0]["amount_open"] == "1234567.89"
    # 06:00 in Bogota: only the internal dispute review (scheduled now) is due.
    assert list(pending_tasks(con, NOW, due_only=True)["customer_id"]) == ["C5"]


def test_dispatch_twice_writes_each_message_once(con, decisions, tmp_path) -> None:
    enqueue(con, decisions, AS_OF)
    sender = DryRunSender(tmp_path)
    first = dispatch(con, sender, NOW)
    assert first["sent"] == 4 and first["considered"] == 4
    second = dispatch(con, DryRunSender(tmp_path), NOW)
    assert second["considered"] == 0
    out = lines(tmp_path / "2026-03-02.jsonl")
    assert sorted(o["task_id"] for o in out) == sorted(task_states(con)["task_id"])
    states = task_states(con).set_index("customer_id")
    assert set(states["state"]) == {"sent"}
    pmids = con.execute(f"select provider_message_id from {EVENTS_TABLE} where state = 'sent'").fetchall()
    assert {p[0] for p in pmids} == {f"dryrun-{o['task_id'][:12]}" for o in out}
    by_channel = {o["channel"]: o for o in out}
    assert by_channel["email"]["to"] == "k3@example.com"
    assert by_channel["whatsapp"]["to"] == "+573001234567"
    assert by_channel["call"]["subject"].startswith("Llamar a Cliente C1")
    assert by_channel["internal"]["to"] == "collections-team"
    assert {"task_id", "channel", "to", "subject", "body", "scheduled_at"} <= set(by_channel["email"])


class CrashAfterWrite(DryRunSender):
    """Writes the file, then dies before dispatch can record ``sent``."""

    def send_batch(self, tasks):
        super().send_batch(tasks)
        raise SystemExit("power cut")


class CrashBeforeWrite(DryRunSender):
    def send_batch(self, tasks):
        raise SystemExit("power cut")


@pytest.mark.parametrize("crash_cls", [CrashAfterWrite, CrashBeforeWrite])
def test_crash_between_write_and_event(con, decisions, tmp_path, crash_cls) -> None:
    enqueue(con, decisions, AS_OF)
    with pytest.raises(SystemExit):
        dispatch(con, crash_cls(tmp_path), NOW)
    assert set(task_states(con)["state"]) == {"sending"}
    counts = dispatch(con, DryRunSender(tmp_path), NOW)
    if crash_cls is CrashAfterWrite:
        assert counts["reconciled"] == 4
    else:
        assert counts["reconciled"] == 0
    assert counts["sent"] == 4
    out = lines(tmp_path / "2026-03-02.jsonl")
    assert len(out) == 4 and len({o["task_id"] for o in out}) == 4
    assert set(task_states(con)["state"]) == {"sent"}
    assert dispatch(con, DryRunSender(tmp_path), NOW)["considered"] == 0


def test_torn_last_line_is_tolerated(con, decisions, tmp_path) -> None:
    enqueue(con, decisions, AS_OF)
    path = tmp_path / "2026-03-02.jsonl"
    path.write_text('{"task_id": "zzz", "chan', encoding="utf-8")
    dispatch(con, DryRunSender(tmp_path), NOW)
    raw = path.read_text(encoding="utf-8").splitlines()
    assert raw[0] == '{"task_id": "zzz", "chan' and len(raw) == 5
    assert all(json.loads(x)["task_id"] for x in raw[1:])


class Flaky:
    name = "flaky"

    def __init__(self, retryable: bool = True) -> None:
        self.retryable = retryable
        self.calls = 0

    def send_batch(self, tasks):
        self.calls += 1
        return [SendResult(t["task_id"], False, detail="HTTP 503", retryable=self.retryable) for t in tasks]

    def reconcile(self, tasks):
        return {}


def test_retry_then_dead_letter(con, decisions) -> None:
    enqueue(con, decisions, AS_OF)
    sender = Flaky()
    later = NOW + timedelta(days=3)
    for _ in range(2):
        counts = dispatch(con, sender, later, due_only=False, max_attempts=3)
        assert counts["failed"] == 4
    counts = dispatch(con, sender, later, due_only=False, max_attempts=3)
    assert counts["dead"] == 4
    assert set(task_states(con)["state"]) == {"dead"}
    assert dispatch(con, sender, later, due_only=False)["considered"] == 0
    # Dead tasks did not reach the customer: they do not count for spacing.
    assert recent_contacts(con, NOW - timedelta(days=30)).empty


def test_non_retryable_failure_is_dead_at_once(con, decisions) -> None:
    enqueue(con, decisions, AS_OF)
    counts = dispatch(con, Flaky(retryable=False), NOW, due_only=False)
    assert counts["dead"] == 4


def test_unconfirmable_sending_becomes_unknown(con, decisions) -> None:
    enqueue(con, decisions, AS_OF)
    for tid in task_states(con)["task_id"]:
        record_events(con, [{"task_id": tid, "state": "sending", "at": NOW}])
    sender = Flaky()
    counts = dispatch(con, sender, NOW, due_only=False)
    assert counts["unknown"] == 4 and sender.calls == 0
    assert set(task_states(con)["state"]) == {"unknown"}


def at(text: str) -> datetime:
    return pd.Timestamp(text, tz="UTC").to_pydatetime()


def test_dispatch_sends_only_inside_the_stored_window(con, decisions, tmp_path) -> None:
    # Slots (UTC): C5 internal review 11:00, C3 email 12:00, C1 call 14:00, C2 WhatsApp 15:00.
    enqueue(con, decisions, AS_OF)
    tasks = task_states(con).set_index("customer_id")
    assert tasks.loc["C3", "not_after"] - tasks.loc["C3", "not_before"] == timedelta(minutes=30)
    sender = DryRunSender(tmp_path)
    counts = dispatch(con, sender, NOW, due_only=True)
    assert counts["sent"] == 1 and counts["deferred"] == 3  # only the internal review is due
    counts = dispatch(con, sender, at("2026-03-02 12:10"), due_only=True)
    assert counts["sent"] == 1 and counts["deferred"] == 2  # the email, inside 12:00-12:30
    # 15:45: the call task (an agent's task, long window) goes; the WhatsApp window closed at 15:30.
    counts = dispatch(con, sender, at("2026-03-02 15:45"), due_only=True)
    assert counts["sent"] == 1 and counts["expired"] == 1
    states = task_states(con).set_index("customer_id")
    assert states.loc["C2", "state"] == "dead" and "window missed" in states.loc["C2", "last_error"]
    assert states.loc["C1", "state"] == "sent"


def test_decision_window_is_used_when_given(con, decisions, tmp_path) -> None:
    decisions = decisions.assign(not_after=decisions["scheduled_at"] + pd.Timedelta(hours=5))
    enqueue(con, decisions, AS_OF)
    counts = dispatch(con, DryRunSender(tmp_path), at("2026-03-02 15:45"), due_only=True)
    assert counts["expired"] == 0 and counts["sent"] == 4
    bad = decisions.assign(not_after=decisions["scheduled_at"] - pd.Timedelta(hours=1))
    with pytest.raises(ValueError, match="not_after"):
        enqueue(con, bad, AS_OF + timedelta(days=1))


def test_recent_contacts_feed_spacing_so_a_rerun_adds_nothing(con, decisions, tmp_path) -> None:
    enqueue(con, decisions, AS_OF)
    dispatch(con, DryRunSender(tmp_path), NOW)
    recent = recent_contacts(con, NOW - timedelta(hours=48))
    assert set(recent["customer_id"]) == {"C1", "C2", "C3"}  # C5's review is internal
    assert str(recent["scheduled_at"].dt.tz) == "UTC"
    # Next day: a different decision date, but spacing keeps everyone waiting.

    acc, cons, _ = frames(
        [account("C1", invoices=[invoice("a", "1234567.89", 46)], risk_score=0.9)], [contact("k1", "C1")]
    )
    tomorrow = NOW + timedelta(days=1)
    again = decide(acc, cons, recent_contacts(con, tomorrow - timedelta(hours=48)), as_of=AS_OF, now_utc=tomorrow)
    assert again.loc[0, "action"] == "wait" and "skip:one_channel_week" in again.loc[0, "reason_codes"]
    assert enqueue(con, again, AS_OF + timedelta(days=1)) == 0


def test_outbox_code_never_updates_or_deletes() -> None:
    import connectors.channels.outbox as outbox

    sql = Path(outbox.__file__).read_text().lower()
    assert "update " not in sql.replace("do update", "") and "delete from" not in sql

"""The live-week harness counts as "queued, not cancelled" only what issue 18's cancel rule requires.

``bench/live_week.py``'s ``queued_not_cancelled`` (promise/dispute/opt-out/bank payment -> cancellation)
counted, at the S day of /tmp/h18w, 16 misses that were not queued contacts: the agent's own answer to
the reply (``agent_reply``/``agent_handoff``, created by the reply and sent at once) and a contact already
cancelled by an earlier promise of the same customer. Fast: the figure on a hand-made outbox, no harness run.
"""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd

from bench.live_week import Harness, queued_at

T = pd.Timestamp


def task(task_id: str, action: str, channel: str, *, sent=None, dead=None, not_after="2026-11-24 23:30") -> dict:
    """One outbox task of customer C1 decided on Monday 2026-11-23, as ``measure_counts`` reads it."""
    return {"task_id": task_id, "customer_id": "C1", "action": action, "channel": channel,
            "decision_date": T("2026-11-23"), "not_before": T("2026-11-23 15:00"), "not_after": T(not_after),
            "invoice_ids": ["I1"], "sent_at": T(sent) if sent else pd.NaT,
            "dead_at": T(dead) if dead else pd.NaT}  # fmt: skip


def figures(tasks: list[dict], cancels: list[tuple[str, str]], posted_at: str = "2026-11-23 22:40") -> dict:
    """The natural promise -> cancellation figure of a promise by C1 at ``posted_at`` (``cancels``: task, instant)."""
    states = pd.DataFrame(tasks)
    cancels_df = pd.DataFrame(
        [
            {"customer_id": "C1", "task_id": t, "event_at": T(at), "detail": "cancelled before sending: x"}
            for t, at in cancels
        ],
        columns=["customer_id", "task_id", "event_at", "detail"],
    )
    reply = {"customer_id": "C1", "kind": "promise", "channel": "whatsapp", "at": T(posted_at, tz="UTC")}
    harness = SimpleNamespace(pass_wall={}, runs=SimpleNamespace(runs=[]), bank_arrivals=[], posted=[reply])
    return Harness.latencies(harness, states, cancels_df)["of_which_natural_replies"]


def test_the_agents_answer_and_an_already_cancelled_contact_are_not_queued_contacts() -> None:
    # As C000192 in /tmp/h18w/s1v2: its 23:00 WhatsApp was cancelled at 19:00 by a first promise; the
    # second promise at 22:40 gets the agent's answer (created and sent at 22:40) and nothing else.
    tasks = [
        task("sent-before", "whatsapp", "whatsapp", sent="2026-11-23 17:00"),
        task("cancelled-before", "whatsapp", "whatsapp", dead="2026-11-23 19:00"),
        task("answer", "agent_reply", "whatsapp", sent="2026-11-23 22:40:00.3"),
        task("handoff", "agent_handoff", "internal", sent="2026-11-23 22:40:00.3"),
    ]
    got = figures(tasks, [("cancelled-before", "2026-11-23 19:00")])
    assert got["queued_not_cancelled"] == 0, got
    assert got["n"] == 0, got


def test_a_queued_contact_left_alone_is_still_a_miss_and_a_cancelled_one_a_latency() -> None:
    queued = task("queued", "call_task", "call")
    assert figures([queued], [])["queued_not_cancelled"] == 1
    got = figures([queued], [("queued", "2026-11-23 22:45")])
    assert (got["n"], got["median_min"], got["queued_not_cancelled"]) == (1, 5.0, 0), got


def test_queued_at_keeps_a_contact_cancelled_at_the_reply_instant() -> None:
    at = T("2026-11-23 19:00")
    tasks = pd.DataFrame([task("same-instant", "whatsapp", "whatsapp", dead="2026-11-23 19:00"),
                          task("window-closed", "whatsapp", "whatsapp", not_after="2026-11-23 18:30")])  # fmt: skip
    tasks["decided"] = T("2026-11-23 12:00")
    assert list(queued_at(tasks, at)["task_id"]) == ["same-instant"]

"""Fault test: kill the dispatcher at random points mid-batch while the providers answer 30% of requests
with 429, 5xx or timeouts; after re-runs every task is sent exactly once or dead-lettered with its error."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from channels_helpers import decision_rows

from connectors.channels import outbox
from lab.channels import start_lab
from simulator.emulators.channel_common import FaultPlan

WORKER = Path(__file__).with_name("dispatch_worker.py")
ROOT = Path(__file__).parents[2]


def run_worker(args: list[str], kill_after: float | None) -> str | None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, str(WORKER), *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if kill_after is None:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err.decode()[-2000:]
        return out.decode()
    time.sleep(kill_after)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return None


@pytest.mark.slow
def test_crashes_and_faults_never_duplicate_nor_lose_a_message(tmp_path) -> None:
    rng = random.Random(20261123)
    faults = FaultPlan(rate=0.3, seed=11, hang_s=1.0, retry_after="0.05")
    warehouse = str(tmp_path / "warehouse.duckdb")
    start = datetime.now(UTC) - timedelta(minutes=1)
    wa_rows = decision_rows(100, "whatsapp", start=1, scheduled_at=start)
    decisions = pd.concat([wa_rows, decision_rows(100, "sms", start=101, scheduled_at=start)])
    decisions["not_after"] = decisions["scheduled_at"] + pd.Timedelta(days=7)
    with duckdb.connect(warehouse) as con:
        assert outbox.enqueue(con, decisions, start.date()) == 200

    with start_lab(tmp_path / "inbound", faults=faults) as lab:
        overrides = lab.overrides(
            whatsapp_cloud={"read_timeout": 0.5, "rate_limit_per_s": None, "max_attempts": 3, "concurrency": 8,
                            "status_wait_s": 2},
            twilio={"read_timeout": 0.5, "rate_limit_per_s": None, "max_attempts": 3, "concurrency": 8,
                    "validity_period_s": 1},
        )  # fmt: skip
        common = [warehouse, str(lab.spool.dir), json.dumps(overrides)]
        # 1. Killed at random points (imports take ~2 s, so most kills land mid-dispatch).
        for _ in range(5):
            run_worker([*common, datetime.now(UTC).isoformat(), "10"], kill_after=rng.uniform(2.0, 5.0))
        # 2. Re-runs to completion on the real clock (the providers' clock: a run stamped days ahead
        # would look for its messages in Twilio's future). An ambiguous send is never retried in the
        # call (a 5xx may follow an accepted message), so a resend after a lookup proved absence can
        # itself end ambiguous: run until nothing is open (bounded); WhatsApp waits 2 s for a status.
        for _ in range(12):
            assert lab.drain(15)
            run_worker([*common, datetime.now(UTC).isoformat(), "10"], kill_after=None)
            with duckdb.connect(warehouse) as con:
                if set(outbox.task_states(con)["state"]) <= {"sent", "dead"}:
                    break
            time.sleep(1.0)
        assert lab.drain(15)

    assert sum(faults.counts.values()) > 20, faults.counts
    with duckdb.connect(warehouse) as con:
        states = outbox.task_states(con)
        ambiguous = con.execute(f"select count(*) from {outbox.EVENTS_TABLE} where state = 'unknown'").fetchall()[0][0]
        reconciled = con.execute(
            f"select count(*) from {outbox.EVENTS_TABLE} where detail = 'reconciled with the provider'"
        ).fetchall()[0][0]
    # Timeouts after the request left happened and were settled by status webhooks / lookups.
    assert ambiguous > 0 and reconciled > 0
    assert set(states["state"]) <= {"sent", "dead"}, states["state"].value_counts()
    # Nothing duplicated: at most one provider message per task.
    wa = Counter(m["biz_opaque_callback_data"] for m in lab.whatsapp.messages)
    tw = Counter(m["to"] for m in lab.twilio.messages.values())
    assert max(wa.values()) == 1 and max(tw.values()) == 1
    # Nothing lost: every sent task is exactly the provider's message, and dead tasks never reached it.
    phone = dict(zip(decisions["customer_id"], decisions["phone"], strict=True))
    at_provider = {tid: m["id"] for m in lab.whatsapp.messages if (tid := m["biz_opaque_callback_data"])}
    by_phone = {m["to"]: sid for sid, m in lab.twilio.messages.items()}
    for row in states.itertuples():
        pmid = at_provider.get(row.task_id) if row.channel == "whatsapp" else by_phone.get(phone[row.customer_id])
        if row.state == "sent":
            assert pmid == row.provider_message_id, row
        else:
            assert pmid is None and row.last_error, row
    assert (states["state"] == "sent").sum() == len(lab.whatsapp.messages) + len(lab.twilio.messages)
    assert (states["state"] == "sent").sum() >= 150


@pytest.mark.slow
def test_kill9_five_messages_into_a_1000_batch_leaves_only_the_in_flight_uncertain(tmp_path) -> None:
    """The issue's case: 600 e-mail and WhatsApp tasks, the real batch size (1,000), kill -9 five
    messages in. Before the fix 590 ended ``unknown`` and then dead without ever reaching a provider."""
    from bench.outbox_faults import decisions, overrides_for, run_worker

    warehouse = str(tmp_path / "warehouse.duckdb")
    start = datetime.now(UTC) - timedelta(minutes=1)
    rows = decisions(300, start)
    rows = rows[rows["channel"].isin(("email", "whatsapp"))]
    with duckdb.connect(warehouse) as con:
        assert outbox.enqueue(con, rows, start.date()) == 600
    with start_lab(tmp_path / "inbound", read_rate=0.0) as lab:
        overrides = overrides_for(lab)
        common = [warehouse, str(lab.spool.dir), json.dumps(overrides), "--channels", "email,whatsapp"]
        assert run_worker([*common, "--die-after", "5"]) is None  # SIGKILLed itself after the 5th answer
        with duckdb.connect(warehouse) as con:
            outbox.land_dispatch_logs(con)  # what the killed run had logged, as the next run sees it
            after_kill = outbox.task_states(con)["state"].value_counts().to_dict()
        in_flight = max(overrides["whatsapp_cloud"]["concurrency"], overrides["smtp"]["concurrency"])
        assert after_kill.get("sending", 0) <= in_flight, after_kill
        assert after_kill["pending"] >= 600 - 5 - in_flight, after_kill  # the rest of the batch never claimed
        lab.drain(15)
        assert run_worker(common) is not None
        time.sleep(5.5)  # WhatsApp's status wait (5 s here) for a send no webhook confirms
        lab.drain(15)
        assert run_worker(common) is not None
        with duckdb.connect(warehouse) as con:
            states = outbox.task_states(con)
        emails = Counter(m["X-Cobranza-Task"] for m in lab.smtp.messages)
        whatsapps = Counter(m["biz_opaque_callback_data"] for m in lab.whatsapp.messages)
    assert max((emails | whatsapps).values()) == 1  # nothing reached the customer twice
    assert set(states["state"]) <= {"sent", "dead"}
    dead = states[states["state"] == "dead"]
    # Only the messages in flight at the kill can be uncertain; every other task was sent on the next run.
    assert len(dead) <= after_kill.get("sending", 0)
    assert dead["last_error"].str.startswith(outbox.AMBIGUOUS_DEAD).all()
    assert (states["state"] == "sent").sum() >= 600 - after_kill.get("sending", 0)

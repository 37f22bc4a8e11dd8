"""kill -9 of the dispatcher in the middle of a pass (issue 18): after a restart nothing is sent twice
and nothing is lost. Real processes running ``cobranza dispatch``'s pass on a real operational store,
the real WhatsApp and Twilio emulators over HTTP, sends slowed by the senders' rate limit so the kill
lands mid-pass; every task is then counted at the providers (bench.outbox_faults.tally)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from bench.outbox_faults import decisions, tally
from cobranza.settings import load_settings
from connectors.channels import outbox
from connectors.channels.twilio_sms.sender import marker
from flows import stages
from flows.service import ops_connection
from lab.channels import start_lab

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("dispatcher_worker.py")


def _pass(data_dir: Path, overrides: dict, kill_when: Callable[[], bool] | None) -> dict | None:
    """One dispatcher process; with ``kill_when`` it is SIGKILLed as soon as that holds (mid-pass)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COBRANZA_DATA_DIR": str(data_dir)}
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), json.dumps(overrides)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "dispatching"
    if kill_when is not None:
        # Killed once the providers have seen its first sends: a fixed delay raced the pass's start-up
        # (imports alone can take seconds on a busy machine, and a kill before any send proves nothing).
        deadline = time.monotonic() + 120
        while not kill_when() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        return None
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.slow
def test_kill9_of_the_dispatcher_mid_pass_sends_nothing_twice_and_loses_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COBRANZA_DATA_DIR", str(tmp_path))
    settings = load_settings()
    now = datetime.now(UTC) - timedelta(minutes=1)
    rows = decisions(80, now)
    rows = rows[rows["channel"].isin(("whatsapp", "sms"))]  # 160 tasks due now, open a week
    ctx = stages.make_context(settings, now.date(), now)
    with duckdb.connect(str(ctx.warehouse)) as wh:
        sys.path.insert(0, str(ROOT / "tests" / "channels"))
        from channels_helpers import warehouse_state

        warehouse_state(wh, rows)
    with ops_connection(settings, "test") as ops:
        assert outbox.enqueue(ops, rows, now.date()) == 160
    stages.refresh_serving(ctx)
    with start_lab(settings.resolve(settings.channels.inbound_dir), read_rate=0.0) as lab:
        slow = {"rate_limit_per_s": 25, "max_attempts": 3, "concurrency": 4, "read_timeout": 2.0}
        overrides = lab.overrides(whatsapp_cloud={**slow, "status_wait_s": 2}, twilio={**slow, "validity_period_s": 1})
        # killed mid-pass, after the first 20 sends reached the providers (160 sends take ~7 s at 25/s)
        _pass(tmp_path, overrides, kill_when=lambda: len(lab.whatsapp.messages) + len(lab.twilio.messages) >= 20)
        with ops_connection(settings, "test") as ops:
            outbox.land_dispatch_logs(ops)
            after_kill = outbox.task_states(ops)["state"].value_counts().to_dict()
        assert 0 < after_kill.get("pending", 0) < 160, after_kill  # the kill landed mid-pass
        for _ in range(4):  # restarts until nothing is open (a send in flight at the kill is reconciled)
            assert lab.drain(15)
            counts = _pass(tmp_path, overrides, kill_when=None)
            with ops_connection(settings, "test") as ops:
                states = outbox.task_states(ops)
            if set(states["state"]) <= {"sent", "dead"}:
                break
            time.sleep(2.5)
        assert lab.drain(15)
        # Times each task reached the customer, counted at the emulators (as bench.outbox_faults.deliveries).
        seen = Counter(m["biz_opaque_callback_data"] for m in lab.whatsapp.messages)
        by_marker = {marker(t): t for t in states["task_id"]}
        for msg in list(lab.twilio.messages.values()):
            seen[by_marker.get(" ".join(str(msg["body"]).split()[-2:]))] += 1
    t = tally(states, seen)
    assert counts is not None and set(states["state"]) <= {"sent", "dead"}, states["state"].value_counts()
    assert t.duplicates == 0 and t.max_deliveries == 1, t.as_dict()
    assert t.lost == 0, t.as_dict()
    assert t.exactly_once + t.ambiguous_dead_delivered + t.ambiguous_dead_not_delivered + t.dead_not_delivered == 160
    assert t.exactly_once >= 150, t.as_dict()

"""No collisions (issue 18): a reader holds the published warehouse open for a whole daily run at profile
S while a bank sync, dispatcher passes and inbound passes are started over it as separate processes;
every flow completes (no lock error, the bank sync waits for the warehouse lock), the reader is never
blocked, and no write is lost (the warehouse's replica of the outbox equals the operational store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from connectors import locks, published
from connectors.webhooks.spool import Spool

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 11, 23)

READER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)  # held for the whole run, like an analyst's SQL client
reads = 0
print("open", flush=True)
while True:
    con.execute("select count(*) from information_schema.tables").fetchall()
    reads += 1
    try:
        if open(sys.argv[2]).read().strip() == "stop":
            break
    except FileNotFoundError:
        pass
    time.sleep(0.2)
print(reads, flush=True)
"""

FLOW = """
import json, sys
from datetime import datetime, date
name, clock = sys.argv[1], datetime.fromisoformat(sys.argv[2])
if name == "bank_sync":
    from flows.bank_sync import bank_sync
    out = bank_sync(as_of=date.fromisoformat(sys.argv[3]), now_utc=clock)
elif name == "dispatcher":
    from flows.dispatcher import dispatcher
    out = dispatcher(now_utc=clock)
else:
    from flows.inbound import inbound
    out = inbound(now_utc=clock)
print(json.dumps(out, default=str), flush=True)
"""


def _start(args: list[str], env: dict[str, str], home: Path | None = None) -> subprocess.Popen:
    """A flow process; with ``home`` its own Prefect home (concurrent in-process APIs on one SQLite file
    would trip on each other, which is Prefect's business, not the flows')."""
    if home is not None:
        home.mkdir(parents=True, exist_ok=True)
        env = {**env, "PREFECT_HOME": str(home)}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def test_a_reader_holds_the_warehouse_open_while_every_flow_overlaps_and_completes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COBRANZA_DATA_DIR": str(data)}
    # A published copy exists before the run (yesterday's), and an analyst has it open.
    first = data / "seed.duckdb"
    data.mkdir(parents=True)
    duckdb.connect(str(first)).close()
    target = data / "published" / "warehouse.duckdb"
    published.publish(first, target)
    stop = tmp_path / "stop-reader"
    reader = _start([sys.executable, "-c", READER, str(target), str(stop)], env)
    assert reader.stdout is not None and reader.stdout.readline().strip() == "open"
    # A debtor's reply waiting in the webhook spool for the inbound flow.
    Spool(data / "inbound").append(
        [{"event_id": "wa-1", "provider": "whatsapp", "kind": "message", "from_addr": "573001112233",
          "text": "Les pago el viernes", "occurred_at": datetime(2026, 11, 23, 12, tzinfo=UTC).isoformat()}]
    )  # fmt: skip

    started = time.monotonic()
    homes = tmp_path / "prefect"
    daily = _start([sys.executable, "-m", "cli.app", "run", "--as-of", AS_OF.isoformat(), "--json"], env, homes / "d")
    lock = data / "locks" / "warehouse.lock"
    while locks.holder(lock).get("flow") != "daily_collections":  # the bank sync starts once the run holds it
        assert daily.poll() is None, daily.communicate()[1][-3000:]
        time.sleep(0.5)
    clock = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    bank = _start([sys.executable, "-c", FLOW, "bank_sync", clock.isoformat(), AS_OF.isoformat()], env, homes / "b")
    passes: list[subprocess.Popen] = []
    while daily.poll() is None or len(passes) < 4:
        clock += timedelta(minutes=5)
        n = len(passes)
        passes.append(_start([sys.executable, "-c", FLOW, "dispatcher", clock.isoformat()], env, homes / str(n)))
        passes.append(_start([sys.executable, "-c", FLOW, "inbound", clock.isoformat()], env, homes / str(n + 1)))
        for p in passes[-2:]:
            p.wait(600)
    out, err = daily.communicate(timeout=1800)
    assert daily.returncode == 0, err[-3000:]
    summary = json.loads(out.strip().splitlines()[-1])
    bank_out, bank_err = bank.communicate(timeout=1800)
    assert bank.returncode == 0, bank_err[-3000:]
    results = []
    for p in passes:
        p_out, p_err = p.communicate(timeout=60)
        assert p.returncode == 0, p_err[-3000:]
        assert "LockTimeout" not in p_err and "Could not set lock" not in p_err
        results.append(json.loads(p_out.strip().splitlines()[-1]))
    stop.write_text("stop")
    reads = int(reader.communicate(timeout=30)[0].strip().splitlines()[-1])
    elapsed = time.monotonic() - started
    assert reader.returncode == 0 and reads > elapsed  # it read all along (every 0.2 s), never blocked

    # The bank sync waited for the daily run's warehouse lock, then ran and published again.
    assert "waiting for the lock on the warehouse" in bank_out + bank_err
    bank_summary = json.loads(bank_out.strip().splitlines()[-1])
    assert bank_summary["published"]["bytes"] > 0 and summary["published"]["bytes"] > 0
    assert summary["decisions"]["new_outbox_tasks"] > 0

    # No lost write: the published warehouse's replica of the outbox is the operational store's, row for
    # row, up to the last event it replicated (passes may have run after the bank sync's replication).
    with duckdb.connect(str(target), read_only=True) as pub:
        pub_tasks = pub.execute("select count(*), count(distinct task_id) from outbox.contact_tasks").fetchall()[0]
        pub_events = pub.execute("select count(*), max(event_seq) from outbox.task_events").fetchall()[0]
        pub_rows = pub.execute("select event_seq, task_id, state from outbox.task_events order by 1").fetchall()
    with duckdb.connect(str(data / "ops.duckdb"), read_only=True) as ops:
        ops_tasks = ops.execute("select count(*), count(distinct task_id) from outbox.contact_tasks").fetchall()[0]
        # The day's decisions; besides them the store holds the alerts stage's review tasks and the
        # agent's replies and hand-offs to the debtor's message (issues 20, 21).
        decided = ops.execute(
            "select count(*) from outbox.contact_tasks "
            "where action not in ('alert_review', 'agent_reply', 'agent_handoff')"
        ).fetchall()[0][0]
        ops_rows = ops.execute(
            "select event_seq, task_id, state from outbox.task_events where event_seq <= ? order by 1", [pub_events[1]]
        ).fetchall()
        landed = ops.execute("select count(*) from raw_channels.webhook_events").fetchall()[0][0]
        runs = ops.execute("select flow, count(*) from service.flow_runs group by 1").fetchall()
    assert ops_tasks[0] == ops_tasks[1] and decided == summary["decisions"]["new_outbox_tasks"]
    # passes after the last replication may add the agent's tasks to the store, never remove any
    assert pub_tasks[0] == pub_tasks[1] and decided <= pub_tasks[0] <= ops_tasks[0]
    assert pub_rows == ops_rows and pub_events[0] == len(ops_rows) >= pub_tasks[0]
    assert landed == 1  # the debtor's reply, landed once by whichever flow reached the spool first
    # Every pass logged (the daily run's own dispatcher pass too).
    assert dict(runs) == {"dispatcher": len(passes) // 2 + 1, "inbound": len(passes) // 2}

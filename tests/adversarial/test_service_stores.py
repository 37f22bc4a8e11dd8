"""Adversarial corpus, the service's own stores: lock files and the operational store, damaged or foreign.

The live service (issue 18) keeps its outbox, webhook events and interactions in a small DuckDB file
(``connectors.ops_store``), guards it and the warehouse with lock files (``connectors.locks``) and
copies the store into the warehouse (``ops_store.replicate``). Each is an input a crash, a disk-full,
a careless ``echo > file`` or a mixed-version deployment can damage:

- a lock file holding garbage, a JSON list, a dead holder's record or 10 MB must not stop a flow
  that can take the lock (``landed_once``), and a busy lock with such a file gives up with a message
  that names "another process" and what to do (``refused``); a folder in place of the lock file is
  refused naming the path;
- a truncated, overwritten or empty store file is refused naming the file, with what to do, and is
  left in place for recovery (the outbox in it is the record of what was sent); a cut that lost only
  the file's free tail opens with every task;
- a store written by a newer version (a column the warehouse lacks) is not replicated: refused, the
  rows stay in the store, nothing half-written in the warehouse;
- replication run twice, or after a crash between the store's write and the warehouse's, lands each
  row once.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "channels"))

from channels_helpers import decision_rows  # noqa: E402

from connectors import locks, ops_store, warehouse  # noqa: E402
from connectors.channels import outbox  # noqa: E402
from tests.adversarial.corpus import Case, case_ids  # noqa: E402

S = "service_stores"
DAY = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

LOCK_CASES: list[Case] = [
    Case("lock-garbage-bytes", S, "landed_once", "the lock file holds binary garbage, nobody holds the lock",
         {"content": b"\x00\xff\xfe garbage \x80", "busy": False}),
    Case("lock-json-list", S, "landed_once", "the lock file holds a JSON list instead of a holder record",
         {"content": b"[1, 2, 3]", "busy": False}),
    Case("lock-dead-holder", S, "landed_once", "the record of a holder whose process died (kill -9) stays",
         {"content": json.dumps({"flow": "daily_collections", "pid": 999999, "host": "gone",
                                 "since": "2026-01-01T00:00:00+00:00"}).encode(), "busy": False}),
    Case("lock-ten-megabytes", S, "landed_once", "10 MB were written into the lock file",
         {"content": b"x" * 10_000_000, "busy": False}),
    Case("lock-busy-garbage", S, "refused", "another process holds the lock; the file holds garbage",
         {"content": b"\x00garbage", "busy": True}, reason="another process (no holder recorded)"),
    Case("lock-busy-json-list", S, "refused", "another process holds the lock; the file holds a JSON list",
         {"content": b"[\"daily\"]", "busy": True}, reason="another process (no holder recorded)"),
    Case("lock-is-a-folder", S, "refused", "a folder sits where the lock file should be",
         {"folder": True}, reason="cannot open the lock file"),
]  # fmt: skip

STORE_CASES: list[Case] = [
    Case("ops-store-truncated", S, "refused", "the operational store file was cut to a tenth (disk full, copy cut)",
         {"damage": "truncate"}, reason="not a readable DuckDB database"),
    Case("ops-store-free-tail-cut", S, "landed_once",
         "the store lost the second half of its file, which held only free blocks: every task is still there",
         {"damage": "free_tail"}),
    Case("ops-store-overwritten", S, "refused", "the store file was overwritten with text",
         {"damage": "text"}, reason="not a readable DuckDB database"),
    Case("ops-store-empty-file", S, "refused", "the store file exists with zero bytes",
         {"damage": "empty"}, reason="not a readable DuckDB database"),
    Case("ops-store-header-only", S, "refused", "only the first 100 bytes of the store survived",
         {"damage": "header"}, reason="not a readable DuckDB database"),
]  # fmt: skip

REPLICA_CASES: list[Case] = [
    Case("replica-newer-schema", S, "refused", "the store's outbox has a column this version does not know",
         {"mode": "ahead"}, reason="written by a newer"),
    Case("replica-twice", S, "landed_once", "replication runs twice in a row (start and end of a run)",
         {"mode": "twice"}),
    Case("replica-after-crash", S, "landed_once",
         "a run died after the store's write and before its replication; the next run replicates",
         {"mode": "late"}),
    Case("replica-store-table-dropped", S, "landed_once",
         "the store lost its interactions table (an operator's drop): recreated, the outbox still copied",
         {"mode": "dropped"}),
]  # fmt: skip

CASES: list[Case] = LOCK_CASES + STORE_CASES + REPLICA_CASES


def _hold_forever(path: str, ready, stop) -> None:  # runs in a child process
    import fcntl
    import os

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    ready.set()
    stop.wait(30)


@pytest.mark.parametrize("case", LOCK_CASES, ids=case_ids(LOCK_CASES))
def test_lock_file(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "locks" / "warehouse.lock"
    if case.payload.get("folder"):
        path.mkdir(parents=True)
        with pytest.raises(locks.LockUnusable) as err, locks.hold(path, "test", timeout_s=0.5, what="the warehouse"):
            pass
        assert case.reason in str(err.value) and str(path) in str(err.value)
        return
    path.parent.mkdir(parents=True)
    path.write_bytes(case.payload["content"])
    if not case.payload["busy"]:
        with locks.hold(path, "test-flow", timeout_s=2, what="the warehouse"):
            assert locks.holder(path)["flow"] == "test-flow"
        assert path.read_bytes() == b""  # released: the record is cleared, nothing of the garbage left
        return
    ctx = multiprocessing.get_context("fork")
    ready, stop = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_forever, args=(str(path), ready, stop))
    child.start()
    try:
        assert ready.wait(10)
        with pytest.raises(locks.LockTimeout) as err, locks.hold(path, "test", timeout_s=0.5, what="the warehouse"):
            pass
        message = str(err.value)
        assert case.reason in message and "run again" in message and str(path) in message
    finally:
        stop.set()
        child.join(10)


def _store_with_tasks(path: Path, n: int = 3) -> None:
    with ops_store.connect(path, lock_path=path.with_suffix(".lock"), who="test", timeout_s=2) as ops:
        assert outbox.enqueue(ops, decision_rows(n, "email", scheduled_at=NOW), DAY) == n


@pytest.mark.parametrize("case", STORE_CASES, ids=case_ids(STORE_CASES))
def test_damaged_store_is_refused_and_kept(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "ops.duckdb"
    _store_with_tasks(path)
    data = path.read_bytes()
    damaged = {
        "truncate": data[: len(data) // 10],
        "free_tail": data[: len(data) // 2],
        "text": b"this is not a database\n" * 50,
        "empty": b"",
        "header": data[:100],
    }[case.payload["damage"]]
    path.write_bytes(damaged)
    if case.expect == "landed_once":
        with ops_store.connect(path, lock_path=path.with_suffix(".lock"), who="test", timeout_s=2) as ops:
            assert _outbox_count(ops) == 3
        return
    with pytest.raises(warehouse.StoreDamaged) as err:
        with ops_store.connect(path, lock_path=path.with_suffix(".lock"), who="test", timeout_s=2):
            pass
    message = str(err.value)
    assert case.reason in message and str(path) in message and "outbox" in message
    assert path.read_bytes() == damaged  # left for recovery, nothing created over it


def _outbox_count(con: duckdb.DuckDBPyConnection) -> int:
    return con.execute(f"select count(*) from {outbox.TASKS_TABLE}").fetchone()[0]


@pytest.mark.parametrize("case", REPLICA_CASES, ids=case_ids(REPLICA_CASES))
def test_replication(case: Case, tmp_path: Path) -> None:
    store, wh_path = tmp_path / "ops.duckdb", tmp_path / "warehouse.duckdb"
    lock = tmp_path / "ops.lock"
    _store_with_tasks(store, 3)
    mode = case.payload["mode"]
    with ops_store.connect(store, lock_path=lock, who="test", timeout_s=2) as ops:
        if mode == "ahead":
            ops.execute(f"alter table {outbox.TASKS_TABLE} add column priority_v2 integer").fetchall()
        if mode == "dropped":
            ops.execute(f"drop table {ops_store.INTERACTIONS_TABLE}").fetchall()
    with (
        ops_store.connect(store, lock_path=lock, who="test", timeout_s=2) as ops,
        duckdb.connect(str(wh_path)) as wh,
    ):
        if mode == "ahead":
            with pytest.raises(ops_store.SchemaAhead) as err:
                ops_store.replicate(ops, wh)
            assert case.reason in str(err.value) and "priority_v2" in str(err.value)
            assert _outbox_count(wh) == 0 and _outbox_count(ops) == 3  # nothing half-written; rows kept
            return
        first = ops_store.replicate(ops, wh)
        assert first[outbox.TASKS_TABLE] == 3
        if mode == "late":
            later = decision_rows(2, "email", scheduled_at=NOW + timedelta(hours=1), start=10)
            assert outbox.enqueue(ops, later, DAY) == 2
        second = ops_store.replicate(ops, wh)
        expected = 2 if mode == "late" else 0
        assert second[outbox.TASKS_TABLE] == expected
        assert _outbox_count(wh) == _outbox_count(ops) == 3 + expected
        dupes = wh.execute(f"select count(*) - count(distinct task_id) from {outbox.TASKS_TABLE}").fetchone()[0]
        assert dupes == 0
        events = wh.execute(f"select count(*) - count(distinct event_seq) from {outbox.EVENTS_TABLE}").fetchone()[0]
        assert events == 0

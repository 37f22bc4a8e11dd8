"""The cross-process store locks (connectors.locks): a later writer waits, bounded, and its message
names the holder and what to do; a holder killed with SIGKILL frees the lock at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from connectors import locks

ROOT = Path(__file__).resolve().parents[2]

HOLDER = """
import sys, time
from connectors import locks
with locks.hold(sys.argv[1], "daily_collections", timeout_s=5, what="the warehouse"):
    print("held", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def _holder(path: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_later_writer_gives_up_after_its_timeout_naming_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "locks" / "warehouse.lock"
    proc = _holder(path, 30)
    waited: list[str] = []
    try:
        started = time.monotonic()
        with (
            pytest.raises(locks.LockTimeout) as caught,
            locks.hold(path, "bank_sync", timeout_s=1.0, on_wait=waited.append),
        ):
            pytest.fail("the lock was taken while another process held it")
        elapsed = time.monotonic() - started
    finally:
        proc.kill()
        proc.wait()
    message = str(caught.value)
    assert 1.0 <= elapsed < 3.0
    assert "daily_collections" in message and f"pid {proc.pid}" in message
    assert "Let that run finish" in message and "service.*_lock_timeout_s" in message
    assert len(waited) == 1 and "held by daily_collections" in waited[0]


def test_a_later_writer_waits_and_runs_when_the_holder_finishes(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.lock"
    proc = _holder(path, 1.5)
    started = time.monotonic()
    with locks.hold(path, "bank_sync", timeout_s=30):
        waited = time.monotonic() - started
        assert locks.holder(path)["flow"] == "bank_sync"
    proc.wait(10)
    assert 0.5 < waited < 10
    assert locks.holder(path) == {}  # released: no stale holder left behind


def test_a_holder_killed_with_sigkill_frees_the_lock(tmp_path: Path) -> None:
    path = tmp_path / "ops.lock"
    proc = _holder(path, 60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    started = time.monotonic()
    with locks.hold(path, "dispatcher", timeout_s=5):
        assert time.monotonic() - started < 1.0


def test_the_flow_holding_the_lock_can_take_it_again_in_a_stage(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.lock"
    with locks.hold(path, "daily_collections", timeout_s=1), locks.hold(path, "decide", timeout_s=1):
        assert locks.holder(path)["flow"] == "daily_collections"

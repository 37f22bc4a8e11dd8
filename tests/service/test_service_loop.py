"""The service loop (flows/loop.py) on a file clock: passes on their intervals, in order, acknowledged per
instant; a failing pass does not stop it; ``stop`` ends it. The clock sources of connectors/clock.py."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors.clock import Clock, FileClock, open_clock, read_ack, write_file_clock
from flows import loop

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def test_next_due_is_the_next_round_time():
    assert loop.next_due(T0, 5) == T0 + timedelta(minutes=5)
    assert loop.next_due(T0 + timedelta(minutes=3, seconds=10), 5) == T0 + timedelta(minutes=5)
    assert loop.next_due(T0 + timedelta(minutes=59), 2) == T0 + timedelta(hours=1)


def test_open_clock():
    assert type(open_clock(None)) is Clock and type(open_clock("wall")) is Clock
    assert isinstance(open_clock("file:/tmp/x"), FileClock)
    with pytest.raises(ValueError, match="file:<path>"):
        open_clock("ntp://pool")


def _wait_ack(path: Path, at: datetime, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while read_ack(path, "loop") != at.isoformat():
        assert time.monotonic() < deadline, f"no ack of {at} (last: {read_ack(path, 'loop')!r})"
        time.sleep(0.02)


def test_loop_runs_each_pass_on_its_interval_and_survives_a_failure(tmp_path, monkeypatch):
    monkeypatch.setenv("COBRANZA_SERVICE__DISPATCH_INTERVAL_MINUTES", "5")
    monkeypatch.setenv("COBRANZA_SERVICE__INBOUND_INTERVAL_MINUTES", "2")
    calls: list[tuple[str, datetime]] = []

    def make(name: str):
        def run(now_utc: datetime) -> dict:
            calls.append((name, now_utc))
            if name == "dispatcher" and now_utc == T0 + timedelta(minutes=5):
                raise RuntimeError("provider down")
            return {}

        return run

    monkeypatch.setattr(loop, "_pass_flows", lambda: {n: make(n) for n in loop.PASSES})
    clock = tmp_path / "clock"
    result: dict = {}
    thread = threading.Thread(target=lambda: result.update(loop.service_loop.fn(clock=f"file:{clock}")))
    thread.start()
    try:
        for minutes in (0, 1, 2, 5, 6, 10):
            at = T0 + timedelta(minutes=minutes)
            write_file_clock(clock, at)
            _wait_ack(clock, at)
    finally:
        write_file_clock(clock, "stop")
        thread.join(20)
    assert not thread.is_alive()
    got = [(n, int((t - T0).total_seconds() // 60)) for n, t in calls]
    # inbound first at an instant where both are due; inbound every 2 minutes, the dispatcher every 5
    assert got == [
        ("inbound", 0), ("dispatcher", 0),
        ("inbound", 2),
        ("inbound", 5), ("dispatcher", 5),  # the dispatcher fails here; the loop goes on
        ("inbound", 6),
        ("inbound", 10), ("dispatcher", 10),
    ]  # fmt: skip
    assert result == {"ran": {"inbound": 5, "dispatcher": 2}, "failed": {"inbound": 0, "dispatcher": 1}}


def test_a_clock_jump_gets_one_pass_per_flow(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr(loop, "_pass_flows", lambda: {n: (lambda n=n, **_: calls.append(n)) for n in loop.PASSES})
    clock = tmp_path / "clock"
    write_file_clock(clock, T0)
    thread = threading.Thread(target=lambda: loop.service_loop.fn(clock=f"file:{clock}", max_instants=2))
    thread.start()
    _wait_ack(clock, T0)
    write_file_clock(clock, T0 + timedelta(hours=9))  # a quiet night skipped by an accelerated clock
    thread.join(20)
    assert not thread.is_alive() and calls == ["inbound", "dispatcher", "inbound", "dispatcher"]


def test_a_driver_naming_the_passes_defers_the_others(tmp_path, monkeypatch):
    # bench/live_week posts a reply between two windows: only the inbound pass runs; the dispatcher stays
    # due and runs at the next instant. The receiver's peek reads the instant of such a file too.
    calls: list[tuple[str, int]] = []
    monkeypatch.setattr(
        loop,
        "_pass_flows",
        lambda: {n: (lambda n=n, now_utc=None: calls.append((n, (now_utc - T0).seconds // 60))) for n in loop.PASSES},
    )
    clock = tmp_path / "clock"
    write_file_clock(clock, T0)
    thread = threading.Thread(target=lambda: loop.service_loop.fn(clock=f"file:{clock}", max_instants=3))
    thread.start()
    _wait_ack(clock, T0)
    write_file_clock(clock, T0 + timedelta(minutes=7), passes=("inbound",))
    assert open_clock(f"file:{clock}").peek() == T0 + timedelta(minutes=7)
    _wait_ack(clock, T0 + timedelta(minutes=7))
    write_file_clock(clock, T0 + timedelta(minutes=8))
    thread.join(20)
    assert not thread.is_alive()
    assert calls == [("inbound", 0), ("dispatcher", 0), ("inbound", 7), ("inbound", 8), ("dispatcher", 8)]

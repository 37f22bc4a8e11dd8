"""Cross-process locks on the data stores (``fcntl.flock`` on a lock file), with a bounded wait.

DuckDB lets one process write a database file; two flows that open it at once fail with "Could not
set lock on file". The warehouse writers (daily run, bank sync) therefore hold the *warehouse lock*
for their whole run, and everything that touches the operational store holds the *ops lock* for the
few seconds it needs. A later flow waits for the lock, polling, at most ``timeout_s`` seconds; then it
gives up with :class:`LockTimeout`, whose message names the holder (flow, pid, host, since when) and
what to do. The holder's description is written into the lock file; the kernel releases a ``flock``
when its process dies (``kill -9`` included), so a crashed flow never leaves a stale lock behind.

A plain library: the caller passes the lock file, the holder's name and the time-out (flows read them
from the settings).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

logger = logging.getLogger(__name__)

#: Seconds between two attempts to take a busy lock.
POLL_S = 0.2
#: Longest holder record read from a lock file (a record is ~120 bytes; anything longer is not ours).
_HOLDER_MAX_BYTES = 4096
#: Locks this process holds (resolved path -> depth): a flow's stage that takes the lock its flow
#: already holds goes straight on (a second ``flock`` on a new descriptor would wait for itself).
_HELD: dict[Path, int] = {}
_HELD_GUARD = threading.Lock()


class LockTimeout(TimeoutError):
    """A lock stayed busy longer than the caller's time-out; the message names the holder."""


class LockUnusable(OSError):
    """The lock file cannot be opened as a file (a folder in its place, no permission)."""


def holder(path: Path) -> dict[str, object]:
    """Who holds (or last held) the lock at ``path``: ``flow``, ``pid``, ``host``, ``since``; ``{}`` if unknown."""
    try:
        with Path(path).open("rb") as fh:
            text = fh.read(_HOLDER_MAX_BYTES).decode("utf-8").strip()
        info = json.loads(text) if text else {}
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) else {}


def describe(info: dict[str, object]) -> str:
    """``<flow> (pid N on host) since T`` for a holder record."""
    if not info:
        return "another process (no holder recorded)"
    where = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
    return f"{info.get('flow', '?')} ({where}) since {info.get('since', '?')}"


@contextmanager
def hold(
    path: Path,
    who: str,
    *,
    timeout_s: float,
    what: str = "the store",
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """Hold the exclusive lock at ``path`` for the block; wait at most ``timeout_s`` seconds for it.

    Args:
        path: Lock file (created with its folder if missing).
        who: Name of the holder written into the lock file (e.g. ``daily_collections``).
        timeout_s: Longest wait before :class:`LockTimeout`.
        what: What the lock protects, for messages (e.g. ``the warehouse data/warehouse.duckdb``).
        on_wait: Called once with a message when the lock is busy and the wait starts (default: a log line).

    Raises:
        LockTimeout: Still busy after ``timeout_s``; the message names the holder and what to do.
    """
    path = Path(path).resolve()
    with _HELD_GUARD:
        nested = path in _HELD
        if nested:
            _HELD[path] += 1
    if nested:
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD[path] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise LockUnusable(
            f"cannot open the lock file {path} for {what}: {exc.strerror or exc}. Remove what is in its place "
            "(it must be a plain file the service's user can write) or point the lock setting elsewhere"
        ) from exc
    try:
        deadline = time.monotonic() + timeout_s
        announced = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                busy = describe(holder(path))
                if not announced:
                    message = f"waiting for the lock on {what} held by {busy} (at most {timeout_s:g} s)"
                    (on_wait or logger.warning)(message)
                    announced = True
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"gave up after {timeout_s:g} s waiting for the lock on {what} ({path}): it is held by "
                        f"{busy}. Let that run finish (or stop it if it hangs: the lock is freed when its process "
                        "ends), then run again; raise the time-out (service.*_lock_timeout_s) if such runs are "
                        "expected to take longer"
                    ) from None
                time.sleep(POLL_S)
        record = {"flow": who, "pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat()}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(record).encode(), 0)
        with _HELD_GUARD:
            _HELD[path] = 1
        try:
            yield
        finally:
            with _HELD_GUARD:
                _HELD.pop(path, None)
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)

"""Where the service loop reads the time: the wall clock in production, a file a harness advances.

``open_clock(None)`` (or ``"wall"``) is the wall clock: ``now()`` is the current UTC instant and
``wait(until)`` sleeps until then. ``open_clock("file:/path/clock")`` is an accelerated clock a
harness drives (``bench/live_week.py``): the file holds one ISO-8601 instant (written atomically by
:func:`write_file_clock`), or ``stop``; ``now()`` reads it, ``wait(until)`` returns as soon as the
file changes (the harness moved the clock) or says ``stop``, and ``ack(name, at)`` tells the harness
that every pass due at ``at`` is done (``<path>.<name>.ack``), so it can move the clock on. The same
loop code runs on either. A harness that knows which passes have work at an instant may name them after
the instant (``<instant> inbound``: a reply landed and no window opened); the others wait for the next
instant (:meth:`Clock.passes`; the wall clock never names any).
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path

#: Seconds between two reads of a file clock while waiting for it to move.
POLL_S = 0.05


class ClockStopped(Exception):
    """The file clock says ``stop``: the loop reading it ends."""


class Clock:
    """The wall clock."""

    spec = "wall"

    def now(self) -> datetime:
        """The current instant (UTC)."""
        return datetime.now(UTC)

    def peek(self) -> datetime:
        """The current instant without ever waiting (what a request handler stamps events with)."""
        return self.now()

    def wait(self, until: datetime, *, max_s: float = 60.0) -> None:
        """Sleep until ``until`` (at most ``max_s``, so a stop request is seen)."""
        time.sleep(max(0.0, min(max_s, (until - self.now()).total_seconds())))

    def stopped(self) -> bool:
        """Whether the clock says stop (never, for the wall clock)."""
        return False

    def passes(self) -> tuple[str, ...] | None:
        """The passes the clock's driver asks for at the instant :meth:`now` returned (``None``: every one due)."""
        return None

    def ack(self, name: str, at: datetime) -> None:
        """Nothing to acknowledge on the wall clock."""


class FileClock(Clock):
    """A clock whose instant is the content of a file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.spec = f"file:{self.path}"
        self._last = ""
        self._passes: tuple[str, ...] | None = None

    def _read(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return ""

    def now(self) -> datetime:
        """The instant in the file (waits for the file to exist)."""
        while True:
            text = self._read()
            if text and text != "stop":
                self._last = text
                at, self._passes = _parse(text)
                return at
            if text == "stop":
                raise ClockStopped(f"the clock {self.path} says stop")
            time.sleep(POLL_S)

    def peek(self) -> datetime:
        """The instant in the file now; the last one read when it says ``stop`` or is missing or garbled,
        the wall clock before any (never waits, never raises: a web request must not hang on the harness)."""
        text = self._read()
        for candidate in (text, self._last):
            if candidate and candidate != "stop":
                try:
                    at, _ = _parse(candidate)
                except ValueError:
                    continue
                self._last = candidate
                return at
        return datetime.now(UTC)

    def wait(self, until: datetime, *, max_s: float = 60.0) -> None:
        """Return once the file holds another instant than the last one read (or ``stop``), or after ``max_s``."""
        deadline = time.monotonic() + max_s
        while time.monotonic() < deadline:
            text = self._read()
            if text and text != self._last:
                return
            time.sleep(POLL_S)

    def stopped(self) -> bool:
        """Whether the file says ``stop``."""
        return self._read() == "stop"

    def passes(self) -> tuple[str, ...] | None:
        """The passes named after the instant :meth:`now` last read (``None``: none named, every one due)."""
        return self._passes

    def ack(self, name: str, at: datetime) -> None:
        """Write ``at`` to ``<path>.<name>.ack`` (atomically): the passes due at ``at`` are done."""
        _atomic_write(Path(f"{self.path}.{name}.ack"), at.isoformat())


def open_clock(spec: str | None) -> Clock:
    """The clock named by ``spec``: ``None``/``"wall"`` or ``"file:<path>"``.

    Raises:
        ValueError: Another spec; the message lists the accepted ones.
    """
    if spec in (None, "", "wall"):
        return Clock()
    if spec.startswith("file:"):
        return FileClock(Path(spec.removeprefix("file:")))
    raise ValueError(f"unknown clock {spec!r}: use 'wall' (the default) or 'file:<path>' (an accelerated clock)")


def write_file_clock(path: Path, at: datetime | str, passes: tuple[str, ...] | None = None) -> None:
    """Set a file clock to ``at`` (or ``"stop"``), atomically; ``passes``: only these run at ``at``."""
    text = at if isinstance(at, str) else at.isoformat()
    _atomic_write(Path(path), text if passes is None else f"{text} {','.join(passes)}")


def _parse(text: str) -> tuple[datetime, tuple[str, ...] | None]:
    """``<ISO instant>[ <pass>,<pass>]`` -> (the instant, UTC if naive; the passes named or ``None``)."""
    instant, _, names = text.partition(" ")
    at = datetime.fromisoformat(instant)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)), (tuple(names.split(",")) if names else None)


def read_ack(path: Path, name: str) -> str:
    """The last instant the loop ``name`` acknowledged on the file clock at ``path`` ('' if none yet)."""
    try:
        return Path(f"{path}.{name}.ack").read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)

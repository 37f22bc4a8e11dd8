"""Stage progress of a running flow, for whoever watches it (the CLI's rich progress bar).

Flows announce each stage before running it; listeners registered with :func:`watching` hear
``(stage, done, total)``. Nothing listens under Prefect deployments or in tests, so announcing
costs nothing there. A listener that raises never breaks the run: progress is cosmetic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[str, int, int], None]

_listeners: list[Listener] = []
logger = logging.getLogger(__name__)


@contextmanager
def watching(listener: Listener) -> Iterator[None]:
    """Call ``listener(stage, done, total)`` for every stage announced while the block runs."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def announce(stage: str, done: int, total: int) -> None:
    """Tell the listeners that ``stage`` starts after ``done`` of ``total`` stages."""
    for listener in list(_listeners):
        try:
            listener(stage, done, total)
        except Exception:  # noqa: BLE001 - a broken progress display must not stop a collections run
            logger.debug("progress listener failed", exc_info=True)

"""Pieces the channel emulators share: seeded fault injection and a background webhook pusher.

Faults (``FaultPlan``) reproduce what real providers do under load, at a chosen rate and seed:
``429`` (throttled, with ``Retry-After``: never processed), ``5xx`` (not processed), and two kinds of
timeout that look the same to a client whose read timeout is shorter than ``hang_s``:
``timeout_after`` (the message *was* accepted, only the answer is late: the ambiguous case) and
``timeout_before`` (the request was lost and nothing was processed).

``WebhookPusher`` delivers callbacks (delivery/read statuses, inbound messages) from a daemon
thread, like a provider's webhook service: at-least-once, retrying a failed POST a few times, and
grouping queued items per URL when the provider batches them (WhatsApp puts several statuses in one
envelope; Twilio sends one form POST per event).
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

log = logging.getLogger(__name__)

FAULT_KINDS = ("429", "5xx", "timeout_after", "timeout_before")


@dataclass
class FaultPlan:
    """Which requests fail and how.

    Attributes:
        rate: Share of requests that get a fault (0 = none).
        kinds: Fault kinds drawn uniformly (subset of ``FAULT_KINDS``).
        seed: RNG seed (deterministic per emulator instance).
        hang_s: How long a timeout fault holds the answer (longer than the client's read timeout).
        retry_after: ``Retry-After`` seconds sent with 429.
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 7
    hang_s: float = 2.0
    retry_after: str = "1"
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {FAULT_KINDS}")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self) -> str | None:
        """The fault for the next request, or None."""
        if not self.rate:
            return None
        with self._lock:
            if self._rng.random() >= self.rate:
                return None
            kind = self._rng.choice(self.kinds)
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return kind


Build = Callable[[str, list[Any]], list[tuple[bytes, dict[str, str]]]]


class WebhookPusher:
    """Posts callbacks from a daemon thread (at-least-once, a few retries, optional batching).

    Args:
        build: ``(url, items) -> [(body, headers), ...]``: turns queued items for one URL into signed
            requests (one per item, or one envelope for many).
        batch: Max items handed to ``build`` at once.
        attempts: POST attempts per request before giving up (logged).
    """

    def __init__(self, build: Build, *, batch: int = 1, attempts: int = 4) -> None:
        self._build = build
        self._batch = max(1, batch)
        self._attempts = attempts
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._session = requests.Session()
        self.delivered = 0
        self.failed = 0
        self._pending = 0
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="webhook-pusher", daemon=True)
        self._thread.start()

    def push(self, url: str | None, item: Any) -> None:
        """Queue one callback item for ``url`` (ignored when no URL is configured)."""
        if not url:
            return
        with self._cond:
            self._pending += 1
        self._queue.put((url, item))

    def drain(self, timeout: float = 10.0) -> bool:
        """Wait until every queued callback was posted (or given up); True when idle in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        while True:
            url, item = self._queue.get()
            items = [(url, item)]
            while len(items) < self._batch:
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            by_url: dict[str, list[Any]] = {}
            for u, it in items:
                by_url.setdefault(u, []).append(it)
            for u, its in by_url.items():
                try:
                    requests_ = self._build(u, its)
                except Exception:
                    log.exception("webhook build failed for %s", u)
                    requests_ = []
                for body, headers in requests_:
                    self._post(u, body, headers)
            with self._cond:
                self._pending -= len(items)
                self._cond.notify_all()

    def _post(self, url: str, body: bytes, headers: dict[str, str]) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                resp = self._session.post(url, data=body, headers=headers, timeout=5)
                if resp.status_code < 300:
                    self.delivered += 1
                    return
                log.warning("webhook %s answered %s (attempt %d)", url, resp.status_code, attempt)
            except requests.RequestException as exc:
                log.warning("webhook %s failed: %s (attempt %d)", url, type(exc).__name__, attempt)
            time.sleep(0.05 * attempt)
        self.failed += 1

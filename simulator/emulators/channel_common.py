"""Pieces the channel emulators share: seeded fault injection and a background webhook pusher.

Faults (``FaultPlan``) reproduce what real providers and the gateways in front of them do under
load, at a chosen rate and seed:

- ``429``: throttled, with ``Retry-After`` (omitted when ``retry_after`` is empty): never processed;
- ``429_storm``: this request and the next ``storm_len - 1`` all get 429 (a burst over the limit);
- ``5xx``: refused with 5xx before anything was processed;
- ``504_after``: the provider **accepted** the request, then the gateway answered 504 with its own
  HTML page (the case that duplicated messages when 5xx were retried blindly);
- ``html_after``: accepted, then a proxy answered 200 with an HTML page instead of the provider's JSON;
- ``timeout_after``: accepted, only the answer is late (longer than the client's read timeout);
- ``timeout_before``: the request was held and then refused (nothing processed); to a client with a
  shorter read timeout it looks exactly like ``timeout_after``.

``FaultProxy`` adds what an HTTP app cannot do itself: a TCP connection reset before the request
reaches the provider, or after the provider answered (the answer is dropped).

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
from starlette.responses import Response

log = logging.getLogger(__name__)

FAULT_KINDS = ("429", "5xx", "timeout_after", "timeout_before", "504_after", "html_after", "429_storm")
#: Faults after which the provider has processed the request (the answer is lost or wrong).
ACCEPTED_FAULTS = ("timeout_after", "504_after", "html_after")
#: A gateway's 504 page (what a load balancer answers when the provider was slow to answer).
GATEWAY_504 = b"<html><head><title>504 Gateway Time-out</title></head><body><h1>504 Gateway Time-out</h1></body></html>"
#: A captive proxy's page answered with 200.
PROXY_HTML = b"<!DOCTYPE html><html><body><p>Request received.</p></body></html>"


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
    storm_len: int = 20
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; use {FAULT_KINDS}")
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()
        self._storm_left = 0
        self._script: list[str | None] = []

    def script(self, *faults: str | None) -> None:
        """Force the faults of the next requests, in order (None = no fault), before random draws."""
        with self._lock:
            self._script.extend(faults)

    def draw(self) -> str | None:
        """The fault for the next request, or None (``429_storm`` is reported as ``429``)."""
        with self._lock:
            if self._script:
                kind = self._script.pop(0)
            elif self._storm_left > 0:
                kind = "429_storm"
            elif not self.rate or self._rng.random() >= self.rate:
                return None
            else:
                kind = self._rng.choice(self.kinds)
            if kind is None:
                return None
            if kind == "429_storm":
                self._storm_left = (self._storm_left or self.storm_len) - 1
            self.counts[kind] = self.counts.get(kind, 0) + 1
            return "429" if kind == "429_storm" else kind

    def throttle_headers(self) -> dict[str, str]:
        """Headers of a 429: ``Retry-After`` unless the plan sends none."""
        return {"Retry-After": self.retry_after} if self.retry_after else {}


def gateway_fault(fault: str | None, resp: Response) -> Response:
    """The answer after the request was processed: ``resp``, or what a gateway/proxy put in its place."""
    if fault == "504_after":
        return Response(GATEWAY_504, status_code=504, media_type="text/html")
    if fault == "html_after":
        return Response(PROXY_HTML, status_code=200, media_type="text/html")
    return resp


Build = Callable[[str, list[Any]], list[tuple[bytes, dict[str, str]]]]


class WebhookPusher:
    """Posts callbacks from a daemon thread (at-least-once, a few retries, optional batching).

    Args:
        build: ``(url, items) -> [(body, headers), ...]``: turns queued items for one URL into signed
            requests (one per item, or one envelope for many).
        batch: Max items handed to ``build`` at once.
        attempts: POST attempts per request before giving up (logged).
        backoff_s: Wait before the n-th retry is ``backoff_s * n`` (a real provider retries for hours:
            raise ``attempts`` and this to ride out a receiver restart).
    """

    def __init__(self, build: Build, *, batch: int = 1, attempts: int = 4, backoff_s: float = 0.05) -> None:
        self._build = build
        self._batch = max(1, batch)
        self.attempts = attempts
        self.backoff_s = backoff_s
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
        for attempt in range(1, self.attempts + 1):
            try:
                resp = self._session.post(url, data=body, headers=headers, timeout=5)
                if resp.status_code < 300:
                    self.delivered += 1
                    return
                log.warning("webhook %s answered %s (attempt %d)", url, resp.status_code, attempt)
            except requests.RequestException as exc:
                log.warning("webhook %s failed: %s (attempt %d)", url, type(exc).__name__, attempt)
            time.sleep(self.backoff_s * attempt)
        self.failed += 1


class FaultProxy:
    """A TCP proxy on 127.0.0.1 in front of an emulator that can reset connections.

    Each incoming connection carries one HTTP request (the proxy asks the upstream to close after
    answering, and passes ``Connection: close`` back, so clients never reuse a proxied connection).
    The mode of the next connections is taken from :meth:`script` (default ``pass``):

    - ``pass``: forward the request, relay the answer;
    - ``reset_before``: read the request, then reset the connection (RST) without forwarding it: the
      provider never saw it, yet the client's request was written (the client cannot tell);
    - ``reset_after``: forward the request, read the provider's whole answer, then reset the client
      connection: the provider processed the request, the client lost the answer.

    Args:
        upstream: ``(host, port)`` of the emulator.
    """

    def __init__(self, upstream: tuple[str, int]) -> None:
        import socket

        self.upstream = upstream
        self.modes: list[str] = []
        self.seen: list[str] = []
        self._lock = threading.Lock()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="fault-proxy", daemon=True)
        self._thread.start()

    def script(self, *modes: str) -> None:
        """Modes of the next connections, in order (``pass``, ``reset_before``, ``reset_after``)."""
        bad = set(modes) - {"pass", "reset_before", "reset_after"}
        if bad:
            raise ValueError(f"unknown proxy modes {sorted(bad)}")
        with self._lock:
            self.modes.extend(modes)

    def close(self) -> None:
        """Stop accepting connections."""
        self._stop.set()
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    @staticmethod
    def _read_request(client: Any) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = client.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            chunk = client.recv(65536)
            if not chunk:
                break
            body += chunk
        lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"connection:")]
        return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body

    @staticmethod
    def _reset(client: Any) -> None:
        import socket
        import struct

        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()

    def _handle(self, client: Any) -> None:
        import socket

        with self._lock:
            mode = self.modes.pop(0) if self.modes else "pass"
            self.seen.append(mode)
        try:
            request = self._read_request(client)
            if mode == "reset_before" or not request:
                self._reset(client)
                return
            with socket.create_connection(self.upstream, timeout=30) as up:
                up.sendall(request)
                answer = b""
                while chunk := up.recv(65536):
                    answer += chunk
            if mode == "reset_after":
                self._reset(client)
                return
            client.sendall(answer)
            client.close()
        except OSError:
            client.close()

"""What every channel provider shares: the ``Sender`` protocol, send results, secrets and a pooled HTTP sender.

``connectors.channels.outbox.dispatch`` drives any object that follows :class:`Sender`. Providers that
speak HTTP (WhatsApp Cloud API, Twilio, HubSpot) derive from :class:`HTTPChannelSender`, which gives
them, in one place:

- a ``urllib3`` connection pool used directly (keep-alive, one connection per worker thread) and a
  thread pool, so a batch is sent concurrently (CONNECTORS.md §4; the bar in DESIGN.md §9 is
  >= 1,000 msg/s). Not ``requests``: its per-request machinery (environment and CA-path checks,
  hooks, cookie jar, adapter lookup) cost about half of the client's CPU per message, and the send
  path needs none of it. Proxy and CA-bundle settings are still read from the environment, once;
- a per-provider rate limit (``connectors.http.RateLimiter``), since providers meter per number/account;
- retries with exponential back-off and jitter, honouring ``Retry-After`` (capped), of what
  certainly was not processed: 429 (Twilio: "never processed and always safe to retry"; Graph
  130429; HubSpot RATE_LIMITS) and a request that never left (connection refused, connect
  timeout). A **send** (``call(..., idempotent=False)``) that may have reached the provider - a
  5xx (a gateway's 502/503/504 may come after the provider accepted the POST), a read timeout, a
  connection dropped after the request was written - is **never** retried: it is reported as
  *ambiguous* and the outbox marks the task ``unknown`` until ``reconcile`` settles it with the
  provider. Read-only calls (status lookups, searches) keep retrying 5xx;
- per-message claiming: ``send_batch(tasks, claim=..., report=...)`` calls ``claim(task)`` right
  before a task's first request leaves (the outbox writes ``sending`` durably there) and
  ``report(task, result)`` as soon as its answer is classified, so a crash leaves only the
  messages in flight uncertain;
- redaction of credentials in every error text (``connectors.http.Redactor``).

Provider configs and their secrets come from the environment or a Prefect ``Secret`` block through
the one mechanism every connector uses (``connectors.secrets.EnvConfig``), never from settings
files, and are never logged.
"""

from __future__ import annotations

import json as jsonlib
import logging
import os
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode, urlsplit

import certifi
import requests.utils
import urllib3
from urllib3.exceptions import ConnectTimeoutError, HTTPError, ReadTimeoutError

from connectors.http import RETRYABLE_STATUS, RateLimiter, Redactor, _install_urllib3_filter, parse_retry_after
from connectors.secrets import ConnectorConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    """Outcome of handing one task to a channel provider.

    Attributes:
        task_id: The task.
        ok: Whether the provider accepted the message.
        provider_message_id: Provider's id when accepted.
        detail: Error text or a note.
        retryable: For failures, whether a later attempt may succeed (429/5xx after the in-call
            retries, connection refused) or not (validation error, bad template, auth): non-retryable
            failures go straight to ``dead``.
        ambiguous: The request may have reached the provider (timeout after it left): the task becomes
            ``unknown`` and is never resent blindly.
    """

    task_id: str
    ok: bool
    provider_message_id: str | None = None
    detail: str | None = None
    retryable: bool = True
    ambiguous: bool = False


@runtime_checkable
class Sender(Protocol):
    """What ``dispatch`` needs from a channel provider."""

    name: str

    def send_batch(self, tasks: Sequence[Mapping[str, Any]]) -> list[SendResult]:
        """Hand tasks to the provider; one result per task, in any order."""
        ...

    def reconcile(self, tasks: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
        """For tasks left in ``sending``/``unknown``: ``{task_id: provider_message_id}`` if the provider
        has the message, ``{task_id: None}`` if it certainly does not; omit the ones it cannot tell."""
        ...


class ChannelConfigError(ConnectorConfigError, RuntimeError):
    """A channel is selected but not configured (missing secret, URL or sender id)."""


class Ambiguous(Exception):
    """The request may have reached the provider; do not resend without a status lookup."""


class ClaimFailed(Exception):
    """The outbox could not record ``sending`` before a send: nothing may be sent (stops the batch)."""


#: ``claim(task)``: called right before a task's first request leaves; raises ``ClaimFailed`` to stop it.
Claim = Callable[[Mapping[str, Any]], None]
#: ``report(task, result)``: called as soon as a task's outcome is known.
Report = Callable[[Mapping[str, Any], "SendResult"], None]


def _no_claim(task: Mapping[str, Any]) -> None:
    return None


class NotSent(Exception):
    """The request certainly did not reach the provider (or it refused it with 429/5xx after retries)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class SenderStats:
    """Counters of one sender (thread-safe updates through ``add``)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    server_errors: int = 0
    ambiguous: int = 0
    waited_s: float = 0.0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, **deltas: float) -> None:
        """Add to counters atomically."""
        with self._lock:
            for key, value in deltas.items():
                setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, float]:
        """Counters as a plain dict."""
        return {k: getattr(self, k) for k in ("requests", "retries", "throttled", "server_errors", "ambiguous")}


def provider_options(config: Any) -> dict[str, Any]:
    """The connection options every provider config carries, as :class:`HTTPChannelSender` arguments."""
    return {
        "base_url": config.base_url,
        "concurrency": config.concurrency,
        "rate_limit_per_s": config.rate_limit_per_s,
        "max_attempts": config.max_attempts,
        "read_timeout": config.read_timeout,
    }


class HTTPChannelSender:
    """Base of HTTP channel providers: pooled connections, worker threads, rate limit, safe retries.

    Subclasses implement :meth:`send_one` (build the request, classify the answer) and
    :meth:`reconcile`.

    Args:
        base_url: Provider root URL (an emulator on 127.0.0.1 in tests and the demo).
        name: Provider name used in logs and results.
        secrets: Values to redact from any error text.
        concurrency: Worker threads (and pooled connections) per batch.
        rate_limit_per_s: Requests per second to this provider (None = unlimited).
        max_attempts: Attempts per message inside one dispatch run (429/5xx/not-connected only).
        backoff_base: Exponential back-off multiplier, seconds.
        backoff_max: Cap of one back-off wait, seconds.
        retry_after_cap: Cap applied to the provider's ``Retry-After``, seconds.
        connect_timeout: Seconds to connect.
        read_timeout: Seconds to wait for the answer; past it the outcome is ambiguous.
        sleep: Sleep function (tests may inject one).
    """

    name = "http"

    def __init__(
        self,
        base_url: str,
        *,
        name: str | None = None,
        secrets: Sequence[str] = (),
        concurrency: int = 16,
        rate_limit_per_s: float | None = None,
        max_attempts: int = 4,
        backoff_base: float = 0.2,
        backoff_max: float = 5.0,
        retry_after_cap: float = 30.0,
        connect_timeout: float = 3.0,
        read_timeout: float = 10.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        if name:
            self.name = name
        self.redact = Redactor(secrets)
        self.concurrency = max(1, concurrency)
        self.max_attempts = max(1, max_attempts)
        self.backoff_base, self.backoff_max, self.retry_after_cap = backoff_base, backoff_max, retry_after_cap
        self.timeout = (connect_timeout, read_timeout)
        self._sleep = sleep
        self._limiter = RateLimiter(rate_limit_per_s, sleep=sleep)
        self.stats = SenderStats()
        #: Headers sent with every request (subclasses add ``Authorization`` and the like).
        self.headers: dict[str, str] = {
            "User-Agent": f"cobranza-{self.name}",
            "Accept": "application/json",
            "Accept-Encoding": "gzip, deflate",
        }
        self._http, self._base_pool = _pool_manager(self.base_url, self.concurrency, (connect_timeout, read_timeout))
        self._base_path = urlsplit(self.base_url).path.rstrip("/")
        _install_urllib3_filter(self.redact)
        self._pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix=f"send-{self.name}")

    def set_basic_auth(self, user: str, password: str) -> None:
        """Send HTTP Basic credentials with every request (Twilio's ``AccountSid:AuthToken``)."""
        self.headers.update(urllib3.util.make_headers(basic_auth=f"{user}:{password}"))

    def close(self) -> None:
        """Stop the worker threads and close pooled connections."""
        self._pool.shutdown(wait=True)
        self._http.clear()

    def __enter__(self) -> HTTPChannelSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one HTTP call with the retry rules ------------------------------------------------------

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        return random.uniform(0, min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1)))  # noqa: S311

    def _encode(
        self, params: Mapping[str, Any] | None, data: Mapping[str, Any] | bytes | str | None, json: Any
    ) -> tuple[str, bytes | None, dict[str, str]]:
        """Query string, body and headers of one request (``requests``' ``params``/``data``/``json``)."""
        query = urlencode({k: v for k, v in params.items() if v is not None}, doseq=True) if params else ""
        headers = self.headers
        body: bytes | None = None
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False).encode()
            headers = {**headers, "Content-Type": "application/json"}
        elif isinstance(data, Mapping):
            body = urlencode(data, doseq=True).encode()
            headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        elif data is not None:
            body = data.encode() if isinstance(data, str) else data
        return query, body, headers

    def _request(self, method: str, path: str, query: str, body: bytes | None, headers: dict[str, str]) -> HTTPReply:
        if "://" in path or self._base_pool is None:
            url = path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"
            if query:
                url += ("&" if "?" in url else "?") + query
            resp = self._http.urlopen(method, url, body=body, headers=headers, redirect=False)
        else:
            target = f"{self._base_path}/{path.lstrip('/')}" + (f"?{query}" if query else "")
            resp = self._base_pool.urlopen(method, target, body=body, headers=headers, redirect=False)
        return HTTPReply(resp.status, resp.headers, resp.data)

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        data: Mapping[str, Any] | bytes | str | None = None,
        json: Any = None,
        idempotent: bool = True,
        before_send: Callable[[], None] | None = None,
    ) -> HTTPReply:
        """Send one request; retry only what certainly was not processed.

        Args:
            method: HTTP method.
            path: Path under ``base_url``, or an absolute URL (a provider's next-page link).
            params: Query parameters (None values left out).
            data: Form fields (form-encoded) or a raw body (sent as given; set ``Content-Type`` in
                :attr:`headers`).
            json: A body to send as JSON.
            idempotent: False for a call that creates something at the provider (a message, a
                task): a 5xx answer is then ambiguous (the provider may have processed the request
                before a gateway answered 502/503/504) and is never retried. True (lookups,
                searches): 5xx is retried like 429.
            before_send: Called once, right before the first attempt leaves (the outbox's claim).

        Returns:
            The first response that is neither 429 nor (for idempotent calls) 5xx.

        Raises:
            Ambiguous: Read timeout, connection lost after the request was written, or a 5xx answer
                to a non-idempotent call.
            NotSent: Still 429 (or 5xx, idempotent calls) or unreachable after ``max_attempts``.
        """
        query, body, headers = self._encode(params, data, json)
        last = ""
        status: int | None = None
        for attempt in range(1, self.max_attempts + 1):
            self.stats.add(waited_s=self._limiter.acquire(), requests=1)
            if attempt == 1 and before_send is not None:
                before_send()  # after the rate limiter's wait: the claim is as close to the send as it gets
            retry_after = None
            try:
                resp = self._request(method, path, query, body, headers)
            except ConnectTimeoutError as exc:  # includes NewConnectionError (refused, DNS): nothing left
                last, status = f"not connected ({_reason(exc)})", None
            except ReadTimeoutError:
                self.stats.add(ambiguous=1)
                raise Ambiguous(f"{method} {self._safe_url(path)}: no answer within {self.timeout[1]}s") from None
            except (HTTPError, OSError) as exc:
                if _never_left(exc):
                    last, status = f"not connected ({_reason(exc)})", None
                else:
                    self.stats.add(ambiguous=1)
                    lost = f"{method} {self._safe_url(path)}: connection lost after sending ({_reason(exc)})"
                    raise Ambiguous(lost) from None
            else:
                if resp.status_code not in RETRYABLE_STATUS:
                    return resp
                status = resp.status_code
                self.stats.add(throttled=int(status == 429), server_errors=int(status >= 500))
                if status >= 500 and not idempotent:
                    # A gateway's 502/503/504 says nothing of whether the provider took the request.
                    self.stats.add(ambiguous=1)
                    said = self.redact(resp.text[:200])
                    raise Ambiguous(f"{method} {self._safe_url(path)}: HTTP {status} (may have been accepted): {said}")
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
                last = f"HTTP {status}: {self.redact(resp.text[:200])}"
            if attempt < self.max_attempts:
                wait = self._backoff(attempt, retry_after)
                self.stats.add(retries=1, waited_s=wait)
                self._sleep(wait)
        raise NotSent(f"{method} {self._safe_url(path)}: {last} after {self.max_attempts} attempts", status)

    def _safe_url(self, path: str) -> str:
        return self.redact(path if "://" in path else f"{self.base_url}/{path.lstrip('/')}")

    # --- batches ---------------------------------------------------------------------------------

    def send_one(self, task: Mapping[str, Any], claim: Claim = _no_claim) -> SendResult:
        """Send one task (subclasses); call ``claim(task)`` right before the request leaves
        (pass ``before_send=lambda: claim(task)`` to :meth:`call`)."""
        raise NotImplementedError

    def _safe_send(self, task: Mapping[str, Any], claim: Claim = _no_claim) -> SendResult:
        tid = task["task_id"]
        try:
            return self.send_one(task, claim)
        except ClaimFailed:
            raise
        except Ambiguous as exc:
            return SendResult(tid, False, detail=str(exc), ambiguous=True)
        except NotSent as exc:
            return SendResult(tid, False, detail=str(exc), retryable=True)
        except Exception as exc:  # a bad payload or template must not stop the batch
            logger.exception("%s: task %s could not be prepared", self.name, tid)
            return SendResult(tid, False, detail=self.redact(f"{type(exc).__name__}: {exc}"), retryable=False)

    def send_batch(
        self, tasks: Sequence[Mapping[str, Any]], *, claim: Claim | None = None, report: Report | None = None
    ) -> list[SendResult]:
        """Send the tasks concurrently on the worker threads; one result per task.

        Each worker takes the next task from a shared queue until none is left (one future per
        worker, not per task: a future per message cost as much CPU as parsing its HTTP answer).

        Args:
            tasks: Tasks to send.
            claim: Called right before each task's request leaves (see module docstring).
            report: Called with each task's result as soon as it is known.
        """
        todo = deque(tasks)
        stop = threading.Event()

        def drain() -> list[SendResult]:
            done = []
            while not stop.is_set():
                try:
                    task = todo.popleft()  # atomic: each task goes to exactly one worker
                except IndexError:
                    return done
                try:
                    result = self._safe_send(task, claim or _no_claim)
                except ClaimFailed:
                    stop.set()  # the outbox cannot record sends: no other worker may send either
                    raise
                if report is not None:
                    report(task, result)
                done.append(result)
            return done

        workers = [self._pool.submit(drain) for _ in range(min(self.concurrency, len(todo)))]
        return [result for worker in workers for result in worker.result()]

    def reconcile(self, tasks: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
        """Default: nothing can be confirmed (subclasses with a status lookup override)."""
        return {}


_NEVER_LEFT_MARKERS = ("NewConnectionError", "ConnectTimeoutError", "Connection refused", "Name or service not known")


class HTTPReply:
    """A provider's answer, read whole before its connection went back to the pool.

    The subset of ``requests.Response`` the senders use: ``status_code``, ``headers`` (case-insensitive),
    ``content``, ``text`` and ``json()`` (raises ``ValueError`` on a body that is not JSON).
    """

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        """The body as text (providers answer UTF-8 JSON)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.content)


def _pool_manager(
    base_url: str, maxsize: int, timeout: tuple[float, float]
) -> tuple[urllib3.PoolManager, urllib3.HTTPConnectionPool | None]:
    """A pool manager honouring the environment's proxy and CA settings, read once (as ``requests`` would).

    Returns the manager and, when no proxy is in the way, the pool of ``base_url``'s host, which
    relative paths use directly.
    """
    ca_bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    tls: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED"}
    tls["ca_cert_dir" if os.path.isdir(ca_bundle) else "ca_certs"] = ca_bundle
    common: dict[str, Any] = {
        "num_pools": 4,
        "maxsize": maxsize,
        "retries": False,  # the retry rules are ours (call), never urllib3's
        "timeout": urllib3.Timeout(connect=timeout[0], read=timeout[1]),
        **tls,
    }
    proxy = requests.utils.select_proxy(base_url, requests.utils.get_environ_proxies(base_url))
    if proxy:
        if not proxy.lower().startswith(("http://", "https://")):
            raise ChannelConfigError(f"proxy {proxy!r} for {base_url}: only http(s) proxies are supported; unset it")
        user, password = requests.utils.get_auth_from_url(proxy)
        headers = urllib3.util.make_headers(proxy_basic_auth=f"{user}:{password}") if user else None
        return urllib3.ProxyManager(proxy, proxy_headers=headers, **common), None
    manager = urllib3.PoolManager(**common)
    return manager, manager.connection_from_url(base_url)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 160 else text[:157] + "..."


def _never_left(exc: BaseException) -> bool:
    """Whether a connection error happened before the request could be written (safe to retry)."""
    text = repr(exc)
    return any(marker in text for marker in _NEVER_LEFT_MARKERS)

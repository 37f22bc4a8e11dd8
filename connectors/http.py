"""The one HTTP client every API connector uses (STYLE.md layout: ``connectors/http.py``).

A ``requests.Session`` wrapped with what talking to a vendor API needs, in one place:

- explicit connect and read timeouts on every request;
- retries with exponential back-off and full jitter (tenacity), **only** on 429, 5xx and connection
  errors/timeouts; a 4xx other than 429 is the caller's fault and fails at once. A call that creates
  something (``idempotent=False``) is retried only on what certainly was not processed (429, a
  connection that never opened): a 5xx, a read timeout or a dropped connection may follow a
  processed request, so it raises at once, flagged ``ambiguous`` (DESIGN.md §7);
- ``Retry-After`` honoured (delta-seconds or an HTTP date), capped so a hostile or buggy header
  cannot park a flow for an hour;
- a per-client rate limit (requests per second), since vendor limits are per token/account
  (HubSpot search: about 5 req/s, CONNECTORS.md §3.1);
- credential redaction: ``Authorization`` headers, registered secret values (API keys, passwords,
  tokens, wherever they appear: URLs, JSON bodies such as Odoo's ``args: [db, uid, password, ...]``,
  provider error text), and ``key/token/password``-like query parameters never reach a log record
  or an exception message. A filter on the ``urllib3`` logger applies the same redaction to its
  DEBUG request lines.

Errors are ``SourceHTTPError``: method, redacted URL, status, the provider's own message and what
to do about it (e.g. 401 -> "check COBRANZA_ODOO__API_KEY").
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urljoin

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

from connectors.load import SourceDataError

log = logging.getLogger(__name__)

REDACTED = "***"
RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504, 524})
# Query/JSON keys whose values are credentials whatever their value is.
_SECRET_KEY_RE = (
    r"(?:api[_-]?key|apikey|hapikey|access[_-]?token|refresh[_-]?token|token|password|passwd"
    r"|secret|client[_-]?secret|auth)"
)
_QUERY_SECRET = re.compile(rf"(?i)([?&;]{_SECRET_KEY_RE}=)[^&#\s\"']*")
_JSON_SECRET = re.compile(rf"(?i)(\"{_SECRET_KEY_RE}\"\s*:\s*)(\"(?:[^\"\\]|\\.)*\"|[^,}}\s]+)")
_AUTH_HEADER = re.compile(
    r"(?i)((?:proxy-)?authorization['\"]?\s*[:=]\s*['\"]?)(?:(bearer|basic|token)\s+)?[^'\"\s,}]+"
)
_URL_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/@\s:]+:[^/@\s]+@")

DEFAULT_HINTS: dict[int, str] = {
    400: "the request was refused as invalid; check the connector configuration (object names, property names)",
    401: "the credentials were refused; check the API key/token configured for this source",
    403: "the credentials lack a permission or scope needed for this endpoint; grant it and re-run",
    404: "the endpoint or object does not exist; check the base URL and object names in the configuration",
    429: "the provider's rate limit was still exceeded after all retries; lower rate_limit_per_s or run later",
}


class SourceHTTPError(Exception):
    """An API call failed for good (after retries, or at once for a non-retryable status).

    Attributes:
        ambiguous: The request may have been processed (a non-idempotent call that got a 5xx, a read
            timeout or a connection lost after it was written): do not resend it without asking the
            provider first.
        method: HTTP method.
        url: Redacted URL.
        status: HTTP status, or None when no response arrived (connection error, timeout).
        provider_message: What the provider said (redacted), if anything.
        hint: What to do about it.
    """

    def __init__(
        self,
        method: str,
        url: str,
        status: int | None,
        provider_message: str = "",
        hint: str = "",
        *,
        what: str | None = None,
        ambiguous: bool = False,
    ) -> None:
        self.ambiguous = ambiguous
        self.method = method
        self.url = url
        self.status = status
        self.provider_message = provider_message
        self.hint = hint
        head = what or (f"HTTP {status}" if status is not None else "no response")
        parts = [f"{method} {url} failed: {head}"]
        if provider_message:
            parts.append(f"provider said: {provider_message}")
        if hint:
            parts.append(hint)
        super().__init__("; ".join(parts))


class SourceAuthError(SourceHTTPError):
    """The provider refused the credentials (401, Odoo ``authenticate`` returning False, AccessDenied)."""


class _Retryable(Exception):
    """Internal: a response or transport failure worth another attempt."""

    def __init__(self, reason: str, response: requests.Response | None = None, retry_after: float | None = None):
        super().__init__(reason)
        self.response = response
        self.retry_after = retry_after


class Redactor:
    """Removes credentials from text: registered secret values plus well-known secret shapes."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        for s in secrets:
            self.add(s)

    def add(self, secret: str | None) -> None:
        """Register a secret value (ignored when empty or too short to be a credential)."""
        if secret and len(secret) >= 4:
            self._secrets.add(secret)
            self._secrets.add(json.dumps(secret)[1:-1])  # as it appears inside a JSON string

    def __call__(self, text: object) -> str:
        """Return ``text`` with every credential replaced by ``***``."""
        out = str(text)
        for s in sorted(self._secrets, key=len, reverse=True):
            out = out.replace(s, REDACTED)
        out = _AUTH_HEADER.sub(lambda m: m.group(1) + (m.group(2) + " " if m.group(2) else "") + REDACTED, out)
        out = _QUERY_SECRET.sub(rf"\1{REDACTED}", out)
        out = _JSON_SECRET.sub(rf'\1"{REDACTED}"', out)
        return _URL_USERINFO.sub(rf"\1{REDACTED}@", out)


class _RedactingFilter(logging.Filter):
    """Rewrites records of a third-party logger (urllib3) through the clients' redactors."""

    def __init__(self) -> None:
        super().__init__("cobranza-redact")
        self.redactors: list[Redactor] = []

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102 - logging API
        if self.redactors:
            msg = record.getMessage()
            for r in list(self.redactors):
                msg = r(msg)
            record.msg, record.args = msg, None
        return True


_URLLIB3_FILTER = _RedactingFilter()
_FILTER_LOCK = threading.Lock()


def _install_urllib3_filter(redactor: Redactor) -> None:
    with _FILTER_LOCK:
        lg = logging.getLogger("urllib3.connectionpool")
        if _URLLIB3_FILTER not in lg.filters:
            lg.addFilter(_URLLIB3_FILTER)
        _URLLIB3_FILTER.redactors.append(redactor)
        # Keep the list bounded when many short-lived clients are created (tests, flows).
        del _URLLIB3_FILTER.redactors[:-64]


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None.

    Args:
        value: The header value.
        now: Current time (UTC) for the HTTP-date form; defaults to the clock.

    Returns:
        Non-negative seconds, or None when the header is absent or unreadable.
    """
    if value is None or not str(value).strip():
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class RetryPolicy:
    """When and how long to retry.

    Attributes:
        max_attempts: Attempts in total (first try included).
        backoff_base: Multiplier of the exponential back-off, seconds.
        backoff_max: Upper bound of one back-off wait, seconds.
        retry_after_cap: Upper bound applied to a provider's ``Retry-After``, seconds.
        retry_on_timeout: Also retry read timeouts (safe for read-only calls such as searches).
    """

    max_attempts: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0
    retry_on_timeout: bool = True


@dataclass
class ClientStats:
    """Counters of one client, for logs, run metadata and tests."""

    requests: int = 0
    retries: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    waited_s: float = 0.0


class RateLimiter:
    """Spaces calls at least ``1/rate`` seconds apart (a single-slot token bucket, thread-safe)."""

    def __init__(
        self,
        rate_per_s: float | None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate_per_s if rate_per_s else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until a call is allowed; return the seconds waited."""
        if not self.interval:
            return 0.0
        with self._lock:
            now = self._clock()
            wait = max(0.0, self._next - now)
            self._next = max(now, self._next) + self.interval
        if wait:
            self._sleep(wait)
        return wait


class HTTPClient:
    """Shared HTTP client: timeouts, retry on 429/5xx with back-off, rate limit, redaction.

    Args:
        base_url: Root URL; request paths are joined to it.
        name: Short source name used in log lines (``odoo``, ``hubspot``).
        headers: Default headers (e.g. ``Authorization``); their values are registered as secrets
            when the header name looks like a credential.
        secrets: Extra secret values to redact (passwords/API keys sent in bodies).
        connect_timeout: Seconds to establish a connection.
        read_timeout: Seconds to wait for response bytes.
        retry: Retry policy.
        rate_limit_per_s: Max requests per second from this client (None = unlimited).
        hints: HTTP status -> what the user should do (merged over ``DEFAULT_HINTS``).
        session: A ``requests.Session`` to use (a new one by default).
        sleep: Sleep function (tests inject a fake one).
    """

    def __init__(
        self,
        base_url: str,
        *,
        name: str = "http",
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        retry: RetryPolicy | None = None,
        rate_limit_per_s: float | None = None,
        hints: Mapping[int, str] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/") + "/"
        self.name = name
        self.timeout = (connect_timeout, read_timeout)
        self.retry = retry or RetryPolicy()
        self.hints = {**DEFAULT_HINTS, **(hints or {})}
        self.stats = ClientStats()
        self.redact = Redactor(secrets)
        self._sleep = sleep
        self._limiter = RateLimiter(rate_limit_per_s, sleep=sleep)
        self.session = session or requests.Session()
        for key, value in (headers or {}).items():
            if key.lower() in ("authorization", "proxy-authorization", "x-api-key", "api-key", "x-auth-token"):
                self.redact.add(value)
                self.redact.add(value.split(" ", 1)[-1])
            self.session.headers[key] = value
        _install_urllib3_filter(self.redact)

    def close(self) -> None:
        """Close the underlying session's connections."""
        self.session.close()

    def __enter__(self) -> HTTPClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, path: str) -> str:
        """Absolute URL for ``path`` (absolute URLs pass through)."""
        return urljoin(self.base_url, path.lstrip("/")) if "://" not in path else path

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
    ) -> requests.Response:
        """Send a request with retries; return the successful (< 400) response.

        Args:
            method: HTTP method.
            path: Path relative to ``base_url`` (or an absolute URL).
            json_body: JSON-serialisable body.
            params: Query parameters.
            headers: Extra headers for this request.
            idempotent: True for reads (searches, ``search_read`` over POST): 5xx, timeouts and
                dropped connections are retried. False for a call that creates something: only what
                certainly was not processed is retried (429, connection refused, connect timeout);
                a 5xx (a gateway's 504 may follow a processed request), a read timeout or a
                connection lost after the request was written raises at once with ``ambiguous``.

        Returns:
            The response (status < 400).

        Raises:
            SourceHTTPError: A non-retryable status, or retries exhausted.
            SourceAuthError: HTTP 401.
        """
        method = method.upper()
        url = self.url(path)
        safe_url = self.redact(url)

        def attempt() -> requests.Response:
            self.stats.waited_s += self._limiter.acquire()
            self.stats.requests += 1
            try:
                resp = self.session.request(
                    method, url, json=json_body, params=params, headers=headers, timeout=self.timeout
                )
            except requests.ConnectTimeout as exc:
                raise _Retryable(f"connect timeout ({type(exc).__name__})") from None
            except requests.Timeout as exc:
                if self.retry.retry_on_timeout and idempotent:
                    raise _Retryable(f"read timeout after {self.timeout[1]}s ({type(exc).__name__})") from None
                raise SourceHTTPError(
                    method,
                    safe_url,
                    None,
                    what=f"read timeout after {self.timeout[1]}s" + ("" if idempotent else _MAYBE),
                    hint=_NET_HINT,
                    ambiguous=not idempotent,
                ) from None
            except requests.ConnectionError as exc:
                text = self.redact(_short(exc))
                if idempotent or any(m in repr(exc) for m in _NEVER_LEFT):
                    raise _Retryable(f"connection error: {text}") from None
                raise SourceHTTPError(
                    method, safe_url, None, what=f"connection lost: {text}{_MAYBE}", hint=_NET_HINT, ambiguous=True
                ) from None
            self.stats.by_status[resp.status_code] = self.stats.by_status.get(resp.status_code, 0) + 1
            if resp.status_code >= 500 and not idempotent:
                message = self.redact(provider_message(resp))
                what = f"HTTP {resp.status_code}{_MAYBE}"
                raise SourceHTTPError(method, safe_url, resp.status_code, message, what=what, ambiguous=True)
            if resp.status_code in RETRYABLE_STATUS:
                raise _Retryable(f"HTTP {resp.status_code}", resp, parse_retry_after(resp.headers.get("Retry-After")))
            return resp

        retrying = Retrying(
            stop=stop_after_attempt(max(1, self.retry.max_attempts)),
            wait=self._wait,
            retry=retry_if_exception_type(_Retryable),
            sleep=self._sleep,
            before_sleep=lambda rs: self._before_sleep(rs, method, safe_url),
            reraise=True,
        )
        failed: _Retryable | None = None
        try:
            resp = retrying(attempt)
        except _Retryable as exc:
            failed = exc
        if failed is not None:
            if failed.response is not None:
                self._raise_for_status(method, safe_url, failed.response, attempts=self.retry.max_attempts)
            raise SourceHTTPError(
                method, safe_url, None, what=f"{failed} (after {self.retry.max_attempts} attempts)", hint=_NET_HINT
            )
        if resp.status_code >= 400:
            self._raise_for_status(method, safe_url, resp)
        return resp

    def request_json(self, method: str, path: str, **kwargs: Any) -> Any:
        """Like ``request`` but parse the body as JSON (floats as ``Decimal``, never binary floats).

        Raises:
            SourceDataError: The body is not JSON (an HTML error page from a proxy, a truncated page).
        """
        resp = self.request(method, path, **kwargs)
        try:
            return json.loads(resp.content, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError) as exc:
            ctype = resp.headers.get("Content-Type", "?")
            raise SourceDataError(
                f"{method} {self.redact(resp.url or self.url(path))}: response is not JSON "
                f"(HTTP {resp.status_code}, Content-Type {ctype}, {exc.__class__.__name__}: {_short(exc)}; "
                f"body starts {self.redact(resp.text[:80])!r}); a proxy or the server returned an error page - "
                "check the base URL and the server, then re-run"
            ) from None

    def _wait(self, rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        if isinstance(exc, _Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, self.retry.retry_after_cap)
        backoff = wait_random_exponential(multiplier=self.retry.backoff_base, max=self.retry.backoff_max)
        return backoff(rs)

    def _before_sleep(self, rs: RetryCallState, method: str, safe_url: str) -> None:
        self.stats.retries += 1
        wait = rs.next_action.sleep if rs.next_action else 0.0
        self.stats.waited_s += wait
        exc = rs.outcome.exception() if rs.outcome else None
        log.warning(
            "%s: %s %s -> %s; retry %d/%d in %.2fs",
            self.name,
            method,
            safe_url,
            exc,
            rs.attempt_number,
            self.retry.max_attempts - 1,
            wait,
        )

    def _raise_for_status(
        self, method: str, safe_url: str, resp: requests.Response, attempts: int | None = None
    ) -> None:
        status = resp.status_code
        message = self.redact(provider_message(resp))
        hint = self.hints.get(status) or (
            "the provider failed; retry later or check its status page" if status >= 500 else ""
        )
        what = f"HTTP {status}" + (f" after {attempts} attempts" if attempts else "")
        cls = SourceAuthError if status == 401 else SourceHTTPError
        raise cls(method, safe_url, status, message, hint, what=what)


_NET_HINT = "check that the base URL is right and the server is reachable from here, then re-run"
_MAYBE = " (the request may have been processed: not retried; ask the provider before sending it again)"
#: Connection errors raised before the request was written (safe to retry even when not idempotent).
_NEVER_LEFT = ("NewConnectionError", "ConnectTimeoutError", "Connection refused", "Name or service not known")


def provider_message(resp: requests.Response) -> str:
    """The provider's own error text: JSON ``message`` (HubSpot, Odoo JSON-2) or the body's start.

    Args:
        resp: An error response.

    Returns:
        A short human-readable message, with HubSpot's ``category``/``correlationId`` when present.
    """
    try:
        body = resp.json()
    except ValueError:
        return _short(resp.text)
    if isinstance(body, dict):
        err = body.get("error") if isinstance(body.get("error"), dict) else body
        msg = str(err.get("message") or err.get("error_description") or err.get("name") or "")
        extra = [f"{k}={err[k]}" for k in ("category", "subCategory", "policyName", "correlationId") if err.get(k)]
        return _short(" ".join([msg, f"({', '.join(extra)})" if extra else ""]).strip())
    return _short(json.dumps(body))


def _short(obj: object, limit: int = 300) -> str:
    text = " ".join(str(obj).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."

"""The shared HTTP client: retry only on 429/5xx/connection errors, Retry-After, rate limit, redaction."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from connectors.http import (
    HTTPClient,
    RateLimiter,
    Redactor,
    RetryPolicy,
    SourceAuthError,
    SourceHTTPError,
    parse_retry_after,
)
from connectors.load import SourceDataError
from simulator.emulators import serve

SECRET = "sk-live-9f8e7d6c5b4a"


def flaky_app(plan: list[tuple[int, dict[str, str]]]) -> tuple[FastAPI, list[dict]]:
    """An app answering the planned statuses in order, then 200; records what it received."""
    seen: list[dict] = []
    app = FastAPI()

    @app.post("/echo")
    async def echo(request: Request) -> JSONResponse:
        seen.append({"headers": dict(request.headers), "body": await request.body()})
        if plan:
            status, headers = plan.pop(0)
            return JSONResponse({"message": f"planned {status}", "category": "TEST"}, status, headers=headers)
        return JSONResponse({"ok": True, "amount": 1234.56})

    @app.get("/html")
    def html() -> JSONResponse:
        from fastapi.responses import HTMLResponse

        return HTMLResponse("<html>gateway error</html>")

    return app, seen


def fast_policy(**kw: object) -> RetryPolicy:
    return RetryPolicy(**{"max_attempts": 4, "backoff_base": 0.001, "backoff_max": 0.01, "retry_after_cap": 0.02, **kw})


def test_parse_retry_after() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retries_5xx_and_429_then_succeeds_with_decimal_json() -> None:
    app, seen = flaky_app([(503, {}), (429, {"Retry-After": "120"}), (500, {})])
    waits: list[float] = []
    with serve(app) as srv:
        client = HTTPClient(srv.base_url, retry=fast_policy(), sleep=waits.append)
        body = client.request_json("POST", "/echo", json_body={"q": 1})
    assert body["ok"] is True and str(body["amount"]) == "1234.56"  # Decimal, never float
    assert client.stats.retries == 3 and len(seen) == 4
    assert waits[1] == pytest.approx(0.02)  # Retry-After 120 s capped at retry_after_cap


def test_no_retry_on_4xx_and_clear_error() -> None:
    app, seen = flaky_app([(400, {}), (401, {})])
    with serve(app) as srv:
        client = HTTPClient(srv.base_url, retry=fast_policy(), hints={401: "check COBRANZA_X__TOKEN"})
        with pytest.raises(SourceHTTPError) as bad:
            client.request("POST", "/echo")
        with pytest.raises(SourceAuthError) as auth:
            client.request("POST", "/echo")
    assert len(seen) == 2 and client.stats.retries == 0
    assert "HTTP 400" in str(bad.value) and "planned 400" in str(bad.value) and "/echo" in str(bad.value)
    assert auth.value.status == 401 and "check COBRANZA_X__TOKEN" in str(auth.value)


def test_gives_up_after_max_attempts() -> None:
    app, seen = flaky_app([(502, {})] * 10)
    with serve(app) as srv:
        client = HTTPClient(srv.base_url, retry=fast_policy(max_attempts=3), sleep=lambda s: None)
        with pytest.raises(SourceHTTPError) as err:
            client.request("POST", "/echo")
    assert len(seen) == 3 and err.value.status == 502 and "after 3 attempts" in str(err.value)


def test_connection_error_is_retried_and_redacted() -> None:
    client = HTTPClient("http://127.0.0.1:9", retry=fast_policy(max_attempts=2), sleep=lambda s: None)
    with pytest.raises(SourceHTTPError) as err:
        client.request("GET", f"/x?api_key={SECRET}&page=2")
    assert err.value.status is None and client.stats.retries == 1
    assert SECRET not in str(err.value) and "api_key=***" in str(err.value) and "page=2" in str(err.value)


def test_non_json_page_is_a_source_data_error() -> None:
    app, _ = flaky_app([])
    with serve(app) as srv:
        client = HTTPClient(srv.base_url, retry=fast_policy())
        with pytest.raises(SourceDataError, match="not JSON"):
            client.request_json("GET", "/html")


def test_rate_limiter_spaces_calls() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    limiter = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limiter.acquire()
    assert now[0] == pytest.approx(1.0)  # 5 calls at 4/s: the 5th goes out at t = 1 s
    assert slept == pytest.approx([0.25] * 4)


def test_redactor_shapes() -> None:
    r = Redactor([SECRET])
    text = (
        f"Authorization: Bearer {SECRET} url=https://u:pw123@h/p?token=abc&x=1 "
        f'body={{"args": ["db", 2, "{SECRET}"], "password": "hunter22", "api_key": "zzz"}}'
    )
    out = r(text)
    for leaked in (SECRET, "pw123", "abc", "hunter22", "zzz"):
        assert leaked not in out, out
    assert "x=1" in out and '"db"' in out


def test_logs_never_carry_credentials(caplog: pytest.LogCaptureFixture) -> None:
    app, seen = flaky_app([(503, {}), (401, {})])
    with serve(app) as srv, caplog.at_level(logging.DEBUG):
        client = HTTPClient(
            srv.base_url,
            headers={"Authorization": f"Bearer {SECRET}"},
            secrets=["hunter2-password"],
            retry=fast_policy(),
        )
        with pytest.raises(SourceAuthError) as err:
            client.request("POST", f"/echo?access_token={SECRET}", json_body={"args": ["db", 2, "hunter2-password"]})
    assert seen[0]["headers"]["authorization"] == f"Bearer {SECRET}"  # the server did get it
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "retry 1/3" in logged and "urllib3" in {r.name.split(".")[0] for r in caplog.records}
    for leaked in (SECRET, "hunter2-password"):
        assert leaked not in logged
        assert leaked not in str(err.value)

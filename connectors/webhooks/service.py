"""The webhook receiver as a long-running service: uvicorn in production shape.

- Listens on a configured host and port (``cobranza receiver --host --port``), or on a socket bound
  by the caller.
- Behind a reverse proxy: uvicorn's proxy-headers middleware takes the client address and scheme from
  ``X-Forwarded-For``/``X-Forwarded-Proto`` only when the connection comes from ``forwarded_allow_ips``
  (https://www.uvicorn.org/deployment/#proxies-and-forwarded-headers); Twilio signature URLs are
  rebuilt from the public base URL (``create_app(public_base_url=...)``), since the proxy may
  change the host the receiver sees.
- Logs are JSON, one object per line on stderr (systemd's journal, or the file ``cobranza serve``
  points it at): one ``cobranza.receiver.access`` line per request with method, path (never the
  query string, and an unsubscribe token replaced by ``<token>``), status, duration in ms and, for
  the providers' ``/webhooks/*`` calls only, the client address (a debtor's is personal data); every
  line passes ``cobranza.logmask``, so no phone number or e-mail address is written.
- Graceful shutdown on SIGTERM and SIGINT: the listening socket closes, requests in flight finish
  (up to ``graceful_timeout_s``), the spool's folders are fsynced, and the process exits 0.
- Bounded request size: ``create_app(max_body_bytes=...)`` answers 413 (declared or chunked bodies).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sys
import time
from datetime import UTC, datetime
from typing import Any

import uvicorn

from cobranza import logmask
from connectors.webhooks.app import log_path
from connectors.webhooks.spool import Spool

ACCESS_LOGGER = "cobranza.receiver.access"
access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger("cobranza.receiver")

_RECORD_KEYS = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``message`` and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:  # noqa: D102 - logging API
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": logmask.mask(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_KEYS and not key.startswith("_"):
                out[key] = value if isinstance(value, int | float | bool) or value is None else logmask.mask(value)
        if record.exc_info:
            out["exception"] = logmask.mask(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str = "info", stream: Any = None) -> None:
    """Send every log record of the process to ``stream`` (default stderr) as masked JSON lines."""
    logmask.install()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True


class AccessLog:
    """ASGI middleware: one ``cobranza.receiver.access`` record per HTTP request, when it ends."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:  # noqa: D102 - ASGI
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def send_and_see(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_see)
        finally:
            # A provider's address helps to debug a proxy; a debtor's (an unsubscribe click) is personal data.
            client = scope.get("client") if scope.get("path", "").startswith("/webhooks/") else None
            access_log.info(
                "%s %s %d",
                scope.get("method"),
                log_path(scope.get("path", "")),
                status["code"],
                extra={
                    "method": scope.get("method"),
                    "path": log_path(scope.get("path", "")),
                    "status": status["code"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "client": client[0] if client else None,
                    "scheme": scope.get("scheme"),
                },
            )


def run_receiver(
    app: Any,
    spool: Spool,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    forwarded_allow_ips: str = "127.0.0.1",
    graceful_timeout_s: float = 30.0,
    sock: socket.socket | None = None,
) -> int:
    """Serve ``app`` until SIGTERM/SIGINT, then drain, fsync the spool and return 0.

    Args:
        app: The receiver (``connectors.webhooks.app.create_app``).
        spool: Its spool (fsynced at shutdown).
        host: Interface to listen on.
        port: Port to listen on.
        forwarded_allow_ips: Comma-separated addresses (or ``*``) of the proxies whose
            ``X-Forwarded-*`` headers are trusted.
        graceful_timeout_s: Longest wait for requests in flight at shutdown.
        sock: A socket already bound (then ``host``/``port`` only name it in the logs).

    Returns:
        The exit code: 0 after a clean shutdown.
    """
    config = uvicorn.Config(
        AccessLog(app),
        host=host,
        port=port,
        proxy_headers=True,
        forwarded_allow_ips=forwarded_allow_ips,
        access_log=False,
        log_config=None,
        server_header=False,
        lifespan="off",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=graceful_timeout_s,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down; with these handlers in
    # place that re-raise is a no-op and the process exits 0 (systemd and `cobranza serve` read it).
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    log.info(
        "webhook receiver listening on http://%s:%d (spool %s, trusted proxies %s)",
        host,
        port,
        spool.dir,
        forwarded_allow_ips,
        extra={"event": "start", "pid": os.getpid()},
    )
    server.run(sockets=[sock] if sock is not None else None)
    spool.sync()
    log.info("webhook receiver stopped; spool synced", extra={"event": "stop"})
    return 0 if server.started else 1

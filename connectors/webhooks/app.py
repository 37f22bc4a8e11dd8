"""Webhook receiver (FastAPI): verifies provider signatures and spools delivery, read and reply events.

Endpoints (CONNECTORS.md §4):

- ``GET /webhooks/whatsapp``: Meta's subscription handshake; answers the raw ``hub.challenge`` when
  ``hub.verify_token`` matches, else 403.
- ``POST /webhooks/whatsapp``: checks ``X-Hub-Signature-256`` (HMAC-SHA256 of the **raw** body with the
  app secret, constant-time compare) before parsing; spools ``statuses[]`` (sent/delivered/read/
  failed with ``errors[]``, ``biz_opaque_callback_data`` = our task id) and ``messages[]`` (inbound
  text, button and interactive replies with their ``context.id``), and ``user_preferences`` stops.
- ``POST /webhooks/twilio/status`` and ``POST /webhooks/twilio/inbound``: check ``X-Twilio-Signature``
  (base64 HMAC-SHA1 of the URL Twilio called plus the sorted form parameters, keyed with the auth
  token); the URL is rebuilt from ``public_base_url`` when the receiver sits behind a proxy.
- ``GET /healthz``: liveness (the process answers) with the counters; ``GET /readyz``: readiness,
  200 only when the spool takes a probe write and every secret the deployment needs is present,
  else 503 naming what is missing (a load balancer stops sending until it is fixed).
- ``POST /unsubscribe/{token}``: RFC 8058 one-click unsubscribe (``List-Unsubscribe=One-Click``),
  answered 200 without login for a token this deployment signed
  (``connectors.channels.templates.unsubscribe``); ``GET`` shows a page and changes nothing.

Answers, so a provider never retries for days what will never be accepted and never gives up on
what only failed on our side:

- bad or missing signature: 403 (Twilio's meaning of 57012), nothing stored;
- forged, altered, expired or unknown-version unsubscribe token: 403/410/400, nothing stored;
- a signed body that is not what the provider sends (not JSON, not UTF-8 form data, the wrong JSON
  shape, a required id missing): 400; the signed body is kept in ``<spool>/quarantine/`` with the
  reason, so nothing a provider really sent is lost;
- a well-formed event we do not use (another WhatsApp ``field``, an item without an id among good
  ones): 200, ignored (logged);
- a body over ``max_body_bytes``: 413, on any path, before it is read whole (a declared
  ``Content-Length`` is refused before the body is read; a chunked body when it passes the limit);
- the spool cannot be written (disk full, permissions): 503, so the provider retries later.

Events are spooled (``connectors.webhooks.spool``) before the 200, so a provider retry after a crash is
safe: landing deduplicates on ``event_id``. The receiver holds no business rule: reading a reply
(promise to pay, dispute, opt-out) happens in ``ml.inbound`` when the events are landed. Phone
numbers and addresses are masked in every log line (``cobranza.logmask``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from cobranza.logmask import mask
from connectors.channels.templates import unsubscribe as tokens
from connectors.clock import Clock
from connectors.webhooks.spool import Spool

logger = logging.getLogger(__name__)

#: Default largest body accepted (WhatsApp batches stay far below it).
DEFAULT_MAX_BODY_BYTES = 1_048_576


class Malformed(ValueError):
    """A request whose content is not what the provider sends (answered 400)."""


class TooLarge(ValueError):
    """A request body over the size limit (answered 413)."""


def verify_hub_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature-256`` is ``sha256=<hex HMAC-SHA256(app_secret, body)>``."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.removeprefix("sha256=").encode("utf-8", "replace"))


def verify_twilio_signature(auth_token: str, url: str, params: Mapping[str, str], header: str | None) -> bool:
    """Whether ``X-Twilio-Signature`` matches the URL and the POST parameters."""
    if not header:
        return False
    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    expected = base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()
    return hmac.compare_digest(expected.encode(), header.encode("utf-8", "replace"))


def _iso_from_unix(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(int(ts), UTC).isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return datetime.now(UTC).isoformat()


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise Malformed(f"{where} is a {type(value).__name__}, expected a list")
    return value


def _as_dict(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Malformed(f"{where} is a {type(value).__name__}, expected an object")
    return value


def _text(value: Any) -> str | None:
    """A scalar as text (providers send ids and codes as strings or numbers); anything else None."""
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def whatsapp_events(envelope: Any) -> tuple[list[dict[str, Any]], int]:
    """Normalise a WhatsApp webhook envelope into spool events.

    Args:
        envelope: The parsed JSON body.

    Returns:
        ``(events, ignored)``: the events, and how many items were skipped (an item that is not an
        object or has no id, a ``field`` we do not subscribe to).

    Raises:
        Malformed: The envelope's structure (``entry``, ``changes``, ``value`` and their lists) is not
            the one Meta sends.
    """
    if not isinstance(envelope, dict):
        raise Malformed(f"the body is a JSON {type(envelope).__name__}, expected an object")
    root = envelope
    events: list[dict[str, Any]] = []
    ignored = 0
    for e_i, entry in enumerate(_as_list(root.get("entry"), "entry")):
        entry = _as_dict(entry, f"entry[{e_i}]")
        for c_i, change in enumerate(_as_list(entry.get("changes"), f"entry[{e_i}].changes")):
            change = _as_dict(change, f"entry[{e_i}].changes[{c_i}]")
            where = f"entry[{e_i}].changes[{c_i}].value"
            value = _as_dict(change.get("value"), where)
            field = change.get("field")
            if field == "user_preferences":
                for pref in _as_list(value.get("user_preferences"), f"{where}.user_preferences"):
                    if not isinstance(pref, dict) or not _text(pref.get("wa_id")):
                        ignored += 1
                        continue
                    events.append(
                        {
                            "event_id": f"wa:pref:{pref.get('wa_id')}:{pref.get('timestamp')}:{pref.get('value')}",
                            "provider": "whatsapp",
                            "kind": "preference",
                            "status": _text(pref.get("value")),
                            "from_addr": _text(pref.get("wa_id")),
                            "text": _text(pref.get("category")),
                            "occurred_at": _iso_from_unix(pref.get("timestamp")),
                        }
                    )
                continue
            if field != "messages":
                ignored += 1
                continue
            metadata = _as_dict(value.get("metadata"), f"{where}.metadata")
            for st in _as_list(value.get("statuses"), f"{where}.statuses"):
                if not isinstance(st, dict) or not _text(st.get("id")) or not _text(st.get("status")):
                    ignored += 1
                    continue
                errors = st.get("errors")
                err = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
                events.append(
                    {
                        "event_id": f"wa:status:{st.get('id')}:{st.get('status')}",
                        "provider": "whatsapp",
                        "kind": "status",
                        "provider_message_id": _text(st.get("id")),
                        "status": _text(st.get("status")),
                        "correlation_id": _text(st.get("biz_opaque_callback_data")),
                        "to_addr": _text(st.get("recipient_id")),
                        "error_code": _text(err.get("code")),
                        "error_title": _text(err.get("title") or err.get("message")),
                        "occurred_at": _iso_from_unix(st.get("timestamp")),
                    }
                )
            for m in _as_list(value.get("messages"), f"{where}.messages"):
                if not isinstance(m, dict) or not _text(m.get("id")):
                    ignored += 1
                    continue
                kind = _text(m.get("type"))
                part = m.get(kind) if kind else None
                part = part if isinstance(part, dict) else {}
                if kind == "text":
                    text = _text(part.get("body"))
                elif kind == "button":
                    text = _text(part.get("text"))
                elif kind == "interactive":
                    reply = part.get("button_reply") or part.get("list_reply")
                    text = _text(reply.get("title")) if isinstance(reply, dict) else None
                else:
                    text = None
                context = m.get("context") if isinstance(m.get("context"), dict) else {}
                events.append(
                    {
                        "event_id": f"wa:msg:{m.get('id')}",
                        "provider": "whatsapp",
                        "kind": "message",
                        "provider_message_id": _text(m.get("id")),
                        "status": kind,
                        "from_addr": _text(m.get("from")),
                        "to_addr": _text(metadata.get("display_phone_number")),
                        "text": text,
                        "context_message_id": _text(context.get("id")),
                        "occurred_at": _iso_from_unix(m.get("timestamp")),
                    }
                )
    return events, ignored


def twilio_status_event(form: Mapping[str, str], now: datetime | None = None) -> dict[str, Any]:
    """Normalise a Twilio status callback.

    Raises:
        Malformed: No ``MessageSid`` or no status.
    """
    status = form.get("MessageStatus") or form.get("SmsStatus")
    if not form.get("MessageSid") or not status:
        raise Malformed("Twilio status callback without MessageSid or MessageStatus")
    return {
        "event_id": f"tw:status:{form.get('MessageSid')}:{status}",
        "provider": "twilio",
        "kind": "status",
        "provider_message_id": form.get("MessageSid"),
        "status": status,
        "from_addr": form.get("From"),
        "to_addr": form.get("To"),
        "error_code": form.get("ErrorCode"),
        "occurred_at": (now or datetime.now(UTC)).isoformat(),
    }


def twilio_inbound_event(form: Mapping[str, str], now: datetime | None = None) -> dict[str, Any]:
    """Normalise an inbound SMS webhook.

    Raises:
        Malformed: No ``MessageSid`` or no ``From``.
    """
    if not form.get("MessageSid") or not form.get("From"):
        raise Malformed("Twilio inbound message without MessageSid or From")
    return {
        "event_id": f"tw:msg:{form.get('MessageSid')}",
        "provider": "twilio",
        "kind": "message",
        "provider_message_id": form.get("MessageSid"),
        "status": "received",
        "from_addr": form.get("From"),
        "to_addr": form.get("To"),
        "text": form.get("Body"),
        "occurred_at": (now or datetime.now(UTC)).isoformat(),
    }


def parse_form(body: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict.

    Raises:
        Malformed: Not UTF-8 (raw or percent-encoded), or a parameter given twice.
    """
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict", strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise Malformed(f"form body is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise Malformed(f"form parameter {key[:40]!r} given twice")
        form[key] = value
    return form


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused past ``limit`` bytes without reading it whole.

    Raises:
        TooLarge: ``Content-Length`` or the bytes received exceed ``limit``.
        Malformed: ``Content-Length`` is not a number.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Malformed("Content-Length is not a number")
        if int(declared) > limit:
            raise TooLarge(f"body of {int(declared)} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def unsubscribe_event(claim: tokens.UnsubscribeClaim, now: datetime | None = None) -> dict[str, Any]:
    """The spool event of a verified unsubscribe (one id per token, so repeated clicks land once)."""
    digest = hashlib.sha256(
        f"{claim.customer_id}|{claim.contact_id}|{claim.channel}|{claim.issued_at.isoformat()}".encode()
    ).hexdigest()[:32]
    return {
        "event_id": f"unsub:{claim.channel}:{digest}",
        "provider": "email",
        "kind": "unsubscribe",
        "status": claim.channel,
        "customer_id": claim.customer_id,
        "contact_id": claim.contact_id,
        "occurred_at": (now or datetime.now(UTC)).isoformat(),
    }


#: What ``/readyz`` can require, and where the value comes from.
_SECRETS = {
    "whatsapp": "COBRANZA_WHATSAPP__APP_SECRET (or the Prefect Secret block cobranza-whatsapp-app-secret)",
    "twilio": "COBRANZA_TWILIO__AUTH_TOKEN (or the Prefect Secret block cobranza-twilio-auth-token)",
    "unsubscribe": "COBRANZA_WEBHOOKS__TOKEN_SECRET (or let the receiver generate webhooks.key_file)",
}


def log_path(path: str) -> str:
    """A request path fit for a log line: an unsubscribe token or a debtor portal link token (the portal
    is served under ``/portal``) is a credential and is never written."""
    if path.startswith("/unsubscribe/"):
        return "/unsubscribe/<token>"
    portal = re.match(r"^(/portal)?/p/[^/]+(/.*)?$", path)
    if portal:
        return f"{portal[1] or ''}/p/<token>{mask((portal[2] or '')[:100])}"
    return mask(path[:200])


class BodyLimit:
    """ASGI middleware: a request declaring a body over ``limit`` bytes gets 413 before it is read.

    Covers every path (a route that never reads its body too). Chunked bodies, which declare no
    length, are bounded where they are read (:func:`read_body`).
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:  # noqa: D102 - ASGI
        if scope["type"] == "http":
            declared = dict(scope.get("headers") or []).get(b"content-length")
            status, reason = 0, ""
            if declared is not None and not declared.strip().isdigit():
                status, reason = 400, "Content-Length is not a number"
            elif declared is not None and int(declared) > self.limit:
                status, reason = 413, f"body of {int(declared)} bytes is over the {self.limit}-byte limit"
            if status:
                logger.warning("webhook %s rejected (%d): %s", log_path(scope.get("path", "")), status, reason)
                await PlainTextResponse(reason, status_code=status, headers={"Connection": "close"})(
                    scope, receive, send
                )
                return
        await self.app(scope, receive, send)


def create_app(
    spool: Spool,
    *,
    whatsapp_app_secret: str | None = None,
    whatsapp_verify_token: str | None = None,
    twilio_auth_token: str | None = None,
    public_base_url: str | None = None,
    unsubscribe_secret: str | None = None,
    unsubscribe_max_age: timedelta = tokens.DEFAULT_MAX_AGE,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    required: Collection[str] = (),
    clock: Clock | None = None,
) -> FastAPI:
    """Build the receiver.

    Args:
        spool: Where accepted events go.
        whatsapp_app_secret: Meta app secret (WhatsApp endpoints answer 503 when unset).
        whatsapp_verify_token: Token of the subscription handshake.
        twilio_auth_token: Twilio auth token (Twilio endpoints answer 503 when unset).
        public_base_url: The URL providers call (``https://hooks.example.com``), used to check
            Twilio signatures behind a proxy; default: the URL of the request as received.
        unsubscribe_secret: Secret of the unsubscribe tokens (the unsubscribe endpoint answers 503
            when unset: without it no token can be told from a forgery).
        unsubscribe_max_age: Oldest unsubscribe token accepted.
        max_body_bytes: Largest request body accepted (413 past it).
        required: What this deployment must be able to verify for ``/readyz`` to answer 200:
            ``whatsapp`` (app secret), ``twilio`` (auth token), ``unsubscribe`` (token secret).
        clock: Stamps the events whose provider sends no time (Twilio callbacks, unsubscribes); the
            wall clock by default (``webhooks.clock``: the service's accelerated clock in a harness, so
            the flows reading those events do not see them dated in their future).
    """
    clock = clock or Clock()
    unknown = set(required) - set(_SECRETS)
    if unknown:
        raise ValueError(f"unknown receiver requirement(s) {sorted(unknown)}: use {sorted(_SECRETS)}")
    app = FastAPI(title="Cobranza webhook receiver", openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    given = {"whatsapp": whatsapp_app_secret, "twilio": twilio_auth_token, "unsubscribe": unsubscribe_secret}
    app.state.spool = spool
    app.state.stats = {"accepted": 0, "rejected": 0, "ignored": 0, "quarantined": 0}

    def reject(reason: str, status: int = 403, *, path: str = "") -> Response:
        app.state.stats["rejected"] += 1
        logger.warning("webhook %s rejected (%d): %s", path or "request", status, mask(reason))
        return PlainTextResponse(reason, status_code=status)

    def accept(events: list[dict[str, Any]], ignored: int = 0, *, path: str = "") -> Response | None:
        """Spool the events; a 503 answer when the spool cannot take them (the provider retries)."""
        try:
            spool.append(events)
        except OSError as exc:
            logger.error("webhook %s: spool %s not writable (%s); answering 503", path, spool.dir, mask(exc))
            return PlainTextResponse("temporarily unable to store the event; retry later", status_code=503)
        app.state.stats["accepted"] += len(events)
        if ignored:
            app.state.stats["ignored"] += ignored
            logger.info("webhook %s: %d item(s) ignored (unused field, or no id)", path, ignored)
        return None

    def malformed(provider: str, body: bytes, reason: str, *, path: str) -> Response:
        """A signed body we cannot read: kept in quarantine, answered 400 (a retry would not help)."""
        try:
            spool.quarantine(provider, body, reason)
            app.state.stats["quarantined"] += 1
        except OSError as exc:
            logger.error("webhook %s: quarantine not writable (%s)", path, mask(exc))
            return PlainTextResponse("temporarily unable to store the event; retry later", status_code=503)
        return reject(f"malformed {provider} webhook: {reason}", 400, path=path)

    async def body_or_error(request: Request) -> tuple[bytes | None, Response | None]:
        try:
            return await read_body(request, max_body_bytes), None
        except TooLarge as exc:
            return None, reject(str(exc), 413, path=request.url.path)
        except Malformed as exc:
            return None, reject(str(exc), 400, path=request.url.path)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"ok": True, **app.state.stats})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            spool.probe()
            checks["spool"] = "ok"
        except OSError as exc:
            checks["spool"] = f"not writable: {mask(exc)}"
        for name in sorted(required):
            checks[name] = "ok" if given[name] else f"missing: set {_SECRETS[name]}"
        ready = all(v == "ok" for v in checks.values())
        if not ready:
            logger.warning("not ready: %s", {k: v for k, v in checks.items() if v != "ok"})
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.get("/webhooks/whatsapp")
    async def whatsapp_verify(request: Request) -> Response:
        q = request.query_params
        token = q.get("hub.verify_token") or ""
        if (
            q.get("hub.mode") == "subscribe"
            and whatsapp_verify_token
            and hmac.compare_digest(token.encode(), whatsapp_verify_token.encode())
        ):
            return PlainTextResponse(q.get("hub.challenge", ""))
        return reject("verify token mismatch", path=request.url.path)

    @app.post("/webhooks/whatsapp")
    async def whatsapp(request: Request) -> Response:
        path = request.url.path
        if not whatsapp_app_secret:
            return reject("WhatsApp app secret not configured (COBRANZA_WHATSAPP__APP_SECRET)", 503, path=path)
        body, denied = await body_or_error(request)
        if denied is not None:
            return denied
        if not verify_hub_signature(whatsapp_app_secret, body, request.headers.get("x-hub-signature-256")):
            return reject("invalid X-Hub-Signature-256", path=path)
        try:
            envelope = json.loads(body)
        except (ValueError, RecursionError):
            return malformed("whatsapp", body, "body is not JSON", path=path)
        try:
            events, ignored = whatsapp_events(envelope)
        except (Malformed, RecursionError) as exc:
            return malformed("whatsapp", body, str(exc), path=path)
        failed = accept(events, ignored, path=path)
        return failed or PlainTextResponse("ok")

    async def twilio_form(request: Request) -> tuple[dict[str, str] | None, Response | None]:
        path = request.url.path
        if not twilio_auth_token:
            return None, reject("Twilio auth token not configured (COBRANZA_TWILIO__AUTH_TOKEN)", 503, path=path)
        body, denied = await body_or_error(request)
        if denied is not None:
            return None, denied
        try:
            form = parse_form(body)
        except Malformed as exc:
            # Not checkable either: Twilio signs the decoded parameters. Nothing is kept.
            return None, reject(str(exc), 400, path=path)
        url = str(request.url)
        if public_base_url:
            url = public_base_url.rstrip("/") + path + (f"?{request.url.query}" if request.url.query else "")
        if not verify_twilio_signature(twilio_auth_token, url, form, request.headers.get("x-twilio-signature")):
            return None, reject("invalid X-Twilio-Signature (Twilio error 57012)", path=path)
        return form, None

    @app.post("/webhooks/twilio/status")
    async def twilio_status(request: Request) -> Response:
        form, denied = await twilio_form(request)
        if denied is not None:
            return denied
        try:
            event = twilio_status_event(form, now=clock.peek())
        except Malformed as exc:
            return malformed("twilio", json.dumps(form).encode(), str(exc), path=request.url.path)
        return accept([event], path=request.url.path) or Response(status_code=204)

    @app.post("/webhooks/twilio/inbound")
    async def twilio_inbound(request: Request) -> Response:
        form, denied = await twilio_form(request)
        if denied is not None:
            return denied
        try:
            event = twilio_inbound_event(form, now=clock.peek())
        except Malformed as exc:
            return malformed("twilio", json.dumps(form).encode(), str(exc), path=request.url.path)
        # An empty TwiML answer: no automatic reply.
        return accept([event], path=request.url.path) or Response(
            "<?xml version='1.0' encoding='UTF-8'?><Response/>", media_type="application/xml"
        )

    def check_token(token: str) -> tuple[tokens.UnsubscribeClaim | None, Response | None]:
        where = "/unsubscribe/<token>"  # the token is a credential: never logged
        if not unsubscribe_secret:
            missing = "unsubscribe links are not configured (COBRANZA_WEBHOOKS__TOKEN_SECRET)"
            return None, reject(missing, 503, path=where)
        try:
            return tokens.verify_token(unsubscribe_secret, token, max_age=unsubscribe_max_age), None
        except tokens.InvalidToken as exc:
            status = {"expired": 410, "forged": 403}.get(exc.kind, 400)
            return None, reject(f"unsubscribe link refused: {exc}", status, path=where)

    @app.get("/unsubscribe/{token}")
    async def unsubscribe_page(token: str) -> Response:
        _, denied = check_token(token)
        if denied is not None:
            return denied
        return HTMLResponse(
            "<html><body><form method='post'><input type='hidden' name='List-Unsubscribe' value='One-Click'>"
            "<button>Unsubscribe from payment reminders</button></form></body></html>"
        )

    @app.post("/unsubscribe/{token}")
    async def unsubscribe(token: str, request: Request) -> Response:
        claim, denied = check_token(token)
        if denied is not None:
            return denied
        body, denied = await body_or_error(request)
        if denied is not None:
            return denied
        if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            try:
                form = parse_form(body)
            except Malformed as exc:
                return reject(f"unexpected unsubscribe body: {exc}", 400, path="/unsubscribe/<token>")
            if form.get("List-Unsubscribe") not in (None, "One-Click"):
                return reject("unexpected unsubscribe body", 400, path="/unsubscribe/<token>")
        failed = accept([unsubscribe_event(claim, now=clock.peek())], path="/unsubscribe/<token>")
        return failed or PlainTextResponse("unsubscribed")

    return app

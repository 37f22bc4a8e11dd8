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
- ``POST /unsubscribe/{token}``: RFC 8058 one-click unsubscribe (``List-Unsubscribe=One-Click``),
  answered 200 without login; ``GET`` shows a page and changes nothing.

Bad signatures get 403 (WhatsApp) or 403 with Twilio's meaning of 57012; nothing is stored. Events
are spooled (``connectors.webhooks.spool``) before the 200, so a provider retry after a crash is
safe: landing deduplicates on ``event_id``. The receiver holds no business rule: reading a reply
(promise to pay, dispute) happens in ``ml.inbound`` when the events are landed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from connectors.webhooks.spool import Spool

logger = logging.getLogger(__name__)


def verify_hub_signature(app_secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``X-Hub-Signature-256`` is ``sha256=<hex HMAC-SHA256(app_secret, body)>``."""
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.removeprefix("sha256="))


def verify_twilio_signature(auth_token: str, url: str, params: dict[str, str], header: str | None) -> bool:
    """Whether ``X-Twilio-Signature`` matches the URL and the POST parameters."""
    if not header:
        return False
    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    expected = base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()
    return hmac.compare_digest(expected, header)


def _iso_from_unix(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(int(ts), UTC).isoformat()
    except (TypeError, ValueError):
        return datetime.now(UTC).isoformat()


def whatsapp_events(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    """Normalise a WhatsApp webhook envelope into spool events."""
    events: list[dict[str, Any]] = []
    for entry in envelope.get("entry") or []:
        for change in entry.get("changes") or []:
            value = change.get("value") or {}
            field = change.get("field")
            if field == "user_preferences":
                for pref in value.get("user_preferences") or []:
                    events.append(
                        {
                            "event_id": f"wa:pref:{pref.get('wa_id')}:{pref.get('timestamp')}:{pref.get('value')}",
                            "provider": "whatsapp",
                            "kind": "preference",
                            "status": pref.get("value"),
                            "from_addr": pref.get("wa_id"),
                            "text": pref.get("category"),
                            "occurred_at": _iso_from_unix(pref.get("timestamp")),
                        }
                    )
                continue
            if field != "messages":
                continue
            for st in value.get("statuses") or []:
                err = (st.get("errors") or [{}])[0]
                events.append(
                    {
                        "event_id": f"wa:status:{st.get('id')}:{st.get('status')}",
                        "provider": "whatsapp",
                        "kind": "status",
                        "provider_message_id": st.get("id"),
                        "status": st.get("status"),
                        "correlation_id": st.get("biz_opaque_callback_data"),
                        "to_addr": st.get("recipient_id"),
                        "error_code": str(err["code"]) if err.get("code") is not None else None,
                        "error_title": err.get("title") or err.get("message"),
                        "occurred_at": _iso_from_unix(st.get("timestamp")),
                    }
                )
            for m in value.get("messages") or []:
                kind = m.get("type")
                if kind == "text":
                    text = (m.get("text") or {}).get("body")
                elif kind == "button":
                    text = (m.get("button") or {}).get("text")
                elif kind == "interactive":
                    inter = m.get("interactive") or {}
                    text = (inter.get("button_reply") or inter.get("list_reply") or {}).get("title")
                else:
                    text = None
                events.append(
                    {
                        "event_id": f"wa:msg:{m.get('id')}",
                        "provider": "whatsapp",
                        "kind": "message",
                        "provider_message_id": m.get("id"),
                        "status": kind,
                        "from_addr": m.get("from"),
                        "to_addr": (value.get("metadata") or {}).get("display_phone_number"),
                        "text": text,
                        "context_message_id": (m.get("context") or {}).get("id"),
                        "occurred_at": _iso_from_unix(m.get("timestamp")),
                    }
                )
    return events


def twilio_status_event(form: dict[str, str]) -> dict[str, Any]:
    """Normalise a Twilio status callback."""
    status = form.get("MessageStatus") or form.get("SmsStatus")
    return {
        "event_id": f"tw:status:{form.get('MessageSid')}:{status}",
        "provider": "twilio",
        "kind": "status",
        "provider_message_id": form.get("MessageSid"),
        "status": status,
        "from_addr": form.get("From"),
        "to_addr": form.get("To"),
        "error_code": form.get("ErrorCode"),
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def twilio_inbound_event(form: dict[str, str]) -> dict[str, Any]:
    """Normalise an inbound SMS webhook."""
    return {
        "event_id": f"tw:msg:{form.get('MessageSid')}",
        "provider": "twilio",
        "kind": "message",
        "provider_message_id": form.get("MessageSid"),
        "status": "received",
        "from_addr": form.get("From"),
        "to_addr": form.get("To"),
        "text": form.get("Body"),
        "occurred_at": datetime.now(UTC).isoformat(),
    }


def create_app(
    spool: Spool,
    *,
    whatsapp_app_secret: str | None = None,
    whatsapp_verify_token: str | None = None,
    twilio_auth_token: str | None = None,
    public_base_url: str | None = None,
) -> FastAPI:
    """Build the receiver.

    Args:
        spool: Where accepted events go.
        whatsapp_app_secret: Meta app secret (WhatsApp endpoints answer 503 when unset).
        whatsapp_verify_token: Token of the subscription handshake.
        twilio_auth_token: Twilio auth token (Twilio endpoints answer 503 when unset).
        public_base_url: The URL providers call (``https://hooks.example.com``), used to check
            Twilio signatures behind a proxy; default: the URL of the request as received.
    """
    app = FastAPI(title="Cobranza webhook receiver", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.spool = spool
    app.state.stats = {"accepted": 0, "rejected": 0}

    def reject(reason: str, status: int = 403) -> Response:
        app.state.stats["rejected"] += 1
        logger.warning("webhook rejected: %s", reason)
        return PlainTextResponse(reason, status_code=status)

    def accept(events: list[dict[str, Any]]) -> None:
        spool.append(events)
        app.state.stats["accepted"] += len(events)

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        return JSONResponse({"ok": True, **app.state.stats})

    @app.get("/webhooks/whatsapp")
    async def whatsapp_verify(request: Request) -> Response:
        q = request.query_params
        token = q.get("hub.verify_token") or ""
        if (
            q.get("hub.mode") == "subscribe"
            and whatsapp_verify_token
            and hmac.compare_digest(token, whatsapp_verify_token)
        ):
            return PlainTextResponse(q.get("hub.challenge", ""))
        return reject("verify token mismatch")

    @app.post("/webhooks/whatsapp")
    async def whatsapp(request: Request) -> Response:
        if not whatsapp_app_secret:
            return reject("WhatsApp app secret not configured (COBRANZA_WHATSAPP__APP_SECRET)", 503)
        body = await request.body()
        if not verify_hub_signature(whatsapp_app_secret, body, request.headers.get("x-hub-signature-256")):
            return reject("invalid X-Hub-Signature-256")
        try:
            envelope = json.loads(body)
        except ValueError:
            return reject("body is not JSON", 400)
        accept(whatsapp_events(envelope))
        return PlainTextResponse("ok")

    async def twilio_form(request: Request) -> tuple[dict[str, str] | None, Response | None]:
        if not twilio_auth_token:
            return None, reject("Twilio auth token not configured (COBRANZA_TWILIO__AUTH_TOKEN)", 503)
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        url = str(request.url)
        if public_base_url:
            url = (
                public_base_url.rstrip("/") + request.url.path + (f"?{request.url.query}" if request.url.query else "")
            )
        if not verify_twilio_signature(twilio_auth_token, url, form, request.headers.get("x-twilio-signature")):
            return None, reject("invalid X-Twilio-Signature (Twilio error 57012)")
        return form, None

    @app.post("/webhooks/twilio/status")
    async def twilio_status(request: Request) -> Response:
        form, denied = await twilio_form(request)
        if denied is not None:
            return denied
        accept([twilio_status_event(form)])
        return Response(status_code=204)

    @app.post("/webhooks/twilio/inbound")
    async def twilio_inbound(request: Request) -> Response:
        form, denied = await twilio_form(request)
        if denied is not None:
            return denied
        accept([twilio_inbound_event(form)])
        # An empty TwiML answer: no automatic reply.
        return Response("<?xml version='1.0' encoding='UTF-8'?><Response/>", media_type="application/xml")

    @app.get("/unsubscribe/{token}")
    async def unsubscribe_page(token: str) -> HTMLResponse:
        return HTMLResponse(
            "<html><body><form method='post'><input type='hidden' name='List-Unsubscribe' value='One-Click'>"
            "<button>Unsubscribe from payment reminders</button></form></body></html>"
        )

    @app.post("/unsubscribe/{token}")
    async def unsubscribe(token: str, request: Request) -> Response:
        form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
        if form.get("List-Unsubscribe") not in (None, "One-Click"):
            return reject("unexpected unsubscribe body", 400)
        accept(
            [
                {
                    "event_id": f"email:unsub:{token}",
                    "provider": "email",
                    "kind": "unsubscribe",
                    "correlation_id": token,
                    "occurred_at": datetime.now(UTC).isoformat(),
                }
            ]
        )
        return PlainTextResponse("unsubscribed")

    return app

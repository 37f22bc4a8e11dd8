"""WhatsApp Business Cloud API emulator (Meta Graph API), written from CONNECTORS.md §4.1.

Serves ``POST /{version}/{phone_number_id}/messages`` with the real contract:

- ``Authorization: Bearer <token>``; a wrong or missing token gets 401 with Graph's
  ``{"error": {"message", "type": "OAuthException", "code": 190, "fbtrace_id"}}``;
- validation errors with Graph codes: 100 (unknown phone number id, ``messaging_product`` missing),
  131009 (invalid ``to``), 131008 (missing text body), 132001 (template name/language not approved),
  132000 (parameter count mismatch), 131051 (unsupported type);
- success ``{"messaging_product": "whatsapp", "contacts": [{"input", "wa_id"}], "messages": [{"id": "wamid..."}]}``.
  Accepted is not delivered: what happens next arrives as signed status webhooks
  (``X-Hub-Signature-256``) with ``biz_opaque_callback_data`` echoed: ``sent`` then ``delivered`` then
  (sometimes) ``read``, or ``failed`` with ``errors[]``: 131047 for a free-form text outside the
  24-hour customer-service window, 131026 for a number that is not on WhatsApp;
- the 24-hour window: an inbound message (``POST /_emulator/inbound``) opens it for that user;
- throttling and failures from a :class:`FaultPlan`: 429 with ``Retry-After`` and code 130429,
  503 with code 131016 (``is_transient``), timeouts, and a gateway's 504 / a proxy's 200 HTML page
  after the message was accepted (see ``channel_common``). The Cloud API has no message lookup:
  the only later evidence of an accepted message is its status webhooks.

Test hooks (not part of Meta's API): ``GET /_emulator/messages`` (everything accepted),
``POST /_emulator/inbound`` (a user writes; sends the inbound-message webhook).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from simulator.emulators.channel_common import FaultPlan, WebhookPusher, gateway_fault

#: Approved templates: name -> (languages, number of body parameters).
DEFAULT_TEMPLATES: dict[str, tuple[frozenset[str], int]] = {
    "cobranza_payment_reminder": (frozenset({"es", "en_US", "pt_BR"}), 4),
}
WINDOW_S = 24 * 3600


def _graph_error(status: int, code: int, message: str, headers: dict[str, str] | None = None, **extra: Any):
    body = {
        "error": {
            "message": message,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": secrets.token_hex(8),
            **extra,
        }
    }
    return JSONResponse(body, status_code=status, headers=headers)


def sign(app_secret: str, body: bytes) -> str:
    """``X-Hub-Signature-256`` value: ``sha256=`` + hex HMAC-SHA256 of the raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass
class WhatsAppEmulator:
    """In-memory WhatsApp Cloud API.

    Args:
        token: Bearer token clients must send.
        phone_number_id: The business phone number id in the URL.
        app_secret: Signs webhooks.
        webhook_url: Where status and message webhooks go (None = none).
        faults: Fault injection plan.
        templates: Approved templates.
        not_on_whatsapp: Recipients (digits) for which delivery fails with 131026; numbers ending in
            ``0000`` are treated the same.
        read_rate: Share of delivered messages that are also read.
        clock: The provider's clock (Unix seconds) for webhook timestamps and the 24-hour window; a
            harness with an accelerated clock passes its own.
    """

    token: str = "wa-test-token"
    phone_number_id: str = "106540352242922"
    app_secret: str = "wa-app-secret"
    webhook_url: str | None = None
    faults: FaultPlan = field(default_factory=FaultPlan)
    templates: dict[str, tuple[frozenset[str], int]] = field(default_factory=lambda: dict(DEFAULT_TEMPLATES))
    not_on_whatsapp: set[str] = field(default_factory=set)
    read_rate: float = 0.5
    display_phone_number: str = "15550001234"
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[dict[str, Any]] = []
        self.last_inbound: dict[str, float] = {}
        self.requests = 0
        self.pusher = WebhookPusher(self._build_webhooks, batch=100)
        self.app = self._build_app()

    # --- webhooks --------------------------------------------------------------------------------

    def _envelope(self, value: dict[str, Any]) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [{"id": "102290129340398", "changes": [{"field": "messages", "value": value}]}],
        }

    def _build_webhooks(self, url: str, items: list[dict[str, Any]]) -> list[tuple[bytes, dict[str, str]]]:
        meta = {"display_phone_number": self.display_phone_number, "phone_number_id": self.phone_number_id}
        out = []
        statuses = [i["status"] for i in items if "status" in i]
        if statuses:
            value = {"messaging_product": "whatsapp", "metadata": meta, "statuses": statuses}
            out.append(json.dumps(self._envelope(value)).encode())
        for i in items:
            if "message" in i:
                value = {
                    "messaging_product": "whatsapp",
                    "metadata": meta,
                    "contacts": [{"profile": {"name": i.get("name", "")}, "wa_id": i["message"]["from"]}],
                    "messages": [i["message"]],
                }
                out.append(json.dumps(self._envelope(value)).encode())
        return [(b, {"Content-Type": "application/json", "X-Hub-Signature-256": sign(self.app_secret, b)}) for b in out]

    def _status(self, msg: dict[str, Any], status: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        st: dict[str, Any] = {
            "id": msg["id"],
            "status": status,
            "timestamp": str(int(self.clock())),
            "recipient_id": msg["to"],
        }
        if msg.get("biz_opaque_callback_data"):
            st["biz_opaque_callback_data"] = msg["biz_opaque_callback_data"]
        if errors:
            st["errors"] = errors
        else:
            category = "utility" if msg["type"] == "template" else "service"
            st["pricing"] = {"billable": category != "service", "pricing_model": "PMP", "category": category}
        return {"status": st}

    def _after_accept(self, msg: dict[str, Any]) -> None:
        to = msg["to"]
        if to in self.not_on_whatsapp or to.endswith("0000"):
            err = {
                "code": 131026,
                "title": "Message undeliverable",
                "message": "Message undeliverable",
                "error_data": {"details": "Recipient is not a valid WhatsApp user"},
            }
            self.pusher.push(self.webhook_url, self._status(msg, "failed", [err]))
            return
        if msg["type"] != "template" and self.clock() - self.last_inbound.get(to, -1e12) > WINDOW_S:
            err = {
                "code": 131047,
                "title": "Re-engagement message",
                "message": "Re-engagement message",
                "error_data": {"details": "Message failed to send because more than 24 hours have passed"},
            }
            self.pusher.push(self.webhook_url, self._status(msg, "failed", [err]))
            return
        self.pusher.push(self.webhook_url, self._status(msg, "sent"))
        self.pusher.push(self.webhook_url, self._status(msg, "delivered"))
        if int(hashlib.sha256(msg["id"].encode()).hexdigest(), 16) % 1000 < self.read_rate * 1000:
            self.pusher.push(self.webhook_url, self._status(msg, "read"))

    def inbound(self, wa_id: str, text: str, *, context_id: str | None = None, name: str = "") -> str:
        """A user writes to the business: opens the 24-hour window and sends the message webhook."""
        wamid = "wamid." + secrets.token_urlsafe(24)
        message: dict[str, Any] = {
            "from": wa_id,
            "id": wamid,
            "timestamp": str(int(self.clock())),
            "type": "text",
            "text": {"body": text},
        }
        if context_id:
            message["context"] = {"from": self.display_phone_number, "id": context_id}
        with self.lock:
            self.last_inbound[wa_id] = self.clock()
        self.pusher.push(self.webhook_url, {"message": message, "name": name})
        return wamid

    # --- validation ------------------------------------------------------------------------------

    def _validate(self, body: Any) -> tuple[int, str] | None:
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            return 100, "(#100) The parameter messaging_product is required."
        to = str(body.get("to") or "")
        if not re.fullmatch(r"\d{8,15}", to):
            return 131009, "(#131009) Parameter value is not valid: 'to' must be a phone number in E.164 digits"
        kind = body.get("type", "text")
        if kind == "text":
            if not (body.get("text") or {}).get("body"):
                return 131008, "(#131008) Required parameter is missing: text.body"
            return None
        if kind != "template":
            return 131051, f"(#131051) Unsupported message type: {kind}"
        tpl = body.get("template") or {}
        name, lang = tpl.get("name"), (tpl.get("language") or {}).get("code")
        if name not in self.templates or lang not in self.templates[name][0]:
            return 132001, f"(#132001) Template name does not exist in the translation: {name} ({lang})"
        params = [p for c in tpl.get("components") or [] if c.get("type") == "body" for p in c.get("parameters", [])]
        if len(params) != self.templates[name][1]:
            return 132000, (
                f"(#132000) Number of parameters does not match the expected number of params: "
                f"expected {self.templates[name][1]}, got {len(params)}"
            )
        return None

    # --- app -------------------------------------------------------------------------------------

    def _build_app(self) -> FastAPI:
        # Plain Starlette routes (``add_route``): the endpoints read the request themselves, so FastAPI's
        # per-request parameter solving (40% of the emulator's application time) is not needed.
        app = FastAPI(title="WhatsApp Cloud API emulator", openapi_url=None, docs_url=None, redoc_url=None)

        async def send(request: Request) -> JSONResponse:
            phone_number_id = request.path_params["phone_number_id"]
            with self.lock:
                self.requests += 1
            if request.headers.get("authorization") != f"Bearer {self.token}":
                return _graph_error(401, 190, "Invalid OAuth access token - Cannot parse access token")
            if phone_number_id != self.phone_number_id:
                return _graph_error(
                    400,
                    100,
                    f"Unsupported post request. Object with ID '{phone_number_id}' does not exist, "
                    "cannot be loaded due to missing permissions, or does not support this operation.",
                    error_subcode=33,
                )
            fault = self.faults.draw()
            if fault == "429":
                return _graph_error(429, 130429, "(#130429) Rate limit hit", headers=self.faults.throttle_headers())
            if fault == "5xx":
                return _graph_error(503, 131016, "(#131016) Service temporarily unavailable", is_transient=True)
            if fault == "timeout_before":
                await asyncio.sleep(self.faults.hang_s)
                return _graph_error(503, 131016, "(#131016) Service temporarily unavailable", is_transient=True)
            try:
                body = json.loads(await request.body())
            except ValueError:
                return _graph_error(400, 100, "(#100) Invalid JSON payload")
            problem = self._validate(body)
            if problem:
                return _graph_error(400, problem[0], problem[1])
            msg = {
                "id": "wamid." + secrets.token_urlsafe(24),
                "to": body["to"],
                "type": body.get("type", "text"),
                "biz_opaque_callback_data": body.get("biz_opaque_callback_data"),
                "template": body.get("template"),
                "text": (body.get("text") or {}).get("body"),
                "context": body.get("context"),
                "accepted_at": time.time(),
            }
            with self.lock:
                self.messages.append(msg)
            self._after_accept(msg)
            out = {
                "messaging_product": "whatsapp",
                "contacts": [{"input": body["to"], "wa_id": body["to"]}],
                "messages": [{"id": msg["id"], "message_status": "accepted"}],
            }
            if fault == "timeout_after":
                await asyncio.sleep(self.faults.hang_s)
            return gateway_fault(fault, JSONResponse(out))

        async def messages(request: Request) -> JSONResponse:
            with self.lock:
                return JSONResponse({"messages": list(self.messages)})

        async def inbound(request: Request) -> JSONResponse:
            body = await request.json()
            wamid = self.inbound(str(body["from"]), str(body["text"]), context_id=body.get("context_id"))
            return JSONResponse({"id": wamid})

        app.add_route("/{version}/{phone_number_id}/messages", send, methods=["POST"])
        app.add_route("/_emulator/messages", messages, methods=["GET"])
        app.add_route("/_emulator/inbound", inbound, methods=["POST"])
        return app

"""Stripe Checkout emulator: Checkout Sessions API, a hosted checkout page, signed payment webhooks.

Written from Stripe's API reference ("Create a Checkout Session", "The Checkout Session object",
"Idempotent requests", "Check the webhook signatures"); depends on nothing of the product.

- ``POST /v1/checkout/sessions``: form-encoded with bracket notation, authenticated with the secret
  key (``Authorization: Bearer sk_...`` or HTTP Basic with the key as user). Requires ``mode=payment``,
  ``success_url`` and at least one ``line_items[i]`` with ``price_data[currency]``,
  ``price_data[unit_amount]`` (a non-negative integer in the minor unit),
  ``price_data[product_data][name]`` and ``quantity``, all in one currency. Answers 200 with the
  Checkout Session object (``id`` ``cs_test_...``, ``object``, ``url`` of the hosted page,
  ``amount_total``, ``currency``, ``metadata``, ``client_reference_id``, ``payment_status``
  ``unpaid``, ``status`` ``open``, ``livemode`` false). Errors: 401 (``invalid_request_error``, no or
  wrong key), 400 ``parameter_missing`` / ``parameter_invalid_integer`` / metadata over 500
  characters, and ``Idempotency-Key`` semantics: the same key with the same parameters returns the
  first answer again (header ``Idempotent-Replayed: true``); with other parameters, 400
  ``idempotency_error``.
- ``GET /v1/checkout/sessions/{id}``: the session.
- ``GET /c/pay/{id}``: a hosted checkout page (no script) with the amount and a "Pay" button;
  ``POST /c/pay/{id}`` completes it: ``payment_status`` ``paid``, ``status`` ``complete``, a
  ``payment_intent`` ``pi_...``; an event ``checkout.session.completed`` (``evt_...``) is posted to
  ``webhook_url`` with ``Stripe-Signature: t=<unix>,v1=<HMAC-SHA256(webhook_secret, "t.body")>``
  (at least once, retried); the payer is redirected (303) to ``success_url`` with
  ``{CHECKOUT_SESSION_ID}`` replaced. ``POST /c/pay/{id}/cancel`` redirects to ``cancel_url``.

``events`` keeps every event sent (so a test can replay one); :meth:`StripeEmulator.resend` posts an
event again, as Stripe does when it retries a delivery.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from simulator.emulators.channel_common import WebhookPusher

ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())


def stripe_signature(secret: str, payload: bytes, timestamp: int) -> str:
    """``Stripe-Signature`` of a webhook body: ``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "t.payload")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def parse_brackets(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) back into nested dicts; list indexes stay dict keys."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        path = [head] + ([p.rstrip("]") for p in rest.split("[")] if rest else [])
        node = root
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"parameter {key} mixes a value and an object")
        node[path[-1]] = value
    return root


def _major(minor: int, currency: str) -> str:
    """A minor-unit amount shown in major units (``125000`` USD -> ``1,250.00``)."""
    if currency in ZERO_DECIMAL:
        return f"{minor:,}"
    return f"{Decimal(minor) / 100:,.2f}"


def _error(
    status: int, code: str, message: str, param: str | None = None, kind: str = "invalid_request_error"
) -> JSONResponse:
    body = {"error": {"type": kind, "code": code, "message": message, "param": param}}
    return JSONResponse(body, status_code=status)


@dataclass
class StripeEmulator:
    """In-memory Stripe Checkout.

    Args:
        secret_key: The key clients must send.
        webhook_secret: The endpoint's signing secret (``whsec_...``).
        webhook_url: Where events are posted (the portal's ``/webhooks/stripe``).
        clock: Unix seconds for ``created`` and signatures (a harness can skew it).
    """

    secret_key: str = "sk_test_cobranza_emulator"
    webhook_secret: str = "whsec_cobranza_emulator"
    webhook_url: str | None = None
    clock: Callable[[], float] = time.time
    base_url: str = ""
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[dict[str, Any]] = []
        self._idempotency: dict[str, tuple[str, dict[str, Any]]] = {}
        self.pusher = WebhookPusher(self._sign, batch=1)
        self.app = self._build_app()

    def _sign(self, url: str, items: list[dict[str, Any]]) -> list[tuple[bytes, dict[str, str]]]:
        out = []
        for event in items:
            body = json.dumps(event).encode()
            header = stripe_signature(self.webhook_secret, body, int(self.clock()))
            out.append((body, {"Content-Type": "application/json", "Stripe-Signature": header}))
        return out

    def resend(self, event: dict[str, Any]) -> None:
        """Post an event again (Stripe retries deliveries; the receiver must dedupe by id)."""
        self.pusher.push(self.webhook_url, event)

    def _authorised(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        if auth.startswith("Bearer "):
            given = auth.removeprefix("Bearer ")
        elif auth.startswith("Basic "):
            try:
                given = base64.b64decode(auth.removeprefix("Basic ")).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                return False
        else:
            return False
        return hmac.compare_digest(given.encode(), self.secret_key.encode())

    def _create(self, params: dict[str, Any], base: str) -> dict[str, Any] | JSONResponse:
        if params.get("mode") != "payment":
            return _error(400, "parameter_missing", "mode must be 'payment' in this emulator", "mode")
        if not params.get("success_url"):
            return _error(400, "parameter_missing", "Missing required param: success_url.", "success_url")
        items = params.get("line_items")
        if not isinstance(items, dict) or not items:
            return _error(400, "parameter_missing", "Missing required param: line_items.", "line_items")
        total, currencies, lines = 0, set(), []
        for idx in sorted(items, key=lambda k: int(k) if k.isdigit() else -1):
            item = items[idx]
            where = f"line_items[{idx}]"
            pd = item.get("price_data") if isinstance(item, dict) else None
            if not isinstance(pd, dict) or not pd.get("currency"):
                return _error(400, "parameter_missing", f"Missing {where}[price_data][currency].", where)
            name = (pd.get("product_data") or {}).get("name") if isinstance(pd.get("product_data"), dict) else None
            if not name:
                return _error(400, "parameter_missing", f"Missing {where}[price_data][product_data][name].", where)
            try:
                unit = int(pd.get("unit_amount", ""))
                qty = int(item.get("quantity", "1"))
            except ValueError:
                return _error(400, "parameter_invalid_integer", f"Invalid integer in {where}.", where)
            if unit < 0 or qty < 1:
                return _error(400, "parameter_invalid_integer", f"Invalid amount in {where}.", where)
            currencies.add(str(pd["currency"]).lower())
            total += unit * qty
            lines.append({"name": name, "unit_amount": unit, "quantity": qty})
        if len(currencies) != 1:
            return _error(400, "parameter_invalid", "All line items must share one currency.", "line_items")
        metadata = params.get("metadata") or {}
        if not isinstance(metadata, dict) or any(len(str(v)) > 500 or len(k) > 40 for k, v in metadata.items()):
            return _error(400, "parameter_invalid", "Metadata values are limited to 500 characters.", "metadata")
        sid = "cs_test_" + secrets.token_hex(24)
        session = {
            "id": sid,
            "object": "checkout.session",
            "url": f"{base}/c/pay/{sid}",
            "mode": "payment",
            "amount_total": total,
            "amount_subtotal": total,
            "currency": currencies.pop(),
            "metadata": metadata,
            "client_reference_id": params.get("client_reference_id"),
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "locale": params.get("locale"),
            "payment_status": "unpaid",
            "status": "open",
            "payment_intent": None,
            "created": int(self.clock()),
            "livemode": False,
            "_lines": lines,
        }
        self.sessions[sid] = session
        return session

    @staticmethod
    def public(session: dict[str, Any]) -> dict[str, Any]:
        """The session as the API shows it."""
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def pay(self, sid: str) -> dict[str, Any]:
        """Complete a session as if the payer paid; return the event posted."""
        with self.lock:
            session = self.sessions[sid]
            if session["payment_status"] != "paid":
                session.update(payment_status="paid", status="complete", payment_intent="pi_" + secrets.token_hex(12))
            event = {
                "id": "evt_" + secrets.token_hex(12),
                "object": "event",
                "api_version": "2024-06-20",
                "created": int(self.clock()),
                "type": "checkout.session.completed",
                "livemode": False,
                "data": {"object": self.public(session)},
            }
            self.events.append(event)
        self.pusher.push(self.webhook_url, event)
        return event

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Stripe emulator", docs_url=None, redoc_url=None, openapi_url=None)

        @app.post("/v1/checkout/sessions")
        async def create(request: Request) -> Response:
            if not self._authorised(request):
                return _error(401, "api_key_invalid", "Invalid API Key provided.")
            raw = (await request.body()).decode("utf-8", "replace")
            try:
                params = parse_brackets(parse_qsl(raw, keep_blank_values=True))
            except ValueError as exc:
                return _error(400, "parameter_invalid", str(exc))
            key = request.headers.get("idempotency-key")
            with self.lock:
                if key and key in self._idempotency:
                    seen_raw, answer = self._idempotency[key]
                    if seen_raw != raw:
                        return _error(
                            400,
                            "idempotency_key_in_use",
                            "Keys for idempotent requests can only be used with the same parameters they were first "
                            "used with.",
                            kind="idempotency_error",
                        )
                    return JSONResponse(answer, headers={"Idempotent-Replayed": "true"})
                base = self.base_url or str(request.base_url).rstrip("/")
                made = self._create(params, base)
                if isinstance(made, JSONResponse):
                    return made
                answer = self.public(made)
                if key:
                    self._idempotency[key] = (raw, answer)
            return JSONResponse(answer)

        @app.get("/v1/checkout/sessions/{sid}")
        async def retrieve(request: Request, sid: str) -> Response:
            if not self._authorised(request):
                return _error(401, "api_key_invalid", "Invalid API Key provided.")
            if sid not in self.sessions:
                return _error(404, "resource_missing", f"No such checkout.session: '{sid}'", "id")
            return JSONResponse(self.public(self.sessions[sid]))

        @app.get("/c/pay/{sid}")
        async def checkout_page(sid: str) -> Response:
            session = self.sessions.get(sid)
            if session is None:
                return HTMLResponse("<h1>Not found</h1>", 404)
            cur = session["currency"].upper()
            rows = "".join(
                f"<li>{html.escape(i['name'])}: {_major(i['unit_amount'] * i['quantity'], cur)} {cur}</li>"
                for i in session["_lines"]
            )
            amount = _major(session["amount_total"], cur)
            page = (
                "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Checkout (emulator)</title></head><body>"
                f"<h1>Checkout</h1><ul>{rows}</ul><p id='total'>Total: {amount} {cur}</p>"
                f"<form method='post' action='/c/pay/{sid}'><button id='pay' type='submit'>Pay</button></form>"
                f"<form method='post' action='/c/pay/{sid}/cancel'><button id='cancel' type='submit'>Cancel</button>"
                "</form></body></html>"
            )
            return HTMLResponse(page)

        @app.post("/c/pay/{sid}")
        async def complete(sid: str) -> Response:
            if sid not in self.sessions:
                return HTMLResponse("<h1>Not found</h1>", 404)
            self.pay(sid)
            target = self.sessions[sid]["success_url"].replace("{CHECKOUT_SESSION_ID}", sid)
            return RedirectResponse(target, status_code=303)

        @app.post("/c/pay/{sid}/cancel")
        async def cancel(sid: str) -> Response:
            if sid not in self.sessions:
                return HTMLResponse("<h1>Not found</h1>", 404)
            return RedirectResponse(self.sessions[sid].get("cancel_url") or "/", status_code=303)

        return app

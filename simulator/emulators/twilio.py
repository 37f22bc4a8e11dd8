"""Twilio Programmable Messaging emulator, written from CONNECTORS.md §4.2 (twilio-oai 2010 API).

Serves the real paths under ``/2010-04-01/Accounts/{AccountSid}``:

- ``POST /Messages.json`` (form-encoded, HTTP Basic ``AccountSid:AuthToken``): **201** with the
  Message JSON (``sid`` ``SM…``, ``status`` ``queued``, ``num_segments``, RFC 2822 dates …). Errors are
  ``{"code", "message", "more_info", "status"}``: 401/20003 (authentication), 400/21604 (``To``
  missing), 400/21211 (``To`` not E.164), 400/21603 (no ``From`` nor ``MessagingServiceSid``),
  400/21602 (no ``Body`` nor ``ContentSid``), 400/21617 (``Body`` over 1,600 characters),
  429/20429 (too many concurrent requests; never processed) and 5xx from a :class:`FaultPlan`, which
  can also answer a gateway's 504 page or a proxy's 200 HTML page *after* creating the message;
- ``GET /Messages.json`` with ``To``, ``From``, ``DateSent>=``/``DateSent<`` filters and paging
  (``PageSize``, ``Page``, ``next_page_uri``) - what a client uses to find out whether an ambiguous
  send went through (``lookup_faults`` answers it 503);
- ``GET /Messages/{Sid}.json``.

Status callbacks go to ``StatusCallback`` as form POSTs signed with ``X-Twilio-Signature``
(base64 HMAC-SHA1 of the URL plus the sorted parameters, keyed with the auth token): ``sent`` then
``delivered``, or ``undelivered`` with ``ErrorCode`` 30003 for numbers ending in ``0000``. No callback
for the initial ``queued`` status, as in the real service. Inbound SMS (``POST /_emulator/inbound``)
are posted to ``inbound_url`` the same way.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from simulator.emulators.channel_common import FaultPlan, WebhookPusher, gateway_fault

API = "/2010-04-01/Accounts/{account_sid}"


def twilio_signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """``X-Twilio-Signature``: base64(HMAC-SHA1(auth_token, url + name1value1name2value2…))."""
    data = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def _error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    more = f"https://www.twilio.com/docs/errors/{code}"
    body = {"code": code, "message": message, "more_info": more, "status": status}
    return JSONResponse(body, status_code=status, headers=headers)


def _segments(body: str) -> int:
    gsm = all(ord(c) < 128 for c in body)
    size, multi = (160, 153) if gsm else (70, 67)
    return 1 if len(body) <= size else -(-len(body) // multi)


@dataclass
class TwilioEmulator:
    """In-memory Twilio Messages API.

    Args:
        account_sid: The account in the URL and the Basic-auth user.
        auth_token: Basic-auth password and webhook signing key.
        faults: Fault injection plan.
        inbound_url: Where inbound SMS are posted (the messaging number's webhook).
    """

    account_sid: str = "AC" + "0" * 32
    auth_token: str = "twilio-test-token"
    faults: FaultPlan = field(default_factory=FaultPlan)
    inbound_url: str | None = None
    lookup_faults: FaultPlan = field(default_factory=FaultPlan)

    def __post_init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: dict[str, dict[str, Any]] = {}
        self.requests = 0
        self.pusher = WebhookPusher(self._build_callbacks)
        self._basic = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        self.app = self._build_app()

    def _build_callbacks(self, url: str, items: list[dict[str, str]]) -> list[tuple[bytes, dict[str, str]]]:
        out = []
        for params in items:
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": twilio_signature(self.auth_token, url, params),
                "I-Twilio-Idempotency-Token": hashlib.sha256(urlencode(sorted(params.items())).encode()).hexdigest(),
            }
            out.append((urlencode(params).encode(), headers))
        return out

    def _callback(self, msg: dict[str, Any], status: str, error_code: str | None = None) -> None:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": msg["sid"],
            "SmsSid": msg["sid"],
            "MessageStatus": status,
            "SmsStatus": status,
            "From": msg["from"] or "",
            "To": msg["to"],
        }
        if msg.get("messaging_service_sid"):
            params["MessagingServiceSid"] = msg["messaging_service_sid"]
        if error_code:
            params["ErrorCode"] = error_code
        self.pusher.push(msg["_callback"], params)

    def inbound(self, from_: str, to: str, body: str) -> str:
        """A customer texts the business number: post the inbound webhook."""
        sid = "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": "2010-04-01",
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsStatus": "received",
            "From": from_,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(_segments(body)),
        }
        self.pusher.push(self.inbound_url, params)
        return sid

    def _public(self, msg: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in msg.items() if not k.startswith("_")}

    def _create(self, form: dict[str, str]) -> JSONResponse:
        to = form.get("To")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not re.fullmatch(r"(whatsapp:)?\+[1-9]\d{6,14}", to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _error(400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message.")
        body = form.get("Body", "")
        if not body and not form.get("ContentSid"):
            return _error(400, 21602, "Message body is required.")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        now = datetime.now(UTC)
        sid = "SM" + secrets.token_hex(16)
        base = API.format(account_sid=self.account_sid)
        msg = {
            "sid": sid,
            "account_sid": self.account_sid,
            "to": to,
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": body,
            "status": "accepted" if form.get("MessagingServiceSid") else "queued",
            "num_segments": str(_segments(body)),
            "num_media": "0",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "price": None,
            "price_unit": "USD",
            "error_code": None,
            "error_message": None,
            "date_created": format_datetime(now, usegmt=True),
            "date_updated": format_datetime(now, usegmt=True),
            "date_sent": None,
            "uri": f"{base}/Messages/{sid}.json",
            "subresource_uris": {"media": f"{base}/Messages/{sid}/Media.json"},
            "_created": now,
            "_callback": form.get("StatusCallback"),
        }
        with self.lock:
            self.messages[sid] = msg
        out = self._public(msg)
        # The message moves on after the answer: sent, then delivered or undelivered.
        msg["status"], msg["date_sent"], msg["_sent"] = "sent", msg["date_created"], now
        if msg["_callback"]:
            self._callback(msg, "sent")
        if to.endswith("0000"):
            msg["status"], msg["error_code"], msg["error_message"] = "undelivered", 30003, "Unreachable handset"
            if msg["_callback"]:
                self._callback(msg, "undelivered", "30003")
        else:
            msg["status"] = "delivered"
            if msg["_callback"]:
                self._callback(msg, "delivered")
        return JSONResponse(out, status_code=201)

    def _list(self, query: dict[str, str], path: str) -> JSONResponse:
        def parse(value: str) -> datetime:
            day = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return day if day.tzinfo else day.replace(tzinfo=UTC)

        with self.lock:
            rows = list(self.messages.values())
        if query.get("To"):
            rows = [m for m in rows if m["to"] == query["To"]]
        if query.get("From"):
            rows = [m for m in rows if m["from"] == query["From"]]
        if query.get("DateSent>"):
            since = parse(query["DateSent>"])
            rows = [m for m in rows if m.get("_sent") and m["_sent"] >= since]
        if query.get("DateSent<"):
            until = parse(query["DateSent<"])
            rows = [m for m in rows if m.get("_sent") and m["_sent"] < until]
        rows.sort(key=lambda m: m["_created"], reverse=True)
        size = min(int(query.get("PageSize", 50)), 1000)
        page = int(query.get("Page", 0))
        chunk = rows[page * size : (page + 1) * size]
        keep = {k: v for k, v in query.items() if k not in ("Page", "PageSize")}
        nxt = None
        if (page + 1) * size < len(rows):
            nxt = f"{path}?{urlencode({**keep, 'PageSize': size, 'Page': page + 1})}"
        return JSONResponse(
            {
                "messages": [self._public(m) for m in chunk],
                "page": page,
                "page_size": size,
                "first_page_uri": f"{path}?{urlencode({**keep, 'PageSize': size, 'Page': 0})}",
                "next_page_uri": nxt,
                "previous_page_uri": None,
                "uri": f"{path}?{urlencode(query)}",
            }
        )

    def _build_app(self) -> FastAPI:
        # Plain Starlette routes (``add_route``): the endpoints read the request themselves, so FastAPI's
        # per-request parameter solving (40% of the emulator's application time) is not needed.
        app = FastAPI(title="Twilio Messages emulator", openapi_url=None, docs_url=None, redoc_url=None)

        def authorised(request: Request) -> JSONResponse | None:
            account_sid = request.path_params["account_sid"]
            if request.headers.get("authorization") != self._basic or account_sid != self.account_sid:
                return _error(401, 20003, "Authentication Error - invalid username")
            return None

        async def create(request: Request) -> JSONResponse:
            with self.lock:
                self.requests += 1
            if (denied := authorised(request)) is not None:
                return denied
            fault = self.faults.draw()
            if fault == "429":
                return _error(429, 20429, "Too Many Requests", headers=self.faults.throttle_headers())
            if fault == "5xx":
                return _error(503, 20500, "Service Unavailable")
            if fault == "timeout_before":
                await asyncio.sleep(self.faults.hang_s)
                return _error(503, 20500, "Service Unavailable")
            form = dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))
            resp = self._create(form)
            if fault == "timeout_after":
                await asyncio.sleep(self.faults.hang_s)
            return gateway_fault(fault, resp)

        async def listing(request: Request) -> JSONResponse:
            if (denied := authorised(request)) is not None:
                return denied
            if self.lookup_faults.draw() is not None:
                return _error(503, 20500, "Service Unavailable")
            return self._list(dict(request.query_params), request.url.path)

        async def fetch(request: Request) -> JSONResponse:
            if (denied := authorised(request)) is not None:
                return denied
            with self.lock:
                msg = self.messages.get(request.path_params["sid"])
            if msg is None:
                return _error(404, 20404, f"The requested resource {request.url.path} was not found")
            return JSONResponse(self._public(msg))

        async def inbound(request: Request) -> JSONResponse:
            body = await request.json()
            return JSONResponse({"sid": self.inbound(body["From"], body["To"], body["Body"])})

        app.add_route(API + "/Messages.json", create, methods=["POST"])
        app.add_route(API + "/Messages.json", listing, methods=["GET"])
        app.add_route(API + "/Messages/{sid}.json", fetch, methods=["GET"])
        app.add_route("/_emulator/inbound", inbound, methods=["POST"])
        return app

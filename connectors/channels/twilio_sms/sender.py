"""Twilio SMS sender: form-encoded Messages API, status callbacks, lookup-based reconciliation.

Follows CONNECTORS.md §4.2: ``POST /2010-04-01/Accounts/{sid}/Messages.json`` with HTTP Basic auth
and ``To``/``From`` (or ``MessagingServiceSid``)/``Body``/``StatusCallback``/``ValidityPeriod``;
success is 201 with the Message JSON (``sid`` ``SM…``). Twilio says a 429 (20429) is never processed,
so 429/5xx are retried; 4xx codes are final (21211 invalid number, 21610 unsubscribed recipient,
21614 not a mobile number, ...), except 20003 (authentication), which fails retryably with a hint.

Messages create takes no idempotency key (checked in twilio-oai: only Calls/Payments take
``IdempotencyKey``), so the create is sent with ``idempotent=False``: a 5xx (a gateway's 504 may come
after Twilio created the message), a read timeout or a connection lost after the request left is
*ambiguous* and never retried in the call. ``reconcile`` then lists the messages to the same ``To``
(and ``From``) newest first back to the attempt (not with ``DateSent>``: a message still queued has
no ``date_sent`` and would be missed), and matches the
per-task marker: every body ends with ``Ref <8 hex of the task id>`` (:func:`marker`), so two
messages to one number with the same text (two contacts sharing a phone) are told apart. Found ->
sent (with its sid); a complete listing without it, once ``ValidityPeriod`` has passed since the
attempt (a request still in Twilio's edge cannot appear later than that), -> certainly not sent
(resent); otherwise it cannot tell yet (a 5xx on the lookup is retried, then left for the next run).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import pandas as pd

from connectors.channels.base import (
    Ambiguous,
    Claim,
    HTTPChannelSender,
    NotSent,
    SendResult,
    _no_claim,
    provider_options,
)
from connectors.channels.templates.render import render_message
from connectors.channels.twilio_sms.config import TwilioConfig

logger = logging.getLogger(__name__)

AUTH_CODES = frozenset({20003, 20005})
#: SMS bodies longer than this are refused by Twilio (21617).
MAX_BODY = 1600


def marker(task_id: str) -> str:
    """The per-task marker at the end of every SMS body (a reference the customer can quote too)."""
    return f"Ref {task_id[:8].upper()}"


class TwilioSender(HTTPChannelSender):
    """Sends SMS through Twilio's Messages API.

    Args:
        config: Account, sender and callback settings.
        now: Clock (tests).
        lookup_pages: Listing pages read per task when reconciling.
    """

    name = "twilio_sms"

    def __init__(
        self,
        config: TwilioConfig,
        *,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        lookup_pages: int = 5,
    ) -> None:
        token = config.auth_token.get_secret_value()
        super().__init__(**provider_options(config), secrets=[token])
        self.config = config
        self.set_basic_auth(config.account_sid, token)
        self._messages = f"2010-04-01/Accounts/{config.account_sid}/Messages.json"
        self._now = now
        self._lookup_pages = lookup_pages

    @staticmethod
    def body_of(task: Mapping[str, Any]) -> str:
        """The SMS text of a task (the rendered short template, capped at Twilio's limit)."""
        msg = render_message("sms", {**task["payload"], "channel": "sms"})
        ref = " " + marker(task["task_id"])
        return msg.body[: MAX_BODY - len(ref)].rstrip() + ref

    def form(self, task: Mapping[str, Any]) -> dict[str, str]:
        """The form fields of one Messages create request."""
        to = str(task["payload"].get("phone") or "")
        if not to.startswith("+"):
            # The number itself stays out of the message: task-event details and logs are not for personal data.
            raise ValueError(f"task {task['task_id']}: the contact's phone is not E.164 (+country…); fix it in the CRM")
        form = {"To": to, "Body": self.body_of(task), "ValidityPeriod": str(self.config.validity_period_s)}
        if self.config.messaging_service_sid:
            form["MessagingServiceSid"] = self.config.messaging_service_sid
        else:
            form["From"] = str(self.config.from_number)
        if self.config.status_callback_url:
            form["StatusCallback"] = self.config.status_callback_url
        return form

    def send_one(self, task: Mapping[str, Any], claim: Claim = _no_claim) -> SendResult:
        """Send one SMS (never retried after it may have been accepted); classify Twilio error codes."""
        tid = task["task_id"]
        form = self.form(task)
        resp = self.call("POST", self._messages, data=form, idempotent=False, before_send=lambda: claim(task))
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status_code in (200, 201) and data.get("sid"):
            return SendResult(tid, True, data["sid"])
        if resp.status_code < 300:
            return SendResult(tid, False, detail=f"HTTP {resp.status_code} without a message sid", ambiguous=True)
        code = data.get("code")
        detail = self.redact(f"Twilio error {code}: {data.get('message') or resp.text[:200]}")
        if code in AUTH_CODES or resp.status_code == 401:
            return SendResult(tid, False, detail=detail + " (check COBRANZA_TWILIO__ACCOUNT_SID/AUTH_TOKEN)")
        return SendResult(tid, False, detail=detail + f" ({data.get('more_info', '')})", retryable=False)

    def _lookup(self, task: Mapping[str, Any]) -> tuple[bool, str | None]:
        """``(complete, sid)``: whether the listing was read to the attempt time, and the match if any."""
        since = pd.Timestamp(task.get("last_sending_at") or task["scheduled_at"]).to_pydatetime()
        since = since - timedelta(minutes=10)  # clock skew between us and Twilio; the marker disambiguates
        body, ref = self.body_of(task), marker(task["task_id"])
        params: dict[str, Any] | None = {
            "To": task["payload"].get("phone"),
            "From": self.config.from_number if not self.config.messaging_service_sid else None,
            "PageSize": 100,
        }
        path = self._messages
        for _ in range(self._lookup_pages):
            resp = self.call("GET", path, params=params)
            if resp.status_code >= 300:
                raise NotSent(f"lookup failed: HTTP {resp.status_code} {self.redact(resp.text[:200])}")
            data = resp.json()
            for m in data.get("messages") or []:
                created = parsedate_to_datetime(m["date_created"])
                if created < since:
                    return True, None
                outbound = m.get("direction", "outbound-api").startswith("outbound")
                if outbound and (m.get("body") == body or str(m.get("body") or "").endswith(ref)):
                    return True, m["sid"]
            nxt = data.get("next_page_uri")
            if not nxt:
                return True, None
            path, params = f"{self.base_url}{nxt}", None
        return False, None

    def reconcile(self, tasks: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
        """Look each unsettled task up in the account's message list (see module docstring)."""
        out: dict[str, str | None] = {}
        for task in tasks:
            try:
                complete, sid = self._lookup(task)
            except (Ambiguous, NotSent, ValueError, KeyError) as exc:
                logger.warning("twilio: cannot look up task %s now: %s", task["task_id"], exc)
                continue
            if sid:
                out[task["task_id"]] = sid
                continue
            started = pd.Timestamp(task.get("last_sending_at") or task["scheduled_at"]).to_pydatetime()
            now = task.get("checked_at") or self._now()
            if complete and now - started > timedelta(seconds=self.config.validity_period_s):
                out[task["task_id"]] = None
        return out

"""WhatsApp Cloud API sender: template messages, the 24-hour service window and Graph error codes.

Follows CONNECTORS.md §4.1. One ``POST /{version}/{phone-number-id}/messages`` per task, with our
task id in ``biz_opaque_callback_data`` so the status webhooks (``sent``/``delivered``/``read``/
``failed``) can be tied back to the task. Inside the customer-service window (the contact wrote to
us in the last 24 h) the rendered consolidated message goes as free-form text; outside it, the
approved template with four body parameters (name, total, number of invoices, payment link).

Error classification is by Graph ``error.code``, not HTTP status: throttling (4, 80007, 130429,
131048, 131056) and transient failures (131016, ``is_transient``) are retried later; auth errors
(0, 190, 3, 10, 200-299) fail retryably with a hint to fix the token; recipient and template errors
(131026, 131047, 131009, 132000, 132001, ...) are final. The API takes no idempotency key, so a
timeout, a 5xx (a gateway's 504 may follow an accepted message) or a connection lost after the
request left is ambiguous and never retried; the Cloud API has no message lookup, so it is settled
only by a status webhook carrying our task id (``biz_opaque_callback_data``). Without one within
``status_wait_s`` the outbox dead-letters it as "ambiguous: may have been delivered", never resends.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.channels.base import Claim, HTTPChannelSender, SendResult, _no_claim, provider_options
from connectors.channels.templates.render import money, render_message, resolve_language, resolve_locale, safe_link
from connectors.channels.whatsapp_cloud.config import WhatsAppConfig

logger = logging.getLogger(__name__)

THROTTLE_CODES = frozenset({4, 80007, 130429, 131048, 131056})
TRANSIENT_CODES = frozenset({1, 2, 131000, 131016})
AUTH_CODES = frozenset({0, 3, 10, 190, *range(200, 300)})

#: ``task_ids -> {task_id: wamid}`` from status webhooks already received.
StatusLookup = Callable[[Sequence[str]], Mapping[str, str]]
#: ``wa_id (digits) -> last inbound message instant`` (None when the user never wrote).
WindowLookup = Callable[[str], datetime | None]


def wa_id(phone: str | None) -> str:
    """E.164 (``+5215512345678``) -> the digits WhatsApp expects in ``to``."""
    return "".join(ch for ch in str(phone or "") if ch.isdigit())


class WhatsAppSender(HTTPChannelSender):
    """Sends WhatsApp messages through the Cloud API.

    Args:
        config: Connection and template settings.
        status_lookup: Reads delivery statuses already received by the webhook (reconcile).
        window_lookup: Last inbound message instant per user (the 24-hour window).
        now: Clock (tests).
    """

    name = "whatsapp_cloud"

    def __init__(
        self,
        config: WhatsAppConfig,
        *,
        status_lookup: StatusLookup | None = None,
        window_lookup: WindowLookup | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        token = config.token.get_secret_value()
        super().__init__(**provider_options(config), secrets=[token])
        self.config = config
        self.headers["Authorization"] = f"Bearer {token}"
        self.headers["Content-Type"] = "application/json"
        self._path = f"{config.api_version}/{config.phone_number_id}/messages"
        self._status_lookup = status_lookup
        self._window_lookup = window_lookup
        self._now = now
        #: How long the outbox waits for a status webhook before dead-lettering an ambiguous send.
        self.ambiguity_window = timedelta(seconds=config.status_wait_s)

    def _window_open(self, to: str) -> bool:
        if self._window_lookup is None:
            return False
        last = self._window_lookup(to)
        return last is not None and (self._now() - last).total_seconds() < 24 * 3600 - self.config.window_margin_s

    def message_body(self, task: Mapping[str, Any]) -> dict[str, Any]:
        """The Graph request body for one task (text inside the window, template outside)."""
        payload = task["payload"]
        to = wa_id(payload.get("phone"))
        if not to:
            raise ValueError(f"task {task['task_id']}: contact has no phone number for WhatsApp")
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "biz_opaque_callback_data": task["task_id"],
        }
        if self._window_open(to):
            msg = render_message("whatsapp", {**payload, "channel": "whatsapp"})
            body.update(type="text", text={"preview_url": False, "body": msg.body[:4096]})
            return body
        language, _ = resolve_language(payload.get("language"), payload.get("country"))
        locale = resolve_locale(language, payload.get("country"))
        code = self.config.template_languages.get(language) or self.config.template_languages["en"]
        params = [
            payload.get("contact_name") or payload.get("customer_name") or "-",
            money(payload["amount_at_stake"], payload["currency"], locale),
            str(len(payload.get("invoices") or []) or payload.get("n_overdue_invoices") or 0),
            safe_link(payload.get("payment_link")) or "-",
        ]
        body.update(
            type="template",
            template={
                "name": self.config.template_name,
                "language": {"code": code},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": str(p)} for p in params]}],
            },
        )
        return body

    def send_one(self, task: Mapping[str, Any], claim: Claim = _no_claim) -> SendResult:
        """Send one task (never retried once it may have been accepted); classify Graph errors by code."""
        tid = task["task_id"]
        body = json.dumps(self.message_body(task), ensure_ascii=False).encode()
        resp = self.call("POST", self._path, data=body, idempotent=False, before_send=lambda: claim(task))
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status_code < 300:
            messages = data.get("messages") or []
            if not messages or not messages[0].get("id"):
                return SendResult(tid, False, detail=f"HTTP {resp.status_code} without a message id", ambiguous=True)
            return SendResult(tid, True, messages[0]["id"])
        err = data.get("error") or {}
        code = err.get("code")
        detail = self.redact(f"WhatsApp error {code}: {err.get('message') or resp.text[:200]}")
        if code in THROTTLE_CODES or code in TRANSIENT_CODES or err.get("is_transient"):
            return SendResult(tid, False, detail=detail + " (throttled/transient: retried on the next run)")
        if code in AUTH_CODES or resp.status_code in (401, 403):
            hint = " (check COBRANZA_WHATSAPP__TOKEN and its whatsapp_business_messaging permission)"
            return SendResult(tid, False, detail=detail + hint)
        return SendResult(tid, False, detail=detail, retryable=False)

    def reconcile(self, tasks: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
        """Confirm ambiguous sends from status webhooks that carry our task id; never guess a miss."""
        if self._status_lookup is None:
            return {}
        found = self._status_lookup([t["task_id"] for t in tasks])
        return {tid: wamid for tid, wamid in found.items() if wamid}

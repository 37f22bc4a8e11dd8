"""HubSpot call-task sender: one CRM task per call decision, associated with the contact.

``POST /crm/v3/objects/tasks`` with ``hs_task_type`` ``CALL`` (``TODO`` for internal reviews such as
a dispute review), ``hs_timestamp`` = the scheduled lawful slot (the task's due time for the
collector), the rendered call script as ``hs_task_body`` and an association to the contact with
the HubSpot-defined type 204 (task -> contact). The body ends with ``Ref: cbz-<task id>``.

Idempotency: the objects API takes no idempotency key (CONNECTORS.md §3.1; the batch endpoint's
``objectWriteTraceId`` only correlates errors), and a custom property with ``hasUniqueValue`` (which
would turn a second create into a 409) is not documented for tasks in the material we have, so we do
not rely on it. The create is therefore sent with ``idempotent=False``: a 5xx (a gateway's 502/504
may come after HubSpot created the task), a read timeout or a lost connection is *ambiguous* and
never retried in the call. ``reconcile`` settles it with a search on the deterministic token
(``hs_task_body CONTAINS_TOKEN cbz-<task id>``). Search lags writes (about 45 s observed), so a miss
is conclusive only once ``index_lag_s`` has passed since the attempt's real send time (the
``sending`` event); before that the task stays ``unknown`` and is looked up again on the next run.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
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
from connectors.channels.hubspot_tasks.config import HubSpotTasksConfig
from connectors.channels.templates.render import render_message

logger = logging.getLogger(__name__)


def reference(task_id: str) -> str:
    """The search token written in every task body."""
    return f"cbz-{task_id[:24]}"


def hubspot_contact_id(contact_id: Any) -> str | None:
    """Our contact key (``K000123``) -> HubSpot record id (``123``), as the CRM source maps it."""
    m = re.search(r"(\d+)$", str(contact_id or ""))
    return str(int(m.group(1))) if m else None


class HubSpotTaskSender(HTTPChannelSender):
    """Creates call (and review) tasks in HubSpot.

    Args:
        config: Portal settings.
        now: Clock (tests).
    """

    name = "hubspot_tasks"

    def __init__(self, config: HubSpotTasksConfig, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        token = config.access_token.get_secret_value()
        super().__init__(**provider_options(config), secrets=[token])
        self.config = config
        self.headers["Authorization"] = f"Bearer {token}"
        self._now = now

    def task_body(self, task: Mapping[str, Any]) -> dict[str, Any]:
        """The create request for one task."""
        action = task["action"] if task["action"] in ("call_task", "dispute_review", "alert_review") else "call_task"
        msg = render_message(action, {**task["payload"], "channel": task["channel"]})
        due = pd.Timestamp(task["scheduled_at"]).tz_convert("UTC")
        props: dict[str, Any] = {
            "hs_timestamp": due.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "hs_task_type": "CALL" if task["channel"] == "call" else "TODO",
            "hs_task_subject": msg.subject[:255],
            "hs_task_body": f"{msg.body_text}\n\nRef: {reference(task['task_id'])}",
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH" if task["channel"] == "call" else "MEDIUM",
        }
        if self.config.owner_id:
            props["hubspot_owner_id"] = self.config.owner_id
        body: dict[str, Any] = {"properties": props}
        contact = hubspot_contact_id(task.get("contact_id"))
        if contact:
            kind = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": self.config.task_to_contact_type_id}
            body["associations"] = [{"to": {"id": contact}, "types": [kind]}]
        return body

    def send_one(self, task: Mapping[str, Any], claim: Claim = _no_claim) -> SendResult:
        """Create one task (never retried once it may exist); 4xx other than 401/429 are final."""
        tid = task["task_id"]
        body = self.task_body(task)
        resp = self.call("POST", "crm/v3/objects/tasks", json=body, idempotent=False, before_send=lambda: claim(task))
        try:
            data = resp.json()
        except ValueError:
            data = {}
        if resp.status_code in (200, 201) and data.get("id"):
            return SendResult(tid, True, f"hubspot-task-{data['id']}")
        if resp.status_code < 300:
            return SendResult(tid, False, detail=f"HTTP {resp.status_code} without a task id", ambiguous=True)
        said = data.get("message") or resp.text[:200]
        detail = self.redact(f"HubSpot {resp.status_code} {data.get('category', '')}: {said}")
        if resp.status_code in (401, 403):
            return SendResult(tid, False, detail=detail + " (check COBRANZA_HUBSPOT__ACCESS_TOKEN and its scopes)")
        return SendResult(tid, False, detail=detail, retryable=False)

    def reconcile(self, tasks: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
        """Search each unsettled task by its reference token (see module docstring)."""
        out: dict[str, str | None] = {}
        for task in tasks:
            search = {
                "filterGroups": [
                    {
                        "filters": [
                            {
                                "propertyName": "hs_task_body",
                                "operator": "CONTAINS_TOKEN",
                                "value": reference(task["task_id"]),
                            }
                        ]
                    }
                ],
                "properties": ["hs_task_subject"],
                "limit": 1,
            }
            try:
                resp = self.call("POST", "crm/v3/objects/tasks/search", json=search)
            except (Ambiguous, NotSent, ValueError) as exc:
                logger.warning("hubspot: cannot look up task %s now: %s", task["task_id"], exc)
                continue
            if resp.status_code >= 300:
                logger.warning("hubspot: lookup of task %s failed: HTTP %s", task["task_id"], resp.status_code)
                continue
            try:
                results = resp.json().get("results") or []
            except (ValueError, AttributeError):
                logger.warning("hubspot: lookup of task %s answered no JSON; retried on the next run", task["task_id"])
                continue
            if results:
                out[task["task_id"]] = f"hubspot-task-{results[0]['id']}"
                continue
            started = pd.Timestamp(task.get("last_sending_at") or task["scheduled_at"]).to_pydatetime()
            now = task.get("checked_at") or self._now()
            if (now - started).total_seconds() > self.config.index_lag_s:
                out[task["task_id"]] = None
        return out

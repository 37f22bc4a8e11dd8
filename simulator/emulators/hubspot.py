"""HubSpot-style CRM search emulator serving a simulator output folder (CONNECTORS.md §3.1, §5).

Written from the contract sheet, not from HubSpot's (proprietary) OpenAPI spec. It serves
``POST /crm/v3/objects/{objectType}/search`` (and the date-versioned ``/crm/objects/{version}/...``
path) for ``contacts`` and a custom object holding collection interactions:

- ``filterGroups`` (OR of groups, AND of filters; at most 5 groups / 25 filters), operators EQ,
  NEQ, LT, LTE, GT, GTE, BETWEEN, IN, NOT_IN, HAS_PROPERTY, NOT_HAS_PROPERTY; datetime properties
  compare as instants whether the filter value is epoch milliseconds or ISO-8601;
- ``sorts`` as strings (``"-prop"`` for descending) or ``{"propertyName", "direction"}`` objects,
  ties broken by id; ``properties``; ``limit`` (at most 200); ``after`` (an offset cursor);
- responses ``{"total", "results": [{"id", "properties", "createdAt", "updatedAt", "archived"}],
  "paging": {"next": {"after", "link"}}}`` with every property value a string (or null), no
  ``paging`` on the last page, and HTTP 400 once a query pages past ``search_cap`` (10,000) results;
- errors ``{"status": "error", "message", "correlationId", "category"}``: 401 on a missing or wrong
  Bearer token, 400 on a bad request, 429 with ``Retry-After`` every ``rate_limit_every``-th request
  when set (to test back-off).

Data: ``crm/contacts.jsonl`` -> ``contacts`` (id = digits of ``contact_id``; custom ``cobranza_*``
properties for the ERP customer id, role, time zone, consents and preferences; ``hs_language``),
``crm/interactions.csv`` -> the custom object ``collection_interactions`` (also addressable as
``2-1001``; id = digits of ``interaction_id``; the contact is its HubSpot id).

Tasks (what the call-task channel creates): ``POST /crm/v3/objects/tasks`` with ``properties``
(``hs_timestamp`` required, ``hs_task_type`` in CALL/EMAIL/TODO/LINKED_IN, ``hs_task_subject``,
``hs_task_body``, ``hs_task_status``, ``hs_task_priority``) and ``associations``
(``[{"to": {"id"}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}]}]``,
204 = task to contact; the contact must exist) -> 201 with the record; 400 ``VALIDATION_ERROR``
otherwise. Tasks are searchable like the other objects, including ``CONTAINS_TOKEN``, but only
``index_lag_s`` after their creation (the search index lags writes). Faults for task creation
(including a gateway's 504 after the task was created) and for task searches come from optional
:class:`~simulator.emulators.channel_common.FaultPlan` objects.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import duckdb
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from simulator.emulators.channel_common import FaultPlan, gateway_fault

INTERACTIONS_OBJECT = "collection_interactions"
INTERACTIONS_OBJECT_ID = "2-1001"
DATETIME_PROPS = {
    "lastmodifieddate",
    "createdate",
    "hs_lastmodifieddate",
    "hs_createdate",
    "cobranza_occurred_at",
    "hs_timestamp",
}
TASK_TYPES = ("CALL", "EMAIL", "TODO", "LINKED_IN")
TASK_TO_CONTACT = 204
DEFAULT_PROPS = {
    "contacts": ["createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"],
    INTERACTIONS_OBJECT: ["hs_createdate", "hs_lastmodifieddate", "hs_object_id"],
}


def _digits(key: str) -> str:
    m = re.search(r"(\d+)$", key or "")
    if not m:
        raise ValueError(f"cannot derive a HubSpot id from {key!r}")
    return str(int(m.group(1)))


def _iso(text: str | None) -> str | None:
    """Simulator instant text (UTC) -> HubSpot's ``2024-11-09T16:56:36.000Z``."""
    if not text:
        return None
    return datetime.fromisoformat(text).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"


def _instant(value: Any) -> datetime | None:
    """Epoch milliseconds or ISO-8601 -> aware UTC datetime."""
    if value is None or value == "":
        return None
    text = str(value).strip()
    if re.fullmatch(r"-?\d+", text):
        return datetime.fromtimestamp(int(text) / 1000, UTC)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _error(
    status: int, message: str, category: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **extra}
    return JSONResponse(body, status_code=status, headers=headers)


class HubSpotEmulator:
    """In-memory CRM built from a simulator folder, served with HubSpot's search contract.

    Args:
        data_dir: Simulator output folder (with ``crm/``).
        token: The Bearer token clients must send.
        rate_limit_every: Answer every N-th request with 429 (None = never).
        retry_after: ``Retry-After`` value sent with injected 429s (seconds or an HTTP date).
        search_cap: Results one query may page through before HTTP 400 (HubSpot: 10,000).
        task_faults: Faults of task creation (see ``channel_common``).
        index_lag_s: Seconds before a created task shows up in search results (HubSpot's search
            index lags writes: about 45 s was observed, "a few seconds" per CONNECTORS.md §3.1).
        search_faults: Faults (any kind: answered 502) of task searches, i.e. of status lookups.
    """

    def __init__(
        self,
        data_dir: Path,
        token: str = "pat-test-token",
        *,
        rate_limit_every: int | None = None,
        retry_after: str = "1",
        search_cap: int = 10_000,
        task_faults: FaultPlan | None = None,
        index_lag_s: float = 0.0,
        search_faults: FaultPlan | None = None,
    ) -> None:
        self.token = token
        self.task_faults = task_faults or FaultPlan()
        self.search_faults = search_faults or FaultPlan()
        self.index_lag_s = index_lag_s
        self._indexed_at: dict[tuple[str, str], float] = {}
        self._task_ids = itertools.count(90_000_000_001)
        self.rate_limit_every = rate_limit_every
        self.retry_after = retry_after
        self.search_cap = search_cap
        self.requests = 0
        self.rate_limited = 0
        self.lock = threading.Lock()
        self.objects: dict[str, dict[str, dict[str, Any]]] = {"contacts": {}, INTERACTIONS_OBJECT: {}, "tasks": {}}
        self.associations: dict[str, list[dict[str, Any]]] = {}
        self._load(Path(data_dir))
        self.app = self._build_app()

    # --- data --------------------------------------------------------------------------------

    def _load(self, data_dir: Path) -> None:
        contacts = self.objects["contacts"]
        with open(data_dir / "crm" / "contacts.jsonl", encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                c = json.loads(line)
                cid = _digits(c["contact_id"])
                first, _, last = (c["full_name"] or "").partition(" ")
                modified = _iso(c["updated_at"])
                props = {
                    "hs_object_id": cid,
                    "firstname": first or None,
                    "lastname": last or None,
                    "email": c.get("email"),
                    "phone": c.get("phone"),
                    "hs_language": c.get("language"),
                    "cobranza_customer_id": c.get("customer_id"),
                    "cobranza_role": c.get("role"),
                    "cobranza_timezone": c.get("timezone"),
                    "cobranza_preferred_channel": c.get("preferred_channel"),
                    "cobranza_preferred_hour": c.get("preferred_hour"),
                    "createdate": modified,
                    "lastmodifieddate": modified,
                }
                for ch in ("email", "whatsapp", "sms", "call"):
                    props[f"cobranza_consent_{ch}"] = c.get(f"consent_{ch}")
                contacts[cid] = self._record(cid, props, "createdate", "lastmodifieddate")

        interactions = self.objects[INTERACTIONS_OBJECT]
        con = duckdb.connect()
        try:
            p = str(data_dir / "crm" / "interactions.csv").replace("'", "''")
            rel = con.sql(f"select * from read_csv('{p}', all_varchar = true, header = true)")
            cols = rel.columns
            rows = [dict(zip(cols, r, strict=True)) for r in rel.fetchall()]
        finally:
            con.close()
        for r in rows:
            iid = _digits(r["interaction_id"])
            at = _iso(r["occurred_at"])
            props = {
                "hs_object_id": iid,
                "cobranza_customer_id": r["customer_id"],
                "cobranza_contact_id": _digits(r["contact_id"]) if r["contact_id"] else None,
                "cobranza_channel": r["channel"],
                "cobranza_direction": r["direction"],
                "cobranza_occurred_at": at,
                "cobranza_outcome": r["outcome"],
                "cobranza_promised_date": r["promised_date"],
                "cobranza_promised_amount": r["promised_amount"],
                "hs_createdate": at,
                "hs_lastmodifieddate": at,
            }
            interactions[iid] = self._record(iid, props, "hs_createdate", "hs_lastmodifieddate")

    @staticmethod
    def _record(rid: str, props: dict[str, Any], created: str, modified: str) -> dict[str, Any]:
        text = {k: (None if v is None else str(v).lower() if isinstance(v, bool) else str(v)) for k, v in props.items()}
        return {
            "id": rid,
            "properties": text,
            "createdAt": text[created],
            "updatedAt": text[modified],
            "archived": False,
        }

    def touch(self, object_type: str, record_id: str, when: datetime | None = None, **props: Any) -> str:
        """Change a record's properties and bump its last-modified date.

        Args:
            object_type: ``contacts`` or the interactions object name.
            record_id: Record id.
            when: New modification instant (default: one second after the newest, or now).
            **props: Property values to set (stored as strings).

        Returns:
            The new last-modified value (ISO).
        """
        obj = self._object(object_type)
        modified_prop = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
        with self.lock:
            if when is None:
                newest = max(_instant(r["properties"][modified_prop]) for r in obj.values())
                when = max(newest + timedelta(seconds=1), datetime.now(UTC))
            stamp = when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
            rec = obj[str(record_id)]
            for k, v in props.items():
                rec["properties"][k] = None if v is None else str(v).lower() if isinstance(v, bool) else str(v)
            rec["properties"][modified_prop] = stamp
            rec["updatedAt"] = stamp
        return stamp

    def _object(self, object_type: str) -> dict[str, dict[str, Any]]:
        if object_type == INTERACTIONS_OBJECT_ID:
            object_type = INTERACTIONS_OBJECT
        if object_type not in self.objects:
            raise KeyError(object_type)
        return self.objects[object_type]

    # --- search ------------------------------------------------------------------------------

    def search(self, object_type: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Run a search request; return ``(status, body)``."""
        try:
            obj = self._object(object_type)
        except KeyError:
            return 404, {"message": f"Unable to infer object type from: {object_type}", "category": "OBJECT_NOT_FOUND"}
        groups = body.get("filterGroups") or []
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 0 < limit <= 200:
            return 400, {"message": f"limit must be between 1 and 200, got {limit!r}", "category": "VALIDATION_ERROR"}
        if len(groups) > 5 or sum(len(g.get("filters") or []) for g in groups) > 25:
            return 400, {
                "message": "Too many filter groups or filters (max 5 groups, 25 filters)",
                "category": "VALIDATION_ERROR",
            }
        try:
            offset = int(body.get("after") or 0)
            preds = [[_filter(f) for f in (g.get("filters") or [])] for g in groups]
            sort_key = _sort_key(body.get("sorts") or [])
        except ValueError as exc:
            return 400, {"message": str(exc), "category": "VALIDATION_ERROR"}
        if offset >= self.search_cap:
            return 400, {
                "message": f"Search results are limited to {self.search_cap} items; narrow the query (after={offset})",
                "category": "VALIDATION_ERROR",
            }
        with self.lock:
            now = time.monotonic()
            found = [
                r
                for r in obj.values()
                if not r["archived"]
                and self._indexed_at.get((object_type, r["id"]), 0.0) <= now
                and (not preds or any(all(p(r) for p in g) for g in preds))
            ]
            found.sort(key=sort_key)
            total = len(found)
            page = found[offset : min(offset + limit, self.search_cap)]
            wanted = body.get("properties") or DEFAULT_PROPS.get(object_type, ["hs_object_id"])
            results = [
                {
                    "id": r["id"],
                    "properties": {p: r["properties"].get(p) for p in sorted({*wanted, "hs_object_id"})},
                    "createdAt": r["createdAt"],
                    "updatedAt": r["updatedAt"],
                    "archived": False,
                }
                for r in page
            ]
        out: dict[str, Any] = {"total": total, "results": results}
        nxt = offset + len(page)
        if nxt < total and page:
            out["paging"] = {"next": {"after": str(nxt), "link": f"?after={nxt}"}}
        return 200, out

    # --- tasks -------------------------------------------------------------------------------

    def create_task(self, body: Any) -> tuple[int, dict[str, Any]]:
        """Validate and store a task; return ``(status, body)`` like ``POST /crm/v3/objects/tasks``."""
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            return 400, {"message": "Invalid input: 'properties' is required", "category": "VALIDATION_ERROR"}
        props = {k: None if v is None else str(v) for k, v in body["properties"].items()}
        if not props.get("hs_timestamp") or _instant(props["hs_timestamp"]) is None:
            return 400, {
                "message": "Property values were not valid: hs_timestamp is required (epoch ms or ISO-8601)",
                "category": "VALIDATION_ERROR",
            }
        if props.get("hs_task_type") and props["hs_task_type"] not in TASK_TYPES:
            return 400, {
                "message": f"Property values were not valid: {props['hs_task_type']!r} was not one of the allowed "
                f"options for hs_task_type: {list(TASK_TYPES)}",
                "category": "VALIDATION_ERROR",
            }
        assocs = body.get("associations") or []
        contacts = self.objects["contacts"]
        for a in assocs:
            to = str((a.get("to") or {}).get("id", ""))
            types = a.get("types") or []
            if not types or any(t.get("associationTypeId") != TASK_TO_CONTACT for t in types):
                return 400, {
                    "message": f"Invalid association type for task -> contact (expected {TASK_TO_CONTACT})",
                    "category": "VALIDATION_ERROR",
                }
            if to not in contacts:
                return 400, {"message": f"No contact with ID {to!r} exists", "category": "VALIDATION_ERROR"}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"
        with self.lock:
            tid = str(next(self._task_ids))
            props = {
                "hs_task_status": "NOT_STARTED",
                "hs_task_priority": "NONE",
                **props,
                "hs_object_id": tid,
                "hs_createdate": now,
                "hs_lastmodifieddate": now,
            }
            rec = self._record(tid, props, "hs_createdate", "hs_lastmodifieddate")
            self.objects["tasks"][tid] = rec
            # Search sees a new object only once the index has caught up (reads by id would not lag).
            self._indexed_at[("tasks", tid)] = time.monotonic() + self.index_lag_s
            self.associations[tid] = [{"toObjectId": str(a["to"]["id"]), "types": a["types"]} for a in assocs]
        return 201, {**rec, "properties": dict(rec["properties"])}

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="HubSpot-style CRM emulator", openapi_url=None, docs_url=None, redoc_url=None)

        @app.post("/crm/v3/objects/tasks")
        async def create_task(request: Request) -> JSONResponse:
            with self.lock:
                self.requests += 1
            if request.headers.get("authorization", "") != f"Bearer {self.token}":
                return _error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")
            fault = self.task_faults.draw()
            if fault == "429":
                return _error(
                    429,
                    "You have reached your secondly limit.",
                    "RATE_LIMITS",
                    headers=self.task_faults.throttle_headers(),
                    errorType="RATE_LIMIT",
                    policyName="SECONDLY",
                )
            if fault in ("5xx", "timeout_before"):
                if fault == "timeout_before":
                    await asyncio.sleep(self.task_faults.hang_s)
                return _error(502, "Bad Gateway", "INTERNAL_ERROR")
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return _error(400, "Invalid input JSON on line 1", "VALIDATION_ERROR")
            status, payload = self.create_task(body)
            if fault == "timeout_after":
                await asyncio.sleep(self.task_faults.hang_s)
            if status != 201:
                return _error(status, payload["message"], payload["category"])
            return gateway_fault(fault, JSONResponse(payload, status_code=201))

        async def handle(object_type: str, request: Request) -> JSONResponse:
            with self.lock:
                self.requests += 1
                n = self.requests
            if request.headers.get("authorization", "") != f"Bearer {self.token}":
                return _error(
                    401,
                    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
                    "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                    "INVALID_AUTHENTICATION",
                )
            if object_type == "tasks" and self.search_faults.draw() is not None:
                return _error(502, "Bad Gateway", "INTERNAL_ERROR")
            if self.rate_limit_every and n % self.rate_limit_every == 0:
                with self.lock:
                    self.rate_limited += 1
                return _error(
                    429,
                    "You have reached your secondly limit.",
                    "RATE_LIMITS",
                    headers={"Retry-After": self.retry_after},
                    errorType="RATE_LIMIT",
                    policyName="SECONDLY",
                )
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                return _error(400, "Invalid input JSON on line 1", "VALIDATION_ERROR")
            status, payload = self.search(object_type, body if isinstance(body, dict) else {})
            if status != 200:
                return _error(status, payload["message"], payload["category"])
            return JSONResponse(payload)

        @app.post("/crm/v3/objects/{object_type}/search")
        async def search_v3(object_type: str, request: Request) -> JSONResponse:
            return await handle(object_type, request)

        @app.post("/crm/objects/{version}/{object_type}/search")
        async def search_dated(version: str, object_type: str, request: Request) -> JSONResponse:
            return await handle(object_type, request)

        return app


def _comparable(prop: str, value: Any) -> Any:
    if value is None:
        return None
    if prop in DATETIME_PROPS:
        return _instant(value)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return str(value)


def _filter(f: dict[str, Any]) -> Callable[[dict[str, Any]], bool]:
    prop, op = f.get("propertyName"), f.get("operator", "EQ")
    if not prop:
        raise ValueError("filter without propertyName")

    def get(r: dict[str, Any]) -> Any:
        return _comparable(prop, r["properties"].get(prop))

    def cmp(fn: Callable[[Any, Any], bool], target: Any) -> Callable[[dict[str, Any]], bool]:
        t = _comparable(prop, target)

        def check(r: dict[str, Any]) -> bool:
            v = get(r)
            try:
                return v is not None and t is not None and fn(v, t)
            except TypeError:  # number vs text: compare as text, like a string property would
                return fn(str(r["properties"].get(prop)), str(target))

        return check

    ops: dict[str, Callable[[Any, Any], bool]] = {
        "EQ": lambda a, b: a == b,
        "NEQ": lambda a, b: a != b,
        "LT": lambda a, b: a < b,
        "LTE": lambda a, b: a <= b,
        "GT": lambda a, b: a > b,
        "GTE": lambda a, b: a >= b,
    }
    if op in ops:
        return cmp(ops[op], f.get("value"))
    if op == "BETWEEN":
        lo, hi = cmp(ops["GTE"], f.get("value")), cmp(ops["LTE"], f.get("highValue"))
        return lambda r: lo(r) and hi(r)
    if op in ("IN", "NOT_IN"):
        values = {_comparable(prop, v) for v in f.get("values") or []}
        return (lambda r: get(r) in values) if op == "IN" else (lambda r: get(r) not in values)
    if op == "CONTAINS_TOKEN":
        token = str(f.get("value") or "").lower()
        return lambda r: token in re.split(r"[^\w-]+", str(r["properties"].get(prop) or "").lower())
    if op == "HAS_PROPERTY":
        return lambda r: r["properties"].get(prop) not in (None, "")
    if op == "NOT_HAS_PROPERTY":
        return lambda r: r["properties"].get(prop) in (None, "")
    raise ValueError(f"Unsupported operator {op!r} for property {prop!r}")


def _sort_key(sorts: list[Any]) -> Callable[[dict[str, Any]], tuple]:
    specs: list[tuple[str, bool]] = []
    for s in sorts:
        if isinstance(s, str):
            specs.append((s.lstrip("-"), s.startswith("-")))
        elif isinstance(s, dict) and s.get("propertyName"):
            specs.append((s["propertyName"], str(s.get("direction", "ASCENDING")).upper() == "DESCENDING"))
        else:
            raise ValueError(f"invalid sort {s!r}")

    def key(r: dict[str, Any]) -> tuple:
        out: list[Any] = []
        for prop, desc in specs:
            v = _comparable(prop, r["properties"].get(prop))
            if isinstance(v, datetime):
                v = v.timestamp()
            if desc and isinstance(v, int | float | Decimal):
                v = -v
            out.append((v is None, v if isinstance(v, int | float | Decimal) else str(v or "")))
        out.append(int(r["id"]) if r["id"].isdigit() else r["id"])
        return tuple(out)

    return key

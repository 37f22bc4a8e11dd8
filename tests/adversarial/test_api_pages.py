"""Adversarial corpus, API pages: hostile pages of the paged source APIs (category api_pages).

Two kinds of server on 127.0.0.1, both real HTTP:

- the project's Odoo JSON-RPC and HubSpot emulators (``simulator.emulators``) serving a small
  simulated world, edited per case (``touch``) or told to misbehave (an HTML page with status 200,
  429s with ``Retry-After``);
- a scripted HubSpot search endpoint (this module) that answers the planned bodies in order: pages
  with duplicate ids, a cursor that loops, truncated JSON, 5xx before the page, a record without id.

Every case syncs through ``connectors.base.sync`` into a real DuckDB warehouse and asserts its
outcome: ``quarantined`` (the record, with its key and reason, in ``quarantine.raw_records``, or the
page in ``quarantine.raw_files``, while the rest lands), ``refused`` (the stream's read stops loudly
with a reason naming the endpoint and the problem, nothing of the bad page lands), ``landed_once``
(every record exactly once, and a second sync changes nothing).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import SecretStr

from connectors import state
from connectors.base import sync
from connectors.sources.hubspot import HubSpotConfig, HubSpotSource
from connectors.sources.odoo import OdooConfig, OdooSource
from simulator import simulate
from simulator.emulators import HubSpotEmulator, OdooEmulator, serve
from tests.adversarial.corpus import Case, case_ids

ODOO_KEY = "odoo-api-key-adversarial"
TOKEN = "pat-na1-adversarial-token"
CLOCK = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # scripted pages; emulator edits are stamped "now"


def odoo_config(url: str) -> OdooConfig:
    return OdooConfig.model_validate(
        {
            "url": url,
            "db": "acme",
            "login": "bot@acme.test",
            "api_key": SecretStr(ODOO_KEY),
            "page_size": 500,
            "customer_key": "ref",
        }
    )


def hubspot_config(url: str, **over: Any) -> HubSpotConfig:
    values = {
        "base_url": url,
        "access_token": SecretStr(TOKEN),
        "page_size": 200,
        "rate_limit_per_s": None,
        "backoff_base": 0.01,
        "retry_after_cap": 0.05,
        **over,
    }
    return HubSpotConfig.model_validate(values)


def count(con, table: str, where: str = "true", params: list | None = None) -> int:
    return con.execute(f"select count(*) from {table} where {where}", params or []).fetchall()[0][0]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return simulate(tmp_path_factory.mktemp("api-world"), profile="S", n_customers=40, as_of=date(2026, 11, 23))


@pytest.fixture()
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield c
    c.close()


# ------------------------------------------------------------------------------------------------
# emulator cases: the payload edits the emulator (or builds it) and checks the outcome


@dataclass
class EmuCase:
    system: str  # odoo | hubspot
    edit: Callable[[Any], Any] | None = None  # emulator -> key of the edited record
    stream: str = ""
    reason: str = ""
    emulator_kwargs: dict = field(default_factory=dict)
    then: str | None = None  # extra check name


def _contact_id(emu: HubSpotEmulator, n: int) -> str:
    return sorted(emu._object("contacts"), key=int)[n]


def _first_invoice(emu: OdooEmulator) -> int:
    return min(r for r, rec in emu.models["account.move"].items() if rec["move_type"] == "out_invoice")


def _nth_invoice(emu: OdooEmulator, n: int) -> int:
    return sorted(r for r, rec in emu.models["account.move"].items() if rec["move_type"] == "out_invoice")[n]


EMU_CASES: list[Case] = [
    Case(
        "api-odoo-html-page-200",
        "api_pages",
        "refused",
        "a proxy answers Odoo's customers page with an HTML error page and status 200",
        payload=EmuCase("odoo", lambda e: e.html_pages_for.__setitem__("res.partner", 1), "raw_erp.customers"),
        reason="not JSON",
    ),
    Case(
        "api-odoo-future-write-date",
        "api_pages",
        "quarantined",
        "an invoice with write_date 2099 is held back and the watermark stays at today",
        payload=EmuCase(
            "odoo",
            lambda e: (
                str(_first_invoice(e)) if e.touch("account.move", _first_invoice(e), "2099-01-01 00:00:00") else ""
            ),
            "raw_erp.invoices",
            then="watermark_not_future",
        ),
        reason="is in the future",
    ),
    Case(
        "api-odoo-three-decimal-amount",
        "api_pages",
        "quarantined",
        "an invoice total with three decimals (wrong precision from a custom module)",
        payload=EmuCase(
            "odoo",
            lambda e: (
                str(_nth_invoice(e, 3))
                if e.touch("account.move", _nth_invoice(e, 3), amount_total=Decimal("12.345"))
                else ""
            ),
            "raw_erp.invoices",
        ),
        reason="has more decimals",
    ),
    Case(
        "api-odoo-wrong-type-date",
        "api_pages",
        "quarantined",
        "an invoice date sent as a word",
        payload=EmuCase(
            "odoo",
            lambda e: (
                str(_nth_invoice(e, 4)) if e.touch("account.move", _nth_invoice(e, 4), invoice_date="yesterday") else ""
            ),
            "raw_erp.invoices",
        ),
        reason="cannot read 'yesterday' as DATE",
    ),
    Case(
        "api-odoo-missing-required-field",
        "api_pages",
        "quarantined",
        "an invoice whose due date is false (Odoo's null)",
        payload=EmuCase(
            "odoo",
            lambda e: (
                str(_nth_invoice(e, 5)) if e.touch("account.move", _nth_invoice(e, 5), invoice_date_due=False) else ""
            ),
            "raw_erp.invoices",
        ),
        reason="due_date: required value is missing",
    ),
    Case(
        "api-odoo-next-day-cancellation-after-2099",
        "api_pages",
        "landed_once",
        "day 1 an invoice stamped 2099, day 2 another is cancelled: the cancellation lands",
        payload=EmuCase("odoo", None, "raw_erp.invoices", then="next_day_cancellation"),
    ),
    Case(
        "api-odoo-resync-changes-nothing",
        "api_pages",
        "landed_once",
        "the same Odoo state synced twice",
        payload=EmuCase("odoo", None, "raw_erp.invoices", then="resync"),
    ),
    Case(
        "api-hubspot-phone-plus12",
        "api_pages",
        "quarantined",
        "a CRM user typed '+12' as the phone: lands as NULL, the e-mail of the contact stays",
        payload=EmuCase(
            "hubspot",
            lambda e: e.touch("contacts", _contact_id(e, 3), phone="+12") and _contact_id(e, 3),
            "raw_crm.contacts",
            then="phone_null",
        ),
        reason="phone: '+1*' is not a phone number",
    ),
    Case(
        "api-hubspot-email-double-at",
        "api_pages",
        "quarantined",
        "e-mail 'daniel clark@@ironbridge' after a CRM update: NULL, the phone stays",
        payload=EmuCase(
            "hubspot",
            lambda e: e.touch("contacts", _contact_id(e, 4), email="daniel clark@@ironbridge") and _contact_id(e, 4),
            "raw_crm.contacts",
            then="email_null",
        ),
        reason="is not a valid e-mail address",
    ),
    Case(
        "api-hubspot-future-lastmodified",
        "api_pages",
        "quarantined",
        "a contact modified 'in 2099': held back, the watermark does not jump",
        payload=EmuCase(
            "hubspot",
            lambda e: (
                e.touch("contacts", _contact_id(e, 5), when=datetime(2099, 1, 1, tzinfo=UTC), city="x")
                and _contact_id(e, 5)
            ),
            "raw_crm.contacts",
            then="watermark_not_future",
        ),
        reason="is in the future",
    ),
    Case(
        "api-hubspot-wrong-type-hour",
        "api_pages",
        "quarantined",
        "preferred hour 'after lunch'",
        payload=EmuCase(
            "hubspot",
            lambda e: (
                e.touch("contacts", _contact_id(e, 6), cobranza_preferred_hour="after lunch") and _contact_id(e, 6)
            ),
            "raw_crm.contacts",
        ),
        reason="preferred_hour: cannot read 'after lunch'",
    ),
    Case(
        "api-hubspot-consent-garbage",
        "api_pages",
        "quarantined",
        "consent 'yes please' is never read as consent",
        payload=EmuCase(
            "hubspot",
            lambda e: e.touch("contacts", _contact_id(e, 7), cobranza_consent_sms="yes please") and _contact_id(e, 7),
            "raw_crm.contacts",
        ),
        reason="consent_sms: cannot read",
    ),
    Case(
        "api-hubspot-429-storm-then-success",
        "api_pages",
        "landed_once",
        "every third search answered 429 with Retry-After: everything lands once",
        payload=EmuCase(
            "hubspot", None, "raw_crm.contacts", {"rate_limit_every": 3, "retry_after": "1"}, then="resync"
        ),
    ),
]


@pytest.mark.parametrize("case", EMU_CASES, ids=case_ids(EMU_CASES))
def test_emulator_pages(case: Case, world, con) -> None:
    spec: EmuCase = case.payload
    if spec.system == "odoo":
        emu = OdooEmulator(world.out_dir, db="acme", login="bot@acme.test", api_key=ODOO_KEY, **spec.emulator_kwargs)
        make = lambda url: OdooSource(odoo_config(url))  # noqa: E731
    else:
        emu = HubSpotEmulator(world.out_dir, token=TOKEN, **spec.emulator_kwargs)
        make = lambda url: HubSpotSource(hubspot_config(url))  # noqa: E731
    with serve(emu.app) as server:
        key = spec.edit(emu) if spec.edit else None
        result = sync(con, make(server.base_url))  # the emulators stamp edits with the wall clock
        if case.expect == "refused":
            (refusal,) = [r for r in result.refused if r["stream"] == spec.stream]
            assert case.reason in refusal["error"] and server.base_url in refusal["error"], refusal
            assert count(con, "quarantine.raw_files", "stream = ?", [spec.stream]) == 1
            others = [t for t in ("raw_erp.invoices", "raw_crm.contacts") if t != spec.stream]
            assert any(count(con, t) > 0 for t in others if _exists(con, t))  # the other streams proceed
        elif case.expect == "quarantined":
            assert result.refused == [], result.refused
            rows = con.execute(
                "select record_key, reason, file_path from quarantine.raw_records where stream = ?", [spec.stream]
            ).fetchall()
            assert any(r[0] == key and case.reason in r[1] for r in rows), (key, rows)
            assert count(con, spec.stream) > 0
        else:
            assert result.refused == [], result.refused
        _then(spec, key, con, emu, make, server.base_url)


def _exists(con, table: str) -> bool:
    schema, name = table.split(".")
    q = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return con.execute(q, [schema, name]).fetchall()[0][0] == 1


def _then(spec: EmuCase, key, con, emu, make, url: str) -> None:
    key_col = {"raw_crm.contacts": "contact_id", "raw_erp.invoices": "invoice_id"}.get(spec.stream)
    if spec.then == "watermark_not_future":
        source = "odoo" if spec.system == "odoo" else "hubspot"
        mark = state.get_watermark(con, source, spec.stream)
        assert mark is not None and mark <= datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=15)
    elif spec.then == "phone_null":
        row = con.execute(f"select phone, email from {spec.stream} where {key_col} = ?", [key]).fetchall()
        assert row[0][0] is None and row[0][1]
    elif spec.then == "email_null":
        row = con.execute(f"select email, phone from {spec.stream} where {key_col} = ?", [key]).fetchall()
        assert row[0][0] is None and row[0][1]
    elif spec.then == "resync":
        tables = ("raw_erp.invoices", "raw_erp.customers") if spec.system == "odoo" else ("raw_crm.contacts",)
        before = {t: count(con, t) for t in tables}
        assert all(before.values())
        again = sync(con, make(url))
        assert again.ok and {t: count(con, t) for t in tables} == before
        assert not [r for r in again.landed if r.rows_new]
    elif spec.then == "next_day_cancellation":
        future = _nth_invoice(emu, 1)
        emu.touch("account.move", future, "2099-01-01 00:00:00")
        sync(con, make(url))
        target = _nth_invoice(emu, 2)
        next_day = datetime.now(UTC) + timedelta(days=1)
        emu.touch(
            "account.move",
            target,
            next_day.strftime("%Y-%m-%d %H:%M:%S"),
            state="cancel",
            amount_residual=Decimal("0"),
        )
        sync(con, make(url), clock=next_day)
        status = con.execute("select status from raw_erp.invoices where invoice_id = ?", [str(target)]).fetchall()
        assert status == [("cancelled",)]
        assert count(con, "quarantine.raw_records", "record_key = ? and reason like '%future%'", [str(future)]) >= 1


# ------------------------------------------------------------------------------------------------
# scripted HubSpot search: planned answers in order (the check call and other objects: empty)


def _contact(i: int, modified: str = "2026-11-20T10:00:00Z", **props: Any) -> dict[str, Any]:
    p = {
        "firstname": f"Ana{i}",
        "lastname": "Ruiz",
        "cobranza_customer_id": f"C{i}",
        "cobranza_role": "debtor",
        "email": f"ana{i}@cliente.mx",
        "phone": f"+5281155500{i:02d}",
        "hs_language": "es",
        "cobranza_timezone": "America/Monterrey",
        "cobranza_consent_email": "true",
        "cobranza_consent_whatsapp": "true",
        "cobranza_consent_sms": "true",
        "cobranza_consent_call": "true",
        "cobranza_preferred_channel": "email",
        "cobranza_preferred_hour": "10",
        "lastmodifieddate": modified,
        **props,
    }
    return {"id": str(i), "properties": p, "createdAt": modified, "updatedAt": modified, "archived": False}


def _page(results: list[dict], after: str | None = None) -> tuple[int, bytes]:
    body: dict[str, Any] = {"total": len(results), "results": results}
    if after:
        body["paging"] = {"next": {"after": after}}
    return 200, json.dumps(body).encode()


def scripted_app(plan: list[tuple[int, bytes] | tuple[int, bytes, str]]) -> tuple[FastAPI, list[dict]]:
    """HubSpot-shaped search answering ``plan`` in order for contact page requests, then empty pages."""
    app = FastAPI()
    seen: list[dict] = []

    @app.post("/crm/v3/objects/{object_type}/search")
    async def search(object_type: str, request: Request) -> Response:
        body = await request.json()
        seen.append(body)
        if object_type != "contacts" or body.get("limit") == 1 or not plan:
            return Response(json.dumps({"total": 0, "results": []}), media_type="application/json")
        status, content, *ctype = plan.pop(0)
        return Response(content, status_code=status, media_type=ctype[0] if ctype else "application/json")

    return app, seen


SCRIPT_CASES: list[Case] = [
    Case(
        "api-hubspot-duplicate-ids-across-pages",
        "api_pages",
        "landed_once",
        "contact 2 on page 1 and again on page 2: landed once",
        payload={"plan": [_page([_contact(1), _contact(2)], "p2"), _page([_contact(2), _contact(3)])], "rows": 3},
    ),
    Case(
        "api-hubspot-cursor-loop",
        "api_pages",
        "refused",
        "the server hands back the same paging cursor forever",
        payload={"plan": [_page([_contact(1)], "same"), _page([_contact(2)], "same"), _page([_contact(3)], "same")]},
        reason="returned paging cursor after='same' twice",
    ),
    Case(
        "api-hubspot-endless-pages",
        "api_pages",
        "refused",
        "every page hands out a new cursor (p2, p3, ...) past the configured page limit",
        payload={
            "plan": [_page([_contact(i)], f"p{i + 1}") for i in range(1, 7)],
            "config": {"max_pages": 4},
            "rows": 4,
        },
        reason="more than 4 pages in one read",
    ),
    Case(
        "api-hubspot-html-page-200",
        "api_pages",
        "refused",
        "a gateway's HTML error page with status 200",
        payload={"plan": [(200, b"<html><body>Bad gateway</body></html>", "text/html")]},
        reason="not JSON",
    ),
    Case(
        "api-hubspot-truncated-json",
        "api_pages",
        "refused",
        "the page stops in the middle of a record",
        payload={"plan": [(200, _page([_contact(1), _contact(2)])[1][:-70])]},
        reason="not JSON",
    ),
    Case(
        "api-hubspot-not-a-search-response",
        "api_pages",
        "refused",
        "valid JSON without a 'results' list (the wrong endpoint behind base_url)",
        payload={"plan": [(200, b'{"data": []}')]},
        reason="not a search response",
    ),
    Case(
        "api-hubspot-5xx-then-success",
        "api_pages",
        "landed_once",
        "503 then 502 before the page: retried, the page lands once",
        payload={
            "plan": [
                (503, b'{"message": "unavailable"}'),
                (502, b'{"message": "bad gateway"}'),
                _page([_contact(1), _contact(2)]),
            ],
            "rows": 2,
        },
    ),
    Case(
        "api-hubspot-record-without-id",
        "api_pages",
        "quarantined",
        "a result without 'id': quarantined, never landed as contact 'None'",
        payload={"plan": [_page([_contact(1), {k: v for k, v in _contact(2).items() if k != "id"}])], "rows": 1},
        reason="contact_id: required value is missing",
    ),
    Case(
        "api-hubspot-property-wrong-type",
        "api_pages",
        "quarantined",
        "a number where a consent flag belongs (property sent as 2)",
        payload={"plan": [_page([_contact(1), _contact(2, cobranza_consent_email=2)])], "rows": 1},
        reason="consent_email: cannot read",
    ),
]


@pytest.mark.parametrize("case", SCRIPT_CASES, ids=case_ids(SCRIPT_CASES))
def test_scripted_pages(case: Case, con) -> None:
    app, _ = scripted_app(list(case.payload["plan"]))
    with serve(app) as server:
        source = HubSpotSource(hubspot_config(server.base_url, max_attempts=4, **case.payload.get("config", {})))
        result = sync(con, source, clock=CLOCK)
        if case.expect == "refused":
            (refusal,) = [r for r in result.refused if r["stream"] == "raw_crm.contacts"]
            assert case.reason in refusal["error"], refusal
            assert "contacts" in refusal["error"]
            assert count(con, "quarantine.raw_files", "stream = 'raw_crm.contacts'") == 1
            if "rows" in case.payload:  # the pages read before the refusal landed
                assert count(con, "raw_crm.contacts") == case.payload["rows"]
            return
        assert result.refused == [], result.refused
        assert count(con, "raw_crm.contacts") == case.payload["rows"]
        if case.expect == "quarantined":
            rows = con.execute("select reason from quarantine.raw_records").fetchall()
            assert any(case.reason in r[0] for r in rows), rows
            assert count(con, "raw_crm.contacts", "contact_id = 'None' or contact_id is null") == 0
        else:
            assert count(con, "quarantine.raw_records") == 0
            dup = con.execute("select contact_id, count(*) from raw_crm.contacts group by 1 having count(*) > 1")
            assert dup.fetchall() == []


CASES: list[Case] = EMU_CASES + SCRIPT_CASES

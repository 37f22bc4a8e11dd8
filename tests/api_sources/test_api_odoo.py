"""The Odoo JSON-RPC source against the in-project emulator, landed through ``connectors.base.sync``."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from api_helpers import ODOO_KEY, count, odoo_config
from conformance import assert_source_conforms
from pydantic import SecretStr

from connectors import state
from connectors.base import sync
from connectors.http import SourceAuthError
from connectors.load import SourceDataError
from connectors.sources.odoo import OdooClient, OdooRPCError, OdooSource
from simulator.emulators.odoo import CREDIT_NOTE_ID_OFFSET, compile_domain

ODOO_TABLES = ("raw_erp.customers", "raw_erp.invoices", "raw_erp.credit_notes")


def test_full_sync_lands_every_record(world, odoo_source, warehouse) -> None:
    result = sync(warehouse, odoo_source)
    assert result.ok, result.refused
    for table in ODOO_TABLES:
        assert count(warehouse, table) == world.row_counts[table], table
    # Keys and values survive the trip: ids, many2one names, Decimal money, false -> null, states.
    inv = warehouse.execute(
        "select invoice_id, number, customer_id, currency, amount_total, amount_open, status, payment_reference"
        " from raw_erp.invoices order by invoice_id::int"
    ).fetchall()
    sim = warehouse.execute(
        f"select invoice_id, number, customer_id, currency, amount_total, amount_open, status, payment_reference"
        f" from read_parquet('{world.files['raw_erp.invoices']}') order by invoice_id"
    ).fetchall()
    assert [(str(int(s[0][4:])), *s[1:]) for s in sim] == inv
    cn = warehouse.execute(
        "select count(*) filter (where invoice_id is not null), count(distinct credit_note_id)"
        " from raw_erp.credit_notes"
    ).fetchall()[0]
    assert cn[1] == world.row_counts["raw_erp.credit_notes"] and cn[0] > 0
    assert warehouse.execute("select min(credit_note_id::bigint) from raw_erp.credit_notes").fetchall()[0][0] > (
        CREDIT_NOTE_ID_OFFSET
    )
    cust = warehouse.execute(
        "select customer_id, currency, payment_terms_days, credit_limit, segment from raw_erp.customers"
        " order by customer_id limit 1"
    ).fetchall()[0]
    assert cust[0] == "C000001" and cust[2] > 0 and cust[1] and cust[4]


def test_conforms(world, odoo_emulator, warehouse) -> None:
    emu, server = odoo_emulator
    target = min(r for r, rec in emu.models["account.move"].items() if rec["move_type"] == "out_invoice")

    def corrupt() -> str:
        emu.touch("account.move", target, amount_total=Decimal("12.345"))  # three decimals cannot land
        return str(target)

    landed = assert_source_conforms(
        lambda: OdooSource(odoo_config(server.base_url)), warehouse, corrupt_one_record=corrupt
    )
    assert landed == {t: world.row_counts[t] for t in ODOO_TABLES}


def test_incremental_picks_up_a_changed_invoice(odoo_emulator, warehouse) -> None:
    emu, server = odoo_emulator
    make = lambda: OdooSource(odoo_config(server.base_url, page_size=300))  # noqa: E731
    sync(warehouse, make())
    mark = state.get_watermark(warehouse, "odoo", "raw_erp.invoices")
    calls = emu.calls
    second = sync(warehouse, make())
    assert second.ok and not [r for r in second.landed if r.rows_new]
    assert emu.calls - calls <= 6  # authenticate + one short page per stream: only the look-back window is re-read

    inv_id = int(warehouse.execute("select min(invoice_id::int) from raw_erp.invoices").fetchall()[0][0])
    new_write = emu.touch("account.move", inv_id, amount_residual=Decimal("42.50"))
    third = sync(warehouse, make())
    assert third.ok
    row = warehouse.execute(
        "select amount_open, updated_at from raw_erp.invoices where invoice_id = ?", [str(inv_id)]
    ).fetchall()
    assert row[0][0] == Decimal("42.50") and str(row[0][1]) == new_write
    assert state.get_watermark(warehouse, "odoo", "raw_erp.invoices") > mark
    assert count(warehouse, "raw_erp.invoices") == emu.count(
        "account.move", [["move_type", "=", "out_invoice"], ["state", "!=", "draft"]]
    )


def test_keyset_paging_with_equal_write_dates(world, odoo_emulator, warehouse) -> None:
    emu, server = odoo_emulator
    ids = sorted(r for r, rec in emu.models["account.move"].items() if rec["move_type"] == "out_invoice")[:70]
    stamp = "2025-06-01 12:00:00"
    for i in ids:
        emu.touch("account.move", i, write_date=stamp)
    source = OdooSource(odoo_config(server.base_url, page_size=40))
    stream = next(s for s in source.streams() if s.contract.table == "raw_erp.invoices")
    origins = []
    total = 0
    for batch in stream.read(None):
        origins.append(batch.origin)
        total += batch.table.num_rows
    assert total == world.row_counts["raw_erp.invoices"]
    # 70 records share one write_date, so page boundaries fell inside the tie and nothing was lost.
    assert sum(f"({stamp}," in o for o in origins) >= 1
    assert origins[0] == "odoo:account.move page after start"


def test_bad_credentials_give_a_clear_error_without_the_secret(odoo_emulator, warehouse, caplog) -> None:
    _, server = odoo_emulator
    wrong = "wrong-key-77f1e2"
    source = OdooSource(odoo_config(server.base_url, api_key=SecretStr(wrong)))
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceAuthError) as err:
        sync(warehouse, source)
    msg = str(err.value)
    assert "COBRANZA_ODOO__API_KEY" in msg and "acme" in msg and "/jsonrpc" in msg
    assert wrong not in msg and ODOO_KEY not in msg
    assert wrong not in caplog.text


def test_access_denied_on_execute_kw(odoo_emulator) -> None:
    _, server = odoo_emulator
    client = OdooClient(odoo_config(server.base_url))
    client.authenticate()
    client.config = odoo_config(server.base_url, api_key=SecretStr("rotated-key-123"))
    with pytest.raises(SourceAuthError) as err:
        client.search_read("res.partner", [], ["name"], limit=1)
    assert "odoo.exceptions.AccessDenied" in str(err.value) and "rotated-key-123" not in str(err.value)


def test_json_rpc_error_is_explained(odoo_emulator) -> None:
    _, server = odoo_emulator
    client = OdooClient(odoo_config(server.base_url))
    with pytest.raises(OdooRPCError) as err:
        client.search_read("account.move", [], ["no_such_field"], limit=1)
    msg = str(err.value)
    assert "Invalid field 'no_such_field'" in msg and "execute_kw on account.move" in msg and "fields_get" in msg
    assert ODOO_KEY not in msg


def test_a_page_that_is_not_json_is_quarantined(odoo_emulator, warehouse) -> None:
    emu, server = odoo_emulator
    emu.html_pages_for["res.partner"] = 1  # customers' first page is a proxy's HTML error page
    result = sync(warehouse, OdooSource(odoo_config(server.base_url)))
    assert [r["stream"] for r in result.refused] == ["raw_erp.customers"]
    assert "not JSON" in result.refused[0]["error"] and "text/html" in result.refused[0]["error"]
    assert count(warehouse, "raw_erp.invoices") > 0
    assert count(warehouse, "quarantine.raw_files") == 1
    emu.html_pages = 1
    with pytest.raises(SourceDataError):
        sync(warehouse, OdooSource(odoo_config(server.base_url)), fail_fast=True, streams=["raw_erp.customers"])


def test_customer_key_id_uses_partner_ids(odoo_emulator, warehouse) -> None:
    _, server = odoo_emulator
    sync(warehouse, OdooSource(odoo_config(server.base_url, customer_key="id")))
    orphans = warehouse.execute(
        "select count(*) from raw_erp.invoices i anti join raw_erp.customers c using (customer_id)"
    ).fetchall()[0][0]
    assert orphans == 0
    assert warehouse.execute("select min(customer_id) from raw_erp.customers").fetchall()[0][0].isdigit()


def test_domain_evaluation() -> None:
    recs = [
        {"id": 1, "write_date": "2026-01-01 00:00:00", "state": "posted", "partner_id": 5, "ref": None},
        {"id": 2, "write_date": "2026-01-01 00:00:00", "state": "cancel", "partner_id": 6, "ref": "X"},
        {"id": 3, "write_date": "2026-01-02 00:00:00", "state": "draft", "partner_id": None, "ref": "Y"},
    ]

    def ids(domain: list) -> list[int]:
        pred = compile_domain(domain)
        return [r["id"] for r in recs if pred(r)]

    t = "2026-01-01 00:00:00"
    assert ids(["|", ["write_date", ">", t], "&", ["write_date", "=", t], ["id", ">", 1]]) == [2, 3]
    assert ids([["state", "in", ["posted", "cancel"]], ["partner_id", "!=", 6]]) == [1]
    assert ids([["ref", "=", False]]) == [1]
    assert ids(["!", ["state", "=", "draft"]]) == [1, 2]
    assert ids(["&", ["id", ">=", 2], ["id", "<", 3]]) == [2]
    assert ids([["write_date", "<=", t]]) == [1, 2]

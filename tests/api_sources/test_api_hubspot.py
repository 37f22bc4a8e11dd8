"""The HubSpot CRM source against the in-project emulator, landed through ``connectors.base.sync``."""

from __future__ import annotations

import logging

import pytest
import requests
from api_helpers import HUBSPOT_TOKEN, count, hubspot_config
from conformance import assert_source_conforms
from pydantic import SecretStr

from connectors import state
from connectors.base import sync
from connectors.http import SourceAuthError, SourceHTTPError
from connectors.sources.hubspot import HubSpotClient, HubSpotSource
from simulator.emulators import HubSpotEmulator, serve

CRM_TABLES = ("raw_crm.contacts", "raw_crm.interactions")


def test_full_sync_lands_every_record(world, hubspot_source, warehouse) -> None:
    result = sync(warehouse, hubspot_source)
    assert result.ok, result.refused
    for table in CRM_TABLES:
        assert count(warehouse, table) == world.row_counts[table], table
    landed = warehouse.execute(
        "select customer_id, full_name, role, email, phone, language, timezone, consent_email, consent_whatsapp,"
        " consent_sms, consent_call, preferred_channel, preferred_hour, updated_at"
        " from raw_crm.contacts order by contact_id::int"
    ).fetchall()
    sim = warehouse.execute(
        "select customer_id, full_name, role, email, phone, language, timezone, consent_email, consent_whatsapp,"
        " consent_sms, consent_call, preferred_channel, preferred_hour, updated_at::timestamp"
        f" from read_json('{world.files['raw_crm.contacts']}') order by contact_id"
    ).fetchall()
    assert landed == sim
    money = warehouse.execute(
        "select sum(promised_amount), count(promised_date), count(distinct contact_id) from raw_crm.interactions"
    ).fetchall()
    expected = warehouse.execute(
        "select sum(promised_amount::decimal(18,2)), count(promised_date), count(distinct contact_id)"
        f" from read_csv('{world.files['raw_crm.interactions']}', all_varchar = true)"
    ).fetchall()
    assert money == expected


def test_conforms(world, hubspot_emulator, warehouse) -> None:
    emu, server = hubspot_emulator

    def corrupt() -> str:
        emu.touch("contacts", "1", cobranza_preferred_hour="after lunch")
        return "1"

    landed = assert_source_conforms(
        lambda: HubSpotSource(hubspot_config(server.base_url)), warehouse, corrupt_one_record=corrupt
    )
    assert landed == {t: world.row_counts[t] for t in CRM_TABLES}


def test_incremental_picks_up_a_changed_contact(hubspot_emulator, warehouse) -> None:
    emu, server = hubspot_emulator
    make = lambda: HubSpotSource(hubspot_config(server.base_url))  # noqa: E731
    sync(warehouse, make())
    mark = state.get_watermark(warehouse, "hubspot", "raw_crm.contacts")
    second = sync(warehouse, make())
    assert second.ok and not [r for r in second.landed if r.rows_new]
    contact_batches = [r for r in second.landed if r.stream == "raw_crm.contacts"]
    assert sum(r.rows_read for r in contact_batches) < count(warehouse, "raw_crm.contacts")  # only the look-back

    emu.touch("contacts", "7", cobranza_consent_whatsapp=False, email="new.address@example.com")
    third = sync(warehouse, make())
    assert third.ok
    row = warehouse.execute("select email, consent_whatsapp from raw_crm.contacts where contact_id = '7'").fetchall()
    assert row == [("new.address@example.com", False)]
    assert state.get_watermark(warehouse, "hubspot", "raw_crm.contacts") > mark


def test_429_is_retried_with_retry_after(world, warehouse, caplog) -> None:
    emu = HubSpotEmulator(world.out_dir, token=HUBSPOT_TOKEN, rate_limit_every=3, retry_after="2")
    with serve(emu.app) as server, caplog.at_level(logging.WARNING):
        source = HubSpotSource(hubspot_config(server.base_url, page_size=100))
        result = sync(warehouse, source)
    assert result.ok, result.refused
    assert count(warehouse, "raw_crm.interactions") == world.row_counts["raw_crm.interactions"]
    assert emu.rate_limited >= 5
    assert source.client.http.stats.retries == emu.rate_limited  # one retry per injected 429
    assert source.client.http.stats.by_status[429] == emu.rate_limited
    assert "HTTP 429; retry 1/5 in 0.05s" in caplog.text  # Retry-After: 2 capped by retry_after_cap


def test_time_windows_past_the_search_cap(world, warehouse) -> None:
    emu = HubSpotEmulator(world.out_dir, token=HUBSPOT_TOKEN, search_cap=300)
    with serve(emu.app) as server:
        result = sync(warehouse, HubSpotSource(hubspot_config(server.base_url, page_size=100, search_cap=300)))
        assert result.ok, result.refused
        assert count(warehouse, "raw_crm.interactions") == world.row_counts["raw_crm.interactions"] > 300
        windows = {r.origin.split(" after ")[0] for r in result.landed if r.stream == "raw_crm.interactions"}
        assert len(windows) >= 6
        # The emulator, like HubSpot, refuses to page past the cap.
        client = HubSpotClient(hubspot_config(server.base_url))
        with pytest.raises(SourceHTTPError) as err:
            client.search("collection_interactions", {"limit": 100, "after": "300"})
    assert err.value.status == 400 and "limited to 300" in str(err.value) and "VALIDATION_ERROR" in str(err.value)


def test_bad_token_gives_a_clear_error_without_the_secret(hubspot_emulator, warehouse, caplog) -> None:
    _, server = hubspot_emulator
    wrong = "pat-na1-wrong-token-value-1234"
    with caplog.at_level(logging.DEBUG), pytest.raises(SourceAuthError) as err:
        sync(warehouse, HubSpotSource(hubspot_config(server.base_url, access_token=SecretStr(wrong))))
    msg = str(err.value)
    assert "HTTP 401" in msg and "COBRANZA_HUBSPOT__ACCESS_TOKEN" in msg
    assert "INVALID_AUTHENTICATION" in msg and "correlationId=" in msg
    assert wrong not in msg and wrong not in caplog.text


def test_emulator_error_body_shape(hubspot_emulator) -> None:
    _, server = hubspot_emulator
    resp = requests.post(f"{server.base_url}/crm/v3/objects/contacts/search", json={}, timeout=5)
    body = resp.json()
    assert resp.status_code == 401 and {"message", "correlationId", "category"} <= set(body)
    ok = requests.post(
        f"{server.base_url}/crm/v3/objects/contacts/search",
        json={
            "filterGroups": [{"filters": [{"propertyName": "cobranza_role", "operator": "EQ", "value": "debtor"}]}],
            "sorts": ["-lastmodifieddate"],
            "properties": ["cobranza_preferred_hour", "cobranza_consent_sms"],
            "limit": 5,
        },
        headers={"Authorization": f"Bearer {HUBSPOT_TOKEN}"},
        timeout=5,
    ).json()
    assert ok["total"] > 5 and len(ok["results"]) == 5 and ok["paging"]["next"]["after"] == "5"
    props = ok["results"][0]["properties"]
    assert all(v is None or isinstance(v, str) for v in props.values())
    assert props["cobranza_consent_sms"] in ("true", "false")
    stamps = [r["updatedAt"] for r in ok["results"]]
    assert stamps == sorted(stamps, reverse=True)

"""The shared paged-stream base (``connectors.paging``): loop and page-limit protections, once for both APIs.

Against the real emulators over HTTP: an Odoo server that ignores the keyset domain (it answers the
first page again) is refused after the pages it sent landed; ``max_pages`` stops a read on either
API with the pages read so far landed. The keyset paginator's forward-only rule is checked on its
own (no server sends a page going backwards on purpose).
"""

from __future__ import annotations

from typing import Any

import pytest
from api_helpers import count, hubspot_config, odoo_config

from connectors.base import sync
from connectors.load import SourceDataError
from connectors.sources.hubspot import HubSpotSource
from connectors.sources.odoo import OdooSource
from connectors.sources.odoo.client import OdooClient
from connectors.sources.odoo.streams import KeysetPaginator


class KeysetIgnoringClient(OdooClient):
    """A real client whose requests lose the keyset terms, as behind a server that ignores them."""

    def search_read(self, model: str, domain: list, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        base = domain[: domain.index("|")] if "|" in domain else domain
        return super().search_read(model, base, *args, **kwargs)


def _refusal(result, stream: str) -> str:
    (refused,) = [r for r in result.refused if r["stream"] == stream]
    return refused["error"]


def test_odoo_server_ignoring_the_keyset_is_refused(odoo_emulator, warehouse) -> None:
    server = odoo_emulator[1]
    config = odoo_config(server.base_url, page_size=40)
    result = sync(warehouse, OdooSource(config, client=KeysetIgnoringClient(config)))
    error = _refusal(result, "raw_erp.customers")
    assert "odoo:res.partner: the server returned paging cursor" in error and "twice" in error, error
    assert "ignores order=" in error
    assert count(warehouse, "raw_erp.customers") == 40  # the page it sent landed (once)


def test_max_pages_stops_an_odoo_read_after_landing_its_pages(odoo_emulator, warehouse) -> None:
    server = odoo_emulator[1]
    result = sync(warehouse, OdooSource(odoo_config(server.base_url, page_size=40, max_pages=2)))
    error = _refusal(result, "raw_erp.customers")
    assert "odoo:res.partner: more than 2 pages in one read" in error and "raise max_pages" in error, error
    assert count(warehouse, "raw_erp.customers") == 80


def test_max_pages_stops_a_hubspot_read_after_landing_its_pages(hubspot_emulator, warehouse) -> None:
    server = hubspot_emulator[1]
    result = sync(warehouse, HubSpotSource(hubspot_config(server.base_url, page_size=10, max_pages=3)))
    error = _refusal(result, "raw_crm.contacts")
    assert "hubspot:contacts: more than 3 pages in one read" in error, error
    assert count(warehouse, "raw_crm.contacts") == 30


def test_max_pages_counts_pages_across_search_windows(world, warehouse) -> None:
    from api_helpers import HUBSPOT_TOKEN

    from simulator.emulators import HubSpotEmulator, serve

    emu = HubSpotEmulator(world.out_dir, token=HUBSPOT_TOKEN, search_cap=30)
    with serve(emu.app) as server:
        config = hubspot_config(server.base_url, page_size=10, search_cap=30, max_pages=5)
        result = sync(warehouse, HubSpotSource(config))
    error = _refusal(result, "raw_crm.contacts")
    # Window 1 holds 3 pages (cap 30 / 10); the 6th page would be window 2's third, after='20'.
    assert "more than 5 pages" in error and "after='20'" in error, error


def test_keyset_paginator_refuses_a_page_going_backwards() -> None:
    pager = KeysetPaginator(None, model="account.move", page_size=2, max_pages=10)
    pager.advance([{"id": 5, "write_date": "2026-11-20 10:00:00"}, {"id": 9, "write_date": "2026-11-21 10:00:00"}])
    assert pager.current == ("2026-11-21 10:00:00", 9)
    with pytest.raises(SourceDataError, match=r"page after \(2026-11-21 10:00:00,9\) did not advance"):
        pager.advance([{"id": 3, "write_date": "2026-11-19 10:00:00"}, {"id": 4, "write_date": "2026-11-19 10:00:00"}])


def test_keyset_paginator_needs_write_date_and_id_even_on_the_last_page() -> None:
    pager = KeysetPaginator(None, model="res.partner", page_size=500, max_pages=10)
    with pytest.raises(SourceDataError, match="record 7 has no write_date/id"):
        pager.advance([{"id": 7, "write_date": False}])
    done = KeysetPaginator(None, model="res.partner", page_size=500, max_pages=10)
    done.advance([{"id": 7, "write_date": "2026-11-19 10:00:00"}])
    assert done.finished

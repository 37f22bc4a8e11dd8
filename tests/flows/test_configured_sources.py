"""The ingest stage reads the ERP from Odoo and the CRM from HubSpot when configured (emulators on 127.0.0.1)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import duckdb

from cobranza.settings import load_settings
from flows import stages
from simulator import simulate
from simulator.emulators import HubSpotEmulator, OdooEmulator, serve

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "api_sources"))
from api_helpers import HUBSPOT_TOKEN, ODOO_KEY  # noqa: E402

AS_OF = date(2026, 11, 23)


def test_ingest_reads_odoo_and_hubspot_and_keeps_files_for_the_rest(tmp_path: Path, monkeypatch) -> None:
    world = simulate(tmp_path / "landing", profile="S", n_customers=80, as_of=AS_OF)
    odoo = OdooEmulator(world.out_dir, db="acme", login="bot@acme.test", api_key=ODOO_KEY)
    hub = HubSpotEmulator(world.out_dir, token=HUBSPOT_TOKEN)
    with serve(odoo.app) as odoo_server, serve(hub.app) as hub_server:
        env = {
            "COBRANZA_SOURCES__ERP": "odoo",
            "COBRANZA_SOURCES__CRM": "hubspot",
            "COBRANZA_ODOO__URL": odoo_server.base_url,
            "COBRANZA_ODOO__DB": "acme",
            "COBRANZA_ODOO__LOGIN": "bot@acme.test",
            "COBRANZA_ODOO__API_KEY": ODOO_KEY,
            "COBRANZA_ODOO__CUSTOMER_KEY": "ref",
            "COBRANZA_HUBSPOT__BASE_URL": hub_server.base_url,
            "COBRANZA_HUBSPOT__ACCESS_TOKEN": HUBSPOT_TOKEN,
        }
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        settings = load_settings(data_dir=tmp_path / "data")
        settings.sources.landing_dir = world.out_dir
        ctx = stages.make_context(settings, AS_OF)
        landed = stages.ingest_sources.fn(ctx)
    sources = {(r["stream"], r["origin"].split(":")[0].split("/")[0]) for r in landed}
    assert ("raw_erp.invoices", "odoo") in sources
    with duckdb.connect(str(settings.duckdb_path)) as con:
        by_source = dict(
            con.execute(
                "select 'invoices:' || _source, count(*) from raw_erp.invoices group by 1 "
                "union all select 'contacts:' || _source, count(*) from raw_crm.contacts group by 1 "
                "union all select 'allocations:' || _source, count(*) from raw_erp.payment_allocations group by 1"
            ).fetchall()
        )
    assert by_source == {
        "invoices:odoo": world.row_counts["raw_erp.invoices"],
        "contacts:hubspot": world.row_counts["raw_crm.contacts"],
        "allocations:simulator": world.row_counts["raw_erp.payment_allocations"],
    }

"""Shared constants and builders for the API source tests (configs pointing at the emulators)."""

from __future__ import annotations

import duckdb
from pydantic import SecretStr

from connectors.sources.hubspot import HubSpotConfig
from connectors.sources.odoo import OdooConfig

ODOO_KEY = "odoo-api-key-5f3c9a1e77"
HUBSPOT_TOKEN = "pat-na1-0b7e2c4d-secret-token"


def odoo_config(base_url: str, **overrides: object) -> OdooConfig:
    """Config pointing at the emulator."""
    values: dict[str, object] = {
        "url": base_url,
        "db": "acme",
        "login": "bot@acme.test",
        "api_key": SecretStr(ODOO_KEY),
        "page_size": 500,
        "customer_key": "ref",
    }
    values.update(overrides)
    return OdooConfig.model_validate(values)


def hubspot_config(base_url: str, **overrides: object) -> HubSpotConfig:
    """Config pointing at the emulator, with test-speed retry timings."""
    values: dict[str, object] = {
        "base_url": base_url,
        "access_token": SecretStr(HUBSPOT_TOKEN),
        "page_size": 200,
        "rate_limit_per_s": None,
        "backoff_base": 0.01,
        "retry_after_cap": 0.05,
    }
    values.update(overrides)
    return HubSpotConfig.model_validate(values)


def count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Rows in ``table``."""
    return con.execute(f"select count(*) from {table}").fetchall()[0][0]

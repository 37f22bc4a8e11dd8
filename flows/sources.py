"""Builds the configured source connectors from settings (wiring only, no business logic).

Files (the simulator's extracts or mapped exports) serve every stream by default; a stream read
from the ERP's database, Odoo or HubSpot is no longer read from files. Bank
statement files dropped in ``<landing_dir>/bank/statements/`` are always read.
"""

from __future__ import annotations

from pathlib import Path

from cobranza.settings import Settings
from connectors.base import Source


def configured_sources(settings: Settings, landing_dir: Path, streams: list[str] | None = None) -> list[Source]:
    """The sources to sync for this run, in landing order (files first, bank statements last).

    Args:
        settings: Loaded settings.
        landing_dir: Folder of file drops.
        streams: Restrict to these raw tables (e.g. the hourly bank sync).
    """
    from connectors.sources.bank import BankFileSource
    from connectors.sources.files.config import load_mapping, simulator_mapping
    from connectors.sources.files.reader import FileSource

    cfg = settings.sources
    if cfg.mapping:
        mapping = load_mapping(settings.resolve(cfg.mapping), base_dir=landing_dir)
    else:
        mapping = simulator_mapping(landing_dir)
    apis: list[Source] = []
    if cfg.erp == "sql":
        from connectors.sources.sql import SqlSource, load_sql_config

        if not cfg.sql_config:
            raise ValueError("sources.erp is 'sql' but sources.sql_config is not set: point it at the SQL source YAML")
        apis.append(SqlSource(load_sql_config(settings.resolve(cfg.sql_config))))
    elif cfg.erp == "odoo":
        from connectors.sources.odoo import OdooConfig, OdooSource

        apis.append(OdooSource(OdooConfig.from_env()))
    if cfg.crm == "hubspot":
        from connectors.sources.hubspot import HubSpotConfig, HubSpotSource

        apis.append(HubSpotSource(HubSpotConfig.from_env()))
    # A stream read from a database or an API is not also read from files; the others still are
    # (e.g. Odoo gives invoices, but payment allocations may come as an export).
    replaced = {st.contract.table for s in apis for st in s.streams()}
    mapping.streams = {k: v for k, v in mapping.streams.items() if k not in replaced and (not streams or k in streams)}
    if streams:
        apis = [s for s in apis if any(st.contract.table in streams for st in s.streams())]
    sources: list[Source] = [FileSource(mapping)] if mapping.streams else []
    sources += apis
    statements = landing_dir / "bank" / "statements"
    if statements.is_dir() and (not streams or "raw_bank.statement_lines" in streams):
        sources.append(BankFileSource(statements))
    return sources

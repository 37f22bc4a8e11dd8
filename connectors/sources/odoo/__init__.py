"""Odoo source connector: customers, invoices and credit notes over JSON-RPC (CONNECTORS.md §2.1)."""

from connectors.sources.odoo.client import OdooClient, OdooRPCError
from connectors.sources.odoo.config import OdooConfig
from connectors.sources.odoo.streams import OdooSource

__all__ = ["OdooClient", "OdooConfig", "OdooRPCError", "OdooSource"]

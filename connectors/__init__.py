"""Cobranza connectors package."""

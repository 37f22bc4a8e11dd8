"""Cobranza connectors channels package."""

"""Cobranza connectors sources package."""

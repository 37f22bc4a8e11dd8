"""Cobranza expectations package."""

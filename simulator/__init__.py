"""Cobranza simulator package."""

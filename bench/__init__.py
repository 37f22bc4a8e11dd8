"""Cobranza bench package."""

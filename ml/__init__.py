"""Cobranza ml package."""

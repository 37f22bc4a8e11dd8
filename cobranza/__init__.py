"""Cobranza cobranza package."""

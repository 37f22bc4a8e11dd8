"""Cobranza flows package."""

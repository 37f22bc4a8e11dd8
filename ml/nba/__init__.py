"""Cobranza ml nba package."""

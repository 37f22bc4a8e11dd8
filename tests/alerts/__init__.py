"""Tests of the early warnings (issue 21)."""

"""Tests of the debtor-side agent (issue 20)."""

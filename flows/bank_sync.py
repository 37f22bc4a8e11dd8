"""Hourly bank sync: land new statement lines, refresh balances, re-check the pre-dispatch gate.

A payment seen in the bank must suppress dunning for its invoice before the next dispatch, even if
the ERP records it days later; this flow rebuilds only what depends on bank lines.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow

from cobranza import runtime
from cobranza.settings import load_settings
from flows import stages

runtime.apply_defaults()


@flow(name="bank_sync")
def bank_sync(as_of: date | None = None) -> dict[str, Any]:
    """Ingest bank statement files and rebuild bank-dependent models and gates."""
    ctx = stages.make_context(load_settings(), as_of)
    ingested = stages.ingest_sources(ctx, streams=["raw_bank.statement_lines"])
    gate = stages.quality_gate(ctx, "raw")
    built = stages.dbt_build(ctx, select="stg_bank__statement_lines+")
    gate_marts = stages.quality_gate(ctx, "pre_dispatch")
    return {"ingest": ingested, "gate_raw": gate, "dbt": built, "gate_marts": gate_marts}

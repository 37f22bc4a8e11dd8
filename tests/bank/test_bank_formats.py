"""Simulator statement writers: camt.053 .02/.08 and MT940 parse back to exactly the lines written."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.sources.bank import parse_statement_file
from simulator import SimulationManifest, simulate
from simulator.bank_formats import CAMT_V02, CAMT_V08, MT940, write_daily_statements

AS_OF = date(2025, 12, 15)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SimulationManifest:
    return simulate(tmp_path_factory.mktemp("bankworld"), profile="S", seed=11, as_of=AS_OF, n_customers=250)


def _by_id(table: pa.Table) -> dict[str, dict]:
    """Lines by id. Names are compared stripped: the simulator cuts some payer names to 20 characters
    with a trailing blank, and the camt parser strips element text (as it must for real files)."""
    rows = {r["bank_txn_id"]: r for r in table.to_pylist()}
    for r in rows.values():
        r["counterparty_name"] = r["counterparty_name"].strip() if r["counterparty_name"] else r["counterparty_name"]
    return rows


@pytest.mark.parametrize("fmt", [CAMT_V02, CAMT_V08, MT940])
def test_every_line_round_trips_exactly(world: SimulationManifest, tmp_path: Path, fmt: str) -> None:
    lines = pq.read_table(world.files["raw_bank.statement_lines"])
    files = write_daily_statements(lines, tmp_path, format_for=lambda account, ccy: fmt)
    expected = _by_id(lines)
    got: dict[str, dict] = {}
    closing: dict[str, Decimal] = {}
    for path in files:
        parsed = parse_statement_file(path)
        assert parsed.reconcile() == []
        st = parsed.statements[0]
        # consecutive files of an account chain: yesterday's closing is today's opening
        assert closing.get(st.account, Decimal("100000.00")) == st.opening[0]
        closing[st.account] = st.closing[0]
        got.update(_by_id(parsed.to_raw_table()))
    assert got == expected  # ids, amounts, dates, parties, remittance, references
    assert any(r["value_date"] != r["booking_date"] for r in expected.values())
    assert any(r["creditor_reference"] and r["remittance_text"] for r in expected.values())


def test_simulate_writes_daily_statements_in_the_manifest(world: SimulationManifest) -> None:
    files = world.statement_files
    assert files and all(p.is_file() and p.parent.name == "statements" for p in files)
    assert {p.suffix for p in files} == {".xml", ".sta"}
    versions = {parse_statement_file(p).version or "mt940" for p in files}
    assert versions == {"camt.053.001.08", "camt.053.001.02", "mt940"}
    assert SimulationManifest.read(world.out_dir).statement_files == files
    lines = pq.read_table(world.files["raw_bank.statement_lines"])
    first = AS_OF - timedelta(days=4)
    recent = {r["bank_txn_id"]: r for r in lines.to_pylist() if first <= r["booking_date"] <= AS_OF}
    parsed = {}
    for p in files:
        f = parse_statement_file(p)
        assert f.reconcile() == []
        parsed.update(_by_id(f.to_raw_table()))
    assert parsed == recent


def test_statement_files_are_deterministic(world: SimulationManifest, tmp_path: Path) -> None:
    again = simulate(tmp_path, profile="S", seed=11, as_of=AS_OF, n_customers=250)

    def digest(m: SimulationManifest) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in m.statement_files}

    assert digest(again) == digest(world)
    none = simulate(tmp_path / "none", profile="S", seed=11, as_of=AS_OF, n_customers=50, daily_statement_days=0)
    assert none.statement_files == [] and not (none.out_dir / "bank" / "statements").exists()

"""The bank statement-file source passes the shared connector conformance suite.

Per-record quarantine for bank files (an amount with more decimals than the contract keeps) is
shown in test_bank_source.py; here: declarations, schema, second sync lands nothing new.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import duckdb

from connectors.sources.bank import BankFileSource
from simulator import simulate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "connectors"))
from conformance import assert_source_conforms  # noqa: E402


def test_bank_file_source_conforms(tmp_path: Path) -> None:
    world = simulate(tmp_path / "landing", profile="S", n_customers=150, as_of=date(2026, 11, 23))
    folder = world.out_dir / "bank" / "statements"
    assert any(folder.glob("*.xml")) and any(folder.glob("*.sta"))
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        landed = assert_source_conforms(lambda: BankFileSource(folder), con)
        ids = con.execute("select count(distinct bank_txn_id), count(*) from raw_bank.statement_lines").fetchall()
    assert landed["raw_bank.statement_lines"] > 0
    assert ids[0][0] == ids[0][1]

"""The ingest stage's severity rule (DESIGN.md §5): bad files are set aside and named, the run goes on;
only a systemic failure stops it - a required stream left empty, or a stale source."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from cobranza.settings import load_settings
from connectors.load import SourceDataError
from flows import stages
from simulator import simulate

AS_OF = date(2026, 11, 23)
HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@pytest.fixture()
def landing(tmp_path: Path) -> Path:
    return simulate(tmp_path / "landing", profile="S", n_customers=60, as_of=AS_OF).out_dir


def _ctx(tmp_path: Path, landing: Path, as_of: date = AS_OF):
    settings = load_settings(data_dir=tmp_path / "data")
    settings.simulator.enabled = False
    settings.sources.landing_dir = landing
    return stages.make_context(settings, as_of)


def test_a_bad_file_is_set_aside_named_and_the_rest_lands(tmp_path: Path, landing: Path) -> None:
    (landing / "erp" / "credit_notes.csv").write_bytes(HTML)
    out = stages.ingest_sources.fn(_ctx(tmp_path, landing))
    (aside,) = [r for r in out if r["status"] == "quarantined"]
    assert aside["stream"] == "raw_erp.credit_notes" and "credit_notes.csv: an HTML page" in aside["error"]
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb")) as con:
        assert con.execute("select count(*) from raw_erp.invoices").fetchall()[0][0] > 0
        assert con.execute("select count(*) from quarantine.raw_files").fetchall()[0][0] == 1


def test_an_empty_required_stream_stops_the_run_naming_the_file(tmp_path: Path, landing: Path) -> None:
    (landing / "crm" / "contacts.jsonl").write_bytes(b"")
    with pytest.raises(SourceDataError, match=r"raw_crm.contacts has no rows.*contacts.jsonl: empty file"):
        stages.ingest_sources.fn(_ctx(tmp_path, landing))


def test_a_stale_source_stops_the_run(tmp_path: Path, landing: Path) -> None:
    stages.ingest_sources.fn(_ctx(tmp_path, landing))  # the run of AS_OF lands the ERP
    later = AS_OF + timedelta(days=10)  # ten days on, the ERP export has not changed since
    with pytest.raises(SourceDataError, match=r"stale source: raw_erp.invoices last changed 2026-11-2"):
        stages.ingest_sources.fn(_ctx(tmp_path, landing, later))
    stages.ingest_sources.fn(_ctx(tmp_path, landing, AS_OF + timedelta(days=5)))  # within the week: goes on


def test_a_statement_warning_lands_the_file_and_reaches_the_stage_summary(tmp_path: Path, landing: Path) -> None:
    """A camt.053 whose closing balance does not add up lands (the lines are the bank's), and the
    run's summary carries the warning naming the file, not only the log (issue 16, SyncResult.warnings)."""
    import re

    camt = sorted((landing / "bank" / "statements").glob("*.xml"))[0]
    text = camt.read_text(encoding="utf-8")
    # The closing booked balance, one unit more than the lines add up to.
    closing = re.search(r"<Cd>CLBD</Cd>\s*</CdOrPrtry>\s*</Tp>\s*<Amt Ccy=\"(\w+)\">([0-9.]+)</Amt>", text)
    assert closing is not None
    wrong = f"{float(closing.group(2)) + 1:.2f}"
    camt.write_text(text[: closing.start(2)] + wrong + text[closing.end(2) :], encoding="utf-8")
    out = stages.ingest(_ctx(tmp_path, landing))
    warned = [r for r in out if r["status"] == "warning"]
    assert warned and all(r["stream"] == "raw_bank.statement_lines" for r in warned)
    assert any(camt.name in r["origin"] and r["warning"] for r in warned), warned
    landed = [r for r in out if r.get("origin") == str(camt) and r["status"] == "loaded"]
    assert landed, "the statement with a balance warning still lands"

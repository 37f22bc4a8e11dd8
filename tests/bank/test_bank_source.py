"""BankFileSource through connectors.base.sync: landing, file-hash skip, bank_txn_id dedupe, bad files."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.base import Source, sync
from connectors.sources.bank import BankFileSource

CAMT = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
 <BkToCstmrStmt><GrpHdr><MsgId>M1</MsgId><CreDtTm>2024-03-01T20:00:00</CreDtTm></GrpHdr>
  <Stmt><Id>S1</Id><Acct><Id><IBAN>ES9121000418450200051332</IBAN></Id><Ccy>EUR</Ccy></Acct>
   <Ntry><Amt Ccy="EUR">1500.25</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
    <BookgDt><Dt>2024-03-01</Dt></BookgDt><ValDt><Dt>2024-03-01</Dt></ValDt><AcctSvcrRef>A-1</AcctSvcrRef>
    <NtryDtls><TxDtls><RltdPties><Dbtr><Pty><Nm>Cliente Uno SA</Nm></Pty></Dbtr></RltdPties>
     <RmtInf><Ustrd>FACTURA INV-2024-0001</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
   <Ntry><Amt Ccy="EUR">99.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>PDNG</Cd></Sts>
    <BookgDt><Dt>2024-03-01</Dt></BookgDt><AcctSvcrRef>A-2</AcctSvcrRef></Ntry>
   <Ntry><Amt Ccy="EUR">10.00</Amt><CdtDbtInd>DBIT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
    <BookgDt><Dt>2024-03-01</Dt></BookgDt><ValDt><Dt>2024-03-02</Dt></ValDt></Ntry>
  </Stmt></BkToCstmrStmt></Document>
"""
MT940 = ":20:X\n:25:MX1234\n:28C:1\n:60F:C240301MXN0,00\n:61:2403010301C5,00NTRFNONREF//M-1\n:62F:C240301MXN5,00\n-\n"


@pytest.fixture()
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield c
    c.close()


def _rows(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "select bank_txn_id, amount, credit_debit, value_date::varchar, counterparty_name, _source "
        "from raw_bank.statement_lines order by bank_txn_id"
    ).fetchall()


def test_sync_lands_booked_lines_once(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "day1.xml").write_text(CAMT, encoding="utf-8")
    (inbox / "day1.sta").write_text(MT940)
    (inbox / "README.md").write_text("# Statements\nDrop camt.053 and MT940 files here.\n")
    (inbox / "LICENSE").write_text("MIT License\n")
    source = BankFileSource(inbox)
    assert isinstance(source, Source)

    first = sync(con, source)
    assert first.ok and sorted(r.rows_new for r in first.landed) == [1, 2]
    rows = {r[0]: r for r in _rows(con)}
    hashed = next(r for k, r in rows.items() if k not in ("A-1", "M-1"))
    assert len(rows) == 3 and "A-2" not in rows  # the pending A-2 is not landed
    assert rows["A-1"][1:] == (Decimal("1500.25"), "CRDT", "2024-03-01", "Cliente Uno SA", "bank")
    assert len(hashed[0]) == 64 and hashed[3] == "2024-03-02" and hashed[2] == "DBIT"

    second = sync(con, source)  # same files: skipped by content hash
    assert [r.status for r in second.landed] == ["skipped", "skipped"]

    shutil.copy(inbox / "day1.xml", inbox / "redelivered-with-other-name.xml")
    (inbox / "day1.xml").write_text(CAMT.replace("<MsgId>M1</MsgId>", "<MsgId>M1-resent</MsgId>"), encoding="utf-8")
    third = sync(con, source)  # new bytes, same lines: bank_txn_id dedupe adds nothing
    assert sum(r.rows_new for r in third.landed) == 0
    assert {r.status for r in third.landed} == {"loaded", "skipped"}
    assert len(_rows(con)) == 3


def test_unparseable_file_is_quarantined_and_others_land(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a_broken.xml").write_text(CAMT[:-200], encoding="utf-8")
    (inbox / "b_good.sta").write_text(MT940)
    result = sync(con, BankFileSource(inbox))
    assert not result.ok and "a_broken.xml: line" in result.refused[0]["error"]
    assert [r[0] for r in _rows(con)] == ["M-1"]
    reason = con.execute("select reason from quarantine.raw_files").fetchall()[0][0]
    assert "not well-formed XML" in reason


def test_amount_with_more_decimals_is_quarantined_with_reason(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    lines = "".join(f":61:2403010301C{i},00NTRFNONREF//OK-{i}\n" for i in range(1, 40))
    # the closing balance adds up (780 + 1.005): the statement is complete, one line has 3 decimals
    text = f":20:X\n:25:MX1\n:28C:1\n{lines}:61:2403010301C1,005NTRFNONREF//ODD\n:62F:C240301MXN781,005\n-\n"
    (inbox / "s.sta").write_text(text.replace(":28C:1\n", ":28C:1\n:60F:C240301MXN0,00\n"))
    result = sync(con, BankFileSource(inbox))
    assert result.ok and result.landed[0].rows_new == 39 and result.landed[0].rows_quarantined == 1
    reason = con.execute("select reason from quarantine.raw_records").fetchall()[0][0]
    assert "1.005" in reason and "more decimals" in reason


def test_missing_folder_fails_clearly(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    from connectors.load import SourceDataError

    with pytest.raises(SourceDataError, match="does not exist"):
        sync(con, BankFileSource(tmp_path / "nowhere"))

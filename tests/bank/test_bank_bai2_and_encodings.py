"""BAI2 through the shared statement contract, and the encoding rules of statement files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from connectors.contracts import STATEMENT_LINES
from connectors.load import SourceDataError
from connectors.sources.bank import parse_statement_bytes, parse_statement_file, sniff_format
from connectors.sources.bank.encoding import decode_text, detect

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "bai2_basic.bai"


def test_bai2_fixture_parses_through_the_contract() -> None:
    assert sniff_format(FIXTURE.read_bytes()) == "bai2"
    parsed = parse_statement_file(FIXTURE)
    (st,) = parsed.statements
    assert (parsed.format, st.account, st.currency) == ("bai2", "123456789", "USD")
    assert st.opening == (Decimal("1000.00"), st.opening[1]) and st.closing[0] == Decimal("2500.50")
    assert parsed.balance_check().status == "reconciled"
    lines = st.entries
    assert [(e.bank_txn_id, e.amount, e.credit_debit) for e in lines] == [
        ("BR0001", Decimal("1500.00"), "CRDT"),
        ("BR0002", Decimal("500.50"), "CRDT"),
        ("BR0003", Decimal("500.00"), "DBIT"),
    ]
    # 88 continues the text (which holds a comma); V gives the value date
    assert lines[0].remittance_text == "ACH CREDIT ACME CORP INVOICE INV-2026-0001, PAYMENT IN FULL"
    assert lines[0].entry_reference == "INV-2026-0001"
    assert str(lines[1].value_date) == "2026-03-02" and str(lines[1].booking_date) == "2026-03-01"
    assert parsed.to_raw_table().column_names == STATEMENT_LINES.column_names


def test_bai2_summary_totals_must_match_the_details(tmp_path: Path) -> None:
    data = FIXTURE.read_bytes().replace(b"100,200050,2,Z", b"100,200050,3,Z")
    parsed = parse_statement_bytes(tmp_path / "x.bai", data)
    check = parsed.balance_check()
    assert check.status == "mismatch" and "type 100 states 3 items but 2 details" in check.summary


def test_bai2_cli_json(tmp_path: Path) -> None:
    from cli.app import app

    result = CliRunner().invoke(app, ["parse-statement", str(FIXTURE), "--json"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert [r["amount"] for r in rows] == ["1500.00", "500.50", "500.00"]
    assert {r["format"] for r in rows} == {"bai2"}


def test_bai2_wrong_version_refused(tmp_path: Path) -> None:
    data = FIXTURE.read_bytes().replace(b"80,1,2/", b"80,1,1/", 1)
    with pytest.raises(SourceDataError, match=r"x.bai: line 1: record 01: version '1'"):
        parse_statement_bytes(tmp_path / "x.bai", data)


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        ("Café €".encode("cp1252"), "cp1252"),
        ("Café".encode("latin-1") + b"\x81", "latin-1"),  # 0x81 is undefined in Windows-1252
        ("Café €".encode(), "utf-8"),
        ("Café €".encode("utf-16"), "utf-16-le"),
        ("<?xml version='1.0' encoding='UTF-16'?><a/>".encode("utf-16-be"), "utf-16-be"),
        (b"\xef\xbb\xbf:20:X", "utf-8"),
    ],
)
def test_encoding_detection(data: bytes, encoding: str) -> None:
    assert detect(data) == encoding
    text, _ = decode_text(data)
    assert not any("\x80" <= ch <= "\x9f" for ch in text.replace("\x81", "")), text

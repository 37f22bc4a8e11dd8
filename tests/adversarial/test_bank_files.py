"""Adversarial corpus, bank files: hostile statement files in the statements folder (category bank_files).

Every case drops files into a fresh statements folder and syncs it with ``BankFileSource`` into a
real DuckDB warehouse through ``connectors.base.sync`` (the path ``cobranza run`` takes), next to a
good companion statement that must always land. Outcomes:

- ``refused``: a statement file that fails a check (truncated, control totals, entity tricks, a
  damaged line...) is set aside whole in ``quarantine.raw_files``; the reason names the file and the
  record/line/statement; nothing of it lands; the companion lands.
- ``quarantined``: a file that is not a statement (empty, an HTML page, gzip/zip/PDF, CSV) is set
  aside with the reason naming it, or a bad record is set aside in ``quarantine.raw_records`` while
  the rest of its file lands.
- ``landed_once``: the lines land exactly once: the case's rounds of files are synced in order,
  then every round again, and the raw table holds exactly the expected rows.

Fixtures are small hand-written strings built here, plus ``fixtures/bank/ing_wrapped.sta`` (an
ING-style export with values wrapped over lines).
"""

from __future__ import annotations

import codecs
import gzip
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from connectors.base import SyncResult, sync
from connectors.load import SourceDataError
from connectors.sources.bank import BankFileSource, parse_statement_bytes
from tests.adversarial.corpus import Case, case_ids

TODAY = date(2026, 3, 2)  # the run date of every case (statements below are of 2026-03-01)
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "bank"
IBAN = "ES9121000418450200051332"

# ------------------------------------------------------------------------------------------------
# builders: MT940


def mt940(
    lines: str,
    *,
    opening: str = ":60F:C260228EUR1000,00",
    closing: str | None = None,
    ref: str = "STMT1",
    seq: str = "1/1",
    tail: str = "-",
) -> bytes:
    """An MT940 statement with ``lines`` (:61:/:86: text); closing computed when not given."""
    if closing is None:
        closing = f":62F:C260301EUR{_mt_closing(opening, lines)}"
    parts = [f":20:{ref}", f":25:{IBAN}", f":28C:{seq}", opening, lines.strip("\n"), closing, tail]
    return ("\n".join(p for p in parts if p) + "\n").encode()


def _mt_closing(opening: str, lines: str) -> str:
    total = Decimal(opening[-7:].replace(",", ".").lstrip("EUR")) if opening else Decimal(0)
    import re

    for m in re.finditer(r"(?m)^:61:\d{6}(?:\d{4})?(RC|RD|C|D)[A-Z]?(\d+,\d*)", lines):
        amount = Decimal(m.group(2).replace(",", "."))
        total += amount if m.group(1) in ("C", "RD") else -amount
    return f"{total:.2f}".replace(".", ",")


GOOD_MT940 = mt940(":61:2603010301C100,00NTRFINV-1//COMPANION-1\n:86:/REMI/USTD//INV-2026-0001/")

# ------------------------------------------------------------------------------------------------
# builders: camt


def camt(
    entries: str,
    *,
    kind: str = "053",
    version: str = "08",
    ccy: str = "EUR",
    balances: str | None = None,
    msg_id: str = "M1",
    stmt_id: str = "S1",
) -> str:
    root, stmt = {
        "053": ("BkToCstmrStmt", "Stmt"),
        "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
        "052": ("BkToCstmrAcctRpt", "Rpt"),
    }[kind]
    if balances is None:
        balances = bal("OPBD", "0.00") + bal("CLBD", "0.00") if kind == "053" else ""
    acct_ccy = f"<Ccy>{ccy}</Ccy>" if ccy else ""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.{kind}.001.{version}">
 <{root}><GrpHdr><MsgId>{msg_id}</MsgId><CreDtTm>2026-03-01T20:00:00</CreDtTm></GrpHdr>
  <{stmt}><Id>{stmt_id}</Id><Acct><Id><IBAN>{IBAN}</IBAN></Id>{acct_ccy}</Acct>{balances}{entries}
  </{stmt}></{root}></Document>
"""


def bal(code: str, amount: str, cd: str = "CRDT", ccy: str = "EUR") -> str:
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp><Amt Ccy='{ccy}'>{amount}</Amt>"
        f"<CdtDbtInd>{cd}</CdtDbtInd><Dt><Dt>2026-03-01</Dt></Dt></Bal>"
    )


def ntry(
    amount: str,
    cd: str = "CRDT",
    *,
    ref: str | None = None,
    sts: str = "BOOK",
    day: str = "2026-03-01",
    ccy: str = "EUR",
    payer: str = "Cliente Uno SA",
    text: str = "FACTURA INV-2026-0001",
    e2e: str | None = None,
    rvsl: bool = False,
    rtr: str | None = None,
    instr: str | None = None,
) -> str:
    refs = "".join(f"<{k}>{v}</{k}>" for k, v in (("InstrId", instr), ("EndToEndId", e2e)) if v)
    return (
        f"<Ntry><Amt Ccy='{ccy}'>{amount}</Amt><CdtDbtInd>{cd}</CdtDbtInd>"
        + ("<RvslInd>true</RvslInd>" if rvsl else "")
        + (f"<Sts><Cd>{sts}</Cd></Sts>" if sts else "")
        + f"<BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
        + (f"<AcctSvcrRef>{ref}</AcctSvcrRef>" if ref else "")
        + "<NtryDtls><TxDtls>"
        + (f"<Refs>{refs}</Refs>" if refs else "")
        + f"<RltdPties><Dbtr><Pty><Nm>{payer}</Nm></Pty></Dbtr></RltdPties>"
        + f"<RmtInf><Ustrd>{text}</Ustrd></RmtInf>"
        + (f"<RtrInf><Rsn><Cd>{rtr}</Cd></Rsn></RtrInf>" if rtr else "")
        + "</TxDtls></NtryDtls></Ntry>"
    )


def camt053(entries: list[str], **kw) -> str:
    """A camt.053 whose balances add up (opening 0)."""
    total = Decimal(0)
    import re

    for e in entries:
        amount = Decimal(re.search(r"<Amt Ccy='\w+'>([^<]+)</Amt>", e).group(1))
        sts = re.search(r"<Sts><Cd>(\w+)</Cd></Sts>", e)
        if sts and sts.group(1) != "BOOK":
            continue
        total += amount if "<CdtDbtInd>CRDT" in e else -amount
    sign = "CRDT" if total >= 0 else "DBIT"
    kw.setdefault("balances", bal("OPBD", "0.00") + bal("CLBD", f"{abs(total):.2f}", sign))
    return camt("".join(entries), **kw)


# ------------------------------------------------------------------------------------------------
# builders: BAI2


def bai2(
    accounts: list[tuple[str, list[str], list[str]]],
    *,
    currency: str = "USD",
    status: str = "1",
    modifier: str = "2",
    tweak: Callable[[list[str]], list[str]] | None = None,
) -> bytes:
    """A BAI2 file whose trailers are computed: accounts are (account, 03 items, 16/88 records)."""
    recs = [
        "01,SENDR1,RECVR1,260302,0800,001,80,1,2/",
        f"02,RECVR1,BANKUS33,{status},260301,2359,{currency},{modifier}/",
    ]
    group_total, group_records = 0, 1
    for account, items, details in accounts:
        rec03 = f"03,{account},{currency}," + ",".join(items) + "/"
        total = _bai_sum(items)
        for d in details:
            if d.startswith("16,"):
                amount = d.split(",")[2]
                total += int(amount) if amount else 0
        block = [rec03, *details, f"49,{total},{len(details) + 2}/"]
        recs += block
        group_total += total
        group_records += len(block)
    recs.append(f"98,{group_total},{len(accounts)},{group_records + 1}/")
    recs.append(f"99,{group_total},1,{len(recs) + 1}/")
    if tweak:
        recs = tweak(recs)
    return ("\n".join(recs) + "\n").encode()


def _bai_sum(items: list[str]) -> int:
    fields = ",".join(items).split(",")
    total, k = 0, 0
    while k + 3 < len(fields) + 1 and k < len(fields):
        amount = fields[k + 1] if k + 1 < len(fields) else ""
        total += int(amount) if amount else 0
        funds = fields[k + 3] if k + 3 < len(fields) else ""
        k += 4 + {"S": 3, "V": 2}.get(funds, 0)
    return total


BAI_SUMMARY = ["010,100000,,Z", "015,125000,,Z"]
BAI_DETAILS = ["16,165,15000,0,BR1001,INV-2026-0001,ACH CREDIT ACME CORP", "16,195,10000,Z,BR1002,,WIRE BETA LLC/"]


def _swap(old: str, new: str) -> Callable[[list[str]], list[str]]:
    return lambda recs: [r.replace(old, new) if r.startswith(old[:3]) else r for r in recs]


# ------------------------------------------------------------------------------------------------
# the case payload and its harness


@dataclass
class Drop:
    """What a case drops: rounds of files (each synced in order), what must hold afterwards."""

    rounds: list[dict[str, bytes]]
    rows: int | None = None  # raw rows of the case's files after every round twice (landed_once)
    bad: str | None = None  # the file set aside (refused / quarantined)
    record_quarantined: bool = False  # a record of the file, not the file, is set aside
    warning: str | None = None  # a fragment of a run warning (statement still landed)
    check: Callable[[duckdb.DuckDBPyConnection], None] | None = None
    companion: bool = True
    extra: dict = field(default_factory=dict)


def _case(id_: str, expect: str, description: str, drop: Drop, reason: str | None = None) -> Case:
    return Case(id=id_, category="bank_files", expect=expect, description=description, payload=drop, reason=reason)


def one(name: str, data: bytes | str, **kw) -> Drop:
    return Drop(rounds=[{name: data.encode() if isinstance(data, str) else data}], **kw)


def _rows(con: duckdb.DuckDBPyConnection, where: str = "true") -> list[tuple]:
    return con.execute(
        "select bank_txn_id, amount, credit_debit, counterparty_name, remittance_text, is_reversal, return_reason, "
        f"reversal_of, value_date::varchar from raw_bank.statement_lines where {where} order by bank_txn_id"
    ).fetchall()


def _check_rows(expected: list[tuple]) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def check(con: duckdb.DuckDBPyConnection) -> None:
        got = [r[:3] for r in _rows(con, "_file not like '%companion%'")]
        assert [(a, Decimal(b), c) for a, b, c in expected] == got

    return check


def _check_where(where: str, n: int) -> Callable[[duckdb.DuckDBPyConnection], None]:
    def check(con: duckdb.DuckDBPyConnection) -> None:
        got = _rows(con, where)
        assert len(got) == n, f"{where}: {got}"

    return check


# ------------------------------------------------------------------------------------------------
# MT940 / MT942 cases

MT_TWO = ":61:2603010301C150,00NTRFINV-1//B-1\n:86:/REMI/USTD//INV-2026-0101/\n:61:2603010301D25,00NMSCNONREF//B-2"

CASES: list[Case] = [
    _case(
        "bank-mt940-ing-wrapped-export",
        "landed_once",
        "an ING export whose :61:, :86:, :60F: and :62F: values wrap onto the next line (a bare '-', a "
        "':32:' time and '//' bank refs on continuation lines): all 8 lines land and the balances check",
        Drop(
            rounds=[{"ing.sta": (FIXTURES / "ing_wrapped.sta").read_bytes()}],
            rows=8,
            extra={"no_warnings": True},
            check=_check_where("remittance_text = 'RECHNUNG 2026-0104 VOM 10:32:15 UHR'", 1),
        ),
    ),
    _case(
        "bank-mt940-wrapped-61-amount",
        "landed_once",
        ":61: cut inside the amount (C / 150,00NTRF...) and inside the type code",
        one(
            "w.sta",
            mt940(
                ":61:2603010301C\n150,00NTRFINV-1//W-1\n:61:2603010301D25,00NM\nSCNONREF//W-2",
                closing=":62F:C260301EUR1125,00",
            ),
            rows=2,
            check=_check_rows([("W-1", "150.00", "CRDT"), ("W-2", "25.00", "DBIT")]),
            extra={"no_warnings": True},
        ),
    ),
    _case(
        "bank-mt940-wrapped-bank-ref",
        "landed_once",
        ":61: whose '//bankref' went to the next line keeps the bank reference as its id",
        one(
            "w.sta",
            mt940(":61:2603010301C150,00NTRFINV-1\n//WRAP-1\n"),
            rows=1,
            check=_check_rows([("WRAP-1", "150.00", "CRDT")]),
        ),
    ),
    _case(
        "bank-mt940-wrapped-balances",
        "landed_once",
        ":60F: and :62F: values wrapped mid-amount are read whole (the balance check passes)",
        one(
            "w.sta",
            mt940(MT_TWO, opening=":60F:C260228EUR10\n00,00", closing=":62F:C260301EUR1\n125,00"),
            rows=2,
            extra={"no_warnings": True},
        ),
    ),
    _case(
        "bank-mt940-dash-in-86",
        "landed_once",
        "a :86: continuation line that is a bare '-' does not end the statement before its closing balance",
        one(
            "w.sta",
            mt940(
                ":61:2603010301C150,00NTRFINV-1//D-1\n:86:PERIOD 01-02\n-\n28-02\n"
                ":61:2603010301C10,00NTRFINV-2//D-2\n:61:2603010301D25,00NMSCNONREF//D-3"
            ),
            rows=3,
            extra={"no_warnings": True},
        ),
    ),
    _case(
        "bank-mt940-wrapped-time-looks-like-25",
        "landed_once",
        "a :86: text wrapped inside a time ('10' / ':25:30 UHR') does not overwrite the account (:25:)",
        one(
            "t25.sta",
            mt940(":61:2603010301C150,00NTRFINV-1//T-1\n:86:ZAHLUNG VOM 10\n:25:30 UHR\n" + MT_TWO.split("\n", 2)[2]),
            rows=2,
            extra={"no_warnings": True},
            check=lambda con: _assert(
                con.execute("select distinct account_iban from raw_bank.statement_lines").fetchall() == [(IBAN,)]
            ),
        ),
    ),
    _case(
        "bank-mt940-wrapped-time-looks-like-20",
        "landed_once",
        "a :86: text wrapped before ':20:15' does not start a new statement (no :25: follows it)",
        one(
            "t20.sta",
            mt940(":61:2603010301C150,00NTRFINV-1//T-1\n:86:ZAHLUNG UM 09\n:20:15 UHR\n" + MT_TWO.split("\n", 2)[2]),
            rows=2,
            extra={"no_warnings": True},
        ),
    ),
    _case(
        "bank-mt940-cut-short",
        "refused",
        "an MT940 cut short after a :61: (no :62F:, no terminator) is refused as incomplete",
        one("cut.sta", mt940(MT_TWO, closing="", tail=""), bad="cut.sta"),
        reason="has no closing balance (:62F:)",
    ),
    _case(
        "bank-mt940-missing-62f-with-64",
        "refused",
        "an MT940 with only the available balance :64: and no booked closing balance :62F:",
        one("m.sta", mt940(MT_TWO, closing=":64:C260301EUR1125,00"), bad="m.sta"),
        reason=":20:STMT1 :28C:1/1 has no closing balance",
    ),
    _case(
        "bank-mt940-missing-60f",
        "refused",
        "an MT940 without its opening balance :60F:",
        one("o.sta", mt940(MT_TWO, opening=""), bad="o.sta"),
        reason="has no opening balance (:60F:)",
    ),
    _case(
        "bank-mt940-truncated-mid-line",
        "refused",
        "an MT940 whose transfer stopped inside a :61: line",
        one("t.sta", mt940(MT_TWO).split(b"NMSC")[0], bad="t.sta"),
        reason="line 7",
    ),
    _case(
        "bank-mt940-64-available-mbank",
        "landed_once",
        "mBank's closing available balance :64:C170119PLN0,43 after :62F: is accepted",
        one(
            "mbank.sta",
            b":20:MT940\n:25:/PL12114020040000350201234567\n:28C:1\n:60F:C260228PLN0,00\n"
            b":61:2603010301C0,43S034NONREF//MB-1\n:86:034 Kapitalizacja odsetek\n:62F:C260301PLN0,43\n"
            b":64:C170119PLN0,43\n-\n",
            rows=1,
            extra={"no_warnings": True},
        ),
    ),
    _case(
        "bank-mt940-30-february",
        "landed_once",
        "an interest posting with value date 30 February lands with the month's last day (raw kept in notes)",
        one(
            "feb.sta",
            mt940(":61:2602300301C1,25NINTNONREF//INT-1\n:86:INTEREST", opening=":60F:C260228EUR0,00"),
            rows=1,
            check=lambda con: _assert(_rows(con, "bank_txn_id = 'INT-1'")[0][8] == "2026-02-28"),
        ),
    ),
    _case(
        "bank-mt940-31-february-entry-date",
        "landed_once",
        "an entry (booking) date 31 February (0231) is read as 28 February, not refused",
        one(
            "feb31.sta",
            mt940(":61:2603010231C9,00NTRFNONREF//F31-1", opening=":60F:C260228EUR0,00"),
            rows=1,
            check=lambda con: _assert(
                con.execute(
                    "select booking_date::varchar from raw_bank.statement_lines where bank_txn_id = 'F31-1'"
                ).fetchall()[0][0]
                == "2026-02-28"
            ),
        ),
    ),
    _case(
        "bank-mt940-month-13",
        "refused",
        "a value date in month 13 is no bank quirk: the file is refused naming the line",
        one("m13.sta", mt940(":61:2613010301C9,00NTRFNONREF//M13-1"), bad="m13.sta"),
        reason="line 5: :61:2613010301C9,00NTRFNONREF//M13-1: value or entry date",
    ),
    _case(
        "bank-mt940-damaged-61",
        "refused",
        "a damaged :61: line (letters in the amount) is refused naming file and line; the CLI prints the "
        "hint '[//bankref]' without a Rich MarkupError",
        one("dmg.sta", mt940(":61:2603010301CXX0,00NTRFNONREF//D-1"), bad="dmg.sta", extra={"cli": True}),
        reason="line 5: :61:2603010301CXX0,00NTRFNONREF//D-1: statement line does not follow",
    ),
    _case(
        "bank-mt940-cp1252-euro",
        "landed_once",
        "a Windows-1252 MT940: the payer 'Café €uro “Ltd”' keeps € and quotes, no C1 control characters",
        one(
            "cp.sta",
            mt940(":61:2603010301C10,00NTRFNONREF//CP-1\n:86:/CNTP/NL91ABNA0417164300/ABNANL2A/Café €uro “Ltd”/")
            .decode()
            .encode("cp1252"),
            rows=1,
            check=lambda con: _assert(_rows(con, "bank_txn_id = 'CP-1'")[0][3] == "Café €uro “Ltd”"),
        ),
    ),
    _case(
        "bank-mt940-latin1",
        "landed_once",
        "an ISO-8859-1 MT940 with a byte that is undefined in Windows-1252 (0x81) and 'Müller'",
        one(
            "l1.sta",
            mt940(":61:2603010301C10,00NTRFNONREF//L1-1\n:86:/CNTP/DE1/X/Müller\x81GmbH/").decode().encode("latin-1"),
            rows=1,
            check=lambda con: _assert(_rows(con, "bank_txn_id = 'L1-1'")[0][3].startswith("Müller")),
        ),
    ),
    _case(
        "bank-mt940-utf8-bom",
        "landed_once",
        "an MT940 starting with a UTF-8 byte-order mark",
        one("bom.sta", codecs.BOM_UTF8 + mt940(MT_TWO), rows=2),
    ),
    _case(
        "bank-mt940-utf16-bom",
        "landed_once",
        "an MT940 saved as UTF-16 with a BOM by a Windows tool",
        one("u16.sta", mt940(MT_TWO).decode().encode("utf-16"), rows=2),
    ),
    _case(
        "bank-mt940-balance-mismatch",
        "landed_once",
        "opening + lines != closing: the lines land but the run warns naming the statement and the difference",
        one(
            "mis.sta", mt940(MT_TWO, closing=":62F:C260301EUR9999,00"), rows=2, warning="statement STMT1 (sequence 1/1)"
        ),
    ),
    _case(
        "bank-mt940-balance-currency-mismatch",
        "refused",
        "an MT940 opening in EUR and closing in USD",
        one("ccy.sta", mt940(MT_TWO, closing=":62F:C260301USD1125,00"), bad="ccy.sta"),
        reason="mixes currencies (EUR, USD)",
    ),
    _case(
        "bank-mt940-reversal-rc",
        "landed_once",
        "a credit and its RC reversal (/RTRN/ reason): the reversal lands marked, with the link to the original",
        one(
            "rc.sta",
            mt940(
                ":61:2603010301C80,00NTRFE2E-9//P-1\n:86:/EREF/E2E-9//CNTP/DE1/X/ACME/REMI/USTD//INV-9/\n"
                ":61:2603010301RC80,00NTRFE2E-9//R-1\n:86:/RTRN/AC04/EREF/E2E-9//CNTP/DE1/X/ACME/"
            ),
            rows=2,
            check=lambda con: _assert(
                _rows(con, "bank_txn_id = 'R-1'")[0][2:8] == ("DBIT", "ACME", None, True, "AC04", "E2E-9")
            ),
        ),
    ),
    _case(
        "bank-mt940-same-file-renamed",
        "landed_once",
        "the same MT940 delivered twice under two names",
        Drop(rounds=[{"a.sta": mt940(MT_TWO)}, {"a-copy.sta": mt940(MT_TWO)}], rows=2),
    ),
    _case(
        "bank-mt940-no-refs-redelivered",
        "landed_once",
        "lines without bank refs re-delivered in a statement with another :20:/:28C: land once",
        Drop(
            rounds=[
                {"n1.sta": mt940(":61:2603010301C33,00NTRFNONREF\n:86:INV-33")},
                {"n2.sta": mt940(":61:2603010301C33,00NTRFNONREF\n:86:INV-33", ref="RESENT", seq="2/1")},
            ],
            rows=1,
        ),
    ),
    _case(
        "bank-mt940-identical-payments",
        "landed_once",
        "two genuinely identical payments on one day without refs stay two lines, once each on re-delivery",
        Drop(
            rounds=[
                {
                    "i1.sta": mt940(
                        ":61:2603010301C33,00NTRFNONREF\n:86:INV-33\n:61:2603010301C33,00NTRFNONREF\n:86:INV-33"
                    )
                },
                {
                    "i2.sta": mt940(
                        ":61:2603010301C33,00NTRFNONREF\n:86:INV-33\n:61:2603010301C33,00NTRFNONREF\n:86:INV-33",
                        ref="X",
                    )
                },
            ],
            rows=2,
        ),
    ),
    _case(
        "bank-mt942-then-mt940",
        "landed_once",
        "an intraday MT942 (information, not landed) followed by the day's MT940 booking the same lines",
        Drop(
            rounds=[
                {
                    "intraday.sta": (
                        f":20:I1\n:25:{IBAN}\n:28C:1\n:34F:EUR0,\n:13D:2603011200+0100\n"
                        + MT_TWO
                        + "\n:90C:1EUR150,00\n-\n"
                    ).encode()
                },
                {"eod.sta": mt940(MT_TWO)},
            ],
            rows=2,
        ),
    ),
    _case(
        "bank-mt940-three-decimals",
        "quarantined",
        "one line of 1,005 EUR (three decimals) is set aside as a record; the other line of the file lands",
        one(
            "dec.sta",
            mt940(":61:2603010301C1,005NTRFNONREF//ODD-1\n:61:2603010301C2,00NTRFNONREF//OK-1"),
            bad="dec.sta",
            record_quarantined=True,
        ),
        reason="has more decimals",
    ),
    _case(
        "bank-mt940-booked-next-year",
        "refused",
        "lines booked next year (a bank never books the future) refuse the file",
        one(
            "fut.sta",
            mt940(":61:2703010301C10,00NTRFNONREF//F-1", closing=":62F:C270301EUR1010,00"),
            bad="fut.sta",
            extra={"source_check": True},
        ),
        reason="booked in the future",
    ),
]

# ------------------------------------------------------------------------------------------------
# camt cases

C1 = ntry("150.00", text="FACTURA INV-2026-0101", payer="Cliente Uno SA")
C2 = ntry("80.00", text="FACTURA INV-2026-0102", payer="Cliente Dos SL")
C_PDNG = ntry("99.00", sts="PDNG", text="PENDIENTE", payer="Cliente Tres")

CASES += [
    _case(
        "bank-camt053-utf16-bom",
        "landed_once",
        "a camt.053 in UTF-16 with a byte-order mark",
        one("u16.xml", camt053([C1, C2]).replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16"), rows=2),
    ),
    _case(
        "bank-camt053-utf16-declared-no-bom",
        "landed_once",
        "a camt.053 in UTF-16LE without a BOM, declared in the XML prolog",
        one("u16le.xml", camt053([C1]).replace('encoding="UTF-8"', 'encoding="UTF-16"').encode("utf-16-le"), rows=1),
    ),
    _case(
        "bank-camt053-utf8-bom-latin-names",
        "landed_once",
        "a UTF-8 camt with a BOM and accented payer names",
        one(
            "bom.xml",
            codecs.BOM_UTF8 + camt053([ntry("5.00", payer="Peñarol Ñandú SA")]).encode(),
            rows=1,
            check=lambda con: _assert(_rows(con, "_file like '%bom.xml'")[0][3] == "Peñarol Ñandú SA"),
        ),
    ),
    _case(
        "bank-camt052-then-053-no-ref",
        "landed_once",
        "an intraday camt.052 with two booked entries and no AcctSvcrRef, then the day's camt.053 with the same",
        Drop(
            rounds=[
                {"intraday.xml": camt(C1 + C2 + C_PDNG, kind="052", msg_id="R1", stmt_id="RPT-1")},
                {
                    "eod.xml": camt053(
                        [C1, C2, ntry("7.00", text="FACTURA INV-2026-0107")], msg_id="S9", stmt_id="STMT-9"
                    )
                },
            ],
            rows=3,
        ),
    ),
    _case(
        "bank-camt052-pending-not-booked",
        "landed_once",
        "pending and status-less camt.052 entries never land as booked; the 053 that books them does",
        Drop(
            rounds=[
                {"r.xml": camt(C_PDNG + ntry("12.00", sts="", text="SIN ESTADO"), kind="052")},
                {"s.xml": camt053([ntry("99.00", text="PENDIENTE", payer="Cliente Tres")])},
            ],
            rows=1,
        ),
    ),
    _case(
        "bank-camt054-then-053",
        "landed_once",
        "credit notifications (camt.054) then the statement (camt.053) carrying the same entries, no refs",
        Drop(rounds=[{"n.xml": camt(C1 + C2, kind="054")}, {"s.xml": camt053([C1, C2])}], rows=2),
    ),
    _case(
        "bank-camt053-same-file-twice",
        "landed_once",
        "the same camt.053 dropped twice (second copy renamed, and re-sent with a new MsgId)",
        Drop(
            rounds=[
                {"a.xml": camt053([C1, C2])},
                {"b.xml": camt053([C1, C2])},
                {"c.xml": camt053([C1, C2], msg_id="M2")},
            ],
            rows=2,
        ),
    ),
    _case(
        "bank-camt053-identical-payments",
        "landed_once",
        "two identical payments on one day without AcctSvcrRef stay two lines",
        Drop(rounds=[{"a.xml": camt053([C1, C1])}, {"b.xml": camt053([C1, C1], stmt_id="S2")}], rows=2),
    ),
    _case(
        "bank-camt053-truncated",
        "refused",
        "a camt.053 cut off mid-element",
        one("cut.xml", camt053([C1, C2])[:-120], bad="cut.xml"),
        reason="not well-formed XML",
    ),
    _case(
        "bank-camt053-negative-amount",
        "refused",
        "a camt amount written negative ('-150.00'): the direction is CdtDbtInd, never a sign",
        one("neg.xml", camt053([C1]).replace(">150.00<", ">-150.00<"), bad="neg.xml"),
        reason="amount '-150.00' is not an unsigned decimal",
    ),
    _case(
        "bank-camt053-currency-mismatch",
        "refused",
        "an entry in USD on an account kept (and balanced) in EUR",
        one("ccy.xml", camt053([ntry("10.00", ccy="USD")]), bad="ccy.xml"),
        reason="entry amount in USD on account",
    ),
    _case(
        "bank-camt053-balance-currency-mismatch",
        "refused",
        "an account stating no currency, balances in EUR and an entry in USD",
        one("bccy.xml", camt053([ntry("10.00", ccy="USD")], ccy=""), bad="bccy.xml"),
        reason="entry amount in USD on account ES9121000418450200051332 kept in EUR",
    ),
    _case(
        "bank-camt053-xxe",
        "refused",
        "an external entity (XXE) pointing at /etc/passwd in the payer name",
        one(
            "xxe.xml",
            camt053([C1])
            .replace("Cliente Uno SA", "&xxe;")
            .replace("?>", '?><!DOCTYPE Document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', 1),
            bad="xxe.xml",
        ),
        reason="DOCTYPE/entity declarations",
    ),
    _case(
        "bank-camt053-billion-laughs",
        "refused",
        "nested internal entities (billion laughs) in the remittance text",
        one(
            "lol.xml",
            camt053([C1])
            .replace("FACTURA INV-2026-0101", "&lol9;")
            .replace(
                "?>",
                '?><!DOCTYPE Document [<!ENTITY lol "lol">'
                + "".join(
                    f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
                    for i in range(1, 10)
                )
                + "]>",
                1,
            ),
            bad="lol.xml",
        ),
        reason="DOCTYPE/entity declarations",
    ),
    _case(
        "bank-camt053-gzip-named-xml",
        "quarantined",
        "gzip bytes of a statement named .xml",
        one("gz.xml", gzip.compress(camt053([C1]).encode()), bad="gz.xml"),
        reason="gzip-compressed data",
    ),
    _case(
        "bank-camt053-reversal-rvslind",
        "landed_once",
        "a payment and its reversal (DBIT, RvslInd true, same EndToEndId): both land, the reversal marked",
        one(
            "rv.xml",
            camt053(
                [
                    ntry("150.00", ref="P-1", e2e="E2E-1"),
                    ntry("150.00", "DBIT", ref="R-1", e2e="E2E-1", rvsl=True, instr="INSTR-1"),
                ]
            ),
            rows=2,
            check=lambda con: _assert(_rows(con, "bank_txn_id = 'R-1'")[0][5:8] == (True, None, "INSTR-1")),
        ),
    ),
    _case(
        "bank-camt053-return-rtrinf",
        "landed_once",
        "a returned credit transfer (DBIT with RtrInf/Rsn/Cd AC04) lands with its reason and the original's id",
        one(
            "rt.xml",
            camt053([ntry("80.00", ref="P-2", e2e="E2E-2"), ntry("80.00", "DBIT", ref="R-2", e2e="E2E-2", rtr="AC04")]),
            rows=2,
            check=lambda con: _assert(_rows(con, "bank_txn_id = 'R-2'")[0][5:8] == (False, "AC04", "E2E-2")),
        ),
    ),
    _case(
        "bank-camt053-booked-next-year",
        "refused",
        "a camt.053 whose entries are booked next year",
        one("fut.xml", camt053([ntry("10.00", day="2027-03-01")]), bad="fut.xml", extra={"source_check": True}),
        reason="booked in the future",
    ),
    _case(
        "bank-camt053-three-decimals",
        "quarantined",
        "one entry of 10.005 EUR: that record is set aside, the other entry lands",
        one(
            "dec.xml",
            camt053([ntry("10.005", ref="ODD"), ntry("2.00", ref="OK")]),
            bad="dec.xml",
            record_quarantined=True,
        ),
        reason="has more decimals",
    ),
    _case(
        "bank-camt053-unknown-namespace",
        "refused",
        "an XML Document in a namespace that is not camt.05x",
        one("ns.xml", camt053([C1]).replace("camt.053.001.08", "camt.099.001.08"), bad="ns.xml"),
        reason="unknown namespace",
    ),
    _case(
        "bank-camt053-no-closing-balance",
        "landed_once",
        "a camt.053 without CLBD: the lines land, the run warns that the balances could not be checked",
        one("nb.xml", camt053([C1], balances=bal("OPBD", "0.00")), rows=1, warning="states no closing booked balance"),
    ),
]

# ------------------------------------------------------------------------------------------------
# files that are not statements

CASES += [
    _case(
        "bank-html-error-page-xml",
        "quarantined",
        "a bank portal's HTML error page saved as statement.xml",
        one(
            "statement.xml",
            "<!DOCTYPE html><html><head><title>503 Service Unavailable</title></head><body>Try later</body></html>",
            bad="statement.xml",
        ),
        reason="an HTML page titled '503 Service Unavailable'",
    ),
    _case(
        "bank-html-login-page-sta",
        "quarantined",
        "a login page saved as .sta",
        one("day.sta", "<html><body><form>Login</form></body></html>", bad="day.sta"),
        reason="an HTML page",
    ),
    _case(
        "bank-zero-bytes",
        "quarantined",
        "a zero-byte statement file",
        one("empty.xml", b"", bad="empty.xml"),
        reason="empty file (0 bytes)",
    ),
    _case(
        "bank-blank-file",
        "quarantined",
        "a file of blank lines",
        one("blank.sta", b"\r\n \r\n", bad="blank.sta"),
        reason="blank file",
    ),
    _case(
        "bank-csv-export",
        "quarantined",
        "a CSV bank export (not a statement format the bank source reads)",
        one("movs.csv", "fecha;concepto;importe\n01/03/2026;FACTURA 1;150,00\n", bad="movs.csv"),
        reason="a CSV export, not a bank statement format",
    ),
    _case(
        "bank-csv-utf16",
        "quarantined",
        "a UTF-16 CSV bank export",
        one("movs16.csv", "date,description,amount\n2026-03-01,INV 1,150.00\n".encode("utf-16"), bad="movs16.csv"),
        reason="a CSV export",
    ),
    _case(
        "bank-zip-archive",
        "quarantined",
        "a zip archive of statements",
        one("st.zip", b"PK\x03\x04" + b"\x00" * 40, bad="st.zip"),
        reason="a zip archive",
    ),
    _case(
        "bank-pdf-statement",
        "quarantined",
        "a PDF statement",
        one("st.pdf", b"%PDF-1.7\n%\xe2\xe3\n1 0 obj\n", bad="st.pdf"),
        reason="a PDF statement",
    ),
    _case(
        "bank-other-xml",
        "quarantined",
        "an XML file that is no camt (a pain.001 payment order dropped by mistake)",
        one("order.xml", '<?xml version="1.0"?><Order xmlns="urn:example"><Id>1</Id></Order>', bad="order.xml"),
        reason="XML that is not an ISO 20022 camt document",
    ),
    _case(
        "bank-binary-garbage",
        "quarantined",
        "random binary bytes named .sta",
        one("junk.sta", hashlib.sha256(b"x").digest() * 8, bad="junk.sta"),
        reason="not a bank statement format",
    ),
]

# ------------------------------------------------------------------------------------------------
# BAI2 cases


def _bai_check(expected: list[tuple]) -> Callable[[duckdb.DuckDBPyConnection], None]:
    return _check_rows(expected)


CASES += [
    _case(
        "bank-bai2-basic",
        "landed_once",
        "a BAI2 file: header, group, account summary, two details, trailers with correct totals",
        one(
            "day.bai",
            bai2([("123456789", BAI_SUMMARY, BAI_DETAILS)]),
            rows=2,
            check=_bai_check([("BR1001", "150.00", "CRDT"), ("BR1002", "100.00", "CRDT")]),
            extra={"no_warnings": True},
        ),
    ),
    _case(
        "bank-bai2-hand-written-fixture",
        "landed_once",
        "the hand-written BAI2 fixture (88 text continuation, V funds type, 100/400 summaries)",
        one(
            "basic.bai2",
            (Path(__file__).resolve().parents[1] / "bank" / "fixtures" / "bai2_basic.bai").read_bytes(),
            rows=3,
        ),
    ),
    _case(
        "bank-bai2-text-continuation",
        "landed_once",
        "a 16 record whose text goes on in two 88 records",
        one(
            "c.bai",
            bai2(
                [
                    (
                        "1",
                        ["010,0,,Z", "015,5000,,Z"],
                        ["16,165,5000,Z,BR-C1,,ACH CREDIT", "88,INVOICE INV-2026-0042", "88,AND INV-2026-0043"],
                    )
                ]
            ),
            rows=1,
            check=lambda con: _assert(_rows(con)[0][4] == "ACH CREDIT INVOICE INV-2026-0042 AND INV-2026-0043"),
        ),
    ),
    _case(
        "bank-bai2-field-continuation",
        "landed_once",
        "a 16 record ended by '/' after the funds type, its references and text continued in an 88",
        one(
            "f.bai",
            bai2([("1", ["010,0,,Z", "015,700,,Z"], ["16,175,700,0/", "88,BR-F1,CUST-1,DEPOSIT"])]),
            rows=1,
            check=_bai_check([("BR-F1", "7.00", "CRDT")]),
        ),
    ),
    _case(
        "bank-bai2-03-continuation",
        "landed_once",
        "an account summary (03) continued in 88 records, blank (defaulted) amounts and item counts",
        one(
            "s.bai",
            b"01,SENDR1,RECVR1,260302,0800,001,80,1,2/\n02,RECVR1,BANKUS33,1,260301,2359,,2/\n"
            b"03,1,,010,1000,,Z/\n88,015,+1500,,Z/\n88,040,,,Z/\n88,045,,,Z/\n88,100,,,Z/\n"
            b"16,165,500,Z,BR-S1,,X\n49,3000,7/\n98,3000,1,9/\n99,3000,1,11/\n",
            rows=1,
            extra={"no_warnings": True},
        ),
    ),
    _case(
        "bank-bai2-funds-types",
        "landed_once",
        "details with funds types S (three amounts), V (value date) and D (two distributions)",
        one(
            "fu.bai",
            bai2(
                [
                    (
                        "1",
                        ["010,0,,Z", "015,600,,Z"],
                        [
                            "16,165,100,S,50,25,25,BR-S,,SPLIT",
                            "16,165,200,V,260303,1200,BR-V,,VALUE DATED",
                            "16,165,300,D,2,1,100,2,200,BR-D,,DISTRIBUTED",
                        ],
                    )
                ]
            ),
            rows=3,
            check=lambda con: _assert(_rows(con, "bank_txn_id = 'BR-V'")[0][8] == "2026-03-03"),
        ),
    ),
    _case(
        "bank-bai2-blank-detail-amount",
        "landed_once",
        "a detail with a blank (defaulted) amount lands as 0 with a note, the totals still verify",
        one("b.bai", bai2([("1", ["010,0,,Z", "015,0,,Z"], ["16,165,,Z,BR-B1,,NO AMOUNT"])]), rows=1),
    ),
    _case(
        "bank-bai2-jpy",
        "landed_once",
        "a JPY group: amounts have no implied decimals",
        one(
            "jpy.bai",
            bai2([("1", ["010,0,,Z", "015,2700,,Z"], ["16,165,2700,Z,BR-J1,,YEN"])], currency="JPY"),
            rows=1,
            check=_bai_check([("BR-J1", "2700.00", "CRDT")]),
        ),
    ),
    _case(
        "bank-bai2-return-555",
        "landed_once",
        "a deposit and its return (type 555 deposited item returned, customer ref = original's)",
        one(
            "r.bai",
            bai2(
                [
                    (
                        "1",
                        ["010,0,,Z", "015,0,,Z"],
                        ["16,165,4000,Z,BR-P,INV-7,ACME", "16,555,4000,Z,BR-R,INV-7,RETURNED ITEM"],
                    )
                ]
            ),
            rows=2,
            check=lambda con: _assert(
                _rows(con, "bank_txn_id = 'BR-R'")[0][5:8] == (True, "BAI2 555 deposited item returned", "INV-7")
            ),
        ),
    ),
    _case(
        "bank-bai2-txt-same-file-twice",
        "landed_once",
        "the same BAI2 delivered as .txt and again as .bai2",
        Drop(
            rounds=[
                {"d.txt": bai2([("1", BAI_SUMMARY, BAI_DETAILS)])},
                {"d.bai2": bai2([("1", BAI_SUMMARY, BAI_DETAILS)])},
            ],
            rows=2,
        ),
    ),
    _case(
        "bank-bai2-account-total-wrong",
        "refused",
        "an account trailer (49) whose control total does not match its records",
        one("t49.bai", bai2([("1", BAI_SUMMARY, BAI_DETAILS)], tweak=_swap("49,250000,", "49,250001,")), bad="t49.bai"),
        reason="record 49: account 1 control total is 250001 but the records add up to 250000",
    ),
    _case(
        "bank-bai2-account-count-wrong",
        "refused",
        "an account trailer (49) with the wrong number of records",
        one(
            "c49.bai",
            bai2([("1", BAI_SUMMARY, BAI_DETAILS)], tweak=_swap("49,250000,4/", "49,250000,5/")),
            bad="c49.bai",
        ),
        reason="account 1 number of records is 5",
    ),
    _case(
        "bank-bai2-group-total-wrong",
        "refused",
        "a group trailer (98) whose control total does not match",
        one("t98.bai", bai2([("1", BAI_SUMMARY, BAI_DETAILS)], tweak=_swap("98,250000,", "98,25000,")), bad="t98.bai"),
        reason="record 98: group control total",
    ),
    _case(
        "bank-bai2-file-count-wrong",
        "refused",
        "a file trailer (99) counting one record too many",
        one(
            "c99.bai",
            bai2([("1", BAI_SUMMARY, BAI_DETAILS)], tweak=_swap("99,250000,1,8/", "99,250000,1,9/")),
            bad="c99.bai",
        ),
        reason="record 99: number of records is 9",
    ),
    _case(
        "bank-bai2-truncated",
        "refused",
        "a BAI2 file cut after a detail record (no 49/98/99)",
        one("cut.bai", b"\n".join(bai2([("1", BAI_SUMMARY, BAI_DETAILS)]).split(b"\n")[:4]) + b"\n", bad="cut.bai"),
        reason="no 49 trailer for account 1: the file is incomplete",
    ),
    _case(
        "bank-bai2-no-file-trailer",
        "refused",
        "a BAI2 file missing only its 99 file trailer",
        one("n99.bai", b"\n".join(bai2([("1", BAI_SUMMARY, BAI_DETAILS)]).split(b"\n")[:-2]) + b"\n", bad="n99.bai"),
        reason="no 99 file trailer",
    ),
    _case(
        "bank-bai2-test-group",
        "refused",
        "a group marked test-only (status 4) must not land as real money",
        one("test.bai", bai2([("1", BAI_SUMMARY, BAI_DETAILS)], status="4"), bad="test.bai"),
        reason="group status 4: test data only",
    ),
    _case(
        "bank-bai2-loan-type-code",
        "refused",
        "a detail with type code 701 (no direction in the specification) is not guessed",
        one("t7.bai", bai2([("1", ["010,0,,Z", "015,100,,Z"], ["16,701,100,Z,BR-7,,LOAN"])]), bad="t7.bai"),
        reason="type code 701 is not a credit",
    ),
    _case(
        "bank-bai2-decimal-point",
        "refused",
        "a detail amount written with a decimal point ('150.00') instead of implied decimals",
        one(
            "dp.bai",
            bai2(
                [("1", ["010,0,,Z", "015,15000,,Z"], ["16,165,15000,Z,BR-D,,X"])],
                tweak=_swap("16,165,15000,", "16,165,150.00,"),
            ),
            bad="dp.bai",
        ),
        reason="detail amount '150.00' is not an unsigned whole number",
    ),
    _case(
        "bank-bai2-booked-next-year",
        "refused",
        "a BAI2 group as of next year",
        one(
            "fy.bai",
            bai2(
                [("1", BAI_SUMMARY, BAI_DETAILS)],
                tweak=_swap("02,RECVR1,BANKUS33,1,260301", "02,RECVR1,BANKUS33,1,270301"),
            ),
            bad="fy.bai",
            extra={"source_check": True},
        ),
        reason="booked in the future",
    ),
]


def _assert(condition: bool) -> None:
    assert condition


# ------------------------------------------------------------------------------------------------
# the test


def _sync(con: duckdb.DuckDBPyConnection, inbox: Path) -> SyncResult:
    return sync(con, BankFileSource(inbox, today=TODAY))


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_bank_file_case(case: Case, tmp_path: Path) -> None:
    drop: Drop = case.payload
    inbox = tmp_path / "statements"
    inbox.mkdir()
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        if drop.companion:
            (inbox / "000-companion.sta").write_bytes(GOOD_MT940)
        results = []
        for files in drop.rounds:
            for name, data in files.items():
                (inbox / name).write_bytes(data.encode() if isinstance(data, str) else data)
            results.append(_sync(con, inbox))
        results.append(_sync(con, inbox))  # every file again: nothing more lands
        companion = _rows(con, "_file like '%companion%'")
        assert [r[0] for r in companion] == ["COMPANION-1"], "the good statement beside the bad one must land"
        refused = [x for r in results for x in r.refused]
        warnings = [w["warning"] for r in results for w in r.warnings]
        case_rows = _rows(con, "_file not like '%companion%'")
        if case.expect == "landed_once":
            assert not refused, refused
            assert len(case_rows) == drop.rows, case_rows
            assert len({r[0] for r in case_rows}) == len(case_rows)
            if drop.extra.get("no_warnings"):
                assert not warnings, warnings
            if drop.warning:
                assert any(drop.warning in w for w in warnings), warnings
        elif drop.record_quarantined:
            assert not refused, refused
            reasons = con.execute("select file_path, reason from quarantine.raw_records").fetchall()
            assert reasons and all(o.endswith(drop.bad) for o, _ in reasons)
            assert case.reason in reasons[0][1]
            assert case_rows, "the good records of the file land"
        else:
            bad = str(inbox / drop.bad)
            assert case_rows == [], "nothing of a refused file lands"
            mine = [x for x in refused if x["origin"] == bad]
            assert mine, refused
            assert bad in mine[0]["error"] and case.reason in mine[0]["error"], mine[0]["error"]
            stored = con.execute("select reason from quarantine.raw_files where origin = ?", [bad]).fetchall()
            assert stored and case.reason in stored[0][0]
            if not drop.extra.get("source_check"):  # the parser refuses it too, naming the file
                with pytest.raises(SourceDataError, match=drop.bad):
                    parse_statement_bytes(inbox / drop.bad, (inbox / drop.bad).read_bytes())
            if drop.extra.get("cli"):
                _cli_prints_the_error(inbox / drop.bad, case.reason)
        if drop.check:
            drop.check(con)
    finally:
        con.close()


def _cli_prints_the_error(path: Path, reason: str) -> None:
    from typer.testing import CliRunner

    from cli.app import app

    result = CliRunner().invoke(app, ["parse-statement", str(path)])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    out = " ".join(result.output.split())
    assert "[//bankref]" in out and path.name in out

"""Write simulated bank lines as the statement files banks deliver: camt.053 (.02 and .08) and MT940.

Input is a table of statement lines with the ``raw_bank.statement_lines`` contract columns (the
simulator's ``bank/statement_lines.parquet``). Output is one file per (account, booking day) with
correct opening and closing booked balances: each account starts from a stated opening balance and
accumulates every line booked before the day, so consecutive files chain (closing of day N = opening
of the next file).

The shapes follow what banks ship (see /work/shared/CONNECTORS.md §1):

- camt.053.001.02: ``Sts`` as text, ``RltdPties/Dbtr/Nm``, ``AmtDtls/TxAmt``;
- camt.053.001.08: ``Sts/Cd``, ``RltdPties/Dbtr/Pty/Nm``, ``TxDtls/Amt`` + ``CdtDbtInd``;
- MT940: ``:60F:``/``:61:``/``:86:``/``:62F:``, ``:86:`` in the Dutch structured form
  ``/CNTP/iban/bic/name/city//REMI/USTD//text//CDTRREFTP//CD/SCOR/ISSR/CUR//CDTRREF/RF.../`` wrapped
  at 65 characters, UTF-8.

The entry's account-servicer reference (camt ``Ntry/AcctSvcrRef``, MT940 ``//`` bank reference) is the
simulator's ``bank_txn_id``, so ``connectors.sources.bank`` parses the same ids back. The simulator's
ids are 17 characters, one more than SWIFT's ``16x`` for the MT940 bank reference; the parser accepts
it. Output is deterministic: creation timestamps derive from the booking day, never the wall clock.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

log = logging.getLogger(__name__)

CAMT_V02 = "camt.053.001.02"
CAMT_V08 = "camt.053.001.08"
MT940 = "mt940"
FORMATS = (CAMT_V02, CAMT_V08, MT940)
DEFAULT_OPENING_BALANCE = Decimal("100000.00")
IBAN_RE = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{10,30}$")
MT_WIDTH = 65
COLUMNS = (
    "bank_txn_id",
    "account_iban",
    "booking_date",
    "value_date",
    "amount",
    "currency",
    "credit_debit",
    "counterparty_name",
    "counterparty_iban",
    "remittance_text",
    "creditor_reference",
)


@dataclass(frozen=True)
class Line:
    """One statement line to write (the contract columns)."""

    bank_txn_id: str
    account_iban: str
    booking_date: date
    value_date: date
    amount: Decimal
    currency: str
    credit_debit: str
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    remittance_text: str | None = None
    creditor_reference: str | None = None

    @property
    def signed(self) -> Decimal:
        """Amount signed by direction (credits positive)."""
        return self.amount if self.credit_debit == "CRDT" else -self.amount


def default_format(account: str, currency: str) -> str:
    """Deterministic split across formats: EUR/MXN camt .08, USD/COP camt .02, the rest MT940."""
    if currency in ("EUR", "MXN"):
        return CAMT_V08
    if currency in ("USD", "COP"):
        return CAMT_V02
    return MT940


def write_daily_statements(
    lines: pa.Table,
    out_dir: Path,
    *,
    opening_balances: Mapping[str, Decimal] | None = None,
    default_opening: Decimal = DEFAULT_OPENING_BALANCE,
    since: date | None = None,
    until: date | None = None,
    format_for: Callable[[str, str], str] = default_format,
) -> list[Path]:
    """Write one statement file per (account, booking day) of ``lines``.

    Args:
        lines: Statement lines (contract columns; pandas frames are accepted too).
        out_dir: Folder for the files (created if missing).
        opening_balances: Account -> booked balance before the first line of ``lines``.
        default_opening: Opening balance of accounts missing from ``opening_balances``.
        since: First booking day to write a file for (earlier lines only feed the balances).
        until: Last booking day to write a file for.
        format_for: ``(account, currency) -> "camt.053.001.02" | "camt.053.001.08" | "mt940"``.

    Returns:
        The files written, in (account, day) order.

    Raises:
        ValueError: ``format_for`` returned an unknown format.
    """
    if not isinstance(lines, pa.Table):
        lines = pa.Table.from_pandas(lines, preserve_index=False)
    opening_balances = dict(opening_balances or {})
    booking = lines.column("booking_date")
    before = lines.filter(pc.less(booking, pa.scalar(since, pa.date32()))) if since else lines.slice(0, 0)
    window = lines
    if since:
        window = window.filter(pc.greater_equal(window.column("booking_date"), pa.scalar(since, pa.date32())))
    if until:
        window = window.filter(pc.less_equal(window.column("booking_date"), pa.scalar(until, pa.date32())))
    balance = {acc: Decimal(v) for acc, v in opening_balances.items()}
    # lines before the window only move the balances: summed column-wise, not row by row
    if before.num_rows:
        signed = pc.if_else(
            pc.equal(before.column("credit_debit"), "CRDT"),
            before.column("amount"),
            pc.negate(before.column("amount")),
        )
        sums = pa.table({"acc": before.column("account_iban"), "v": signed}).group_by("acc").aggregate([("v", "sum")])
        for acc, total in zip(sums.column("acc").to_pylist(), sums.column("v_sum").to_pylist(), strict=True):
            balance[acc] = balance.get(acc, default_opening) + total
    rows = [Line(**{c: r[c] for c in COLUMNS}) for r in window.select(list(COLUMNS)).to_pylist()]
    days: dict[tuple[str, date], list[Line]] = {}
    for row in rows:
        days.setdefault((row.account_iban, row.booking_date), []).append(row)
    out_dir = Path(out_dir)
    written = []
    for account, day in sorted(days):
        day_lines = days[(account, day)]
        currency = day_lines[0].currency
        opening = balance.get(account, default_opening)
        closing = opening + sum((x.signed for x in day_lines), Decimal(0))
        balance[account] = closing
        fmt = format_for(account, currency)
        if fmt == MT940:
            data, suffix = mt940_statement(account, currency, day, opening, day_lines), ".sta"
        elif fmt in (CAMT_V02, CAMT_V08):
            data, suffix = camt053_statement(account, currency, day, opening, day_lines, fmt), ".xml"
        else:
            raise ValueError(f"unknown statement format {fmt!r}; use one of {', '.join(FORMATS)}")
        path = out_dir / f"{_safe(account)}_{day:%Y%m%d}{suffix}"
        _atomic_write_bytes(path, data)
        written.append(path)
    log.info("wrote %d daily statement file(s) under %s", len(written), out_dir)
    return written


def _safe(account: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", account)


def _money(value: Decimal) -> str:
    return format(abs(value), "f")


def camt053_statement(
    account: str, currency: str, day: date, opening: Decimal, lines: list[Line], version: str = CAMT_V08
) -> bytes:
    """One camt.053 document with one statement of ``lines`` booked on ``day``.

    Args:
        account: Own account (IBAN, else written as ``Othr/Id``).
        currency: Account currency.
        day: Booking day of the statement.
        opening: Booked balance before the day (signed).
        lines: The day's lines, in order.
        version: ``camt.053.001.02`` or ``camt.053.001.08``.

    Returns:
        The UTF-8 XML document.
    """
    v08 = version == CAMT_V08
    ns = f"urn:iso:std:iso:20022:tech:xsd:{version}"
    E = _Maker(ns)
    stamp = f"{day.isoformat()}T23:00:00+00:00"  # from the booking day: files stay byte-identical
    stmt_id = f"{_safe(account)}-{day:%Y%m%d}"
    closing = opening + sum((x.signed for x in lines), Decimal(0))
    root = E("Document")
    msg = E.sub(root, "BkToCstmrStmt")
    hdr = E.sub(msg, "GrpHdr")
    E.sub(hdr, "MsgId", f"COBRANZA-SIM-{stmt_id}")
    E.sub(hdr, "CreDtTm", stamp)
    st = E.sub(msg, "Stmt")
    E.sub(st, "Id", stmt_id)
    E.sub(st, "ElctrncSeqNb", day.strftime("%Y%m%d"))
    E.sub(st, "CreDtTm", stamp)
    span = E.sub(st, "FrToDt")
    E.sub(span, "FrDtTm", f"{day.isoformat()}T00:00:00+00:00")
    E.sub(span, "ToDtTm", f"{day.isoformat()}T23:59:59+00:00")
    acct = E.sub(st, "Acct")
    _account(E, E.sub(acct, "Id"), account)
    E.sub(acct, "Ccy", currency)
    for code, amount in (("OPBD", opening), ("CLBD", closing)):
        bal = E.sub(st, "Bal")
        E.sub(E.sub(E.sub(bal, "Tp"), "CdOrPrtry"), "Cd", code)
        E.sub(bal, "Amt", _money(amount), Ccy=currency)
        E.sub(bal, "CdtDbtInd", "DBIT" if amount < 0 else "CRDT")
        E.sub(E.sub(bal, "Dt"), "Dt", day.isoformat())
    for line in lines:
        _camt_entry(E, st, line, v08)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


class _Maker:
    """Tiny namespaced element builder."""

    def __init__(self, ns: str) -> None:
        self.ns = ns

    def __call__(self, tag: str) -> etree._Element:
        return etree.Element(f"{{{self.ns}}}{tag}", nsmap={None: self.ns})

    def sub(self, parent: etree._Element, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
        el = etree.SubElement(parent, f"{{{self.ns}}}{tag}", attrib)
        if text is not None:
            el.text = text
        return el


def _account(E: _Maker, holder: etree._Element, account: str) -> None:
    if IBAN_RE.match(account):
        E.sub(holder, "IBAN", account)
    else:
        E.sub(E.sub(holder, "Othr"), "Id", account)


def _camt_entry(E: _Maker, st: etree._Element, line: Line, v08: bool) -> None:
    ntry = E.sub(st, "Ntry")
    E.sub(ntry, "Amt", _money(line.amount), Ccy=line.currency)
    E.sub(ntry, "CdtDbtInd", line.credit_debit)
    if v08:
        E.sub(E.sub(ntry, "Sts"), "Cd", "BOOK")
    else:
        E.sub(ntry, "Sts", "BOOK")
    E.sub(E.sub(ntry, "BookgDt"), "Dt", line.booking_date.isoformat())
    E.sub(E.sub(ntry, "ValDt"), "Dt", line.value_date.isoformat())
    E.sub(ntry, "AcctSvcrRef", line.bank_txn_id)
    domain = E.sub(E.sub(ntry, "BkTxCd"), "Domn")
    E.sub(domain, "Cd", "PMNT")
    family = E.sub(domain, "Fmly")
    E.sub(family, "Cd", "RCDT" if line.credit_debit == "CRDT" else "ICDT")
    E.sub(family, "SubFmlyCd", "ESCT")
    tx = E.sub(E.sub(ntry, "NtryDtls"), "TxDtls")
    E.sub(E.sub(tx, "Refs"), "EndToEndId", "NOTPROVIDED")
    if v08:
        E.sub(tx, "Amt", _money(line.amount), Ccy=line.currency)
        E.sub(tx, "CdtDbtInd", line.credit_debit)
    else:
        E.sub(E.sub(E.sub(tx, "AmtDtls"), "TxAmt"), "Amt", _money(line.amount), Ccy=line.currency)
    if line.counterparty_name or line.counterparty_iban:
        role = "Dbtr" if line.credit_debit == "CRDT" else "Cdtr"
        parties = E.sub(tx, "RltdPties")
        if line.counterparty_name:
            party = E.sub(parties, role)
            E.sub(E.sub(party, "Pty") if v08 else party, "Nm", line.counterparty_name)
        if line.counterparty_iban:
            _account(E, E.sub(E.sub(parties, f"{role}Acct"), "Id"), line.counterparty_iban)
    if line.remittance_text or line.creditor_reference:
        rmt = E.sub(tx, "RmtInf")
        if line.remittance_text:
            E.sub(rmt, "Ustrd", line.remittance_text)
        if line.creditor_reference:
            ref = E.sub(E.sub(rmt, "Strd"), "CdtrRefInf")
            E.sub(E.sub(E.sub(ref, "Tp"), "CdOrPrtry"), "Cd", "SCOR")
            E.sub(ref, "Ref", line.creditor_reference)


def _mt_amount(value: Decimal) -> str:
    return _money(value).replace(".", ",")


def _mt_balance(tag: str, amount: Decimal, day: date, currency: str) -> str:
    return f":{tag}:{'D' if amount < 0 else 'C'}{day:%y%m%d}{currency}{_mt_amount(amount)}"


def _wrap(text: str, width: int = MT_WIDTH) -> list[str]:
    """Cut at ``width``; never start a line with '-' or ':' (a terminator or a tag to parsers)."""
    out, i = [], 0
    while i < len(text):
        j = min(i + width, len(text))
        while j < len(text) and j > i + 1 and text[j] in "-:":
            j -= 1
        out.append(text[i:j])
        i = j
    return out


def mt940_info(line: Line) -> str:
    """The ``:86:`` content of a line in the Dutch structured form (unwrapped)."""
    parts = []
    if line.counterparty_name or line.counterparty_iban:
        parts.append(f"/CNTP/{line.counterparty_iban or ''}//{line.counterparty_name or ''}//")
    if line.remittance_text:
        parts.append(f"/REMI/USTD//{line.remittance_text}/")
    if line.creditor_reference:
        parts.append(f"/CDTRREFTP//CD/SCOR/ISSR/CUR//CDTRREF/{line.creditor_reference}/")
    return "".join(parts)


def mt940_statement(account: str, currency: str, day: date, opening: Decimal, lines: list[Line]) -> bytes:
    """One MT940 message with the ``lines`` booked on ``day`` (CRLF line ends, UTF-8).

    Args:
        account: Own account (``:25:``).
        currency: Account currency.
        day: Booking day.
        opening: Booked balance before the day (signed).
        lines: The day's lines, in order.

    Returns:
        The file bytes.
    """
    closing = opening + sum((x.signed for x in lines), Decimal(0))
    out = [
        f":20:STM{day:%Y%m%d}",
        f":25:{account}",
        f":28C:{day.timetuple().tm_yday:05d}/1",
        _mt_balance("60F", opening, day, currency),
    ]
    for line in lines:
        mark = "C" if line.credit_debit == "CRDT" else "D"
        out.append(
            f":61:{line.value_date:%y%m%d}{line.booking_date:%m%d}{mark}{_mt_amount(line.amount)}"
            f"NTRFNONREF//{line.bank_txn_id}"
        )
        info = mt940_info(line)
        if info:
            chunks = _wrap(info)
            out.append(":86:" + chunks[0])
            out.extend(chunks[1:])
    out += [_mt_balance("62F", closing, day, currency), "-"]
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""BAI2 (BAI Cash Management Balance Reporting Specifications, version 2) parser.

Written from the published specification. A BAI2 file is comma-delimited records, each ending with a
``/`` (the text of a transaction detail runs to the end of its record instead), one physical record
per line:

- ``01`` file header: sender, receiver, creation date ``YYMMDD`` and time ``HHMM``, file id, physical
  record length, block size, version (``2``);
- ``02`` group header: ultimate receiver, originator, group status (``1`` update, ``2`` deletion,
  ``3`` correction, ``4`` test only), as-of date ``YYMMDD``, as-of time, currency (default USD),
  as-of-date modifier (``1`` interim previous-day, ``2`` final previous-day, ``3`` interim same-day,
  ``4`` final same-day);
- ``03`` account identifier: account number, currency (default: the group's), then repeated
  (type code, amount, item count, funds type [+ its fields]) summary/status items;
- ``16`` transaction detail: type code, amount, funds type [+ its fields], bank reference, customer
  reference, text;
- ``88`` continuation of the previous record (its fields go on; for a ``16`` whose fixed fields are
  complete, the text goes on);
- ``49`` account trailer: account control total, number of records;
- ``98`` group trailer: group control total, number of accounts, number of records;
- ``99`` file trailer: file control total, number of groups, number of records.

Fields may be blank (defaulted: ``,,``). Amounts carry no decimal point: the currency's minor units
are implied (USD 2 decimals, JPY 0, KWD 3: ISO 4217 via Babel); status amounts (``03``) may be signed
``+``/``-``, detail amounts are unsigned. Funds types: ``0`` immediate, ``1`` one-day, ``2`` two-or-
more-day, ``Z`` unknown (no more fields), ``S`` (+ immediate, one-day, two-or-more-day amounts), ``V``
(+ value date ``YYMMDD``, value time), ``D`` (+ number of distributions n, then n (days, amount)).

Type codes: 001-099 and 900-919 status, 100-399 and 920-959 credits, 400-699 and 960-999 debits; a
detail with another code (700-899: loans, no direction in the specification) is refused rather than
guessed. Debits 552 (credit reversal), 555 (deposited item returned), 557 (individual ACH return
item), 558 (ACH reversal debit) and 566 (return item) undo an earlier credit: they are marked as
reversals, with the customer reference as the link to the original.

Every control is verified, and any mismatch refuses the file naming the record: each ``49`` (sum of
the account's amounts in its ``03`` and ``16`` records, and its record count including ``03``, ``88``
and ``49``), each ``98`` (sum of its accounts' control totals, number of accounts, records including
``02`` and ``98``), the ``99`` (sum of group totals, number of groups, every record). Control totals
sum the type-code amounts as written (signed status amounts, unsigned detail amounts); the funds-
availability distribution amounts are not part of them. A file without its trailers (cut short) is
refused as incomplete. A test-only group (status 4) or a deletion (status 2) is refused: neither
carries real money. Lines of an interim same-day report (modifier 3) are intraday information, like
MT942, landed only once booked by the day's final report.

Opening (``010``) and closing (``015``) ledger balances become the statement's booked balances
(checked by ``Statement.reconcile``); ``100``/``400`` (total credits/debits with item counts), when
given, must match the details.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from babel.numbers import get_currency_precision

from connectors.load import SourceDataError
from connectors.sources.bank.encoding import decode_text
from connectors.sources.bank.statement import BOOKED, Balance, Entry, ParsedFile, Statement

log = logging.getLogger(__name__)

HEADER_RE = re.compile(r"^01,[^,\r\n]*,[^,\r\n]*,\d{6},")
AMOUNT_RE = re.compile(r"^[+-]?\d+$")
REVERSAL_CODES = {
    "552": "credit reversal",
    "555": "deposited item returned",
    "557": "individual ACH return item",
    "558": "ACH reversal debit",
    "566": "return item",
}
STATUS_BALANCES = {"010": "OPBD", "015": "CLBD", "040": "OPAV", "045": "CLAV"}
FUNDS_SIMPLE = {"", "0", "1", "2", "Z"}


def looks_like_bai2(text: str) -> bool:
    """True when ``text`` starts with a BAI2 file header record (``01,sender,receiver,YYMMDD,``)."""
    return bool(HEADER_RE.match(text.lstrip()))


@dataclass
class _Record:
    """One logical record: its code, the physical line it starts on, its physical parts."""

    code: str
    line: int
    parts: list[str] = field(default_factory=list)  # the text after "NN," of the record and each 88

    @property
    def physical(self) -> int:
        """Number of physical records (the record and its 88 continuations)."""
        return len(self.parts)


def _cut(part: str) -> tuple[str, bool]:
    """A physical record's body up to its ``/`` terminator; True when the terminator was there."""
    i = part.find("/")
    return (part, False) if i < 0 else (part[:i], True)


def _fields(rec: _Record) -> list[str]:
    """Fields of a record other than ``16``: each physical part up to its ``/``, joined."""
    out: list[str] = []
    for part in rec.parts:
        body, _ = _cut(part)
        out += body.split(",")
    return [f.strip() for f in out]


class _Reader:
    """The file's state while reading: the path for messages and the control sums."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def error(self, rec: _Record | None, problem: str, fix: str = "ask the bank to resend the file") -> SourceDataError:
        where = f"line {rec.line}: record {rec.code}" if rec else "end of file"
        return SourceDataError(f"{self.path}: {where}: {problem}; {fix}")

    def amount(self, rec: _Record, raw: str, decimals: int, what: str, signed: bool) -> Decimal | None:
        """An implied-decimals amount; None when blank (defaulted)."""
        raw = raw.strip()
        if raw == "":
            return None
        if not AMOUNT_RE.match(raw) or (not signed and raw[0] in "+-"):
            kind = "a signed whole number" if signed else "an unsigned whole number (no decimal point)"
            raise self.error(rec, f"{what} {raw!r} is not {kind}", "the file is corrupted - ask the bank to resend it")
        return Decimal(int(raw)).scaleb(-decimals)

    def day(self, rec: _Record, raw: str, what: str) -> date | None:
        raw = raw.strip()
        if not raw:
            return None
        if not re.fullmatch(r"\d{6}", raw):
            raise self.error(rec, f"{what} {raw!r} is not YYMMDD")
        year = int(raw[:2])
        try:
            return date(2000 + year if year < 80 else 1900 + year, int(raw[2:4]), int(raw[4:6]))
        except ValueError:
            raise self.error(rec, f"{what} {raw} does not exist") from None

    def count(self, rec: _Record, raw: str, what: str) -> int | None:
        raw = raw.strip()
        if raw == "":
            return None
        if not raw.isdigit():
            raise self.error(rec, f"{what} {raw!r} is not a whole number")
        return int(raw)


def _records(path: Path, text: str) -> list[_Record]:
    records: list[_Record] = []
    for number, raw in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        line = raw.rstrip()
        if not line.strip():
            continue
        code, sep, rest = line.partition(",")
        code = code.strip()
        if not sep or not re.fullmatch(r"\d{2}", code):
            raise SourceDataError(
                f"{path}: line {number}: {line[:40]!r} is not a BAI2 record (NN,...); the file is corrupted - "
                "ask the bank to resend it"
            )
        if code == "88":
            if not records:
                raise SourceDataError(f"{path}: line {number}: continuation record 88 before any record")
            records[-1].parts.append(rest)
            continue
        records.append(_Record(code, number, [rest]))
    return records


def _decimals(currency: str) -> int:
    try:
        return int(get_currency_precision(currency))
    except Exception:  # noqa: BLE001 - unknown code: the specification's default, two decimals
        return 2


def _direction(code: str) -> str | None:
    n = int(code)
    if 100 <= n <= 399 or 920 <= n <= 959:
        return "CRDT"
    if 400 <= n <= 699 or 960 <= n <= 999:
        return "DBIT"
    return None


def _funds_extra(funds: str) -> int | None:
    """Number of fields after the funds type (None for ``D``: it depends on the distribution count)."""
    if funds in FUNDS_SIMPLE:
        return 0
    return {"S": 3, "V": 2}.get(funds, -1) if funds != "D" else None


def parse_bai2(path: Path, data: bytes) -> ParsedFile:
    """Parse a BAI2 file into statements (one per account and group).

    Args:
        path: The file, for messages and the result.
        data: Its bytes.

    Returns:
        The statements with their lines.

    Raises:
        SourceDataError: A record that cannot be read, a control total or record count that does not
            match, a file cut short; the message names the file, the line and record and what to do.
    """
    r = _Reader(path)
    try:
        text = decode_text(data)[0]
    except UnicodeDecodeError as exc:
        raise SourceDataError(f"{path}: byte {exc.start}: not {exc.encoding} as its byte-order mark says") from None
    records = _records(path, text)
    if not records or records[0].code != "01":
        raise r.error(records[0] if records else None, "a BAI2 file starts with a 01 file header")
    header = _fields(records[0])
    if len(header) < 5:
        raise r.error(records[0], "file header has fewer than 5 fields (sender, receiver, date, time, file id)")
    version = header[7] if len(header) > 7 else ""
    if version not in ("", "2"):
        raise r.error(records[0], f"version {version!r}: only BAI version 2 is read", "ask the bank for BAI2")
    r.day(records[0], header[2], "file creation date")
    file_id = header[4]
    statements: list[Statement] = []
    file_total, n_groups, n_records = Decimal(0), 0, records[0].physical
    i = 1
    trailer_seen = False
    while i < len(records):
        rec = records[i]
        if rec.code == "02":
            i, group_total, group_records, group_statements = _group(r, records, i, file_id)
            statements += group_statements
            file_total += group_total
            n_records += group_records
            n_groups += 1
            continue
        if rec.code == "99":
            f = _fields(rec)
            n_records += rec.physical
            _check(r, rec, "file control total", _raw_total(r, rec, f, 0), file_total)
            _check(r, rec, "number of groups", r.count(rec, _at(f, 1), "number of groups"), n_groups)
            _check(r, rec, "number of records", r.count(rec, _at(f, 2), "number of records"), n_records)
            trailer_seen = True
            if i + 1 < len(records):
                raise r.error(records[i + 1], "records after the 99 file trailer")
            break
        raise r.error(rec, f"unexpected record {rec.code} between groups (expected 02 or 99)")
    if not trailer_seen:
        raise r.error(
            None,
            "no 99 file trailer: the file is incomplete (cut short in transfer)",
            "download the complete file from the bank",
        )
    return ParsedFile(path=path, format="bai2", statements=statements, version="BAI2")


def _at(fields: list[str], i: int) -> str:
    return fields[i] if i < len(fields) else ""


def _raw_total(r: _Reader, rec: _Record, fields: list[str], i: int) -> Decimal | None:
    """A control total as written (cents of whatever currencies, summed as integers)."""
    raw = _at(fields, i)
    return None if raw.strip() == "" else r.amount(rec, raw, 0, "control total", signed=True)


def _check(r: _Reader, rec: _Record, what: str, stated: Decimal | int | None, computed: Decimal | int) -> None:
    if stated is None:
        raise r.error(rec, f"{what} is missing", "the trailer is incomplete - ask the bank to resend the file")
    if stated != computed:
        raise r.error(
            rec,
            f"{what} is {stated} but the records add up to {computed}",
            "a record is missing or altered - ask the bank to resend the file",
        )


def _group(r: _Reader, records: list[_Record], i: int, file_id: str) -> tuple[int, Decimal, int, list[Statement]]:
    rec = records[i]
    f = _fields(rec)
    status = _at(f, 2)
    if status == "4":
        raise r.error(rec, "group status 4: test data only, not real money", "drop the production file instead")
    if status == "2":
        raise r.error(rec, "group status 2: a deletion of data sent earlier", "ask the bank for the corrected file")
    as_of = r.day(rec, _at(f, 3), "as-of date")
    if as_of is None:
        raise r.error(rec, "as-of date is missing")
    currency = _at(f, 5) or "USD"  # the specification's default
    modifier = _at(f, 6)
    intraday = modifier == "3"
    group_total, n_accounts, n_records = Decimal(0), 0, rec.physical
    statements: list[Statement] = []
    i += 1
    while i < len(records):
        rec = records[i]
        if rec.code == "03":
            i, st, account_total, account_records = _account(r, records, i, as_of, currency, intraday, file_id)
            statements.append(st)
            group_total += account_total
            n_records += account_records
            n_accounts += 1
            continue
        if rec.code == "98":
            tf = _fields(rec)
            n_records += rec.physical
            _check(r, rec, "group control total", _raw_total(r, rec, tf, 0), group_total)
            _check(r, rec, "number of accounts", r.count(rec, _at(tf, 1), "number of accounts"), n_accounts)
            _check(r, rec, "number of records", r.count(rec, _at(tf, 2), "number of records"), n_records)
            return i + 1, group_total, n_records, statements
        raise r.error(rec, f"unexpected record {rec.code} in a group (expected 03 or 98)")
    raise r.error(None, "no 98 group trailer: the file is incomplete (cut short)", "download the complete file")


def _account(
    r: _Reader,
    records: list[_Record],
    i: int,
    as_of: date,
    group_currency: str,
    intraday: bool,
    file_id: str,
) -> tuple[int, Statement, Decimal, int]:
    rec = records[i]
    f = _fields(rec)
    account = _at(f, 0)
    if not account:
        raise r.error(rec, "customer account number is missing")
    currency = _at(f, 1) or group_currency
    decimals = _decimals(currency)
    st = Statement(
        account=account,
        currency=currency,
        statement_id=f"{file_id}/{as_of.isoformat()}",
        location=f"line {rec.line} (03 account {account})",
    )
    total = Decimal(0)  # in minor units, as the control totals are written
    summaries: dict[str, tuple[Decimal | None, int | None]] = {}
    items = f[2:]
    k = 0
    while k < len(items):
        code = items[k]
        if code == "":
            k += 1 if len(items) - k < 4 else 4
            continue
        amount_raw, count_raw, funds = _at(items, k + 1), _at(items, k + 2), _at(items, k + 3).upper()
        amount = r.amount(rec, amount_raw, decimals, f"amount of type {code}", signed=True)
        if amount is not None:
            total += amount.scaleb(decimals)
        extra = _funds_extra(funds)
        if extra is None:
            n = r.count(rec, _at(items, k + 4), "number of distributions") or 0
            extra = 1 + 2 * n
        if extra < 0:
            raise r.error(rec, f"funds type {funds!r} of type {code} is not 0, 1, 2, S, V, D or Z")
        summaries[code] = (amount, r.count(rec, count_raw, f"item count of type {code}"))
        if code in STATUS_BALANCES and amount is not None:
            st.balances.append(Balance(STATUS_BALANCES[code], amount, currency, as_of))
        k += 4 + extra
    for bal in st.balances:
        if bal.code == "OPBD":
            st.opening = (bal.amount, bal.date)
        elif bal.code == "CLBD":
            st.closing = (bal.amount, bal.date)
    n_records = rec.physical
    i += 1
    while i < len(records):
        rec = records[i]
        if rec.code == "16":
            entry, minor = _detail(r, rec, currency, decimals, as_of, intraday, len(st.entries))
            st.entries.append(entry)
            total += minor
            n_records += rec.physical
            i += 1
            continue
        if rec.code == "49":
            tf = _fields(rec)
            n_records += rec.physical
            _check(r, rec, f"account {account} control total", _raw_total(r, rec, tf, 0), total)
            stated = r.count(rec, _at(tf, 1), "number of records")
            _check(r, rec, f"account {account} number of records", stated, n_records)
            _summary_checks(st, summaries)
            return i + 1, st, total, n_records
        raise r.error(rec, f"unexpected record {rec.code} in account {account} (expected 16 or 49)")
    raise r.error(None, f"no 49 trailer for account {account}: the file is incomplete (cut short)", "download it again")


def _summary_checks(st: Statement, summaries: dict[str, tuple[Decimal | None, int | None]]) -> None:
    """Total credits (100) / debits (400) stated in the 03 record must match the details."""
    for code, direction in (("100", "CRDT"), ("400", "DBIT")):
        if code not in summaries:
            continue
        amount, count = summaries[code]
        lines = [e for e in st.entries if e.credit_debit == direction]
        got = sum((e.amount for e in lines), Decimal(0))
        if amount is not None and amount != got:
            st.problems.append(
                f"statement {st.label} ({st.location}): type {code} states {amount} but the details add up to {got}"
            )
        if count is not None and count != len(lines):
            st.problems.append(
                f"statement {st.label} ({st.location}): type {code} states {count} items but {len(lines)} details"
            )


def _detail(
    r: _Reader, rec: _Record, currency: str, decimals: int, as_of: date, intraday: bool, index: int
) -> tuple[Entry, Decimal]:
    """One ``16`` record (with its ``88`` continuations) -> (line, amount in minor units)."""
    # The fixed fields are comma-delimited and may go on in 88 records; the text is the rest of the
    # record (it may hold commas and slashes) and of every 88 after the customer reference.
    parts = list(rec.parts)
    rest: str | None = parts.pop(0)
    fixed: list[str] = []
    needed = 3  # type code, amount, funds type; then the funds fields, bank ref, customer ref

    def take() -> str | None:
        nonlocal rest
        while True:
            if rest is None:
                return None
            if rest == "" and parts:
                rest = parts.pop(0)
                continue
            head, sep, tail = rest.partition(",")
            slash = head.find("/")
            if slash >= 0:  # the record ends here: no text; the next 88 (if any) goes on with fields
                rest = parts.pop(0) if parts else None
                return head[:slash]
            if not sep:  # the field runs to the end of this physical record
                rest = parts.pop(0) if parts else None
                return head
            rest = tail
            return head

    for _ in range(needed):
        v = take()
        fixed.append((v or "").strip())
    code, amount_raw, funds = fixed[0], fixed[1], fixed[2].upper()
    if not re.fullmatch(r"\d{3}", code):
        raise r.error(rec, f"type code {code!r} is not three digits")
    direction = _direction(code)
    if direction is None:
        raise r.error(
            rec,
            f"type code {code} is not a credit (100-399, 920-959) or debit (400-699, 960-999) detail code",
            "the file is not a valid BAI2 transaction detail - ask the bank",
        )
    extra = _funds_extra(funds)
    funds_fields: list[str] = []
    if extra is None:
        n_raw = (take() or "").strip()
        funds_fields.append(n_raw)
        n = r.count(rec, n_raw, "number of distributions") or 0
        extra = 2 * n
    if extra < 0:
        raise r.error(rec, f"funds type {funds!r} is not 0, 1, 2, S, V, D or Z")
    funds_fields += [(take() or "").strip() for _ in range(extra)]
    bank_ref = (take() or "").strip()
    customer_ref = (take() or "").strip()
    # the text: what is left of the current physical record, then every remaining continuation
    texts = ([rest] if rest is not None else []) + parts
    text = " ".join(t.strip().removesuffix("/").strip() for t in texts if t.strip().removesuffix("/").strip())
    amount = r.amount(rec, amount_raw, decimals, "detail amount", signed=False)
    notes = []
    if amount is None:
        notes.append("amount not reported (blank), read as 0")
        amount = Decimal(0).scaleb(-decimals)
    value_date = as_of
    if funds == "V":
        value_date = r.day(rec, funds_fields[0], "value date") or as_of
    reversal = code in REVERSAL_CODES
    entry = Entry(
        amount=amount,
        currency=currency,
        credit_debit=direction,
        is_reversal=reversal,
        status="INFO" if intraday else BOOKED,
        booking_date=as_of,
        value_date=value_date,
        remittance_text=text or None,
        entry_reference=customer_ref or None,
        account_servicer_reference=bank_ref or None,
        return_reason=f"BAI2 {code} {REVERSAL_CODES[code]}" if reversal else None,
        reversal_of=(customer_ref or None) if reversal else None,
        bank_transaction_code=f"BAI2/{code}",
        additional_info=text or None,
        entry_index=index,
        notes=notes,
    )
    entry.bank_txn_id = entry.account_servicer_reference or ""
    return entry, amount.scaleb(decimals)

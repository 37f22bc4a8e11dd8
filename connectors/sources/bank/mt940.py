"""SWIFT MT940 (customer statement) and MT942 (interim report) parser.

Follows the SWIFT MT940/MT942 field specifications as banks actually ship them (see
/work/shared/CONNECTORS.md §1.3): with or without the ``{1:}{2:}{4:`` envelope or a bank header
(``ABNANL2A``/``940``, ``0000 01INGBNL2A...``, ``:940:``), several statements per file, ``-``
terminators, CRLF or LF, values wrapped over several lines, bytes in UTF-8 or Latin-1.

``:61:`` follows ``6!n[4!n]2a[1!a]15d1!a3!c16x[//16x]`` + an optional supplementary line: value date
YYMMDD, optional entry (booking) date MMDD, mark ``C``/``D``/``RC``/``RD`` (``EC``/``ED`` in MT942),
optional funds code (the third letter of the currency), amount with a decimal comma (possibly
``6800,`` or no comma at all), type ``S``/``N``/``F`` + 3 characters, the customer reference and
``//`` the bank's reference. ``RC`` (reversal of a credit) is a debit and ``RD`` a credit.

``:86:`` is bank specific; recognised structures:

- German GVC: ``NNN?00text?10..?20-?29 purpose?30 BLZ?31 account?32-?33 name`` with SEPA keywords
  ``EREF+``, ``SVWZ+``, ``KREF+``, ``MREF+`` in the purpose;
- Dutch (ING, Rabobank, ABN new style): ``/EREF/.../CNTP/iban/bic/name/city/REMI/USTD//text/`` and
  ``/BENM//NAME/...``, ``/ORDP//NAME/...``, ``/REMI/STRD/CUR/RF.../``, ``/CDTRREF/RF.../``;
- Triodos: ``NNN>10...>20...>21...>31 account>32 name``;
- anything else is free text.

MT940 lines are booked (``BOOK``); MT942 lines are intraday information (``INFO``) that the next
end-of-day MT940 books, so they are not landed.

Completeness: an MT940 must state its opening (``:60F:``/``:60M:``) and closing (``:62F:``/``:62M:``)
booked balances; a statement without them (a file cut short, an export that dropped a tag) is refused
naming the file and the statement (``:20:``/``:28C:``), because a missing line could not be detected.
The number of ``:61:`` tags read must equal the number of entries parsed. Balances are then checked
(opening + lines = closing) by ``Statement.reconcile``.

Wrapped values: exports that cut long lines at a fixed width continue a tag's value on the next line.
A balance or id field is read with its continuation lines joined (and blanks removed, none of these
fields holds one); a ``:61:`` whose structured part is cut is read with its continuation lines joined
until the structure is complete (what follows is the supplementary details line); only known tags
start a field, so a wrapped text line that happens to start with ``:32:`` or is a bare ``-`` does not
end or split the statement (a ``-`` ends one only once its closing balance was read or at a new
``:20:``).

Impossible value dates: some banks' MT940 carry value dates such as 30 February on interest and fee
postings (the interest period's 30/360 day count). Refusing the file would lose every payment in it,
and the booking date is what the books use, so such a date is read as the last day of its month; the
raw value is kept in the line's notes for audit.

``:64:`` (closing available balance, e.g. mBank ``:64:C170119PLN0,43``) and ``:65:`` (forward
available) are read as ``CLAV``/``FWAV`` balances; they do not enter the booked-balance check.

Encoding: ``encoding.decode_text`` (UTF-8, UTF-16 with BOM, Windows-1252 before Latin-1, so ``€``
never becomes a C1 control character). Lines are split on CR/LF only: ``str.splitlines`` would also
split on U+0085 and U+001C-U+001E, which are text in legacy code pages.
"""

from __future__ import annotations

import calendar
import logging
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from connectors.load import SourceDataError
from connectors.sources.bank.encoding import decode_text
from connectors.sources.bank.statement import BOOKED, Balance, Entry, ParsedFile, Statement

log = logging.getLogger(__name__)

TAG_RE = re.compile(r"^:(\d{2}[A-Z]?):(.*)$")
# Tags of MT940/MT942 (and the bank headers ':940:'/':942:'); any other ':NN:' at a line start is text
KNOWN_TAGS = {"20", "21", "25", "25P", "28", "28C", "60F", "60M", "61", "62F", "62M", "64", "65", "86"}
KNOWN_TAGS |= {"13", "13D", "34F", "90D", "90C", "940", "942"}
CLOSING_TAGS = {"62F", "62M"}
HEADER_TAGS = {"21", "25", "25P", "28", "28C", "13", "13D", "34F"}
OPENING_TAGS = {"60F", "60M"}
LINE_SPLIT_RE = re.compile(r"\r\n|\r|\n")
ENVELOPE_BLOCK_RE = re.compile(r"\{[1235]:(?:[^{}]|\{[^{}]*\})*\}")
TERMINATOR_RE = re.compile(r"^-(?:\}|XXX)?\s*\}?$")
LINE_61_RE = re.compile(
    r"^(?P<value>\d{6})(?P<entry>\d{4})?"
    r"(?P<mark>RC|RD|EC|ED|C|D)(?P<funds>[A-Z])?"
    r"(?P<amount>\d+(?:,\d*)?)"
    r"(?P<type>[NSF][A-Z0-9]{3})"
    r"(?P<rest>.*)$"
)
BALANCE_RE = re.compile(r"^(?P<mark>[CD])(?P<date>\d{6})(?P<ccy>[A-Z]{3})(?P<amount>\d+(?:,\d*)?)$")
BALANCE_CODES = {"60F": "OPBD", "60M": "OPBD", "62F": "CLBD", "62M": "CLBD", "64": "CLAV", "65": "FWAV"}
MT942_TAGS = {"13D", "34F", "90D", "90C"}
NO_REF = {"NONREF", "NOTPROVIDED", ""}
# Dutch structured :86: keys (ING, Rabobank, ABN AMRO SEPA); longer keys first so CDTRREFTP wins over CDTRREF.
DUTCH_KEYS = (
    "CDTRREFTP|CDTRREF|EREF|MARF|CSID|CNTP|REMI|PURP|RTRN|IREF|BENM|ORDP|NAME|ADDR|ISDT|TRCD|PREF|BUSP|"
    "SVCL|ULTC|ULTD|ULTB|EXCH|CHGS|OCMT|IBAN|BIC|ID|FX"
)
DUTCH_RE = re.compile(rf"/({DUTCH_KEYS})/")
GVC_RE = re.compile(r"^\d{3}\?")
GVC_FIELD_RE = re.compile(r"\?(\d{2})")
SEPA_KEYS_RE = re.compile(r"(EREF|KREF|MREF|CRED|DEBT|SVWZ|ABWA|ABWE|COAM|OAMT|IBAN|BIC)\+")
TRIODOS_RE = re.compile(r"^\d{3}>\d{2}|>2\d")
TRIODOS_FIELD_RE = re.compile(r">(\d{2})")
LINE_WIDTH = 65


@dataclass
class _Line:
    """One physical line with its 1-based number."""

    number: int
    text: str


@dataclass
class _Field:
    tag: str
    lines: list[_Line] = field(default_factory=list)

    @property
    def number(self) -> int:
        return self.lines[0].number

    @property
    def first(self) -> str:
        return self.lines[0].text

    @property
    def value(self) -> str:
        """Value with the lines joined (stripped), for simple fields."""
        return "".join(x.text for x in self.lines).strip()

    @property
    def compact(self) -> str:
        """Value with the lines joined and every blank removed (balances, dates, amounts)."""
        return re.sub(r"\s+", "", "".join(x.text for x in self.lines))


def decode(data: bytes) -> str:
    """Bytes -> text (see ``encoding.decode_text``: UTF-8/UTF-16 BOM, Windows-1252, Latin-1)."""
    return decode_text(data)[0]


def looks_like_mt94x(text: str) -> bool:
    """True when ``text`` carries MT940/MT942 tags (``:20:`` and a balance or ``:61:``)."""
    head = text[:200_000]
    return bool(re.search(r"(?m)^\s*(\{4:\s*)?:20:", head)) and bool(
        re.search(r"(?m)^:(60[FM]|61|62[FM]|34F|13D):", head)
    )


def is_mt942(text: str) -> bool:
    """MT942 if the envelope says so or the file carries MT942-only tags."""
    if re.search(r"\{2:[IO]942", text):
        return True
    return bool(re.search(r"(?m)^:(13D|34F|90D|90C):", text)) and not re.search(r"(?m)^:60[FM]:", text)


def _split_messages(text: str) -> list[list[_Field]]:
    """Split into messages, each a list of tag fields with their continuation lines."""
    messages: list[list[_Field]] = []
    current: list[_Field] = []
    in_message = False
    closed = False  # the current message has its closing balance: a '-' now ends it
    pending_dash: _Line | None = None  # a '-' read before the closing balance: terminator or text?
    body = False  # the current message is past its header (a balance or a line was read)
    lines = []
    for number, raw in enumerate(LINE_SPLIT_RE.split(text), start=1):
        line = raw
        # envelope blocks {1:..}{2:..}{3:..} and the {4: opener may share a line with a tag
        line = ENVELOPE_BLOCK_RE.sub("", line)
        if line.lstrip().startswith("{4:"):
            line = line.lstrip()[3:]
        if line.rstrip().endswith("-}") and not TAG_RE.match(line):
            line = "-"
        if line.strip():
            lines.append((number, line))
    for i, (number, line) in enumerate(lines):
        m = TAG_RE.match(line)
        tag = m.group(1) if m and m.group(1) in KNOWN_TAGS else None
        # A wrapped text line can start like a tag (a time "10:25:30" cut before ":25:30"). Header tags
        # after the header, and a ':20:' inside an unfinished statement not followed by its ':25:', are
        # such text: only balances, lines and their ':86:' (never valid minutes: 60-86) follow a header.
        if tag in HEADER_TAGS and body:
            tag = None
        elif tag == "20" and in_message and not closed and current:
            following = TAG_RE.match(lines[i + 1][1]) if i + 1 < len(lines) else None
            if not following or following.group(1) not in ("21", "25", "25P"):
                tag = None
        if TERMINATOR_RE.match(line.strip()) and in_message:
            if closed:
                messages.append(current)
                current, in_message, closed, body = [], False, False, False
            else:
                pending_dash = _Line(number, line)
            continue
        if pending_dash is not None:
            if tag is None and current:  # the '-' was wrapped text of the previous field
                current[-1].lines.append(pending_dash)
            elif tag == "20":  # a terminator of a statement cut short (refused as incomplete)
                messages.append(current)
                current, in_message, closed = [], False, False
            pending_dash = None
        if tag is not None:
            if tag in ("940", "942"):  # Rabobank ":940:" header
                continue
            if tag == "20" and in_message and current:
                messages.append(current)  # a new statement without a '-' terminator
                current, closed = [], False
            if tag == "20":
                in_message, body = True, False
            if in_message:
                current.append(_Field(tag, [_Line(number, m.group(2))]))
                body = body or tag not in HEADER_TAGS | {"20"}
                # an MT940 ends at its closing balance, an MT942 (no balances) at its floor limit/summaries
                closed = closed or tag in CLOSING_TAGS or tag in MT942_TAGS
            continue
        if in_message and current:
            current[-1].lines.append(_Line(number, line))
        # other lines outside a message are bank headers (ABNANL2A, 940, 0000 01INGBNL2A...)
    if in_message and current:
        messages.append(current)
    return messages


def parse_mt94x(path: Path, data: bytes) -> ParsedFile:
    """Parse an MT940 or MT942 file.

    Args:
        path: The file, for messages and the result.
        data: Its bytes.

    Returns:
        The statements with their lines.

    Raises:
        SourceDataError: A tag that cannot be read (bad ``:61:``, bad balance, no statement at all);
            the message names the file, the line number and what to do.
    """
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        raise SourceDataError(
            f"{path}: byte {exc.start}: the file announces {exc.encoding} (byte-order mark) but is not; "
            "re-export the statement"
        ) from None
    intraday = is_mt942(text)
    messages = _split_messages(text)
    if not messages:
        raise SourceDataError(
            f"{path}: line 1: no MT940/MT942 statement found (no ':20:' tag); "
            "check that this is a SWIFT statement export"
        )
    statements = [_statement(path, fields, intraday) for fields in messages]
    tags_61 = len(re.findall(r"(?m)^:61:", text.replace("\r", "\n")))
    parsed_61 = sum(len(st.entries) for st in statements)
    if tags_61 != parsed_61:
        raise SourceDataError(
            f"{path}: {tags_61} ':61:' statement lines in the file but {parsed_61} read (a line outside any "
            "statement, after a terminator); the file is malformed - download it again from the bank"
        )
    return ParsedFile(path=path, format="mt942" if intraday else "mt940", statements=statements)


def _error(path: Path, f: _Field, problem: str, fix: str) -> SourceDataError:
    return SourceDataError(f"{path}: line {f.number}: :{f.tag}:{f.first.strip()[:60]}: {problem}; {fix}")


def _amount(raw: str) -> Decimal:
    whole, _, frac = raw.partition(",")
    return Decimal(f"{whole}.{frac}") if frac else Decimal(whole)


def _yymmdd(raw: str) -> date:
    year = int(raw[:2])
    # SWIFT dates carry two-digit years; statements are 1980-2079
    return date(2000 + year if year < 80 else 1900 + year, int(raw[2:4]), int(raw[4:6]))


def _clamped(year: int, month: int, day: int) -> tuple[date, bool]:
    """The date, or the last day of its month when the day does not exist (30 February).

    Returns:
        (date, True when the day was moved).

    Raises:
        ValueError: The month is not 1-12 or the day is not 1-31 (not a quirk: a broken file).
    """
    if not 1 <= month <= 12 or not 1 <= day <= 31:
        raise ValueError(f"month {month} day {day}")
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(day, last)), day > last


def _yymmdd_lenient(raw: str) -> tuple[date, bool]:
    year = int(raw[:2])
    return _clamped(2000 + year if year < 80 else 1900 + year, int(raw[2:4]), int(raw[4:6]))


def _statement(path: Path, fields: list[_Field], intraday: bool) -> Statement:
    st = Statement(account=None, currency=None, statement_id=None, location=f"line {fields[0].number}")
    previous_tag = None
    for f in fields:
        if f.tag == "20":
            st.statement_id = f.value
        elif f.tag == "25":
            parts = f.value.split()
            st.account = parts[0] if parts else None
            if len(parts) > 1 and re.fullmatch(r"[A-Z]{3}", parts[-1]):
                st.currency = parts[-1]
        elif f.tag in ("28", "28C"):
            st.sequence = f.value
        elif f.tag == "34F" and re.match(r"[A-Z]{3}", f.value):
            st.currency = st.currency or f.value[:3]  # MT942 floor limit: currency + amount
        elif f.tag in BALANCE_CODES:
            bal = _balance(path, f)
            if bal is None:
                continue
            st.balances.append(bal)
            st.currency = st.currency or bal.currency
            if bal.code == "OPBD" and st.opening is None:
                st.opening = (bal.amount, bal.date)
            elif bal.code == "CLBD":
                st.closing = (bal.amount, bal.date)
        elif f.tag == "61":
            st.entries.append(_line_61(path, f, st, len(st.entries), intraday))
        elif f.tag == "86":
            raw = "\n".join(x.text for x in f.lines)
            if previous_tag == "61" and st.entries:
                _apply_86(st.entries[-1], raw)
            else:
                st.info = raw.strip()
        previous_tag = f.tag
    for e in st.entries:
        e.currency = e.currency or st.currency or ""
        e.bank_txn_id = e.account_servicer_reference or ""  # else a content id, see assign_fallback_ids
    booked = {b.currency for b in st.balances if b.code in ("OPBD", "CLBD")}
    if len(booked) > 1 or (booked and st.currency and st.currency not in booked):
        stated = ", ".join(sorted(booked | ({st.currency} if st.currency else set())))
        raise SourceDataError(
            f"{path}: {st.location}: statement :20:{st.statement_id or '?'} :28C:{st.sequence or '?'} mixes "
            f"currencies ({stated}) in its account and booked balances; the file is inconsistent - ask the bank "
            "for a corrected MT940"
        )
    if not intraday:
        tags = {f.tag for f in fields}
        missing = [name for name, wanted in (("opening", OPENING_TAGS), ("closing", CLOSING_TAGS)) if not tags & wanted]
        if missing:
            what = " and ".join(f"{m} balance (:{'60F' if m == 'opening' else '62F'}:)" for m in missing)
            raise SourceDataError(
                f"{path}: {st.location}: statement :20:{st.statement_id or '?'} :28C:{st.sequence or '?'} has no "
                f"{what}; the file is incomplete (cut short or an export that dropped the tag) - download the "
                "complete MT940 from the bank"
            )
    if st.entries and not st.currency:
        raise SourceDataError(
            f"{path}: {st.location}: statement {st.statement_id} states no currency (no :60F:/:62F: balance "
            "and no currency in :25:); the file is incomplete - ask the bank for a full MT940"
        )
    return st


def _balance(path: Path, f: _Field) -> Balance | None:
    """A balance tag; None for an unreadable available balance (:64:/:65:, information only)."""
    value = f.compact
    m = BALANCE_RE.match(value)
    informative = f.tag in ("64", "65")
    if not m:
        if informative:
            log.warning("%s: line %d: available balance :%s:%s is unreadable, ignored", path, f.number, f.tag, value)
            return None
        raise _error(
            path,
            f,
            "balance is not C|D + YYMMDD + currency + amount (e.g. C131231EUR4433,52)",
            "the file is corrupted or not an MT940 - download it again",
        )
    amount = _amount(m.group("amount"))
    try:
        day, moved = _yymmdd_lenient(m.group("date"))
    except ValueError:
        raise _error(path, f, f"date {m.group('date')} does not exist", "download the file again") from None
    if moved:
        log.warning("%s: line %d: balance date %s does not exist, read as %s", path, f.number, m.group("date"), day)
    return Balance(BALANCE_CODES[f.tag], -amount if m.group("mark") == "D" else amount, m.group("ccy"), day)


def _structured_61(f: _Field) -> tuple[re.Match[str] | None, list[_Line]]:
    """Match the structured part of ``:61:``, joining continuation lines when a wrap cut it.

    Returns:
        The match and the lines left over (the supplementary details).
    """
    lines = f.lines
    first = lines[0].text.strip()
    m = LINE_61_RE.match(first)
    if m:
        rest = m.group("rest")
        nxt = lines[1].text.strip() if len(lines) > 1 else ""
        # a wrap inside the references: the next line carries the '//' (or the bank ref after a bare '//')
        cut_before_bank_ref = "//" not in rest and "//" in nxt and " " not in nxt.split("//")[0]
        cut_after_slashes = rest.endswith("//") and nxt and " " not in nxt and len(nxt) <= 16
        if len(lines) > 1 and (cut_before_bank_ref or cut_after_slashes):
            return LINE_61_RE.match(first + nxt), lines[2:]
        return m, lines[1:]
    joined = first
    for k in range(1, min(len(lines), 4)):
        joined += lines[k].text.strip()
        m = LINE_61_RE.match(joined)
        if m:
            return m, lines[k + 1 :]
    return None, lines[1:]


def _line_61(path: Path, f: _Field, st: Statement, index: int, intraday: bool) -> Entry:
    m, extra = _structured_61(f)
    if not m:
        raise _error(
            path,
            f,
            "statement line does not follow YYMMDD[MMDD](C|D|RC|RD)[funds]amount(N|S|F)xxx[ref][//bankref]",
            "the file is corrupted or truncated - download it again from the bank",
        )
    notes = []
    try:
        value, moved = _yymmdd_lenient(m.group("value"))
        if moved:
            notes.append(f"value date {m.group('value')} does not exist (bank quirk), read as {value.isoformat()}")
        booking = value
        if m.group("entry"):
            month, day = int(m.group("entry")[:2]), int(m.group("entry")[2:])
            year = value.year
            if month - value.month > 6:  # entry in December, value date in January
                year -= 1
            elif value.month - month > 6:  # entry in January, value date in December
                year += 1
            booking, moved = _clamped(year, month, day)
            if moved:
                notes.append(f"entry date {m.group('entry')} does not exist, read as {booking.isoformat()}")
    except ValueError:
        raise _error(
            path, f, "value or entry date is not a date (month not 01-12 or day not 01-31)", "download the file again"
        ) from None
    for note in notes:
        log.warning("%s: line %d: %s", path, f.number, note)
    mark = m.group("mark")
    credit = mark in ("C", "RD", "EC")
    rest = m.group("rest")
    cust_ref, _, bank_ref = rest.partition("//")
    supplementary = " ".join(x.text.strip() for x in extra if x.text.strip()) or None
    cust_ref, bank_ref = cust_ref.strip(), bank_ref.strip()
    reversal = mark in ("RC", "RD")
    return Entry(
        amount=_amount(m.group("amount")),
        currency=st.currency or "",
        credit_debit="CRDT" if credit else "DBIT",
        is_reversal=reversal,
        status="INFO" if intraday else BOOKED,
        booking_date=booking,
        value_date=value,
        entry_reference=None if cust_ref.upper() in NO_REF else cust_ref,
        account_servicer_reference=None if bank_ref.upper() in NO_REF else bank_ref,
        # a reversal's customer reference quotes the original line's reference
        reversal_of=(None if cust_ref.upper() in NO_REF else cust_ref) if reversal else None,
        bank_transaction_code=m.group("type"),
        additional_info=supplementary,
        entry_index=index,
        notes=notes,
    )


def _join_free(lines: list[str]) -> str:
    """Join free-text lines: a line filled to the 65-char width was cut mid-word, others end a phrase."""
    out = ""
    for i, line in enumerate(lines):
        if i == 0:
            out = line
        elif len(lines[i - 1]) >= LINE_WIDTH:
            out += line
        else:
            out = out.rstrip() + " " + line.lstrip()
    return re.sub(r"\s+", " ", out).strip()


def _apply_86(e: Entry, raw: str) -> None:
    """Read ``:86:`` (GVC, Dutch, Triodos or free text) into the line."""
    e.raw_info = raw
    lines = raw.split("\n")
    joined = "".join(lines).strip()
    if GVC_RE.match(joined):
        _apply_gvc(e, joined)
    elif joined.startswith("/") and DUTCH_RE.search(joined):
        _apply_dutch(e, joined)
    elif TRIODOS_RE.search(joined):
        _apply_triodos(e, joined)
    else:
        e.remittance_text = _join_free(lines) or None
    _set_counterparty(e)


def _set_counterparty(e: Entry) -> None:
    e.counterparty_name = e.counterparty_name or None
    # structured account fields never hold spaces; wrapped lines sometimes add them
    e.counterparty_account = re.sub(r"\s+", "", e.counterparty_account or "") or None
    if e.credit_debit == "CRDT" and not e.is_reversal:
        e.payer_name, e.payer_account = e.counterparty_name, e.counterparty_account


def _subfields(text: str, pattern: re.Pattern[str]) -> tuple[str, dict[str, list[str]]]:
    """``NNN?00a?20b?21c`` -> (``NNN``, {``00``: [a], ``20``: [b], ``21``: [c]})."""
    parts = pattern.split(text)
    out: dict[str, list[str]] = {}
    for code, value in zip(parts[1::2], parts[2::2], strict=True):
        out.setdefault(code, []).append(value)
    return parts[0], out


def _apply_gvc(e: Entry, text: str) -> None:
    code, sub = _subfields(text, GVC_FIELD_RE)
    e.bank_transaction_code = f"{e.bank_transaction_code}/GVC{code.strip()}"
    purpose_parts = [v for k in sorted(sub) if "20" <= k <= "29" or "60" <= k <= "63" for v in sub[k]]
    purpose = "".join(purpose_parts)
    if SEPA_KEYS_RE.search(purpose):
        keyed = _sepa_keywords(purpose)
        e.end_to_end_id = _ref(keyed.get("EREF"))
        e.remittance_text = keyed.get("SVWZ") or keyed.get("") or None
        if keyed.get("KREF"):
            e.entry_reference = e.entry_reference or keyed["KREF"]
    else:
        e.remittance_text = " ".join(p.strip() for p in purpose_parts if p.strip()) or None
    e.counterparty_name = "".join(sub.get("32", []) + sub.get("33", [])).strip() or None
    e.counterparty_account = ("".join(sub.get("38", [])) or "".join(sub.get("31", []))).strip() or None
    if "00" in sub:
        e.additional_info = " ".join([sub["00"][0].strip(), e.additional_info or ""]).strip()


def _sepa_keywords(purpose: str) -> dict[str, str]:
    parts = SEPA_KEYS_RE.split(purpose)
    out = {"": parts[0].strip()}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        out.setdefault(key, value.strip())
    return out


def _ref(value: str | None) -> str | None:
    return None if not value or value.strip().upper() in NO_REF else value.strip()


def _apply_dutch(e: Entry, text: str) -> None:
    parts = DUTCH_RE.split(text)
    values: dict[str, str] = {}
    for key, value in zip(parts[1::2], parts[2::2], strict=True):
        # each value ends with '/' before the next '/KEY/' (or the end); a value may itself hold '/'
        values.setdefault(key, value[:-1] if value.endswith("/") else value)
    e.end_to_end_id = _ref(values.get("EREF"))
    for party in ("CNTP", "BENM", "ORDP"):
        if party in values:
            sub = values[party].split("/")
            if party == "CNTP":
                e.counterparty_account = sub[0] if sub else None
                e.counterparty_name = sub[2] if len(sub) > 2 else None
            break
    if values.get("NAME"):
        e.counterparty_name = e.counterparty_name or values["NAME"]
    if values.get("IBAN") or values.get("ID"):
        e.counterparty_account = e.counterparty_account or values.get("IBAN") or values.get("ID")
    remi = values.get("REMI", "")
    if remi.startswith("USTD/"):
        e.remittance_text = remi[6:] if remi.startswith("USTD//") else remi[5:]
    elif remi.startswith("STRD/"):
        e.creditor_reference = remi.split("/")[-1] or None
        e.creditor_reference_type = "SCOR"
    elif remi:
        e.remittance_text = remi
    if values.get("CDTRREF"):
        e.creditor_reference = values["CDTRREF"]
        tp = re.search(r"CD/([A-Z]+)", values.get("CDTRREFTP", ""))
        e.creditor_reference_type = tp.group(1) if tp else None
    if e.creditor_reference:
        e.creditor_references = [e.creditor_reference]
    e.remittance_text = e.remittance_text or None
    e.return_reason = values.get("RTRN") or None
    if (e.is_reversal or e.return_reason) and not e.reversal_of:
        e.reversal_of = e.end_to_end_id


def _apply_triodos(e: Entry, text: str) -> None:
    code, sub = _subfields(text, TRIODOS_FIELD_RE)
    purpose = "".join(v for k in sorted(sub) if "20" <= k <= "29" for v in sub[k])
    e.remittance_text = purpose.strip() or None
    e.counterparty_account = "".join(sub.get("31", [])).strip() or None
    e.counterparty_name = "".join(sub.get("32", []) + sub.get("33", [])).strip() or None
    if sub.get("10"):
        e.additional_info = sub["10"][0].strip()

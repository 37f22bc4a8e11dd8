"""Format-neutral bank statement model shared by the camt.05x and MT940/MT942 parsers.

A parsed file holds statements; a statement holds the account, its opening/closing balances and its
entries. An ``Entry`` here is one *output line*: a camt ``Ntry`` with one ``TxDtls`` (or none), one
``TxDtls`` of a batch booking whose amounts add up to the ``Ntry`` amount, or one MT940 ``:61:`` line.
Amounts are unsigned ``Decimal`` values exactly as the bank wrote them (any number of decimals, never
float); the direction is ``credit_debit`` (``CRDT`` money in, ``DBIT`` money out).

``bank_txn_id`` is stable across re-deliveries of the same lines: the account servicer's reference
when the bank gives one, else a SHA-256 of the line's content (account, currency, direction, amount,
booking date, counterparty account, end-to-end id, references, remittance text) and its occurrence
number among identical lines of the file. It never depends on the message type, the message or
statement id or the line's position: an intraday camt.052 and the day's camt.053 carrying the same
booked entries yield the same ids, so the loader (append on ``bank_txn_id``) lands them once, while
two genuinely identical payments on one day stay two lines (occurrence 1 and 2). The price: two
identical reference-less payments of one day delivered in two different files (a statement split over
pages of separate files) count as one; banks that split statements give references.
``to_raw_table`` renders the booked lines in the ``raw_bank.statement_lines`` contract
(``connectors.contracts.STATEMENT_LINES``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import pyarrow as pa

from connectors.contracts import STATEMENT_LINES

BOOKED = "BOOK"
CENT = Decimal("0.01")
MAX_MONEY = Decimal(10) ** 16  # DECIMAL(18,2) keeps 16 integer digits


@dataclass
class Balance:
    """One statement balance.

    Attributes:
        code: ``OPBD``/``PRCD``/``CLBD``/``OPAV``/``CLAV``/``FWAV``... (MT940 tags are mapped: 60F/60M ->
            ``OPBD``, 62F/62M -> ``CLBD``, 64 -> ``CLAV``, 65 -> ``FWAV``).
        amount: Signed amount (negative when the bank marks it DBIT / D).
        currency: ISO 4217 code.
        date: Balance date.
    """

    code: str
    amount: Decimal
    currency: str | None
    date: date | None


@dataclass
class Entry:
    """One statement line (see the module docstring for what a line is).

    Attributes:
        amount: Unsigned amount as written by the bank.
        currency: ISO 4217 code of ``amount``.
        credit_debit: ``CRDT`` or ``DBIT``.
        is_reversal: The bank marks the line as a reversal (camt ``RvslInd``, MT940 ``RC``/``RD``).
        status: ``BOOK``, ``PDNG``, ``INFO``, ``FUTR``... (MT942 lines are ``INFO``).
        booking_date: Booking date (``BookgDt``, MT940 entry date).
        value_date: Value date (``ValDt``, MT940 value date).
        counterparty_name: The other party: the debtor of a credit, the creditor of a debit.
        counterparty_account: The other party's IBAN (or other account id).
        payer_name: ``Dbtr`` name (camt), whatever the direction.
        payer_account: ``DbtrAcct`` IBAN or other id (camt).
        ultimate_debtor: ``UltmtDbtr`` name (camt).
        remittance_text: Free-text remittance (``Ustrd`` joined, else the bank's additional info).
        creditor_reference: Structured creditor reference (first ``CdtrRefInf/Ref``).
        creditor_reference_type: Its type (``SCOR``, ``QRR``, ``ISR Reference``...).
        creditor_references: Every structured reference the line carries.
        referred_documents: ``RfrdDocInf/Nb`` values (invoice numbers).
        end_to_end_id: Payer's end-to-end id (``NOTPROVIDED`` is dropped).
        entry_reference: camt ``NtryRef`` / MT940 customer reference (``NONREF`` dropped).
        account_servicer_reference: camt ``AcctSvcrRef`` (transaction level, else entry level) / MT940
            bank reference after ``//``.
        return_reason: ``RtrInf/Rsn/Cd`` (camt), ``/RTRN/`` (MT940), the BAI2 return type code.
        reversal_of: On a reversal or return, the original line's reference as the bank quotes it
            (camt ``InstrId``, MT940 customer reference), for linking it to the line it undoes.
        bank_transaction_code: ``Domn/Fmly/SubFmly`` codes, proprietary code or MT940 type (``NTRF``).
        additional_info: Bank free text (``AddtlTxInf``/``AddtlNtryInf``, MT940 supplementary details).
        raw_info: MT940 ``:86:`` as written (lines joined with newlines).
        entry_index: Position of the camt ``Ntry`` / MT940 ``:61:`` in its statement (0-based).
        tx_index: Position of the ``TxDtls`` in its ``Ntry`` when the line is one of a split batch.
        tx_count: Number of ``TxDtls`` under the ``Ntry``.
        bank_txn_id: Stable line id (see the module docstring).
        notes: Parser remarks on this line (e.g. a batch whose split is unknown).
    """

    amount: Decimal
    currency: str
    credit_debit: str
    is_reversal: bool = False
    status: str = BOOKED
    booking_date: date | None = None
    value_date: date | None = None
    counterparty_name: str | None = None
    counterparty_account: str | None = None
    payer_name: str | None = None
    payer_account: str | None = None
    ultimate_debtor: str | None = None
    remittance_text: str | None = None
    creditor_reference: str | None = None
    creditor_reference_type: str | None = None
    creditor_references: list[str] = field(default_factory=list)
    referred_documents: list[str] = field(default_factory=list)
    end_to_end_id: str | None = None
    entry_reference: str | None = None
    account_servicer_reference: str | None = None
    return_reason: str | None = None
    reversal_of: str | None = None
    bank_transaction_code: str | None = None
    additional_info: str | None = None
    raw_info: str | None = None
    entry_index: int = 0
    tx_index: int | None = None
    tx_count: int = 0
    bank_txn_id: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def signed_amount(self) -> Decimal:
        """Amount with the sign of ``credit_debit`` (credits positive)."""
        return self.amount if self.credit_debit == "CRDT" else -self.amount

    @property
    def is_booked(self) -> bool:
        """True for booked lines (the only ones that move the booked balance)."""
        return self.status == BOOKED


def _identity(account: str | None, e: Entry) -> tuple:
    """What makes a line the same payment whoever reports it (camt.052/053/054, MT940/942, BAI2)."""
    return (
        account or "",
        e.currency,
        e.credit_debit,
        str(e.amount),
        e.booking_date.isoformat() if e.booking_date else "",
        e.counterparty_account or "",
        e.end_to_end_id or "",
        e.creditor_reference or "",
        e.entry_reference or "",
        e.remittance_text or "",
        e.return_reason or "",
        "R" if e.is_reversal else "",
    )


def fallback_txn_id(account: str | None, e: Entry, occurrence: int) -> str:
    """SHA-256 line id for banks that give no account-servicer reference.

    It depends only on the line's content and its occurrence number among identical lines (1-based),
    never on the file name, the message type, the message/statement id or the line's position, so
    the same payment reported by an intraday camt.052 and the day's camt.053 (or delivered twice)
    gets the same id, and two identical payments on one day keep two ids.

    Args:
        account: The statement's own account.
        e: The line.
        occurrence: 1 for the first line of this content in the file, 2 for the second...
    """
    key = "|".join([*_identity(account, e), str(occurrence)])
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def assign_fallback_ids(statements: list[Statement]) -> None:
    """Give every line without a bank reference its content id (see ``fallback_txn_id``).

    Occurrences are counted per content over the whole file, booked lines apart from the others (a
    pending camt.052 line and the booked line it becomes are counted separately, so the booked
    lines of a 052 and of the 053 number alike).
    """
    seen: dict[tuple, int] = {}
    for st in statements:
        for e in st.entries:
            if e.bank_txn_id:
                continue
            key = (_identity(st.account, e), e.is_booked)
            seen[key] = seen.get(key, 0) + 1
            e.bank_txn_id = fallback_txn_id(st.account, e, seen[key])


def disambiguate_ids(statements: list[Statement]) -> None:
    """Make reused bank references unique within a file, keeping true duplicates identical.

    Some banks reuse one reference for several lines (the CMXL sample books two ``:61:`` lines with
    ``//55555``). Lines sharing an id but differing in content get ``<id>#<n>`` (n = 1-based order in
    the file); a line repeated with identical content keeps the shared id, so the loader's key check
    still catches the duplicate delivery.
    """
    groups: dict[str, list[tuple[Statement, Entry]]] = {}
    for st in statements:
        for e in st.entries:
            groups.setdefault(e.bank_txn_id, []).append((st, e))
    for txn_id, members in groups.items():
        if len(members) < 2:
            continue
        contents = {_content(st, e) for st, e in members}
        if len(contents) == 1:
            continue
        for n, (_, e) in enumerate(members, start=1):
            e.bank_txn_id = f"{txn_id}#{n}"
            e.notes.append(f"bank reference {txn_id} is used by {len(members)} different lines in this file")


def _content(st: Statement, e: Entry) -> tuple:
    return (
        st.account,
        e.amount,
        e.currency,
        e.credit_debit,
        e.booking_date,
        e.value_date,
        e.remittance_text,
        e.counterparty_name,
        e.counterparty_account,
        e.creditor_reference,
        e.end_to_end_id,
    )


@dataclass
class Statement:
    """One account statement (camt ``Stmt``/``Ntfctn``, one MT940 message).

    Attributes:
        account: Own account (IBAN, other id or MT940 ``:25:`` account).
        currency: Account currency when stated (``Acct/Ccy``, balance currency).
        statement_id: ``Stmt/Id`` / ``Ntfctn/Id`` / MT940 ``:20:``.
        sequence: ``ElctrncSeqNb`` (else ``LglSeqNb``) / MT940 ``:28C:``.
        opening: Opening booked balance (``OPBD``, else ``PRCD``; MT940 ``:60F:``/``:60M:``) as
            ``(signed amount, date)``.
        closing: Closing booked balance (``CLBD``; MT940 ``:62F:``/``:62M:``).
        balances: Every balance the statement states.
        entries: The statement's lines in file order.
        info: Statement-level free text (MT940 ``:86:`` after the balances).
        location: Where the statement is in the file (XPath or line number), for messages.
        problems: Other controls the parser found failing (BAI2 total credits/debits vs details).
    """

    account: str | None
    currency: str | None
    statement_id: str | None
    sequence: str | None = None
    opening: tuple[Decimal, date | None] | None = None
    closing: tuple[Decimal, date | None] | None = None
    balances: list[Balance] = field(default_factory=list)
    entries: list[Entry] = field(default_factory=list)
    info: str | None = None
    location: str = ""
    problems: list[str] = field(default_factory=list)

    def reconcile(self) -> list[str]:
        """Check opening + sum(signed booked lines) == closing.

        Returns:
            Problems found (empty when the statement reconciles or lacks either balance; see
            ``unchecked`` for the statements that could not be checked).
        """
        if self.opening is None or self.closing is None:
            return list(self.problems)
        opening, closing = self.opening[0], self.closing[0]
        moved = sum((e.signed_amount for e in self.entries if e.is_booked), Decimal(0))
        if opening + moved == closing:
            return list(self.problems)
        return [
            *self.problems,
            f"statement {self.label} ({self.location}): "
            f"opening {opening} + booked lines {moved} = {opening + moved}, but the closing balance is "
            f"{closing} (difference {closing - opening - moved}); a line is missing or the file is incomplete",
        ]

    def unchecked(self) -> str | None:
        """Why the balances of this statement cannot be checked (None when they can)."""
        missing = [name for name, bal in (("opening", self.opening), ("closing", self.closing)) if bal is None]
        if not missing:
            return None
        return f"statement {self.label} ({self.location}) states no {' and no '.join(missing)} booked balance"

    @property
    def label(self) -> str:
        """``<id>/<sequence> of account <account>`` for messages."""
        ident = self.statement_id or "?"
        if self.sequence:
            ident += f" (sequence {self.sequence})"
        return f"{ident} of account {self.account or '?'}"


@dataclass
class BalanceCheck:
    """Outcome of checking every statement's balances: opening + booked lines == closing.

    Attributes:
        status: ``reconciled`` (every statement checked and adds up), ``mismatch`` (some statement does
            not add up) or ``unchecked`` (none does not add up, but some statement lacks a balance).
        problems: The mismatches, naming file, statement and difference.
        unchecked: The statements that could not be checked, and why.
    """

    status: str
    problems: list[str]
    unchecked: list[str]

    @property
    def summary(self) -> str:
        """One human sentence; never says "reconcile" unless every statement was checked."""
        if self.status == "reconciled":
            return "balances reconcile (opening + booked lines = closing in every statement)"
        parts = list(self.problems)
        if self.unchecked:
            parts.append("balances not checked: " + "; ".join(self.unchecked))
        return "; ".join(parts)


@dataclass
class ParsedFile:
    """Everything read from one statement file.

    Attributes:
        path: The file.
        format: ``camt.052``, ``camt.053``, ``camt.054``, ``mt940``, ``mt942`` or ``bai2``.
        statements: Statements in file order.
        version: Message version (``camt.053.001.08``) when known.
    """

    path: Path
    format: str
    statements: list[Statement]
    version: str | None = None

    def entries(self, booked_only: bool = False) -> Iterator[tuple[Statement, Entry]]:
        """Every line with its statement, in file order."""
        for st in self.statements:
            for e in st.entries:
                if not booked_only or e.is_booked:
                    yield st, e

    def reconcile(self) -> list[str]:
        """Balance problems of every statement (see ``Statement.reconcile``), prefixed with the file."""
        return [f"{self.path}: {p}" for st in self.statements for p in st.reconcile()]

    def balance_check(self) -> BalanceCheck:
        """Check every statement's balances; says which could not be checked (no opening/closing)."""
        problems = self.reconcile()
        unchecked = [f"{self.path}: {u}" for st in self.statements if (u := st.unchecked())]
        status = "mismatch" if problems else ("unchecked" if unchecked or not self.statements else "reconciled")
        return BalanceCheck(status, problems, unchecked)

    def to_raw_table(self, booked_only: bool = True) -> pa.Table:
        """The lines as a table with exactly the ``raw_bank.statement_lines`` contract columns.

        Money is ``decimal128(18, 2)`` when every amount fits without losing a digit; otherwise the
        column stays text so the loader quarantines the offending lines with a clear reason instead
        of rounding them. A line without a value date takes its booking date (camt ``ValDt`` is
        optional).

        Args:
            booked_only: Keep only ``BOOK`` lines (pending and information lines do not move money).

        Returns:
            One row per line, contract column order.
        """
        rows = list(self.entries(booked_only=booked_only))
        amounts = [e.amount for _, e in rows]
        exact = all(a == a.quantize(CENT) and abs(a) < MAX_MONEY for a in amounts)
        money = (
            pa.array([a.quantize(CENT) for a in amounts], pa.decimal128(18, 2))
            if exact
            else pa.array([str(a) for a in amounts], pa.string())
        )
        cols: dict[str, pa.Array] = {
            "bank_txn_id": pa.array([e.bank_txn_id for _, e in rows], pa.string()),
            "account_iban": pa.array([st.account for st, _ in rows], pa.string()),
            "booking_date": pa.array([e.booking_date for _, e in rows], pa.date32()),
            "value_date": pa.array([e.value_date or e.booking_date for _, e in rows], pa.date32()),
            "amount": money,
            "currency": pa.array([e.currency for _, e in rows], pa.string()),
            "credit_debit": pa.array([e.credit_debit for _, e in rows], pa.string()),
            "counterparty_name": pa.array([e.counterparty_name for _, e in rows], pa.string()),
            "counterparty_iban": pa.array([e.counterparty_account for _, e in rows], pa.string()),
            "remittance_text": pa.array([e.remittance_text for _, e in rows], pa.string()),
            "creditor_reference": pa.array([e.creditor_reference for _, e in rows], pa.string()),
            "is_reversal": pa.array([e.is_reversal for _, e in rows], pa.bool_()),
            "return_reason": pa.array([e.return_reason for _, e in rows], pa.string()),
            "end_to_end_id": pa.array([e.end_to_end_id for _, e in rows], pa.string()),
            "reversal_of": pa.array([e.reversal_of for _, e in rows], pa.string()),
        }
        return pa.table([cols[c] for c in STATEMENT_LINES.column_names], names=STATEMENT_LINES.column_names)

    def to_json_lines(self) -> Iterator[str]:
        """One JSON object per line (amount as a string, dates ISO), for the CLI."""
        for st, e in self.entries():
            yield json.dumps(
                {
                    "file": str(self.path),
                    "format": self.format,
                    "account": st.account,
                    "statement_id": st.statement_id,
                    "bank_txn_id": e.bank_txn_id,
                    "status": e.status,
                    "booking_date": e.booking_date.isoformat() if e.booking_date else None,
                    "value_date": e.value_date.isoformat() if e.value_date else None,
                    "amount": str(e.amount),
                    "currency": e.currency,
                    "credit_debit": e.credit_debit,
                    "is_reversal": e.is_reversal,
                    "counterparty_name": e.counterparty_name,
                    "counterparty_account": e.counterparty_account,
                    "remittance_text": e.remittance_text,
                    "creditor_reference": e.creditor_reference,
                    "end_to_end_id": e.end_to_end_id,
                    "entry_reference": e.entry_reference,
                    "account_servicer_reference": e.account_servicer_reference,
                    "return_reason": e.return_reason,
                    "reversal_of": e.reversal_of,
                    "bank_transaction_code": e.bank_transaction_code,
                    "notes": e.notes,
                },
                ensure_ascii=False,
            )

"""ISO 20022 camt.053 (statement) and camt.054 (debit/credit notification) parser, any version.

Follows the ISO 20022 message definitions as banks ship them (versions .02 to .13; the version is read
from the namespace ``urn:iso:std:iso:20022:tech:xsd:camt.05N.001.NN`` and every version is accepted).
The shapes that changed between versions are all handled:

- ``Ntry/Sts`` is text in .02-.07 and ``Sts/Cd`` from .08 on;
- parties are ``RltdPties/Dbtr/Nm`` in .02-.07 and ``Dbtr/Pty/Nm`` from .08 on;
- a transaction's amount is ``TxDtls/Amt`` from .04 on and ``AmtDtls/TxAmt`` (or ``InstdAmt``) in .02;
- dates are ``Dt`` or ``DtTm`` (the calendar date is taken as written, offsets are not converted).

A batch booking (one ``Ntry`` with many ``TxDtls``) becomes one line per ``TxDtls`` when their amounts
add up to the entry amount; otherwise the split is unknown and the entry stays one line with the entry
amount (the remittance texts of the transactions are joined). Amounts are parsed as ``Decimal`` with
whatever number of decimals the bank wrote. See /work/shared/CONNECTORS.md §1.1-1.2 for the field list.

The bytes may be UTF-8 or UTF-16 (with a BOM or only declared in the prolog): libxml2 reads the
encoding from the BOM and the ``<?xml encoding=...?>`` prolog as the XML specification says.

camt.052 (intraday account report) lines are landed only when the bank marks them booked (``BOOK``);
a 052 entry without a status is taken as information, never as booked. Their ids do not depend on
the message type or ids (``statement.assign_fallback_ids``), so the day's camt.053 repeating them adds
nothing.

Reversals and returns: ``RvslInd`` true marks a reversal; ``RtrInf/Rsn`` a return. On either the line
keeps the return reason and, in ``reversal_of``, the original's instruction id (``Refs/InstrId``) next
to the end-to-end id, which cash application uses to find and net out the payment undone.
"""

from __future__ import annotations

import logging
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lxml import etree

from connectors.load import SourceDataError
from connectors.sources.bank.encoding import text_head
from connectors.sources.bank.statement import Balance, Entry, ParsedFile, Statement

log = logging.getLogger(__name__)

NAMESPACE_RE = re.compile(r"^urn:iso:std:iso:20022:tech:xsd:camt\.(05[234])\.001\.(\d{2})$")
# message root element -> statement element, per message type
MESSAGES = {
    "053": ("BkToCstmrStmt", "Stmt"),
    "054": ("BkToCstmrDbtCdtNtfctn", "Ntfctn"),
    "052": ("BkToCstmrAcctRpt", "Rpt"),
}
AMOUNT_RE = re.compile(r"^\d+(\.\d+)?$")
OPENING_CODES = ("OPBD", "PRCD")
CLOSING_CODES = ("CLBD",)
NOT_PROVIDED = "NOTPROVIDED"
DTD_RE = re.compile(r"<!(DOCTYPE|ENTITY)\b", re.I)


def _parser() -> etree.XMLParser:
    # No entity expansion, no network: statement files come from outside.
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=True, huge_tree=False)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def where(el: etree._Element) -> str:
    """Readable location of ``el``: an XPath with local names and positions, plus its line."""
    steps = []
    node = el
    while node is not None:
        parent = node.getparent()
        name = _local(node)
        if parent is not None:
            same = [c for c in parent if isinstance(c.tag, str) and _local(c) == name]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        steps.append(name)
        node = parent
    return "/" + "/".join(reversed(steps)) + (f" (line {el.sourceline})" if el.sourceline else "")


class _Doc:
    """Namespace-aware lookups by local path (``"Ntry/Amt"``) in one document."""

    def __init__(self, ns: str, path: Path) -> None:
        self.ns = {"c": ns}
        self.path = path

    def _xp(self, rel: str) -> str:
        return "/".join(f"c:{p}" for p in rel.split("/"))

    def find(self, el: etree._Element | None, rel: str) -> etree._Element | None:
        if el is None:
            return None
        return el.find(self._xp(rel), self.ns)

    def findall(self, el: etree._Element | None, rel: str) -> list[etree._Element]:
        if el is None:
            return []
        return el.findall(self._xp(rel), self.ns)

    def text(self, el: etree._Element | None, *rels: str) -> str | None:
        """Stripped text of the first of ``rels`` that exists and is not blank."""
        for rel in rels:
            node = self.find(el, rel)
            if node is not None and node.text and node.text.strip():
                return node.text.strip()
        return None

    def error(self, el: etree._Element, problem: str, fix: str) -> SourceDataError:
        return SourceDataError(f"{self.path}: {where(el)}: {problem}; {fix}")

    def amount(self, el: etree._Element) -> tuple[Decimal, str | None]:
        """``Amt`` element -> (unsigned Decimal, currency)."""
        raw = (el.text or "").strip()
        if not AMOUNT_RE.match(raw):
            raise self.error(
                el,
                f"amount {raw!r} is not an unsigned decimal with '.'",
                "the file is not a valid camt message - ask the bank for a corrected export",
            )
        try:
            return Decimal(raw), el.get("Ccy")
        except InvalidOperation:  # pragma: no cover - the regex already guards this
            raise self.error(el, f"amount {raw!r} cannot be read", "re-export the file") from None

    def day(self, el: etree._Element | None, rel: str) -> date | None:
        """``Dt`` or ``DtTm`` under ``el/rel`` as a calendar date (as written, offset ignored)."""
        holder = self.find(el, rel)
        if holder is None:
            return None
        node = self.find(holder, "Dt")
        if node is None:
            node = self.find(holder, "DtTm")
        if node is None or not (node.text or "").strip():
            return None
        raw = node.text.strip()
        try:
            return date.fromisoformat(raw[:10])
        except ValueError:
            raise self.error(
                node, f"date {raw!r} is not an ISO date", "the file is not a valid camt message - re-export it"
            ) from None


def parse_camt(path: Path, data: bytes) -> ParsedFile:
    """Parse a camt.053 / camt.054 / camt.052 document (UTF-8 or UTF-16).

    Args:
        path: The file, for messages and the result.
        data: Its bytes.

    Returns:
        The statements (notifications) with their lines.

    Raises:
        SourceDataError: Not well-formed XML, not a camt.05x namespace, or a value that cannot be read;
            the message names the file, the XPath/line and what to do.
    """
    if DTD_RE.search(text_head(data)):
        # ISO 20022 messages never carry a DTD: a DOCTYPE is an entity trick (XXE, billion laughs)
        # or not a bank file. Refused before libxml2 sees it (entities are never expanded anyway).
        raise SourceDataError(
            f"{path}: line 1: XML with DOCTYPE/entity declarations; a camt message never has one - "
            "the file is not a genuine bank statement, do not load it"
        )
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line = f"line {exc.lineno}" if exc.lineno else "somewhere"
        raise SourceDataError(
            f"{path}: {line}: not well-formed XML ({exc.msg}); the file is truncated or not a camt "
            "statement - download it again from the bank"
        ) from None
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.doctype:
        # ISO 20022 messages never carry a DTD: a DOCTYPE is an entity trick (XXE, billion laughs)
        # or not a bank file. Entities are never expanded anyway; the file is refused, not read.
        raise SourceDataError(
            f"{path}: line 1: XML with a DOCTYPE/entity declarations ({docinfo.doctype or 'internal DTD'}); "
            "a camt message never has one - the file is not a genuine bank statement, do not load it"
        )
    ns = etree.QName(root).namespace or ""
    m = NAMESPACE_RE.match(ns)
    if _local(root) != "Document" or not m:
        raise SourceDataError(
            f"{path}: /{_local(root)} (line {root.sourceline}): unknown namespace {ns!r}; expected an ISO 20022 "
            "camt.053 or camt.054 document (urn:iso:std:iso:20022:tech:xsd:camt.05N.001.NN) - "
            "check that this is a bank statement export"
        )
    msg, version = m.group(1), m.group(2)
    doc = _Doc(ns, path)
    message_tag, stmt_tag = MESSAGES[msg]
    message = doc.find(root, message_tag)
    if message is None:
        raise doc.error(
            root,
            f"no {message_tag} element under Document for a camt.{msg} message",
            "the file is not a valid camt message - re-export it",
        )
    statements = [_statement(doc, st, msg) for st in doc.findall(message, stmt_tag)]
    log.debug("%s: camt.%s.001.%s, %d statement(s)", path, msg, version, len(statements))
    return ParsedFile(path=path, format=f"camt.{msg}", statements=statements, version=f"camt.{msg}.001.{version}")


def _account(doc: _Doc, acct: etree._Element | None) -> str | None:
    return doc.text(acct, "Id/IBAN", "Id/Othr/Id")


def _statement(doc: _Doc, st: etree._Element, msg: str) -> Statement:
    acct = doc.find(st, "Acct")
    balances = []
    for bal in doc.findall(st, "Bal"):
        amt_el = doc.find(bal, "Amt")
        if amt_el is None:
            raise doc.error(bal, "balance without Amt", "the file is not a valid camt message - re-export it")
        amount, ccy = doc.amount(amt_el)
        sign = doc.text(bal, "CdtDbtInd")
        code = doc.text(bal, "Tp/CdOrPrtry/Cd", "Tp/CdOrPrtry/Prtry") or ""
        balances.append(Balance(code, -amount if sign == "DBIT" else amount, ccy, doc.day(bal, "Dt")))
    statement = Statement(
        account=_account(doc, acct),
        # the account's currency, else that of its booked balances (entries must be in it)
        currency=doc.text(acct, "Ccy") or _booked_currency(balances),
        statement_id=doc.text(st, "Id"),
        sequence=doc.text(st, "ElctrncSeqNb", "LglSeqNb"),
        opening=_pick_balance(balances, OPENING_CODES),
        closing=_pick_balance(balances, CLOSING_CODES),
        balances=balances,
        location=where(st),
    )
    for index, ntry in enumerate(doc.findall(st, "Ntry")):
        statement.entries.extend(_entry_lines(doc, statement, ntry, index, msg))
    return statement


def _booked_currency(balances: list[Balance]) -> str | None:
    currencies = {b.currency for b in balances if b.code in OPENING_CODES + CLOSING_CODES and b.currency}
    return currencies.pop() if len(currencies) == 1 else None


def _pick_balance(balances: list[Balance], codes: tuple[str, ...]) -> tuple[Decimal, date | None] | None:
    for code in codes:
        for b in balances:
            if b.code == code:
                return b.amount, b.date
    return None


def _party_name(doc: _Doc, holder: etree._Element | None, role: str) -> str | None:
    # v08+: RltdPties/Dbtr/Pty/Nm; v02-07: RltdPties/Dbtr/Nm
    return doc.text(holder, f"{role}/Pty/Nm", f"{role}/Nm")


def _tx_amount(doc: _Doc, tx: etree._Element) -> tuple[Decimal, str | None] | None:
    for rel in ("Amt", "AmtDtls/TxAmt/Amt", "AmtDtls/InstdAmt/Amt"):
        node = doc.find(tx, rel)
        if node is not None:
            return doc.amount(node)
    return None


def _entry_lines(doc: _Doc, st: Statement, ntry: etree._Element, index: int, msg: str) -> list[Entry]:
    amt_el = doc.find(ntry, "Amt")
    if amt_el is None:
        raise doc.error(ntry, "entry without Amt", "the file is not a valid camt message - re-export it")
    amount, ccy = doc.amount(amt_el)
    if ccy and st.currency and ccy != st.currency:
        # Ntry/Amt is always in the account's currency (a foreign amount goes in AmtDtls): an entry in
        # another currency is a forged or broken file, and its amount cannot move this account.
        raise doc.error(
            amt_el,
            f"entry amount in {ccy} on account {st.account} kept in {st.currency}",
            "the file is inconsistent - ask the bank for a corrected export",
        )
    ccy = ccy or st.currency
    if not ccy:
        raise doc.error(amt_el, "amount without Ccy and the account states no currency", "re-export the file")
    cd = doc.text(ntry, "CdtDbtInd")
    if cd not in ("CRDT", "DBIT"):
        raise doc.error(
            ntry,
            f"CdtDbtInd is {cd!r}, expected CRDT or DBIT",
            "the file is not a valid camt message - re-export it",
        )
    base = Entry(
        amount=amount,
        currency=ccy,
        credit_debit=cd,
        is_reversal=(doc.text(ntry, "RvslInd") or "").lower() in ("true", "1"),
        # .02-.07: <Sts>BOOK</Sts>; .08+: <Sts><Cd>BOOK</Cd></Sts>. The schema requires it; absent is
        # taken as booked in a statement (053) only: an intraday 052 line is booked only when it says so.
        status=(doc.text(ntry, "Sts/Cd", "Sts/Prtry", "Sts") or ("INFO" if msg == "052" else "BOOK")).upper(),
        booking_date=doc.day(ntry, "BookgDt"),
        value_date=doc.day(ntry, "ValDt"),
        entry_reference=doc.text(ntry, "NtryRef"),
        account_servicer_reference=doc.text(ntry, "AcctSvcrRef"),
        bank_transaction_code=_bank_tx_code(doc, ntry),
        additional_info=doc.text(ntry, "AddtlNtryInf"),
        entry_index=index,
    )
    txs = doc.findall(ntry, "NtryDtls/TxDtls")
    base.tx_count = len(txs)
    if not txs:
        base.remittance_text = base.additional_info
        return [_finish(st, base, None, base.account_servicer_reference)]
    details = [_tx_details(doc, tx) for tx in txs]
    if len(txs) == 1:
        return [_finish(st, _merge(base, details[0]), None, details[0].get("acct_ref"))]
    split = _split_amounts(doc, base, txs)
    if split is None:
        line = _merge(base, _combine(details))
        line.notes.append(
            f"batch of {len(txs)} transactions whose amounts are missing or do not add up to the entry "
            f"amount {amount} {ccy}; kept as one line"
        )
        return [_finish(st, line, None, None)]
    lines = []
    for i, (d, (tx_amount, tx_cd)) in enumerate(zip(details, split, strict=True)):
        line = _merge(base, d)
        line.amount, line.credit_debit, line.tx_index = tx_amount, tx_cd, i
        lines.append(_finish(st, line, i, d.get("acct_ref")))
    return lines


def _bank_tx_code(doc: _Doc, el: etree._Element) -> str | None:
    domain = doc.text(el, "BkTxCd/Domn/Cd")
    if domain:
        parts = [domain, doc.text(el, "BkTxCd/Domn/Fmly/Cd"), doc.text(el, "BkTxCd/Domn/Fmly/SubFmlyCd")]
        return "/".join(p for p in parts if p)
    return doc.text(el, "BkTxCd/Prtry/Cd")


def _split_amounts(doc: _Doc, base: Entry, txs: list[etree._Element]) -> list[tuple[Decimal, str]] | None:
    """Per-transaction (amount, CRDT|DBIT) when they exist and add up to the entry, else None."""
    split = []
    for tx in txs:
        found = _tx_amount(doc, tx)
        if found is None or (found[1] and found[1] != base.currency):
            return None
        split.append((found[0], doc.text(tx, "CdtDbtInd") or base.credit_debit))
    total = sum((a if c == "CRDT" else -a for a, c in split), Decimal(0))
    return split if total == base.signed_amount else None


def _tx_details(doc: _Doc, tx: etree._Element) -> dict:
    parties = doc.find(tx, "RltdPties")
    ustrd = [u.text.strip() for u in doc.findall(tx, "RmtInf/Ustrd") if u.text and u.text.strip()]
    refs, ref_types, docs, strd_info = [], [], [], []
    for strd in doc.findall(tx, "RmtInf/Strd"):
        ref = doc.text(strd, "CdtrRefInf/Ref")
        if ref:
            refs.append(ref)
            ref_types.append(doc.text(strd, "CdtrRefInf/Tp/CdOrPrtry/Cd", "CdtrRefInf/Tp/CdOrPrtry/Prtry"))
        docs += [n.text.strip() for n in doc.findall(strd, "RfrdDocInf/Nb") if n.text and n.text.strip()]
        strd_info += [n.text.strip() for n in doc.findall(strd, "AddtlRmtInf") if n.text and n.text.strip()]
    e2e = doc.text(tx, "Refs/EndToEndId")
    return {
        "acct_ref": doc.text(tx, "Refs/AcctSvcrRef"),
        "e2e": None if e2e == NOT_PROVIDED else e2e,
        "debtor": _party_name(doc, parties, "Dbtr"),
        "debtor_acct": _account(doc, doc.find(parties, "DbtrAcct")),
        "creditor": _party_name(doc, parties, "Cdtr"),
        "creditor_acct": _account(doc, doc.find(parties, "CdtrAcct")),
        "ultimate_debtor": _party_name(doc, parties, "UltmtDbtr"),
        "ustrd": " ".join(ustrd) or None,
        "strd_info": " ".join(strd_info) or None,
        "refs": refs,
        "ref_type": ref_types[0] if ref_types else None,
        "docs": docs,
        "addtl": doc.text(tx, "AddtlTxInf"),
        "return_reason": doc.text(tx, "RtrInf/Rsn/Cd", "RtrInf/Rsn/Prtry"),
        "instr": doc.text(tx, "Refs/InstrId"),
        "code": _bank_tx_code(doc, tx),
    }


def _combine(details: list[dict]) -> dict:
    """One detail record for a batch kept whole: shared values kept, texts joined."""

    def same(key: str) -> str | None:
        values = {d[key] for d in details}
        return values.pop() if len(values) == 1 else None

    def joined(key: str) -> str | None:
        seen = [d[key] for d in details if d[key]]
        return "; ".join(dict.fromkeys(seen)) or None

    keys = (
        "debtor",
        "debtor_acct",
        "creditor",
        "creditor_acct",
        "ultimate_debtor",
        "e2e",
        "return_reason",
        "instr",
        "code",
    )
    out = {k: same(k) for k in keys}
    out.update({k: joined(k) for k in ("ustrd", "strd_info", "addtl")})
    out["refs"] = [r for d in details for r in d["refs"]]
    out["ref_type"] = next((d["ref_type"] for d in details if d["ref_type"]), None)
    out["docs"] = [n for d in details for n in d["docs"]]
    out["acct_ref"] = None
    return out


def _merge(base: Entry, d: dict) -> Entry:
    line = Entry(**{k: v for k, v in vars(base).items() if k not in ("notes", "creditor_references")})
    line.notes = list(base.notes)
    line.payer_name, line.payer_account = d["debtor"], d["debtor_acct"]
    line.ultimate_debtor = d["ultimate_debtor"]
    # the other party: the debtor of money in, the creditor of money out; a reversal swaps them back
    money_in = (line.credit_debit == "CRDT") != line.is_reversal
    if money_in:
        line.counterparty_name, line.counterparty_account = d["debtor"], d["debtor_acct"]
    else:
        line.counterparty_name, line.counterparty_account = d["creditor"], d["creditor_acct"]
    line.creditor_references = list(d["refs"])
    line.creditor_reference = d["refs"][0] if d["refs"] else None
    line.creditor_reference_type = d["ref_type"]
    line.referred_documents = list(d["docs"])
    line.end_to_end_id = d["e2e"]
    line.return_reason = d["return_reason"]
    if line.is_reversal or line.return_reason:
        line.reversal_of = d["instr"] or d["e2e"]
    line.bank_transaction_code = d["code"] or base.bank_transaction_code
    line.additional_info = d["addtl"] or base.additional_info
    line.remittance_text = d["ustrd"] or d["strd_info"] or d["addtl"] or base.additional_info
    if d["acct_ref"]:
        line.account_servicer_reference = d["acct_ref"]
    return line


def _finish(st: Statement, line: Entry, tx_index: int | None, tx_ref: str | None) -> Entry:
    """Set the stable ``bank_txn_id``: transaction ref, else entry ref (+ index in a split).

    Lines with neither keep an empty id here: ``statement.assign_fallback_ids`` gives them a content
    id once the whole file is read (the occurrence number needs every line).
    """
    entry_ref = line.account_servicer_reference if tx_ref is None else None
    if tx_ref:
        line.bank_txn_id = tx_ref
    elif entry_ref:
        line.bank_txn_id = entry_ref if tx_index is None else f"{entry_ref}#{tx_index + 1}"
    else:
        line.bank_txn_id = ""
    return line

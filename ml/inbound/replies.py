"""Recognise what a customer's reply means: a promise to pay (with date and amount), a dispute, a claim
that the invoice is already paid, or just a reply. Spanish, English and Portuguese.

Superseded by :mod:`ml.inbound.reader` (13 intents, rules then a trained classifier, regional
entities), which the interactions builder and the opt-out reader use; this phrase-pattern reader is
kept as the baseline ``bench/reply_reader.py`` measures the new one against.

A business rule, so it lives here and not in the connectors. It is deliberately transparent (phrase
patterns, not a model): a collector can read why a reply was classified as it was, and a wrong
reading is fixed by editing a pattern list. Precedence: opt-out (read by ``ml.inbound.optouts``,
answered ``replied``) > dispute > paid claim > promise > reply, and a negated promise ("no podemos
pagar", "can't pay", "não vamos pagar") is never a promise.

Dates are resolved against the message date: ISO dates, ``dd/mm[/yyyy]`` (``mm/dd`` in English, or
when the second number cannot be a month), ``15 de marzo`` /
``March 15`` / ``15 março``, weekdays ("el viernes", "on Friday", "na sexta"), today/tomorrow, "in 5
days", "next week" and "end of the month". A date already past is moved to the next year only when
written without a year. Amounts need a currency marker (``$``, ``R$``, ``€``, ISO code) or an
explicit thousands/decimal pattern, so invoice numbers and days are not read as money.
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from ml.inbound.optouts import read_opt_out

OUTCOMES = ("promise_to_pay", "dispute", "paid_claim", "replied")


def _fold(text: str) -> str:
    """Lower case without accents (so 'mañana'/'manana' and 'não'/'nao' match alike)."""
    norm = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in norm if not unicodedata.combining(c))


_DISPUTE = [
    r"\bdisput\w*",
    r"\breclam\w*",
    r"\bno reconoc\w*",
    r"\bno reconozco\b",
    r"\bnao reconhec\w*",
    r"\bdon'?t recogni[sz]e\b",
    r"\bdo not recogni[sz]e\b",
    r"\b(factura|fatura|invoice)s? (es |esta |is |e |esta )?(incorrect|erronea|errada|wrong|equivocada)\w*",
    r"\b(wrong|incorrect) (amount|invoice|price|charge)\b",
    r"\b(monto|importe|valor) (incorrecto|errado|equivocado)\b",
    r"\berror en la factura\b",
    r"\berro na fatura\b",
    r"\bno corresponde\b",
    r"\bnao (recebemos|recebi)\b",
    r"\bno (recibimos|recibi)\b",
    r"\bnever (received|got)\b",
    r"\bovercharg\w*",
    r"\bcobro indebido\b",
    r"\bcobranca indevida\b",
    r"\b(defectuos|danad|damaged|defeituos|avariad)\w*",
    r"\bcontest\w* (a |la |the )?(fatura|factura|invoice|cobranca|cobro)",
]
_PAID = [
    r"\bya (pagamos|pague|pagado|realizamos el pago|hicimos el pago|transferimos|se pago)\b",
    r"\bpago (ya )?(realizado|efectuado|hecho)\b",
    r"\balready (paid|sent the payment|transferred)\b",
    r"\b(we|i) (have )?paid\b",
    r"\bpayment (was|has been) (sent|made)\b",
    r"\bja (pagamos|paguei|foi pago|efetuamos o pagamento|transferimos)\b",
    r"\bpagamento (ja )?(realizado|efetuado|feito)\b",
]
_PROMISE = [
    r"\b(pagaremos|pagare|pagamos el|vamos a pagar|voy a pagar|haremos el pago|realizaremos el pago)\b",
    r"\b(el pago se (hara|realizara)|transferiremos|depositaremos|te pago|les pago)\b",
    r"\b(will|'ll|shall|going to|gonna) (pay|transfer|send (the )?payment|settle)\b",
    r"\bpayment will be (made|sent)\b",
    r"\b(vamos pagar|vou pagar|pagaremos|pagarei|iremos pagar|faremos o pagamento|efetuaremos o pagamento)\b",
    r"\b(o pagamento sera (feito|realizado|efetuado)|transferiremos|depositaremos)\b",
]
_NEGATION = r"\b(no|not|can'?t|cannot|won'?t|unable to|nao|nunca|never)\b(\W+\w+){0,3}?\W*$"

_MONTHS = {
    **{
        m: i
        for i, m in enumerate(
            [
                "enero",
                "febrero",
                "marzo",
                "abril",
                "mayo",
                "junio",
                "julio",
                "agosto",
                "septiembre",
                "octubre",
                "noviembre",
                "diciembre",
            ],
            start=1,
        )
    },
    "setiembre": 9,
    **{
        m: i
        for i, m in enumerate(
            [
                "janeiro",
                "fevereiro",
                "marco",
                "abril",
                "maio",
                "junho",
                "julho",
                "agosto",
                "setembro",
                "outubro",
                "novembro",
                "dezembro",
            ],
            start=1,
        )
    },
    **{m.lower(): i for i, m in enumerate(calendar.month_name) if m},
    **{m.lower(): i for i, m in enumerate(calendar.month_abbr) if m},
}
_WEEKDAYS = {
    "lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4, "sabado": 5, "domingo": 6,
    "segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
}  # fmt: skip
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_CURRENCY = r"(?:us\$|r\$|s/\.?|\$|€|usd|mxn|cop|brl|eur|pen|clp|ars|reais|pesos|dolares|dollars|euros)"


@dataclass(frozen=True)
class ReplyReading:
    """What a reply says.

    Attributes:
        outcome: One of ``OUTCOMES`` (the ``interactions.outcome`` vocabulary).
        promised_date: Date promised (promise to pay only).
        promised_amount: Amount promised (promise to pay only).
        matched: The phrase that decided the outcome (for review).
    """

    outcome: str
    promised_date: date | None = None
    promised_amount: Decimal | None = None
    matched: str | None = None


def _first(patterns: list[str], text: str) -> re.Match[str] | None:
    hits = [m for p in patterns if (m := re.search(p, text))]
    return min(hits, key=lambda m: m.start()) if hits else None


def _negated(text: str, match: re.Match[str]) -> bool:
    """Whether a negation word comes up to three words before the match."""
    return re.search(_NEGATION, text[max(0, match.start() - 40) : match.start()]) is not None


def _safe_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def find_date(text: str, ref: date, language: str | None = None) -> date | None:
    """The first payment date mentioned in ``text`` (folded), resolved against ``ref``."""
    t = _fold(text)
    if m := re.search(r"\b(\d{4})-(\d{2})-(\d{2})\b", t):
        return _safe_date(int(m[1]), int(m[2]), int(m[3]))
    if m := re.search(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b", t):
        a, b = int(m[1]), int(m[2])
        us_style = (language == "en" and a <= 12) or b > 12
        month, day = (a, b) if us_style else (b, a)
        year = int(m[3]) + (2000 if m[3] and len(m[3]) == 2 else 0) if m[3] else ref.year
        found = _safe_date(year, month, day)
        if found and not m[3] and found < ref:
            found = _safe_date(year + 1, month, day)
        return found
    m = re.search(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:de\s+)?({_MONTH_RE})\b(?:\s+(?:de\s+)?(\d{{4}}))?", t)
    m2 = re.search(rf"\b({_MONTH_RE})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}}))?", t)
    if m or m2:
        day, month, year = (int(m[1]), _MONTHS[m[2]], m[3]) if m else (int(m2[2]), _MONTHS[m2[1]], m2[3])
        found = _safe_date(int(year) if year else ref.year, month, day)
        if found and not year and found < ref:
            found = _safe_date(ref.year + 1, month, day)
        return found
    if re.search(r"\bpasado manana\b|\bday after tomorrow\b|\bdepois de amanha\b", t):
        return ref + timedelta(days=2)
    if re.search(r"\b(manana|tomorrow|amanha)\b", t):
        return ref + timedelta(days=1)
    if re.search(r"\b(hoy|today|hoje)\b", t):
        return ref
    if m := re.search(r"\b(?:en|in|em|dentro de)\s+(\d{1,3})\s+(?:dias|days)\b", t):
        return ref + timedelta(days=int(m[1]))
    if re.search(r"\b(fin de mes|end of (the )?month|fim do mes|final do mes|final de mes)\b", t):
        return date(ref.year, ref.month, calendar.monthrange(ref.year, ref.month)[1])
    if re.search(r"\b(proxima semana|la semana que viene|next week|semana que vem)\b", t):
        return ref + timedelta(days=7 - ref.weekday())
    if m := re.search(r"\b(" + "|".join(_WEEKDAYS) + r")(?:-feira)?\b", t):
        ahead = (_WEEKDAYS[m[1]] - ref.weekday()) % 7 or 7
        return ref + timedelta(days=ahead)
    return None


def _to_decimal(raw: str, language: str | None) -> Decimal | None:
    s = raw.strip()
    if "," in s and "." in s:
        dec = "," if s.rfind(",") > s.rfind(".") else "."
    elif "," in s:
        dec = "," if re.search(r",\d{1,2}$", s) else None
    elif "." in s:
        dec = None if re.search(r"\.\d{3}$", s) and language in ("es", "pt") else "."
        if dec == "." and re.search(r"\.\d{3}$", s) and s.count(".") > 1:
            dec = None
    else:
        dec = None
    thousands = {",", "."} - ({dec} if dec else set())
    for sep in thousands:
        s = s.replace(sep, "")
    if dec:
        s = s.replace(dec, ".")
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def find_amount(text: str, language: str | None = None) -> Decimal | None:
    """The first amount with a currency marker (or clear separators) in ``text``."""
    t = _fold(text)
    num = r"(\d{1,3}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
    for pattern in (rf"{_CURRENCY}\s?{num}", rf"{num}\s?{_CURRENCY}"):
        if m := re.search(pattern, t):
            return _to_decimal(m[1].replace(" ", ""), language)
    if m := re.search(r"\b(\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{2})?)\b", t):
        return _to_decimal(m[1], language)
    return None


def read_reply(text: str | None, received: date, language: str | None = None) -> ReplyReading:
    """Classify one inbound message.

    Args:
        text: The message text (None for a non-text message, e.g. an image).
        received: The date the message arrived (relative dates resolve against it).
        language: ``es``/``en``/``pt`` when known (only disambiguates number and date formats).

    Returns:
        The reading; ``replied`` when nothing specific was recognised.
    """
    if not text or not text.strip():
        return ReplyReading("replied")
    if (opt_out := read_opt_out(text)) is not None:
        # An opt-out is a withdrawal of consent (ml.inbound.optouts), never a promise or a paid claim.
        return ReplyReading("replied", matched=opt_out.matched)
    t = _fold(text)
    if m := _first(_DISPUTE, t):
        return ReplyReading("dispute", matched=m[0])
    if m := _first(_PAID, t):
        return ReplyReading("paid_claim", matched=m[0])
    m = _first(_PROMISE, t)
    if m and not _negated(t, m):
        return ReplyReading(
            "promise_to_pay",
            promised_date=find_date(text, received, language),
            promised_amount=find_amount(text, language),
            matched=m[0],
        )
    return ReplyReading("replied")

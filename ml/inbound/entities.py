"""Dates, amounts and invoice numbers in a debtor's message, read the way people write them in es/en/pt.

Dates resolve against the message's own date (the sender's local day): ``15/12`` (``mm/dd`` in the US,
``dd/mm`` elsewhere), ``15-12``, ``15.12``, ISO dates, ``15 de diciembre`` / ``dia 15 de janeiro`` /
``December 15th`` / ``15 Dec``, weekdays ("el viernes", "na sexta", "next Friday": the next such
day strictly after the message), "mañana"/"amanhã"/"tomorrow", "pasado mañana", "hoy", "en 5 días",
"el día 20"/"dia 20"/"the 20th"/"antes del 20" (the next 20th on or after the message), "fin de
mes"/"fim do mês"/"end of the month" and "quincena" (the next 15th or month end). A date written
without a year that is more than two months past means next year's.

Amounts: "$ 1.250.000", "R$ 3.400,50", "USD 2,300.75", "S/ 1,200.50", "1.234,56 €", "£980.40",
"5 mil", "1,5M", "2 millones", "2.5k", "350 lucas"; the decimal mark is the last of ``.``/``,`` when
both appear, a lone mark followed by exactly three digits groups thousands. A number counts as
money only with a currency marker, a multiplier word or thousands grouping, so invoice numbers,
days, phone numbers and times are not read as money. ``$`` and "pesos" take the account's currency
(``currency_hint``); "R$" is BRL, "S/" PEN, "US$"/"USD"/"dólares" USD, "€"/"euros" EUR, "£" GBP.

Invoice references: codes as written (``INV-2025-00123``, ``FAC 4512``, ``NF 12345``, ``NF-e 881``,
``FT 2026/77``, ``F004512``) and the number after a word ("factura 123", "fatura nº 77", "invoice
#4471" -> ``123``, ``77``, ``4471``).

Pure functions on text (no I/O), a few regular expressions each: tens of thousands of messages a
second.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from ml.inbound.text import fold

_MONTHS: dict[str, int] = {}
for _names in (
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre",
    "janeiro fevereiro marco abril maio junho julho agosto setembro outubro novembro dezembro",
    "january february march april may june july august september october november december",
    "ene feb mar abr may jun jul ago sep oct nov dic",
    "jan fev mar abr mai jun jul ago set out nov dez",
    "jan feb mar apr may jun jul aug sept oct nov dec",
):
    for _i, _n in enumerate(_names.split(), start=1):
        _MONTHS.setdefault(_n, _i)
_MONTHS["setiembre"] = 9
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_WEEKDAYS = {
    "lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4, "sabado": 5, "domingo": 6,
    "segunda": 0, "terca": 1, "quarta": 2, "quinta": 3, "sexta": 4,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "mon": 0, "tues": 1, "tue": 1, "wed": 2, "thurs": 3, "thu": 3, "fri": 4,
}  # fmt: skip
_WEEKDAY_RE = "|".join(sorted(_WEEKDAYS, key=len, reverse=True))

_CURRENCIES = [
    (r"r\$", "BRL"), (r"us\$|u\$s|usd|dolares|dollars|bucks", "USD"), (r"s/\.?|soles|pen\b", "PEN"),
    (r"€|eur\b|euros?", "EUR"), (r"£|gbp|pounds|libras", "GBP"), (r"mxn", "MXN"), (r"cop\b", "COP"),
    (r"ars\b", "ARS"), (r"clp\b", "CLP"), (r"brl|reais", "BRL"), (r"pesos", "pesos"), (r"\$", "$"),
]  # fmt: skip
_CUR_RE = "|".join(p for p, _ in _CURRENCIES)
#: A number as written: grouped thousands ("1.250.000", "2,300", "1 500") with optional decimals, or plain.
_NUM = r"(?<![\d.,/])(?P<num>\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)(?![\d/]|[.,]\d)"
_NUM_SPACED = (
    r"(?P<num>\d{1,3}(?: \d{3})+(?:[.,]\d{1,2})?|\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d{1,2})?)"
    r"(?![\d/]|[.,]\d)"
)
_MULT = r"(?P<mult>mil|millones|millon|million|millions|mm|lucas|luca|palos|k|m)\b"
_MULTIPLIERS = {"mil": 1000, "k": 1000, "lucas": 1000, "luca": 1000, "m": 1_000_000, "mm": 1_000_000,
                "millones": 1_000_000, "millon": 1_000_000, "million": 1_000_000, "millions": 1_000_000,
                "palos": 1_000_000}  # fmt: skip


@dataclass(frozen=True)
class Amount:
    """An amount of money in a message: value, ISO currency (None when it cannot be told), the text."""

    value: Decimal
    currency: str | None
    text: str
    start: int
    end: int


def _decimal(raw: str) -> Decimal | None:
    s = raw.replace(" ", "")
    if "," in s and "." in s:
        dec = "," if s.rfind(",") > s.rfind(".") else "."
    elif "," in s or "." in s:
        mark = "," if "," in s else "."
        dec = None if s.count(mark) > 1 or re.search(rf"\{mark}\d{{3}}$", s) else mark
    else:
        dec = None
    for sep in {",", "."} - ({dec} if dec else set()):
        s = s.replace(sep, "")
    if dec:
        s = s.replace(dec, ".")
    try:
        return Decimal(s)
    except InvalidOperation:
        return None


def _currency(marker: str | None, hint: str | None, language: str | None) -> str | None:
    if not marker:
        return hint
    for pattern, code in _CURRENCIES:
        if re.fullmatch(pattern, marker):
            if code == "$":
                return hint or ("USD" if language == "en" else None)
            if code == "pesos":
                return hint if hint in ("MXN", "COP", "ARS", "CLP", "UYU", "DOP") else None
            return code
    return hint


_MONEY_BEFORE = re.compile(rf"(?P<cur>{_CUR_RE})\s?{_NUM_SPACED}(?:\s?{_MULT})?")
_MONEY_AFTER = re.compile(rf"{_NUM}(?:\s?{_MULT})?\s?(?:de\s)?(?P<cur>{_CUR_RE})")
_MONEY_MULT = re.compile(rf"{_NUM}\s?{_MULT}")
_MONEY_GROUPED = re.compile(r"(?<![\d.,/+])(?P<num>\d{1,3}(?:[.,]\d{3})+(?:[.,]\d{1,2})?)(?![\d/]|[.,]\d)")


def find_amounts(text: str, *, currency_hint: str | None = None, language: str | None = None) -> list[Amount]:
    """Every amount of money in ``text``, in order of appearance.

    Args:
        text: The message (its sender's own words).
        currency_hint: ISO currency of the account (what ``$`` and "pesos" mean).
        language: ``es``/``en``/``pt`` when known.
    """
    t = fold(text)
    found: list[Amount] = []
    taken: list[tuple[int, int]] = []
    for pattern in (_MONEY_BEFORE, _MONEY_AFTER, _MONEY_MULT, _MONEY_GROUPED):
        for m in pattern.finditer(t):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            value = _decimal(m["num"])
            groups = m.groupdict()
            mult = groups.get("mult")
            if value is None:
                continue
            if mult:
                if mult == "m" and not groups.get("cur") and not re.search(r"\d[.,]\d", m["num"]) and value < 1:
                    continue
                value *= _MULTIPLIERS[mult]
            if value <= 0:
                continue
            found.append(Amount(_clean_value(value),
                                _currency(groups.get("cur"), currency_hint, language), m[0].strip(), m.start(),
                                m.end()))  # fmt: skip
            taken.append((m.start(), m.end()))
    return sorted(found, key=lambda a: a.start)


def _clean_value(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1)) if value == value.to_integral() else value


# --- invoices ----------------------------------------------------------------------------------------

INVOICE_CODE = re.compile(
    r"(?<![\w-])((?:INV|FAC|FACT|FV|FE|FT|NFS-?e|NF-?e|NF|BOL|REC)(?:[ ]?[-#:/.º°]?[ ]?)\d[\d/-]*\d|F\d{4,})(?![\w])",
    re.IGNORECASE,
)
_INVOICE_WORD = re.compile(
    r"\b(?:factura|facturas|fatura|faturas|invoice|invoices|nota fiscal|nota|boleto|folio|bill|fact\.?)"
    r"\s*(?:n[°ºo.]*\s*|#\s*|numero\s*|nro\.?\s*|no\.?\s*|num\.?\s*)?(\d[\d/-]*\d|\d)\b",
    re.IGNORECASE,
)


def find_invoices(text: str) -> list[str]:
    """Invoice references in ``text``, in order, without repeats (codes as written, else the number)."""
    out: list[str] = []
    spans: list[tuple[int, int]] = []
    for m in INVOICE_CODE.finditer(text):
        code = re.sub(r"\s+", " ", m[1]).strip()
        prefix = re.match(r"[A-Za-z-]+", code)
        if prefix and prefix[0].lower() in ("fact", "fact."):
            continue  # "fact. 123" is the word form: the number alone
        code = (
            code[: prefix.end()].upper().replace("NF-E", "NF-e").replace("NFS-E", "NFS-e") + code[prefix.end() :]
            if prefix
            else code
        )
        out.append(code)
        spans.append(m.span())
    for m in _INVOICE_WORD.finditer(fold(text)):
        if any(m.start(1) < e and s < m.end(1) for s, e in spans):
            continue
        out.append(m[1])
    seen: set[str] = set()
    return [x for x in out if not (x in seen or seen.add(x))]


# --- dates -------------------------------------------------------------------------------------------


def _safe(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _no_year(found: date | None, ref: date) -> date | None:
    if found and found < ref - timedelta(days=60):
        return _safe(found.year + 1, found.month, found.day)
    return found


def _end_of_month(ref: date) -> date:
    return date(ref.year, ref.month, calendar.monthrange(ref.year, ref.month)[1])


def _next_day_of_month(ref: date, day: int) -> date | None:
    if not 1 <= day <= 31:
        return None
    y, m = ref.year, ref.month
    for _ in range(3):
        if day <= calendar.monthrange(y, m)[1] and date(y, m, day) >= ref:
            return date(y, m, day)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return None


_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_NUMERIC = re.compile(r"(?<![\d.,/$])(\d{1,2})([/.-])(\d{1,2})(?:\2(\d{4}|\d{2}))?(?![\d]|[.,]\d)")
_DAY_MONTH = re.compile(
    rf"\b(\d{{1,2}})(?:st|nd|rd|th|o|º)?\s+(?:de\s+|of\s+)?({_MONTH_RE})\b\.?(?:\s+(?:de\s+)?(\d{{4}}))?"
)
_MONTH_DAY = re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?\b(?!\s*(?:%|mil|k\b))(?:,?\s+(\d{{4}}))?")
_RELATIVE = [
    (re.compile(r"\b(?:pasado manana|depois de amanha|day after tomorrow)\b"), lambda r: r + timedelta(days=2)),
    (re.compile(r"(?<!\bla )(?<!\bpor la )(?<!\bde )\b(?:manana|amanha|tomorrow|tmrw|tomorow|tommorow|mñn)\b"),
     lambda r: r + timedelta(days=1)),
    (re.compile(r"\b(?:hoy|hoje|hj|today|tonight|esta noche|hoje a noite)\b"), lambda r: r),
    (re.compile(r"\b(?:fin de mes|fines de mes|finales de mes|final de mes|fin del mes|fim do mes|fim de mes|"
                r"final do mes|end of (?:the )?month|month[- ]end)\b"), _end_of_month),
    (re.compile(r"\bquincena\b"), lambda r: min(d for d in (_next_day_of_month(r, 15), _end_of_month(r)) if d)),
]  # fmt: skip
_PAYDAY = re.compile(r"\bquincena\b")
_NEGATED = re.compile(
    r"\b(?:no (?:puedo|podemos|alcanzo|llego|me alcanza)|not|can'?t|cannot|nao|n|unable to)\b[^.!?\d]{0,20}$"
)
_IN_DAYS = re.compile(r"\b(?:en|in|em|dentro de)\s+(\d{1,3})\s+(?:dias|days)\b")
_WEEKDAY = re.compile(rf"\b({_WEEKDAY_RE})(?:-feira| feira)?\b")
_DAY_OF_MONTH = re.compile(
    r"\b(?:el dia|el|dia|no dia|ate o dia|ate dia|antes del|antes do dia|on the|by the|the|para el)\s+"
    rf"(\d{{1,2}})(?:st|nd|rd|th)?\b(?!\s*(?:%|de\s+(?:{_MONTH_RE})\b|mil|k\b|x\b|vez|veces|cuotas|parcelas|pagos|dias|days|meses|h\b|hs|:))"
)


def find_dates(text: str, ref: date, *, country: str | None = None, language: str | None = None,
               skip: list[tuple[int, int]] | None = None) -> list[tuple[int, date]]:  # fmt: skip
    """Every date expression in ``text`` resolved against ``ref``: (position in the folded text, date).

    Args:
        text: The message.
        ref: The message's date (the sender's local day).
        country: ISO country of the sender when known (``US`` reads ``12/5`` as December 5).
        language: ``es``/``en``/``pt`` when known (English without a country reads ``mm/dd``).
        skip: Spans of the folded text already read as something else (amounts, invoice numbers).
    """
    t = fold(text)
    taken = list(skip or [])
    out: list[tuple[int, date]] = []

    def free(m: re.Match[str]) -> bool:
        return not any(m.start() < e and s < m.end() for s, e in taken)

    def add(m: re.Match[str], d: date | None) -> None:
        taken.append(m.span())
        if d:
            out.append((m.start(), d))

    for m in _ISO.finditer(t):
        if free(m):
            add(m, _safe(int(m[1]), int(m[2]), int(m[3])))
    us = country == "US" or (country is None and language == "en")
    for m in _NUMERIC.finditer(t):
        if not free(m):
            continue
        a, b = int(m[1]), int(m[3])
        if m[2] != "/" and not m[4] and (b > 12 or a > 31):
            continue
        month, day = (a, b) if (us and a <= 12) or b > 12 else (b, a)
        if month > 12:
            continue
        year = (int(m[4]) + (2000 if len(m[4]) == 2 else 0)) if m[4] else None
        found = _safe(year or ref.year, month, day)
        add(m, found if year else _no_year(found, ref))
    for pattern, order in ((_DAY_MONTH, "dm"), (_MONTH_DAY, "md")):
        for m in pattern.finditer(t):
            if not free(m):
                continue
            day, name = (int(m[1]), m[2]) if order == "dm" else (int(m[2]), m[1])
            if name in ("mar", "may", "set", "sept") and order == "md" and not re.match(rf"{name}\.?\s+\d", m[0]):
                continue
            found = _safe(int(m[3]) if m[3] else ref.year, _MONTHS[name], day)
            add(m, found if m[3] else _no_year(found, ref))
    for pattern, resolve in _RELATIVE:
        for m in pattern.finditer(t):
            if free(m):
                # "no puedo hoy, pero el viernes...": a day the sender rules out is not the date.
                negated = _NEGATED.search(t[max(0, m.start() - 30) : m.start()])
                add(m, None if negated else resolve(ref))
    for m in _IN_DAYS.finditer(t):
        if free(m):
            add(m, ref + timedelta(days=int(m[1])))
    for m in _WEEKDAY.finditer(t):
        if free(m):
            wd = _WEEKDAYS[m[1]]
            add(m, ref + timedelta(days=(wd - ref.weekday()) % 7 or 7))
    for m in _DAY_OF_MONTH.finditer(t):
        if free(m):
            add(m, _next_day_of_month(ref, int(m[1])))
    return sorted(out)


def promised_date(text: str, ref: date, **kwargs: object) -> date | None:
    """The payment date a promise names: the first date in the text that is not in the past (a payday
    such as "la quincena" only when no other date is written)."""
    dates = [d for _, d in find_dates(text, ref, **kwargs) if d >= ref]  # type: ignore[arg-type]
    if len(dates) > 1 and _PAYDAY.search(fold(text)):
        dates = [d for d in dates if d != _RELATIVE[-1][1](ref)] or dates
    return dates[0] if dates else None

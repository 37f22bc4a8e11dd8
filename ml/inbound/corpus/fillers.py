"""Slot fillers of the labelled reply corpus: regional dates and amounts with their true values.

Used only by :mod:`ml.inbound.corpus.write_corpus` (build-time tooling that wrote the committed
``*.jsonl``); the product never imports it. Every filler knows what it means: a date filler resolves
against the message's send date by the corpus conventions (a weekday is the next such day strictly
after the message; "day 20" is the next 20th on or after it; "end of month" is the month's last
day), an amount filler carries its Decimal value and currency (``$`` = the account's currency).
"""

# ruff: noqa: E501 - tables of regional forms

from __future__ import annotations

import calendar
import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

Resolver = Callable[[date], date]

_WEEKDAYS = {
    "es": ["lunes", "martes", "miércoles", "jueves", "viernes", "sábado"],
    "pt": ["segunda", "terça", "quarta", "quinta", "sexta", "sábado"],
    "en": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"],
}
_MONTHS = {
    "es": ["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre", "octubre",
           "noviembre", "diciembre"],
    "pt": ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro",
           "novembro", "dezembro"],
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December"],
}  # fmt: skip


def next_weekday(ref: date, wd: int) -> date:
    """The next ``wd`` (Monday=0) strictly after ``ref``."""
    return ref + timedelta(days=(wd - ref.weekday()) % 7 or 7)


def next_day_of_month(ref: date, day: int) -> date:
    """The next date on or after ``ref`` whose day of month is ``day``."""
    y, m = ref.year, ref.month
    for _ in range(3):
        if day <= calendar.monthrange(y, m)[1] and date(y, m, day) >= ref:
            return date(y, m, day)
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    raise ValueError(day)


def end_of_month(ref: date) -> date:
    """The last day of ``ref``'s month."""
    return date(ref.year, ref.month, calendar.monthrange(ref.year, ref.month)[1])


def date_filler(rng: random.Random, lang: str, country: str, ref: date) -> tuple[str, date]:
    """A way of writing a payment date in ``lang``/``country`` and the date it means."""
    kind = rng.choice(["tomorrow", "weekday", "weekday", "dm", "dom", "eom", "month_name", "in_days", "today"])
    if kind == "tomorrow":
        two = rng.random() < 0.2
        word = {"es": ("pasado mañana", "mañana"), "pt": ("depois de amanhã", "amanhã"),
                "en": ("the day after tomorrow", "tomorrow")}[lang][0 if two else 1]  # fmt: skip
        return word, ref + timedelta(days=2 if two else 1)
    if kind == "today":
        return {"es": "hoy", "pt": "hoje", "en": "today"}[lang], ref
    if kind == "weekday":
        wd = rng.randrange(6)
        name = _WEEKDAYS[lang][wd]
        if lang == "es":
            text = rng.choice([f"el {name}", f"este {name}", f"el próximo {name}", name])
        elif lang == "pt":
            text = rng.choice(
                [f"na {name}", f"{name}-feira" if wd < 5 else name, f"nessa {name}", f"na próxima {name}"]
            )
            if wd == 5:
                text = rng.choice(["no sábado", "sábado"])
        else:
            text = rng.choice([f"on {name}", f"this {name}", f"next {name}", f"by {name}"])
        return text, next_weekday(ref, wd)
    if kind == "dm":
        target = ref + timedelta(days=rng.randint(2, 40))
        if lang == "en" and country == "US":
            text = rng.choice([f"{target.month}/{target.day}", f"on {target.month}/{target.day}"])
        elif lang == "en":
            target = target if target.day > 12 else target + timedelta(days=13 - target.day)
            text = rng.choice([f"on {target.day}/{target.month}", f"{target.day:02d}/{target.month:02d}"])
        else:
            sep = rng.choice(["/", "/", "-", "."])
            year = rng.choice(["", "", f"/{target.year}", f"/{target.year % 100}"]) if sep == "/" else ""
            pre = {"es": rng.choice(["el ", "", "para el "]), "pt": rng.choice(["dia ", "no dia ", "até "])}[lang]
            text = f"{pre}{target.day:02d}{sep}{target.month:02d}{year}"
        return text, target
    if kind == "dom":
        day = rng.choice([5, 10, 15, 20, 25, 28, 30]) if rng.random() < 0.7 else rng.randint(1, 28)
        day = min(day, 28) if ref.month in (1, 2) else day
        text = {
            "es": rng.choice([f"el día {day}", f"el {day}", f"el dia {day}", f"antes del {day}"]),
            "pt": rng.choice([f"dia {day}", f"no dia {day}", f"até o dia {day}"]),
            "en": rng.choice([f"on the {day}{_ordinal(day)}", f"by the {day}{_ordinal(day)}"]),
        }[lang]
        return text, next_day_of_month(ref, day)
    if kind == "eom":
        text = {
            "es": rng.choice(["a fin de mes", "a fines de mes", "fin de mes", "a finales de mes"]),
            "pt": rng.choice(["no fim do mês", "até o final do mês", "final do mês"]),
            "en": rng.choice(["at the end of the month", "by end of month", "end of the month"]),
        }[lang]
        return text, end_of_month(ref)
    if kind == "month_name":
        target = ref + timedelta(days=rng.randint(5, 50))
        month = _MONTHS[lang][target.month - 1]
        if lang == "es":
            text = rng.choice([f"el {target.day} de {month}", f"el {target.day} de {month[:3]}"])
        elif lang == "pt":
            text = f"dia {target.day} de {month}"
        elif country == "US":
            text = rng.choice([f"on {month} {target.day}", f"{month[:3]} {target.day}{_ordinal(target.day)}"])
        else:
            text = rng.choice([f"on {target.day} {month}", f"{target.day}{_ordinal(target.day)} {month[:3]}"])
        return text, target
    n = rng.choice([2, 3, 5, 7, 10, 15])
    text = {"es": rng.choice([f"en {n} días", f"dentro de {n} dias"]), "pt": f"em {n} dias",
            "en": f"in {n} days"}[lang]  # fmt: skip
    return text, ref + timedelta(days=n)


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


#: Account currency of each country (what a bare ``$`` or "pesos" means there).
CURRENCY = {"MX": "MXN", "CO": "COP", "AR": "ARS", "CL": "CLP", "PE": "PEN", "ES": "EUR", "BR": "BRL", "PT": "EUR",
            "US": "USD", "GB": "GBP"}  # fmt: skip


def _grouped(n: int, sep: str) -> str:
    return f"{n:,}".replace(",", sep)


def amount_filler(rng: random.Random, lang: str, country: str) -> tuple[str, Decimal, str]:
    """A regional way of writing an amount, its value and its ISO currency."""
    cur = CURRENCY[country]
    if country in ("CO", "CL", "AR"):
        n = rng.choice([350_000, 1_250_000, 2_500_000, 480_000, 5_000_000, 875_500, 120_000])
        if country == "AR":
            n //= 10
        styles = [
            (f"$ {_grouped(n, '.')}", Decimal(n)),
            (f"${_grouped(n, '.')}", Decimal(n)),
            (f"{_grouped(n, '.')} pesos", Decimal(n)),
        ]
        if n % 1_000_000 == 0 or n % 500_000 == 0:
            m = Decimal(n) / Decimal(1_000_000)
            styles.append((f"{str(m).replace('.', ',')} millones", Decimal(n)))
            styles.append((f"{str(m).replace('.', ',')}M", Decimal(n)))
        if n % 1000 == 0:
            styles.append((f"{n // 1000} mil", Decimal(n)))
        text, value = rng.choice(styles)
        return text, value, cur
    if country == "MX":
        n = rng.choice([12_500, 8_300, 45_000, 3_750, 120_000, 19_999])
        cents = rng.choice(["", ".00", ".50"])
        styles = [(f"${_grouped(n, ',')}{cents}", Decimal(f"{n}{cents or ''}")),
                  (f"$ {_grouped(n, ',')}", Decimal(n)), (f"{_grouped(n, ',')} pesos", Decimal(n))]  # fmt: skip
        if n % 1000 == 0:
            styles.append((f"{n // 1000} mil pesos", Decimal(n)))
        text, value = rng.choice(styles)
        return text, value, cur
    if country == "PE":
        n = rng.choice([2_300, 1_500, 12_800, 650, 4_200])
        text, value = rng.choice([(f"S/ {_grouped(n, ',')}.50", Decimal(f"{n}.50")), (f"S/. {_grouped(n, ',')}", Decimal(n)),
                                  (f"{n} soles", Decimal(n))])  # fmt: skip
        return text, value, cur
    if country in ("ES", "PT"):
        n = rng.choice([1_234, 2_500, 980, 15_600, 7_450])
        text, value = rng.choice([(f"{_grouped(n, '.')},56 €", Decimal(f"{n}.56")), (f"{_grouped(n, '.')} euros", Decimal(n)),
                                  (f"€{_grouped(n, '.')},00", Decimal(n)), (f"{_grouped(n, '.')}€", Decimal(n))])  # fmt: skip
        return text, value, cur
    if country == "BR":
        n = rng.choice([3_400, 5_000, 12_750, 890, 25_000])
        styles = [(f"R$ {_grouped(n, '.')},50", Decimal(f"{n}.50")), (f"R${_grouped(n, '.')},00", Decimal(n)),
                  (f"{_grouped(n, '.')} reais", Decimal(n))]  # fmt: skip
        if n % 1000 == 0:
            styles.append((f"R$ {n // 1000} mil", Decimal(n)))
        if n % 500 == 0 and n >= 1000:
            styles.append((f"{str(Decimal(n) / 1000).replace('.', ',')} mil reais", Decimal(n)))
        text, value = rng.choice(styles)
        return text, value, cur
    if country == "US":
        n = rng.choice([2_300, 12_400, 980, 45_000, 7_500])
        styles = [(f"${_grouped(n, ',')}.75", Decimal(f"{n}.75")), (f"USD {_grouped(n, ',')}.00", Decimal(n)),
                  (f"${_grouped(n, ',')}", Decimal(n)), (f"{_grouped(n, ',')} dollars", Decimal(n))]  # fmt: skip
        if n % 500 == 0:
            styles.append((f"{str(Decimal(n) / 1000).rstrip('0').rstrip('.')}k", Decimal(n)))
        text, value = rng.choice(styles)
        return text, value, "USD"
    n = rng.choice([1_250, 980, 14_300, 6_000])
    text, value = rng.choice([(f"£{_grouped(n, ',')}", Decimal(n)), (f"£ {_grouped(n, ',')}.40", Decimal(f"{n}.40")),
                              (f"GBP {_grouped(n, ',')}", Decimal(n)), (f"{_grouped(n, ',')} pounds", Decimal(n))])  # fmt: skip
    return text, value, "GBP"


def invoice_filler(rng: random.Random, lang: str, country: str) -> tuple[str, str]:
    """An invoice reference as debtors write it, and the number the reader must return."""
    n = rng.randint(100, 99999)
    if country == "BR":
        choices = [(f"NF {n}", f"NF {n}"), (f"nota fiscal {n}", f"{n}"), (f"NF-e {n}", f"NF-e {n}"),
                   (f"boleto {n}", f"{n}")]  # fmt: skip
    elif lang == "es":
        choices = [(f"factura {n}", f"{n}"), (f"FAC {n}", f"FAC {n}"), (f"FAC-{n}", f"FAC-{n}"),
                   (f"factura N° {n}", f"{n}"), (f"la fact. {n}", f"{n}"), (f"F{n:06d}", f"F{n:06d}")]  # fmt: skip
    elif lang == "pt":
        choices = [(f"fatura {n}", f"{n}"), (f"FT {n}", f"FT {n}"), (f"fatura nº {n}", f"{n}")]
    else:
        choices = [(f"invoice {n}", f"{n}"), (f"INV-2026-{n:05d}", f"INV-2026-{n:05d}"), (f"invoice #{n}", f"{n}"),
                   (f"INV{n}", f"INV{n}")]  # fmt: skip
    return rng.choice(choices)

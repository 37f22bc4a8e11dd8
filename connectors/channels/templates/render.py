"""Render collection messages from Jinja2 templates per language (es, en, pt), locale-formatted.

Templates live next to this module in ``<language>/``: ``subject.txt.j2``, ``email.html.j2``,
``message.txt.j2`` (plain-text email alternative and WhatsApp), ``sms.txt.j2`` and ``task.txt.j2``
(call task / dispute review note for a collector). They run in a Jinja2
:class:`~jinja2.sandbox.SandboxedEnvironment` (templates may one day be edited by finance users)
with autoescaping on for ``.html.j2`` only; plain-text templates are not escaped.

Names and invoice numbers are data, never template source: they are passed as values, so ``{{ 7*7 }}``
or ``{% include %}`` in a customer name is printed as written (and the sandbox would refuse attribute
tricks in the templates themselves). They are cleaned first (:func:`plain_text`): control characters
become spaces (a line break in a name cannot split an e-mail subject into a second header), zero-width
and bidirectional-override characters are dropped (a name cannot make the amount read backwards in a
text message), whitespace is collapsed and very long values are cut.

Amounts are :class:`~decimal.Decimal` and are formatted with Babel (``format_currency``) in the
customer's locale built from language and country (``es_CO``, ``pt_BR``, ``en_US``...); dates with
``format_date``. Anything formatted is computed in Python and passed as strings, so templates hold no
formatting logic. A language we have no templates for falls back to Spanish (English for English-
and non-Spanish-speaking countries, Portuguese for Brazil and Portugal) and says so in the result.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from babel import Locale, localedata
from babel.dates import format_date
from babel.numbers import NumberPattern
from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape
from jinja2.sandbox import SandboxedEnvironment

logger = logging.getLogger(__name__)

TEMPLATE_DIR = Path(__file__).parent
SUPPORTED_LANGUAGES = ("es", "en", "pt")
#: Locale used when ``<language>_<country>`` is not a Babel locale.
DEFAULT_LOCALE = {"es": "es_MX", "en": "en_US", "pt": "pt_BR"}
_SPANISH_COUNTRIES = frozenset("AR BO CL CO CR CU DO EC ES GQ GT HN MX NI PA PE PR PY SV UY VE".split())
_PORTUGUESE_COUNTRIES = frozenset({"BR", "PT", "AO", "MZ"})
#: Any whitespace character (``re``'s ``\s`` on str is exactly ``str.isspace``).
_WHITESPACE = re.compile(r"\s")
#: Template used per action; written channels take the action name.
_BODY_TEMPLATE = {
    "email": "email.html.j2",
    "whatsapp": "message.txt.j2",
    "sms": "sms.txt.j2",
    "call_task": "task.txt.j2",
    "dispute_review": "task.txt.j2",
    "alert_review": "task.txt.j2",  # an early-warning alert for a person (ml.alerts)
}


@dataclass(frozen=True)
class RenderedMessage:
    """A rendered message.

    Attributes:
        subject: Subject line (email subject, task title; also set for chat channels).
        body: What the channel sends: HTML for email, plain text otherwise.
        body_text: Plain-text version (email alternative part; same as ``body`` for text channels).
        language: Language actually used.
        locale: Babel locale used for amounts and dates.
        language_fallback: True if the requested language had no templates.
    """

    subject: str
    body: str
    body_text: str
    language: str
    locale: str
    language_fallback: bool


def resolve_language(language: str | None, country: str | None) -> tuple[str, bool]:
    """Language to render in and whether it is a fallback.

    Args:
        language: Requested language (``es``, ``en``, ``pt``; case-insensitive, ``es-CO`` accepted).
        country: Customer's ISO country, used to choose the fallback.

    Returns:
        ``(language, is_fallback)``.
    """
    lang = (language or "").strip().lower().replace("-", "_").split("_")[0]
    if lang in SUPPORTED_LANGUAGES:
        return lang, False
    cc = (country or "").upper()
    if cc in _PORTUGUESE_COUNTRIES:
        fallback = "pt"
    elif cc in _SPANISH_COUNTRIES:
        fallback = "es"
    else:
        fallback = "en"
    logger.debug("no templates for language %r (country %r); falling back to %s", language, country, fallback)
    return fallback, True


@lru_cache(maxsize=1024)
def resolve_locale(language: str, country: str | None) -> str:
    """Babel locale for a supported language and a country, e.g. ``("es", "CO") -> "es_CO"``.

    Cached: Babel answers an unknown locale (``en_MX``) by normalising against its whole locale list.
    """
    candidate = f"{language}_{(country or '').upper()}"
    if country and localedata.exists(candidate):
        return candidate
    return DEFAULT_LOCALE[language]


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """The shared sandboxed Jinja2 environment (autoescape for HTML templates only).

    Templates ship with the package, so compiled ones are not re-checked against the files
    (``auto_reload=False``): Jinja would otherwise stat the template file on every render.
    """
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        auto_reload=False,
        autoescape=select_autoescape(enabled_extensions=("html", "html.j2"), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


#: Longest name printed in a message (a CRM field may hold anything; a subject line should not).
MAX_NAME = 120


def plain_text(value: Any, limit: int = MAX_NAME) -> str:
    """A data value made safe to print in any message: one line, no invisible characters, bounded.

    Control characters (line breaks, escapes) become spaces; format characters (zero-width spaces and
    joiners, bidirectional embeddings, overrides and isolates) are dropped; whitespace is collapsed;
    values longer than ``limit`` are cut with an ellipsis. Letters of any script are kept.
    """
    if value is None:
        return ""
    text = "".join(" " if unicodedata.category(c) == "Cc" else c for c in str(value) if unicodedata.category(c) != "Cf")
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "\u2026"


def _decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        return Decimal(value)
    raise TypeError(f"amount {value!r} must be Decimal, int or str, not {type(value).__name__}")


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def safe_link(link: Any) -> str:
    """The payment link if it is an http(s) URL, else ``""`` (no ``javascript:`` or ``data:`` links)."""
    text = str(link or "").strip()
    if text and urlsplit(text).scheme.lower() in ("https", "http") and not _WHITESPACE.search(text):
        return text
    if text:
        logger.warning("dropping payment link with unsupported scheme: %r", text[:40])
    return ""


@lru_cache(maxsize=256)
def _currency_format(locale: str) -> tuple[Locale, NumberPattern]:
    parsed = Locale.parse(locale)
    return parsed, parsed.currency_formats["standard"]


def money(amount: Any, currency: str, locale: str) -> str:
    """Format a Decimal amount in ``currency`` for ``locale`` (Babel's CLDR rules).

    What ``babel.numbers.format_currency`` does for the standard format, with the parsed locale and
    its pattern kept per locale instead of looked up again for every amount.
    """
    parsed, pattern = _currency_format(locale)
    return pattern.apply(
        _decimal(amount),
        parsed,
        currency=currency,
        currency_digits=True,
        decimal_quantization=True,
        group_separator=True,
        numbering_system="latn",
    )


def build_context(data: Mapping[str, Any], language: str, locale: str) -> dict[str, Any]:
    """Template variables: raw fields plus pre-formatted amounts and dates.

    Args:
        data: Task payload / decision row: customer_name, contact_name, currency, amount_at_stake,
            invoices (invoice_id, number, due_date, amount_open, days_past_due), payment_link,
            action, channel.
        language: Language being rendered.
        locale: Babel locale.

    Returns:
        Dict for the templates.
    """
    currency = str(data["currency"])
    invoices = sorted(data.get("invoices") or [], key=lambda i: (_date(i["due_date"]), str(i["number"])))
    rows = [
        {
            "number": plain_text(inv["number"], 60),
            "due_date": format_date(_date(inv["due_date"]), format="medium", locale=locale),
            "amount": money(inv["amount_open"], currency, locale),
            "days_past_due": int(inv["days_past_due"]),
        }
        for inv in invoices
    ]
    return {
        "customer_name": plain_text(data.get("customer_name")),
        "contact_name": plain_text(data.get("contact_name")),
        "total": money(data["amount_at_stake"], currency, locale),
        "currency": currency,
        "invoices": rows,
        "n_invoices": len(rows),
        "max_days_past_due": max((r["days_past_due"] for r in rows), default=0),
        "payment_link": safe_link(data.get("payment_link")),
        "action": data.get("action") or "",
        "channel": data.get("channel") or "",
        "language": language,
    }


def render_message(action: str, data: Mapping[str, Any]) -> RenderedMessage:
    """Render the consolidated message for one customer.

    Args:
        action: ``email``, ``whatsapp``, ``sms``, ``call_task`` or ``dispute_review``.
        data: Decision row or task payload (see :func:`build_context`), with ``language`` and
            ``country``.

    Returns:
        The rendered message.

    Raises:
        ValueError: For an action that has no template.
    """
    if data.get("reply_body"):
        return render_reply(data)
    if action not in _BODY_TEMPLATE:
        raise ValueError(f"no template for action {action!r}; expected one of {sorted(_BODY_TEMPLATE)}")
    language, fallback = resolve_language(data.get("language"), data.get("country"))
    locale = resolve_locale(language, data.get("country"))
    ctx = build_context({**data, "action": action}, language, locale)
    env = environment()
    subject = env.get_template(f"{language}/subject.txt.j2").render(ctx).strip()
    body = env.get_template(f"{language}/{_BODY_TEMPLATE[action]}").render(ctx).strip()
    text = body if action != "email" else env.get_template(f"{language}/message.txt.j2").render(ctx).strip()
    return RenderedMessage(subject, body, text, language, locale, fallback)


def render_reply(data: Mapping[str, Any]) -> RenderedMessage:
    """A message written whole by the debtor-side agent (``ml.agent``): ``reply_body`` sent as it is.

    The agent renders its replies itself (sandboxed, every value data); here the text only gets the
    channel's form: control and invisible characters dropped line by line, HTML-escaped paragraphs
    for an e-mail. ``reply_subject`` is the subject (e-mail, task title).
    """
    from html import escape

    language, fallback = resolve_language(data.get("language"), data.get("country"))
    locale = resolve_locale(language, data.get("country"))
    lines = [plain_text(line, 2000) for line in str(data["reply_body"]).splitlines()]
    text = "\n".join(lines).strip()
    subject = plain_text(data.get("reply_subject") or "", 200)
    body = text
    if data.get("channel") == "email":
        body = "".join(f"<p>{escape(line)}</p>" for line in lines if line)
    return RenderedMessage(subject, body, text, language, locale, fallback)

"""Rendering per language with Babel locale formatting, escaping and fallbacks."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from jinja2.sandbox import SandboxedEnvironment

from connectors.channels.templates.render import (
    environment,
    money,
    render_message,
    resolve_language,
    resolve_locale,
)

NBSP = "\xa0"


@pytest.mark.parametrize(
    ("locale", "currency", "expected"),
    [
        ("es_CO", "COP", "$1.234.567,89"),
        ("es_MX", "MXN", "$1,234,567.89"),
        ("es_ES", "EUR", f"1.234.567,89{NBSP}€"),
        ("es_AR", "ARS", "$1.234.567,89"),
        ("es_PE", "PEN", f"S/{NBSP}1,234,567.89"),
        ("es_CL", "CLP", "$1.234.568"),  # CLP has no minor unit
        ("en_US", "USD", "$1,234,567.89"),
        ("pt_BR", "BRL", f"R${NBSP}1.234.567,89"),
    ],
)
def test_money_per_locale(locale, currency, expected) -> None:
    assert money(Decimal("1234567.89"), currency, locale) == expected


def test_money_rejects_float() -> None:
    with pytest.raises(TypeError):
        money(1234.5, "USD", "en_US")


def data(language: str, country: str, currency: str, **kw):
    base = {
        "customer_name": "Acme <Ltda> & Co",
        "contact_name": "Ana",
        "language": language,
        "country": country,
        "currency": currency,
        "amount_at_stake": "1234577.89",
        "invoices": [
            {
                "invoice_id": "2",
                "number": "F-002",
                "due_date": "2026-02-25",
                "amount_open": "10.00",
                "days_past_due": 5,
            },
            {
                "invoice_id": "1",
                "number": "F-001",
                "due_date": date(2026, 1, 16),
                "amount_open": Decimal("1234567.89"),
                "days_past_due": 45,
            },
        ],
        "payment_link": "https://pay.example.com/i?a=1&b=2",
    }
    return base | kw


@pytest.mark.parametrize(
    ("language", "country", "currency", "total", "due", "words"),
    [
        ("es", "CO", "COP", "$1.234.577,89", "16/01/2026", ("facturas vencidas", "Estimado/a Ana")),
        ("es", "MX", "MXN", "$1,234,577.89", "16 ene 2026", ("facturas vencidas", "Atentamente")),
        ("en", "US", "USD", "$1,234,577.89", "Jan 16, 2026", ("overdue invoices", "Dear Ana")),
        ("pt", "BR", "BRL", f"R${NBSP}1.234.577,89", "16 de jan. de 2026", ("faturas vencidas", "Prezado(a) Ana")),
    ],
)
def test_email_in_each_language(language, country, currency, total, due, words) -> None:
    msg = render_message("email", data(language, country, currency))
    assert msg.language == language and msg.locale == f"{language}_{country}" and not msg.language_fallback
    assert total in msg.subject and "Acme <Ltda> & Co" in msg.subject  # subject is plain text
    assert total in msg.body and due in msg.body
    assert "Acme &lt;Ltda&gt; &amp; Co" in msg.body and "<Ltda>" not in msg.body  # HTML autoescaped
    assert 'href="https://pay.example.com/i?a=1&amp;b=2"' in msg.body
    assert msg.body.index("F-001") < msg.body.index("F-002")  # oldest first
    for w in words:
        assert w in msg.body_text
    assert "<" not in msg.body_text.replace("<Ltda>", "")


@pytest.mark.parametrize("action", ["whatsapp", "sms", "call_task", "dispute_review"])
@pytest.mark.parametrize("language", ["es", "en", "pt"])
def test_every_action_renders_in_every_language(action, language) -> None:
    msg = render_message(action, data(language, "CO", "COP"))
    assert msg.subject and msg.body
    assert "Acme <Ltda> & Co" in msg.body  # text channels are not HTML-escaped
    if action == "sms":
        assert "F-001" not in msg.body and len(msg.body) < 320
    else:
        assert "F-001" in msg.body and "F-002" in msg.body


def test_empty_or_unsafe_payment_link_is_omitted() -> None:
    for link in ("", None, "javascript:alert(1)"):
        msg = render_message("email", data("es", "CO", "COP", payment_link=link))
        assert "href" not in msg.body and "en línea" not in msg.body
        sms = render_message("sms", data("es", "CO", "COP", payment_link=link))
        assert "Pague aquí" not in sms.body


def test_single_invoice_wording() -> None:
    d = data("es", "CO", "COP")
    d["invoices"] = d["invoices"][:1]
    assert "1 factura vencida" in render_message("email", d).subject


@pytest.mark.parametrize(
    ("language", "country", "expected"),
    [
        ("fr", "CO", ("es", True)),
        (None, "MX", ("es", True)),
        ("de", "US", ("en", True)),
        ("", "BR", ("pt", True)),
        ("es-CO", "CO", ("es", False)),
        ("PT", "BR", ("pt", False)),
    ],
)
def test_language_fallback(language, country, expected) -> None:
    assert resolve_language(language, country) == expected


def test_fallback_is_visible_in_the_result() -> None:
    msg = render_message("email", data("fr", "CO", "COP"))
    assert msg.language == "es" and msg.language_fallback is True


def test_locale_resolution() -> None:
    assert resolve_locale("es", "CL") == "es_CL"
    assert resolve_locale("es", "PE") == "es_PE"
    assert resolve_locale("en", "CO") == "en_US"  # no en_CO locale in CLDR
    assert resolve_locale("pt", "CO") == "pt_BR"  # no pt_CO locale in CLDR
    assert resolve_locale("es", None) == "es_MX"


def test_sandboxed_and_unknown_action() -> None:
    assert isinstance(environment(), SandboxedEnvironment)
    with pytest.raises(ValueError, match="no template"):
        render_message("fax", data("es", "CO", "COP"))

"""Adversarial corpus, templates and the KPI report: hostile text in names, notes, links and labels.

Message templates (``connectors.channels.templates.render``): a customer, contact or invoice number
written as Jinja (``{{ 7*7 }}``, ``{% for %}``, sandbox escapes), HTML, a line break, bidirectional
overrides, zero-width characters, 10,000 characters, or a language/country we have no data for. The
outcome ``landed_once`` means the message renders once and shows the text literally (escaped in the
HTML e-mail, one line in the subject); ``refused`` means the unsafe part is refused (a ``javascript:``
link is dropped, a float amount or an unknown action raises).

The KPI report (``cobranza.report``) is built from a copy of the session's profile-S warehouse in
which the riskiest customers are renamed to hostile names (``<script>``, ``$\\frac{$``, ``{{ }}``,
``%``, backslashes, RTL, very long) and the segments to hostile labels (matplotlib mathtext,
HTML); the build must succeed (it stopped on mathtext before), show every name literally in the
page and the charts, and add no element or script of its own.
"""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import duckdb
import pytest
from lxml import html as lxml_html

from connectors.channels.templates.render import MAX_NAME, render_message
from tests.adversarial.corpus import Case, case_ids

T = "templates_report"


def message(**kw) -> dict:
    base = {
        "customer_name": "Acme Ltda",
        "contact_name": "Ana",
        "language": "es",
        "country": "CO",
        "currency": "COP",
        "amount_at_stake": "1250.00",
        "invoices": [
            {
                "invoice_id": "1",
                "number": "F-001",
                "due_date": date(2026, 1, 16),
                "amount_open": Decimal("1250.00"),
                "days_past_due": 45,
            },
        ],  # fmt: skip
        "payment_link": "https://pay.example.com/i/1",
    }
    return base | kw


LONG = "Distribuidora " + "muy larga " * 1000
TEMPLATE_CASES: list[Case] = [
    Case("tpl-name-jinja-expression", T, "landed_once", "customer name {{ 7*7 }}",
         {"data": message(customer_name="{{ 7*7 }}"), "literal": "{{ 7*7 }}", "absent": "49"}),
    Case("tpl-name-jinja-statement", T, "landed_once", "customer name with a {% for %} loop",
         {"data": message(customer_name="{% for i in range(10**9) %}x{% endfor %}"),
          "literal": "{% for i in range(10**9) %}x{% endfor %}"}),
    Case("tpl-name-sandbox-escape", T, "landed_once", "customer name reaching for __subclasses__",
         {"data": message(customer_name="{{ ''.__class__.__mro__[1].__subclasses__() }}"),
          "literal": "{{ ''.__class__.__mro__[1].__subclasses__() }}", "absent": "<class"}),
    Case("tpl-contact-jinja-config", T, "landed_once", "contact name {{ config }} / {{ self }}",
         {"data": message(contact_name="{{ config }}{{ self.__init__.__globals__ }}"),
          "literal": "{{ config }}{{ self.__init__.__globals__ }}"}),
    Case("tpl-invoice-number-jinja", T, "landed_once", "invoice number {{ lipsum.__globals__ }}",
         {"data": message(invoices=[{"invoice_id": "1", "number": "{{ lipsum.__globals__ }}", "due_date": "2026-01-16",
                                     "amount_open": "1250.00", "days_past_due": 45}]),
          "literal": "{{ lipsum.__globals__ }}"}),
    Case("tpl-name-html-script", T, "landed_once", "customer name <script>alert(1)</script> in the HTML e-mail",
         {"data": message(customer_name="<script>alert(1)</script>"), "literal": "<script>alert(1)</script>",
          "html_escaped": "&lt;script&gt;alert(1)&lt;/script&gt;"}),
    Case("tpl-contact-html-attribute-break", T, "landed_once", "contact name breaking out of an attribute",
         {"data": message(contact_name='"><img src=x onerror=alert(1)>'), "literal": '"><img src=x onerror=alert(1)>',
          "html_escaped": "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"}),
    Case("tpl-invoice-number-html", T, "landed_once", "invoice number <b>F-1</b>",
         {"data": message(invoices=[{"invoice_id": "1", "number": "<b>F-1</b>", "due_date": "2026-01-16",
                                     "amount_open": "1250.00", "days_past_due": 45}]),
          "literal": "<b>F-1</b>", "html_escaped": "&lt;b&gt;F-1&lt;/b&gt;"}),
    Case("tpl-link-javascript", T, "refused", "payment link javascript:alert(1)",
         {"data": message(payment_link="javascript:alert(1)"), "no_link": True}),
    Case("tpl-link-data-url", T, "refused", "payment link data:text/html",
         {"data": message(payment_link="data:text/html;base64,PHNjcmlwdD4="), "no_link": True}),
    Case("tpl-link-with-whitespace", T, "refused", "payment link with a space and a second URL",
         {"data": message(payment_link="https://pay.example.com/ https://evil.example"), "no_link": True}),
    Case("tpl-name-crlf-header", T, "landed_once", "customer name with CRLF and a Bcc header",
         {"data": message(customer_name="Acme\r\nBcc: victim@evil.example"), "literal": "Acme Bcc: victim@evil.example",
          "one_line_subject": True}),
    Case("tpl-name-bidi-override", T, "landed_once", "customer name with U+202E (reads the amount backwards)",
         {"data": message(customer_name="Acme \u202e0001 USD"), "literal": "Acme 0001 USD", "absent": "\u202e"}),
    Case("tpl-name-zero-width", T, "landed_once", "zero-width characters inside the name",
         {"data": message(customer_name="A\u200bc\u200dm\ufeffe"), "literal": "Acme", "absent": "\u200b"}),
    Case("tpl-name-rtl-script", T, "landed_once", "an Arabic (right-to-left) company name",
         {"data": message(customer_name="شركة الأمل للتجارة"), "literal": "شركة الأمل للتجارة"}),
    Case("tpl-name-very-long", T, "landed_once", "a 10,000-character customer name",
         {"data": message(customer_name=LONG), "literal": LONG[: MAX_NAME - 1].rstrip() + "\u2026", "absent": LONG}),
    Case("tpl-name-percent-and-backslashes", T, "landed_once", "name with %s, %(x)s and backslashes",
         {"data": message(customer_name="100% %s %(x)s C:\\new\\table"), "literal": "100% %s %(x)s C:\\new\\table"}),
    Case("tpl-missing-locale-data", T, "landed_once", "language xx, country ZZ: no templates, no locale",
         {"data": message(language="xx", country="ZZ", currency="USD"), "literal": "Acme Ltda", "fallback": "en"}),
    Case("tpl-missing-language-brazil", T, "landed_once", "no language, country BR",
         {"data": message(language=None, country="BR", currency="BRL"), "literal": "Acme Ltda", "fallback": "pt"}),
    Case("tpl-amount-float", T, "refused", "amount as a float (money is never float)",
         {"data": message(amount_at_stake=1250.10), "raises": TypeError}, "must be Decimal"),
    Case("tpl-unknown-action", T, "refused", "an action no template exists for",
         {"data": message(), "action": "letter", "raises": ValueError}, "no template for action"),
]  # fmt: skip

#: Hostile customer names given to the report's riskiest accounts (one each).
REPORT_NAMES = {
    "tpl-report-customer-script": "<script>alert(1)</script>",
    "tpl-report-customer-mathtext": "$\\frac{1}{0}$ Holdings",
    "tpl-report-customer-jinja": "{{ 7*7 }} {% raw %}",
    "tpl-report-customer-percent": "100% Cotton %s %(name)s",
    "tpl-report-customer-backslashes": "C:\\Users\\new\\table \\\\ Ltd",
    "tpl-report-customer-rtl": "مؤسسة النور \u202eevil",
    "tpl-report-customer-very-long": "Comercializadora " + "Internacional " * 40,
    "tpl-report-customer-img-onerror": '<img src=x onerror="alert(1)">',
}
#: Hostile segment labels (segments reach the charts as matplotlib text and the tables as HTML).
REPORT_SEGMENTS = {
    "tpl-report-segment-mathtext": "$\\frac{$ SMB",
    "tpl-report-segment-html": "<b>Enterprise</b> & co",
    "tpl-report-segment-dollars": "$x$ and $$ mid",
}
REPORT_CASES = [
    Case(cid, T, "landed_once", f"customer named {name[:40]!r} in the KPI report", {"customer": name})
    for cid, name in REPORT_NAMES.items()
] + [
    Case(cid, T, "landed_once", f"segment labelled {name!r} in the KPI report charts", {"segment": name})
    for cid, name in REPORT_SEGMENTS.items()
]
CASES: list[Case] = TEMPLATE_CASES + REPORT_CASES


@pytest.mark.parametrize("case", TEMPLATE_CASES, ids=case_ids(TEMPLATE_CASES))
def test_template_case(case: Case) -> None:
    p = case.payload
    action = p.get("action", "email")
    if "raises" in p:
        with pytest.raises(p["raises"], match=case.reason):
            render_message(action, p["data"])
        return
    email = render_message("email", p["data"])
    texts = [render_message(a, p["data"]) for a in ("whatsapp", "sms", "call_task")]
    if p.get("no_link"):
        assert "href" not in email.body and all("http" not in t.body and "data:" not in t.body for t in texts)
        assert "javascript" not in email.body + email.body_text
        return
    literal = p["literal"]
    # Plain-text channels and the text part show the value literally; the HTML part escapes it.
    assert literal in email.body_text and literal in texts[0].body  # the e-mail's text part, WhatsApp
    if case.id.startswith("tpl-name") or case.id.startswith("tpl-missing"):  # customer names are in subjects too
        assert literal in email.subject and all(literal in t.subject for t in texts)
    if "html_escaped" in p:
        assert p["html_escaped"] in email.body and literal not in email.body
    elif "<" not in literal and "&" not in literal and '"' not in literal and "'" not in literal:
        assert literal in email.body
    if "absent" in p:
        assert all(p["absent"] not in m for m in (email.subject, email.body, email.body_text, texts[0].body))
    if "fallback" in p:
        assert email.language == p["fallback"] and email.language_fallback
    if p.get("one_line_subject"):
        assert "\n" not in email.subject and "\r" not in email.subject
        msg = EmailMessage(policy=SMTP)
        msg["Subject"] = email.subject  # would raise on a line break (header injection)
        assert msg["Subject"] == email.subject


# --- the KPI report ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_report(profile_s_data, tmp_path_factory) -> dict:
    """Build the report from a copy of the profile-S warehouse with hostile names and segment labels."""
    from cobranza.report import build_report
    from cobranza.report.queries import load_report_data

    work = tmp_path_factory.mktemp("hostile_report")
    for name in ("warehouse.duckdb", "warehouse.duckdb.wal", "mlflow.db"):
        if (profile_s_data / name).exists():
            shutil.copy2(profile_s_data / name, work / name)
    db = work / "warehouse.duckdb"
    tracking = f"sqlite:///{work / 'mlflow.db'}"
    with duckdb.connect(str(db)) as con:
        shown = load_report_data(con, tracking_uri=tracking).risk_accounts["customer_id"].tolist()
        assert len(shown) >= len(REPORT_NAMES), "the world shows too few accounts for the corpus"
        renamed = dict(zip(shown, REPORT_NAMES.values(), strict=False))
        for customer_id, name in renamed.items():
            con.execute("update marts.dim_customers set customer_name = ? where customer_id = ?", [name, customer_id])
        segments = [
            r[0]
            for r in con.execute(
                "select distinct segment from marts.mart_collections_kpis where segment <> 'all' order by 1"
            ).fetchall()
        ]
        assert len(segments) >= len(REPORT_SEGMENTS), segments
        relabelled = dict(zip(segments, REPORT_SEGMENTS.values(), strict=False))
        for old, new in relabelled.items():
            con.execute("update marts.mart_collections_kpis set segment = ? where segment = ?", [new, old])
            con.execute("update marts.dim_customers set segment = ? where segment = ?", [new, old])
    result = build_report(db, work / "out", tracking_uri=tracking)
    page = Path(result.path).read_text(encoding="utf-8")
    return {"page": page, "doc": lxml_html.fromstring(page), "result": result}


@pytest.mark.slow
@pytest.mark.parametrize("case", REPORT_CASES, ids=case_ids(REPORT_CASES))
def test_report_case(case: Case, hostile_report: dict) -> None:
    from cobranza.report.figures import label

    page, doc = hostile_report["page"], hostile_report["doc"]
    assert hostile_report["result"].figures >= 5, "the report must still draw its charts"
    # Nothing of the data became markup: the page's own two scripts only, no handler attributes.
    assert len(doc.xpath("//script")) == 2 and not doc.xpath("//*[@onerror]") and not doc.xpath("//img")
    assert "<script>alert(1)</script>" not in page
    if "customer" in case.payload:
        name = case.payload["customer"]
        cells = [td.text_content() for td in doc.xpath("//td[@class='text']/bdi[1]")]
        assert name in cells, f"{name!r} not shown literally among {cells[:20]}"
    else:
        name = case.payload["segment"]
        cells = [td.text_content() for td in doc.xpath("//td[@class='text']/bdi")]
        assert name in cells, f"segment {name!r} not in the segment table"
        chart_text = " ".join(t.text_content() for t in doc.xpath("//*[local-name()='svg']//*[local-name()='text']"))
        assert label(name) in chart_text, f"segment {name!r} not drawn literally in the charts"

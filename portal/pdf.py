"""An invoice copy as PDF (fpdf2, pure Python; core fonts, so text outside Latin-1 is shown as '?')."""

from __future__ import annotations

from fpdf import FPDF


def _latin1(text: str) -> str:
    text = text.replace("\u202f", " ").replace("\u2009", " ")
    return text.encode("latin-1", "replace").decode("latin-1")


def invoice_pdf(title: str, customer: str, rows: list[tuple[str, str]]) -> bytes:
    """A one-page PDF: a title, the customer's name, then label/value rows."""
    doc = FPDF(format="A4")
    doc.set_title(_latin1(title))
    doc.set_creator("Cobranza")
    doc.add_page()
    doc.set_font("Helvetica", "B", 16)
    doc.cell(0, 10, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    doc.set_font("Helvetica", "", 12)
    doc.cell(0, 8, _latin1(customer), new_x="LMARGIN", new_y="NEXT")
    doc.ln(4)
    for label, value in rows:
        doc.set_font("Helvetica", "B", 11)
        doc.cell(50, 8, _latin1(label))
        doc.set_font("Helvetica", "", 11)
        doc.cell(0, 8, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    return bytes(doc.output())

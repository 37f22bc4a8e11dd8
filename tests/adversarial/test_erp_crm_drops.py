"""Adversarial corpus, ERP/CRM drops: hostile export files and records (category erp_crm_drops).

Every file case writes a small, otherwise good drop (customers CSV, invoices CSV, contacts JSON
lines) into a fresh folder, applies the case's change, and lands it through ``connectors.base.sync``
with the file-drop connector into a real DuckDB warehouse (the path ``cobranza run`` takes).
Outcomes:

- ``quarantined``: a bad file is set aside whole in ``quarantine.raw_files`` with a reason naming it
  (and, where a mapping option would read it, the option), while the other streams land; or a bad
  record/field is set aside in ``quarantine.raw_records`` with its key and reason while the rest of
  its file lands. The record-level checks of the raw quality gate (negative amount, 1900, next year,
  due before issue, a customer the ERP lacks) run the real gate once for the module and assert the
  record is in ``quarantine.raw_excluded`` (left out downstream) while the gate passes.
- ``refused``: a mapping that cannot be right is refused with an error naming it.
- ``landed_once``: the drop lands and landing it again changes nothing.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors.base import sync
from connectors.sources.files.config import FileMapping, FileStreamMapping, load_mapping
from connectors.sources.files.reader import FileSource
from tests.adversarial.corpus import Case, case_ids

AS_OF = date(2026, 11, 23)
CLOCK = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)

CUST_HEADER = (
    "customer_id,name,tax_id,country,city,timezone,currency,payment_terms_days,credit_limit,segment,updated_at"
)
CUSTOMERS = [
    f"C{i},Cliente {i} SA,RFC{i},MX,Monterrey,America/Monterrey,MXN,30,1000.00,smb,2026-11-01 00:00:00"
    for i in range(1, 4)
]
INV_COLUMNS = [
    "invoice_id",
    "number",
    "customer_id",
    "issue_date",
    "due_date",
    "currency",
    "amount_total",
    "amount_open",
    "status",
    "payment_reference",
    "delivery_method",
    "updated_at",
]
INV_HEADER = ",".join(INV_COLUMNS)


def inv(i: int, **over: str) -> dict[str, str]:
    """One good invoice record (text values as an export writes them)."""
    row = {
        "invoice_id": f"I{i}",
        "number": f"F-{i:04d}",
        "customer_id": f"C{1 + i % 3}",
        "issue_date": "2026-10-01",
        "due_date": "2026-10-31",
        "currency": "MXN",
        "amount_total": "1160.00",
        "amount_open": "1160.00",
        "status": "posted",
        "payment_reference": "",
        "delivery_method": "email",
        "updated_at": "2026-11-20 10:00:00",
    }
    row.update(over)
    return row


GOOD_INVOICES = [inv(i) for i in range(1, 31)]


def invoices_csv(rows: list[dict[str, str]], delim: str = ",", header: list[str] | None = None) -> bytes:
    cols = header or INV_COLUMNS
    lines = [delim.join(cols)] + [delim.join(r.get(c, "") for c in cols) for r in rows]
    return ("\n".join(lines) + "\n").encode()


def contact(i: int, **over) -> dict:
    row = {
        "contact_id": f"K{i}",
        "customer_id": f"C{i}",
        "full_name": f"Contacto {i}",
        "role": "debtor",
        "email": f"pagos{i}@cliente{i}.mx",
        "phone": f"+5281155500{i:02d}",
        "language": "es",
        "timezone": "America/Monterrey",
        "consent_email": True,
        "consent_whatsapp": True,
        "consent_sms": True,
        "consent_call": True,
        "preferred_channel": "email",
        "preferred_hour": 10,
        "updated_at": "2026-11-20 10:00:00",
    }
    row.update(over)
    return row


def contacts_jsonl(rows: list[dict]) -> bytes:
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def zip_bytes(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(name, data)
    return buf.getvalue()


GOOD_FILES: dict[str, bytes] = {
    "erp/customers.csv": ("\n".join([CUST_HEADER, *CUSTOMERS]) + "\n").encode(),
    "erp/invoices.csv": invoices_csv(GOOD_INVOICES),
    "crm/contacts.jsonl": contacts_jsonl([contact(i) for i in range(1, 4)]),
}
PATHS = {
    "raw_erp.customers": "erp/customers*.csv",
    "raw_erp.invoices": "erp/invoices*",
    "raw_crm.contacts": "crm/contacts*.jsonl",
}


@dataclass
class Drop:
    """What a case changes in the good drop, and what it must find afterwards."""

    files: dict[str, bytes | None] = field(default_factory=dict)  # None removes a good file
    options: dict[str, dict] = field(default_factory=dict)  # stream -> FileStreamMapping fields
    stream: str = "raw_erp.invoices"
    file: str = "erp/invoices.csv"
    key: str | None = None  # record key for record/field-level cases
    field_null: str | None = None  # a contact point that must land as NULL
    landed: int | None = None  # rows the stream must hold after landing (landed_once)
    check: str | None = None  # extra assertion name (see _extra_checks)


def write_drop(base: Path, drop: Drop) -> FileMapping:
    files = {**GOOD_FILES, **drop.files}
    for rel, data in files.items():
        if data is None:
            continue
        path = base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    streams = {t: FileStreamMapping(path=p, **drop.options.get(t, {})) for t, p in PATHS.items()}
    return FileMapping(source="drop", base_dir=base, streams=streams)


def land(con: duckdb.DuckDBPyConnection, mapping: FileMapping, clock: datetime = CLOCK):
    return sync(con, FileSource(mapping), clock=clock)


def count(con, table: str, where: str = "true", params: list | None = None) -> int:
    return con.execute(f"select count(*) from {table} where {where}", params or []).fetchall()[0][0]


def file_case(id_: str, expect: str, description: str, reason: str, drop: Drop) -> Case:
    return Case(id_, "erp_crm_drops", expect, description, payload=drop, reason=reason)


HTML = b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n"
SEMICOLON_ROWS = [
    inv(i, amount_total="1.160,50", amount_open="1.160,50", updated_at="2026-11-20 10:00:00") for i in range(1, 6)
]
#: Whole amounts read the same with either decimal separator.
WHOLE_ROWS = [inv(i, amount_total="1160", amount_open="1160") for i in range(20, 23)]

FILE_CASES: list[Case] = [
    file_case(
        "drop-empty-file",
        "quarantined",
        "a zero-byte invoices.csv (the export job died before writing)",
        "empty file (0 bytes)",
        Drop(files={"erp/invoices.csv": b""}),
    ),
    file_case(
        "drop-gzip-named-csv",
        "quarantined",
        "gzip bytes delivered as invoices.csv",
        "gzip-compressed",
        Drop(files={"erp/invoices.csv": gzip.compress(invoices_csv(GOOD_INVOICES))}),
    ),
    file_case(
        "drop-zip-named-csv",
        "quarantined",
        "a ZIP archive (an .xlsx is one) named invoices.csv",
        "ZIP archive",
        Drop(files={"erp/invoices.csv": zip_bytes("invoices.csv", invoices_csv(GOOD_INVOICES))}),
    ),
    file_case(
        "drop-html-error-page",
        "quarantined",
        "the download saved the web server's 502 page as invoices.csv",
        "HTML page",
        Drop(files={"erp/invoices.csv": HTML}),
    ),
    file_case(
        "drop-html-login-page-bom",
        "quarantined",
        "a login page with a UTF-8 BOM and leading blank lines named invoices.csv",
        "HTML page",
        Drop(files={"erp/invoices.csv": b"\xef\xbb\xbf\n\n  <html><body>Please sign in</body></html>"}),
    ),
    file_case(
        "drop-parquet-named-csv",
        "quarantined",
        "a Parquet file named invoices.csv",
        "Parquet file named .csv",
        Drop(files={"erp/invoices.csv": parquet_bytes(pa.table({"invoice_id": ["I1"]}))}),
    ),
    file_case(
        "drop-parquet-other-columns",
        "quarantined",
        "invoices.parquet from another system: none of the contract's columns",
        "missing column(s)",
        Drop(
            files={
                "erp/invoices.csv": None,
                "erp/invoices.parquet": parquet_bytes(pa.table({"DocNum": ["1"], "Total": ["5.00"]})),
            },
            file="erp/invoices.parquet",
        ),
    ),
    file_case(
        "drop-parquet-truncated",
        "quarantined",
        "invoices.parquet cut at a third of its size (copy interrupted)",
        "truncated Parquet file",
        Drop(
            files={
                "erp/invoices.csv": None,
                "erp/invoices.parquet": parquet_bytes(pa.table({"invoice_id": [f"I{i}" for i in range(500)]}))[:300],
            },
            file="erp/invoices.parquet",
        ),
    ),
    file_case(
        "drop-html-named-parquet",
        "quarantined",
        "the download saved an HTML error page as invoices.parquet: named as HTML, not 'not Parquet'",
        "HTML page",
        Drop(files={"erp/invoices.csv": None, "erp/invoices.parquet": HTML}, file="erp/invoices.parquet"),
    ),
    file_case(
        "drop-csv-named-parquet",
        "quarantined",
        "CSV text named invoices.parquet",
        "not a Parquet file",
        Drop(
            files={"erp/invoices.csv": None, "erp/invoices.parquet": invoices_csv(GOOD_INVOICES)},
            file="erp/invoices.parquet",
        ),
    ),
    file_case(
        "drop-missing-required-column",
        "quarantined",
        "invoices.csv without amount_total",
        "missing column(s) amount_total",
        Drop(
            files={
                "erp/invoices.csv": invoices_csv(GOOD_INVOICES, header=[c for c in INV_COLUMNS if c != "amount_total"])
            }
        ),
    ),
    file_case(
        "drop-csv-truncated-mid-row",
        "quarantined",
        "invoices.csv cut in the middle of its last row",
        "cannot be read",
        Drop(files={"erp/invoices.csv": invoices_csv(GOOD_INVOICES)[:-60]}),
    ),
    file_case(
        "drop-csv-unclosed-quote",
        "quarantined",
        "a quoted field that never closes (truncated inside a quote)",
        "cannot be read",
        Drop(files={"erp/invoices.csv": invoices_csv(GOOD_INVOICES) + b'I99,"F-0099,C1,2026-10-01\n'}),
    ),
    file_case(
        "drop-semicolon-decimal-comma-no-option",
        "quarantined",
        "a European export (';' and 1.160,50) without delimiter/decimal options: never misread",
        "set delimiter: ';'",
        Drop(files={"erp/invoices.csv": invoices_csv(SEMICOLON_ROWS, delim=";")}),
    ),
    file_case(
        "drop-tab-separated-no-option",
        "quarantined",
        "a tab-separated export read as comma-separated",
        "separated by tab",
        Drop(files={"erp/invoices.csv": invoices_csv(GOOD_INVOICES, delim="\t")}),
    ),
    file_case(
        "drop-utf16-csv",
        "quarantined",
        "a UTF-16 export (Excel 'Unicode text')",
        "UTF-16",
        Drop(files={"erp/invoices.csv": invoices_csv(GOOD_INVOICES).decode().encode("utf-16")}),
    ),
    file_case(
        "drop-contacts-jsonl-truncated",
        "quarantined",
        "contacts.jsonl cut inside a JSON object",
        "cannot be read",
        Drop(
            files={"crm/contacts.jsonl": contacts_jsonl([contact(i) for i in range(1, 4)])[:-40]},
            stream="raw_crm.contacts",
            file="crm/contacts.jsonl",
        ),
    ),
    file_case(
        "drop-contacts-html",
        "quarantined",
        "the CRM export endpoint answered an HTML error saved as contacts.jsonl",
        "HTML page",
        Drop(files={"crm/contacts.jsonl": HTML}, stream="raw_crm.contacts", file="crm/contacts.jsonl"),
    ),
    file_case(
        "drop-mostly-unreadable-amounts",
        "quarantined",
        "a mis-mapped export: every amount is text, so the whole file is set aside (not 30 quarantined rows)",
        "rows cannot be landed",
        Drop(files={"erp/invoices.csv": invoices_csv([inv(i, amount_total="n/a") for i in range(1, 31)])}),
    ),
    file_case(
        "drop-binary-garbage",
        "quarantined",
        "random binary bytes named invoices.csv",
        "invoices.csv",
        Drop(files={"erp/invoices.csv": bytes(range(256)) * 4}),
    ),
    # ---- record and field level (the loader) ----
    file_case(
        "drop-updated-at-2099",
        "quarantined",
        "one invoice stamped updated_at 2099: held back, the watermark does not move",
        "is in the future",
        Drop(
            files={"erp/invoices.csv": invoices_csv([*GOOD_INVOICES, inv(99, updated_at="2099-01-01 00:00:00")])},
            key="I99",
            check="watermark_not_future",
        ),
    ),
    file_case(
        "drop-contact-phone-plus12",
        "quarantined",
        "a CRM update left the phone as '+12': lands as NULL, the e-mail stays usable",
        "phone: '+1*' is not a phone number",
        Drop(
            files={"crm/contacts.jsonl": contacts_jsonl([contact(1, phone="+12"), contact(2), contact(3)])},
            stream="raw_crm.contacts",
            file="crm/contacts.jsonl",
            key="K1",
            field_null="phone",
            check="email_kept",
        ),
    ),
    file_case(
        "drop-contact-email-double-at",
        "quarantined",
        "e-mail 'daniel clark@@ironbridge': lands as NULL, the phone stays usable",
        "is not a valid e-mail address",
        Drop(
            files={
                "crm/contacts.jsonl": contacts_jsonl(
                    [contact(1, email="daniel clark@@ironbridge"), contact(2), contact(3)]
                )
            },
            stream="raw_crm.contacts",
            file="crm/contacts.jsonl",
            key="K1",
            field_null="email",
            check="phone_kept",
        ),
    ),
    file_case(
        "drop-contact-phone-no-country-code",
        "quarantined",
        "a national number without '+country' (contract: E.164)",
        "is not a phone number",
        Drop(
            files={"crm/contacts.jsonl": contacts_jsonl([contact(1), contact(2, phone="8115550002"), contact(3)])},
            stream="raw_crm.contacts",
            file="crm/contacts.jsonl",
            key="K2",
            field_null="phone",
        ),
    ),
    file_case(
        "drop-contact-phone-too-short-for-country",
        "quarantined",
        "+52 followed by too few digits",
        "not a valid phone number for its country code",
        Drop(
            files={"crm/contacts.jsonl": contacts_jsonl([contact(1), contact(2), contact(3, phone="+521234")])},
            stream="raw_crm.contacts",
            file="crm/contacts.jsonl",
            key="K3",
            field_null="phone",
        ),
    ),
    file_case(
        "drop-contact-email-no-domain-dot",
        "quarantined",
        "an e-mail whose domain has no dot",
        "is not a valid e-mail address",
        Drop(
            files={"crm/contacts.jsonl": contacts_jsonl([contact(1), contact(2, email="pagos@localhost"), contact(3)])},
            stream="raw_crm.contacts",
            file="crm/contacts.jsonl",
            key="K2",
            field_null="email",
        ),
    ),
    file_case(
        "drop-semicolon-without-decimal-option",
        "quarantined",
        "delimiter ';' set but not decimal ',': each amount is refused with the option to set",
        "set decimal: ',' in the column mapping",
        Drop(
            files={"erp/invoices.csv": invoices_csv(SEMICOLON_ROWS + WHOLE_ROWS, delim=";")},
            options={"raw_erp.invoices": {"delimiter": ";"}},
            key="I1",
        ),
    ),
    file_case(
        "drop-decimal-option-but-dot-amount",
        "quarantined",
        "decimal ',' set, but one amount is written 1234.56: refused, not read as 123456",
        "is not a decimal-comma number",
        Drop(
            files={
                "erp/invoices.csv": invoices_csv(
                    [*SEMICOLON_ROWS, inv(9, amount_total="1234.56", amount_open="1234.56")], delim=";"
                )
            },
            options={"raw_erp.invoices": {"delimiter": ";", "decimal": ","}},
            key="I9",
        ),
    ),
    file_case(
        "drop-amount-three-decimals",
        "quarantined",
        "an amount with three decimals (a unit price pasted into the total)",
        "has more decimals than DECIMAL(18,2)",
        Drop(
            files={"erp/invoices.csv": invoices_csv([*GOOD_INVOICES, inv(98, amount_total="10.005")])},
            key="I98",
        ),
    ),
    file_case(
        "drop-duplicate-key-in-file",
        "quarantined",
        "the same invoice twice in one file (the older version is set aside)",
        "duplicate key in this batch",
        Drop(
            files={"erp/invoices.csv": invoices_csv([*GOOD_INVOICES, inv(5, updated_at="2026-11-19 10:00:00")])},
            key="I5",
        ),
    ),
    file_case(
        "drop-missing-required-value",
        "quarantined",
        "an invoice without customer_id",
        "customer_id: required value is missing",
        Drop(files={"erp/invoices.csv": invoices_csv([*GOOD_INVOICES, inv(97, customer_id="")])}, key="I97"),
    ),
    file_case(
        "drop-impossible-date",
        "quarantined",
        "issue_date 2026-02-31",
        "cannot read '2026-02-31' as DATE",
        Drop(files={"erp/invoices.csv": invoices_csv([*GOOD_INVOICES, inv(96, issue_date="2026-02-31")])}, key="I96"),
    ),
    file_case(
        "drop-consent-not-boolean",
        "quarantined",
        "consent_sms 'maybe': the contact is not landed (a consent is never guessed)",
        "consent_sms: cannot read",
        Drop(
            files={"crm/contacts.jsonl": contacts_jsonl([contact(1), contact(2, consent_sms="maybe"), contact(3)])},
            stream="raw_crm.contacts",
            file="crm/contacts.jsonl",
            key="K2",
        ),
    ),
    # ---- landed once ----
    file_case(
        "drop-relanded-same-files",
        "landed_once",
        "the same drop synced twice: the second changes nothing",
        None,
        Drop(landed=30, check="reland_same"),
    ),
    file_case(
        "drop-same-content-new-name",
        "landed_once",
        "yesterday's invoices re-delivered under another name",
        None,
        Drop(landed=30, check="same_content_new_name"),
    ),
    file_case(
        "drop-semicolon-decimal-comma-with-options",
        "landed_once",
        "a European export read with delimiter ';' and decimal ',': 1.160,50 lands as 1160.50",
        None,
        Drop(
            files={"erp/invoices.csv": invoices_csv(SEMICOLON_ROWS, delim=";")},
            options={"raw_erp.invoices": {"delimiter": ";", "decimal": ","}},
            landed=5,
            check="decimal_comma_amounts",
        ),
    ),
    file_case(
        "drop-phone-with-spaces",
        "landed_once",
        "a valid phone written '+52 81 1555 0001' is stored in E.164",
        None,
        Drop(
            files={
                "crm/contacts.jsonl": contacts_jsonl([contact(1, phone="+52 81 1555 0001"), contact(2), contact(3)])
            },
            stream="raw_crm.contacts",
            landed=3,
            check="phone_e164",
        ),
    ),
    file_case(
        "drop-next-day-cancellation-after-2099",
        "landed_once",
        "day 1 brings an invoice stamped 2099, day 2 the cancellation of another: it lands",
        None,
        Drop(landed=31, check="next_day_cancellation"),
    ),
    file_case(
        "drop-quarantined-file-not-reread",
        "landed_once",
        "an HTML page set aside on day 1 is not read (nor recorded) again on day 2; its fix lands once",
        None,
        Drop(files={"erp/invoices.csv": HTML}, landed=30, check="not_reread_then_fixed"),
    ),
    file_case(
        "drop-mapping-fixed-rereads-set-aside-file",
        "landed_once",
        "a ';' export set aside on day 1 lands once the mapping says delimiter ';' and decimal ','",
        None,
        Drop(files={"erp/invoices.csv": invoices_csv(SEMICOLON_ROWS, delim=";")}, landed=5, check="mapping_fixed"),
    ),
    file_case(
        "drop-utf8-bom-crlf",
        "landed_once",
        "a UTF-8 BOM and CRLF line ends (Windows export)",
        None,
        Drop(
            files={"erp/invoices.csv": b"\xef\xbb\xbf" + invoices_csv(GOOD_INVOICES).replace(b"\n", b"\r\n")},
            landed=30,
        ),
    ),
]


REFUSED_CASES: list[Case] = [
    Case(
        "drop-mapping-delimiter-conflict",
        "erp_crm_drops",
        "refused",
        "a mapping with delimiter ';' and csv.delim ',' (which one is meant?)",
        payload=(
            "streams:\n  raw_erp.invoices:\n    path: erp/invoices.csv\n    delimiter: ';'\n    csv: {delim: ','}\n"
        ),
        reason="disagree",
    ),
    Case(
        "drop-mapping-unknown-column",
        "erp_crm_drops",
        "refused",
        "a mapping that maps a column the contract does not have",
        payload="streams:\n  raw_erp.invoices:\n    path: erp/invoices.csv\n    columns: {amount_due: Total}\n",
        reason="unknown contract column",
    ),
    Case(
        "drop-mapping-bad-decimal",
        "erp_crm_drops",
        "refused",
        "a mapping with decimal 'x'",
        payload="streams:\n  raw_erp.invoices:\n    path: erp/invoices.csv\n    decimal: x\n",
        reason="decimal",
    ),
]

#: Record-level checks of the raw quality gate: (case id, description, invoice overrides, reason).
GATE_RECORDS = [
    (
        "drop-negative-amount",
        "amount_total -500.00 (the contract forbids it)",
        {"amount_total": "-500.00"},
        "min_value=0",
    ),
    ("drop-issue-date-1900", "issue_date 1900-01-01 (a default date)", {"issue_date": "1900-01-01"}, "issue_date"),
    (
        "drop-issue-date-next-year",
        "issue_date next year",
        {"issue_date": "2027-06-01", "due_date": "2027-07-01"},
        "issue_date",
    ),
    (
        "drop-due-before-issue",
        "due_date before issue_date",
        {"issue_date": "2026-10-20", "due_date": "2026-10-01"},
        "due_date",
    ),
    (
        "drop-unknown-customer",
        "an invoice for customer C404 the ERP does not have",
        {"customer_id": "C404"},
        "the ERP has no customer",
    ),
    ("drop-open-above-total", "amount_open above amount_total", {"amount_open": "9999.00"}, "amount_total"),
    ("drop-unknown-currency", "currency 'XXX1'", {"currency": "MXX"}, "currency"),
    ("drop-unknown-status", "status 'draft'", {"status": "draft"}, "status"),
]
GATE_CASES: list[Case] = [
    Case(cid, "erp_crm_drops", "quarantined", desc, payload={"key": f"G{i}", **over}, reason=reason)
    for i, (cid, desc, over, reason) in enumerate(GATE_RECORDS)
]

SYSTEMIC_CASES: list[Case] = [
    Case(
        "drop-systemic-share-of-bad-invoices",
        "erp_crm_drops",
        "refused",
        "a tenth of the invoices with negative amounts (a sign flipped by the export): systemic, the run stops",
        payload={"bad": 20, "good": 180},
        reason="raw_erp.invoices.amount_total",
    ),
]

CASES: list[Case] = FILE_CASES + REFUSED_CASES + GATE_CASES + SYSTEMIC_CASES


@pytest.fixture()
def con(tmp_path: Path):
    c = duckdb.connect(str(tmp_path / "w.duckdb"))
    yield c
    c.close()


@pytest.mark.parametrize("case", FILE_CASES, ids=case_ids(FILE_CASES))
def test_file_drop(case: Case, tmp_path: Path, con) -> None:
    drop: Drop = case.payload
    mapping = write_drop(tmp_path / "drop", drop)
    result = land(con, mapping)
    others = [t for t in PATHS if t != drop.stream]
    if case.expect == "quarantined" and drop.key is None:  # a file set aside whole
        (row,) = con.execute("select stream, origin, reason from quarantine.raw_files").fetchall()
        assert row[0] == drop.stream and row[1].endswith(drop.file), row
        assert case.reason in row[2] and drop.file.split("/")[-1] in row[2], row[2]
        assert [r["origin"] for r in result.refused] == [row[1]]
        assert count(con, drop.stream) == 0 if _exists(con, drop.stream) else True
        for other in others:  # every other stream proceeds
            assert count(con, other) > 0, other
    elif case.expect == "quarantined":  # a record or a field set aside, the rest lands
        assert result.refused == []
        rows = con.execute(
            "select file_path, record_key, reason from quarantine.raw_records where stream = ?", [drop.stream]
        ).fetchall()
        hits = [r for r in rows if r[1] == drop.key and case.reason in r[2]]
        assert hits, rows
        assert hits[0][0].endswith(drop.file)
        if drop.field_null:
            key_col = "contact_id" if drop.stream == "raw_crm.contacts" else "invoice_id"
            (value,) = con.execute(
                f"select {drop.field_null} from {drop.stream} where {key_col} = ?", [drop.key]
            ).fetchall()[0]
            assert value is None
        assert count(con, drop.stream) > 0
    else:
        if drop.check not in ("not_reread_then_fixed", "mapping_fixed"):
            assert result.refused == [], result.refused
        _extra_checks(drop, con, mapping, tmp_path)
        if drop.landed is not None:
            assert count(con, drop.stream) == drop.landed
    if drop.check and case.expect == "quarantined":
        _extra_checks(drop, con, mapping, tmp_path)


def _exists(con, table: str) -> bool:
    schema, name = table.split(".")
    q = "select count(*) from information_schema.tables where table_schema = ? and table_name = ?"
    return con.execute(q, [schema, name]).fetchall()[0][0] == 1


def _one_reason(con) -> str:
    return con.execute("select reason from quarantine.raw_files").fetchall()[0][0]


def _snapshot(con) -> dict[str, int]:
    return {t: count(con, t) for t in PATHS} | {
        "loaded_files": count(con, "_cobranza.loaded_files"),
        "raw_files": count(con, "quarantine.raw_files"),
        "raw_records": count(con, "quarantine.raw_records"),
    }


def _extra_checks(drop: Drop, con, mapping: FileMapping, tmp_path: Path) -> None:
    base = tmp_path / "drop"
    if drop.check == "watermark_not_future":
        (mark,) = con.execute(
            "select watermark from _cobranza.stream_state where stream = 'raw_erp.invoices' "
            "order by updated_at desc limit 1"
        ).fetchall()[0]
        assert mark == datetime(2026, 11, 20, 10, 0)
        assert count(con, "raw_erp.invoices", "invoice_id = 'I99'") == 0
    elif drop.check == "email_kept":
        assert con.execute("select email from raw_crm.contacts where contact_id = 'K1'").fetchall()[0][0]
    elif drop.check == "phone_kept":
        assert con.execute("select phone from raw_crm.contacts where contact_id = 'K1'").fetchall()[0][0]
    elif drop.check == "reland_same":
        before = _snapshot(con)
        again = land(con, mapping)
        assert _snapshot(con) == {**before, "loaded_files": before["loaded_files"]}
        assert {r.status for r in again.landed} == {"skipped"}
    elif drop.check == "same_content_new_name":
        (base / "erp/invoices-copy.csv").write_bytes((base / "erp/invoices.csv").read_bytes())
        before = _snapshot(con)
        again = land(con, mapping)
        assert _snapshot(con) == before
        assert {r.status for r in again.landed} == {"skipped"}
    elif drop.check == "decimal_comma_amounts":
        amounts = {r[0] for r in con.execute("select amount_total from raw_erp.invoices").fetchall()}
        assert amounts == {Decimal("1160.50")}
        before = _snapshot(con)
        land(con, mapping)
        assert _snapshot(con) == before
    elif drop.check == "phone_e164":
        assert con.execute("select phone from raw_crm.contacts where contact_id = 'K1'").fetchall()[0][0] == (
            "+528115550001"
        )
        assert count(con, "quarantine.raw_records") == 0
    elif drop.check == "next_day_cancellation":
        (base / "erp/invoices-2.csv").write_bytes(invoices_csv([inv(99, updated_at="2099-01-01 00:00:00")]))
        land(con, mapping)
        day2 = CLOCK + timedelta(days=1)
        (base / "erp/invoices-3.csv").write_bytes(
            invoices_csv([inv(7, status="cancelled", amount_open="0.00", updated_at="2026-11-24 09:00:00")])
        )
        land(con, mapping, clock=day2)
        assert con.execute("select status from raw_erp.invoices where invoice_id = 'I7'").fetchall()[0][0] == (
            "cancelled"
        )
        marks = [r[0] for r in con.execute("select watermark from _cobranza.stream_state").fetchall()]
        assert max(marks) <= day2.replace(tzinfo=None)
        assert count(con, "raw_erp.invoices") == 30 and count(con, "raw_erp.invoices", "invoice_id = 'I99'") == 0
        # held back with its reason, not lost: it lands once the source fixes the date
        assert count(con, "quarantine.raw_records", "record_key = 'I99' and reason like '%in the future%'") == 1
        drop.landed = 30
    elif drop.check == "mapping_fixed":
        assert count(con, "quarantine.raw_files") == 1 and "set delimiter: ';'" in _one_reason(con)
        fixed = write_drop(
            base, Drop(files=drop.files, options={"raw_erp.invoices": {"delimiter": ";", "decimal": ","}})
        )
        again = land(con, fixed)
        assert again.refused == [] and count(con, "raw_erp.invoices") == 5
        assert {r[0] for r in con.execute("select amount_total from raw_erp.invoices").fetchall()} == {
            Decimal("1160.50")
        }
        assert {r.status for r in land(con, fixed).landed} == {"skipped"}
    elif drop.check == "not_reread_then_fixed":
        assert count(con, "quarantine.raw_files") == 1
        second = land(con, mapping)
        assert count(con, "quarantine.raw_files") == 1  # not read, not recorded again
        assert second.refused and "HTML page" in second.refused[0]["error"] and second.refused[0].get("since")
        (base / "erp/invoices.csv").write_bytes(invoices_csv(GOOD_INVOICES))
        third = land(con, mapping)
        assert third.refused == [] and count(con, "raw_erp.invoices") == 30


@pytest.mark.parametrize("case", REFUSED_CASES, ids=case_ids(REFUSED_CASES))
def test_mapping_refused(case: Case, tmp_path: Path) -> None:
    path = tmp_path / "mapping.yml"
    path.write_text(case.payload)
    with pytest.raises(ValueError) as err:
        load_mapping(path)
    assert str(path) in str(err.value) and case.reason in str(err.value)


@pytest.fixture(scope="module")
def gated(tmp_path_factory):
    """One drop with every record-level defect among good invoices, landed and gated once."""
    from expectations import run_checkpoint

    base = tmp_path_factory.mktemp("gated")
    bad = [
        inv(0, **{k: v for k, v in c.payload.items() if k != "key"}) | {"invoice_id": c.payload["key"]}
        for c in GATE_CASES
    ]
    good = [inv(i) for i in range(1, 200)]
    mapping = write_drop(base / "drop", Drop(files={"erp/invoices.csv": invoices_csv(good + bad)}))
    con = duckdb.connect(str(base / "w.duckdb"))
    land(con, mapping)
    gate = run_checkpoint("raw", con, as_of=AS_OF)
    excluded = {
        r[0]: r[1]
        for r in con.execute(
            "select record_key, reason from quarantine.raw_excluded where table_name = 'raw_erp.invoices'"
        ).fetchall()
    }
    yield gate, excluded, count(con, "raw_erp.invoices")
    con.close()


@pytest.mark.parametrize("case", GATE_CASES, ids=case_ids(GATE_CASES))
def test_record_quarantined_by_the_raw_gate(case: Case, gated) -> None:
    gate, excluded, landed = gated
    assert gate.success, gate.summary()  # a few bad records never stop the run
    assert landed == 199 + len(GATE_CASES)  # they landed in raw; staging leaves them out
    key = case.payload["key"]
    assert key in excluded, (key, excluded)
    assert case.reason in excluded[key], excluded[key]
    assert set(excluded) == {c.payload["key"] for c in GATE_CASES}  # no good invoice is excluded


@pytest.mark.parametrize("case", SYSTEMIC_CASES, ids=case_ids(SYSTEMIC_CASES))
def test_a_large_share_of_bad_records_stops_the_run(case: Case, tmp_path: Path, con) -> None:
    from expectations import QualityGateError, run_checkpoint

    good = [inv(i) for i in range(1, case.payload["good"] + 1)]
    bad = [inv(1000 + i, amount_total="-10.00", amount_open="0.00") for i in range(case.payload["bad"])]
    land(con, write_drop(tmp_path / "drop", Drop(files={"erp/invoices.csv": invoices_csv(good + bad)})))
    gate = run_checkpoint("raw", con, as_of=AS_OF)
    with pytest.raises(QualityGateError) as err:
        gate.raise_if_failed()
    assert case.reason in str(err.value) and ": -10.0" in str(err.value)  # the records are named
    assert gate.critical_failures and not gate.record_failures  # systemic: nothing is quietly left out
    assert count(con, "quarantine.raw_excluded") == 0

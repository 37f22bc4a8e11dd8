"""End to end: ``cobranza run`` on a profile-S drop with one bad file of each kind and bad records.

The drop is the simulator's (with its deliberate defects: a negative invoice amount, duplicated
rows, a phone not in E.164, an e-mail without '@', a customer in currency 'MEX') plus, added here:

- files: a truncated Parquet and one with other columns (invoices), an empty file, gzip bytes and an
  HTML error page named .csv (customers), a ';'/decimal-comma export and one missing a required
  column (credit notes), a CSV cut mid-row (interactions), an HTML page in the bank statements
  folder;
- records: an open invoice stamped updated_at 2099, one for a customer the ERP does not have, one
  issued next year; contacts of 15 customers with phone '+12' and of 15 others with e-mail
  'daniel clark@@ironbridge'.

The CLI runs in a subprocess in a scratch folder (``--json``). The run must proceed on the good
data; every bad file is named in the summary with its reason; every bad record is quarantined with
its reason; no outbox task uses a bad phone or e-mail, nor concerns a bad invoice or customer; AR
still reconciles with the ERP (quarantined invoices as the reconciling item). A second case breaks
the only invoices file: the run stops and stderr's last line names the file, the problem and the log.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 23)
REPO = Path(__file__).resolve().parents[2]
COBRANZA = Path(sys.executable).parent / "cobranza"
HTML = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>\n"

MAPPING = """
source: simulator
streams:
  raw_erp.customers: {path: "erp/customers*.csv"}
  raw_erp.invoices: {path: "erp/invoices*.parquet"}
  raw_erp.credit_notes: {path: "erp/credit_notes*.csv"}
  raw_erp.payment_allocations: {path: "erp/payment_allocations*.parquet"}
  raw_crm.contacts: {path: "crm/contacts*.jsonl"}
  raw_crm.interactions: {path: "crm/interactions*.csv"}
  raw_crm.disputes: {path: "crm/disputes*.csv"}
  raw_bank.statement_lines: {path: "bank/statement_lines*.parquet"}
"""

#: Bad file (relative to the landing folder) -> fragment its reason must contain.
BAD_FILES = {
    "erp/invoices-cut.parquet": "truncated Parquet",
    "erp/invoices-other.parquet": "missing column",
    "erp/customers-empty.csv": "empty file",
    "erp/customers-gz.csv": "gzip",
    "erp/customers-html.csv": "HTML page",
    "erp/credit_notes-eu.csv": "set delimiter: ';'",
    "erp/credit_notes-nocol.csv": "missing column",
    "crm/interactions-cut.csv": "cannot be read",
    "bank/statements/stmt-error.xml": "stmt-error.xml",
}


def _env(scratch: Path, landing: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COBRANZA_", "PREFECT_"))}
    env.update(
        COBRANZA_DATA_DIR=str(scratch / "data"),
        COBRANZA_SIMULATOR__ENABLED="false",
        COBRANZA_SOURCES__LANDING_DIR=str(landing),
        COBRANZA_SOURCES__MAPPING=str(scratch / "mapping.yml"),
        PREFECT_HOME=str(scratch / "prefect"),
    )
    return env


def _cobranza_run(scratch: Path, landing: Path) -> subprocess.CompletedProcess:
    (scratch / "mapping.yml").write_text(MAPPING)
    return subprocess.run(
        [str(COBRANZA), "run", "--as-of", AS_OF.isoformat(), "--json"],
        cwd=scratch,
        env=_env(scratch, landing),
        capture_output=True,
        text=True,
        timeout=1800,
    )


def _one(con, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchall()


def _rewrite(con, path: Path, sql: str, fmt: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    con.execute(f"copy ({sql}) to '{tmp}' (format {fmt})")
    tmp.replace(path)


def _make_drop(landing: Path) -> dict:
    from simulator import simulate

    simulate(landing, profile="S", seed=42, as_of=AS_OF, defects=True)  # the seed the daily run trains on
    erp, crm = landing / "erp", landing / "crm"
    con = duckdb.connect()
    inv = f"read_parquet('{erp / 'invoices.parquet'}')"
    overdue = [
        r[0]
        for r in _one(
            con,
            f"select distinct invoice_id from {inv} where status = 'posted' and amount_open > 0 "
            f"and due_date < '{AS_OF}' and amount_total > 0 order by invoice_id limit 3",
        )
    ]
    future, ghost, next_year = overdue
    _rewrite(
        con,
        erp / "invoices.parquet",
        f"""select * replace (
                case when invoice_id = '{future}' then timestamp '2099-01-01 00:00:00'
                     else updated_at end as updated_at,
                case when invoice_id = '{ghost}' then 'C-GHOST-404' else customer_id end as customer_id,
                case when invoice_id = '{next_year}' then date '{AS_OF.year + 1}-03-01'
                     else issue_date end as issue_date,
                case when invoice_id = '{next_year}' then date '{AS_OF.year + 1}-04-01' else due_date end as due_date)
            from {inv}""",
        "parquet",
    )
    dunnable = [
        r[0]
        for r in _one(
            con,
            f"select customer_id from {inv} where status = 'posted' and amount_open > 0 and due_date < '{AS_OF}' "
            "group by customer_id order by sum(amount_open) desc limit 40",
        )
    ]
    bad_phone, bad_email = dunnable[5:20], dunnable[20:35]
    contacts = f"read_json('{crm / 'contacts.jsonl'}', format = 'newline_delimited')"
    in_list = lambda ids: ", ".join(f"'{i}'" for i in ids)  # noqa: E731
    _rewrite(
        con,
        crm / "contacts.jsonl",
        f"""select * replace (
                case when customer_id in ({in_list(bad_phone)}) and phone is not null then '+12'
                     else phone end as phone,
                case when customer_id in ({in_list(bad_email)}) and email is not null
                     then 'daniel clark@@ironbridge' else email end as email)
            from {contacts}""",
        "json",
    )
    phone_contacts = [r[0] for r in _one(con, f"select contact_id from {contacts} where phone = '+12'")]
    email_contacts = [r[0] for r in _one(con, f"select contact_id from {contacts} where email like '%@@%'")]
    # bad files beside the good ones
    cut = (erp / "invoices.parquet").read_bytes()
    (erp / "invoices-cut.parquet").write_bytes(cut[: len(cut) // 3])
    con.execute(f"copy (select 1 as DocNum, 'x' as Total) to '{erp / 'invoices-other.parquet'}' (format parquet)")
    (erp / "customers-empty.csv").write_bytes(b"")
    (erp / "customers-gz.csv").write_bytes(gzip.compress((erp / "customers.csv").read_bytes()))
    (erp / "customers-html.csv").write_bytes(HTML)
    notes = (erp / "credit_notes.csv").read_text().splitlines()
    eu = [notes[0].replace(",", ";")] + [
        f"CN-EU-{i};CNX-{i};{dunnable[0]};;2026-11-01;MXN;1.234,50;posted;2026-11-02 10:00:00" for i in range(3)
    ]
    (erp / "credit_notes-eu.csv").write_text("\n".join(eu) + "\n")
    header = notes[0].split(",")
    keep = [i for i, c in enumerate(header) if c.strip('"') != "amount_total"]
    (erp / "credit_notes-nocol.csv").write_text(
        "\n".join(",".join(line.split(",")[i] for i in keep) for line in notes[:5]) + "\n"
    )
    text = (crm / "interactions.csv").read_bytes()
    cut_at = text.index(b"\n", 4000) + 12  # a dozen bytes into a row
    (crm / "interactions-cut.csv").write_bytes(text[:cut_at])
    statements = landing / "bank" / "statements"
    statements.mkdir(parents=True, exist_ok=True)
    (statements / "stmt-error.xml").write_bytes(HTML)
    con.close()
    return {
        "future": future,
        "ghost": ghost,
        "next_year": next_year,
        "bad_phone_customers": bad_phone,
        "bad_email_customers": bad_email,
        "phone_contacts": phone_contacts,
        "email_contacts": email_contacts,
    }


@pytest.fixture(scope="module")
def bad_drop_run(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("bad-drop")
    landing = scratch / "landing"
    targets = _make_drop(landing)
    proc = _cobranza_run(scratch, landing)
    return {"scratch": scratch, "proc": proc, "targets": targets, "db": scratch / "data" / "warehouse.duckdb"}


def test_the_run_proceeds_and_names_every_bad_file(bad_drop_run) -> None:
    proc = bad_drop_run["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads(proc.stdout)
    named = {Path(q["file"]).name: q["reason"] for q in summary["quarantined_files"]}
    for rel, fragment in BAD_FILES.items():
        name = Path(rel).name
        assert name in named, (name, sorted(named))
        assert fragment in named[name] and name in named[name], (name, named[name])
    assert summary["decisions"]["new_outbox_tasks"] > 50  # good data proceeded to decisions
    assert "Traceback" not in proc.stderr and "nanobind" not in proc.stderr


def test_bad_records_are_quarantined_with_their_reason(bad_drop_run) -> None:
    t = bad_drop_run["targets"]
    with duckdb.connect(str(bad_drop_run["db"]), read_only=True) as con:
        future = _one(con, "select reason from quarantine.raw_records where record_key = ?", [t["future"]])
        assert any("is in the future" in r[0] for r in future)
        assert _one(con, "select count(*) from raw_erp.invoices where invoice_id = ?", [t["future"]]) == [(0,)]
        phones = {r[0] for r in _one(con, "select record_key from quarantine.raw_records where reason like 'phone:%'")}
        emails = {r[0] for r in _one(con, "select record_key from quarantine.raw_records where reason like 'email:%'")}
        assert set(t["phone_contacts"]) <= phones and set(t["email_contacts"]) <= emails
        excluded = dict(_one(con, "select record_key, reason from quarantine.raw_excluded"))
        assert "the ERP has no customer" in excluded[t["ghost"]]
        assert "issue_date" in excluded[t["next_year"]]
        assert any("amount_total" in why and "min_value=0" in why for why in excluded.values())  # simulator defect
        assert any(r.startswith("currency=MEX") for r in excluded.values())  # the customer in 'MEX'
        dup = _one(con, "select count(*) from quarantine.raw_records where reason like 'duplicate key%'")
        assert dup[0][0] >= 1
        recon = _one(
            con, "select sum(quarantined_open_total), max(abs(relative_difference)) from marts.mart_ar_reconciliation"
        )
        assert recon[0][0] > 0 and recon[0][1] < 1e-4  # AR reconciles with the quarantined invoices as an item


def test_nobody_is_contacted_on_bad_data(bad_drop_run) -> None:
    t = bad_drop_run["targets"]
    with duckdb.connect(str(bad_drop_run["db"]), read_only=True) as con:
        tasks = con.execute("select * from outbox.contact_tasks").df()
        excluded = dict(_one(con, "select record_key, table_name from quarantine.raw_excluded"))
    bad_invoices = {t["future"], t["ghost"], t["next_year"]} | {
        k for k, table in excluded.items() if table == "raw_erp.invoices"
    }
    bad_customers = {k for k, table in excluded.items() if table == "raw_erp.customers"}
    for task in tasks.itertuples():
        ids = json.loads(task.invoice_ids) if isinstance(task.invoice_ids, str) else list(task.invoice_ids)
        assert not set(ids) & bad_invoices, task.task_id
        assert task.customer_id not in bad_customers, task.task_id
        if task.contact_id in t["phone_contacts"]:
            assert task.channel not in ("sms", "whatsapp", "call"), task.task_id
        if task.contact_id in t["email_contacts"]:
            assert task.channel != "email", task.task_id
    # the rest of a contact proceeds: customers whose phone or e-mail broke are still reached otherwise
    reached = set(tasks["customer_id"]) & (set(t["bad_phone_customers"]) | set(t["bad_email_customers"]))
    assert reached
    rendered = "".join(p.read_text() for p in (bad_drop_run["scratch"] / "data" / "outbox").glob("*.jsonl"))
    assert rendered and '"+12"' not in rendered and "@@ironbridge" not in rendered


def test_a_run_without_invoices_stops_with_one_line_naming_the_file(tmp_path) -> None:
    landing = tmp_path / "landing"
    from simulator import simulate

    simulate(landing, profile="S", seed=3, as_of=AS_OF, n_customers=60)
    (landing / "erp" / "invoices.parquet").write_bytes(HTML)
    shutil.rmtree(landing / "bank" / "statements", ignore_errors=True)
    proc = _cobranza_run(tmp_path, landing)
    assert proc.returncode == 1
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    last = lines[-1]
    assert "invoices.parquet" in last and "HTML page" in last and "download the export again" in last
    assert "Traceback" not in proc.stderr and "nanobind" not in proc.stderr
    log = Path(last.split("full log: ")[1].strip())
    assert log.is_file() and "Traceback" in log.read_text()
    assert not (tmp_path / "data" / "outbox").exists()  # nobody was contacted

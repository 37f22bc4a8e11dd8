"""Tests of the synthetic AR world (simulator.world / simulator.writers) on small worlds."""

from __future__ import annotations

import csv
import json
import re
import zoneinfo
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from connectors import contracts
from simulator import SimulationManifest, simulate
from simulator.world import REMITTANCE_QUALITIES

AS_OF = date(2025, 12, 15)
LATER = AS_OF + timedelta(days=30)
N = 400
ARROW = {
    "VARCHAR": pa.string(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    contracts.MONEY: pa.decimal128(18, 2),
}
MONEY_RE = re.compile(r"^-?\d+\.\d{2}$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$")
E164_RE = re.compile(r"^\+[1-9]\d{7,14}$")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SimulationManifest:
    return simulate(tmp_path_factory.mktemp("world"), profile="S", seed=7, as_of=AS_OF, n_customers=N)


@pytest.fixture(scope="module")
def later(tmp_path_factory: pytest.TempPathFactory) -> SimulationManifest:
    return simulate(tmp_path_factory.mktemp("later"), profile="S", seed=7, as_of=LATER, n_customers=N)


def load(m: SimulationManifest, table: str) -> pd.DataFrame:
    """Read a stream's file as strings/decimals the way a connector would see it."""
    path = m.files[table]
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas()
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])


def truth(m: SimulationManifest, name: str) -> pd.DataFrame:
    return pq.read_table(m.truth_files[name]).to_pandas()


def test_same_seed_and_as_of_give_identical_bytes(world: SimulationManifest, tmp_path: Path) -> None:
    again = simulate(tmp_path / "again", profile="S", seed=7, as_of=AS_OF, n_customers=N)
    rels = sorted(p.relative_to(world.out_dir) for p in world.out_dir.rglob("*") if p.is_file())
    assert rels == sorted(p.relative_to(again.out_dir) for p in again.out_dir.rglob("*") if p.is_file())
    for rel in rels:
        assert (world.out_dir / rel).read_bytes() == (again.out_dir / rel).read_bytes(), rel


def test_other_seed_gives_other_world(world: SimulationManifest, tmp_path: Path) -> None:
    other = simulate(tmp_path / "other", profile="S", seed=8, as_of=AS_OF, n_customers=N)
    inv = contracts.INVOICES.table
    assert other.files[inv].read_bytes() != world.files[inv].read_bytes()


def test_later_as_of_extends_the_same_history(world: SimulationManifest, later: SimulationManifest) -> None:
    fixed = ["invoice_id", "number", "customer_id", "issue_date", "due_date", "currency", "amount_total"]
    fixed += ["payment_reference"]
    a = load(world, contracts.INVOICES.table)[fixed]
    b = load(later, contracts.INVOICES.table)[fixed]
    assert len(b) > len(a)
    pd.testing.assert_frame_equal(a, b.iloc[: len(a)].reset_index(drop=True))
    assert (b.iloc[len(a) :]["issue_date"] > AS_OF).all()
    # immutable streams: everything seen at AS_OF is still there, unchanged
    for table in (contracts.STATEMENT_LINES, contracts.PAYMENT_ALLOCATIONS, contracts.INTERACTIONS):
        a = load(world, table.table)
        b = load(later, table.table)
        merged = a.merge(b, how="left", on=list(a.columns), indicator=True)
        assert (merged["_merge"] == "both").all(), table.table
        assert len(b) > len(a)
    ca = set(load(world, contracts.CUSTOMERS.table)["customer_id"])
    assert ca <= set(load(later, contracts.CUSTOMERS.table)["customer_id"])


def test_nothing_after_as_of_is_visible(world: SimulationManifest) -> None:
    end = pd.Timestamp(AS_OF) + pd.Timedelta(days=1)
    inv = load(world, contracts.INVOICES.table)
    assert (inv["issue_date"] <= AS_OF).all()
    assert (pd.to_datetime(inv["updated_at"]) < end).all()
    bank = load(world, contracts.STATEMENT_LINES.table)
    assert (bank["booking_date"] <= AS_OF).all() and (bank["value_date"] <= bank["booking_date"]).all()
    alloc = load(world, contracts.PAYMENT_ALLOCATIONS.table)
    assert (pd.to_datetime(alloc["recorded_at"]) < end).all()
    for table, col in (
        (contracts.INTERACTIONS.table, "occurred_at"),
        (contracts.DISPUTES.table, "updated_at"),
        (contracts.CUSTOMERS.table, "updated_at"),
        (contracts.CREDIT_NOTES.table, "updated_at"),
    ):
        assert (pd.to_datetime(load(world, table)[col]) < end).all(), table
    contacts = load(world, contracts.CONTACTS.table)
    assert (pd.to_datetime(contacts["updated_at"]) < end).all()


def test_files_follow_the_contracts(world: SimulationManifest) -> None:
    assert set(world.files) == {s.table for s in contracts.ALL_STREAMS}
    for s in contracts.ALL_STREAMS:
        path = world.files[s.table]
        assert path.exists()
        if path.suffix == ".parquet":
            schema = pq.read_schema(path)
            assert schema.names == s.column_names
            assert [schema.field(c.name).type for c in s.columns] == [ARROW[c.type] for c in s.columns]
        elif path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as f:
                rows = list(csv.DictReader(f))
            assert list(rows[0]) == s.column_names
            for c in s.columns:
                values = [r[c.name] for r in rows if r[c.name] != ""]
                pattern = {contracts.MONEY: MONEY_RE, "DATE": DATE_RE, "TIMESTAMP": TS_RE}.get(c.type)
                if pattern is not None:
                    assert all(pattern.match(x) for x in values), (s.table, c.name)
                if c.type == "INTEGER":
                    assert all(x.lstrip("-").isdigit() for x in values), (s.table, c.name)
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
            first = json.loads(lines[0])
            assert list(first) == s.column_names
            for line in lines:
                row = json.loads(line)
                for c in s.columns:
                    if c.type == "BOOLEAN":
                        assert isinstance(row[c.name], bool)
                    if c.type == "TIMESTAMP":
                        assert TS_RE.match(row[c.name])
        assert world.row_counts[s.table] > 0
    assert SimulationManifest.read(world.out_dir).to_dict() == world.to_dict()


def test_keys_unique_and_required_columns_present(world: SimulationManifest) -> None:
    for s in contracts.ALL_STREAMS:
        df = load(world, s.table)
        assert not df.duplicated(list(s.primary_key)).any(), s.table
        for c in s.columns:
            if not c.nullable:
                assert df[c.name].notna().all(), (s.table, c.name)
    inv = load(world, contracts.INVOICES.table)
    assert inv["number"].is_unique
    assert inv["number"].str.fullmatch(r"INV-\d{4}-\d{6}").all()
    assert inv["invoice_id"].str.fullmatch(r"inv_\d{8}").all()
    assert load(world, contracts.CUSTOMERS.table)["customer_id"].str.fullmatch(r"C\d{6}").all()


def test_reference_codes_are_valid(world: SimulationManifest) -> None:
    cust = load(world, contracts.CUSTOMERS.table)
    currency = {"MX": "MXN", "CO": "COP", "ES": "EUR", "CL": "CLP", "PE": "PEN", "AR": "ARS", "US": "USD"}
    assert set(cust["country"]) == set(currency)
    assert (cust["currency"] == cust["country"].map(currency)).all()
    assert cust["timezone"].isin(zoneinfo.available_timezones()).all()
    assert cust["payment_terms_days"].astype(int).isin([30, 45, 60, 90]).all()
    assert set(cust["segment"]) == {"enterprise", "mid_market", "smb"}
    assert set(cust.loc[cust["country"] == "MX", "timezone"]) > {"America/Mexico_City"}
    contacts = load(world, contracts.CONTACTS.table)
    assert contacts["timezone"].isin(zoneinfo.available_timezones()).all()
    inv = load(world, contracts.INVOICES.table)
    assert set(inv["currency"]) <= set(currency.values())


def test_amount_open_bounds_and_reconciliation(world: SimulationManifest) -> None:
    inv = load(world, contracts.INVOICES.table)
    assert (inv["amount_total"] > 0).all()
    assert ((inv["amount_open"] >= 0) & (inv["amount_open"] <= inv["amount_total"])).all()
    cancelled = inv["status"] == "cancelled"
    assert cancelled.any() and (inv.loc[cancelled, "amount_open"] == 0).all()
    assert set(inv["status"]) == {"posted", "cancelled"}
    alloc = load(world, contracts.PAYMENT_ALLOCATIONS.table).groupby("invoice_id")["amount"].sum()
    cn = load(world, contracts.CREDIT_NOTES.table)
    assert len(cn) and cn["invoice_id"].is_unique
    credited = cn.set_index("invoice_id")["amount_total"].map(Decimal)
    posted = inv[~cancelled].set_index("invoice_id")
    settled = posted["amount_total"] - posted["amount_open"]
    zero = Decimal("0.00")
    expected = alloc.reindex(posted.index, fill_value=zero) + credited.reindex(posted.index, fill_value=zero)
    assert (settled == expected).all()
    assert not inv.loc[cancelled, "invoice_id"].isin(alloc.index).any()
    assert (posted["amount_open"] == 0).any() and (posted["amount_open"] == posted["amount_total"]).any()


def test_bank_ground_truth_covers_customer_credits(world: SimulationManifest) -> None:
    bank = load(world, contracts.STATEMENT_LINES.table).set_index("bank_txn_id")
    lines = truth(world, "bank_lines").set_index("bank_txn_id")
    links = truth(world, "bank_line_invoices")
    assert lines.index.equals(bank.index)
    customer = lines.index[lines["kind"] == "customer_payment"]
    assert (bank.loc[customer, "credit_debit"] == "CRDT").all()
    assert set(links["bank_txn_id"]) == set(customer)
    assert (bank["credit_debit"] == "DBIT").any()
    paid = links.groupby("bank_txn_id")["amount"].sum()
    assert (paid + lines.loc[paid.index, "overpaid_amount"] == bank.loc[paid.index, "amount"]).all()
    assert (lines.loc[customer, "n_invoices"] == links.groupby("bank_txn_id").size().loc[customer]).all()
    inv = load(world, contracts.INVOICES.table).set_index("invoice_id")
    assert links["invoice_id"].isin(inv.index).all()
    owner = inv.loc[links["invoice_id"], "customer_id"].to_numpy()
    assert (owner == lines.loc[links["bank_txn_id"], "customer_id"].to_numpy()).all()
    classes = truth(world, "customer_classes")
    assert set(classes["latent_class"]) == {"on_time", "slightly_late", "chronic", "deteriorating", "defaulting"}
    assert (lines["n_invoices"] > 1).any(), "grouped payments"
    assert (lines["overpaid_amount"] > 0).any(), "over-payments"
    assert (links.groupby("invoice_id").size() > 1).any(), "partial payments"
    assert (lines["payer"] == "third_party").any() and (bank["counterparty_name"].isna()).any()


def test_remittance_quality_cases(world: SimulationManifest) -> None:
    bank = load(world, contracts.STATEMENT_LINES.table).set_index("bank_txn_id")
    lines = truth(world, "bank_lines").set_index("bank_txn_id")
    links = truth(world, "bank_line_invoices")
    inv = load(world, contracts.INVOICES.table).set_index("invoice_id")
    numbers = links.assign(number=inv.loc[links["invoice_id"], "number"].to_numpy())
    first = numbers.groupby("bank_txn_id")["number"].first()
    every = numbers.groupby("bank_txn_id")["number"].apply(list)
    quality = lines["remittance_quality"].dropna()
    assert set(quality) == set(REMITTANCE_QUALITIES)
    text = bank["remittance_text"]
    for txn in quality.index[quality == "exact"]:
        assert first[txn] in text[txn]
    for txn in quality.index[quality == "several"]:
        assert all(n in text[txn] for n in every[txn])
    for txn in quality.index[quality == "typo"]:
        body = text[txn][-len(first[txn]) :]
        assert body != first[txn] and sum(a != b for a, b in zip(body, first[txn], strict=True)) in (1, 2)
    for txn in quality.index[quality == "truncated"]:
        cut = text[txn].split(" ")[-1]
        assert first[txn].startswith(cut) and len(cut) < len(first[txn])
    for txn in quality.index[quality.isin(["missing", "typo", "truncated", "reformatted"])]:
        assert not (isinstance(text[txn], str) and first[txn] in text[txn])
    structured = quality.index[quality == "structured"]
    refs = bank.loc[structured, "creditor_reference"]
    assert refs.notna().all()
    first_id = links.groupby("bank_txn_id")["invoice_id"].first()
    assert (refs.to_numpy() == inv.loc[first_id[structured], "payment_reference"].to_numpy()).all()
    for ref in refs:
        digits = "".join(str(int(ch, 36)) for ch in ref[4:] + ref[:4])
        assert int(digits) % 97 == 1, ref
    assert bank["remittance_text"].str.len().max() <= 140
    es = bank["counterparty_iban"].dropna()
    es = es[es.str.startswith("ES")]
    assert len(es) and all(int("".join(str(int(ch, 36)) for ch in i[4:] + i[:4])) % 97 == 1 for i in es)


def test_erp_allocations_lag_the_bank(world: SimulationManifest) -> None:
    alloc = load(world, contracts.PAYMENT_ALLOCATIONS.table)
    lag = (pd.to_datetime(alloc["recorded_at"]).dt.normalize() - pd.to_datetime(alloc["payment_date"])).dt.days
    assert lag.between(1, 5).all()
    assert set(lag) == {1, 2, 3, 4, 5}
    bank = load(world, contracts.STATEMENT_LINES.table).set_index("bank_txn_id")
    known = alloc[alloc["bank_txn_id"].notna()]
    assert known["bank_txn_id"].isin(bank.index).all()
    assert (known["payment_date"].to_numpy() == bank.loc[known["bank_txn_id"], "value_date"].to_numpy()).all()
    assert alloc["bank_txn_id"].isna().any()
    # the bank is ahead of the ERP: some customer payments are not recorded yet
    links = truth(world, "bank_line_invoices")
    assert not links["bank_txn_id"].isin(alloc["bank_txn_id"]).all()


def test_contacts_phones_emails_and_consent(world: SimulationManifest) -> None:
    contacts = load(world, contracts.CONTACTS.table)
    cust = load(world, contracts.CUSTOMERS.table).set_index("customer_id")
    phones = contacts.dropna(subset=["phone"])
    assert phones["phone"].str.match(E164_RE).all()
    sample = phones.sample(min(300, len(phones)), random_state=0)
    for phone, customer in zip(sample["phone"], sample["customer_id"], strict=True):
        num = phonenumbers.parse(phone, None)
        assert phonenumbers.is_valid_number(num), phone
        assert phonenumbers.region_code_for_number(num) == cust.loc[customer, "country"], phone
    emails = contacts["email"].dropna()
    assert emails.str.fullmatch(r"[a-z0-9._]+@[a-z0-9.-]+\.[a-z]+").all()
    assert contacts[["email", "phone"]].notna().any(axis=1).all()
    assert set(contacts["role"]) == {"debtor", "guarantor", "other"}
    debtors = contacts[contacts["role"] == "debtor"]["customer_id"]
    assert set(cust.index) <= set(debtors)
    assert contacts.groupby("customer_id").size().between(1, 3).all()
    assert set(contacts["language"]) == {"es", "en", "pt"}
    consent = contacts[["consent_email", "consent_whatsapp", "consent_sms", "consent_call"]]
    assert (~consent.any(axis=1)).any() and consent.all(axis=1).any()
    assert not consent.all(axis=0).any()
    assert contacts["preferred_hour"].between(9, 18).all()
    assert contacts["preferred_channel"].dropna().isin(["email", "whatsapp", "sms", "call"]).all()


def test_interactions_and_disputes(world: SimulationManifest) -> None:
    inter = load(world, contracts.INTERACTIONS.table)
    outcomes = set(inter["outcome"])
    assert {"delivered", "read", "replied", "bounced", "promise_to_pay", "dispute", "paid_claim"} <= outcomes
    promise = inter["outcome"] == "promise_to_pay"
    assert inter.loc[promise, ["promised_date", "promised_amount"]].notna().all().all()
    assert inter.loc[~promise, ["promised_date", "promised_amount"]].isna().all().all()
    assert set(inter["direction"]) == {"outbound", "inbound"}
    contacts = load(world, contracts.CONTACTS.table).set_index("contact_id")
    assert inter["contact_id"].isin(contacts.index).all()
    assert (contacts.loc[inter["contact_id"], "customer_id"].to_numpy() == inter["customer_id"].to_numpy()).all()
    disputes = load(world, contracts.DISPUTES.table)
    assert set(disputes["status"]) == {"open", "resolved"}
    assert (disputes["status"] == "resolved").eq(disputes["resolved_at"].notna()).all()
    inv = load(world, contracts.INVOICES.table)
    assert disputes["invoice_id"].isin(inv["invoice_id"]).all()


def test_dates_outside_horizon_are_rejected(tmp_path: Path) -> None:
    start = date(2024, 11, 1)
    with pytest.raises(ValueError, match="too early"):
        simulate(tmp_path, as_of=start + timedelta(days=30), start_date=start, n_customers=10)
    with pytest.raises(ValueError, match="beyond the simulated horizon"):
        simulate(tmp_path, as_of=date(2030, 1, 1), start_date=start, n_customers=10)
    with pytest.raises(ValueError, match="unknown simulator profile"):
        simulate(tmp_path, profile="XL", as_of=AS_OF)
    assert not any(tmp_path.iterdir())


def test_defects_only_when_asked(world: SimulationManifest, tmp_path: Path) -> None:
    assert world.defects == []
    bad = simulate(tmp_path, profile="S", seed=7, as_of=AS_OF, n_customers=N, defects=True)
    assert len(bad.defects) >= 5
    inv = load(bad, contracts.INVOICES.table)
    assert inv["invoice_id"].duplicated().any()
    assert (inv["amount_total"] < 0).any()
    contacts = load(bad, contracts.CONTACTS.table)
    assert not contacts["phone"].dropna().str.match(E164_RE).all()
    assert not contacts["email"].dropna().str.contains("@").all()
    bank = load(bad, contracts.STATEMENT_LINES.table)
    assert bank["bank_txn_id"].duplicated().any()
    assert json.loads((tmp_path / "manifest.json").read_text())["defects"] == bad.defects


def test_default_as_of_is_two_years_of_history(tmp_path: Path) -> None:
    m = simulate(tmp_path, n_customers=20)
    assert m.as_of == date(2026, 10, 31)
    assert SimulationManifest.read(tmp_path).as_of == m.as_of

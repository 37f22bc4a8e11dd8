"""End to end: the real daily flow on profile S in a temporary folder (DuckDB, dbt, GX, MLflow).

Asserts outcomes, not calls: rows in the marts, a champion that loads by alias, outbox rows only
for customers with an overdue, unpaid, undisputed balance and a consented channel, scheduled in a
lawful window, and a second run that lands no duplicate raw rows and contacts nobody again. A
corrupted file that leaves a required stream empty stops the run before any contact with an error
naming the file.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

AS_OF = date(2026, 11, 23)
RAW_TABLES = [
    "raw_erp.customers",
    "raw_erp.invoices",
    "raw_erp.credit_notes",
    "raw_erp.payment_allocations",
    "raw_crm.contacts",
    "raw_crm.interactions",
    "raw_crm.disputes",
    "raw_bank.statement_lines",
]

pytestmark = pytest.mark.slow


def _counts(db: Path, tables: list[str]) -> dict[str, int]:
    with duckdb.connect(str(db)) as con:
        return {t: con.execute(f"select count(*) from {t}").fetchall()[0][0] for t in tables}


@pytest.fixture(scope="module")
def first_and_second_run(tmp_path_factory, prefect_harness):
    from flows import progress
    from flows.daily import daily_collections

    data = tmp_path_factory.mktemp("daily")
    mp = pytest.MonkeyPatch()
    mp.setenv("COBRANZA_DATA_DIR", str(data))
    announced: list[tuple[str, int, int]] = []
    try:
        with progress.watching(lambda stage, done, total: announced.append((stage, done, total))):
            first = daily_collections(as_of=AS_OF)
        raw_after_first = _counts(data / "warehouse.duckdb", RAW_TABLES)
        outbox_after_first = _counts(data / "warehouse.duckdb", ["outbox.contact_tasks", "outbox.task_events"])
        files_after_first = sorted((data / "outbox").glob("*.jsonl"))
        lines_after_first = sum(len(f.read_text().splitlines()) for f in files_after_first)
        second = daily_collections(as_of=AS_OF)
    finally:
        mp.undo()
    return {
        "data": data,
        "first": first,
        "second": second,
        "raw_after_first": raw_after_first,
        "outbox_after_first": outbox_after_first,
        "lines_after_first": lines_after_first,
        "announced": announced,
    }


def test_marts_are_built_and_summary_reports_layers(first_and_second_run) -> None:
    s = first_and_second_run["first"]
    layers = s["rows_per_layer"]
    assert layers["raw_erp"] > 10_000 and layers["marts"] > 10_000
    tables = s["rows_per_table"]["marts"]
    for mart in ("dim_customers", "fct_invoices", "fct_payments", "mart_collections_kpis", "dim_contacts"):
        assert tables[mart] > 0, mart
    assert 900 <= tables["dim_customers"] <= 1100
    kpis = pd.DataFrame(s["kpis"])
    assert set(kpis["currency"]) >= {"MXN", "COP", "EUR", "USD"}
    # one roll-up row per currency (all segments and countries), plus the all-currency total
    per_currency = kpis[(kpis["segment"] == "all") & (kpis["country"] == "all")]
    assert set(per_currency["currency"]) >= {"MXN", "COP", "EUR", "USD", "all"}
    assert (per_currency["dso_standard"].astype(float) > 0).all()
    assert set(s["where_next"]) >= {"warehouse", "mlflow_ui", "prefect_ui", "dbt_docs"}


def test_every_stage_is_announced_to_the_progress_bar(first_and_second_run) -> None:
    announced = first_and_second_run["announced"]
    stages = [stage for stage, _, _ in announced]
    assert stages[0] == "simulate sources" and stages[-1] == "summary"
    assert stages.index("dbt build") < stages.index("quality gate: pre_dispatch") < stages.index("dispatch")
    assert [done for _, done, _ in announced] == list(range(len(announced)))
    assert {total for _, _, total in announced} == {len(announced) - 1}


def test_a_broken_progress_listener_never_breaks_a_run() -> None:
    from flows import progress

    def broken(stage: str, done: int, total: int) -> None:
        raise RuntimeError("terminal went away")

    heard: list[str] = []
    with progress.watching(broken), progress.watching(lambda stage, done, total: heard.append(stage)):
        progress.announce("dbt build", 3, 9)
    progress.announce("not heard", 4, 9)
    assert heard == ["dbt build"]


def test_champion_is_registered_and_loads_by_alias(first_and_second_run) -> None:
    from ml.registry import load_champion

    s = first_and_second_run["first"]
    assert s["model"]["roc_auc"] > 0.7
    uri = f"sqlite:///{first_and_second_run['data'] / 'mlflow.db'}"
    model, version = load_champion(uri)
    assert version == s["model"]["version"]
    assert hasattr(model, "predict_proba")
    with duckdb.connect(str(first_and_second_run["data"] / "warehouse.duckdb")) as con:
        scored = con.execute(
            "select count(*), count(distinct model_version) from ml_scores.invoice_scores where as_of_date = ?",
            [AS_OF],
        ).fetchall()[0]
        open_invoices = con.execute("select count(*) from marts.ml_open_invoice_features").fetchall()[0][0]
    assert scored == (open_invoices, 1)


def test_outbox_only_contacts_lawful_eligible_customers(first_and_second_run) -> None:
    from ml.nba import compliance

    db = first_and_second_run["data"] / "warehouse.duckdb"
    with duckdb.connect(str(db)) as con:
        tasks = con.execute("select * from outbox.contact_tasks").df()
        dunnable = con.execute(
            # Overdue, or coming due within the pre-due reminder horizon (NbaConfig.predue_days = 60).
            "select customer_id from marts.fct_invoices "
            "where status = 'posted' and amount_open > 0 and due_date <= cast(? as date) + 60 "
            "and not is_disputed and not is_paid "
            "group by customer_id",
            [AS_OF],
        ).df()
        contacts = con.execute("select * from marts.dim_contacts").df().set_index("contact_id")
        invoices = con.execute("select * from marts.fct_invoices").df().set_index("invoice_id")
        segments = dict(con.execute("select customer_id, segment from marts.mart_dunning_accounts").fetchall())
        countries = dict(con.execute("select customer_id, country from marts.dim_customers").fetchall())
    assert len(tasks) > 50
    # one task per customer and day; an early-warning review (keyed by its alert, issue 21) may sit beside it
    assert tasks["task_id"].is_unique and tasks.loc[tasks["action"] != "alert_review", "customer_id"].is_unique
    internal = tasks[tasks["channel"] == "internal"]  # reviews (dispute, alert) and escalations: nobody is contacted
    assert set(internal["action"]) <= {"dispute_review", "escalate", "alert_review"}
    assert internal["contact_id"].isna().all()
    tasks = tasks[tasks["channel"] != "internal"]
    assert set(tasks["customer_id"]) <= set(dunnable["customer_id"])
    consent = {"email": "consent_email", "whatsapp": "consent_whatsapp", "sms": "consent_sms", "call": "consent_call"}
    for t in tasks.itertuples():
        c = contacts.loc[t.contact_id]
        assert c["customer_id"] == t.customer_id and c["role"] in ("debtor", "guarantor")
        assert bool(c[consent[t.channel]]), f"{t.task_id}: no {t.channel} consent"
        at = pd.Timestamp(t.scheduled_at)
        at = at.tz_localize("UTC") if at.tzinfo is None else at  # the outbox stores naive UTC
        # The rules the engine applies: the customer's country profile (no relaxation configured).
        country = countries.get(t.customer_id)
        profile, _ = compliance.effective_profile(country, segments.get(t.customer_id))
        broken = compliance.check_contact(
            at=at.to_pydatetime(),
            channel=t.channel,
            role=c["role"],
            consent=bool(c[consent[t.channel]]),
            # The zone the engine scheduled in (the contact's, else the customer's), named in the payload.
            tz=json.loads(t.payload)["timezone"],
            country=country,
            profile=profile,
            history=[],
        )
        assert not broken, f"{t.task_id}: {broken}"
        ids = json.loads(t.invoice_ids) if isinstance(t.invoice_ids, str) else list(t.invoice_ids)
        inv = invoices.loc[ids]
        assert (inv["customer_id"] == t.customer_id).all()
        assert not inv["is_disputed"].any() and not inv["is_paid"].any() and (inv["amount_open"] > 0).all()
    messages = first_and_second_run["lines_after_first"]
    assert messages == len(tasks) + len(internal)  # the dry-run file records internal tasks too


def test_second_run_adds_no_raw_rows_and_no_contacts(first_and_second_run) -> None:
    r = first_and_second_run
    db = r["data"] / "warehouse.duckdb"
    assert _counts(db, RAW_TABLES) == r["raw_after_first"]
    assert _counts(db, ["outbox.contact_tasks", "outbox.task_events"]) == r["outbox_after_first"]
    assert r["second"]["decisions"]["new_outbox_tasks"] == 0
    lines = sum(len(f.read_text().splitlines()) for f in (r["data"] / "outbox").glob("*.jsonl"))
    assert lines == r["lines_after_first"]
    assert r["second"]["model"]["version"] == r["first"]["model"]["version"]


def test_corrupted_source_file_stops_the_run_before_any_contact(tmp_path, monkeypatch, prefect_harness) -> None:
    from connectors.load import SourceDataError
    from flows.daily import daily_collections
    from simulator import simulate

    landing = tmp_path / "landing"
    simulate(landing, profile="S", seed=7, as_of=AS_OF)
    invoices = landing / "erp" / "invoices.parquet"
    blob = invoices.read_bytes()
    invoices.write_bytes(blob[: len(blob) // 3])
    monkeypatch.setenv("COBRANZA_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COBRANZA_SIMULATOR__ENABLED", "false")
    monkeypatch.setenv("COBRANZA_SOURCES__LANDING_DIR", str(landing))
    with pytest.raises(SourceDataError, match=r"invoices\.parquet.*(corrupted|truncated)"):
        daily_collections(as_of=AS_OF)
    # The run replicates the (empty) operational store before ingesting, so the outbox tables may exist:
    # what matters is that no task was queued, in the store or its warehouse replica, and nothing rendered.
    for db in ("warehouse.duckdb", "ops.duckdb"):
        path = tmp_path / "data" / db
        if not path.exists():
            continue
        with duckdb.connect(str(path)) as con:
            has_outbox = con.execute(
                "select count(*) from information_schema.tables where table_schema = 'outbox' "
                "and table_name = 'contact_tasks'"
            ).fetchall()[0][0]
            tasks = con.execute("select count(*) from outbox.contact_tasks").fetchall()[0][0] if has_outbox else 0
        assert tasks == 0, f"{db}: {tasks} contact tasks queued from a run that stopped on a corrupted file"
    assert not (tmp_path / "data" / "outbox").exists()


# A negative invoice amount and a duplicated key no longer stop the run (issue 16, DESIGN.md §5): the
# records are quarantined and left out, and the run goes on - see tests/e2e/test_bad_drop_run.py,
# which runs the simulator's defects plus one bad file of each kind through `cobranza run`.


def test_business_days_past_due_match_numpy_calendar(first_and_second_run) -> None:
    """The closed-form SQL weekday count agrees with numpy's business-day calendar on every overdue invoice."""
    import numpy as np

    with duckdb.connect(str(first_and_second_run["data"] / "warehouse.duckdb")) as con:
        rows = con.execute(
            "select due_date, business_days_past_due from marts.fct_invoices where days_past_due > 0"
        ).fetchall()
    assert len(rows) > 100
    end = np.datetime64(AS_OF) + 1
    expected = [int(np.busday_count(np.datetime64(due) + 1, end)) for due, _ in rows]
    assert [b for _, b in rows] == expected

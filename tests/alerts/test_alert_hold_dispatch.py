"""An alert raised after the morning decision holds the contacts already queued (issue 21).

The morning run queued reminders; the hourly bank sync then raises a fraud/redirection alert
(``flows.alerts.raise_alerts``, the real stage on a real warehouse and operational store). The
dispatcher's pre-send re-check (``flows.dispatch.cancel_stale`` -> ``ml.nba.revalidate.stale_tasks``
-> ``ml.nba.holds.held_by_alerts``) holds that customer's written contact with the alert's reason
codes, its ``alert_review`` task is queued beside it for a person, and the near misses go out: a
customer with a non-fraud alert, a collector's call, an alert marked a false positive.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "channels"))

from channels_helpers import decision_rows, warehouse_state  # noqa: E402

from cli.alerts import alerts_app  # noqa: E402
from cobranza.settings import load_settings  # noqa: E402
from connectors.channels import outbox  # noqa: E402
from flows import stages  # noqa: E402
from flows.alerts import raise_alerts  # noqa: E402
from flows.service import ops_connection  # noqa: E402
from ml.alerts import lifecycle  # noqa: E402
from ml.nba.holds import held_by_alerts  # noqa: E402
from ml.nba.revalidate import stale_tasks  # noqa: E402

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
BEHAVIOUR_COLUMNS = [
    "customer_id", "n_history", "n_recent", "history_median_days_late", "history_mad_days_late",
    "recent_median_days_late", "recent_share_open",
]  # fmt: skip


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COBRANZA_DATA_DIR", str(tmp_path))


def _signal(signal_id: str, signal: str, customer: str, severity: str = "high") -> dict:
    return {
        "signal_id": signal_id,
        "signal": signal,
        "customer_id": customer,
        "evidence_key": "ES9121000418450200051332",
        "severity": severity,
        "score": 1.0,
        "first_seen_date": NOW.date(),
        "amount": Decimal("1500.00"),
        "currency": "EUR",
        "evidence": "BT1,BT2,BT3",
        "description": "3 payments in a row from an account the customer never used",
    }


def _bank_sync_finds(ctx: stages.RunContext, signals: list[dict]) -> None:
    """What the bank sync's dbt build leaves for the alert stage: the signals, the book, no behaviour rows."""
    with duckdb.connect(str(ctx.warehouse)) as wh:
        wh.execute("create schema if not exists intermediate")
        sig = pd.DataFrame(signals)  # noqa: F841 - read by DuckDB
        wh.execute("create or replace table marts.mart_alert_signals as select * from sig")
        cust = pd.DataFrame({"customer_id": [f"C{i:06d}" for i in range(1, 301)]})  # noqa: F841
        wh.execute("create or replace table marts.dim_customers as select * from cust")
        beh = pd.DataFrame({c: pd.Series([], dtype=object if c == "customer_id" else float) for c in BEHAVIOUR_COLUMNS})  # noqa: F841
        wh.execute("create or replace table intermediate.int_alert_payment_behaviour as select * from beh")


def _tasks(settings) -> pd.DataFrame:
    with duckdb.connect(str(settings.ops_path)) as ops:
        return outbox.task_states(ops)


def test_an_alert_raised_after_the_decision_holds_the_queued_contact_and_routes_it_to_a_person(
    tmp_path: Path,
) -> None:
    later = NOW + timedelta(hours=3)  # the debtor's window opens this afternoon: the contacts wait
    emails = decision_rows(3, "email", scheduled_at=later)
    calls = decision_rows(1, "call", scheduled_at=later, start=4)
    queued = pd.concat([emails, calls], ignore_index=True)
    settings = load_settings()
    ctx = stages.make_context(settings, NOW.date(), NOW)
    with duckdb.connect(str(ctx.warehouse)) as wh:
        warehouse_state(wh, queued)
    with ops_connection(settings, "test") as ops:  # the morning decision's hand-over
        assert outbox.enqueue(ops, queued, NOW.date()) == 4
    stages.refresh_serving(ctx)

    # the bank sync, an hour later: a new payer account on C1 and C4 (fraud), C2 stopped paying (not fraud)
    sync = stages.make_context(settings, NOW.date(), NOW + timedelta(hours=1))
    _bank_sync_finds(
        sync,
        [
            _signal("a1", "new_payer_account", "C000001"),
            _signal("a2", "stopped_paying", "C000002"),
            _signal("a4", "shared_payer_account", "C000004"),
        ],
    )
    out = raise_alerts(sync)
    assert out["raised"] == 3 and out["review_tasks"] == 3 and out["held"] == 2
    assert stages.cancel_stale(sync) == 1

    tasks = _tasks(settings).set_index(["customer_id", "action"])
    held_state, why = tasks.loc[("C000001", "email"), ["state", "last_error"]]
    assert held_state == "dead" and why.startswith(outbox.CANCELLED_PREFIX)
    assert "held: open fraud/redirection alert on customer C000001 (hold:alert_new_payer_account:a1)" in why
    assert "route:alert_review" in why
    # the person's task sits beside the held reminder (not blocked by the customer's one task of the day)
    review = tasks.loc[("C000001", "alert_review")]
    assert review["state"] == "pending" and review["channel"] == "internal"
    assert "alert:new_payer_account:a1" in list(review["reason_codes"])
    # near misses: a non-fraud alert does not hold a reminder; a collector's call is a person already
    assert tasks.loc[("C000002", "email"), "state"] == "pending"
    assert tasks.loc[("C000003", "email"), "state"] == "pending"
    assert tasks.loc[("C000004", "call_task"), "state"] == "pending"

    # C1's alert turns out a false positive: the CLI republishes the holds, the next contact goes
    runner = CliRunner()
    assert runner.invoke(alerts_app, ["false-positive", "a1", "--note", "new bank, same company"]).exit_code == 0
    tomorrow = date(2026, 3, 3)
    with ops_connection(settings, "test") as ops:
        outbox.enqueue(ops, emails.iloc[[0]], tomorrow)
    stages.refresh_serving(ctx)
    assert stages.cancel_stale(stages.make_context(settings, tomorrow, NOW + timedelta(days=1))) == 0


def test_held_by_alerts_fires_on_written_contacts_of_held_customers_only() -> None:
    tasks = pd.DataFrame(
        {
            "task_id": ["t1", "t2", "t3", "t4", "t5"],
            "customer_id": ["C1", "C1", "C1", "C2", "C3"],
            "channel": ["email", "whatsapp", "call", "email", "internal"],
            "action": ["email", "whatsapp", "call_task", "email", "alert_review"],
            "contact_id": ["K1", "K1", "K1", "K2", None],
            "invoice_ids": [["I1"], ["I1"], ["I1"], ["I2"], []],
        }
    )
    holds = pd.DataFrame(
        {
            "customer_id": ["C1", "C2", "C3"],
            "alert_hold": [True, False, True],  # C2: only an exposure alert (credit hold suggested)
            "credit_hold": [False, True, False],
            "alert_codes": [["hold:alert_lapping:abcd1234"], ["suggest:credit_hold:ffff0000"], ["hold:alert_x:1"]],
        }
    )
    held = held_by_alerts(tasks, holds)
    assert held["task_id"].tolist() == ["t1", "t2"]
    assert all("hold:alert_lapping:abcd1234" in r for r in held["reason"])
    assert held_by_alerts(tasks, None).empty and held_by_alerts(tasks, holds.iloc[0:0]).empty
    # in the re-check: held before any other reason, the rest of the tasks re-checked as before
    contacts = pd.DataFrame({"contact_id": ["K1", "K2"], "consent_email": True, "consent_whatsapp": True,
                             "consent_sms": True, "consent_call": True})  # fmt: skip
    stale = stale_tasks(tasks, {"I1", "I2"}, contacts, alert_holds=holds)
    assert stale["task_id"].tolist() == ["t1", "t2"]
    assert stale_tasks(tasks, {"I1", "I2"}, contacts).empty
    assert lifecycle.SERVING_HOLDS == "serving.alert_holds"


def test_review_tasks_render_for_a_person_with_or_without_an_amount(tmp_path: Path) -> None:
    """A behaviour or payer alert has no amount or currency: its review task still renders (it died in the
    dry run with "render error: 'currency'" - 196 review tasks at profile M - and never reached anyone)."""
    from connectors.channels.dry_run.sender import DryRunSender
    from flows.alerts import review_tasks

    high = pd.DataFrame(
        {
            "alert_id": ["a1" * 16, "b2" * 16],
            "customer_id": ["C000001", "C000002"],
            "signal": ["behaviour_change", "duplicate_payment"],
            "severity": ["high", "high"],
            "amount": [None, Decimal("1250000.00")],
            "currency": [None, "COP"],
            "description": ["lateness broke from its history", "the same payment twice"],
            "evidence": ["I1,I2", "BT1,BT2"],
        }
    )
    tasks = review_tasks(high, stages.make_context(load_settings(), NOW.date(), NOW))
    assert [t["currency"] for t in tasks] == ["XXX", "COP"]
    results = DryRunSender(tmp_path / "dry").send_batch(tasks)
    assert [r.ok for r in results] == [True, True], [r.detail for r in results]
    lines = (tmp_path / "dry" / f"{NOW.date().isoformat()}.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["customer_id"], r["action"]) for r in records] == [
        ("C000001", "alert_review"),
        ("C000002", "alert_review"),
    ]
    assert "Early-warning alert on C000001" in records[0]["body"]

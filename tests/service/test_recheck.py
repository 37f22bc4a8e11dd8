"""The pre-send re-check on fresh data, as the service runs it (issue 18): a promise, a dispute or an
opt-out heard through the webhooks cancels that customer's queued contacts in the next inbound pass; a
payment the bank sync sees cancels the contacts about that invoice; an expired task says whether the
dispatcher ran through its window. Real DuckDB files (warehouse and operational store), the real
inbound and dispatcher flows."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "channels"))

from channels_helpers import decision_rows, warehouse_state  # noqa: E402

from cobranza.settings import load_settings  # noqa: E402
from connectors import ops_store  # noqa: E402
from connectors.channels import outbox  # noqa: E402
from connectors.webhooks.spool import Spool  # noqa: E402
from flows import stages  # noqa: E402
from flows.service import ops_connection  # noqa: E402

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The flows read their settings: point them at this test's folder."""
    monkeypatch.setenv("COBRANZA_DATA_DIR", str(tmp_path))


def _queued(tmp_path: Path, decisions: pd.DataFrame, **state):
    """A daily run's hand-over: tasks queued in the operational store, the serving tables refreshed."""
    settings = load_settings()
    ctx = stages.make_context(settings, NOW.date(), NOW)
    with duckdb.connect(str(ctx.warehouse)) as wh:
        warehouse_state(wh, decisions, **state)
    with ops_connection(settings, "test") as ops:
        assert outbox.enqueue(ops, decisions, NOW.date()) == len(decisions)
    stages.refresh_serving(ctx)
    return settings, ctx


def _states(settings) -> dict[str, tuple[str, str | None]]:
    with duckdb.connect(str(settings.ops_path)) as ops:
        states = outbox.task_states(ops)
    return {r.customer_id: (r.state, r.last_error) for r in states.itertuples()}


def _reply(spool: Spool, n: int, phone: str, text: str, at: datetime) -> None:
    spool.append(
        [
            {
                "event_id": f"wa-in-{n}",
                "provider": "whatsapp",
                "kind": "message",
                "provider_message_id": f"wamid.in{n}",
                "from_addr": phone.lstrip("+"),
                "text": text,
                "occurred_at": at.isoformat(),
            }
        ]
    )


def test_a_promise_a_dispute_and_an_opt_out_cancel_that_customers_queued_contacts(
    tmp_path: Path, prefect_harness: None
) -> None:
    later = NOW + timedelta(hours=3)  # the lawful window opens this afternoon: the contacts wait
    chats = decision_rows(4, "whatsapp", scheduled_at=later)
    emails = decision_rows(4, "email", scheduled_at=later, start=1).assign(
        customer_id=chats["customer_id"].to_numpy(), contact_id=chats["contact_id"].to_numpy()
    )
    settings, ctx = _queued(tmp_path, pd.concat([chats]))
    with ops_connection(settings, "test") as ops:  # a second contact per customer, decided yesterday
        outbox.enqueue(ops, emails, NOW.date() - timedelta(days=1))
    spool = Spool(settings.resolve(settings.channels.inbound_dir))
    phones = dict(zip(chats["customer_id"], chats["phone"], strict=True))
    heard = NOW + timedelta(minutes=1)
    _reply(spool, 1, phones["C000001"], "Les pago el viernes sin falta", heard)
    _reply(spool, 2, phones["C000002"], "No reconocemos esa factura, está en disputa", heard)
    _reply(spool, 3, phones["C000003"], "STOP", heard)

    from flows.inbound import inbound

    out = inbound(now_utc=NOW + timedelta(minutes=2))
    assert out["webhook_events"] == 3 and out["promises"] == 1 and out["disputes"] == 1
    with duckdb.connect(str(settings.ops_path), read_only=True) as ops:
        rows = ops.execute(
            "select t.customer_id, t.channel, e.detail from outbox.task_events e join outbox.contact_tasks t "
            "using (task_id) where e.state = 'dead' order by 1, 2"
        ).fetchall()
        passes = ops.execute(f"select flow, clock_at from {ops_store.RUNS_TABLE}").fetchall()
    why = {(c, ch): d for c, ch, d in rows}
    # Today's WhatsApp for 1-3; yesterday's e-mail too for the promise and the dispute (the customer
    # answered after both decisions); a WhatsApp STOP withdraws WhatsApp only.
    assert sorted(why) == [("C000001", "email"), ("C000001", "whatsapp"), ("C000002", "email"),
                           ("C000002", "whatsapp"), ("C000003", "whatsapp")], why  # fmt: skip
    assert out["cancelled"] == 5
    assert "customer C000001 promised to pay in a reply at 2026-03-02 15:01" in why[("C000001", "whatsapp")]
    assert "customer C000002 disputed in a reply" in why[("C000002", "email")]
    assert "opted out of whatsapp" in why[("C000003", "whatsapp")]
    assert all(d.startswith(outbox.CANCELLED_PREFIX) for d in why.values())
    assert passes == [("inbound", (NOW + timedelta(minutes=2)).replace(tzinfo=None))]
    states = _states(settings)
    assert states["C000004"][0] == "pending"

    # The next inbound pass finds nothing new and cancels nothing twice.
    again = inbound(now_utc=NOW + timedelta(minutes=4))
    assert again["webhook_events"] == 0 and again["cancelled"] == 0


def test_a_payment_the_bank_sync_sees_cancels_the_contacts_about_that_invoice(tmp_path: Path) -> None:
    emails = decision_rows(3, "email", scheduled_at=NOW + timedelta(hours=2))
    settings, ctx = _queued(tmp_path, emails)
    # The bank sync's dbt build: invoice I2b now has nothing open (paid in the bank, the ERP not told yet).
    with duckdb.connect(str(ctx.warehouse)) as wh:
        warehouse_state(wh, emails, settled=("I2b",))
    # ... then its last steps (flows/bank_sync.py): serving tables refreshed, stale contacts cancelled.
    assert stages.refresh_serving(ctx)["invoices"] == 6
    assert stages.cancel_stale(ctx) == 1
    states = _states(settings)
    assert states["C000002"][0] == "dead" and "invoice I2b no longer open" in states["C000002"][1]
    assert states["C000001"][0] == states["C000003"][0] == "pending"


def test_an_expired_task_says_whether_the_dispatcher_ran_through_its_window(tmp_path: Path) -> None:
    start = NOW - timedelta(hours=3)
    rows = pd.concat(
        [
            decision_rows(1, "whatsapp", scheduled_at=start),  # a pass ran inside its window
            decision_rows(1, "whatsapp", scheduled_at=start - timedelta(days=1), start=2),  # none did
        ],
        ignore_index=True,
    )
    rows["not_after"] = rows["scheduled_at"] + timedelta(minutes=30)
    path = tmp_path / "ops.duckdb"
    with duckdb.connect(str(path)) as ops:
        ops_store.ensure_schema(ops)
        outbox.enqueue(ops, rows.iloc[[0]], start.date())
        ops_store.record_run(
            ops,
            "dispatcher",
            clock_at=start + timedelta(minutes=10),
            started_at=start,
            finished_at=start,
            summary={"sent": 0},
        )
        assert ops_store.expire_missed(ops, NOW) == 1
        outbox.enqueue(ops, rows.iloc[[1]], start.date() - timedelta(days=1))
        assert ops_store.expire_missed(ops, NOW) == 1
        states = outbox.task_states(ops).set_index("customer_id")
    ran, idle = states.loc["C000001", "last_error"], states.loc["C000002", "last_error"]
    assert ran.startswith("window missed: lawful send window 2026-03-02T12:00:00+00:00 - 2026-03-02T12:30:00+00:00")
    assert "the dispatcher ran 1 pass(es) in it (last at 2026-03-02T12:10:00 UTC)" in ran
    assert "the dispatcher did not run during it" in idle

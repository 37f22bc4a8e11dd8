"""Payment plans after acceptance: every instalment tracked, kept or broken from the bank and ERP data.

A plan is accepted by reply (``agent.decisions``, action ``plan_accepted``, the plan in ``plan``) or on
the portal (``raw_channels.webhook_events`` kind ``portal_plan_accepted``, the plan in ``payload``);
either way it keeps each instalment's number, due date and amount, and its first instalment lands as a
promise to pay (so dunning waits for it).

:func:`track` follows one plan against what the customer paid since the plan was accepted, cumulatively:
instalment *k* is **kept** on the first day the payments reach the sum of instalments 1..k, if that day
is on or before its due date plus the grace (``nba.promise_grace_days``); it is **broken** when the
due date plus grace has passed without that; **due** inside its window and not yet covered; **upcoming**
before. Payments come from :func:`payments_since`: bank credits matched to the customer
(``marts.fct_payments``, by booking date, reversals excluded) and, for payments the ERP recorded that no
bank line shows (a cheque, a payment booked by hand), the ERP's paid amounts on the customer's invoices
dated by their last payment (``marts.fct_invoices``); per day the larger cumulative total of the two
counts, so a payment both show is counted once.

What the rest of the system does with it:

- :func:`next_instalment_promises`: when instalment *k* is kept, instalment *k+1* lands as the
  customer's next promise to pay (``plan-<plan id>-<k+1>``), so dunning stays paused through a plan
  that is being paid; the inbound pass lands them (``flows/agent.py``);
- a missed instalment is the customer's latest promise, broken: the decision engine resumes dunning
  with escalation (``promise:broken``), and :func:`broken_plan_codes` adds the plan's own reason code
  to the day's decision (``plan:broken``, the plan and the instalment missed; ``flows.stages.decide``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd

from ml.nba.plans import Instalment

STATUSES = ("kept", "broken", "due", "upcoming")


@dataclass(frozen=True)
class AcceptedPlan:
    """A plan the customer accepted (by reply or on the portal)."""

    plan_id: str
    customer_id: str
    accepted_at: datetime
    currency: str
    instalments: tuple[Instalment, ...]
    source: str  # the channel it was accepted on (``whatsapp``, ``sms``, ``email``, ``portal``)

    @property
    def total(self) -> Decimal:
        """Sum of the instalments."""
        return sum((i.amount for i in self.instalments), Decimal(0))


@dataclass(frozen=True)
class InstalmentStatus:
    """Where one instalment stands on a day."""

    plan_id: str
    customer_id: str
    number: int
    count: int
    due_date: date
    amount: Decimal
    status: str
    kept_on: date | None


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()
    return bool(rows[0][0])


def _instalments(plan: Any) -> tuple[Instalment, ...]:
    data = json.loads(plan) if isinstance(plan, str) else dict(plan or {})
    items = data.get("instalments") or []
    return tuple(
        sorted(
            (
                Instalment(int(i["number"]), date.fromisoformat(str(i["due_date"])[:10]), Decimal(str(i["amount"])))
                for i in items
            ),
            key=lambda i: i.number,
        )
    )


def accepted_plans(con: duckdb.DuckDBPyConnection) -> list[AcceptedPlan]:
    """Every accepted plan the connection holds (``agent.decisions`` and portal events), oldest first."""
    out: list[AcceptedPlan] = []
    if _exists(con, "agent", "decisions"):
        for iid, cid, at, plan, channel in con.execute(
            "select interaction_id, customer_id, occurred_at, plan, channel from agent.decisions "
            "where agent_action = 'plan_accepted' and customer_id is not null and plan is not null"
        ).fetchall():
            data = json.loads(plan) if isinstance(plan, str) else plan
            if inst := _instalments(data):
                out.append(AcceptedPlan(f"ag-{iid}", str(cid), at, str(data.get("currency") or ""), inst, channel))
    if _exists(con, "raw_channels", "webhook_events"):
        has_payload = con.execute(
            "select count(*) from information_schema.columns where table_schema = 'raw_channels' "
            "and table_name = 'webhook_events' and column_name = 'payload'"
        ).fetchall()[0][0]
        if has_payload:
            for eid, cid, at, payload in con.execute(
                "select event_id, customer_id, occurred_at, payload from raw_channels.webhook_events "
                "where kind = 'portal_plan_accepted' and customer_id is not null and payload is not null"
            ).fetchall():
                data = json.loads(payload)
                if inst := _instalments(data):
                    out.append(AcceptedPlan(f"wh-{eid}", str(cid), at, str(data.get("currency") or ""), inst, "portal"))
    return sorted(out, key=lambda p: (p.accepted_at, p.plan_id))


def current_plans(plans: Iterable[AcceptedPlan]) -> dict[str, AcceptedPlan]:
    """The customer's latest accepted plan (a new plan replaces the one before), by customer."""
    latest: dict[str, AcceptedPlan] = {}
    for p in sorted(plans, key=lambda p: (p.accepted_at, p.plan_id)):
        latest[p.customer_id] = p
    return latest


def payments_since(con: duckdb.DuckDBPyConnection, customer_id: str, since: date) -> list[tuple[date, Decimal]]:
    """The customer's payments from ``since`` on, as (day, cumulative amount paid by that day), from the bank
    (``marts.fct_payments``) and the ERP (``marts.fct_invoices``); the larger total of the two per day."""
    bank: list[tuple[date, Decimal]] = []
    erp: list[tuple[date, Decimal]] = []
    if _exists(con, "marts", "fct_payments"):
        bank = [
            (d, Decimal(str(a)))
            for d, a in con.execute(
                "select booking_date, sum(amount) from marts.fct_payments where customer_id = ? and booking_date >= ? "
                "and not coalesce(is_reversed, false) and amount > 0 group by 1 order by 1",
                [customer_id, since],
            ).fetchall()
        ]
    if _exists(con, "marts", "fct_invoices"):
        cols = {r[0] for r in con.execute("describe marts.fct_invoices").fetchall()}
        if {"last_payment_date", "amount_total", "amount_open"} <= cols:
            credited = "coalesce(amount_credited, 0)" if "amount_credited" in cols else "0"
            open_erp = "amount_open_erp" if "amount_open_erp" in cols else "amount_open"
            erp = [
                (d, Decimal(str(a)))
                for d, a in con.execute(
                    f"select cast(last_payment_date as date), sum(amount_total - {credited} - {open_erp}) "
                    "from marts.fct_invoices where customer_id = ? and last_payment_date >= ? "
                    f"and amount_total - {credited} - {open_erp} > 0 group by 1 order by 1",
                    [customer_id, since],
                ).fetchall()
            ]
    days = sorted({d for d, _ in bank} | {d for d, _ in erp})
    out, cb, ce = [], Decimal(0), Decimal(0)
    b, e = dict(bank), dict(erp)
    for d in days:
        cb += b.get(d, Decimal(0))
        ce += e.get(d, Decimal(0))
        out.append((d, max(cb, ce)))
    return out


def track(
    plan: AcceptedPlan, paid: Sequence[tuple[date, Decimal]], as_of: date, grace_days: int
) -> list[InstalmentStatus]:
    """Each instalment's status on ``as_of`` (see the module docstring).

    Args:
        plan: The accepted plan.
        paid: (day, cumulative amount paid since acceptance by that day), ascending (:func:`payments_since`).
        as_of: The day of the check.
        grace_days: Days after a due date before an unpaid instalment is broken.
    """
    out: list[InstalmentStatus] = []
    owed = Decimal(0)
    count = len(plan.instalments)
    due_taken = False
    for inst in plan.instalments:
        owed += inst.amount
        deadline = inst.due_date + timedelta(days=grace_days)
        kept_on = next((d for d, total in paid if d <= as_of and total >= owed), None)
        if kept_on is not None and kept_on <= deadline:
            status = "kept"
        elif as_of > deadline:
            status, kept_on = "broken", None
        elif not due_taken:  # the first instalment not kept is the one due now; the rest wait their turn
            status, kept_on, due_taken = "due", None, True
        else:
            status, kept_on = "upcoming", None
        out.append(
            InstalmentStatus(plan.plan_id, plan.customer_id, inst.number, count, inst.due_date, inst.amount,
                             status, kept_on)
        )  # fmt: skip
    return out


def plan_status(statuses: Sequence[InstalmentStatus]) -> str:
    """``broken`` (an instalment missed), ``completed`` (all kept) or ``active``."""
    if any(s.status == "broken" for s in statuses):
        return "broken"
    return "completed" if statuses and all(s.status == "kept" for s in statuses) else "active"


def track_all(
    plans_con: duckdb.DuckDBPyConnection,
    payments_con: duckdb.DuckDBPyConnection | None,
    as_of: date,
    grace_days: int,
) -> dict[str, tuple[AcceptedPlan, list[InstalmentStatus]]]:
    """Each customer's current plan (accepted on or before ``as_of``) and its instalments' statuses.

    Args:
        plans_con: Where the plans are (the operational store or the warehouse).
        payments_con: Where the payments are (the warehouse or its published copy); None: no payment known.
        as_of: The day of the check.
        grace_days: ``nba.promise_grace_days``.
    """
    plans = [p for p in accepted_plans(plans_con) if pd.Timestamp(p.accepted_at).date() <= as_of]
    out = {}
    for cid, plan in current_plans(plans).items():
        since = pd.Timestamp(plan.accepted_at).date()
        paid = payments_since(payments_con, cid, since) if payments_con is not None else []
        out[cid] = (plan, track(plan, paid, as_of, grace_days))
    return out


def next_instalment_promises(tracked: dict[str, tuple[AcceptedPlan, list[InstalmentStatus]]]) -> list[dict]:
    """Promise-to-pay interactions (``raw_crm.interactions`` shape, text values) of each instalment after a
    kept one, in a plan not broken: ``plan-<plan id>-<n>``, dated the day the instalment before was kept
    (after the acceptance), so it is the customer's latest promise and dunning stays paused."""
    rows = []
    for cid, (plan, statuses) in tracked.items():
        if plan_status(statuses) == "broken":
            continue
        by_number = {s.number: s for s in statuses}
        for s in statuses:
            prev = by_number.get(s.number - 1)
            if s.number == 1 or prev is None or prev.status != "kept" or prev.kept_on is None:
                continue
            at = max(
                datetime.combine(prev.kept_on, time(0, 0)),
                pd.Timestamp(plan.accepted_at).to_pydatetime().replace(tzinfo=None) + timedelta(seconds=s.number),
            )
            rows.append(
                {
                    "interaction_id": f"plan-{plan.plan_id}-{s.number}",
                    "customer_id": cid,
                    "contact_id": None,
                    "channel": plan.source,
                    "direction": "inbound",
                    "occurred_at": str(pd.Timestamp(at)),
                    "outcome": "promise_to_pay",
                    "promised_date": s.due_date.isoformat(),
                    "promised_amount": str(s.amount),
                }
            )
    return rows


def broken_plan_codes(tracked: dict[str, tuple[AcceptedPlan, list[InstalmentStatus]]]) -> dict[str, list[str]]:
    """Reason codes of customers whose current plan is broken: ``plan:broken``, the plan and the instalment
    missed (``plan_instalment_missed:2/4:2026-12-20``)."""
    codes: dict[str, list[str]] = {}
    for cid, (plan, statuses) in tracked.items():
        missed = next((s for s in statuses if s.status == "broken"), None)
        if missed is not None:
            codes[cid] = [
                "plan:broken",
                f"plan:{plan.plan_id}",
                f"plan_instalment_missed:{missed.number}/{missed.count}:{missed.due_date.isoformat()}",
            ]
    return codes


def mark_broken_plans(decisions: pd.DataFrame, codes: dict[str, list[str]]) -> pd.DataFrame:
    """A copy of the day's ``decisions`` whose rows of customers with a broken plan carry its reason codes."""
    if decisions is None or decisions.empty or not codes or "reason_codes" not in decisions:
        return decisions
    out = decisions.copy()
    out["reason_codes"] = [
        [*list(rc if rc is not None else []), *codes.get(str(cid), [])]
        for cid, rc in zip(out["customer_id"], out["reason_codes"], strict=True)
    ]
    return out


def summary(tracked: dict[str, tuple[AcceptedPlan, list[InstalmentStatus]]]) -> dict[str, int]:
    """Counts for the KPI report: current plans active, completed and broken; instalments due by now
    (kept or broken) and kept."""
    states = [plan_status(statuses) for _, statuses in tracked.values()]
    instalments = [s for _, statuses in tracked.values() for s in statuses]
    return {
        "n_plans_active": states.count("active"),
        "n_plans_completed": states.count("completed"),
        "n_plans_broken": states.count("broken"),
        "n_instalments_due": sum(s.status in ("kept", "broken") for s in instalments),
        "n_instalments_kept": sum(s.status == "kept" for s in instalments),
    }

"""Outbox under provider faults and kill -9: does every task reach the customer exactly once?

``python -m bench.outbox_faults [--per-channel 500] [--kills 6] [--fault-rate 0.3] [--seed 16]``

Runs the four real providers against real servers on 127.0.0.1 (simulator/emulators): the
WhatsApp Cloud API, Twilio and HubSpot emulators over HTTP and an aiosmtpd SMTP server, with
``--fault-rate`` of the sends on **every** provider answered with a gateway's 504 *after* the
provider accepted the message (the relay queues the e-mail and drops the connection before its
``250``). The dispatcher is a separate process (``--worker``, the same ``outbox.dispatch`` and
senders the daily flow uses, batch size 1,000); it is killed with SIGKILL at random points
``--kills`` times, then restarted until the outbox drains. Then, at the emulators and the SMTP
server, each task's deliveries are counted and compared with what the outbox says:

- ``exactly_once``: sent, and reached the customer once;
- ``duplicates``: reached the customer more than once (target 0);
- ``lost``: recorded sent but never reached the provider, or reached it while recorded as not
  delivered, or never settled (target 0);
- ``dead_not_delivered``: dead-lettered with its error and provably never at the provider;
- ``ambiguous_dead``: dead-lettered as "ambiguous: may have been delivered" (never resent), split by
  whether it had in fact been delivered - SMTP has no lookup, so an e-mail whose ``250`` was lost is
  always here; a WhatsApp send never confirmed by a status webhook too.

Time-outs are scaled down so the run takes a minute: HubSpot's search index lags 2 s here (45 s in
production; the sender waits ``index_lag_s`` = 3 s before trusting a miss), Twilio's
``ValidityPeriod`` is 1 s, WhatsApp's wait for a status webhook 5 s.

``tests/channels/test_outbox_faults_bench.py`` runs a smaller version in ``make test``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

log = logging.getLogger("bench.outbox_faults")

ROOT = Path(__file__).resolve().parents[1]
CHANNELS = {"email": "smtp", "whatsapp": "whatsapp_cloud", "sms": "twilio", "call": "hubspot"}
LANGS = {"CO": ("es", "America/Bogota", "COP"), "US": ("en", "America/New_York", "USD"),
         "BR": ("pt", "America/Sao_Paulo", "BRL")}  # fmt: skip
HUBSPOT_INDEX_LAG_S = 2.0


# --- the world: decisions, CRM contacts --------------------------------------------------------------


def decisions(per_channel: int, at: datetime) -> pd.DataFrame:
    """``per_channel`` decided contacts on each of e-mail, WhatsApp, SMS and call, due now, open a week."""
    rows = []
    i = 0
    for channel in CHANNELS:
        action = "call_task" if channel == "call" else channel
        for _ in range(per_channel):
            i += 1
            country = ("CO", "US", "BR")[i % 3]
            language, tz, currency = LANGS[country]
            inv = [{"invoice_id": f"I{i}", "number": f"INV/2026/{i:05d}", "due_date": "2026-01-15",
                    "amount_open": "1520.40", "days_past_due": 30}]  # fmt: skip
            rows.append(
                {
                    "customer_id": f"C{i:06d}",
                    "customer_name": f"Empresa {i} S.A.",
                    "contact_id": f"K{i:06d}",
                    "contact_name": f"Persona {i}",
                    "action": action,
                    "channel": channel,
                    "scheduled_at": pd.Timestamp(at),
                    "not_after": pd.Timestamp(at + timedelta(days=7)),
                    "local_scheduled_at": pd.Timestamp(at).tz_convert(tz).isoformat(),
                    "timezone": tz,
                    "country": country,
                    "currency": currency,
                    "amount_at_stake": Decimal("1520.40"),
                    "invoice_ids": [f"I{i}"],
                    "invoices": inv,
                    "n_overdue_invoices": 1,
                    "max_days_past_due": 30,
                    "risk_score": 0.7,
                    "language": language,
                    "email": f"k{i}@cliente{i}.example.com",
                    "phone": f"+5731{i:08d}",
                    "payment_link": f"https://pay.example.com/C{i:06d}",
                    "reason_codes": ["bench"],
                }
            )
    return pd.DataFrame(rows)


def write_crm(folder: Path, n: int) -> Path:
    """The CRM folder the HubSpot emulator loads: contacts K000001..n (call tasks associate with them)."""
    crm = folder / "crm"
    crm.mkdir(parents=True, exist_ok=True)
    with (crm / "contacts.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(1, n + 1):
            fh.write(
                json.dumps(
                    {
                        "contact_id": f"K{i:06d}",
                        "customer_id": f"C{i:06d}",
                        "full_name": f"Persona {i}",
                        "email": f"k{i}@x.example.com",
                        "phone": f"+5731{i:08d}",
                        "language": "es",
                        "role": "debtor",
                        "timezone": "America/Bogota",
                        "updated_at": "2026-01-01T00:00:00",
                    }  # fmt: skip
                )
                + "\n"
            )
    (crm / "interactions.csv").write_text(
        "interaction_id,customer_id,contact_id,channel,direction,occurred_at,outcome,promised_date,promised_amount\n"
        "X000001,C000001,K000001,email,outbound,2026-01-02T10:00:00,delivered,,\n",
        encoding="utf-8",
    )
    return folder


def overrides_for(lab: Any) -> dict[str, dict[str, Any]]:
    """Sender settings pointing at the lab, time-outs scaled down (see the module docstring)."""
    fast = {"rate_limit_per_s": None, "max_attempts": 3, "concurrency": 8, "read_timeout": 0.5}
    return lab.overrides(
        whatsapp_cloud={**fast, "status_wait_s": 5},
        twilio={**fast, "validity_period_s": 1},
        hubspot={**fast, "index_lag_s": HUBSPOT_INDEX_LAG_S + 1},
        smtp={"rate_limit_per_s": None, "concurrency": 8, "timeout": 0.5, "max_attempts": 3},
    )


# --- the dispatcher process --------------------------------------------------------------------------


def worker(argv: list[str]) -> None:
    """One dispatcher run over every provider (killable anywhere); prints its counts as one JSON line.

    ``--die-before N``/``--die-after N`` make it SIGKILL itself right before the N-th request of the
    run leaves (after its claim was written) or right after the N-th answer (before its outcome is
    written): a kill -9 at an exact point, for the corpus.
    """
    p = argparse.ArgumentParser(prog="bench.outbox_faults --worker")
    p.add_argument("warehouse")
    p.add_argument("spool")
    p.add_argument("overrides")
    p.add_argument("--batch-size", type=int, default=1000)
    p.add_argument("--order-seed", type=int, default=0)
    p.add_argument("--die-before", type=int, default=0)
    p.add_argument("--die-after", type=int, default=0)
    p.add_argument("--channels", default=",".join(CHANNELS))
    args = p.parse_args(argv)

    from connectors.channels import outbox, registry
    from connectors.webhooks import store

    con = duckdb.connect(args.warehouse)
    store.land_events(con, args.spool)
    wanted = args.channels.split(",")
    pairs = registry.build_senders(
        {c: CHANNELS[c] for c in wanted},
        dry_run_dir=args.spool + "/dry",
        whatsapp_status_lookup=lambda ids: store.whatsapp_confirmations(con, ids),
        whatsapp_last_inbound=store.whatsapp_last_inbound(con),
        overrides=json.loads(args.overrides),
    )
    pairs = [pair for pair in pairs if pair[1].name != "dry_run"]
    random.Random(args.order_seed).shuffle(pairs)
    sends = Counter()

    def die() -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    for _, sender in pairs:
        original = sender.send_one

        def send_one(task: Any, claim: Any = None, _original: Any = original) -> Any:
            def claim_then_maybe_die(t: Any) -> None:
                if claim is not None:
                    claim(t)
                sends["claimed"] += 1
                if sends["claimed"] == args.die_before:
                    die()

            try:
                return _original(task, claim_then_maybe_die)
            finally:  # an ambiguous answer (raised) is an answer too
                sends["answered"] += 1
                if sends["answered"] == args.die_after:
                    die()

        sender.send_one = send_one  # type: ignore[method-assign]
    total: dict[str, int] = {}
    sys.stdout.write("dispatching\n")  # the bench's kill clock starts here, not at interpreter start
    sys.stdout.flush()
    try:
        for channels, sender in pairs:
            counts = outbox.dispatch(con, sender, datetime.now(UTC), channels=channels, batch_size=args.batch_size)
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
    finally:
        registry.close_senders(pairs)
        con.close()
    sys.stdout.write(json.dumps(total) + "\n")


def run_worker(args: list[str], *, kill_after: float | None = None, timeout: float = 600) -> dict[str, int] | None:
    """Start a dispatcher process; SIGKILL it ``kill_after`` seconds after it starts dispatching, or wait for it."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "bench.outbox_faults", "--worker", *args]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    if kill_after is not None:
        assert proc.stdout is not None
        proc.stdout.readline()  # "dispatching": imports and set-up done, folding and reconciling next
        try:
            proc.wait(kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
        return None
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        if proc.returncode == -signal.SIGKILL:
            return None
        raise RuntimeError(f"dispatcher failed ({proc.returncode}): {err.decode()[-3000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


# --- counting at the providers -----------------------------------------------------------------------


def deliveries(lab: Any, tasks: pd.DataFrame) -> Counter:
    """Times each task reached the customer, counted at the emulators and the SMTP server."""
    from connectors.channels.hubspot_tasks.sender import reference
    from connectors.channels.twilio_sms.sender import marker

    seen: Counter = Counter()
    for msg in lab.smtp.messages:
        seen[msg["X-Cobranza-Task"]] += 1
    for msg in lab.whatsapp.messages:
        seen[msg["biz_opaque_callback_data"]] += 1
    by_marker = {marker(t): t for t in tasks["task_id"]}
    by_ref = {reference(t): t for t in tasks["task_id"]}
    if len(by_marker) != len(tasks) or len(by_ref) != len(tasks):
        raise RuntimeError("task markers collide: cannot attribute provider messages to tasks")
    for msg in list(lab.twilio.messages.values()):
        seen[by_marker.get(" ".join(str(msg["body"]).split()[-2:]))] += 1
    for rec in list(lab.hubspot.objects["tasks"].values()):
        body = rec["properties"].get("hs_task_body") or ""
        seen[by_ref.get(body.rsplit("Ref: ", 1)[-1].strip())] += 1
    return seen


@dataclass
class Tally:
    """What the outbox says against what the providers saw, per task."""

    tasks: int = 0
    exactly_once: int = 0
    duplicates: int = 0
    lost: int = 0
    dead_not_delivered: int = 0
    ambiguous_dead_delivered: int = 0
    ambiguous_dead_not_delivered: int = 0
    max_deliveries: int = 0
    by_channel: dict[str, Counter] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain figures (per channel too)."""
        out = {k: v for k, v in self.__dict__.items() if k not in ("by_channel", "problems")}
        out["by_channel"] = {c: dict(v) for c, v in self.by_channel.items()}
        out["problems"] = self.problems[:20]
        return out


def tally(states: pd.DataFrame, seen: Counter) -> Tally:
    """Classify every task (see the module docstring)."""
    from connectors.channels.outbox import AMBIGUOUS_DEAD

    t = Tally(tasks=len(states))
    for row in states.itertuples():
        n = seen.get(row.task_id, 0)
        t.max_deliveries = max(t.max_deliveries, n)
        error = str(row.last_error or "")
        if n > 1:
            kind = "duplicates"
        elif row.state == "sent":
            kind = "exactly_once" if n == 1 else "lost"
        elif row.state == "dead" and error.startswith(AMBIGUOUS_DEAD):
            kind = "ambiguous_dead_delivered" if n else "ambiguous_dead_not_delivered"
        elif row.state == "dead" and error:
            kind = "dead_not_delivered" if n == 0 else "lost"
        else:
            kind = "lost"  # still open after the drain, or dead without an error
        setattr(t, kind, getattr(t, kind) + 1)
        t.by_channel.setdefault(row.channel, Counter())[kind] += 1
        if kind in ("duplicates", "lost"):
            t.problems.append(f"{row.channel} {row.task_id[:12]} {row.state} x{n}: {error[:120]}")
    return t


# --- the bench ---------------------------------------------------------------------------------------


def run(
    per_channel: int = 500,
    kills: int = 6,
    fault_rate: float = 0.3,
    seed: int = 16,
    workdir: str | Path | None = None,
    max_runs: int = 30,
) -> dict[str, Any]:
    """Run the bench; return its figures.

    Args:
        per_channel: Tasks per channel (e-mail, WhatsApp, SMS, call): four times this in all.
        kills: Dispatcher processes killed with SIGKILL at a random point.
        fault_rate: Share of sends answered 504 after acceptance, on every provider.
        seed: Seed of the kill times, the provider order and the fault draws.
        workdir: Scratch folder (a temporary one by default).
        max_runs: Restarts allowed to drain the outbox after the kills.
    """
    from connectors.channels import outbox
    from lab.channels import start_lab
    from simulator.emulators.channel_common import FaultPlan

    rng = random.Random(seed)
    tmp = Path(workdir or tempfile.mkdtemp(prefix="outbox-faults-"))
    warehouse = str(tmp / "warehouse.duckdb")
    start = datetime.now(UTC) - timedelta(minutes=1)
    decided = decisions(per_channel, start)
    with duckdb.connect(warehouse) as con:
        enqueued = outbox.enqueue(con, decided, start.date())

    def plan(offset: int) -> FaultPlan:
        return FaultPlan(rate=fault_rate, kinds=("504_after",), seed=seed + offset, hang_s=1.0)

    started = time.monotonic()
    runs = killed = 0
    in_flight: list[int] = []
    still_pending: list[int] = []
    with start_lab(
        tmp / "inbound",
        crm_dir=write_crm(tmp / "world", len(decided)),
        faults=plan(1),
        read_rate=0.0,
        smtp_faults=plan(2),
        hubspot_index_lag_s=HUBSPOT_INDEX_LAG_S,
    ) as lab:
        lab.twilio.faults, lab.hubspot.task_faults = plan(3), plan(4)
        common = [warehouse, str(lab.spool.dir), json.dumps(overrides_for(lab))]
        for k in range(kills):
            lab.drain(15)
            run_worker([*common, "--order-seed", str(rng.randrange(10**6))], kill_after=rng.uniform(0.2, 2.0))
            runs += 1
            killed += 1
            with duckdb.connect(warehouse) as con:
                outbox.land_dispatch_logs(con)  # as the next run will see it
                now_states = outbox.task_states(con)["state"]
            # Tasks claimed by the killed run and not settled: the messages in flight at the kill.
            in_flight.append(int((now_states == "sending").sum()))
            still_pending.append(int((now_states == "pending").sum()))
            log.info("kill %d/%d done", k + 1, kills)
        for _ in range(max_runs):
            lab.drain(15)
            counts = run_worker([*common, "--order-seed", str(rng.randrange(10**6))])
            runs += 1
            with duckdb.connect(warehouse) as con:
                open_left = int((~outbox.task_states(con)["state"].isin(("sent", "dead"))).sum())
            log.info("run %d: %s; open %d", runs, counts, open_left)
            if open_left == 0:
                break
            time.sleep(1.0)  # let HubSpot's index, Twilio's validity and WhatsApp's webhooks catch up
        lab.drain(15)
        with duckdb.connect(warehouse) as con:
            states = outbox.task_states(con)
            events = con.execute(f"select state, count(*) from {outbox.EVENTS_TABLE} group by state").fetchall()
        seen = deliveries(lab, states)
        faults = {
            "whatsapp": dict(lab.whatsapp.faults.counts),
            "twilio": dict(lab.twilio.faults.counts),
            "hubspot": dict(lab.hubspot.task_faults.counts),
            "smtp": dict(lab.smtp.faults.counts),
        }
    t = tally(states, seen)
    return {
        "tasks": enqueued,
        "per_channel": per_channel,
        "fault_rate": fault_rate,
        "faults_injected": faults,
        "dispatcher_runs": runs,
        "killed_with_sigkill": killed,
        "in_flight_at_each_kill": in_flight,
        "pending_after_each_kill": still_pending,
        "events": dict(events),
        "seconds": round(time.monotonic() - started, 1),
        **t.as_dict(),
    }


def main(argv: list[str] | None = None) -> None:
    """Command line (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        worker(argv[1:])
        return
    p = argparse.ArgumentParser(prog="python -m bench.outbox_faults", description=__doc__.split("\n")[0])
    p.add_argument("--per-channel", type=int, default=500)
    p.add_argument("--kills", type=int, default=6)
    p.add_argument("--fault-rate", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-connection chatter
    figures = run(args.per_channel, args.kills, args.fault_rate, args.seed)
    if args.json:
        print(json.dumps(figures, indent=2, default=str))  # noqa: T201 - a bench prints its figures
        return
    for key, value in figures.items():
        print(f"{key:>30}: {value}")  # noqa: T201 - a bench prints its figures


if __name__ == "__main__":
    main()

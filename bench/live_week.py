"""A week in production on this machine, on an accelerated clock (issue 18, DESIGN §9 "Live week").

``flock /tmp/cobranza-heavy.lock python -m bench.live_week --profile M --days 5 [--json]``

Everything is a real process or a real server, as in production:

- a Prefect server (``prefect server start``, temporary ``PREFECT_HOME``) and one ``serve`` process
  running the daily run and the bank sync (``flows/daily.py``, ``flows/bank_sync.py``) as real flow
  runs, each in its own subprocess; the harness creates them with the clock as a parameter
  (``now_utc``) as the simulated time advances;
- the service loop (``python -m flows.loop file:<workdir>/clock``, what ``cobranza serve`` runs on the
  wall clock): one long-running process running the inbound and dispatcher passes as flow runs of
  their own (subflows) on their intervals (2 and 5 minutes) of the harness's clock;
- the webhook receiver (``cobranza receiver``) as its own process;
- the channel emulators (WhatsApp Cloud API, Twilio, HubSpot, an SMTP relay: ``simulator/emulators``)
  configured as the providers (not dry run), posting delivery receipts and the debtors' replies to the
  receiver;
- the debtors: ``simulator.emulators.reactions.ReactionDriver`` over a stepped market
  (``simulator.stepping``) reacts to what the emulators received (promises, disputes, paid claims,
  replies, opt-outs, at the instants the reaction model draws) and books the day's payments, which
  land as hourly intraday bank statement files for the bank sync (the bank sees a payment days
  before the ERP records it); each night the ERP/CRM/bank extracts of the day land for the 06:00 run.

The clock moves on the grid of ``--tick-minutes`` (5) simulated minutes. At each instant: the
messages the emulators received since the last instant go to the debtors; the replies now due are
posted to the emulators (which send the webhooks); on the hour the bank's intraday file lands; at
06:00 company time (America/Mexico_City) on business days the daily run starts; at HH:05 (06-18) the
bank sync starts; the clock moves on to the service loop (its clock file) at every instant where a pass
has something to do (a task's window open or just closed, webhooks posted, a daily run or bank sync just
finished) and the harness waits for the loop's acknowledgement that the passes due then are done. At
an instant with replies only (no window open or just closed, no run just finished) the clock names the
inbound pass alone (it hears the replies, re-checks the queue and answers); the idle dispatcher pass
waits for the next instant (``connectors.clock``). With ``--clock jump`` (the default) the clock then
jumps to the next instant anything is due: the next reply the reaction model drew, the next window
opening (every 5 minutes while a window is open with a task unsettled), the next hour with bank lines
to report, the next scheduled run or probe, UTC midnight; each on the grid, so no window, reply or run
is jumped over, and a quiet night or weekend is one jump (``--clock tick``: every grid instant, as
before). While a daily run or a bank sync runs the clock keeps to the grid at ``--daily-pace`` (10) or
``--sync-pace`` (30) simulated seconds per wall second: they overlap the loop's passes as in production
(each holds the warehouse lock; the passes only the operational store's, and the send lock while they
hand tasks over). Two holds keep the fast clock honest: it waits for a daily run still going
``--daily-hold-minutes`` (50) after its start (before the first windows of its own decisions open: on
this machine the onboarding run at M took 12 minutes, two hours of the clock at pace 10, and expired
the 07:00 windows), and for a bank sync still going when the next one is due (none is skipped).

Where the wall time goes is recorded (:class:`Timing`: wall seconds by phase and simulated day, pass
instants by cause, Prefect run seconds of each pass, daily runs' and bank syncs' wall seconds) and
``<workdir>/live_week.json`` is rewritten after the set-up, every simulated day, the kill and every
measuring step, so a crash keeps the figures counted so far (its status says where it stopped).

Mid-week (``--kill-day``) the service loop's process is killed with SIGKILL while its dispatcher
pass sends, and restarted (its first pass is the one cut short); while that pass's receipts arrive
the webhook receiver is killed with SIGKILL and restarted 20 s later (the emulators retry their
webhooks like real providers). At the end: every figure of DESIGN §9's live-week bar, counted from the
operational store, the emulators' received-message logs, the spool and the Prefect API (see
:func:`measure`; the loop's pass runs are read from the API). Latencies are production-equivalent:
simulated minutes from the reply (or the payment's arrival in the bank report) to the clock instant of
the pass that cancelled the contact, plus the real duration of the loop's passes at that instant (on
the accelerated clock a 1-minute pass would otherwise count as an hour); for a bank payment, the clock
minutes a bank sync spans count as the sync's wall seconds instead (``median_min_clock``: uncorrected).

Scratch data lives in ``--workdir`` (default ``/tmp/liveweek/<profile>-<time>``); every process the
harness starts is stopped at the end, killed if it does not stop.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import requests

log = logging.getLogger("bench.live_week")

ROOT = Path(__file__).resolve().parents[1]
COMPANY_TZ = ZoneInfo("America/Mexico_City")
DEPLOYMENTS = {
    "daily": ("flows/daily.py:daily_collections", "daily_collections/live-daily"),
    "bank_sync": ("flows/bank_sync.py:bank_sync", "bank_sync/live-bank-sync"),
}
#: The flows of the service loop's passes (subflow runs of ``service-loop``), as Prefect names them.
LOOP_FLOWS = ("service-loop", "dispatcher", "inbound")
FROM_NUMBER = "+15550001234"
TERMINAL = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


def queued_at(tasks: pd.DataFrame, at: pd.Timestamp) -> pd.DataFrame:
    """The contacts a reply or a bank payment arriving at ``at`` must cancel (issue 18: "promises, disputes,
    opt-outs and bank-seen payments that arrive during the day cancel the queued contacts they concern").

    Of ``tasks`` (one customer's, or the ones naming the paid invoices), those that at ``at`` (naive UTC) are:

    - customer-facing collection contacts: a channel the pre-send re-check covers
      (``ml.nba.revalidate.CONSENT_COLUMN``), not an internal task (hand-off, reviews) and not the agent's
      answer to a reply (``revalidate.REPLY_ACTIONS``: the reply itself creates it and sends it at once);
    - decided before ``at`` (``decided``: 06:00 company time of the decision date; a contact decided
      later saw the reply);
    - neither sent (``sent_at``) nor already dead (``dead_at``: cancelled, e.g. by an earlier reply of
      the same customer, or expired) before ``at``;
    - with their window not yet closed (``not_after``).
    """
    from ml.nba.revalidate import CONSENT_COLUMN, REPLY_ACTIONS

    q = tasks[tasks["channel"].isin(list(CONSENT_COLUMN)) & ~tasks["action"].isin(REPLY_ACTIONS)]
    q = q[q["decided"] <= at]
    sent, dead = pd.to_datetime(q["sent_at"]), pd.to_datetime(q["dead_at"])
    q = q[(sent.isna() | (sent > at)) & (dead.isna() | (dead >= at))]
    return q[pd.to_datetime(q["not_after"]) > at]


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the clock ----------------------------------------------------------------------------------------


class SimClock:
    """The accelerated clock: the simulated instant, set by the harness tick by tick (thread-safe)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """The simulated instant (UTC)."""
        with self._lock:
            return self._now

    def unix(self) -> float:
        """The simulated instant as Unix seconds (the emulators' clock)."""
        return self.now().timestamp()

    def set(self, at: datetime) -> None:
        """Move the clock (never backwards)."""
        with self._lock:
            if at < self._now:
                raise ValueError(f"the clock cannot go back from {self._now} to {at}")
            self._now = at


class Timing:
    """Where the wall time goes: wall seconds by phase and by simulated (UTC) day, and event counts."""

    def __init__(self) -> None:
        self.day = "setup"
        self.by_day: dict[str, Counter] = {}
        self.counts: dict[str, Counter] = {}

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Add the wall seconds of the ``with`` body to ``name`` of the current day."""
        t0 = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - t0)

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to ``name`` of the current day."""
        self.by_day.setdefault(self.day, Counter())[name] += seconds

    def count(self, name: str, n: int = 1) -> None:
        """Count ``n`` events ``name`` on the current day."""
        self.counts.setdefault(self.day, Counter())[name] += n

    def report(self) -> dict[str, Any]:
        """Per day: wall seconds by phase (and their sum), counts; totals over the run."""
        total: Counter = Counter()
        days = {}
        for day, phases in self.by_day.items():
            total.update(phases)
            days[day] = {
                "wall_s": round(sum(phases.values()), 1),
                "phases_s": {k: round(v, 1) for k, v in phases.most_common()},
                "counts": dict(self.counts.get(day, {})),
            }
        counts: Counter = Counter()
        for c in self.counts.values():
            counts.update(c)
        return {
            "days": days,
            "total_phases_s": {k: round(v, 1) for k, v in total.most_common()},
            "total_counts": dict(counts),
        }


# --- processes ----------------------------------------------------------------------------------------


@dataclass
class Proc:
    """A child process with its log file."""

    name: str
    popen: subprocess.Popen
    log_path: Path

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; children of the process group too."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(10)


def start_proc(name: str, cmd: list[str], env: dict[str, str], logs: Path) -> Proc:
    """Start ``cmd`` in its own process group, output to ``logs/<name>.log``."""
    logs.mkdir(parents=True, exist_ok=True)
    path = logs / f"{name}.log"
    fh = path.open("ab")
    popen = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT, start_new_session=True)
    return Proc(name, popen, path)


def wait_http(url: str, timeout: float, proc: Proc | None = None) -> None:
    """Wait until ``url`` answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}); see {proc.log_path}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


def serve_main() -> None:
    """``python -m bench.live_week --serve``: serve the daily run and the bank sync without schedules (the harness
    runs them at the clock's 06:00 and HH:05)."""
    from prefect import serve

    from flows.bank_sync import bank_sync
    from flows.daily import daily_collections

    flows = {"daily": daily_collections, "bank_sync": bank_sync}
    deployments = []
    for key, (entrypoint, name) in DEPLOYMENTS.items():
        dep = flows[key].to_deployment(name=name.split("/")[1])
        # A module entrypoint: a file entrypoint makes Prefect put flows/ first on sys.path in the run's
        # process (flows/dbt.py once shadowed the dbt package there; now flows/dbt_runner.py).
        dep.entrypoint = entrypoint.replace("/", ".").replace(".py:", ":")
        deployments.append(dep)
    serve(*deployments, limit=6, print_starting_message=True)


# --- the emulators --------------------------------------------------------------------------------------


@dataclass
class Emulators:
    """The providers on 127.0.0.1, in this process (their message logs are what was received)."""

    whatsapp: Any
    twilio: Any
    hubspot: Any
    smtp: Any
    urls: dict[str, str]
    servers: list[Any] = field(default_factory=list)
    controller: Any = None

    def stop(self) -> None:
        """Stop every server."""
        for srv in self.servers:
            srv.stop()
        if self.controller is not None:
            self.controller.stop()

    def drain(self, timeout: float = 60) -> bool:
        """Wait until the emulators posted every queued webhook."""
        return self.whatsapp.pusher.drain(timeout) and self.twilio.pusher.drain(timeout)

    def received(self) -> list[tuple[str, str]]:
        """``(channel, task reference)`` of every message received so far, in arrival order per provider."""
        out: list[tuple[str, str]] = []
        with self.whatsapp.lock:
            out += [("whatsapp", m["biz_opaque_callback_data"]) for m in self.whatsapp.messages]
        with self.twilio.lock:
            out += [("sms", " ".join(str(m["body"]).split()[-2:])) for m in self.twilio.messages.values()]
        out += [("email", str(m["X-Cobranza-Task"])) for m in list(self.smtp.messages)]
        for rec in list(self.hubspot.objects["tasks"].values()):
            body = rec["properties"].get("hs_task_body") or ""
            out.append(("call", body.rsplit("Ref: ", 1)[-1].strip()))
        return out


def start_emulators(crm_dir: Path, receiver_url: str, clock: SimClock) -> Emulators:
    """WhatsApp, Twilio, HubSpot and SMTP emulators wired to the receiver at ``receiver_url``."""
    from aiosmtpd.controller import Controller

    from simulator.emulators.hubspot import HubSpotEmulator
    from simulator.emulators.server import serve
    from simulator.emulators.smtp import SmtpSink
    from simulator.emulators.smtp import free_port as smtp_port
    from simulator.emulators.twilio import TwilioEmulator
    from simulator.emulators.whatsapp import WhatsAppEmulator

    wa = WhatsAppEmulator(webhook_url=f"{receiver_url}/webhooks/whatsapp", read_rate=0.5, clock=clock.unix)
    tw = TwilioEmulator(inbound_url=f"{receiver_url}/webhooks/twilio/inbound")
    for pusher in (wa.pusher, tw.pusher):  # providers retry for hours: ride out a receiver restart
        pusher.attempts, pusher.backoff_s = 40, 0.25
    hs = HubSpotEmulator(crm_dir)
    servers = [serve(wa.app), serve(tw.app), serve(hs.app)]
    sink = SmtpSink()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port())
    controller.start()
    urls = {"whatsapp": servers[0].base_url, "twilio": servers[1].base_url, "hubspot": servers[2].base_url}
    urls["smtp_port"] = str(controller.port)
    return Emulators(wa, tw, hs, sink, urls, servers, controller)


def channel_env(emu: Emulators, receiver_url: str, token_secret: str) -> dict[str, str]:
    """Environment that selects the real senders and points them (and the receiver) at the emulators."""
    wa, tw, hs = emu.whatsapp, emu.twilio, emu.hubspot
    return {
        "COBRANZA_CHANNELS__EMAIL": "smtp",
        "COBRANZA_CHANNELS__WHATSAPP": "whatsapp_cloud",
        "COBRANZA_CHANNELS__SMS": "twilio",
        "COBRANZA_CHANNELS__CALL": "hubspot",
        "COBRANZA_CHANNELS__INTERNAL": "hubspot",
        "COBRANZA_WHATSAPP__BASE_URL": emu.urls["whatsapp"],
        "COBRANZA_WHATSAPP__PHONE_NUMBER_ID": wa.phone_number_id,
        "COBRANZA_WHATSAPP__TOKEN": wa.token,
        "COBRANZA_WHATSAPP__APP_SECRET": wa.app_secret,
        "COBRANZA_WHATSAPP__VERIFY_TOKEN": "live-week-verify",
        "COBRANZA_TWILIO__BASE_URL": emu.urls["twilio"],
        "COBRANZA_TWILIO__ACCOUNT_SID": tw.account_sid,
        "COBRANZA_TWILIO__AUTH_TOKEN": tw.auth_token,
        "COBRANZA_TWILIO__FROM_NUMBER": FROM_NUMBER,
        "COBRANZA_TWILIO__STATUS_CALLBACK_URL": f"{receiver_url}/webhooks/twilio/status",
        "COBRANZA_SMTP__HOST": "127.0.0.1",
        "COBRANZA_SMTP__PORT": emu.urls["smtp_port"],
        "COBRANZA_SMTP__STARTTLS": "False",
        "COBRANZA_SMTP__FROM_ADDRESS": "cobranza@ar.example.com",
        "COBRANZA_SMTP__REPLY_TO": "ar@ar.example.com",
        "COBRANZA_SMTP__UNSUBSCRIBE_MAILTO": "unsubscribe@ar.example.com",
        "COBRANZA_SMTP__UNSUBSCRIBE_URL": f"{receiver_url}/unsubscribe",
        "COBRANZA_SMTP__UNSUBSCRIBE_KEY": token_secret,
        "COBRANZA_HUBSPOT__BASE_URL": emu.urls["hubspot"],
        "COBRANZA_HUBSPOT__ACCESS_TOKEN": hs.token,
        "COBRANZA_HUBSPOT__INDEX_LAG_S": "0",
        "COBRANZA_WEBHOOKS__TOKEN_SECRET": token_secret,
    }


# --- flow runs -------------------------------------------------------------------------------------------


@dataclass
class Run:
    """A flow run the harness created."""

    kind: str
    id: Any
    now_utc: datetime
    wall_start: float
    wall_end: float | None = None
    state: str | None = None
    message: str = ""
    run_s: float | None = None  # Prefect's total run time (the loop's passes)
    sim_end: datetime | None = None  # the clock's instant when the harness saw the run final


class Runs:
    """Creates deployment runs with the clock as a parameter and follows their states."""

    def __init__(self) -> None:
        from prefect.client.orchestration import get_client

        self.client = get_client(sync_client=True)
        self.client.__enter__()
        self.ids = {k: self.client.read_deployment_by_name(v[1]).id for k, v in DEPLOYMENTS.items()}
        self.runs: list[Run] = []

    def start(self, kind: str, now_utc: datetime, **params: Any) -> Run:
        """Create a run of deployment ``kind`` at ``now_utc``."""
        fr = self.client.create_flow_run_from_deployment(
            self.ids[kind], parameters={"now_utc": now_utc.isoformat(), **params}
        )
        run = Run(kind, fr.id, now_utc, time.monotonic())
        self.runs.append(run)
        return run

    def poll(self, run: Run) -> bool:
        """Refresh ``run``; True once it is final."""
        if run.state in TERMINAL:
            return True
        fr = self.client.read_flow_run(run.id)
        st = fr.state
        if st is not None and st.type.value in TERMINAL:
            run.state, run.message, run.wall_end = st.type.value, str(st.message or ""), time.monotonic()
            return True
        return False

    def active(self, kind: str | None = None) -> list[Run]:
        """Runs not final yet (of ``kind``)."""
        return [r for r in self.runs if (kind is None or r.kind == kind) and not self.poll(r)]

    def wait(self, runs: list[Run], timeout: float = 900) -> None:
        """Wait until every run of ``runs`` is final."""
        deadline = time.monotonic() + timeout
        while any(not self.poll(r) for r in runs):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"flow runs still going after {timeout:.0f} s: {[r.kind for r in runs if r.state is None]}"
                )
            time.sleep(0.25)

    def close(self) -> None:
        """Close the API client."""
        self.client.__exit__(None, None, None)


# --- the harness ------------------------------------------------------------------------------------------


@dataclass
class Plan:
    """What to run."""

    profile: str = "M"
    days: int = 5
    seed: int = 42
    tick_minutes: int = 5
    first_day: date = date(2026, 11, 23)  # a Monday
    kill_day: int | None = 3  # 1-based business day of the kill -9s (None: no kill)
    daily_pace: float = 10.0  # simulated seconds per wall second while a daily run or a bank sync is going
    probes: int = 20  # customers with a contact queued for later who promise to pay at 13:00 each day
    probe_hour: int = 13  # company-local hour of the probes
    kill_min_due: int = 20  # the kill -9 waits for a tick with at least this many windows open
    start_hour: int = 0  # UTC hour of the first day the clock starts at (a test skips the quiet night)
    hours_after: int = 7  # the clock stops this many hours into the day after the last business day
    workdir: Path | None = None
    clock: str = "jump"  # "jump": to the next instant anything is due; "tick": every tick_minutes
    sync_pace: float = 30.0  # simulated seconds per wall second while a bank sync (and no daily run) is going
    daily_hold_minutes: int = 50  # the clock waits for a daily run at most this many minutes after its start


class Harness:
    """Runs a :class:`Plan` (see the module docstring)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        stamp = datetime.now(UTC).strftime("%H%M%S")
        self.work = Path(plan.workdir or f"/tmp/liveweek/{plan.profile}-{stamp}")
        self.data = self.work / "data"
        self.landing = self.data / "landing"
        self.logs = self.work / "logs"
        self.procs: list[Proc] = []
        self.emu: Emulators | None = None
        self.runs: Runs | None = None
        self.tasks: dict[str, dict[str, Any]] = {}  # task id -> the outbox row (customer, channel, window, ...)
        self.by_ref: dict[str, str] = {}  # provider reference -> task id
        self.seen = 0
        self.posted: list[dict[str, Any]] = []
        self.bank_arrivals: list[dict[str, Any]] = []
        self.kills: list[dict[str, Any]] = []
        self.skipped_bank_syncs = 0
        self.receiver: Proc | None = None
        self.balances: dict[str, Any] = {}
        self._seen_refs: set[tuple[str, str]] = set()
        self._settled: set[str] = set()
        self._event_seq = -1
        self._refresh_after_daily = False
        self.clock_file = self.work / "clock"
        self.loop: Proc | None = None
        self.pass_wall: dict[pd.Timestamp, float] = {}  # clock instant -> wall seconds of the loop's passes
        self._final_seen: set[Any] = set()
        self.timing = Timing()
        self._states = self._cancels = None
        self._loop_runs: list[Run] | None = None
        self.pass_log: list[tuple] = []  # (instant, wall s, window due, replies posted, run finished, during)
        self.figures: dict[str, Any] = {}  # filled as they are counted; saved to <workdir>/live_week.json
        self._wa_ctx: dict[str, str] = {}  # task id -> the WhatsApp message id a reply answers
        self._wa_n = 0

    def save(self, status: str) -> None:
        """Write the figures counted so far, the timing and ``status`` to ``<workdir>/live_week.json`` (a crash
        later loses nothing written here)."""
        doc = {
            "status": status,
            "plan": {k: str(v) for k, v in vars(self.plan).items()},
            "figures": self.figures,
            "timing": self.timing.report(),
            "runs_wall_s": self.run_walls() if self.runs is not None else {},
        }
        self.work.mkdir(parents=True, exist_ok=True)
        tmp = self.work / ".live_week.json.tmp"
        tmp.write_text(json.dumps(doc, indent=2, default=str), encoding="utf-8")
        os.replace(tmp, self.work / "live_week.json")

    def run_walls(self) -> dict[str, Any]:
        """Wall seconds of the daily runs and bank syncs the harness started (as it saw them end)."""
        out: dict[str, Any] = {}
        for kind in DEPLOYMENTS:
            walls = [r.wall_end - r.wall_start for r in self.runs.runs if r.kind == kind and r.wall_end]
            if walls:
                out[kind] = {"n": len(walls), "sum": round(sum(walls), 1), "median": round(statistics.median(walls), 1),
                             "max": round(max(walls), 1), "each": [round(w, 1) for w in walls]}  # fmt: skip
        return out

    # --- set-up ---

    def env(self) -> dict[str, str]:
        """The environment of every child process."""
        return dict(self._env)

    def setup(self) -> None:
        """World, Prefect server, emulators, receiver, serve process."""
        from simulator.emulators.reactions import ReactionDriver
        from simulator.stepping import open_market

        p = self.plan
        self.work.mkdir(parents=True, exist_ok=True)
        self.clock = SimClock(datetime.combine(p.first_day, datetime.min.time(), tzinfo=UTC))
        t0 = time.monotonic()
        market = open_market(p.profile, seed=p.seed, as_of=p.first_day - timedelta(days=1), horizon_days=60)
        market.write_sources(self.landing)
        self.driver = ReactionDriver(market, seed=p.seed)
        self._init_balances()
        log.info("world %s opened and written in %.1f s", p.profile, time.monotonic() - t0)

        self.prefect_port, self.receiver_port = free_port(), free_port()
        self.receiver_url = f"http://127.0.0.1:{self.receiver_port}"
        token_secret = secrets.token_urlsafe(32)
        self.emu = start_emulators(self.landing, self.receiver_url, self.clock)
        api = f"http://127.0.0.1:{self.prefect_port}/api"
        self._env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "COBRANZA_"))},
            "PYTHONPATH": str(ROOT),
            "PREFECT_HOME": str(self.work / "prefect"),
            "PREFECT_API_URL": api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_RUNNER_POLL_FREQUENCY": "1",
            "PREFECT_SERVER_API_HOST": "127.0.0.1",
            "PREFECT_SERVER_API_PORT": str(self.prefect_port),
            "DO_NOT_TRACK": "1",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "GX_ANALYTICS_ENABLED": "false",
            "COBRANZA_DATA_DIR": str(self.data),
            "COBRANZA_SIMULATOR__ENABLED": "false",
            "COBRANZA_SIMULATOR__PROFILE": p.profile,
            "COBRANZA_SIMULATOR__SEED": str(p.seed),
            "COBRANZA_SOURCES__LANDING_DIR": str(self.landing),
            "COBRANZA_WEBHOOKS__HOST": "127.0.0.1",
            "COBRANZA_WEBHOOKS__PORT": str(self.receiver_port),
            **channel_env(self.emu, self.receiver_url, token_secret),
        }
        os.environ.update({k: v for k, v in self._env.items() if k.startswith("PREFECT_")})
        exe = str(Path(sys.executable).parent)
        server = start_proc("prefect-server", [f"{exe}/prefect", "server", "start"], self.env(), self.logs)
        self.procs.append(server)
        wait_http(f"{api}/health", 120, server)
        self.start_receiver()
        serve = start_proc("serve", [sys.executable, "-m", "bench.live_week", "--serve"], self.env(), self.logs)
        self.procs.append(serve)
        self.serve = serve
        deadline = time.monotonic() + 180
        while True:
            try:
                self.runs = Runs()
                break
            except Exception:  # deployments not registered yet
                if serve.popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"serve did not register the deployments; see {serve.log_path}") from None
                time.sleep(1)
        self.start_loop()
        log.info("Prefect server, serve, service loop, receiver and emulators up")

    def start_loop(self) -> None:
        """Start the service loop (``python -m flows.loop``) on the harness's file clock."""
        cmd = [sys.executable, "-m", "flows.loop", f"file:{self.clock_file}"]
        self.loop = start_proc("loop", cmd, self.env(), self.logs)
        self.procs.append(self.loop)

    def publish_clock(self, now: datetime, only: tuple[str, ...] | None = None) -> None:
        """Move the service loop's clock to ``now`` (``only``: the passes that have work then; others wait)."""
        from connectors.clock import write_file_clock

        write_file_clock(self.clock_file, now, only)

    def acked(self, now: datetime) -> bool:
        """Whether the service loop has run every pass due at ``now``."""
        from connectors.clock import read_ack

        return read_ack(self.clock_file, "loop") == now.isoformat()

    def passes(self, now: datetime, timeout: float = 900, only: tuple[str, ...] | None = None) -> float:
        """Move the loop's clock to ``now`` and wait until its passes due then are done; their wall seconds."""
        t0 = time.monotonic()
        self.publish_clock(now, only)
        while not self.acked(now):
            if self.loop.popen.poll() is not None:
                raise RuntimeError(f"the service loop exited ({self.loop.popen.returncode}); see {self.loop.log_path}")
            if time.monotonic() - t0 > timeout:
                raise TimeoutError(f"the service loop did not finish its passes at {now} in {timeout:.0f} s")
            time.sleep(0.05)
        took = time.monotonic() - t0
        key = pd.Timestamp(now).tz_convert("UTC").tz_localize(None)
        self.pass_wall[key] = min(self.pass_wall.get(key, 1e9), took)
        return took

    def warehouse_changed(self) -> bool:
        """Whether a daily run or a bank sync finished since the last call (new serving tables to re-check)."""
        fresh = [r for r in self.runs.runs if r.id not in self._final_seen and self.runs.poll(r)]
        self._final_seen |= {r.id for r in fresh}
        for r in fresh:
            r.sim_end = self.clock.now()
        return bool(fresh)

    def start_receiver(self) -> None:
        """Start ``cobranza receiver`` and wait for /readyz."""
        exe = str(Path(sys.executable).parent)
        # the receiver stamps Twilio callbacks and unsubscribes (no provider time) with the harness's clock:
        # on the wall clock they were days in the flows' future and the raw gate refused them
        env = {**self.env(), "COBRANZA_WEBHOOKS__CLOCK": f"file:{self.clock_file}"}
        self.receiver = start_proc("receiver", [f"{exe}/cobranza", "receiver"], env, self.logs)
        self.procs.append(self.receiver)
        wait_http(f"{self.receiver_url}/readyz", 60, self.receiver)

    def _init_balances(self) -> None:
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        from simulator.bank_formats import DEFAULT_OPENING_BALANCE

        lines = pq.read_table(
            self.landing / "bank" / "statement_lines.parquet", columns=["account_iban", "amount", "credit_debit"]
        )
        signed = pc.if_else(pc.equal(lines["credit_debit"], "CRDT"), lines["amount"], pc.negate(lines["amount"]))
        import pyarrow as pa

        sums = pa.table({"a": lines["account_iban"], "v": signed}).group_by("a").aggregate([("v", "sum")])
        self.balances = {
            a: DEFAULT_OPENING_BALANCE + v
            for a, v in zip(sums["a"].to_pylist(), sums["v_sum"].to_pylist(), strict=True)
        }

    def stop(self) -> None:
        """Stop every process and server the harness started (killed if they do not stop)."""
        if self.runs is not None:
            try:
                self.runs.close()
            except Exception:  # noqa: BLE001 - best effort at shutdown
                pass
        for proc in reversed(self.procs):
            proc.stop()
        if self.emu is not None:
            self.emu.stop()

    # --- the outbox, read under the ops lock ---

    def ops(self):  # noqa: ANN201 - context manager
        """The operational store, opened briefly under its lock like any flow."""
        from connectors import ops_store

        return ops_store.connect(
            self.data / "ops.duckdb", lock_path=self.data / "locks" / "ops.lock", who="live_week harness", timeout_s=120
        )

    def refresh_tasks(self) -> None:
        """Learn the tasks the daily runs enqueued (ids, customers, windows, provider references)."""
        from connectors.channels.hubspot_tasks.sender import reference
        from connectors.channels.twilio_sms.sender import marker

        with self.ops() as con:
            df = con.execute(
                "select task_id, customer_id, contact_id, channel, action, decision_date, not_before, not_after,"
                " invoice_ids, payload ->> 'language' as language, payload ->> 'phone' as phone"
                " from outbox.contact_tasks"
            ).df()
        for row in df.to_dict("records"):
            tid = row["task_id"]
            if tid in self.tasks:
                continue
            row["not_before"] = pd.Timestamp(row["not_before"]).tz_localize("UTC")
            row["not_after"] = pd.Timestamp(row["not_after"]).tz_localize("UTC")
            row["invoice_ids"] = list(row["invoice_ids"])
            self.tasks[tid] = row
            for ref in (tid, marker(tid), reference(tid)):
                self.by_ref[ref] = tid

    # --- the tick ---

    def collect_sent(self, now: datetime) -> None:
        """Hand the messages the emulators received since the last tick to the debtors."""
        got = self.emu.received()
        if len(got) == self.seen:
            return
        rows, fresh = [], self._seen_refs
        for channel, ref in got:
            key = (channel, ref)
            if key in fresh:
                continue
            fresh.add(key)
            tid = self.by_ref.get(ref)
            if tid is None:
                self.refresh_tasks()
                tid = self.by_ref.get(ref)
            task = self.tasks.get(tid) if tid else None
            if task is None or task["channel"] not in ("email", "whatsapp", "sms", "call"):
                continue
            rows.append(
                {
                    "customer_id": task["customer_id"],
                    "contact_id": task["contact_id"],
                    "channel": "call" if task["channel"] == "call" else task["channel"],
                    "scheduled_at": now,
                    "invoice_ids": task["invoice_ids"],
                    "task_id": tid,
                    "language": task["language"],
                }
            )
        self.seen = len(got)
        if rows:
            self.driver.contacts_sent(pd.DataFrame(rows))

    def post_replies(self, now: datetime) -> int:
        """Post the replies due by ``now`` to the emulators (which send the webhooks)."""
        n = 0
        for item in self.driver.due(now):
            task = self.tasks.get(item.task_id or "") or self._customer_task(item.customer_id)
            phone = str(task.get("phone") or "")
            digits = "".join(c for c in phone if c.isdigit())
            ok = True
            if item.channel == "whatsapp" and digits:
                with self.emu.whatsapp.lock:
                    fresh = self.emu.whatsapp.messages[self._wa_n :]
                    self._wa_n += len(fresh)
                self._wa_ctx.update((m["biz_opaque_callback_data"], m["id"]) for m in fresh)
                self.emu.whatsapp.inbound(digits, item.text, context_id=self._wa_ctx.get(item.task_id or ""))
            elif item.channel == "sms" and phone:
                self.emu.twilio.inbound(phone, FROM_NUMBER, item.text)
            elif item.channel == "email" and item.kind == "opt_out":
                ok = self._unsubscribe(item.task_id)
            else:
                ok = False
            if ok:
                n += 1
                self.posted.append(
                    {"customer_id": item.customer_id, "kind": item.kind, "channel": item.channel, "at": item.at}
                )
        return n

    def _customer_task(self, customer_id: str) -> dict[str, Any]:
        """The latest task of a customer (its phone is the one the product knows), or {}."""
        if not hasattr(self, "_by_customer") or len(self._by_customer_n) != len(self.tasks):
            self._by_customer = {t["customer_id"]: t for t in self.tasks.values() if t.get("phone")}
            self._by_customer_n = dict.fromkeys(self.tasks)
        return self._by_customer.get(customer_id, {})

    def post_probes(self, now: datetime, n: int) -> int:
        """Probe: ``n`` customers with a contact still queued for later today write a promise to pay now."""
        from simulator.emulators.reactions import TEXTS

        sent = {self.by_ref.get(ref) for _, ref in self._seen_refs}
        ts = pd.Timestamp(now)
        picked, customers = 0, set()
        for tid, t in sorted(self.tasks.items()):
            if picked >= n:
                break
            phone = str(t.get("phone") or "")
            if tid in sent or tid in self._settled or t["customer_id"] in customers or not phone:
                continue  # sent, or already cancelled or expired: nothing queued for the probe to cancel
            if t["channel"] not in ("whatsapp", "sms"):
                continue
            if not (ts + pd.Timedelta(hours=1) < t["not_before"] < ts + pd.Timedelta(hours=12)):
                continue
            lang = str(t.get("language") or "es")[:2]
            text = TEXTS["promise"].get(lang, TEXTS["promise"]["es"])[0].format(date=(now + timedelta(days=5)).date())
            if t["channel"] == "whatsapp":
                self.emu.whatsapp.inbound("".join(c for c in phone if c.isdigit()), text)
            else:
                self.emu.twilio.inbound(phone, FROM_NUMBER, text)
            customers.add(t["customer_id"])
            self.posted.append(
                {"customer_id": t["customer_id"], "kind": "probe_promise", "channel": t["channel"], "at": now}
            )
            picked += 1
        return picked

    def _unsubscribe(self, task_id: str | None) -> bool:
        for msg in reversed(list(self.emu.smtp.messages)):
            if msg["X-Cobranza-Task"] == task_id:
                header = str(msg.get("List-Unsubscribe") or "")
                url = next((u.strip("<> ") for u in header.split(",") if u.strip().startswith("<http")), None)
                if url:
                    try:
                        r = requests.post(url, data="List-Unsubscribe=One-Click", timeout=10,
                                          headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
                        return r.status_code == 200
                    except requests.RequestException:
                        return False
        return False

    def land_bank_hour(self, now: datetime) -> int:
        """The bank's intraday report of the last hour: one statement file per account."""
        from simulator.bank_formats import write_daily_statements

        lines = self._bank_today[(self._bank_today["arrives_at"] <= now) & ~self._bank_today["_landed"]]
        if lines.empty:
            return 0
        self._bank_today.loc[lines.index, "_landed"] = True
        out = self.landing / "bank" / "statements" / "intraday" / now.strftime("%Y%m%d") / now.strftime("%H%M")
        cols = [c for c in lines.columns if c not in ("arrives_at", "_landed", "invoice_ids")]
        write_daily_statements(lines[cols].reset_index(drop=True), out, opening_balances=self.balances)
        for acc, grp in lines.groupby("account_iban"):
            signed = sum((a if d == "CRDT" else -a) for a, d in zip(grp["amount"], grp["credit_debit"], strict=True))
            self.balances[acc] = self.balances.get(acc, 0) + signed
        for row in lines.to_dict("records"):
            if row["credit_debit"] == "CRDT" and row["invoice_ids"]:
                self.bank_arrivals.append({"at": row["arrives_at"], "landed": now, "invoice_ids": row["invoice_ids"]})
        return len(lines)

    def new_day(self) -> None:
        """UTC midnight: close the day, land the night's extracts, open the next day."""
        if self.driver.is_open:
            self.driver.close_day()
            self.driver.market.write_sources(self.landing)
        self.driver.open_day()
        langs = {t["customer_id"]: t["language"] for t in self.tasks.values() if t.get("language")}
        self.driver.spontaneous_disputes(langs)
        self._bank_today = self.driver.bank_lines()
        self._bank_today["_landed"] = False

    def refresh_settled(self) -> None:
        """Tasks sent or dead-lettered (cancelled, expired): the dispatcher has nothing more to do for them."""
        # only the events since the last call, in order (one writer at a time under the ops lock; the
        # sequence only grows): the last state of a task wins, as arg_max(state, event_seq) would
        with self.ops() as con:
            rows = con.execute(
                "select task_id, state, event_seq from outbox.task_events where event_seq > ? order by event_seq",
                [self._event_seq],
            ).fetchall()
        for tid, state, seq in rows:
            if state in ("sent", "dead"):
                self._settled.add(tid)
            else:
                self._settled.discard(tid)
            self._event_seq = seq

    def dispatcher_due(self, now: datetime, tick: timedelta, at_least: int = 1) -> bool:
        """Whether ``at_least`` unsettled tasks have their window open at ``now`` (or opened during the last tick)."""
        ts = pd.Timestamp(now)
        n = 0
        for tid, t in self.tasks.items():
            if tid in self._settled:
                continue
            if t["not_before"] <= ts and t["not_after"] > ts - pd.Timedelta(tick):
                n += 1
                if n >= at_least:
                    return True
        return False

    def business_day(self, day: date) -> bool:
        """Company business day (Mon-Fri)."""
        return day.weekday() < 5

    def kill_dispatcher(self, now: datetime) -> dict[str, Any]:
        """Move the clock to a tick with windows open and SIGKILL the service loop once its dispatcher pass sends."""
        for r in self.runs.active():
            self.runs.wait([r], 1800)
        before = len(self.emu.received())
        self.publish_clock(now)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(self.emu.received()) < before + 5 and not self.acked(now):
            time.sleep(0.05)
        finished = self.acked(now)
        os.killpg(self.loop.popen.pid, signal.SIGKILL)
        self.loop.popen.wait(10)
        self.procs.remove(self.loop)
        info = {"at": now.isoformat(), "kind": "dispatcher (the service loop process)",
                "sent_before_kill": len(self.emu.received()) - before, "pass_had_finished": finished}  # fmt: skip
        log.info("kill -9 of the dispatcher: %s", info)
        return info

    def kill_receiver(self, now: datetime) -> dict[str, Any]:
        """Restart the loop (its first pass is the one the kill cut short); while its delivery receipts arrive,
        SIGKILL the receiver; restart it 20 s later.

        Replies due meanwhile are posted while the receiver is down (the providers retry them).
        """
        before = len(self.emu.received())
        self.start_loop()
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(self.emu.received()) < before + 5 and not self.acked(now):
            time.sleep(0.05)
        os.killpg(self.receiver.popen.pid, signal.SIGKILL)
        self.receiver.popen.wait(10)
        self.procs.remove(self.receiver)
        posted = self.post_replies(now + timedelta(minutes=self.plan.tick_minutes))
        time.sleep(20)
        self.start_receiver()
        self.passes(now)
        info = {"at": now.isoformat(), "kind": "receiver", "down_s": 20, "replies_posted_while_down": posted,
                "sent_by_restarted_loop_before_kill": len(self.emu.received()) - before}  # fmt: skip
        log.info("kill -9 of the receiver, restarted: %s", info)
        return info

    def run(self) -> dict[str, Any]:
        """Drive the week; return the figures."""
        p = self.plan
        wall0 = time.monotonic()
        tm = self.timing
        with tm.phase("setup"):
            self.setup()
        self.save("set up")
        tick = timedelta(minutes=p.tick_minutes)
        business = [
            p.first_day + timedelta(days=i) for i in range(14) if (p.first_day + timedelta(days=i)).weekday() < 5
        ]
        business = business[: p.days]
        end = datetime.combine(business[-1], datetime.min.time(), tzinfo=UTC) + timedelta(hours=24 + p.hours_after)
        now = self.clock.now()
        self.new_day()
        now += timedelta(hours=p.start_hour)
        prev = now - tick
        last_inbound_posted = 0
        killed = False
        ticks = 0
        tick_wall = time.monotonic()
        while now < end:
            self.clock.set(now)
            tm.day = now.date().isoformat()
            tm.count("instants")
            if now.hour == 0 and now.minute == 0 and now.date() != self.driver.today:
                with tm.phase("new_day"):
                    for r in self.runs.active("daily"):
                        self.runs.wait([r], 3600)
                    self.new_day()
                self.save(f"day {now.date()}")
            local = now.astimezone(COMPANY_TZ)
            with tm.phase("harness_io"):
                if now.minute == 0:
                    self.land_bank_hour(now)
                self.collect_sent(now)
                posted = self.post_replies(now)
                if p.probes and local.hour == p.probe_hour and local.minute == 0 and self.business_day(local.date()):
                    posted += self.post_probes(now, p.probes)
            with tm.phase("prefect_api"):
                if local.hour == 6 and local.minute == 0 and self.business_day(local.date()):
                    self.runs.start("daily", now)
                    self._refresh_after_daily = True
                if self.bank_sync_due(local):
                    if self.runs.active("bank_sync"):
                        self.skipped_bank_syncs += 1
                    else:
                        self.runs.start("bank_sync", now)
                daily_active = bool(self.runs.active("daily"))
            if self._refresh_after_daily and not daily_active:
                with tm.phase("ops_reads"):
                    self.refresh_tasks()
                    self.refresh_settled()
                self._refresh_after_daily = False
            with tm.phase("due_scan"):
                kill_now = (
                    not killed
                    and p.kill_day is not None
                    and now.date() == business[min(p.kill_day, len(business)) - 1]
                    and local.hour >= 9
                    and self.dispatcher_due(now, now - prev, at_least=p.kill_min_due)
                )
            if kill_now:
                killed = True
                with tm.phase("kill"):
                    self.kills.append(self.kill_dispatcher(now))
                    self.kills.append(self.kill_receiver(now))
                self.save("killed")
            # The loop passes at every instant where a pass can do something: a window open (or just closed),
            # webhooks posted, new serving tables (a run finished); elsewhere the clock jumps (see above).
            with tm.phase("prefect_api"):
                changed = self.warehouse_changed()
                sync_active = bool(self.runs.active("bank_sync"))
            with tm.phase("due_scan"):
                due = self.dispatcher_due(now, now - prev)
            if due or posted or last_inbound_posted or (changed and self.tasks):
                where = "daily" if daily_active else "sync" if sync_active else "idle"
                # replies alone (no window open or just closed, no fresh serving tables): the inbound pass
                # hears them, re-checks the queue and answers; the dispatcher would pass idle, it waits
                only = ("inbound",) if p.clock == "jump" and not (due or changed) else None
                tm.count("inbound_only_instants" if only else "both_passes_instants")
                with tm.phase(f"passes_{where}"):
                    took = self.passes(now, only=only)
                tm.count(f"pass_instants_{where}")
                tm.count("pass_instants")
                self.pass_log.append((now, round(took, 2), bool(due), posted, bool(changed), where))
                ticks += 1
                with tm.phase("ops_reads"):
                    self.refresh_settled()
            last_inbound_posted = posted
            # the daily run and the bank sync take real time: the clock slows down to them (a pass that
            # waits for them would otherwise see hours of the clock go by)
            with tm.phase("prefect_api"):
                daily_active = bool(self.runs.active("daily"))
                sync_active = bool(self.runs.active("bank_sync"))
            prev = now
            if daily_active or sync_active:
                pace = p.daily_pace if daily_active else p.sync_pace
                with tm.phase("pace_sleep_daily" if daily_active else "pace_sleep_sync"):
                    time.sleep(max(0.0, tick_wall + tick.total_seconds() / pace - time.monotonic()))
                now += tick
                started = min((r.now_utc for r in self.runs.active("daily")), default=None)
                if started is not None and now - started >= timedelta(minutes=p.daily_hold_minutes):
                    # the clock waits for a daily run at most this late (a run that outlasted the first windows
                    # of its own decisions expired them: an artefact of the fast clock, not of production)
                    with tm.phase("daily_hold"):
                        self.runs.wait(self.runs.active("daily"), 3600)
                    tm.count("daily_holds")
                if sync_active and self.bank_sync_due(now.astimezone(COMPANY_TZ)):
                    # the next bank sync is due: the clock waits for the one still running (on this machine a
                    # sync may outlast an hour of the fast clock; in production it takes minutes, none is skipped)
                    with tm.phase("sync_hold"):
                        self.runs.wait(self.runs.active("bank_sync"), 3600)
                    tm.count("sync_holds")
            elif p.clock == "jump":
                with tm.phase("due_scan"):
                    now = self.next_instant(now, tick, end, follow_up=bool(posted))
            else:
                now += tick
            tick_wall = time.monotonic()
            if prev.hour != now.hour and now.hour % 6 == 0 or now.date() != prev.date():
                log.info(
                    "clock %s: %d tasks known, %d messages at providers, %d replies posted, %d runs, wall %.0f s",
                    now.isoformat(), len(self.tasks), self.seen, len(self.posted), len(self.runs.runs),
                    time.monotonic() - wall0,
                )  # fmt: skip
        # the end of the week: everything settles, one last dispatcher and inbound pass
        tm.day = "end"
        with tm.phase("final"):
            self.clock.set(now)
            for r in self.runs.active():
                self.runs.wait([r], 3600)
            self.emu.drain(120)
            self.collect_sent(now)
            self.passes(now)
            self.emu.drain(120)
            self.passes(now + tick)
            self.publish_clock_stop()
        self.figures["wall_s_before_measure"] = round(time.monotonic() - wall0, 1)
        self.figures["active_ticks"] = ticks + 2
        self.save("measuring")
        with tm.phase("measure"):
            self.measure()
        self.figures["wall_s"] = round(time.monotonic() - wall0, 1)
        self.save("done")
        return self.figures

    def bank_sync_due(self, local: datetime) -> bool:
        """Whether a bank sync starts at this (company-local) instant: HH:05, 06-18, business days."""
        in_tick = 5 <= local.minute < 5 + self.plan.tick_minutes
        return in_tick and 6 <= local.hour <= 18 and self.business_day(local.date())

    def next_instant(self, now: datetime, tick: timedelta, end: datetime, *, follow_up: bool) -> datetime:
        """The next instant anything is due (no daily run nor bank sync running): a reply of a debtor, a
        window opening (or still open with a task unsettled), the bank's hourly report with lines in it, a
        scheduled run (daily 06:00, bank sync HH:05, probes), UTC midnight, the end; on the tick grid, so a
        jump never passes over any of them (an idle night or weekend is one jump)."""
        step = tick.total_seconds()

        def on_grid(at: datetime) -> datetime:
            at = at.astimezone(UTC)
            base = at.replace(hour=0, minute=0, second=0, microsecond=0)
            k = -(-(at - base).total_seconds() // step)
            return max(now + tick, base + timedelta(seconds=k * step))

        nxt = [end, datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)]
        if follow_up:
            nxt.append(now + tick)  # the receipts of what the replies' pass sent
        reply = self.driver.next_at()
        if reply is not None:
            nxt.append(on_grid(reply))
        ts = pd.Timestamp(now + tick)
        opening = None
        for tid, t in self.tasks.items():
            if tid in self._settled:
                continue
            if t["not_before"] <= ts and t["not_after"] > pd.Timestamp(now):
                opening = now + tick  # still open and not settled: the dispatcher retries it
                break
            if t["not_before"] > ts and (opening is None or t["not_before"] < opening):
                opening = t["not_before"].to_pydatetime()
        if opening is not None:
            nxt.append(on_grid(opening))
        unlanded = self._bank_today.loc[~self._bank_today["_landed"], "arrives_at"]
        if not unlanded.empty:
            first = pd.Timestamp(unlanded.min()).to_pydatetime()
            hour = first.replace(minute=0, second=0, microsecond=0)
            nxt.append(max(now + tick, hour if hour == first else hour + timedelta(hours=1)))
        # the scheduled instants of the company's day (daily run, bank syncs, probes), hour by hour
        at = on_grid(now + tick)
        horizon = min(nxt)
        while at < horizon:
            local = at.astimezone(COMPANY_TZ)
            if self.business_day(local.date()) and (
                (local.hour == 6 and local.minute == 0)
                or self.bank_sync_due(local)
                or (self.plan.probes and local.hour == self.plan.probe_hour and local.minute == 0)
            ):
                return at
            at += tick
        return horizon

    def publish_clock_stop(self) -> None:
        """Tell the service loop to stop (it ends its flow run COMPLETED)."""
        from connectors.clock import write_file_clock

        write_file_clock(self.clock_file, "stop")
        try:
            self.loop.popen.wait(120)
        except subprocess.TimeoutExpired:
            log.warning("the service loop did not stop within 120 s of the clock's stop; it is killed")

    # --- the figures ---

    def measure(self) -> dict[str, Any]:
        """Every figure of the live-week bar (see the module docstring), into ``self.figures``: each step is
        saved as it is counted, and a step that fails records its error and the others still run."""
        steps = (("counts", self.measure_counts), ("latencies", self.measure_latencies),
                 ("passes", self.measure_passes))  # fmt: skip
        for name, step in steps:
            try:
                step()
            except Exception as exc:  # noqa: BLE001 - a figure lost, not the others
                log.exception("measuring %s failed", name)
                self.figures.setdefault("measure_errors", {})[name] = repr(exc)
            self.save(f"measured {name}")
        return self.figures

    def measure_passes(self) -> None:
        """The cost of the loop's passes: Prefect run seconds per flow, harness wall seconds per instant."""
        per: dict[str, list[float]] = {}
        for r in self._loop_runs or []:
            if r.run_s is not None and r.state == "COMPLETED":
                per.setdefault(r.kind, []).append(r.run_s)

        def stats(xs: list[float]) -> dict[str, Any]:
            xs = sorted(xs)
            return {"n": len(xs), "sum": round(sum(xs), 1), "median": round(statistics.median(xs), 2),
                    "p90": round(xs[int(0.9 * (len(xs) - 1))], 2), "max": round(xs[-1], 2)}  # fmt: skip

        self.figures["pass_run_s"] = {k: stats(v) for k, v in per.items() if v}
        walls = [x[1] for x in self.pass_log]
        self.figures["pass_instants_wall_s"] = stats(walls) if walls else {}
        self.figures["pass_instant_triggers"] = dict(
            Counter(
                "+".join(n for n, on in zip(("window", "replies", "run_done"), x[2:5], strict=True) if on)
                or "follow_up"
                for x in self.pass_log
            )  # fmt: skip
        )

    def measure_latencies(self) -> None:
        """Promise/dispute/opt-out/bank payment -> cancellation (see :meth:`latencies`)."""
        self.figures.update(self.latencies(self._states, self._cancels))

    def measure_counts(self) -> None:
        """Contacts, windows, expiries, duplicates, runs (see the module docstring)."""
        from bench.outbox_faults import deliveries, tally
        from connectors.webhooks.spool import Spool

        with self.ops() as con:
            states = con.execute(
                "with last as (select task_id, arg_max(state, event_seq) as state,"
                " arg_max(detail, event_seq) as last_error, max(event_at) filter (where state = 'sent') as sent_at,"
                " min(event_at) filter (where state = 'dead') as dead_at"
                " from outbox.task_events group by task_id)"
                " select t.task_id, t.customer_id, t.action, t.channel, t.decision_date, t.not_before, t.not_after,"
                " t.invoice_ids, l.state, l.last_error, l.sent_at, l.dead_at"
                " from outbox.contact_tasks t join last l using (task_id)"
            ).df()
            cancels = con.execute(
                "select t.customer_id, t.task_id, e.event_at, e.detail from outbox.task_events e"
                " join outbox.contact_tasks t using (task_id)"
                " where e.state = 'dead' and e.detail like 'cancelled before sending%'"
            ).df()
            landed = {r[0] for r in con.execute("select event_id from raw_channels.webhook_events").fetchall()}
        spool_ids = set()
        for event in Spool(self.data / "inbound").read():
            spool_ids.add(event["event_id"])
        seen = deliveries(self.emu, states)
        end = pd.Timestamp(self.clock.now()).tz_convert("UTC").tz_localize(None)
        not_due = states[(states["state"] == "pending") & (pd.to_datetime(states["not_before"]) > end)]
        t = tally(states[~states["task_id"].isin(not_due["task_id"])], seen)
        written = states[states["channel"].isin(["email", "whatsapp", "sms"])]
        sent = written[written["state"] == "sent"]
        nb = pd.to_datetime(sent["not_before"])
        na = pd.to_datetime(sent["not_after"])
        sa = pd.to_datetime(sent["sent_at"])
        in_window = int(((sa >= nb) & (sa <= na)).sum())
        dead = written[written["state"] == "dead"]
        reasons = Counter(
            str(x).split(":")[0] + (":" + str(x).split(":")[1][:40] if ":" in str(x) else "")
            for x in dead["last_error"]
        )
        self._states, self._cancels = states, cancels
        self._loop_runs = self.loop_runs()
        runs = self.runs.runs + self._loop_runs
        by_state = Counter((r.kind, r.state) for r in runs)
        failed = [r for r in runs if r.state != "COMPLETED"]
        lock_errors = [r for r in failed if "lock" in r.message.lower()]
        # the kill -9 leaves the killed loop's run and its pass in flight (never final: nobody reports them)
        killed_ids = {r.id for r in failed if r.kind in LOOP_FLOWS and r.state in ("RUNNING", "CRASHED", None)}
        figures = {
            "profile": self.plan.profile,
            "business_days": self.plan.days,
            "tick_minutes": self.plan.tick_minutes,
            "contacts_decided": int(len(states)),
            "written_decided": int(len(written)),
            "by_channel": states["channel"].value_counts().to_dict(),
            "written_states": written["state"].value_counts().to_dict(),
            "sent_in_window": in_window,
            "sent_outside_window": int(len(sent) - in_window),
            "dead_reasons": dict(reasons.most_common(12)),
            "duplicates": t.duplicates,
            "lost": t.lost,
            "exactly_once": t.exactly_once,
            "not_due_by_the_end": int(len(not_due)),
            "outbox_vs_providers_problems": t.problems[:10],
            "flow_runs": {f"{k}:{s}": n for (k, s), n in sorted(by_state.items(), key=str)},
            "failed_runs": len(failed),
            "failed_runs_not_killed": len([r for r in failed if r.id not in killed_ids]),
            "runs_cut_by_the_kill": len(killed_ids),
            "failed_messages": [f"{r.kind} {r.now_utc:%a %H:%M} {r.state}: {r.message[:200]}" for r in failed][:10],
            "lock_errors": len(lock_errors),
            "skipped_bank_syncs_still_running": self.skipped_bank_syncs,
            "replies_posted": dict(Counter(x["kind"] for x in self.posted)),
            "webhook_events_landed": len(landed),
            "spool_events_not_landed": len(spool_ids - landed) if spool_ids else None,
            "webhooks_failed_at_providers": self.emu.whatsapp.pusher.failed + self.emu.twilio.pusher.failed,
            "kills": self.kills,
        }
        figures["sent_in_window_share_of_written"] = round(in_window / max(1, len(written)), 4)
        due = written[~written["task_id"].isin(not_due["task_id"])]
        figures["written_due_by_the_end"] = int(len(due))
        figures["sent_in_window_share_of_due"] = round(in_window / max(1, len(due)), 4)
        error = dead["last_error"].astype(str)
        figures["written_cancelled"] = int(error.str.startswith("cancelled before sending").sum())
        figures["written_expired"] = int(error.str.startswith("window missed").sum())
        figures["sent_in_window_or_cancelled_share_of_due"] = round(
            (in_window + figures["written_cancelled"]) / max(1, len(due)), 4
        )
        self.figures.update(figures)

    def loop_runs(self) -> list[Run]:
        """The service loop's flow runs and its passes' (subflow) runs, from the Prefect API."""
        from prefect.client.schemas.filters import FlowFilter, FlowFilterName

        client = self.runs.client
        flows = client.read_flows(flow_filter=FlowFilter(name=FlowFilterName(any_=list(LOOP_FLOWS))))
        names = {f.id: f.name for f in flows}
        out, offset = [], 0
        while True:
            batch = client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=list(LOOP_FLOWS))), limit=200, offset=offset
            )
            for fr in batch:
                st = fr.state
                at = fr.parameters.get("now_utc")
                at = pd.Timestamp(at).to_pydatetime() if at else self.clock.now()
                out.append(
                    Run(
                        names.get(fr.flow_id, "?"),
                        fr.id,
                        at,
                        0.0,
                        0.0,
                        st.type.value if st else None,
                        str(st.message or "") if st else "",
                        fr.total_run_time.total_seconds(),
                    )  # fmt: skip
                )
            if len(batch) < 200:
                return out
            offset += 200

    def latencies(self, states: pd.DataFrame, cancels: pd.DataFrame) -> dict[str, Any]:
        """Production-equivalent minutes from a reply / a bank arrival to the cancellation of queued contacts.

        For each promise, dispute (the customer's contacts), opt-out (the customer's contacts on the channel
        opted out) and bank-seen payment (the contacts naming a paid invoice): the contacts queued then
        (:func:`queued_at`: the rule's scope, not the agent's own answer to the reply nor a contact already
        sent, cancelled or expired before it). ``n`` and the minutes: events whose queued contacts got a
        ``cancelled before sending`` event at or after the event; ``queued_not_cancelled``: events with
        queued contacts none of which was cancelled (a product miss); events with none queued are not counted.
        """
        run_wall = self.pass_wall
        cancels = cancels.assign(event_at=pd.to_datetime(cancels["event_at"]))
        decided_at = {}
        for d in states["decision_date"].unique():
            local6 = datetime.combine(pd.Timestamp(d).date(), datetime.min.time()).replace(hour=6, tzinfo=COMPANY_TZ)
            decided_at[d] = pd.Timestamp(local6.astimezone(UTC)).tz_localize(None)
        tasks = states.assign(decided=states["decision_date"].map(decided_at))

        # A bank sync took its real (wall) seconds, but the clock went on at --sync-pace meanwhile: in the
        # production-equivalent latency the clock minutes a sync spans count as its wall seconds instead.
        syncs = [
            (pd.Timestamp(r.now_utc).tz_convert("UTC").tz_localize(None),
             pd.Timestamp(r.sim_end).tz_convert("UTC").tz_localize(None), r.wall_end - r.wall_start)
            for r in self.runs.runs if r.kind == "bank_sync" and r.sim_end is not None and r.wall_end is not None
        ]  # fmt: skip

        def sync_correction(at: pd.Timestamp, first: pd.Timestamp) -> float:
            """Minutes to add to ``first - at``: each sync's wall time instead of the clock time it spans; a
            cancellation by the sync itself (stamped with its start, ``now_utc``) comes its wall time later."""
            out = 0.0
            for s0, s1, wall in syncs:
                if at <= s0 and abs((first - s0).total_seconds()) < 1:
                    return out + wall / 60
                span = (s1 - s0).total_seconds()
                inside = (min(first, s1) - max(at, s0)).total_seconds()
                if span > 0 and inside > 0:
                    out += (wall * inside / span - inside) / 60
            return out

        def measure(events: list[tuple[pd.Timestamp, pd.DataFrame]], correct: bool = False) -> dict[str, Any]:
            mins, missed, raw = [], 0, []
            for at, candidates in events:
                queued = queued_at(candidates, at)
                if queued.empty:
                    continue
                c = cancels[cancels["task_id"].isin(queued["task_id"]) & (cancels["event_at"] >= at)]
                if c.empty:
                    missed += 1
                    continue
                first = c["event_at"].min()
                minutes = (first - at).total_seconds() / 60 + run_wall.get(first, 0) / 60
                raw.append(minutes)
                mins.append(minutes + (sync_correction(at, first) if correct else 0.0))
            return {
                "n": len(mins),
                "median_min": round(statistics.median(mins), 1) if mins else None,
                "p90_min": round(sorted(mins)[int(0.9 * (len(mins) - 1))], 1) if mins else None,
                "queued_not_cancelled": missed,
                **({"median_min_clock": round(statistics.median(raw), 1) if raw else None} if correct else {}),
            }

        def replies(kinds: tuple[str, ...], same_channel: bool = False) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
            return [
                (
                    pd.Timestamp(x["at"]).tz_convert("UTC").tz_localize(None),
                    tasks[
                        (tasks["customer_id"] == x["customer_id"])
                        & (tasks["channel"].eq(x["channel"]) if same_channel else True)
                    ],
                )
                for x in self.posted
                if x["kind"] in kinds
            ]

        bank = []
        for x in self.bank_arrivals:
            ids = set(x["invoice_ids"])
            cand = tasks[[bool(ids & set(v)) for v in tasks["invoice_ids"]]]
            if not cand.empty:
                bank.append((pd.Timestamp(x["at"]).tz_convert("UTC").tz_localize(None), cand))
        return {
            "promise_or_dispute_to_cancel": measure(replies(("promise", "dispute", "probe_promise"))),
            "of_which_natural_replies": measure(replies(("promise", "dispute"))),
            "of_which_probes": measure(replies(("probe_promise",))),
            "opt_out_to_cancel": measure(replies(("opt_out",), same_channel=True)),
            "bank_payment_to_cancel": measure(bank, correct=True),
        }


def run(plan: Plan) -> dict[str, Any]:
    """Run the harness; always stops what it started."""
    h = Harness(plan)
    try:
        return h.run()
    except BaseException as exc:
        h.save(f"crashed: {exc!r}")
        raise
    finally:
        h.stop()


def main(argv: list[str] | None = None) -> None:
    """Command line (see the module docstring)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--serve"]:
        serve_main()
        return
    p = argparse.ArgumentParser(prog="python -m bench.live_week", description=__doc__.split("\n")[0])
    p.add_argument("--profile", default="M", choices=["S", "M", "L"])
    p.add_argument("--days", type=int, default=5, help="business days (Mon-Fri) to run")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--tick-minutes", type=int, default=5)
    p.add_argument("--kill-day", type=int, default=3, help="business day of the kill -9s (0: none)")
    p.add_argument("--daily-pace", type=float, default=10.0, help="simulated s per wall s (daily run, bank sync)")
    p.add_argument("--probes", type=int, default=20, help="probe promises a day (customers with a queued contact)")
    p.add_argument("--probe-hour", type=int, default=13, help="company-local hour of the probes")
    p.add_argument("--kill-min-due", type=int, default=20, help="open windows the kill -9 tick needs")
    p.add_argument("--start-hour", type=int, default=0, help="UTC hour of the first day the clock starts at")
    p.add_argument("--hours-after", type=int, default=7, help="hours into the day after the last business day")
    p.add_argument(
        "--clock",
        default="jump",
        choices=["jump", "tick"],
        help="jump: to the next instant anything is due; tick: every --tick-minutes",
    )
    p.add_argument("--sync-pace", type=float, default=30.0, help="simulated s per wall s (bank sync alone)")
    p.add_argument("--daily-hold-minutes", type=int, default=50, help="the clock waits for a daily run from then")
    p.add_argument("--workdir", type=Path)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    def stop(signum: int, _frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")  # the harness's finally stops every child

    signal.signal(signal.SIGTERM, stop)
    for noisy in ("mail.log", "httpx", "prefect", "simulator", "connectors", "uvicorn"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    plan = Plan(args.profile, args.days, args.seed, args.tick_minutes, kill_day=args.kill_day or None,
                daily_pace=args.daily_pace, probes=args.probes, probe_hour=args.probe_hour,
                kill_min_due=args.kill_min_due, start_hour=args.start_hour, hours_after=args.hours_after,
                workdir=args.workdir, clock=args.clock, sync_pace=args.sync_pace,
                daily_hold_minutes=args.daily_hold_minutes)  # fmt: skip
    figures = run(plan)
    print(json.dumps(figures, indent=2, default=str))  # noqa: T201 - a bench prints its figures


if __name__ == "__main__":
    main()

"""Adversarial corpus, provider faults: what a flaky provider, a gateway or a kill -9 does to a send.

Every case sends real tasks through the real senders and ``outbox.dispatch`` to the real servers on
127.0.0.1 (the WhatsApp Cloud API, Twilio and HubSpot emulators, an aiosmtpd server, a TCP
``FaultProxy`` for connection resets), with the fault scripted on the exact request it hits. Kill -9
cases run the dispatcher as its own process (``bench.outbox_faults --worker``), which SIGKILLs
itself right before its first request leaves or right after its first answer. The dispatcher is
then run again until the task settles, and the deliveries are counted at the provider:

- ``landed_once``: the customer got the message exactly once. The task ends ``sent`` with the
  provider's id, except an SMTP send whose outcome was lost (no lookup exists): it ends ``dead``
  with "ambiguous: may have been delivered" - never resent - and still counts as a contact;
- ``refused``: the task ends ``dead`` with its error (``reason``) and the provider never had it.

The payload of a case: ``channel``, ``faults`` (scripted on the provider's create endpoint), and
optionally ``lookup_faults``, ``proxy`` (modes), ``kill`` (``before``/``after``), ``config``
(sender settings), ``index_lag_s``, ``storm`` (``(length, Retry-After)``), ``dup_webhooks``,
``final`` (the expected end state) and ``max_attempts``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

from bench.outbox_faults import CHANNELS, decisions, run_worker, write_crm
from connectors.channels import outbox, registry
from connectors.channels.hubspot_tasks.sender import reference
from connectors.channels.twilio_sms.sender import marker
from connectors.webhooks import store
from lab.channels import ChannelLab, start_lab
from simulator.emulators.channel_common import FaultPlan, FaultProxy
from tests.adversarial.corpus import Case, case_ids

HTTP = ("whatsapp", "sms", "call")
NAMES = {"whatsapp": "wa", "sms": "twilio", "call": "hubspot", "email": "smtp"}
#: How each HTTP provider's fault ends when nothing can prove whether the request was processed.
NO_LOOKUP = {"whatsapp"}  # the Cloud API has no message lookup: only status webhooks tell


def _http_cases() -> list[Case]:
    cases: list[Case] = []
    for ch in HTTP:
        p = NAMES[ch]
        lookup_proves_absence = ch not in NO_LOOKUP
        never_left_expect = "landed_once" if lookup_proves_absence else "refused"
        never_left_reason = None if lookup_proves_absence else "ambiguous: may have been delivered"
        cases += [
            Case(f"fault-{p}-504-after-accept", "provider_faults", "landed_once",
                 "the provider accepted the send, the gateway answered 504: reconciled, not resent",
                 {"channel": ch, "faults": ["504_after"]}),
            Case(f"fault-{p}-timeout-after-accept", "provider_faults", "landed_once",
                 "the provider accepted the send but answered after the client's read timeout",
                 {"channel": ch, "faults": ["timeout_after"]}),
            Case(f"fault-{p}-timeout-before-accept", "provider_faults", never_left_expect,
                 "the request was held past the read timeout and never processed",
                 {"channel": ch, "faults": ["timeout_before"]}, never_left_reason),
            Case(f"fault-{p}-reset-after-accept", "provider_faults", "landed_once",
                 "TCP reset after the provider answered: the answer is lost, the message exists",
                 {"channel": ch, "faults": [], "proxy": ["reset_after"]}),
            Case(f"fault-{p}-reset-before-accept", "provider_faults", never_left_expect,
                 "TCP reset after the request was written, before the provider saw it",
                 {"channel": ch, "faults": [], "proxy": ["reset_before"]}, never_left_reason),
            Case(f"fault-{p}-5xx-before-processing", "provider_faults", never_left_expect,
                 "a 5xx the provider answered without processing: still ambiguous to the client",
                 {"channel": ch, "faults": ["5xx"]}, never_left_reason),
            Case(f"fault-{p}-429-storm-retry-after", "provider_faults", "landed_once",
                 "a burst of 429 with Retry-After longer than one run's attempts: retried, sent once",
                 {"channel": ch, "faults": ["429_storm"], "storm": (5, "0.05")}),
            Case(f"fault-{p}-429-storm-no-retry-after", "provider_faults", "landed_once",
                 "a burst of 429 without Retry-After: exponential back-off, then sent once",
                 {"channel": ch, "faults": ["429_storm"], "storm": (4, "")}),
            Case(f"fault-{p}-200-html-after-accept", "provider_faults", "landed_once",
                 "accepted, then a proxy answered 200 with an HTML page instead of the provider's JSON",
                 {"channel": ch, "faults": ["html_after"]}),
            Case(f"fault-{p}-401-refused", "provider_faults", "refused",
                 "the credentials are refused: dead-lettered with the hint, not retried forever",
                 {"channel": ch, "faults": [], "config": "bad_credentials", "max_attempts": 2}, "check COBRANZA_"),
            Case(f"fault-{p}-kill9-before-call", "provider_faults", never_left_expect,
                 "kill -9 after the claim was written, before the request left",
                 {"channel": ch, "faults": [], "kill": "before"}, never_left_reason),
            Case(f"fault-{p}-kill9-after-call", "provider_faults", "landed_once",
                 "kill -9 after the provider answered, before the outcome was written",
                 {"channel": ch, "faults": [], "kill": "after"}),
        ]  # fmt: skip
    cases += [
        Case("fault-wa-duplicate-status-webhooks", "provider_faults", "landed_once",
             "504 after acceptance, then every status webhook delivered three times",
             {"channel": "whatsapp", "faults": ["504_after"], "dup_webhooks": 2}),
        Case("fault-twilio-duplicate-status-callbacks", "provider_faults", "landed_once",
             "504 after acceptance, then every status callback delivered three times",
             {"channel": "sms", "faults": ["504_after"], "dup_webhooks": 2}),
        Case("fault-twilio-5xx-on-status-lookup", "provider_faults", "landed_once",
             "504 after acceptance, then the message lookup answers 503 four times",
             {"channel": "sms", "faults": ["504_after"], "lookup_faults": ["5xx"] * 4}),
        Case("fault-hubspot-5xx-on-search", "provider_faults", "landed_once",
             "504 after the task was created, then the search answers 502 four times",
             {"channel": "call", "faults": ["504_after"], "lookup_faults": ["5xx"] * 4}),
        Case("fault-hubspot-index-lag", "provider_faults", "landed_once",
             "504 after the task was created while search lags writes: not created twice",
             {"channel": "call", "faults": ["504_after"], "index_lag_s": 1.5}),
        Case("fault-hubspot-index-lag-timeout", "provider_faults", "landed_once",
             "timeout after the task was created while search lags writes: not created twice",
             {"channel": "call", "faults": ["timeout_after"], "index_lag_s": 1.5}),
        Case("fault-smtp-250-lost-after-queue", "provider_faults", "landed_once",
             "the relay queued the e-mail and dropped the connection before its 250: never resent",
             {"channel": "email", "faults": ["504_after"], "final": "dead"}, "ambiguous: may have been delivered"),
        Case("fault-smtp-timeout-after-queue", "provider_faults", "landed_once",
             "the relay queued the e-mail and answered after the client's timeout: never resent",
             {"channel": "email", "faults": ["timeout_after"], "final": "dead"}, "ambiguous: may have been delivered"),
        Case("fault-smtp-451-temporary", "provider_faults", "landed_once",
             "451 at the end of DATA (not queued): retried in the call, sent once",
             {"channel": "email", "faults": ["5xx"]}),
        Case("fault-smtp-421-closed-before-queue", "provider_faults", "landed_once",
             "421 and the connection closed before queuing: retried, sent once",
             {"channel": "email", "faults": ["timeout_before"]}),
        Case("fault-smtp-kill9-before-transaction", "provider_faults", "refused",
             "kill -9 after the claim, before MAIL FROM: dead-lettered as ambiguous, not delivered",
             {"channel": "email", "faults": [], "kill": "before"}, "ambiguous: may have been delivered"),
        Case("fault-smtp-kill9-after-250", "provider_faults", "landed_once",
             "kill -9 after the relay's 250, before the outcome was written: never resent",
             {"channel": "email", "faults": [], "kill": "after", "final": "dead"},
             "ambiguous: may have been delivered"),
        Case("fault-smtp-connection-refused", "provider_faults", "landed_once",
             "the relay refuses connections (nothing sent), then comes back: sent once",
             {"channel": "email", "faults": [], "config": "smtp_down_first"}),
        Case("fault-smtp-bad-address", "provider_faults", "refused",
             "the contact's address is not an address: refused before anything is sent",
             {"channel": "email", "faults": [], "email": "daniel clark@@ironbridge"}, "not a valid email address"),
        Case("fault-twilio-partial-batch-kill9", "provider_faults", "landed_once",
             "batch of 6 (size 1,000), kill -9 after the 2nd answer: only that one uncertain",
             {"channel": "sms", "faults": ["504_after"], "kill": "after2", "tasks": 6}),
        Case("fault-smtp-partial-batch-kill9", "provider_faults", "landed_once",
             "batch of 6 (size 1,000), kill -9 after the 2nd 250: the rest stay queued and go once",
             {"channel": "email", "faults": [], "kill": "after2", "tasks": 6}),
    ]  # fmt: skip
    return cases


def _agent_reply_cases() -> list[Case]:
    """The agent's answer to a debtor's message (an ``agent_reply`` task, issue 20) under the faults that
    leave a send in doubt: it reaches the debtor once (e-mail: never resent, dead-lettered as ambiguous)."""
    cases = [
        Case(f"fault-{NAMES[ch]}-agent-reply-{fault.replace('_', '-')}", "provider_faults", "landed_once",
             f"the agent's answer was accepted but the call ended in {fault}: reconciled, reaches the debtor once",
             {"channel": ch, "faults": [fault], "agent_reply": True})
        for ch in ("whatsapp", "sms") for fault in ("timeout_after", "504_after")
    ]  # fmt: skip
    cases.append(
        Case(
            "fault-smtp-agent-reply-timeout-after-queue",
            "provider_faults",
            "landed_once",
            "the relay queued the agent's e-mail answer and replied after the client's timeout: never resent",
            {"channel": "email", "faults": ["timeout_after"], "final": "dead", "agent_reply": True},
            "ambiguous: may have been delivered",
        )  # fmt: skip
    )
    return cases


def _as_agent_replies(rows: pd.DataFrame, now: datetime) -> list[dict[str, Any]]:
    """The rows as the agent queues its answers (``flows/agent.py``): keyed by the message, free text."""
    tasks = []
    for r in rows.to_dict("records"):
        message = f"wh-adversarial-{r['customer_id']}"
        tasks.append(
            {
                "task_id": outbox.message_task_key(message, "agent_reply"),
                "customer_id": r["customer_id"],
                "contact_id": r["contact_id"],
                "decision_date": now.date(),
                "scheduled_at": now,
                "not_before": now,
                "not_after": now + timedelta(hours=23),
                "action": "agent_reply",
                "channel": r["channel"],
                "invoice_ids": [],
                "amount_at_stake": r["amount_at_stake"],
                "currency": r["currency"],
                "reason_codes": ["agent:statement_sent", "intent:statement_request"],
                "payload": {
                    "reply_body": "Hola. Su saldo pendiente es $ 1.234.567,89.\nVea su estado de cuenta aquí.",
                    "reply_subject": "Re: Facturas vencidas" if r["channel"] == "email" else None,
                    "in_reply_to": message,
                    "language": "es",
                    "country": "CO",
                    "currency": r["currency"],
                    "amount_at_stake": r["amount_at_stake"],
                    "customer_name": r.get("customer_name"),
                    "contact_name": None,
                    "phone": r["phone"] if r["channel"] in ("whatsapp", "sms") else None,
                    "email": r["email"] if r["channel"] == "email" else None,
                    "payment_link": None,
                    "invoices": [],
                },
            }
        )
    return tasks


CASES: list[Case] = _http_cases() + _agent_reply_cases()


# --- the lab -----------------------------------------------------------------------------------------


@dataclass
class Lab:
    """The running servers plus a reset proxy in front of each HTTP emulator."""

    lab: ChannelLab
    proxies: dict[str, FaultProxy]
    root: Path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("provider-faults")
    with start_lab(root / "inbound", crm_dir=write_crm(root / "world", 400), read_rate=0.0) as running:
        proxies = {
            "whatsapp": FaultProxy(("127.0.0.1", int(running.whatsapp_url.rsplit(":", 1)[1]))),
            "sms": FaultProxy(("127.0.0.1", int(running.twilio_url.rsplit(":", 1)[1]))),
            "call": FaultProxy(("127.0.0.1", int(str(running.hubspot_url).rsplit(":", 1)[1]))),
        }
        try:
            yield Lab(running, proxies, root)
        finally:
            for proxy in proxies.values():
                proxy.close()


def _overrides(lab: Lab, payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    fast = {"rate_limit_per_s": None, "max_attempts": 3, "concurrency": 4, "read_timeout": 0.4}
    lag = float(payload.get("index_lag_s", 0.0))
    out = lab.lab.overrides(
        whatsapp_cloud={**fast, "status_wait_s": 1.0},
        twilio={**fast, "validity_period_s": 1},
        hubspot={**fast, "index_lag_s": lag + 0.5},
        smtp={"rate_limit_per_s": None, "concurrency": 4, "timeout": 0.4, "max_attempts": 3},
    )
    provider = CHANNELS[payload["channel"]]
    if payload.get("proxy"):
        out[provider]["base_url"] = lab.proxies[payload["channel"]].base_url
    if payload.get("config") == "bad_credentials":
        key = {"whatsapp_cloud": "token", "twilio": "auth_token", "hubspot": "access_token"}[provider]
        out[provider][key] = "refused-credential"
    if payload.get("tasks", 1) > 1:
        out[provider]["concurrency"] = 1  # one message in flight: the kill point is exact
    return out


def _arm(lab: Lab, payload: dict[str, Any]) -> None:
    """Fresh fault plans on every server, then the case's faults scripted on its provider."""
    running = lab.lab
    length, retry_after = payload.get("storm", (20, "0.05"))
    plans = {ch: FaultPlan(hang_s=0.8, retry_after=retry_after, storm_len=length) for ch in CHANNELS}
    running.whatsapp.faults, running.twilio.faults = plans["whatsapp"], plans["sms"]
    running.hubspot.task_faults, running.smtp.faults = plans["call"], plans["email"]
    running.twilio.lookup_faults = running.hubspot.search_faults = FaultPlan()
    running.hubspot.index_lag_s = float(payload.get("index_lag_s", 0.0))
    plans[payload["channel"]].script(*payload["faults"])
    if payload.get("lookup_faults"):
        lookup = running.twilio.lookup_faults if payload["channel"] == "sms" else running.hubspot.search_faults
        lookup.script(*payload["lookup_faults"])
    if payload.get("proxy"):
        lab.proxies[payload["channel"]].script(*payload["proxy"])


def deliveries(lab: Lab, channel: str, task_id: str) -> int:
    """Times the task reached the customer, counted at the provider."""
    running = lab.lab
    if channel == "email":
        return sum(m["X-Cobranza-Task"] == task_id for m in running.smtp.messages)
    if channel == "whatsapp":
        return sum(m["biz_opaque_callback_data"] == task_id for m in running.whatsapp.messages)
    if channel == "sms":
        return sum(str(m["body"]).endswith(marker(task_id)) for m in list(running.twilio.messages.values()))
    ref = reference(task_id)
    return sum(
        ref in (r["properties"].get("hs_task_body") or "") for r in list(running.hubspot.objects["tasks"].values())
    )


def _duplicate_webhooks(lab: Lab, channel: str, task_ids: list[str], times: int) -> None:
    running = lab.lab
    for _ in range(times):
        if channel == "whatsapp":
            for m in [m for m in running.whatsapp.messages if m["biz_opaque_callback_data"] in task_ids]:
                running.whatsapp.pusher.push(running.whatsapp.webhook_url, running.whatsapp._status(m, "sent"))
                running.whatsapp.pusher.push(running.whatsapp.webhook_url, running.whatsapp._status(m, "delivered"))
        else:
            for m in list(running.twilio.messages.values()):
                if any(str(m["body"]).endswith(marker(t)) for t in task_ids) and m["_callback"]:
                    running.twilio._callback(m, "sent")
                    running.twilio._callback(m, "delivered")
    running.drain(10)


def _settle(con: duckdb.DuckDBPyConnection, lab: Lab, payload: dict[str, Any], overrides: dict) -> pd.DataFrame:
    """Run the dispatcher (in this process) until every task is sent or dead."""
    channel = payload["channel"]
    pairs = registry.build_senders(
        {channel: CHANNELS[channel]},
        dry_run_dir=str(lab.root / "dry"),
        whatsapp_status_lookup=lambda ids: store.whatsapp_confirmations(con, ids),
        overrides=overrides,
    )
    pairs = [p for p in pairs if p[1].name != "dry_run"]
    states = outbox.task_states(con)
    try:
        for _ in range(20):
            lab.lab.drain(10)
            store.land_events(con, lab.lab.spool.dir)
            for channels, sender in pairs:
                outbox.dispatch(
                    con, sender, datetime.now(UTC), channels=channels, max_attempts=payload.get("max_attempts", 5)
                )
            states = outbox.task_states(con)
            if states["state"].isin(("sent", "dead")).all():
                return states
            time.sleep(0.3)
    finally:
        registry.close_senders(pairs)
    return states


_next_customer = iter(range(1, 400))


def run_case(case: Case, lab: Lab, tmp_path: Path) -> tuple[pd.DataFrame, dict[str, int], list[tuple]]:
    """Enqueue the case's tasks, inject its fault, dispatch until settled; return states and deliveries."""
    payload = case.payload
    channel = payload["channel"]
    n = payload.get("tasks", 1)
    first = next(_next_customer)
    for _ in range(n - 1):
        next(_next_customer)
    rows = decisions(n, datetime.now(UTC))
    rows = rows[rows["channel"] == channel].reset_index(drop=True)
    # Give the case its own customers (contacts K<first>.. exist in the HubSpot emulator's CRM).
    for col, fmt in (("customer_id", "C{:06d}"), ("contact_id", "K{:06d}"), ("phone", "+5731{:08d}")):
        rows[col] = [fmt.format(first + k) for k in range(n)]
    rows["email"] = [payload.get("email") or f"k{first + k}@cliente.example.com" for k in range(n)]
    warehouse = str(tmp_path / "warehouse.duckdb")
    with duckdb.connect(warehouse) as con:
        if payload.get("agent_reply"):
            now = datetime.now(UTC)
            assert outbox.enqueue_tasks(con, _as_agent_replies(rows, now), created_at=now) == n
        else:
            assert outbox.enqueue(con, rows, datetime.now(UTC).date()) == n
    overrides = _overrides(lab, payload)
    _arm(lab, payload)
    trace: list[tuple] = []
    if payload.get("config") == "smtp_down_first":
        down = json.loads(json.dumps(overrides))
        down["smtp"]["port"] = _closed_port()
        with duckdb.connect(warehouse) as con:
            _settle_once(con, lab, payload, down)
            trace.append(tuple(outbox.task_states(con)["state"]))
    kill = payload.get("kill")
    if kill:
        die = {"before": ["--die-before", "1"], "after": ["--die-after", "1"], "after2": ["--die-after", "2"]}[kill]
        args = [warehouse, str(lab.lab.spool.dir), json.dumps(overrides), "--channels", channel, *die]
        assert run_worker(args, timeout=120) is None, "the dispatcher should have killed itself"
        with duckdb.connect(warehouse) as con:
            outbox.land_dispatch_logs(con)  # what the killed run had logged, as the next run sees it
            trace.append(tuple(sorted(outbox.task_states(con)["state"])))
    with duckdb.connect(warehouse) as con:
        if payload.get("dup_webhooks"):
            _settle_once(con, lab, payload, overrides)
            _duplicate_webhooks(lab, channel, list(outbox.task_states(con)["task_id"]), payload["dup_webhooks"])
        states = _settle(con, lab, payload, overrides)
        events = con.execute(
            f"select task_id, state, count(*) from {outbox.EVENTS_TABLE} group by all order by all"
        ).fetchall()
    lab.lab.drain(10)
    seen = {tid: deliveries(lab, channel, tid) for tid in states["task_id"]}
    trace.extend(events)
    return states, seen, trace


def _settle_once(con: duckdb.DuckDBPyConnection, lab: Lab, payload: dict[str, Any], overrides: dict) -> None:
    pairs = registry.build_senders({payload["channel"]: CHANNELS[payload["channel"]]},
                                   dry_run_dir=str(lab.root / "dry"), overrides=overrides)  # fmt: skip
    try:
        for channels, sender in pairs:
            if sender.name != "dry_run":
                outbox.dispatch(con, sender, datetime.now(UTC), channels=channels)
    finally:
        registry.close_senders(pairs)


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the block ends: connections are refused


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_provider_fault(case: Case, lab: Lab, tmp_path: Path) -> None:
    states, seen, trace = run_case(case, lab, tmp_path)
    payload = case.payload
    for row in states.itertuples():
        n = seen[row.task_id]
        assert n <= 1, f"{case.id}: task reached the customer {n} times; {trace}"
        if case.expect == "landed_once":
            assert n == 1, f"{case.id}: not delivered ({row.state}: {row.last_error}); {trace}"
            if payload.get("final") == "dead":
                assert row.state == "dead" and row.last_error.startswith(outbox.AMBIGUOUS_DEAD), row
            elif payload.get("kill") == "after2" and payload["channel"] == "email" and row.state == "dead":
                assert row.last_error.startswith(outbox.AMBIGUOUS_DEAD), row  # the one in flight at the kill
            else:
                assert row.state == "sent" and row.provider_message_id, f"{case.id}: {row}; {trace}"
        else:
            assert n == 0 and row.state == "dead", f"{case.id}: {row}; {trace}"
        if case.reason and (case.expect == "refused" or payload.get("final") == "dead"):
            assert case.reason in str(row.last_error), f"{case.id}: {row.last_error!r}"
    # One `sent` event per sent task, however many webhooks confirmed it.
    sent_events = [c for tid, state, c in (e for e in trace if len(e) == 3) if state == "sent"]
    assert all(c == 1 for c in sent_events), trace
    if payload.get("kill") == "after2":
        # Per-message claiming: after the kill only the message in flight is uncertain, the rest queued.
        after_kill = trace[0]
        assert after_kill.count("sending") == 1 and after_kill.count("pending") == payload["tasks"] - 2, trace
        assert (states["state"] == "sent").sum() >= payload["tasks"] - 1


def test_ignoring_the_index_lag_would_create_the_task_twice(lab: Lab, tmp_path: Path) -> None:
    """The control of ``fault-hubspot-index-lag``: a sender told the index does not lag (``index_lag_s``
    0) trusts the first empty search and creates the call task a second time - the emulator's lag is real."""
    case = Case("control-lag", "provider_faults", "landed_once", "control",
                {"channel": "call", "faults": ["504_after"], "index_lag_s": 1.5})  # fmt: skip
    payload = case.payload
    rows = decisions(1, datetime.now(UTC))
    rows = rows[rows["channel"] == "call"].reset_index(drop=True)
    first = next(_next_customer)
    rows["customer_id"], rows["contact_id"] = f"C{first:06d}", f"K{first:06d}"
    with duckdb.connect(str(tmp_path / "w.duckdb")) as con:
        outbox.enqueue(con, rows, datetime.now(UTC).date())
        overrides = _overrides(lab, payload)
        overrides["hubspot"]["index_lag_s"] = 0
        _arm(lab, payload)
        _settle(con, lab, payload, overrides)
        tid = outbox.task_states(con)["task_id"].iloc[0]
    assert deliveries(lab, "call", tid) == 2

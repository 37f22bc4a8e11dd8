"""Dispatch throughput benchmark: outbox -> WhatsApp Cloud API and Twilio emulators on 127.0.0.1.

The emulators and the webhook receiver run in separate processes (``lab.channels``;
WhatsApp from one, Twilio from another), as real providers would. This process enqueues ``--messages``
contact tasks (half WhatsApp, half SMS) in a fresh DuckDB outbox and times ``outbox.dispatch``
through the real senders (pooled connections, worker threads, templates rendered per message, every
state change written as an outbox event), one dispatcher per provider running side by side.
Client-side rate limits are lifted for the run (real providers cap a WhatsApp number at 80-1,000
msg/s). Afterwards it checks zero duplicates against the emulators' own message lists.

Usage: ``flock /tmp/cobranza-heavy.lock python -m bench.dispatch --messages 20000`` (bar: >= 1,000 msg/s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import psutil
import requests

from bench.harness import PeakRss, machine
from cobranza import runtime

runtime.apply_defaults()


def _decisions(n: int, channel: str, start: int, at: datetime) -> pd.DataFrame:
    from decimal import Decimal

    rows = []
    for i in range(start, start + n):
        inv = [{"invoice_id": f"I{i}", "number": f"INV/2026/{i:06d}", "due_date": "2026-10-15",
                "amount_open": "18250.40", "days_past_due": 39}]  # fmt: skip
        rows.append(
            {
                "customer_id": f"C{i:07d}", "customer_name": f"Cliente {i} S.A.S.", "contact_id": f"K{i:07d}",
                "contact_name": f"Persona {i}", "action": channel, "channel": channel, "scheduled_at": at,
                "not_after": at + timedelta(hours=2), "local_scheduled_at": at.isoformat(),
                "timezone": "America/Bogota", "country": ("CO", "MX", "BR")[i % 3], "currency": "COP",
                "amount_at_stake": Decimal("18250.40"), "invoice_ids": [f"I{i}"], "invoices": inv,
                "n_overdue_invoices": 1, "max_days_past_due": 39, "risk_score": 0.7,
                "language": ("es", "en", "pt")[i % 3], "email": f"c{i}@example.com", "phone": f"+57310{i:07d}",
                "payment_link": f"https://pay.example.com/{i}", "reason_codes": ["bench"],
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def run(messages: int, work: Path, concurrency: int) -> dict[str, Any]:
    """Enqueue and dispatch ``messages`` tasks to the emulators; return timings and checks."""
    from connectors.channels import outbox, registry

    # Two lab processes: WhatsApp served by one, Twilio by the other (separate services, separate GILs).
    labs = [
        subprocess.Popen(
            [sys.executable, "-m", "lab.channels", str(work / f"inbound{i}")],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    try:
        info, other = (json.loads(lab.stdout.readline()) for lab in labs)
        overrides = {"whatsapp_cloud": info["overrides"]["whatsapp_cloud"], "twilio": other["overrides"]["twilio"]}
        for provider in ("whatsapp_cloud", "twilio"):
            overrides[provider].update(rate_limit_per_s=None, concurrency=concurrency)
        overrides["twilio"].pop("status_callback_url")  # callbacks are the receiver's load, not dispatch's
        at = datetime.now(UTC) - timedelta(minutes=1)
        half = messages // 2
        decisions = pd.concat([_decisions(half, "whatsapp", 1, at), _decisions(messages - half, "sms", half + 1, at)])
        con = duckdb.connect(str(work / "warehouse.duckdb"))
        t0 = time.perf_counter()
        assert outbox.enqueue(con, decisions, at.date()) == messages
        enqueue_s = time.perf_counter() - t0
        pairs = registry.build_senders(
            {"whatsapp": "whatsapp_cloud", "sms": "twilio"}, dry_run_dir=work / "dry", overrides=overrides
        )
        counts: dict[str, int] = {}
        live = [(channels, sender) for channels, sender in pairs if sender.name != "dry_run"]

        def one(pair: tuple[tuple[str, ...], Any]) -> dict[str, int]:
            # Providers are independent: each dispatches on its own cursor, like one worker per channel.
            return outbox.dispatch(con.cursor(), pair[1], datetime.now(UTC), channels=pair[0])

        procs = [psutil.Process(), *(psutil.Process(lab.pid) for lab in labs)]
        cpu0 = [sum(p.cpu_times()[:2]) for p in procs]
        with PeakRss() as rss, ThreadPoolExecutor(len(live)) as pool:
            t0 = time.perf_counter()
            for result in pool.map(one, live):
                for k, v in result.items():
                    counts[k] = counts.get(k, 0) + v
            dispatch_s = time.perf_counter() - t0
        cpu = [sum(p.cpu_times()[:2]) - c for p, c in zip(procs, cpu0, strict=True)]
        registry.close_senders(pairs)
        states = outbox.task_states(con)
        con.close()
        wa = requests.get(info["urls"]["whatsapp"] + "/_emulator/messages", timeout=60).json()["messages"]
        tw_ids = set(states.loc[states["channel"] == "sms", "provider_message_id"])
        dup_wa = sum(c - 1 for c in Counter(m["biz_opaque_callback_data"] for m in wa).values())
    finally:
        for lab in labs:
            lab.terminate()
            lab.wait(30)
    return {
        "messages": messages,
        "concurrency_per_provider": concurrency,
        "enqueue_s": round(enqueue_s, 2),
        "dispatch_s": round(dispatch_s, 2),
        "msg_per_s": round(counts.get("sent", 0) / dispatch_s, 1),
        "counts": counts,
        "sent_states": int((states["state"] == "sent").sum()),
        "whatsapp_messages_at_provider": len(wa),
        "whatsapp_duplicates": dup_wa,
        "sms_distinct_sids": len(tw_ids),
        "peak_rss_mib": round(rss.peak / 2**20, 1),
        # CPU seconds spent during the dispatch by the dispatcher and by the two emulator processes:
        # on a shared machine the wall-clock rate understates what 2 free cores would do.
        "cpu_s_dispatcher": round(cpu[0], 2),
        "cpu_s_emulators": round(cpu[1] + cpu[2], 2),
        "cpu_ms_per_message": round(1000 * sum(cpu) / max(1, counts.get("sent", 0)), 3),
        "msg_per_s_on_2_free_cores": round(2 * counts.get("sent", 0) / max(1e-9, sum(cpu)), 1),
        "load_average_1m": round(psutil.getloadavg()[0], 2),
        "machine": machine(),
        "date": datetime.now(UTC).date().isoformat(),
    }


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cobranza-dispatch-") as tmp:
        result = run(args.messages, Path(tmp), args.concurrency)
    sys.stdout.write(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()

"""A dispatcher process for the fault test: land webhook events, then dispatch once (killable at any point).

Usage: ``python dispatch_worker.py WAREHOUSE SPOOL_DIR OVERRIDES_JSON NOW_ISO BATCH_SIZE``.
Prints the dispatch counts as one JSON line when it finishes.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta

import duckdb

from connectors.channels import outbox, registry
from connectors.webhooks import store


def main(argv: list[str]) -> None:
    warehouse, spool_dir, overrides_json, now_iso, batch_size = argv
    now = datetime.fromisoformat(now_iso)
    con = duckdb.connect(warehouse)
    store.land_events(con, spool_dir)
    pairs = registry.build_senders(
        {"whatsapp": "whatsapp_cloud", "sms": "twilio"},
        dry_run_dir=spool_dir + "/dry",
        whatsapp_status_lookup=lambda ids: store.whatsapp_confirmations(con, ids),
        whatsapp_last_inbound=store.whatsapp_last_inbound(con),
        overrides=json.loads(overrides_json),
    )
    total: dict[str, int] = {}
    try:
        for channels, sender in pairs:
            if sender.name == "dry_run":
                continue
            counts = outbox.dispatch(
                con, sender, now, channels=channels, batch_size=int(batch_size), unknown_ttl=timedelta(hours=48)
            )
            for k, v in counts.items():
                total[k] = total.get(k, 0) + v
    finally:
        registry.close_senders(pairs)
        con.close()
    sys.stdout.write(json.dumps(total) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

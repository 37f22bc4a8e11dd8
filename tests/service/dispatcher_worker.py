"""A dispatcher process for the kill test: one ``cobranza dispatch`` pass (flows.dispatch.dispatch) on the
operational store, with WhatsApp and SMS on the lab's emulators (killable at any point).

Usage: ``python dispatcher_worker.py OVERRIDES_JSON`` with ``COBRANZA_DATA_DIR`` set; prints
``dispatching`` once set up, then the pass's counts as one JSON line.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime


def main(argv: list[str]) -> None:
    from cobranza.settings import load_settings
    from flows import stages

    settings = load_settings(channels={"whatsapp": "whatsapp_cloud", "sms": "twilio"})
    now = datetime.now(UTC)
    ctx = stages.make_context(settings, now.date(), now)
    sys.stdout.write("dispatching\n")
    sys.stdout.flush()
    counts = stages.dispatch(ctx, overrides=json.loads(argv[0]))
    sys.stdout.write(json.dumps(counts) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])

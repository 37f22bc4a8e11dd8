"""The send step holds the send lock, never the operational store's lock, while a provider is called (issue 18).

A daily run's enqueue, a bank sync's serving refresh or an inbound landing must not wait for the
dispatcher's HTTP calls; two senders or a canceller must not touch the tasks in flight. Each sender
call here checks, from a new file description (``flock`` locks belong to one), that the ops lock is
free and the send lock is taken.
"""

from __future__ import annotations

import fcntl
import functools
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
from channels_helpers import decision_rows, hand_over, warehouse_state

from cobranza.settings import load_settings
from connectors.channels import outbox, registry
from flows import stages
from flows.service import lock_file
from lab.channels import start_lab


def _free(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_providers_are_called_with_the_send_lock_and_without_the_ops_lock(tmp_path, monkeypatch) -> None:
    settings = load_settings(data_dir=tmp_path, channels={"whatsapp": "whatsapp_cloud"})
    now = datetime.now(UTC)
    ctx = stages.make_context(settings, now.date(), now)
    decisions = pd.concat(
        [
            decision_rows(3, "whatsapp", start=1, scheduled_at=now - timedelta(minutes=1)),
            decision_rows(2, "email", start=4),
        ]
    )
    with duckdb.connect(str(ctx.warehouse)) as con:
        outbox.enqueue(con, decisions, ctx.as_of)
        warehouse_state(con, decisions)
    hand_over(ctx)
    seen: list[tuple[str, bool, bool]] = []
    build = registry.build_senders

    def probed(*args, **kwargs):
        senders = build(*args, **kwargs)
        for _, sender in senders:
            original = sender.send_batch

            @functools.wraps(original)  # same signature: the outbox sees the same kind of sender
            def send_batch(batch, *a, _original=original, _name=type(sender).__name__, **kw):
                seen.append((_name, _free(lock_file(settings, "ops")), _free(lock_file(settings, "send"))))
                return _original(batch, *a, **kw)

            sender.send_batch = send_batch
        return senders

    monkeypatch.setattr(registry, "build_senders", probed)
    with start_lab(settings.resolve(settings.channels.inbound_dir)) as lab:
        counts = stages.dispatch_outbox.fn(ctx, overrides=lab.overrides())
    assert counts["sent"] == 5 and len(lab.whatsapp.messages) == 3
    assert len(seen) == 2, seen  # the WhatsApp provider and the dry run (e-mail)
    by_sender = {name: (ops_free, send_free) for name, ops_free, send_free in seen}
    assert by_sender["WhatsAppSender"][0], "the provider was called while the operational store was locked"
    # the dry run writes a local file and journals into the store as it goes: it may hold it
    assert not by_sender["WhatsAppSender"][1] and not by_sender["DryRunSender"][1], "a send without the send lock"

"""kill -9 of the webhook receiver while a provider pushes events (issue 18, Show): after the restart
nothing is lost and nothing lands twice.

A real ``cobranza receiver`` process, the WhatsApp emulator posting signed inbound-message webhooks to
it (retrying failed posts like the real provider), SIGKILL of the receiver once part of them landed,
a restart on the same port 2 s later; then the spool is landed into ``raw_channels.webhook_events`` as
the inbound pass does. Every message the emulator sent is there exactly once.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest
import requests

from connectors.webhooks.spool import Spool
from connectors.webhooks.store import land_events
from simulator.emulators.whatsapp import WhatsAppEmulator

pytestmark = pytest.mark.slow

COBRANZA = str(Path(sys.executable).with_name("cobranza"))
MESSAGES = 600


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start(port: int, data: Path, secret: str, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COBRANZA_", "PREFECT_API_URL"))}
    env.update(
        COBRANZA_DATA_DIR=str(data),
        COBRANZA_CHANNELS__WHATSAPP="whatsapp_cloud",
        COBRANZA_WHATSAPP__APP_SECRET=secret,
    )
    proc = subprocess.Popen(
        [COBRANZA, "receiver", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("a"),
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, f"cobranza receiver exited {proc.returncode}:\n{log.read_text()}"
        try:
            if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=1).ok:
                return proc
        except requests.ConnectionError:
            pass
        assert time.monotonic() < deadline, f"receiver not ready after 60 s:\n{log.read_text()}"
        time.sleep(0.1)


def test_kill9_of_the_receiver_while_events_arrive_loses_nothing_and_lands_nothing_twice(tmp_path: Path) -> None:
    port, data, log = _free_port(), tmp_path / "data", tmp_path / "receiver.log"
    wa = WhatsAppEmulator(webhook_url=f"http://127.0.0.1:{port}/webhooks/whatsapp")
    wa.pusher.attempts, wa.pusher.backoff_s = 60, 0.1  # a provider retries for hours
    proc = _start(port, data, wa.app_secret, log)
    spool = Spool(data / "inbound")
    sent: list[str] = []

    def push() -> None:
        for i in range(MESSAGES):
            sent.append(wa.inbound(f"5215512{i:06d}", f"pagaré el viernes ({i})"))
            time.sleep(0.004)

    pusher = threading.Thread(target=push)
    pusher.start()
    try:
        deadline = time.monotonic() + 60
        while sum(1 for _ in spool.read()) < 50:  # part of them landed: kill it mid-stream
            assert time.monotonic() < deadline, "no webhook reached the spool in 60 s"
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        landed_before = sum(1 for _ in spool.read())
        time.sleep(2)  # the provider's posts fail meanwhile; it retries
        proc = _start(port, data, wa.app_secret, log)
        pusher.join(120)
        assert wa.pusher.drain(120), "the emulator still has webhooks to post after 120 s"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    assert wa.pusher.failed == 0
    assert 0 < landed_before < MESSAGES, landed_before  # the kill did land mid-stream

    con = duckdb.connect(str(tmp_path / "ops.duckdb"))
    land_events(con, data / "inbound")
    land_events(con, data / "inbound")  # a second landing (the next pass) adds nothing
    rows = con.execute(
        "select provider_message_id, count(*) from raw_channels.webhook_events where kind = 'message' group by all"
    ).fetchall()
    counts = dict(rows)
    assert set(counts) == set(sent), (len(set(sent) - set(counts)), "lost")
    assert max(counts.values()) == 1, "a message landed twice"
    assert len(sent) == MESSAGES

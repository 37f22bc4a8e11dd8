"""The receiver stamps events whose provider sends no time with the service's clock (issue 18).

Twilio status callbacks and inbound SMS carry no timestamp, so the receiver stamps them. In a harness
the flows run on an accelerated clock (``connectors.clock``, ``file:<path>``); stamped with the wall
clock those events were days in the flows' future, and the bank sync's raw gate refused them (10 of 11
bank syncs of the M day failed). ``webhooks.clock`` gives the receiver the same clock; a clock file
that says ``stop``, is garbled or missing never hangs a request (last instant read, else the wall).
Real receiver under uvicorn, signed Twilio form posts, the real spool.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import requests

from connectors.clock import open_clock, write_file_clock
from connectors.webhooks.app import create_app
from connectors.webhooks.spool import Spool
from simulator.emulators.server import serve
from simulator.emulators.twilio import twilio_signature

TOKEN = "twilio-test-token"
SIMULATED = datetime(2026, 11, 23, 19, 5, tzinfo=UTC)


def _post(base: str, sid: str) -> None:
    target = f"{base}/webhooks/twilio/inbound"
    params = {"MessageSid": sid, "From": "+573009998877", "To": "+15550000000", "Body": "pagaré el viernes"}
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TOKEN, target, params),
    }
    assert requests.post(target, data=urlencode(params), headers=headers, timeout=5).status_code == 200


def _stamps(spool_dir: Path) -> dict[str, str]:
    out = {}
    for path in sorted(spool_dir.rglob("*.jsonl")):
        for line in path.read_text().splitlines():
            event = json.loads(line)
            out[event["provider_message_id"]] = event["occurred_at"]
    return out


def test_the_receiver_stamps_timeless_events_with_the_service_clock(tmp_path: Path) -> None:
    clock_file = tmp_path / "clock"
    write_file_clock(clock_file, SIMULATED)
    spool_dir = tmp_path / "inbound"
    with serve(create_app(Spool(spool_dir), twilio_auth_token=TOKEN, clock=open_clock(f"file:{clock_file}"))) as srv:
        _post(srv.base_url, "SM1")
        write_file_clock(clock_file, SIMULATED + timedelta(minutes=5))
        _post(srv.base_url, "SM2")
        clock_file.write_text("stop")  # the harness ends: the last instant read, no hang, no 500
        _post(srv.base_url, "SM3")
        clock_file.write_text("not a time")
        _post(srv.base_url, "SM4")
    stamps = _stamps(spool_dir)
    assert stamps["SM1"] == SIMULATED.isoformat()
    assert stamps["SM2"] == (SIMULATED + timedelta(minutes=5)).isoformat()
    assert stamps["SM3"] == stamps["SM4"] == stamps["SM2"]

    # near miss: without a clock the receiver stamps the wall clock (production)
    wall_dir = tmp_path / "wall"
    with serve(create_app(Spool(wall_dir), twilio_auth_token=TOKEN)) as srv:
        _post(srv.base_url, "SM5")
    stamped = datetime.fromisoformat(_stamps(wall_dir)["SM5"])
    assert abs(stamped - datetime.now(UTC)) < timedelta(minutes=1)

"""``cobranza receiver`` as a real uvicorn process (issue 18 item 2).

Each test starts the console script in a subprocess on a free loopback port against a temporary
data folder and talks to it over real sockets: liveness and readiness, 413 on oversized declared and
chunked bodies, a signed WhatsApp webhook landing in the spool, JSON access logs without a phone
number or a token, a Twilio signature checked against the public URL behind a proxy, and SIGTERM in
the middle of a request: the request finishes, its event is spooled and the process exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import pytest
import requests

from connectors.webhooks.spool import Spool
from simulator.emulators.twilio import twilio_signature
from simulator.emulators.whatsapp import sign

COBRANZA = str(Path(sys.executable).with_name("cobranza"))
WA_SECRET = "wa-service-secret"
TW_TOKEN = "tw-service-token"
MAX_BODY = 4096
PHONE = "5215512345634"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Receiver:
    proc: subprocess.Popen
    url: str
    port: int
    data_dir: Path
    log: Path

    @property
    def spool(self) -> Spool:
        return Spool(self.data_dir / "inbound")

    def log_lines(self) -> list[dict]:
        lines = [ln for ln in self.log.read_text(encoding="utf-8").splitlines() if ln.strip()]
        return [json.loads(ln) for ln in lines]  # every line is JSON, or this fails

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


def start_receiver(tmp: Path, **env_extra: str) -> Receiver:
    port = _free_port()
    data = tmp / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COBRANZA_", "PREFECT_API_URL", "TWILIO_"))}
    env.update(
        {
            "COBRANZA_DATA_DIR": str(data),
            "COBRANZA_WEBHOOKS__MAX_BODY_BYTES": str(MAX_BODY),
            "COBRANZA_WEBHOOKS__GRACEFUL_TIMEOUT_S": "20",
            "COBRANZA_CHANNELS__WHATSAPP": "whatsapp_cloud",
            "COBRANZA_CHANNELS__SMS": "twilio",
            "COBRANZA_WHATSAPP__APP_SECRET": WA_SECRET,
            "COBRANZA_TWILIO__AUTH_TOKEN": TW_TOKEN,
            **env_extra,
        }
    )
    env = {k: v for k, v in env.items() if v != ""}
    log = tmp / f"receiver-{port}.log"
    proc = subprocess.Popen(
        [COBRANZA, "receiver", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            pytest.fail(f"cobranza receiver exited {proc.returncode}:\n{log.read_text()}")
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return Receiver(proc, url, port, data, log)
        except requests.ConnectionError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"cobranza receiver not healthy after 60 s:\n{log.read_text()}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def receiver(tmp_path_factory) -> Iterator[Receiver]:
    r = start_receiver(
        tmp_path_factory.mktemp("receiver"), COBRANZA_CHANNELS__WEBHOOK_PUBLIC_URL="https://hooks.example.com"
    )
    try:
        yield r
    finally:
        r.stop()


def _wa_body(mid: str) -> bytes:
    message = {
        "from": PHONE,
        "id": mid,
        "timestamp": "1767225600",
        "type": "text",
        "text": {"body": "pagare el viernes"},
    }
    envelope = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": {"messages": [message]}}]}],
    }
    return json.dumps(envelope).encode()


def _wa_headers(body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sign(WA_SECRET, body)}


def test_liveness_and_readiness(receiver):
    live = requests.get(f"{receiver.url}/healthz", timeout=5)
    ready = requests.get(f"{receiver.url}/readyz", timeout=5)

    assert live.status_code == 200 and live.json()["ok"] is True
    assert ready.status_code == 200, ready.text
    assert ready.json() == {
        "ready": True,
        "checks": {"spool": "ok", "twilio": "ok", "unsubscribe": "ok", "whatsapp": "ok"},
    }


def test_not_ready_without_the_secret_of_a_configured_channel(tmp_path):
    # (this one also trusts no proxy on loopback: its X-Forwarded-For must be ignored)
    r = start_receiver(tmp_path, COBRANZA_WHATSAPP__APP_SECRET="", COBRANZA_WEBHOOKS__FORWARDED_ALLOW_IPS="10.9.9.9")
    try:
        spoofed = requests.post(
            f"{r.url}/webhooks/twilio/status",
            data="MessageSid=SM1",
            headers={"X-Forwarded-For": "54.172.60.1"},
            timeout=5,
        )
        assert spoofed.status_code == 403  # unsigned
        time.sleep(0.2)
        (line,) = [x for x in r.log_lines() if x.get("path") == "/webhooks/twilio/status"]
        assert line["client"] == "127.0.0.1"  # the header of an untrusted peer is not believed

        ready = requests.get(f"{r.url}/readyz", timeout=5)
        assert ready.status_code == 503
        assert ready.json()["checks"]["whatsapp"].startswith("missing: set COBRANZA_WHATSAPP__APP_SECRET")
        assert requests.get(f"{r.url}/healthz", timeout=5).status_code == 200  # alive, just not ready
        # and the endpoint it cannot verify refuses rather than accepts unsigned events
        body = _wa_body("wamid.nosecret")
        assert (
            requests.post(f"{r.url}/webhooks/whatsapp", data=body, headers=_wa_headers(body), timeout=5).status_code
            == 503
        )
    finally:
        assert r.stop() == 0


def test_signed_whatsapp_webhook_lands_in_the_spool_and_is_logged_without_the_number(receiver):
    body = _wa_body("wamid.service-1")
    response = requests.post(f"{receiver.url}/webhooks/whatsapp", data=body, headers=_wa_headers(body), timeout=5)

    assert response.status_code == 200, response.text
    events = [e for e in receiver.spool.read() if e["event_id"] == "wa:msg:wamid.service-1"]
    assert len(events) == 1 and events[0]["from_addr"] == PHONE and events[0]["text"] == "pagare el viernes"
    # a forged signature is refused and nothing more is spooled
    forged = requests.post(
        f"{receiver.url}/webhooks/whatsapp", data=body, headers={"X-Hub-Signature-256": "sha256=00"}, timeout=5
    )
    assert forged.status_code == 403
    assert sum(1 for e in receiver.spool.read() if e["event_id"] == "wa:msg:wamid.service-1") == 1

    time.sleep(0.2)  # the access line is written when the response has gone
    access = [x for x in receiver.log_lines() if x["logger"] == "cobranza.receiver.access"]
    posts = [x for x in access if x["path"] == "/webhooks/whatsapp" and x["method"] == "POST"]
    assert [x["status"] for x in posts][-2:] == [200, 403]
    assert all(isinstance(x["duration_ms"], float) and x["client"] == "127.0.0.1" for x in posts)
    assert PHONE not in receiver.log.read_text()


def test_oversized_bodies_get_413_declared_or_chunked(receiver):
    big = b"x" * (MAX_BODY + 1)
    declared = requests.post(f"{receiver.url}/webhooks/whatsapp", data=big, headers=_wa_headers(big), timeout=5)
    assert declared.status_code == 413 and "over the 4096-byte limit" in declared.text
    # a route that never reads its body is bounded too
    assert requests.post(f"{receiver.url}/no-such-route", data=big, timeout=5).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: Transfer-Encoding: chunked
        for _ in range(10):
            yield b"y" * 1024

    chunked = requests.post(f"{receiver.url}/webhooks/whatsapp", data=chunks(), headers=_wa_headers(b""), timeout=5)
    assert chunked.status_code == 413 and "over the 4096-byte limit" in chunked.text
    assert requests.get(f"{receiver.url}/healthz", timeout=5).ok  # the server is fine afterwards


def test_twilio_signature_checked_against_the_public_url_behind_a_proxy(receiver):
    params = {"MessageSid": "SMservice1", "From": "+5215512345634", "To": "+15550001234", "Body": "STOP"}
    public = "https://hooks.example.com/webhooks/twilio/inbound"
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(TW_TOKEN, public, params),
        "X-Forwarded-For": "54.172.60.1",
        "X-Forwarded-Proto": "https",
    }
    ok = requests.post(f"{receiver.url}/webhooks/twilio/inbound", data=urlencode(params), headers=headers, timeout=5)
    assert ok.status_code == 200, ok.text
    # signed for the internal URL instead: refused (the provider called the public one)
    internal = f"{receiver.url}/webhooks/twilio/inbound"
    headers["X-Twilio-Signature"] = twilio_signature(TW_TOKEN, internal, params)
    assert requests.post(internal, data=urlencode(params), headers=headers, timeout=5).status_code == 403

    time.sleep(0.2)
    lines = [x for x in receiver.log_lines() if x.get("path") == "/webhooks/twilio/inbound"]
    # the proxy (127.0.0.1, trusted) forwarded for Twilio's address over https
    assert lines[-2]["client"] == "54.172.60.1" and lines[-2]["scheme"] == "https"


def test_unsubscribe_token_never_reaches_the_log(receiver):
    token = "v1.secret-looking-token-abcdef"
    assert requests.post(f"{receiver.url}/unsubscribe/{token}", timeout=5).status_code in (400, 403)
    time.sleep(0.2)
    text = receiver.log.read_text()
    assert token not in text and "/unsubscribe/<token>" in text
    # nor the address of the debtor who clicked (personal data); providers' addresses are kept
    (line,) = [x for x in receiver.log_lines() if x.get("path") == "/unsubscribe/<token>"]
    assert line["client"] is None


def test_sigterm_lets_a_request_in_flight_finish_then_exits_0(tmp_path):
    r = start_receiver(tmp_path)
    body = _wa_body("wamid.in-flight")
    head = (
        f"POST /webhooks/whatsapp HTTP/1.1\r\nHost: 127.0.0.1:{r.port}\r\nContent-Type: application/json\r\n"
        f"X-Hub-Signature-256: {sign(WA_SECRET, body)}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", r.port), timeout=30) as conn:
        conn.sendall(head + body[:40])  # a slow provider: half the body, then a pause
        time.sleep(0.5)
        r.proc.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        assert r.proc.poll() is None, "the receiver exited with a request in flight"
        # no new connection is accepted while it drains
        with pytest.raises(requests.ConnectionError):
            requests.get(f"{r.url}/healthz", timeout=2)
        conn.sendall(body[40:])
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer[:200]
    assert r.proc.wait(timeout=30) == 0
    assert [e["event_id"] for e in r.spool.read()] == ["wa:msg:wamid.in-flight"]
    events = [x.get("event") for x in r.log_lines()]
    assert events[0] == "start" and events[-1] == "stop"

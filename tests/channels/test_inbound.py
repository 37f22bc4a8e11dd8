"""Webhook receiver signatures and spool, and reading replies (promise to pay, dispute) in es/en/pt."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from urllib.parse import urlencode

import pytest
import requests

from connectors.webhooks.app import create_app
from connectors.webhooks.spool import Spool
from ml.inbound.replies import read_reply
from simulator.emulators.server import serve
from simulator.emulators.twilio import twilio_signature
from simulator.emulators.whatsapp import sign

SECRET, TOKEN, VERIFY = "app-secret-x", "twilio-token-x", "verify-me"


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    spool = Spool(tmp_path_factory.mktemp("spool"))
    app = create_app(spool, whatsapp_app_secret=SECRET, whatsapp_verify_token=VERIFY, twilio_auth_token=TOKEN)
    with serve(app) as srv:
        yield srv.base_url, spool


def status_envelope(wamid: str, status: str) -> bytes:
    value = {"statuses": [{"id": wamid, "status": status, "timestamp": "1767225600", "recipient_id": "573001112233",
                           "biz_opaque_callback_data": "task-1"}]}  # fmt: skip
    envelope = {"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages", "value": value}]}]}
    return json.dumps(envelope).encode()


def test_whatsapp_handshake(receiver) -> None:
    url, _ = receiver
    ok = requests.get(f"{url}/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": VERIFY,
                                                          "hub.challenge": "1158201444"}, timeout=5)  # fmt: skip
    assert ok.status_code == 200 and ok.text == "1158201444"
    bad = requests.get(f"{url}/webhooks/whatsapp", params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                                           "hub.challenge": "1"}, timeout=5)  # fmt: skip
    assert bad.status_code == 403


def test_whatsapp_signature_is_checked_on_the_raw_body(receiver) -> None:
    url, spool = receiver
    body = status_envelope("wamid.A", "delivered")
    headers = {"X-Hub-Signature-256": sign(SECRET, body), "Content-Type": "application/json"}
    good = requests.post(f"{url}/webhooks/whatsapp", data=body, timeout=5, headers=headers)
    assert good.status_code == 200
    # Same JSON re-serialised (different bytes) with the old signature, and a wrong secret: refused.
    reformatted = json.dumps(json.loads(body), indent=1).encode()
    for data, sig in ((reformatted, sign(SECRET, body)), (body, sign("other", body)), (body, None)):
        headers = {"Content-Type": "application/json", **({"X-Hub-Signature-256": sig} if sig else {})}
        assert requests.post(f"{url}/webhooks/whatsapp", data=data, headers=headers, timeout=5).status_code == 403
    events = [e for e in spool.read() if e["provider_message_id"] == "wamid.A"]
    assert len(events) == 1 and events[0]["status"] == "delivered" and events[0]["correlation_id"] == "task-1"


def test_twilio_signature_covers_url_and_params(receiver) -> None:
    url, spool = receiver
    params = {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003", "To": "+15550000000"}
    target = f"{url}/webhooks/twilio/status"
    sig = twilio_signature(TOKEN, target, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    ok = requests.post(target, data=urlencode(params), headers={**headers, "X-Twilio-Signature": sig}, timeout=5)
    assert ok.status_code == 204
    tampered = {**params, "MessageStatus": "delivered"}
    bad = requests.post(target, data=urlencode(tampered), headers={**headers, "X-Twilio-Signature": sig}, timeout=5)
    assert bad.status_code == 403 and "57012" in bad.text
    ev = [e for e in spool.read() if e["provider_message_id"] == "SM1"]
    assert len(ev) == 1 and ev[0]["status"] == "undelivered" and ev[0]["error_code"] == "30003"


RECEIVED = date(2026, 3, 2)  # a Monday


@pytest.mark.parametrize(
    ("text", "language", "outcome", "when", "amount"),
    [
        ("Buenos días, pagaremos el viernes 1.250.000,50 COP", "es", "promise_to_pay", date(2026, 3, 6), "1250000.50"),
        ("Le confirmo que vamos a pagar el 15 de marzo", "es", "promise_to_pay", date(2026, 3, 15), None),
        ("We will pay on March 20, $12,400.00", "en", "promise_to_pay", date(2026, 3, 20), "12400.00"),
        ("I'll pay tomorrow", "en", "promise_to_pay", date(2026, 3, 3), None),
        ("Vamos pagar até o fim do mês R$ 3.400,00", "pt", "promise_to_pay", date(2026, 3, 31), "3400.00"),
        ("Pagaremos em 10 dias", "pt", "promise_to_pay", date(2026, 3, 12), None),
        ("No podemos pagar este mes", "es", "replied", None, None),
        ("We can't pay until the contract is renewed", "en", "replied", None, None),
        ("Não vamos pagar agora", "pt", "replied", None, None),
        ("La factura es incorrecta, el monto no corresponde", "es", "dispute", None, None),
        ("We never received these goods, this is a wrong invoice", "en", "dispute", None, None),
        ("Não reconheço essa cobrança", "pt", "dispute", None, None),
        ("Ya pagamos la semana pasada", "es", "paid_claim", None, None),
        ("We already paid this invoice", "en", "paid_claim", None, None),
        ("Já pagamos ontem, segue comprovante", "pt", "paid_claim", None, None),
        ("Gracias, recibido", "es", "replied", None, None),
        ("", "en", "replied", None, None),
    ],
)
def test_read_reply(text, language, outcome, when, amount) -> None:
    reading = read_reply(text, RECEIVED, language)
    assert reading.outcome == outcome
    assert reading.promised_date == when
    assert reading.promised_amount == (Decimal(amount) if amount else None)


def test_invoice_numbers_and_days_are_not_money() -> None:
    reading = read_reply("Pagaremos la factura INV/2026/0042 en 5 días", RECEIVED, "es")
    assert reading.promised_amount is None and reading.promised_date == date(2026, 3, 7)

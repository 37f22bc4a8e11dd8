"""Webhook receiver signatures and spool, and reading replies (promise to pay, dispute) in es/en/pt."""

from __future__ import annotations

import json
import logging
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


# --- unsubscribe tokens ------------------------------------------------------------------------------

TOKEN_SECRET = "a-test-secret-of-enough-length-42"


def test_token_round_trip_binds_contact_customer_channel() -> None:
    from connectors.channels.templates.unsubscribe import mint_token, verify_token

    tok = mint_token(TOKEN_SECRET, customer_id="C000001", contact_id="K000001", channel="whatsapp")
    claim = verify_token(TOKEN_SECRET, tok)
    assert (claim.customer_id, claim.contact_id, claim.channel) == ("C000001", "K000001", "whatsapp")
    assert tok.startswith("u1.") and "K000001" not in tok  # opaque in the URL
    # Another contact, another channel, another secret: another token, and none verifies as the other.
    other = mint_token(TOKEN_SECRET, customer_id="C000001", contact_id="K000002", channel="whatsapp")
    assert other != tok and verify_token(TOKEN_SECRET, other).contact_id == "K000002"


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "forged"),  # tag altered
        (lambda t: "u2." + t.split(".", 1)[1], "version"),
        (lambda t: t.replace(".", "", 1), "malformed"),
        (lambda t: t + ".x", "malformed"),
        (lambda t: "u1..", "malformed"),
        (lambda t: "u1.!!!.###", "malformed"),
    ],
)
def test_altered_tokens_are_refused(mutate, kind) -> None:
    from connectors.channels.templates.unsubscribe import InvalidToken, mint_token, verify_token

    tok = mint_token(TOKEN_SECRET, customer_id="C1", contact_id="K1")
    with pytest.raises(InvalidToken) as raised:
        verify_token(TOKEN_SECRET, mutate(tok))
    assert raised.value.kind == kind


def test_token_needs_a_contact_and_a_real_secret() -> None:
    from connectors.channels.templates.unsubscribe import mint_token, token_for_task

    with pytest.raises(ValueError, match="contact_id"):
        mint_token(TOKEN_SECRET, customer_id="C1", contact_id="")
    with pytest.raises(ValueError, match="at least 16"):
        mint_token("short", customer_id="C1", contact_id="K1")
    with pytest.raises(ValueError, match="no contact_id"):
        token_for_task(TOKEN_SECRET, {"task_id": "t1", "customer_id": "C1", "payload": {}})


def test_generated_secret_is_private_stable_and_shared(tmp_path) -> None:
    import os
    import stat
    from concurrent.futures import ThreadPoolExecutor

    from connectors.channels.templates.unsubscribe import load_or_create_secret

    path = tmp_path / "secrets" / "unsubscribe.key"
    with ThreadPoolExecutor(8) as pool:  # eight processes starting at once end with one secret
        secrets_seen = set(pool.map(lambda _: load_or_create_secret(path), range(8)))
    assert len(secrets_seen) == 1 and len(secrets_seen.pop()) >= 40
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["unsubscribe.key"]  # no temporary file left
    os.chmod(path, 0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_secret(path)


def test_settings_secret_from_env_or_generated_file(tmp_path, monkeypatch) -> None:
    from cobranza.settings import load_settings
    from flows.stages import unsubscribe_secret

    monkeypatch.delenv("COBRANZA_WEBHOOKS__TOKEN_SECRET", raising=False)
    generated = unsubscribe_secret(load_settings(data_dir=tmp_path))
    assert (tmp_path / "secrets" / "unsubscribe.key").read_text().strip() == generated
    assert unsubscribe_secret(load_settings(data_dir=tmp_path)) == generated
    monkeypatch.setenv("COBRANZA_WEBHOOKS__TOKEN_SECRET", "from-the-environment-0123456789")
    settings = load_settings(data_dir=tmp_path)
    assert unsubscribe_secret(settings) == "from-the-environment-0123456789"
    assert "from-the-environment" not in repr(settings)  # SecretStr


def test_one_click_unsubscribe_keeps_working_for_valid_tokens(tmp_path) -> None:
    from connectors.channels.templates.unsubscribe import mint_token

    spool = Spool(tmp_path)
    with serve(create_app(spool, unsubscribe_secret=TOKEN_SECRET)) as srv:
        url = f"{srv.base_url}/unsubscribe/{mint_token(TOKEN_SECRET, customer_id='C9', contact_id='K9')}"
        assert requests.get(url, timeout=5).status_code == 200 and list(spool.read()) == []  # GET changes nothing
        # RFC 8058: POST with List-Unsubscribe=One-Click, form-urlencoded or multipart.
        assert requests.post(url, data={"List-Unsubscribe": "One-Click"}, timeout=5).status_code == 200
        assert requests.post(url, files={"List-Unsubscribe": (None, "One-Click")}, timeout=5).status_code == 200
        forged = mint_token("some-other-deployment-secret", customer_id="C9", contact_id="K9")
        bad = f"{srv.base_url}/unsubscribe/{forged}"
        assert requests.post(bad, data={"List-Unsubscribe": "One-Click"}, timeout=5).status_code == 403
    events = list(spool.read())
    assert len({e["event_id"] for e in events}) == 1 and events[0]["contact_id"] == "K9"
    assert events[0]["kind"] == "unsubscribe" and events[0]["status"] == "email"


# --- opt-outs in replies -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("STOP", "channel"), ("stop.", "channel"), ("BAJA", "channel"), ("Baja por favor", "channel"),
        ("STOP, no me escriban más", "channel"), ("No me escriban más", "channel"),
        ("No me contacten", "all"), ("Dejen de escribirme", "channel"), ("Quiero darme de baja", "channel"),
        ("Sáquenme de su lista", "channel"), ("no me escriban por ningún medio", "all"),
        ("Unsubscribe", "channel"), ("Please remove me from your list", "channel"), ("STOP ALL", "all"),
        ("Stop texting me", "channel"), ("Do not contact me again", "all"), ("opt out", "channel"),
        ("Não quero mais receber", "channel"), ("Parem de enviar", "channel"), ("Me tirem da lista", "channel"),
        ("Não me mandem mais mensagens por nenhum canal", "all"), ("descadastrar", "channel"),
        ("Ya pagamos. STOP.", "channel"), ("ＳＴＯＰ", "channel"), ("S\u200bTOP", "channel"),
    ],
)  # fmt: skip
def test_opt_outs_are_recognised(text, scope) -> None:
    from ml.inbound.optouts import read_opt_out

    reading = read_opt_out(text)
    assert reading is not None and reading.scope == scope, (text, reading)


@pytest.mark.parametrize(
    "text",
    [
        "Pagaremos el viernes", "Ya pagamos la semana pasada", "We will pay tomorrow",
        "Stopped by the bank, paying now",
        "No quiero darme de baja, solo consultar", "I do not want to unsubscribe", "Não quero ser descadastrado",
        "La factura es incorrecta", "Gracias, recibido", "", None,
    ],
)  # fmt: skip
def test_replies_that_are_not_opt_outs(text) -> None:
    from ml.inbound.optouts import read_opt_out

    assert read_opt_out(text) is None


@pytest.mark.parametrize(
    "text",
    ["STOP, ya pagamos la factura", "Baja. Pagaremos el viernes 1.250.000,50 COP", "Unsubscribe - we already paid"],
)
def test_an_opt_out_is_never_a_promise_or_a_paid_claim(text) -> None:
    reading = read_reply(text, RECEIVED, "es")
    assert reading.outcome == "replied" and reading.promised_date is None and reading.promised_amount is None


# --- masking -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("to +5215512345634 now", "to +52*********34 now"),
        ("+1 (555) 010-0000", "+15*******00"),
        ("wa_id 5215512345678", "wa_id 52*********78"),
        ("daniel.clark@ironbridge.example", "d***@ironbridge.example"),
        ("email 'daniel clark@@ironbridge' bad", "email 'd***@ironbridge' bad"),
        ("amount 12345678901.00 MXN at 1767225600 on 2026-03-02, INV/2026/00070", None),
        ("task 3f2a9c1e-1234-4567-8901-123456789012 for C000070/K0000001", None),
        ("+12 is too short to be anyone's", None),
    ],
)
def test_mask(raw, masked) -> None:
    from cobranza.logmask import mask

    assert mask(raw) == (masked or raw)
    assert mask(mask(raw)) == mask(raw)  # idempotent


def test_logs_of_gates_dispatch_and_webhooks_carry_no_raw_contact_details(tmp_path, caplog) -> None:
    """Run the raw gate on bad contacts, a dispatch that cancels on an opt-out, and webhook traffic; scan the logs."""
    from datetime import UTC, datetime, timedelta

    import duckdb
    import pandas as pd
    from channels_helpers import decision_rows, hand_over, warehouse_state

    from cobranza import logmask
    from cobranza.settings import load_settings
    from connectors.channels import outbox
    from connectors.contracts import CONTACTS, LINEAGE_COLUMNS
    from expectations import run_checkpoint
    from flows import stages

    caplog.set_level(logging.DEBUG)
    logmask.install()
    raw_values = ["55 1234 5678", "+573009998877", "573009998877", "ana.perez@cliente.example", "bad@@x"]
    # 1. The raw gate warns about bad contact points, with samples.
    con = duckdb.connect()
    cols = [(c.name, c.type) for c in CONTACTS.columns] + list(LINEAGE_COLUMNS.items())
    con.execute("create schema raw_crm")
    con.execute(f"create table {CONTACTS.table} ({', '.join(f'{n} {t}' for n, t in cols)})")
    rows = [("P1", "55 1234 5678", "ana.perez@cliente.example"), ("P2", "+573009998877", "bad@@x")]
    for cid, phone, email in rows:
        con.execute(
            f"insert into {CONTACTS.table} by name select ? as contact_id, 'C1' as customer_id, 'Ana' as full_name, "
            "'debtor' as role, ? as email, ? as phone, 'es' as language, 'America/Bogota' as timezone, "
            "true as consent_email, true as consent_whatsapp, true as consent_sms, true as consent_call, "
            "now()::timestamp as updated_at, 'crm' as _source, 'b1' as _batch_id, now()::timestamp as _loaded_at",
            [cid, email, phone],
        )
    gate = run_checkpoint("raw", con, as_of=datetime.now(UTC).date())
    con.close()
    assert gate.warnings or gate.quarantined, gate.summary()
    # 2. A dispatch that cancels a queued SMS after a STOP from that number (reason names the address).
    settings = load_settings(data_dir=tmp_path)
    now = datetime.now(UTC)
    ctx = stages.make_context(settings, now.date(), now)
    sms = decision_rows(1, "sms", scheduled_at=now - timedelta(minutes=1), phone="+573009998877")
    sms["contact_id"] = "K-other"  # the directory does not know the number: only the address matches
    with duckdb.connect(str(ctx.warehouse)) as wh:
        outbox.enqueue(wh, sms, ctx.as_of)
        warehouse_state(wh, pd.concat([sms]))
    hand_over(ctx)
    inbound = settings.resolve(settings.channels.inbound_dir)
    # 3. Webhooks: a STOP by SMS, a malformed one, a rejected signature.
    with serve(create_app(Spool(inbound), twilio_auth_token=TOKEN)) as srv:
        target = f"{srv.base_url}/webhooks/twilio/inbound"
        params = {"MessageSid": "SMscan", "From": "+573009998877", "To": "+15550000000", "Body": "STOP"}
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        sig = twilio_signature(TOKEN, target, params)
        assert requests.post(target, data=urlencode(params), headers={**headers, "X-Twilio-Signature": sig},
                             timeout=5).status_code == 200  # fmt: skip
        assert requests.post(target, data=urlencode(params), headers={**headers, "X-Twilio-Signature": "x"},
                             timeout=5).status_code == 403  # fmt: skip
        no_sid = {"From": "+573009998877", "Body": "hola"}
        sig = twilio_signature(TOKEN, target, no_sid)
        assert requests.post(target, data=urlencode(no_sid), headers={**headers, "X-Twilio-Signature": sig},
                             timeout=5).status_code == 400  # fmt: skip
    counts = stages.dispatch_outbox.fn(ctx)
    assert counts["cancelled"] == 1 and counts.get("sent", 0) == 0
    stages.replicate(ctx)
    with duckdb.connect(str(ctx.warehouse)) as wh:
        details = [
            d for (d,) in wh.execute("select detail from outbox.task_events where detail is not null").fetchall()
        ]
    assert any("opted out of sms" in d for d in details), details
    logged = "\n".join(
        [r.getMessage() for r in caplog.records] + [r.exc_text or "" for r in caplog.records] + gate.warnings + details
    )
    # A provider error that names the number, logged by any library logger, is masked too.
    logging.getLogger("connectors.channels.outbox").warning("send to %s failed: %s", "+573009998877", "bad@@x")
    logged += "\n" + caplog.records[-1].getMessage()
    assert "55******78" in logged and "b***@x" in logged and "+57********77" in logged, "masked forms expected"
    leaks = [v for v in raw_values if v in logged]
    assert leaks == [], f"raw contact details in logs/details: {leaks}"


def test_landed_opt_outs_withdraw_consent_before_the_decision() -> None:
    """The decision does not plan a contact the landed opt-outs withdrew (by contact, by address, or all)."""
    from datetime import UTC, datetime

    import pandas as pd
    from factories import account, contact, decide, frames

    from ml.nba.revalidate import apply_opt_outs

    acc, cons, rec = frames(
        [account("C1"), account("C2"), account("C3"), account("C4")],
        [
            contact("k1", "C1", consent_whatsapp=True, preferred_channel="whatsapp", phone="+573001110001"),
            contact("k2", "C2", consent_whatsapp=True, preferred_channel="whatsapp", phone="+573001110002"),
            contact("k3", "C3", consent_whatsapp=True, phone="+573001110003"),
            contact("k4", "C4", consent_whatsapp=True, preferred_channel="whatsapp", phone="+573001110004"),
        ],
    )
    opt_outs = pd.DataFrame(
        [
            {"contact_id": "k1", "address": None, "channel": "email"},  # unsubscribe link: e-mail only
            {"contact_id": None, "address": "573001110002", "channel": "whatsapp"},  # STOP from the number
            {"contact_id": "k3", "address": "573001110003", "channel": "all"},  # "no me contacten"
        ]
    )
    withdrawn = apply_opt_outs(cons, opt_outs).set_index("contact_id")
    assert withdrawn.loc["k1", ["consent_email", "consent_whatsapp"]].tolist() == [False, True]
    assert withdrawn.loc["k2", ["consent_email", "consent_whatsapp"]].tolist() == [True, False]
    assert not withdrawn.loc["k3", ["consent_email", "consent_whatsapp", "consent_sms", "consent_call"]].any()
    assert withdrawn.loc["k4", ["consent_email", "consent_whatsapp"]].tolist() == [True, True]
    assert cons["consent_email"].all()  # the input is left alone
    now = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    decided = decide(acc, apply_opt_outs(cons, opt_outs), rec, as_of=date(2026, 3, 2), now_utc=now)
    planned = {(r.customer_id, r.channel) for r in decided.itertuples() if r.action != "wait"}
    assert ("C1", "email") not in planned and ("C2", "whatsapp") not in planned
    assert not any(c == "C3" for c, _ in planned)

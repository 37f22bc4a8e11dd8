"""The portal served with the webhook receiver (issue 20): ``cobranza receiver`` builds one app with the
portal under ``/portal`` and the provider webhooks where they were; its links are the ones the agent and
the daily decisions put in messages (:func:`portal.links.portal_config`); the inbound e-mail listener
beside it spools a debtor's e-mail reply and refuses mail for other domains."""

from __future__ import annotations

import json
import shutil
import smtplib
import sys
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

sys.path.insert(0, str(Path(__file__).parent))

from portal_helpers import make_snapshot  # noqa: E402

from cli.receiver import build_receiver  # noqa: E402
from cobranza.settings import load_settings  # noqa: E402
from connectors.webhooks.mail import email_event, start_mail_listener  # noqa: E402
from connectors.webhooks.spool import Spool  # noqa: E402
from portal.links import portal_config, with_portal_links  # noqa: E402
from simulator.emulators.smtp import free_port  # noqa: E402


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COBRANZA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COBRANZA_CHANNELS__WEBHOOK_PUBLIC_URL", "https://hooks.example.com")
    monkeypatch.setenv("COBRANZA_WEBHOOKS__TOKEN_SECRET", "receiver-test-secret-0123456789")
    s = load_settings()
    s.published_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(make_snapshot(tmp_path / "snap.duckdb"), s.published_path)
    return s


def test_the_receiver_serves_the_portal_under_portal(settings) -> None:
    app, _ = build_receiver(settings)
    cfg = portal_config(settings)
    assert cfg is not None and cfg.base == "https://hooks.example.com/portal"
    # The link a message carries (daily decision or agent reply): the customer id only, signed.
    (link,) = with_portal_links(pd.DataFrame({"customer_id": ["C1"]}), cfg)["payment_link"]
    assert link.startswith("https://hooks.example.com/portal/p/p1.") and "Ferreter" not in link
    path = link.removeprefix("https://hooks.example.com")
    with TestClient(app, base_url="https://hooks.example.com") as client:
        page = client.get(path)
        assert page.status_code == 200 and "Ferretería Andina" in page.text and "Padaria" not in page.text
        assert 'href="/portal/static/portal.css"' in page.text
        assert client.get("/portal/static/portal.css").status_code == 200
        # A forged link: 403 and no data.
        forged = client.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
        assert forged.status_code == 403 and "Ferreter" not in forged.text
        # The receiver's own routes are where they were.
        assert client.get("/healthz").json()["ok"] is True
        assert client.post("/webhooks/whatsapp", content=b"{}").status_code in (403, 503)
        # The portal's payment webhook is reachable (503: no Stripe configured here).
        assert client.post("/portal/webhooks/stripe", content=b"{}").status_code == 503


def test_the_access_log_never_writes_a_portal_link_token(settings, caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from connectors.webhooks.service import ACCESS_LOGGER, AccessLog

    app, _ = build_receiver(settings)
    (link,) = with_portal_links(pd.DataFrame({"customer_id": ["C1"]}), portal_config(settings))["payment_link"]
    path = link.removeprefix("https://hooks.example.com")
    token = path.split("/p/", 1)[1]
    with caplog.at_level(logging.INFO, logger=ACCESS_LOGGER), TestClient(AccessLog(app)) as client:
        assert client.get(path).status_code == 200
        assert client.get(path + "/invoice/I1").status_code in (200, 404)
    lines = [r.getMessage() + str(getattr(r, "__dict__", {})) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert len(lines) == 2 and all("/portal/p/<token>" in line for line in lines), lines
    assert not any(token in line or token[:20] in line for line in lines)


def test_the_mail_listener_spools_replies_and_refuses_other_domains(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    port = free_port()
    listener = start_mail_listener(spool, host="127.0.0.1", port=port, domains=["ar.example.com"])
    try:
        msg = EmailMessage()
        msg["From"] = "Persona Uno <K1@X.example.com>"
        msg["To"] = "ar+C000001@ar.example.com"
        msg["Subject"] = "Re: Facturas vencidas"
        msg["Message-ID"] = "<reply-1@x.example.com>"
        msg["In-Reply-To"] = "<cbz.T1@ar.example.com>"
        msg["References"] = "<cbz.T0@ar.example.com> <cbz.T1@ar.example.com>"
        msg["Date"] = "Sat, 05 Dec 2026 10:00:00 -0500"
        msg.set_content("¿Cuánto debo?\n\nEl vie, 4 dic 2026 escribió:\n> Estimado cliente: STOP")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(msg)
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                smtp.send_message(msg, to_addrs=["someone@elsewhere.example.org"])
        auto = EmailMessage()
        auto["From"] = "k1@x.example.com"
        auto["To"] = "ar@ar.example.com"
        auto["Subject"] = "Fuera de la oficina"
        auto["Auto-Submitted"] = "auto-replied"
        auto.set_content("Estoy de vacaciones.")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(auto)
    finally:
        listener.stop()
    events = [json.loads(line) for f in sorted((tmp_path / "spool").glob("events-*.jsonl")) for line in f.open()]
    assert [e["kind"] for e in events] == ["message", "auto_reply"]
    e = events[0]
    assert e["provider"] == "email" and e["from_addr"] == "k1@x.example.com"
    assert e["to_addr"] == "ar+C000001@ar.example.com" and e["context_message_id"] == "<cbz.T1@ar.example.com>"
    assert e["provider_message_id"] == "<reply-1@x.example.com>" and "¿Cuánto debo?" in e["text"]
    assert json.loads(e["payload"])["subject"] == "Re: Facturas vencidas"
    assert e["occurred_at"].startswith("2026-12-05T15:00:00")  # the Date header, in UTC


def test_an_html_only_reply_is_read_as_text_and_redelivery_is_one_event() -> None:
    raw = (
        b"From: k1@x.example.com\r\nTo: ar@ar.example.com\r\nMessage-ID: <h1@x>\r\nSubject: hi\r\n"
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Pagar&eacute; el viernes</p><script>x()</script>"
    )
    a = email_event(raw, received_at=datetime(2026, 12, 5, tzinfo=UTC))
    b = email_event(raw, received_at=datetime(2026, 12, 6, tzinfo=UTC))
    assert a["text"].strip() == "Pagaré el viernes" and a["event_id"] == b["event_id"]
    with pytest.raises(ValueError, match="no sender"):
        email_event(b"To: ar@ar.example.com\r\n\r\nhola")


def test_an_unreadable_email_is_quarantined_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio
    import types

    import connectors.webhooks.mail as mail

    def boom(*_a, **_k):
        raise RuntimeError("parser choked")

    handler = mail.InboundMailHandler(Spool(tmp_path / "spool"), ["ar.example.com"])
    monkeypatch.setattr(mail, "email_event", boom)
    envelope = types.SimpleNamespace(
        original_content=b"From: a@b.example\r\n\r\nhola", content=b"", rcpt_tos=["ar@ar.example.com"]
    )
    assert asyncio.run(handler.handle_DATA(None, None, envelope)).startswith("250")
    (kept,) = list(Spool(tmp_path / "spool").quarantined())
    assert kept["provider"] == "email" and "parser choked" in kept["reason"] and "hola" in kept["body"]
    assert list(Spool(tmp_path / "spool").read()) == []

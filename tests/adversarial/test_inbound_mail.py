"""Adversarial e-mail to the inbound mail listener the receiver runs beside it (issue 20).

Each case sends raw bytes over real SMTP (smtplib -> aiosmtpd) to ``connectors.webhooks.mail`` and
lands the spool as the inbound flow does (``connectors.webhooks.store.land_events``): a message for
another domain, without a sender, or over the size limit is refused at the SMTP level and nothing
lands; a relay delivering twice lands once; odd encodings, HTML-only bodies with scripts, forged dates
and automatic replies land once, as data (an auto-reply kept apart as ``auto_reply``, never answered).
"""

from __future__ import annotations

import json
import smtplib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest

from connectors.webhooks.mail import start_mail_listener
from connectors.webhooks.spool import Spool
from connectors.webhooks.store import land_events
from simulator.emulators.smtp import free_port
from tests.adversarial.corpus import Case, case_ids

DOMAIN = "ar.example.com"
MAX_BYTES = 64 * 1024


def _raw(body: str | bytes, *, headers: str | None = None, mid: str = "<adv@cliente.example.com>") -> bytes:
    head = (
        headers
        if headers is not None
        else (
            f"From: Compras <compras@cliente.example.com>\r\nTo: ar+C1@{DOMAIN}\r\nSubject: Re: Facturas\r\n"
            f"Message-ID: {mid}\r\nContent-Type: text/plain; charset=utf-8\r\n"
        )
    )
    return head.encode() + b"\r\n" + (body.encode() if isinstance(body, str) else body)


def _c(cid: str, expect: str, description: str, payload: dict[str, Any], reason: str | None = None) -> Case:
    return Case(cid, "webhooks", expect, description, payload, reason)  # type: ignore[arg-type]


CASES: list[Case] = [
    _c("mail-other-domain", "refused", "mail for a domain that is not ours: 550, we are no open relay",
       {"raw": _raw("hola"), "rcpt": "victim@elsewhere.example.org"}, "550"),
    _c("mail-no-sender", "refused", "a message without a From address: 550, nothing spooled",
       {"raw": _raw("hola", headers=f"To: ar@{DOMAIN}\r\nSubject: x\r\n")}, "550"),
    _c("mail-oversize", "refused", "a message over the listener's size limit: 552 before it is spooled",
       {"raw": _raw("x" * (MAX_BYTES + 1024))}, "552"),
    _c("mail-delivered-twice", "landed_once", "a relay delivers the same message twice (same Message-ID)",
       {"raw": _raw("¿cuánto debo?"), "times": 2}),
    _c("mail-html-script", "landed_once", "an HTML-only reply with a script and entities is read as text",
       {"raw": _raw("<p>Pagar&eacute; el viernes</p><script>alert(1)</script>",
                    headers=f"From: c@cliente.example.com\r\nTo: ar@{DOMAIN}\r\nMessage-ID: <h@x>\r\n"
                            "Content-Type: text/html; charset=utf-8\r\n"),
        "text_has": "Pagaré el viernes", "text_lacks": "alert"}),
    _c("mail-undeclared-latin1", "landed_once", "8-bit Latin-1 bytes under a UTF-8 declaration",
       {"raw": _raw("pagar\xe9 ma\xf1ana".encode("latin-1")), "text_has": "pagar"}),
    _c("mail-forged-date", "landed_once", "a Date header years in the future does not move the message in time",
       {"raw": _raw("ya pagué", headers=f"From: c@cliente.example.com\r\nTo: ar@{DOMAIN}\r\nMessage-ID: <d@x>\r\n"
                    "Date: Fri, 01 Jan 2077 00:00:00 +0000\r\nContent-Type: text/plain\r\n"), "recent": True}),
    _c("mail-auto-reply", "landed_once", "an out-of-office auto-reply is kept apart as auto_reply, never a message",
       {"raw": _raw("Estoy fuera de la oficina", headers=f"From: c@cliente.example.com\r\nTo: ar@{DOMAIN}\r\n"
                    "Message-ID: <oof@x>\r\nAuto-Submitted: auto-replied\r\nContent-Type: text/plain\r\n"),
        "kind": "auto_reply"}),
    _c("mail-template-subject", "landed_once", "template and CRLF-looking text in the subject is kept as text",
       {"raw": _raw("ok", headers=f"From: c@cliente.example.com\r\nTo: ar@{DOMAIN}\r\nMessage-ID: <t@x>\r\n"
                    "Subject: {{ 7*7 }} %0d%0aBcc: all@x\r\nContent-Type: text/plain\r\n"),
        "subject_has": "{{ 7*7 }}"}),
]  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_inbound_mail_case(case: Case, tmp_path: Path) -> None:
    p = case.payload
    spool_dir = tmp_path / "spool"
    port = free_port()
    listener = start_mail_listener(Spool(spool_dir), host="127.0.0.1", port=port, domains=[DOMAIN], max_bytes=MAX_BYTES)
    errors: list[str] = []
    try:
        for _ in range(p.get("times", 1)):
            try:
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
                    smtp.sendmail("bounce@cliente.example.com", [p.get("rcpt", f"ar+C1@{DOMAIN}")], p["raw"])
            except smtplib.SMTPException as exc:
                errors.append(str(exc))
    finally:
        listener.stop()
    with duckdb.connect() as con:
        landed = land_events(con, spool_dir) if spool_dir.exists() else 0
        sql = "select kind, text, occurred_at, payload from raw_channels.webhook_events"
        rows = con.execute(sql).fetchall() if landed else []
    if case.expect == "refused":
        assert errors and landed == 0, (case.id, errors, landed)
        assert case.reason in " ".join(errors), (case.id, errors)
        return
    assert not errors and landed == 1 and len(rows) == 1, (case.id, errors, rows)
    kind, text, occurred_at, payload = rows[0]
    assert kind == p.get("kind", "message")
    if "text_has" in p:
        assert p["text_has"] in text, text
    if "text_lacks" in p:
        assert p["text_lacks"] not in text, text
    if p.get("recent"):
        assert abs(occurred_at - datetime.now(UTC).replace(tzinfo=None)) < timedelta(hours=1), occurred_at
    if "subject_has" in p:
        assert p["subject_has"] in json.loads(payload)["subject"]

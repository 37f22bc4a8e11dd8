"""Adversarial corpus, webhooks: hostile requests to the real receiver under uvicorn, and where they end.

One receiver (``connectors.webhooks.app``) runs on 127.0.0.1 for the module with a real spool; each
case sends its request(s) over HTTP and checks the answer and what reached the spool, the quarantine
and the warehouse (``land_events`` into a fresh DuckDB, ``ml.inbound.optouts.opt_outs`` for
withdrawals):

- ``refused``: a 4xx answer and nothing spooled (forged/missing/replayed-elsewhere signatures,
  non-UTF-8 or doubled form parameters, oversized bodies, forged/expired/other-version tokens);
- ``quarantined``: a validly signed body of the wrong shape: 400, nothing spooled, the body kept in
  ``<spool>/quarantine/`` with a reason naming the problem;
- ``landed_once``: a valid (possibly repeated, or partly unknown) delivery lands exactly once; an
  opt-out lands as exactly one withdrawal for the right contact/address and channel, and a reply
  that is not an opt-out lands no withdrawal.

The end-to-end case (``hook-optout-after-queueing``) queues e-mail and WhatsApp tasks, sends an
unsubscribe click and STOP replies through the receiver, and runs the dispatch stage against the
channel lab: the opted-out tasks are cancelled with the reason and nothing reaches those contacts.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import duckdb
import pandas as pd
import pytest
import requests

from connectors.channels.templates.unsubscribe import mint_token
from connectors.webhooks.app import create_app
from connectors.webhooks.spool import Spool
from connectors.webhooks.store import land_events
from ml.inbound.optouts import opt_outs
from simulator.emulators.server import serve
from simulator.emulators.twilio import twilio_signature
from simulator.emulators.whatsapp import sign
from tests.adversarial.corpus import Case, case_ids

WA_SECRET, TW_TOKEN, UNSUB_SECRET = "wa-app-secret-adv", "tw-auth-token-adv", "unsubscribe-secret-adversarial-0123"
MAX_BODY = 64 * 1024


@dataclass
class Receiver:
    """The module's receiver: base URL and spool."""

    url: str
    spool: Spool

    def spooled(self) -> int:
        return sum(1 for _ in self.spool.read())

    def quarantined(self) -> list[dict]:
        return list(self.spool.quarantined())


@dataclass
class Outcome:
    """What one case's requests produced."""

    statuses: list[int]
    texts: list[str]
    new_events: int
    new_quarantine: list[dict]
    landed: pd.DataFrame
    withdrawals: pd.DataFrame


@pytest.fixture(scope="module")
def receiver(tmp_path_factory):
    spool = Spool(tmp_path_factory.mktemp("hooks-spool"))
    app = create_app(
        spool,
        whatsapp_app_secret=WA_SECRET,
        whatsapp_verify_token="verify-adv",
        twilio_auth_token=TW_TOKEN,
        unsubscribe_secret=UNSUB_SECRET,
        max_body_bytes=MAX_BODY,
    )
    with serve(app) as srv:
        yield Receiver(srv.base_url, spool)


# --- request builders ------------------------------------------------------------------------------


def wa_envelope(value: dict, field: str = "messages") -> dict:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": field, "value": value}]}],
    }


def wa_status(wamid: str, status: str = "delivered", task: str = "task-adv") -> dict:
    return {"id": wamid, "status": status, "timestamp": "1767225600", "recipient_id": "573001110000",
            "biz_opaque_callback_data": task}  # fmt: skip


def wa_text(mid: str, text: str, sender: str) -> dict:
    return {"from": sender, "id": mid, "timestamp": "1767225600", "type": "text", "text": {"body": text}}


def wa_post(r: Receiver, body: bytes, signature: str | None = "auto", **headers: str) -> requests.Response:
    sig = sign(WA_SECRET, body) if signature == "auto" else signature
    hdrs = {"Content-Type": "application/json", **headers, **({"X-Hub-Signature-256": sig} if sig else {})}
    return requests.post(f"{r.url}/webhooks/whatsapp", data=body, headers=hdrs, timeout=10)


def wa_json(payload: object) -> Callable[[Receiver], list[requests.Response]]:
    return lambda r: [wa_post(r, json.dumps(payload).encode())]


def tw_post(
    r: Receiver, path: str, params: dict[str, str] | None = None, *, raw: bytes | None = None, sig: str | None = "auto"
) -> requests.Response:
    url = f"{r.url}/webhooks/twilio/{path}"
    body = raw if raw is not None else urlencode(params or {}).encode()
    if sig == "auto":
        sig = twilio_signature(TW_TOKEN, url, params or {})
    headers = {"Content-Type": "application/x-www-form-urlencoded", **({"X-Twilio-Signature": sig} if sig else {})}
    return requests.post(url, data=body, headers=headers, timeout=10)


def tw_sms(sid: str, text: str, sender: str) -> dict[str, str]:
    return {"MessageSid": sid, "From": sender, "To": "+15550001111", "Body": text, "AccountSid": "ACadv"}


def unsub_post(r: Receiver, token: str, form: str = "List-Unsubscribe=One-Click") -> requests.Response:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return requests.post(f"{r.url}/unsubscribe/{token}", data=form, headers=headers, timeout=10)


def token(contact: str, **kw) -> str:
    return mint_token(UNSUB_SECRET, customer_id=f"C-{contact}", contact_id=contact, **kw)


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def swapped_contact(contact: str, other: str) -> str:
    """A valid token for ``contact`` whose payload is rewritten to name ``other`` (tag kept)."""
    version, payload, tag = token(contact).split(".")
    body = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body["co"] = other
    return f"{version}.{b64(json.dumps(body, separators=(',', ':')).encode())}.{tag}"


def twice(send: Callable[[Receiver], list[requests.Response]]) -> Callable[[Receiver], list[requests.Response]]:
    return lambda r: send(r) + send(r)


def deep_json(depth: int) -> bytes:
    return b'{"entry": ' + b"[" * depth + b"]" * depth + b"}"


def chunked(r: Receiver, size: int) -> list[requests.Response]:
    """A body without Content-Length (chunked), larger than the limit."""
    body = json.dumps(wa_envelope({"statuses": [wa_status("wamid.big")]})).encode() + b" " * size

    def gen():
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    sig = sign(WA_SECRET, body)
    headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sig}
    return [requests.post(f"{r.url}/webhooks/whatsapp", data=gen(), headers=headers, timeout=10)]


def stop_via_sms(text: str, n: int) -> dict:
    phone = f"+57300555{n:04d}"
    return {"send": twice(lambda r: [tw_post(r, "inbound", tw_sms(f"SMstop{n:04d}", text, phone))]),
            "address": phone.lstrip("+")}  # fmt: skip


def stop_via_whatsapp(text: str, n: int) -> dict:
    phone = f"52155566{n:05d}"
    env = wa_envelope(
        {"metadata": {"display_phone_number": "15550001111"}, "messages": [wa_text(f"wamid.stop{n}", text, phone)]}
    )
    return {"send": twice(wa_json(env)), "address": phone}


# --- the cases -------------------------------------------------------------------------------------

H = "webhooks"
_good_status = wa_envelope({"statuses": [wa_status("wamid.replayed")]})
CASES: list[Case] = [
    # Signatures
    Case(
        "hook-wa-signature-missing",
        H,
        "refused",
        "WhatsApp POST without X-Hub-Signature-256",
        {"send": lambda r: [wa_post(r, json.dumps(_good_status).encode(), None)], "status": 403},
        "X-Hub-Signature-256",
    ),
    Case(
        "hook-wa-signature-forged",
        H,
        "refused",
        "signed with another app secret",
        {"send": lambda r: [wa_post(r, b'{"entry": []}', sign("not-the-secret", b'{"entry": []}'))], "status": 403},
        "X-Hub-Signature-256",
    ),
    Case(
        "hook-wa-signature-of-other-bytes",
        H,
        "refused",
        "a captured signature replayed on re-serialised JSON",
        {
            "send": lambda r: [
                wa_post(
                    r, json.dumps(_good_status, indent=1).encode(), sign(WA_SECRET, json.dumps(_good_status).encode())
                )
            ],
            "status": 403,
        },
        "X-Hub-Signature-256",
    ),
    Case(
        "hook-wa-signature-sha1-prefix",
        H,
        "refused",
        "right hex digest under the sha1= prefix",
        {
            "send": lambda r: [wa_post(r, b"{}", "sha1=" + sign(WA_SECRET, b"{}").removeprefix("sha256="))],
            "status": 403,
        },
        "X-Hub-Signature-256",
    ),
    Case(
        "hook-wa-signature-non-ascii",
        H,
        "refused",
        "a signature header with non-ASCII bytes",
        {"send": lambda r: [wa_post(r, b"{}", "sha256=\u00e9\u00e9")], "status": 403},
        "X-Hub-Signature-256",
    ),
    Case(
        "hook-tw-signature-missing",
        H,
        "refused",
        "Twilio status callback without X-Twilio-Signature",
        {
            "send": lambda r: [tw_post(r, "status", {"MessageSid": "SMnosig", "MessageStatus": "delivered"}, sig=None)],
            "status": 403,
        },
        "57012",
    ),
    Case(
        "hook-tw-signature-tampered-param",
        H,
        "refused",
        "status changed after signing (undelivered -> delivered)",
        {
            "send": lambda r: [
                tw_post(
                    r,
                    "status",
                    {"MessageSid": "SMtamper", "MessageStatus": "delivered"},
                    sig=twilio_signature(
                        TW_TOKEN,
                        f"{r.url}/webhooks/twilio/status",
                        {"MessageSid": "SMtamper", "MessageStatus": "undelivered"},
                    ),
                )
            ],
            "status": 403,
        },
        "57012",
    ),
    Case(
        "hook-tw-signature-other-url",
        H,
        "refused",
        "a status signature replayed on the inbound endpoint",
        {
            "send": lambda r: [
                tw_post(
                    r,
                    "inbound",
                    tw_sms("SMurl", "hola", "+573001234567"),
                    sig=twilio_signature(
                        TW_TOKEN, f"{r.url}/webhooks/twilio/status", tw_sms("SMurl", "hola", "+573001234567")
                    ),
                )
            ],
            "status": 403,
        },
        "57012",
    ),
    # Replays and duplicates land once
    Case(
        "hook-wa-replayed-delivery",
        H,
        "landed_once",
        "the same signed status delivered three times",
        {
            "send": lambda r: [wa_post(r, json.dumps(_good_status).encode()) for _ in range(3)],
            "landed": {"wa:status:wamid.replayed:delivered": 1},
        },
    ),
    Case(
        "hook-tw-duplicate-status",
        H,
        "landed_once",
        "Twilio retries one status callback",
        {
            "send": twice(
                lambda r: [
                    tw_post(r, "status", {"MessageSid": "SMdup", "MessageStatus": "delivered", "To": "+15550002222"})
                ]
            ),
            "landed": {"tw:status:SMdup:delivered": 1},
        },
    ),
    # Validly signed, wrong shape: 400 and quarantined
    Case(
        "hook-wa-shape-array-body",
        H,
        "quarantined",
        "signed JSON array instead of an object",
        {"send": wa_json([1, 2, 3]), "status": 400},
        "expected an object",
    ),
    Case(
        "hook-wa-shape-entry-string",
        H,
        "quarantined",
        "entry is a string",
        {"send": wa_json({"object": "whatsapp_business_account", "entry": "oops"}), "status": 400},
        "entry is a str, expected a list",
    ),
    Case(
        "hook-wa-shape-changes-object",
        H,
        "quarantined",
        "entry[0].changes is an object",
        {"send": wa_json({"entry": [{"changes": {"field": "messages"}}]}), "status": 400},
        "entry[0].changes is a dict",
    ),
    Case(
        "hook-wa-shape-value-list",
        H,
        "quarantined",
        "the change's value is a list",
        {"send": wa_json({"entry": [{"changes": [{"field": "messages", "value": []}]}]}), "status": 400},
        "changes[0].value is a list",
    ),
    Case(
        "hook-wa-shape-statuses-string",
        H,
        "quarantined",
        "statuses is a string",
        {"send": wa_json(wa_envelope({"statuses": "delivered"})), "status": 400},
        "value.statuses is a str",
    ),
    Case(
        "hook-wa-not-json",
        H,
        "quarantined",
        "signed bytes that are not JSON",
        {"send": lambda r: [wa_post(r, b"\xff\xfe<xml/>")], "status": 400},
        "body is not JSON",
    ),
    Case(
        "hook-wa-deep-nesting",
        H,
        "quarantined",
        "signed JSON nested 20,000 levels deep",
        {"send": lambda r: [wa_post(r, deep_json(20_000))], "status": 400},
        "not JSON",
    ),
    Case(
        "hook-tw-status-without-sid",
        H,
        "quarantined",
        "signed Twilio status callback without MessageSid",
        {"send": lambda r: [tw_post(r, "status", {"MessageStatus": "delivered"})], "status": 400},
        "MessageSid",
    ),
    # Non-UTF-8 and doubled form parameters
    Case(
        "hook-tw-form-raw-latin1",
        H,
        "refused",
        "form body with a raw Latin-1 byte (Body=\\xe9)",
        {
            "send": lambda r: [tw_post(r, "inbound", raw=b"MessageSid=SMl1&From=%2B573001&Body=caf\xe9", sig="x")],
            "status": 400,
        },
        "not UTF-8",
    ),
    Case(
        "hook-tw-form-percent-latin1",
        H,
        "refused",
        "percent-encoded Latin-1 (Body=caf%E9)",
        {
            "send": lambda r: [tw_post(r, "inbound", raw=b"MessageSid=SMl2&From=%2B573001&Body=caf%E9", sig="x")],
            "status": 400,
        },
        "not UTF-8",
    ),
    Case(
        "hook-tw-form-doubled-param",
        H,
        "refused",
        "MessageStatus given twice",
        {
            "send": lambda r: [
                tw_post(r, "status", raw=b"MessageSid=SMd&MessageStatus=failed&MessageStatus=delivered", sig="x")
            ],
            "status": 400,
        },
        "given twice",
    ),
    # Size
    Case(
        "hook-wa-oversized-declared",
        H,
        "refused",
        "Content-Length over the limit",
        {"send": lambda r: [wa_post(r, b"{" + b" " * (MAX_BODY + 10) + b"}")], "status": 413},
        "limit",
    ),
    Case(
        "hook-wa-oversized-chunked",
        H,
        "refused",
        "chunked body over the limit (no Content-Length)",
        {"send": lambda r: chunked(r, MAX_BODY + 1), "status": 413},
        "limit",
    ),
    Case(
        "hook-oversized-route-never-reads-body",
        H,
        "refused",
        "Content-Length over the limit on a path whose handler never reads a body (refused before any route)",
        {
            "send": lambda r: [requests.post(f"{r.url}/webhooks/nowhere", data=b"x" * (MAX_BODY + 1), timeout=10)],
            "status": 413,
        },  # fmt: skip
        "limit",
    ),
    # Unknown but well-formed
    Case(
        "hook-wa-unknown-field-alongside",
        H,
        "landed_once",
        "an account_update change next to a real status",
        {
            "send": wa_json(
                {
                    "entry": [
                        {
                            "changes": [
                                {"field": "account_update", "value": {"event": "X"}},
                                {"field": "messages", "value": {"statuses": [wa_status("wamid.mix")]}},
                            ]
                        }
                    ]
                }
            ),
            "landed": {"wa:status:wamid.mix:delivered": 1},
        },
    ),
    Case(
        "hook-wa-item-without-id",
        H,
        "landed_once",
        "a status without id among good ones: the good one lands",
        {
            "send": wa_json(
                wa_envelope({"statuses": [{"status": "read"}, "junk", wa_status("wamid.partial", "read")]})
            ),
            "landed": {"wa:status:wamid.partial:read": 1},
        },
    ),
    Case(
        "hook-wa-unknown-message-type",
        H,
        "landed_once",
        "a reaction message (no text)",
        {
            "send": twice(
                wa_json(
                    wa_envelope(
                        {
                            "messages": [
                                {
                                    "from": "573001239999",
                                    "id": "wamid.react",
                                    "type": "reaction",
                                    "reaction": {"emoji": "👍"},
                                    "timestamp": "1767225600",
                                }
                            ]
                        }
                    )
                )
            ),
            "landed": {"wa:msg:wamid.react": 1},
        },
    ),
    Case(
        "hook-tw-unknown-status",
        H,
        "landed_once",
        "a status value Twilio may add later",
        {
            "send": lambda r: [tw_post(r, "status", {"MessageSid": "SMnew", "MessageStatus": "partially_delivered"})],
            "landed": {"tw:status:SMnew:partially_delivered": 1},
        },
    ),
    # Unsubscribe tokens
    Case(
        "hook-unsub-valid-clicked-twice",
        H,
        "landed_once",
        "RFC 8058 one-click POST, then a second click",
        {
            "send": lambda r: [unsub_post(r, token("K-UNSUB-1")) for _ in range(2)],
            "withdrawn": ("K-UNSUB-1", None, "email"),
        },
    ),
    Case(
        "hook-unsub-forged-random",
        H,
        "refused",
        "a made-up token in the u1 shape",
        {"send": lambda r: [unsub_post(r, f"u1.{b64(b'{}')}.{b64(b'x' * 32)}")], "status": 403},
        "signature",
    ),
    Case(
        "hook-unsub-legacy-sha256",
        H,
        "refused",
        "the old default token: sha256 of customer|contact",
        {"send": lambda r: [unsub_post(r, hashlib.sha256(b"C000001|K000001").hexdigest()[:32])], "status": 400},
        "form",
    ),
    Case(
        "hook-unsub-other-contact",
        H,
        "refused",
        "a valid token's payload rewritten to another contact",
        {"send": lambda r: [unsub_post(r, swapped_contact("K-UNSUB-2", "K-VICTIM"))], "status": 403},
        "signature",
    ),
    Case(
        "hook-unsub-other-secret",
        H,
        "refused",
        "a token signed with another deployment's secret",
        {
            "send": lambda r: [
                unsub_post(r, mint_token("another-deployment-secret-xyz", customer_id="C1", contact_id="K1"))
            ],
            "status": 403,
        },
        "signature",
    ),
    Case(
        "hook-unsub-expired",
        H,
        "refused",
        "a link older than the limit (400 days)",
        {
            "send": lambda r: [unsub_post(r, token("K-OLD", issued_at=datetime.now(UTC) - timedelta(days=401)))],
            "status": 410,
        },
        "expired",
    ),
    Case(
        "hook-unsub-other-version",
        H,
        "refused",
        "a token of a version this deployment does not know",
        {"send": lambda r: [unsub_post(r, "u0." + token("K-V0").split(".", 1)[1])], "status": 400},
        "version",
    ),
    Case(
        "hook-unsub-future-dated",
        H,
        "refused",
        "a token dated next month",
        {
            "send": lambda r: [unsub_post(r, token("K-FUT", issued_at=datetime.now(UTC) + timedelta(days=30)))],
            "status": 400,
        },
        "future",
    ),
    Case(
        "hook-unsub-overlong",
        H,
        "refused",
        "a 5,000-character token",
        {"send": lambda r: [unsub_post(r, "u1." + "A" * 5000 + ".x")], "status": 400},
        "too long",
    ),
    Case(
        "hook-unsub-wrong-body",
        H,
        "refused",
        "valid token, body List-Unsubscribe=Everything",
        {"send": lambda r: [unsub_post(r, token("K-BODY"), "List-Unsubscribe=Everything")], "status": 400},
        "unexpected unsubscribe body",
    ),
    Case(
        "hook-wa-preference-stop",
        H,
        "landed_once",
        "WhatsApp user_preferences stop, delivered twice",
        {
            "send": twice(
                wa_json(
                    wa_envelope(
                        {
                            "user_preferences": [
                                {
                                    "wa_id": "5215550009999",
                                    "category": "marketing_messages",
                                    "value": "stop",
                                    "timestamp": "1767225600",
                                }
                            ]
                        },
                        field="user_preferences",
                    )
                )
            ),
            "withdrawn": (None, "5215550009999", "whatsapp"),
        },
    ),
]
_STOPS = [
    ("es-stop", "STOP", "sms", "sms"), ("es-baja", "BAJA", "sms", "sms"),
    ("es-stop-no-escriban", "STOP, no me escriban más", "whatsapp", "whatsapp"),
    ("es-no-contacten", "Por favor no me contacten", "whatsapp", "all"),
    ("es-dejen-de-escribirme", "Dejen de escribirme, gracias", "sms", "sms"),
    ("es-darme-de-baja", "Quiero darme de baja de esta lista", "whatsapp", "whatsapp"),
    ("en-unsubscribe", "unsubscribe", "sms", "sms"),
    ("en-remove-me", "Please remove me from your list", "whatsapp", "whatsapp"),
    ("en-stop-all", "STOP ALL", "sms", "all"),
    ("pt-nao-quero-receber", "Não quero mais receber mensagens", "whatsapp", "whatsapp"),
    ("pt-parem-de-enviar", "Parem de enviar por favor", "sms", "sms"),
    ("pt-nenhum-canal", "não me mandem mais nada, por nenhum canal", "whatsapp", "all"),
    ("zero-width-stop", "S\u200bT\u200bOP", "sms", "sms"), ("fullwidth-stop", "ＳＴＯＰ", "whatsapp", "whatsapp"),
]  # fmt: skip
for n, (slug, text, via, channel) in enumerate(_STOPS, start=1):
    build = stop_via_sms if via == "sms" else stop_via_whatsapp
    spec = build(text, n)
    CASES.append(
        Case(
            f"hook-optout-{slug}",
            H,
            "landed_once",
            f"{text!r} by {via}: one withdrawal of {channel}",
            {"send": spec["send"], "withdrawn": (None, spec["address"], channel)},
        )  # fmt: skip
    )
for n, (slug, text) in enumerate(
    [("promise-not-optout", "Pagaremos el viernes, gracias"),
     ("negated-optout", "No quiero darme de baja, solo pregunto"),
     ("paid-claim-not-optout", "Ya pagamos la factura ayer")], start=50,
):  # fmt: skip
    spec = stop_via_sms(text, n)
    CASES.append(
        Case(
            f"hook-reply-{slug}",
            H,
            "landed_once",
            f"{text!r}: lands as a message, withdraws nothing",
            {"send": spec["send"], "withdrawn": None, "address": spec["address"]},
        )  # fmt: skip
    )
CASES.append(
    Case(
        "hook-optout-after-queueing",
        H,
        "landed_once",
        "e-mail and WhatsApp tasks queued, then an unsubscribe click and STOP replies arrive: the next dispatch "
        "cancels them with the reason and nothing reaches those contacts",
        {"e2e": True},
        "opted out",
    )  # fmt: skip
)
CASES.append(
    Case(
        "hook-spool-unwritable",
        H,
        "refused",
        "the spool cannot be written: 503 so the provider retries",
        {"spool_failure": True, "status": 503},
        "retry later",
    )  # fmt: skip
)


def _run(r: Receiver, case: Case) -> Outcome:
    before, quarantined_before = r.spooled(), r.quarantined()
    responses = case.payload["send"](r)
    con = duckdb.connect()
    try:
        land_events(con, r.spool.dir)
        landed = con.execute("select event_id, kind, status, contact_id from raw_channels.webhook_events").df()
        withdrawals = opt_outs(con)
    finally:
        con.close()
    return Outcome(
        [x.status_code for x in responses],
        [x.text for x in responses],
        r.spooled() - before,
        [q for q in r.quarantined() if q not in quarantined_before],
        landed,
        withdrawals,
    )


@pytest.mark.parametrize(
    "case", [c for c in CASES if "send" in c.payload], ids=case_ids([c for c in CASES if "send" in c.payload])
)
def test_webhook_case(receiver: Receiver, case: Case, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    out = _run(receiver, case)
    if case.expect in ("refused", "quarantined"):
        assert out.statuses and all(s == case.payload["status"] for s in out.statuses), (out.statuses, out.texts)
        assert out.new_events == 0, "a refused request must store nothing"
        if case.reason:
            assert any(case.reason in t for t in out.texts), out.texts
    if case.expect == "quarantined":
        assert len(out.new_quarantine) == len(out.statuses)
        assert all(case.reason in q["reason"] for q in out.new_quarantine), out.new_quarantine
    if case.expect == "refused":
        assert out.new_quarantine == []
    if case.expect == "landed_once":
        assert all(200 <= s < 300 for s in out.statuses), (out.statuses, out.texts)
        for event_id, n in (case.payload.get("landed") or {}).items():
            assert (out.landed["event_id"] == event_id).sum() == n, event_id
        if "withdrawn" in case.payload:
            _check_withdrawal(case, out)
    # Rejections are logged, and no log line carries a raw phone number.
    for record in caplog.records:
        assert "+57300555" not in record.getMessage() and "5215550009999" not in record.getMessage()


def _check_withdrawal(case: Case, out: Outcome) -> None:
    expected = case.payload["withdrawn"]
    w = out.withdrawals
    if expected is None:
        assert (w["address"] == case.payload["address"]).sum() == 0, w
        assert (out.landed["kind"] == "message").any()
        return
    contact, address, channel = expected
    mine = w[w["contact_id"] == contact] if contact else w[w["address"] == address]
    assert len(mine) == 1, f"expected exactly one withdrawal, got {len(mine)}: {w.to_dict('records')}"
    assert mine["channel"].iloc[0] == channel


def test_spool_failure_answers_503(tmp_path) -> None:
    """A spool that cannot be written answers 503 (the provider retries), never 200 and never 500."""
    case = next(c for c in CASES if c.id == "hook-spool-unwritable")
    spool = Spool(tmp_path / "spool")
    (spool.dir / f"events-{datetime.now(UTC):%Y%m%d}.jsonl").mkdir()  # the day's file cannot be opened
    with serve(create_app(spool, twilio_auth_token=TW_TOKEN, unsubscribe_secret=UNSUB_SECRET)) as srv:
        r = Receiver(srv.base_url, spool)
        res = tw_post(r, "status", {"MessageSid": "SMfail", "MessageStatus": "delivered"})
        click = unsub_post(r, token("K-FAIL"))
    assert res.status_code == click.status_code == case.payload["status"]
    assert case.reason in res.text


def test_opt_out_after_queueing_cancels_the_next_dispatch(tmp_path) -> None:
    """Queued e-mail and WhatsApp tasks; an unsubscribe click and STOP replies; the dispatch sends none of them."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "channels"))
    from channels_helpers import decision_rows, hand_over, warehouse_state

    from cobranza.settings import load_settings
    from connectors.channels import outbox
    from flows import stages
    from lab.channels import start_lab

    case = next(c for c in CASES if c.id == "hook-optout-after-queueing")
    settings = load_settings(data_dir=tmp_path, channels={"email": "smtp", "whatsapp": "whatsapp_cloud"})
    now = datetime.now(UTC)
    ctx = stages.make_context(settings, now.date(), now)
    secret = stages.unsubscribe_secret(settings)
    due = now - timedelta(minutes=5)
    # Customers 1-4 get an e-mail (decided today) and a WhatsApp (decided yesterday), all due now.
    emails = decision_rows(4, "email", scheduled_at=due)
    chats = decision_rows(4, "whatsapp", scheduled_at=due)
    with duckdb.connect(str(ctx.warehouse)) as con:
        outbox.enqueue(con, emails, ctx.as_of)
        outbox.enqueue(con, chats, ctx.as_of - timedelta(days=1))
        warehouse_state(con, pd.concat([emails, chats]))
    hand_over(ctx)
    inbound = settings.resolve(settings.channels.inbound_dir)
    with start_lab(inbound) as lab:
        receiver_app = create_app(
            Spool(inbound),
            whatsapp_app_secret=lab.whatsapp.app_secret,
            twilio_auth_token=lab.twilio.auth_token,
            unsubscribe_secret=secret,
        )
        with serve(receiver_app) as srv:
            # Customer 1 clicks the unsubscribe link of its e-mail; customer 2 answers STOP on WhatsApp;
            # customer 3 asks not to be contacted at all; customer 4 does nothing (and a forged click for it fails).
            link = mint_token(secret, customer_id="C000001", contact_id="K000001", channel="email")
            assert unsub_post(Receiver(srv.base_url, Spool(inbound)), link).status_code == 200
            forged = swapped_contact("K000001", "K000004")
            assert unsub_post(Receiver(srv.base_url, Spool(inbound)), forged).status_code == 403
            phones = dict(zip(chats["customer_id"], chats["phone"], strict=True))
            for cust, mid, text in (("C000002", "wamid.in2", "STOP, no me escriban más"),
                                    ("C000003", "wamid.in3", "No me contacten por ningún medio")):  # fmt: skip
                body = json.dumps(wa_envelope({"messages": [wa_text(mid, text, phones[cust].lstrip("+"))]})).encode()
                res = requests.post(f"{srv.base_url}/webhooks/whatsapp", data=body, timeout=10,
                                    headers={"X-Hub-Signature-256": sign(lab.whatsapp.app_secret, body)})  # fmt: skip
                assert res.status_code == 200
            counts = stages.dispatch_outbox.fn(ctx, overrides=lab.overrides())
        sent_to = {m["to"] for m in lab.whatsapp.messages} | {str(m["To"]) for m in lab.smtp.messages}
    assert counts["cancelled"] == 4, counts
    stages.replicate(ctx)
    with duckdb.connect(str(ctx.warehouse)) as con:
        dead = con.execute(
            "select t.customer_id, t.channel, e.detail from outbox.task_events e join outbox.contact_tasks t "
            "using (task_id) where e.state = 'dead' order by 1, 2"
        ).fetchall()
        sent = con.execute(
            "select t.customer_id, t.channel from outbox.task_events e join outbox.contact_tasks t using (task_id) "
            "where e.state = 'sent' order by 1, 2"
        ).fetchall()
    assert [(c, ch) for c, ch, _ in dead] == [
        ("C000001", "email"), ("C000002", "whatsapp"), ("C000003", "email"), ("C000003", "whatsapp"),
    ]  # fmt: skip
    assert all(d.startswith("cancelled before sending:") and case.reason in d for _, _, d in dead), dead
    assert "unsubscribe_link" in dead[0][2] and "reply: stop" in dead[1][2] and "every channel" in dead[2][2]
    assert sent == [("C000001", "whatsapp"), ("C000002", "email"), ("C000004", "email"), ("C000004", "whatsapp")]
    # Nothing reached an opted-out address.
    for cust, channel in ((c, ch) for c, ch, _ in dead):
        row = (emails if channel == "email" else chats).set_index("customer_id").loc[cust]
        address = row["email"] if channel == "email" else row["phone"].lstrip("+")
        assert not any(address in s for s in sent_to), (cust, channel)

"""Adversarial corpus, debtor portal: hostile links, forms, attachments and payment webhooks against the real portal.

One portal (``portal.app``) runs under uvicorn on 127.0.0.1 for the module, reading a small snapshot
(``tests/portal/portal_helpers.py``) and spooling into a real spool; each case sends its request(s)
over HTTP (``requests``, with its own cookie jar) and checks the answer and what reached the spool:

- ``refused``: a 4xx answer, nothing spooled, and no customer data in the answer (forged, tampered,
  expired, other-version, overlong and traversal-shaped link tokens; CSRF missing, foreign, forged
  or without its cookie; oversized, disguised, polyglot and empty-typed attachments; promises, plans
  and payments outside policy or naming another customer's invoices; unsigned, forged, altered and
  too-old payment webhooks);
- ``quarantined``: a validly signed paid-checkout webhook without the metadata our sessions carry:
  400, nothing spooled, the body kept in ``<spool>/quarantine/``;
- ``landed_once``: a valid action (sent twice where a double click or a provider retry would) lands
  exactly one event; an attachment with a path-traversal or hostile name is stored under the
  attachments folder with a sanitised name.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests

from connectors.webhooks.spool import Spool
from portal import tokens
from portal.app import PortalLimits, attach_body_limit, create_app
from portal.payments import sign
from simulator.emulators.server import serve
from tests.adversarial.corpus import Case, case_ids

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "portal"))
from portal_helpers import PDF, PNG, SECRET, make_snapshot  # noqa: E402

WHSEC = "whsec_adversarial_portal"
DATA = ("Ferretería", "FV-1001", "5.000.000", "Padaria", "NF-77")


@dataclass
class Portal:
    """The module's portal: URL, spool and data folder."""

    url: str
    spool: Spool
    data: Path

    def events(self) -> list[dict]:
        return list(self.spool.read())


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    root = tmp_path_factory.mktemp("portal-adv")
    snapshot = make_snapshot(root / "published.duckdb", today=datetime.now(UTC).date())
    spool = Spool(root / "spool")
    limits = PortalLimits(link_requests_per_minute=10_000, link_posts_per_minute=10_000, ip_requests_per_minute=10_000)
    app = create_app(
        snapshot_path=snapshot,
        spool_dir=spool.dir,
        data_dir=root / "data",
        token_secret=SECRET,
        stripe_webhook_secret=WHSEC,
        limits=limits,
    )
    with serve(attach_body_limit(app)) as srv:
        yield Portal(srv.base_url, spool, root / "data")


# --- builders -------------------------------------------------------------------------------------


def link(customer: str = "C1", **kw) -> str:
    return tokens.mint(kw.pop("secret", SECRET), customer, ttl=kw.pop("ttl", timedelta(days=30)), **kw)


def session_csrf(p: Portal, token: str, page: str = "") -> tuple[requests.Session, str]:
    s = requests.Session()
    r = s.get(f"{p.url}/p/{token}{page}", timeout=10)
    assert r.status_code == 200, r.status_code
    return s, re.search(r'name="csrf_token" value="([^"]+)"', r.text)[1]


Send = Callable[[Portal], list[requests.Response]]


def get(token_fn: Callable[[], str], page: str = "") -> Send:
    return lambda p: [requests.get(f"{p.url}/p/{token_fn()}{page}", timeout=10)]


def post_form(page: str, form: dict, *, csrf: str = "ok", files: dict | None = None, times: int = 1) -> Send:
    """POST ``form`` to C1's ``page`` after loading it; ``csrf``: ok | missing | foreign | forged | no-cookie."""

    def send(p: Portal) -> list[requests.Response]:
        token = link("C1")
        s, good = session_csrf(p, token, page)
        value = {
            "ok": good,
            "missing": None,
            "foreign": session_csrf(p, link("C2"), page)[1],
            "forged": good.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "no-cookie": good,
        }[csrf]
        if csrf == "no-cookie":
            s.cookies.clear()
        data = {**form, **({"csrf_token": value} if value else {})}
        return [s.post(f"{p.url}/p/{token}{page}", data=data, files=files, timeout=30) for _ in range(times)]

    return send


def dispute_with(name: str, content: bytes, ctype: str = "application/pdf") -> Send:
    return post_form("/dispute", {"invoice": "I1", "note": "adjunto"}, files={"attachment": (name, content, ctype)})


def stripe_event(event_id: str, **session) -> bytes:
    obj = {
        "id": "cs_test_adv",
        "object": "checkout.session",
        "payment_status": "paid",
        "amount_total": 500000000,
        "currency": "cop",
        "payment_intent": "pi_adv",
        "metadata": {"customer_id": "C1", "invoice_ids": "I1"},
    }
    obj.update(session)
    body = {"id": event_id, "type": "checkout.session.completed", "created": 1, "data": {"object": obj}}
    return json.dumps(body).encode()


def hook(body: bytes, *, secret: str = WHSEC, age_s: int = 0, header: str | None = "auto", times: int = 1) -> Send:
    def send(p: Portal) -> list[requests.Response]:
        t = int(datetime.now(UTC).timestamp()) - age_s
        h = sign(secret, body, t) if header == "auto" else header
        headers = {"Content-Type": "application/json", **({"Stripe-Signature": h} if h else {})}
        return [requests.post(f"{p.url}/webhooks/stripe", data=body, headers=headers, timeout=10) for _ in range(times)]

    return send


def altered(body: bytes) -> Send:
    def send(p: Portal) -> list[requests.Response]:
        t = int(datetime.now(UTC).timestamp())
        h = sign(WHSEC, body, t)
        forged = body.replace(b'"I1"', b'"J1"')
        return [requests.post(f"{p.url}/webhooks/stripe", data=forged, headers={"Stripe-Signature": h}, timeout=10)]

    return send


def _payload_of(customer: str) -> str:
    return link(customer).split(".")[1]


def tampered() -> str:
    v, _, tag = link("C1").split(".")
    return f"{v}.{_payload_of('C2')}.{tag}"


P = "portal"
CASES: list[Case] = [
    # Links
    Case(
        "portal-link-forged-secret",
        P,
        "refused",
        "a link signed with another deployment's secret",
        get(lambda: link("C1", secret="another-deployment-secret-xyz")),
    ),  # fmt: skip
    Case("portal-link-tampered-customer", P, "refused", "C2's payload under C1's signature", get(tampered)),
    Case(
        "portal-link-tampered-tag",
        P,
        "refused",
        "the signature's last characters changed",
        get(lambda: link("C1")[:-4] + "AAAA"),
    ),  # fmt: skip
    Case(
        "portal-link-expired",
        P,
        "refused",
        "a link past its expiry",
        get(lambda: link("C1", ttl=timedelta(minutes=1), now=datetime.now(UTC) - timedelta(minutes=5))),
    ),  # fmt: skip
    Case("portal-link-other-version", P, "refused", "a p2 token", get(lambda: "p2" + link("C1")[2:])),
    Case("portal-link-overlong", P, "refused", "a 4,000-character token", get(lambda: link("C1") + "A" * 4000)),
    Case(
        "portal-link-traversal", P, "refused", "a token that is a path traversal", get(lambda: "..%2F..%2Fetc%2Fpasswd")
    ),  # fmt: skip
    Case(
        "portal-link-unsubscribe-token",
        P,
        "refused",
        "an unsubscribe token (same secret) used as a portal link",
        get(lambda: "u1." + link("C1").split(".", 1)[1]),
    ),  # fmt: skip
    Case(
        "portal-link-unknown-customer",
        P,
        "refused",
        "a valid link naming a customer not in the snapshot",
        get(lambda: link("C-404")),
    ),  # fmt: skip
    Case(
        "portal-link-forged-on-form",
        P,
        "refused",
        "a forged link used to post a promise",
        lambda p: [
            requests.post(
                f"{p.url}/p/{link('C1', secret='x' * 32)}/promise",
                data={"promised_date": "2030-01-01", "amount": "1"},
                timeout=10,
            )
        ],
    ),  # fmt: skip
    Case(
        "portal-foreign-invoice-copy", P, "refused", "C1's link asking for C2's invoice copy", get(link, "/invoice/J1")
    ),
    # CSRF
    Case(
        "portal-csrf-missing",
        P,
        "refused",
        "a promise posted without the CSRF field",
        post_form("/promise", {"promised_date": "2030-01-01", "amount": "1"}, csrf="missing"),
    ),  # fmt: skip
    Case(
        "portal-csrf-foreign",
        P,
        "refused",
        "the CSRF token of another customer's page",
        post_form("/plan", {"instalments": "2"}, csrf="foreign"),
    ),  # fmt: skip
    Case(
        "portal-csrf-forged",
        P,
        "refused",
        "a CSRF token with a forged tag",
        post_form("/preferences", {"opt_out": "sms"}, csrf="forged"),
    ),  # fmt: skip
    Case(
        "portal-csrf-no-cookie",
        P,
        "refused",
        "a CSRF token without its cookie (a cross-site post)",
        post_form("/dispute", {"invoice": "I1", "note": "x"}, csrf="no-cookie"),
    ),  # fmt: skip
    # Attachments
    Case(
        "portal-upload-oversized",
        P,
        "refused",
        "a 5 MB + 1 attachment",
        dispute_with("big.pdf", PDF + b"0" * (5 * 1024 * 1024)),
    ),  # fmt: skip
    Case(
        "portal-upload-body-over-cap",
        P,
        "refused",
        "a 7 MB body (over the request cap)",
        dispute_with("huge.pdf", PDF + b"0" * (7 * 1024 * 1024)),
    ),  # fmt: skip
    Case(
        "portal-upload-html-as-pdf",
        P,
        "refused",
        "HTML with a script, named .pdf and typed application/pdf",
        dispute_with("invoice.pdf", b"<html><script>alert(1)</script></html>"),
    ),  # fmt: skip
    Case(
        "portal-upload-svg",
        P,
        "refused",
        "an SVG image with a script",
        dispute_with("x.svg", b"<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>", "image/svg+xml"),
    ),  # fmt: skip
    Case(
        "portal-upload-gif-polyglot",
        P,
        "refused",
        "a GIF/JS polyglot (GIF is not accepted)",
        dispute_with("x.gif", b"GIF89a/*<script>*/=1;alert(1)//", "image/gif"),
    ),  # fmt: skip
    Case(
        "portal-upload-zip-as-png",
        P,
        "refused",
        "a ZIP named .png",
        dispute_with("photo.png", b"PK\x03\x04" + b"\x00" * 100, "image/png"),
    ),  # fmt: skip
    Case(
        "portal-upload-traversal-name",
        P,
        "landed_once",
        "a PDF named ../../../etc/passwd.pdf",
        dispute_with("../../../etc/passwd.pdf", PDF),
        reason="passwd.pdf",
    ),  # fmt: skip
    Case(
        "portal-upload-windows-traversal",
        P,
        "landed_once",
        "a PNG named ..\\..\\Windows\\win.ini.png",
        dispute_with("..\\..\\Windows\\win.ini.png", PNG, "image/png"),
        reason="win_ini.png",
    ),  # fmt: skip
    Case(
        "portal-upload-absolute-name",
        P,
        "landed_once",
        "a PDF named /etc/cron.d/evil.pdf.html",
        dispute_with("/etc/cron.d/evil.pdf.html", PDF),
        reason="evil_pdf.pdf",
    ),  # fmt: skip
    Case(
        "portal-upload-rlo-name",
        P,
        "landed_once",
        "a name with a right-to-left override (fdp.exe shown as exe.pdf)",
        dispute_with("invoice\u202efdp.exe", PDF),
        reason="invoicefdp.pdf",
    ),  # fmt: skip
    Case(
        "portal-upload-dotfile-name",
        P,
        "landed_once",
        "a PDF named .htaccess",
        dispute_with(".htaccess", PDF),
        reason="attachment.pdf",
    ),  # fmt: skip
    # Forms outside policy or naming what is not the customer's
    Case(
        "portal-promise-nan",
        P,
        "refused",
        "a promise of NaN",
        post_form("/promise", {"promised_date": datetime.now(UTC).date().isoformat(), "amount": "NaN"}),
    ),
    Case(
        "portal-promise-infinity",
        P,
        "refused",
        "a promise of Infinity",
        post_form("/promise", {"promised_date": datetime.now(UTC).date().isoformat(), "amount": "Infinity"}),
    ),
    Case(
        "portal-promise-signalling-nan",
        P,
        "refused",
        "a promise of sNaN (a Decimal that raises on comparison)",
        post_form("/promise", {"promised_date": datetime.now(UTC).date().isoformat(), "amount": "sNaN"}),
    ),
    Case(
        "portal-promise-sub-cent",
        P,
        "refused",
        "a promise of 100.001 COP (more decimals than the currency has)",
        post_form("/promise", {"promised_date": datetime.now(UTC).date().isoformat(), "amount": "100.001"}),
    ),  # fmt: skip
    Case(
        "portal-promise-exponent",
        P,
        "refused",
        "a promise of 1e12 (above the balance)",
        post_form("/promise", {"promised_date": datetime.now(UTC).date().isoformat(), "amount": "1e12"}),
    ),  # fmt: skip
    Case(
        "portal-promise-negative",
        P,
        "refused",
        "a promise of -100",
        post_form("/promise", {"promised_date": datetime.now(UTC).date().isoformat(), "amount": "-100"}),
    ),  # fmt: skip
    Case(
        "portal-promise-bad-date",
        P,
        "refused",
        "a promise for 30 February",
        post_form("/promise", {"promised_date": "2026-02-30", "amount": "100"}),
    ),  # fmt: skip
    Case(
        "portal-plan-tampered-count",
        P,
        "refused",
        "a plan of 999 instalments posted by hand",
        post_form("/plan", {"instalments": "999"}),
    ),  # fmt: skip
    Case("portal-plan-fraction", P, "refused", "a plan of 2.5 instalments", post_form("/plan", {"instalments": "2.5"})),
    Case(
        "portal-dispute-foreign-invoice",
        P,
        "refused",
        "a dispute naming another customer's invoice",
        post_form("/dispute", {"invoice": "J1", "note": "x"}),
    ),  # fmt: skip
    Case(
        "portal-dispute-sql-like-invoice",
        P,
        "refused",
        "a dispute naming I1' or '1'='1",
        post_form("/dispute", {"invoice": "I1' or '1'='1", "note": "x"}),
    ),  # fmt: skip
    Case(
        "portal-optout-unknown-channel",
        P,
        "refused",
        "an opt-out from 'fax' only",
        post_form("/preferences", {"opt_out": "fax"}),
    ),  # fmt: skip
    # Landed once
    Case(
        "portal-promise-double-click",
        P,
        "landed_once",
        "the same promise form sent twice",
        post_form("/promise", {"promised_date": datetime.now(UTC).date().isoformat(), "amount": "1000"}, times=2),
    ),  # fmt: skip
    Case(
        "portal-dispute-note-injection",
        P,
        "landed_once",
        "a note with template and HTML injection",
        post_form("/dispute", {"invoice": "I1", "note": "{{ 7*7 }} {% include '/etc/passwd' %} <script>x</script>"}),
    ),  # fmt: skip
    # The payment provider's webhook
    Case(
        "portal-hook-unsigned",
        P,
        "refused",
        "a paid-checkout event without Stripe-Signature",
        hook(stripe_event("evt_adv_unsigned"), header=None),
    ),  # fmt: skip
    Case(
        "portal-hook-forged",
        P,
        "refused",
        "signed with another endpoint secret",
        hook(stripe_event("evt_adv_forged"), secret="whsec_other"),
    ),  # fmt: skip
    Case(
        "portal-hook-too-old",
        P,
        "refused",
        "a captured delivery replayed 10 minutes later",
        hook(stripe_event("evt_adv_old"), age_s=600),
    ),  # fmt: skip
    Case(
        "portal-hook-future",
        P,
        "refused",
        "a signature dated 10 minutes ahead",
        hook(stripe_event("evt_adv_fut"), age_s=-600),
    ),
    Case(
        "portal-hook-altered",
        P,
        "refused",
        "a signed body whose invoice was changed after signing",
        altered(stripe_event("evt_adv_altered")),
    ),  # fmt: skip
    Case(
        "portal-hook-no-v1",
        P,
        "refused",
        "a header with only a v0 signature",
        hook(stripe_event("evt_adv_v0"), header="t=1,v0=abc"),
    ),  # fmt: skip
    Case("portal-hook-not-json", P, "refused", "a validly signed body that is not JSON", hook(b"\xff\xfe not json")),
    Case(
        "portal-hook-no-metadata",
        P,
        "quarantined",
        "a signed paid checkout without our metadata",
        hook(stripe_event("evt_adv_nometa", metadata={})),
        reason="metadata",
    ),  # fmt: skip
    Case(
        "portal-hook-retried",
        P,
        "landed_once",
        "the same paid-checkout event delivered three times",
        hook(stripe_event("evt_adv_retried"), times=3),
    ),  # fmt: skip
    Case(
        "portal-hook-unpaid",
        P,
        "landed_once",
        "a completed but unpaid session (async payment): acknowledged, no payment",
        hook(stripe_event("evt_adv_unpaid", payment_status="unpaid")),
    ),  # fmt: skip
]

#: landed_once cases that must land no event (acknowledged and ignored).
_NO_EVENT = {"portal-hook-unpaid"}


@pytest.mark.parametrize("case", CASES, ids=case_ids(CASES))
def test_portal_case(portal: Portal, case: Case) -> None:
    before = {e["event_id"] for e in portal.events()}
    quarantine_before = len(list(portal.spool.quarantined()))
    answers = case.payload(portal)
    new = [e for e in portal.events() if e["event_id"] not in before]
    codes = [r.status_code for r in answers]
    if case.expect == "refused":
        assert all(400 <= c < 500 for c in codes), codes
        assert new == []
        # a refused link or webhook shows nothing; a refused form re-shows the customer's own page only
        assert not any(d in r.text for r in answers if r.status_code in (401, 403, 404, 429) for d in DATA)
        assert not any(d in r.text for r in answers for d in ("Padaria", "NF-77"))
    elif case.expect == "quarantined":
        assert codes == [400] and new == []
        kept = list(portal.spool.quarantined())[quarantine_before:]
        assert len(kept) == 1 and case.reason in kept[0]["reason"]
    else:
        assert all(c == 200 for c in codes), codes
        ids = {e["event_id"] for e in new}
        assert len(ids) == (0 if case.id in _NO_EVENT else 1), new
        if case.reason:  # an attachment: stored under the attachments folder with the sanitised name
            attachment = json.loads(new[0]["payload"])["attachment"]
            stored = (portal.data / attachment["path"]).resolve()
            assert stored.is_relative_to((portal.data / "portal" / "attachments").resolve())
            assert attachment["name"] == case.reason and stored.name.endswith("-" + case.reason)


def test_rate_limited_flood_is_refused(tmp_path) -> None:
    snapshot = make_snapshot(tmp_path / "s.duckdb", today=datetime.now(UTC).date())
    limits = PortalLimits(link_requests_per_minute=3, ip_requests_per_minute=5)
    app = create_app(
        snapshot_path=snapshot, spool_dir=tmp_path / "spool", data_dir=tmp_path, token_secret=SECRET, limits=limits
    )
    with serve(app) as srv:
        codes = [requests.get(f"{srv.base_url}/p/guess{i}", timeout=10).status_code for i in range(8)]
    assert codes[:5] == [403] * 5 and set(codes[5:]) == {429}

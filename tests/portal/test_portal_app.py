"""The portal app through its HTTP interface (TestClient, in process) with the Stripe emulator.

Every debtor action must end as one spool event naming the right customer; every refusal (bad link,
CSRF, policy, upload) must store nothing and show no customer data.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from portal_helpers import NOW, PDF, PNG, SECRET, random_secret

from connectors.webhooks.spool import Spool
from portal import tokens
from portal.payments import sign

CUSTOMER_DATA = ("Ferretería", "FV-1001", "5.000.000", "Padaria", "NF-77")


def link(customer: str = "C1", **kw) -> str:
    return "/p/" + tokens.mint(kw.pop("secret", SECRET), customer, ttl=kw.pop("ttl", timedelta(days=30)), now=NOW, **kw)


def csrf(client: TestClient, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]


def spooled(world) -> list[dict]:
    return list(Spool(world["spool"]).read()) if world["spool"].exists() else []


def test_statement_in_the_customers_locale_with_overdue_marked(client) -> None:
    page = client.get(link("C1"))
    assert page.status_code == 200
    html = page.text
    assert 'lang="es"' in html and "Ferretería Andina" in html
    assert "$7.500.000,50" in html  # es_CO: dot thousands, comma decimals
    assert re.search(r'class="overdue" data-invoice="I1"', html) and "Vencida (30 días)" in html
    assert 'class="current" data-invoice="I2"' in html
    assert "FV-0999" not in html  # settled
    assert "Padaria" not in html and "NF-77" not in html
    pt = client.get(link("C2")).text
    assert 'lang="pt"' in pt and "R$\xa03.400,50" in pt and "Ferretería" not in pt
    h = page.headers
    assert "default-src 'none'" in h["content-security-policy"] and "script-src" not in h["content-security-policy"]
    assert h["referrer-policy"] == "no-referrer" and h["x-frame-options"] == "DENY" and h["cache-control"] == "no-store"
    assert "<script" not in html and " style=" not in html and not re.search(r"\son[a-z]+=", html)
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/p/" in cookie


def _bad_links() -> dict[str, str]:
    good = link("C1")[3:]
    version, payload, tag = good.split(".")
    other = link("C2")[3:].split(".")
    expired = tokens.mint(SECRET, "C1", ttl=timedelta(minutes=5), now=NOW - timedelta(minutes=6))
    return {
        "forged (another secret)": "/p/" + tokens.mint(random_secret(), "C1", ttl=timedelta(days=1), now=NOW),
        "tampered (C2 payload, C1 tag)": f"/p/{version}.{other[1]}.{tag}",
        "tampered tag": f"/p/{version}.{payload}.{tag[:-3]}AAA",
        "expired": "/p/" + expired,
        "garbage": "/p/not-a-token",
        "unknown customer": link("C999"),
    }


@pytest.mark.parametrize("case", list(_bad_links()))
def test_bad_links_get_403_with_no_data(client, world, case) -> None:
    path = _bad_links()[case]
    for suffix in ("", "/promise", "/dispute", "/plan", "/preferences", "/invoice/I1", "/invoice/I1.pdf"):
        r = client.get(path + suffix)
        assert r.status_code == 403, (case, suffix, r.status_code)
        assert not any(d in r.text for d in CUSTOMER_DATA)
        assert "set-cookie" not in r.headers
    r = client.post(path + "/promise", data={"promised_date": "2026-12-10", "amount": "1"})
    assert r.status_code == 403
    assert spooled(world) == []


def test_another_customers_invoice_is_not_found(client) -> None:
    assert client.get(link("C1") + "/invoice/J1").status_code == 404
    assert client.get(link("C1") + "/invoice/J1.pdf").status_code == 404
    copy = client.get(link("C1") + "/invoice/I1")
    assert copy.status_code == 200 and "FV-1001" in copy.text and "$5.000.000,00" in copy.text
    pdf = client.get(link("C1") + "/invoice/I1.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF-")


def test_promise_is_spooled_once_per_form(client, world) -> None:
    path = link("C1") + "/promise"
    token = csrf(client, path)
    form = {"csrf_token": token, "promised_date": "2026-12-12", "amount": "1.000.000"}
    r = client.post(path, data=form)
    assert r.status_code == 200 and "Registramos su promesa de pago de $1.000.000,00" in r.text
    client.post(path, data=form)  # sent twice (double click): same event id
    events = spooled(world)
    assert {e["event_id"] for e in events} == {events[0]["event_id"]} and len(events) == 2
    e = events[0]
    assert (e["kind"], e["customer_id"], e["provider"]) == ("portal_promise", "C1", "portal")
    assert json.loads(e["payload"]) == {"promised_date": "2026-12-12", "amount": "1000000", "currency": "COP"}


@pytest.mark.parametrize(
    ("form", "why"),
    [
        ({"promised_date": "2027-03-01", "amount": "100"}, "more than 30 days"),
        ({"promised_date": "2026-12-01", "amount": "100"}, "in the past"),
        ({"promised_date": "2026-12-10", "amount": "99999999999"}, "above the open balance"),
        ({"promised_date": "2026-12-10", "amount": "abc"}, "not an amount"),
        ({"promised_date": "tomorrow", "amount": "100"}, "not a date"),
    ],
)
def test_promise_outside_policy_is_refused(client, world, form, why) -> None:
    path = link("C1") + "/promise"
    r = client.post(path, data={"csrf_token": csrf(client, path), **form})
    assert r.status_code == 400 and why in r.text
    assert spooled(world) == []


def test_csrf_missing_or_foreign_is_403(client, world) -> None:
    path = link("C1") + "/promise"
    good = csrf(client, path)
    data = {"promised_date": "2026-12-10", "amount": "100"}
    assert client.post(path, data=data).status_code == 403
    other = csrf(client, link("C2") + "/promise")  # a valid token of another link
    assert client.post(path, data={**data, "csrf_token": other}).status_code == 403
    client.cookies.clear()
    assert client.post(path, data={**data, "csrf_token": good}).status_code == 403  # no cookie
    assert spooled(world) == []


def test_dispute_with_attachment(client, world) -> None:
    path = link("C1") + "/dispute"
    token = csrf(client, path)
    r = client.post(
        path,
        data={"csrf_token": token, "invoice": ["I1"], "note": "Mercancía dañada {{ 7*7 }}"},
        files={"attachment": ("../../../etc/remito.pdf", PDF, "text/html")},
    )
    assert r.status_code == 200 and "FV-1001" in r.text
    (event,) = spooled(world)
    assert event["kind"] == "portal_dispute" and event["text"] == "Mercancía dañada {{ 7*7 }}"
    payload = json.loads(event["payload"])
    assert payload["invoices"] == ["I1"]
    att = payload["attachment"]
    assert att["content_type"] == "application/pdf" and att["name"] == "remito.pdf"
    stored = world["data"] / att["path"]
    assert stored.read_bytes() == PDF and stored.is_relative_to(world["data"] / "portal" / "attachments")
    assert client.get("/static/../data/" + att["path"]).status_code == 404


@pytest.mark.parametrize(
    ("files", "status"),
    [
        ({"attachment": ("x.pdf", b"<script>alert(1)</script>", "application/pdf")}, 415),
        ({"attachment": ("x.png", PNG[:4], "image/png")}, 415),
        ({"attachment": ("big.pdf", PDF + b"0" * (5 * 1024 * 1024), "application/pdf")}, 413),
    ],
    ids=["html-as-pdf", "truncated-png", "oversized"],
)
def test_dispute_attachment_refused(client, world, files, status) -> None:
    path = link("C1") + "/dispute"
    r = client.post(path, data={"csrf_token": csrf(client, path), "invoice": ["I1"], "note": "x"}, files=files)
    assert r.status_code == status
    assert spooled(world) == [] and not list((world["data"]).rglob("*.pdf"))


def test_dispute_of_another_customers_invoice_is_refused(client, world) -> None:
    path = link("C1") + "/dispute"
    r = client.post(path, data={"csrf_token": csrf(client, path), "invoice": ["J1"], "note": "x"})
    assert r.status_code == 400 and spooled(world) == []


def test_body_over_the_cap_is_413_before_parsing(client, world) -> None:
    path = link("C1") + "/dispute"
    token = csrf(client, path)
    big = b"x" * (6 * 1024 * 1024)
    r = client.post(path, data={"csrf_token": token, "note": "x"}, files={"attachment": ("a.pdf", big, "x")})
    assert r.status_code == 413 and spooled(world) == []


def test_plan_offer_and_acceptance(client, world) -> None:
    path = link("C1") + "/plan"
    page = client.get(path)
    counts = [int(n) for n in re.findall(r'name="instalments" value="(\d+)"', page.text)]
    assert counts == [2, 3, 4, 5, 6]  # mid market, low risk
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)[1]
    assert client.post(path, data={"csrf_token": token, "instalments": "12"}).status_code == 400
    r = client.post(path, data={"csrf_token": token, "instalments": "3", "amount": "1"})  # extra fields ignored
    assert r.status_code == 200 and "Plan aceptado: 3 cuotas" in r.text
    (event,) = spooled(world)
    plan = json.loads(event["payload"])
    assert event["kind"] == "portal_plan_accepted" and plan["count"] == 3 and plan["total"] == "7500000.50"
    assert [i["amount"] for i in plan["instalments"]] == ["2500000.16", "2500000.16", "2500000.18"]
    # high-risk C2 (0.8, smb) is offered 2 instalments with a down payment
    assert re.findall(r'name="instalments" value="(\d+)"', client.get(link("C2") + "/plan").text) == ["2"]


def test_preferences_opt_out_every_contact(client, world) -> None:
    path = link("C1") + "/preferences"
    r = client.post(path, data={"csrf_token": csrf(client, path), "opt_out": ["whatsapp", "sms", "fax"]})
    assert r.status_code == 200 and "WhatsApp, SMS" in r.text
    got = {(e["contact_id"], e["status"]) for e in spooled(world)}
    assert got == {("K1", "whatsapp"), ("K1", "sms"), ("K1b", "whatsapp"), ("K1b", "sms")}
    assert {e["kind"] for e in spooled(world)} == {"portal_opt_out"}


def test_pay_now_checkout_and_signed_webhook(client, world, stripe) -> None:
    path = link("C1")
    token = csrf(client, path)
    r = client.post(path + "/pay", data={"csrf_token": token, "invoice": ["I1", "I2"]}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("http://stripe.test/c/pay/cs_test_")
    sid = r.headers["location"].rsplit("/", 1)[1]
    session = stripe.sessions[sid]
    assert session["amount_total"] == 750000050 and session["currency"] == "cop"
    assert session["metadata"]["invoice_ids"] == "I1,I2" and "p1." not in session["success_url"]
    # the same form again: the Idempotency-Key gives the same session
    again = client.post(path + "/pay", data={"csrf_token": token, "invoice": ["I1", "I2"]}, follow_redirects=False)
    assert again.headers["location"] == r.headers["location"] and len(stripe.sessions) == 1
    event = stripe.pay(sid)
    body = json.dumps(event).encode()
    t = int(NOW.timestamp())
    hook = client.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(stripe.webhook_secret, body, t)}
    )
    assert hook.status_code == 200 and hook.json() == {"received": True}
    (paid,) = spooled(world)
    assert (
        paid["kind"] == "payment_succeeded"
        and paid["customer_id"] == "C1"
        and paid["event_id"] == f"stripe:{event['id']}"
    )
    assert json.loads(paid["payload"])["invoices"] == ["I1", "I2"]
    # redelivered: acknowledged, not spooled again
    dup = client.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": sign(stripe.webhook_secret, body, t)}
    )
    assert dup.json()["duplicate"] is True and len(spooled(world)) == 1
    for header in (
        sign("whsec_forged", body, t),
        sign(stripe.webhook_secret, body, t - 3600),  # a captured delivery replayed an hour later
        None,
    ):
        bad = client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": header} if header else {})
        assert bad.status_code == 400
    assert len(spooled(world)) == 1


def test_pay_now_refuses_disputed_foreign_or_mixed(client, world) -> None:
    path = link("C1")
    token = csrf(client, path)
    for chosen in (["J1"], ["I1", "J1"], []):
        r = client.post(path + "/pay", data={"csrf_token": token, "invoice": chosen}, follow_redirects=False)
        assert r.status_code == 400
    assert client.post(path + "/pay", data={"invoice": ["I1"]}, follow_redirects=False).status_code == 403


def test_rate_limits(world) -> None:
    from portal.app import PortalLimits, create_app

    limits = PortalLimits(link_requests_per_minute=5, link_posts_per_minute=2, ip_requests_per_minute=12)
    app = create_app(
        snapshot_path=world["snapshot"],
        spool_dir=world["spool"],
        data_dir=world["data"],
        token_secret=SECRET,
        limits=limits,
        clock=lambda: NOW,
    )
    with TestClient(app) as c:
        path = link("C1")
        codes = [c.get(path).status_code for _ in range(6)]
        assert codes == [200] * 5 + [429]
        r = c.get(path)
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0 and "Ferretería" not in r.text
        # guessing links from the same IP: refused with 403 until the IP's budget is spent, then 429
        codes = [c.get(f"/p/guess-{i}").status_code for i in range(6)]
        assert codes[:5] == [403] * 5 and codes[-1] == 429


def test_checkout_return_pages_show_no_data(client) -> None:
    r = client.get("/checkout/done?lang=pt&session_id=cs_test_x")
    assert r.status_code == 200 and "Obrigado" in r.text and not any(d in r.text for d in CUSTOMER_DATA)
    assert client.get("/checkout/cancelled?lang=xx").status_code == 200


def test_static_css_and_health(client) -> None:
    assert client.get("/static/portal.css").headers["content-type"].startswith("text/css")
    assert client.get("/healthz").text == "ok"


def test_snapshot_missing_is_503(world, tmp_path: Path) -> None:
    from portal.app import create_app

    app = create_app(
        snapshot_path=tmp_path / "none.duckdb", spool_dir=world["spool"], data_dir=world["data"], token_secret=SECRET
    )
    with TestClient(app) as c:
        assert c.get(link("C1")).status_code == 503


def test_mounted_beside_the_webhook_receiver(world) -> None:
    """The portal under /portal of the webhook receiver's app: links, static files and forms keep the prefix."""
    from connectors.webhooks.app import create_app as create_receiver
    from portal.app import attach_body_limit, create_app

    receiver = create_receiver(Spool(world["spool"]))
    portal = create_app(
        snapshot_path=world["snapshot"],
        spool_dir=world["spool"],
        data_dir=world["data"],
        token_secret=SECRET,
        clock=lambda: NOW,
    )
    receiver.mount("/portal", attach_body_limit(portal))
    with TestClient(receiver, base_url="http://hooks.test") as c:
        path = "/portal" + link("C1")
        page = c.get(path)
        assert page.status_code == 200 and 'href="/portal/static/portal.css"' in page.text
        assert f'action="{path}/pay"' in page.text and f"Path={path}" in page.headers["set-cookie"]
        assert c.get("/portal/static/portal.css").status_code == 200
        token = re.search(r'name="csrf_token" value="([^"]+)"', c.get(path + "/promise").text)[1]
        r = c.post(path + "/promise", data={"csrf_token": token, "promised_date": "2026-12-12", "amount": "10"})
        assert r.status_code == 200 and len(spooled(world)) == 1
        assert c.get("/portal" + link("C1", secret=random_secret())).status_code == 403

"""Unit tests of the portal's parts: link tokens, CSRF, rate limits, upload checks, Stripe signatures and forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from portal_helpers import NOW, PDF, PNG, SECRET, random_secret

from portal import security, tokens, uploads
from portal.links import portal_url
from portal.payments import (
    SignatureError,
    encode_form,
    join_metadata,
    minor_units,
    paid_checkout,
    sign,
    split_metadata,
    verify_signature,
)

# -- link tokens ---------------------------------------------------------------------------------


def test_token_round_trip_and_nothing_personal_in_it() -> None:
    token = tokens.mint(SECRET, "C1", ttl=timedelta(days=30), now=NOW)
    claim = tokens.verify(SECRET, token, now=NOW + timedelta(days=29))
    assert (claim.customer_id, claim.purpose) == ("C1", "portal")
    assert claim.expires_at == NOW + timedelta(days=30)
    url = portal_url("https://pay.example.com/", "C1", SECRET, now=NOW)
    assert url.startswith("https://pay.example.com/p/p1.") and "Andina" not in url and "@" not in url


def _other_payload() -> str:
    return tokens.mint(SECRET, "C2", ttl=timedelta(days=1), now=NOW).split(".")[1]


@pytest.mark.parametrize(
    ("mutate", "kind"),
    [
        (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), "forged"),  # tag altered
        (lambda t: t.replace("p1.", "p2.", 1), "version"),
        (
            lambda t: (
                "p1." + tokens.mint(SECRET, "C2", ttl=timedelta(days=1), now=NOW).split(".")[1] + "." + t.split(".")[2]
            ),
            "forged",
        ),
        (lambda t: t + ".x", "malformed"),
        (lambda t: "", "malformed"),
        (lambda t: "p1.%%%." + t.split(".")[2], "malformed"),
        (lambda t: t + "A" * 600, "malformed"),
    ],
    ids=["altered-tag", "other-version", "payload-of-another-customer", "extra-part", "empty", "bad-chars", "too-long"],
)
def test_bad_tokens_are_refused_with_their_kind(mutate, kind) -> None:
    token = tokens.mint(SECRET, "C1", ttl=timedelta(days=1), now=NOW)
    with pytest.raises(tokens.InvalidToken) as err:
        tokens.verify(SECRET, mutate(token), now=NOW)
    assert err.value.kind == kind


def test_expired_other_secret_and_other_purpose_are_refused() -> None:
    token = tokens.mint(SECRET, "C1", ttl=timedelta(hours=1), now=NOW)
    with pytest.raises(tokens.InvalidToken, match="expired") as err:
        tokens.verify(SECRET, token, now=NOW + timedelta(hours=1))
    assert err.value.kind == "expired"
    with pytest.raises(tokens.InvalidToken) as err:
        tokens.verify(random_secret(), token, now=NOW)
    assert err.value.kind == "forged"
    with pytest.raises(tokens.InvalidToken) as err:
        tokens.verify(SECRET, token, purpose="checkout", now=NOW)
    assert err.value.kind == "purpose"


def test_unsubscribe_tokens_and_portal_tokens_never_cross() -> None:
    from connectors.channels.templates import unsubscribe

    u = unsubscribe.mint_token(SECRET, customer_id="C1", contact_id="K1")
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(SECRET, u, now=NOW)
    p = tokens.mint(SECRET, "C1", ttl=timedelta(days=1))
    with pytest.raises(unsubscribe.InvalidToken):
        unsubscribe.verify_token(SECRET, p)


def test_minting_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="customer_id"):
        tokens.mint(SECRET, " ", ttl=timedelta(days=1))
    with pytest.raises(ValueError, match="lifetime"):
        tokens.mint(SECRET, "C1", ttl=timedelta(days=91))
    with pytest.raises(ValueError, match="16 random bytes"):
        tokens.mint("short", "C1", ttl=timedelta(days=1))
    with pytest.raises(ValueError, match="http"):
        portal_url("javascript:alert(1)", "C1", SECRET)


# -- CSRF and rate limits ------------------------------------------------------------------------


def test_csrf_double_submit_bound_to_the_link() -> None:
    key = tokens.key(SECRET)
    t0 = NOW.timestamp()
    tok = security.csrf_token(key, "link-a", now=t0)
    assert security.check_csrf(key, "link-a", tok, tok, now=t0 + 60) == tok.split(".")[0]
    with pytest.raises(security.CsrfError, match="no CSRF"):
        security.check_csrf(key, "link-a", None, tok, now=t0)
    with pytest.raises(security.CsrfError, match="no CSRF"):
        security.check_csrf(key, "link-a", tok, None, now=t0)
    other = security.csrf_token(key, "link-a", now=t0)
    with pytest.raises(security.CsrfError, match="does not match the cookie"):
        security.check_csrf(key, "link-a", tok, other, now=t0)
    with pytest.raises(security.CsrfError, match="not issued for this link"):
        security.check_csrf(key, "link-b", tok, tok, now=t0)
    with pytest.raises(security.CsrfError, match="too old"):
        security.check_csrf(key, "link-a", tok, tok, now=t0 + security.CSRF_MAX_AGE.total_seconds() + 1)
    forged = tok.rsplit(".", 1)[0] + ".AAAA"
    with pytest.raises(security.CsrfError):
        security.check_csrf(key, "link-a", forged, forged, now=t0)


def test_rate_limiter_window() -> None:
    rl = security.RateLimiter(window_s=60)
    assert all(rl.hit("k", 3, now=100 + i) is None for i in range(3))
    wait = rl.hit("k", 3, now=103)
    assert wait is not None and 55 <= wait <= 60
    assert rl.hit("other", 3, now=103) is None
    assert rl.hit("k", 3, now=161) is None  # the first hit left the window


# -- uploads -------------------------------------------------------------------------------------


def test_uploads_sniff_type_and_sanitise_name(tmp_path) -> None:
    stored = uploads.store(tmp_path, "C1", "../../etc/passwd.pdf", PDF)
    assert stored.path.parent.parent == tmp_path and stored.name == "passwd.pdf"
    assert stored.content_type == "application/pdf" and (stored.path.stat().st_mode & 0o077) == 0
    assert "C1" not in str(stored.path)
    png = uploads.store(tmp_path, "C1", "C:\\Users\\x\\foto factura.PNG.html", PNG)
    assert png.name == "foto_factura_PNG.png" and png.content_type == "image/png"
    assert uploads.safe_name("\u202egpj.exe", "pdf") == "gpj.pdf"
    assert uploads.safe_name("....", "jpg") == "attachment.jpg"
    assert uploads.safe_name("a" * 500, "pdf") == "a" * 76 + ".pdf"


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (b"", "empty"),
        (b"<html><script>alert(1)</script></html>", "must be a PDF"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "must be a PDF"),
        (b"PK\x03\x04 zip", "must be a PDF"),
        (PDF + b"x" * uploads.MAX_ATTACHMENT_BYTES, "over 5 MB"),
    ],
    ids=["empty", "html", "svg", "zip", "oversized"],
)
def test_uploads_refused(tmp_path, content, why) -> None:
    with pytest.raises(uploads.UploadRejected, match=why):
        uploads.store(tmp_path, "C1", "x.pdf", content)
    assert not any(p.is_file() for p in tmp_path.rglob("*"))


# -- Stripe --------------------------------------------------------------------------------------


def _event(**over) -> bytes:
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "payment_status": "paid",
        "amount_total": 750000050,
        "currency": "cop",
        "payment_intent": "pi_1",
        "metadata": {"customer_id": "C1", **split_metadata("invoice_ids", ["I1", "I2"])},
    }
    session.update(over)
    body = {"id": "evt_1", "type": "checkout.session.completed", "created": 1, "data": {"object": session}}
    return json.dumps(body).encode()


def test_stripe_signature_verification() -> None:
    body, secret, t = _event(), "whsec_test", int(NOW.timestamp())
    assert verify_signature(secret, body, sign(secret, body, t), now=t + 10)["id"] == "evt_1"
    # several v1 (secret rotation): one match is enough
    header = sign("whsec_old", body, t) + "," + sign(secret, body, t).split(",")[1]
    assert verify_signature(secret, body, header, now=t)["type"] == "checkout.session.completed"
    cases = {
        "missing": None,
        "forged": sign("whsec_other", body, t),
        "altered body": sign(secret, body.replace(b"750000050", b"1"), t),
        "too old (replay)": sign(secret, body, t - 301),
        "future": sign(secret, body, t + 301),
        "no v1": f"t={t},v0=abc",
        "no timestamp": "v1=" + sign(secret, body, t).split("v1=")[1],
    }
    for why, header in cases.items():
        with pytest.raises(SignatureError):
            verify_signature(secret, body, header, now=t)
            pytest.fail(why)


def test_paid_checkout_reads_the_invoices_and_amount() -> None:
    paid = paid_checkout(json.loads(_event()))
    assert paid is not None
    assert (paid.customer_id, paid.invoice_ids, paid.currency) == ("C1", ("I1", "I2"), "COP")
    assert paid.amount == Decimal("7500000.50")
    assert paid_checkout(json.loads(_event(payment_status="unpaid"))) is None
    assert paid_checkout({"id": "evt", "type": "charge.refunded", "data": {}}) is None
    with pytest.raises(ValueError, match="metadata"):
        paid_checkout(json.loads(_event(metadata={})))


def test_stripe_form_encoding_and_metadata_split() -> None:
    pairs = encode_form({"mode": "payment", "line_items": [{"price_data": {"currency": "mxn"}, "quantity": 1}]})
    assert pairs == [
        ("mode", "payment"),
        ("line_items[0][price_data][currency]", "mxn"),
        ("line_items[0][quantity]", "1"),
    ]
    ids = [f"INV-{i:06d}" for i in range(200)]
    meta = split_metadata("invoice_ids", ids)
    assert len(meta) > 1 and all(len(v) <= 500 for v in meta.values())
    assert join_metadata(meta, "invoice_ids") == ids
    assert minor_units(Decimal("12.34"), "USD") == 1234 and minor_units(Decimal("5000"), "CLP") == 5000


def test_token_expiry_is_utc() -> None:
    token = tokens.mint(SECRET, "C1", ttl=timedelta(minutes=5), now=datetime(2026, 1, 1, tzinfo=UTC))
    assert tokens.verify(SECRET, token, now=datetime(2026, 1, 1, 0, 4, tzinfo=UTC)).customer_id == "C1"

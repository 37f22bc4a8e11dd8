"""Pay links through Stripe Checkout: create a Checkout Session, verify the signed payment webhook.

Follows Stripe's API contract (docs "Create a Checkout Session", "Check the webhook signatures"):

- ``POST /v1/checkout/sessions``, form-encoded with Stripe's bracket notation
  (``line_items[0][price_data][currency]=mxn``, ``...[unit_amount]=125000`` in the currency's minor
  unit, zero-decimal currencies such as CLP as they are, ``...[product_data][name]``,
  ``line_items[0][quantity]=1``, ``mode=payment``, ``success_url``, ``cancel_url``,
  ``client_reference_id``, ``metadata[...]``), authenticated with the secret key as a bearer token,
  with an ``Idempotency-Key`` header (the same key returns the same session, so a double click or a
  retry after a time-out never opens two checkouts). The answer's ``id`` and ``url`` are the session
  and the page to send the payer to. Errors are ``{"error": {"type", "code", "message", "param"}}``.
- Webhooks carry ``Stripe-Signature: t=<unix>,v1=<hex>[,v1=...]`` where ``v1`` is
  HMAC-SHA256(endpoint secret, ``f"{t}.{raw body}"``); an event is accepted when one ``v1`` matches
  (constant-time) and ``t`` is within the tolerance (300 s by default, as Stripe's libraries) of now,
  so a captured delivery cannot be replayed later. ``checkout.session.completed`` (and
  ``checkout.session.async_payment_succeeded``) with ``payment_status = "paid"`` is a payment; the
  session's ``metadata`` names the customer and the invoices (Stripe limits a metadata value to 500
  characters, so long invoice lists are split over ``invoice_ids``, ``invoice_ids_2``, ...).

This module only moves bytes and checks signatures; what a payment means for dunning is decided in
``ml.inbound.portal_events``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx

#: Stripe's zero-decimal currencies (amounts are sent as they are, not in cents).
ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
DEFAULT_TOLERANCE_S = 300
METADATA_VALUE_MAX = 500
PAID_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")


class PaymentProviderError(RuntimeError):
    """The provider refused or failed a request (the message carries its error type, code and text)."""


class SignatureError(ValueError):
    """A webhook whose ``Stripe-Signature`` is missing, malformed, wrong or outside the tolerance."""


@dataclass(frozen=True)
class LineItem:
    """One thing paid for: a name, an amount (Decimal, major units) and its currency."""

    name: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class CheckoutSession:
    """A created session: its id and the checkout page URL."""

    id: str
    url: str


def minor_units(amount: Decimal, currency: str) -> int:
    """An amount in the currency's smallest unit as Stripe counts it (cents, or as is for zero-decimal)."""
    if currency.upper() in ZERO_DECIMAL:
        return int(amount.quantize(Decimal(1)))
    return int((amount * 100).quantize(Decimal(1)))


def from_minor_units(value: int, currency: str) -> Decimal:
    """The reverse of :func:`minor_units`."""
    return Decimal(value) if currency.upper() in ZERO_DECIMAL else Decimal(value) / 100


def split_metadata(name: str, values: Sequence[str]) -> dict[str, str]:
    """Comma-joined ``values`` under ``name``, ``name_2``, ... so no value passes Stripe's 500 characters."""
    out: dict[str, str] = {}
    chunk: list[str] = []
    for v in values:
        if chunk and len(",".join([*chunk, v])) > METADATA_VALUE_MAX:
            out[name if not out else f"{name}_{len(out) + 1}"] = ",".join(chunk)
            chunk = []
        chunk.append(v)
    if chunk:
        out[name if not out else f"{name}_{len(out) + 1}"] = ",".join(chunk)
    return out


def join_metadata(metadata: Mapping[str, Any], name: str) -> list[str]:
    """The values :func:`split_metadata` spread over ``name``, ``name_2``, ..."""
    out: list[str] = []
    n = 1
    while (value := metadata.get(name if n == 1 else f"{name}_{n}")) is not None:
        out += [v for v in str(value).split(",") if v]
        n += 1
    return out


def encode_form(params: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Stripe's bracket form encoding of nested dicts and lists."""
    pairs: list[tuple[str, str]] = []
    for k, v in params.items():
        name = f"{prefix}[{k}]" if prefix else str(k)
        if isinstance(v, Mapping):
            pairs += encode_form(v, name)
        elif isinstance(v, list | tuple):
            for i, item in enumerate(v):
                if isinstance(item, Mapping):
                    pairs += encode_form(item, f"{name}[{i}]")
                else:
                    pairs.append((f"{name}[{i}]", str(item)))
        elif v is not None:
            pairs.append((name, str(v)))
    return pairs


class StripeCheckout:
    """A small client of Stripe's Checkout Sessions API.

    Args:
        api_base: ``https://api.stripe.com`` in production; the emulator's URL in tests and demos.
        secret_key: The account's secret key (``sk_...``).
        timeout_s: Per-request time-out.
        client: An httpx client to send through (tests pass an in-process one), else a new one.
    """

    def __init__(
        self, api_base: str, secret_key: str, *, timeout_s: float = 10.0, client: httpx.Client | None = None
    ) -> None:
        self.api_base = api_base.rstrip("/")
        self._key = secret_key
        self._client = client or httpx.Client(timeout=timeout_s)

    @property
    def checkout_origins(self) -> tuple[str, ...]:
        """Origins the payer's browser is sent to (for the portal's CSP ``form-action``)."""
        if self.api_base.startswith("https://api.stripe.com"):
            return ("https://checkout.stripe.com",)
        return (self.api_base,)

    def create_session(
        self,
        items: Sequence[LineItem],
        *,
        success_url: str,
        cancel_url: str,
        idempotency_key: str,
        metadata: Mapping[str, str],
        client_reference_id: str | None = None,
        locale: str | None = None,
    ) -> CheckoutSession:
        """Create a one-off payment session.

        Raises:
            PaymentProviderError: The provider answered an error, or did not answer.
            ValueError: No items, or items in more than one currency.
        """
        currencies = {i.currency.upper() for i in items}
        if not items or len(currencies) != 1:
            raise ValueError(f"a checkout needs items in exactly one currency, got {sorted(currencies) or 'none'}")
        params: dict[str, Any] = {
            "mode": "payment",
            "success_url": success_url,
            "cancel_url": cancel_url,
            "client_reference_id": client_reference_id,
            "locale": locale,
            "metadata": dict(metadata),
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": i.currency.lower(),
                        "unit_amount": minor_units(i.amount, i.currency),
                        "product_data": {"name": i.name[:250]},
                    },
                }
                for i in items
            ],
        }
        try:
            resp = self._client.post(
                f"{self.api_base}/v1/checkout/sessions",
                data=dict(encode_form(params)),
                headers={"Authorization": f"Bearer {self._key}", "Idempotency-Key": idempotency_key},
            )
        except httpx.HTTPError as exc:
            raise PaymentProviderError(f"checkout provider at {self.api_base} did not answer: {exc}") from exc
        body = _json(resp)
        if resp.status_code != 200:
            err = body.get("error") if isinstance(body.get("error"), dict) else {}
            raise PaymentProviderError(
                f"checkout session refused ({resp.status_code} {err.get('type')}/{err.get('code')}): "
                f"{err.get('message')}"
            )
        if not isinstance(body.get("id"), str) or not isinstance(body.get("url"), str):
            raise PaymentProviderError("checkout provider answered without a session id or url")
        return CheckoutSession(body["id"], body["url"])

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()


def _json(resp: httpx.Response) -> dict[str, Any]:
    try:
        body = resp.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def sign(secret: str, payload: bytes, timestamp: int) -> str:
    """The ``Stripe-Signature`` header Stripe would send (used by the emulator and by tests)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    secret: str, payload: bytes, header: str | None, *, tolerance_s: int = DEFAULT_TOLERANCE_S, now: float | None = None
) -> dict[str, Any]:
    """Check a webhook's ``Stripe-Signature`` and return the parsed event.

    Raises:
        SignatureError: No header, no timestamp or ``v1``, no matching signature, a timestamp outside
            the tolerance, or a signed body that is not a JSON event object.
    """
    if not header or len(header) > 2048:
        raise SignatureError("no Stripe-Signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        k, _, v = part.strip().partition("=")
        if k == "t" and v.isdigit():
            timestamp = int(v)
        elif k == "v1":
            candidates.append(v)
    if timestamp is None or not candidates:
        raise SignatureError("Stripe-Signature has no timestamp or no v1 signature")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected.encode(), c.encode("utf-8", "replace")) for c in candidates):
        raise SignatureError("no Stripe-Signature v1 matches the body (forged, altered or another secret)")
    age = (now if now is not None else time.time()) - timestamp
    if abs(age) > tolerance_s:
        raise SignatureError(f"Stripe-Signature timestamp is {int(age)} s from now (tolerance {tolerance_s} s)")
    try:
        event = json.loads(payload)
    except (ValueError, RecursionError) as exc:
        raise SignatureError("the signed body is not JSON") from exc
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise SignatureError("the signed body is not a Stripe event (no id or type)")
    return event


@dataclass(frozen=True)
class Payment:
    """A paid checkout as the webhook tells it."""

    event_id: str
    session_id: str
    customer_id: str
    invoice_ids: tuple[str, ...]
    amount: Decimal
    currency: str
    payment_intent: str | None
    created: int


def paid_checkout(event: Mapping[str, Any]) -> Payment | None:
    """The payment a verified event reports, or None for an event that is not a paid checkout.

    Raises:
        ValueError: A paid checkout event without the metadata our sessions carry (customer, invoices).
    """
    if event.get("type") not in PAID_EVENTS:
        return None
    obj = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    if not isinstance(obj, dict) or obj.get("payment_status") != "paid":
        return None
    meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    invoices = tuple(join_metadata(meta, "invoice_ids"))
    customer = meta.get("customer_id")
    currency = str(obj.get("currency") or "").upper()
    amount = obj.get("amount_total")
    if not customer or not invoices or not currency or not isinstance(amount, int):
        raise ValueError("paid checkout without customer_id/invoice_ids metadata, currency or amount_total")
    return Payment(
        event_id=str(event["id"]),
        session_id=str(obj.get("id")),
        customer_id=str(customer),
        invoice_ids=invoices,
        amount=from_minor_units(amount, currency),
        currency=currency,
        payment_intent=obj.get("payment_intent") if isinstance(obj.get("payment_intent"), str) else None,
        created=int(event.get("created") or 0),
    )

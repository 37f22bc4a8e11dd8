"""Is a phone number or an e-mail address usable at all? (the contract's ``contact_point`` columns)

A contact point that cannot reach anyone must never be used: an SMS to ``+12`` or an e-mail to
``daniel clark@@ironbridge`` either fails at the provider or, worse, reaches a stranger. The loader
calls :func:`check` for every distinct value of a contact-point column; an invalid value lands as
NULL (so the decision engine cannot pick that channel for the contact, while the contact's other
channels and the customer proceed) and its record is quarantined with the reason.

Phones are parsed with ``phonenumbers`` (Google's libphonenumber metadata): the value must carry its
country code (``+``, the contract says E.164) and be a valid number for that country; a valid number
written with spaces or dashes is stored in E.164 form. E-mail addresses get an RFC 5322 / 6531
syntax check with ``email-validator`` (no DNS: the run is offline and a lookup is not a syntax
question). The values themselves are masked in reasons and logs (issue 16: no PII in logs).
"""

from __future__ import annotations

from dataclasses import dataclass

import phonenumbers
from email_validator import EmailNotValidError, validate_email


@dataclass(frozen=True)
class Verdict:
    """The outcome for one value: the value to store (None: unusable) and why it was refused."""

    value: str | None
    reason: str | None = None


def mask(value: str) -> str:
    """A recognisable but non-identifying form of a phone or e-mail, for reasons and logs.

    ``+5215512345678`` -> ``+52*********78``; ``daniel.clark@acme.mx`` -> ``d***@acme.mx``.
    """
    text = str(value)
    at = text.find("@")
    if at >= 0:
        return (text[:1] + "***" if at > 0 else "") + text[at:]
    if len(text) <= 4:
        return text[:2] + "*" * (len(text) - 2)
    return text[:3] + "*" * (len(text) - 5) + text[-2:]


def check_phone(value: str) -> Verdict:
    """Validate a phone number as E.164 (with its ``+`` country code); return it in E.164 form."""
    text = value.strip()
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException as exc:
        return Verdict(None, f"'{mask(text)}' is not a phone number ({exc.args[0] if exc.args else exc})")
    if not phonenumbers.is_valid_number(number):
        return Verdict(None, f"'{mask(text)}' is not a valid phone number for its country code")
    return Verdict(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def check_email(value: str) -> Verdict:
    """Check an e-mail address's syntax (no DNS); return it trimmed."""
    text = value.strip()
    try:
        validate_email(text, check_deliverability=False)
    except EmailNotValidError as exc:
        return Verdict(None, f"'{mask(text)}' is not a valid e-mail address ({exc})")
    return Verdict(text)


def check(kind: str, value: str) -> Verdict:
    """Validate ``value`` as a contact point of ``kind`` (``e164`` or ``email``)."""
    if kind == "e164":
        return check_phone(value)
    if kind == "email":
        return check_email(value)
    raise ValueError(f"unknown contact point kind {kind!r}; use 'e164' or 'email'")

"""Suite ``raw_crm__contacts``: contact persons and their consent (``raw_crm.contacts``).

Consent flags and role are critical: a null consent must never be read as consent, and only debtors
and guarantors may be contacted (DESIGN.md §10). A phone or e-mail that is not a usable address
never reaches this table: the loader lands it as NULL and quarantines it with the reason
(``connectors.contact_points``: libphonenumber validity, e-mail syntax), so no channel uses it. The
format checks here stay as warnings, a second look at what the loader let through.
"""

from __future__ import annotations

from datetime import date

from connectors.contracts import CONTACTS
from expectations import builders as b
from expectations._gx import gxe
from expectations.reference import DATE_FLOOR, E164_REGEX, EMAIL_REGEX, iana_timezones

TABLE = CONTACTS.table
KEY = CONTACTS.primary_key

CONSENT_COLUMNS = ("consent_email", "consent_whatsapp", "consent_sms", "consent_call")


def build(as_of: date) -> list[gxe.Expectation]:
    """Expectations for ``raw_crm.contacts`` as of ``as_of``."""
    rules = [
        *b.columns_exist(CONTACTS.column_names),
        *b.primary_key(KEY),
        *b.not_null(["customer_id", "role", "timezone", *CONSENT_COLUMNS], "critical"),
        *[b.in_set(c, (False, True), "critical") for c in CONSENT_COLUMNS],
        b.in_set("role", ("debtor", "guarantor", "other"), "critical"),
        *b.not_null(["full_name", "language", "updated_at"], "warning"),
        gxe.ExpectColumnValuesToMatchRegex(column="phone", regex=E164_REGEX, **b.warning()),
        gxe.ExpectColumnValuesToMatchRegex(column="email", regex=EMAIL_REGEX, **b.warning()),
        b.in_set("language", ("es", "en", "pt"), "warning"),
        b.in_set("preferred_channel", ("email", "whatsapp", "sms", "call"), "warning"),
        gxe.ExpectColumnValuesToBeBetween(column="preferred_hour", min_value=0, max_value=23, **b.warning()),
        b.date_between("updated_at", DATE_FLOOR, b.latest_event_date(as_of), "warning"),
    ]
    zones = iana_timezones()
    if zones:
        rules.append(b.in_set("timezone", zones, "critical"))
    return rules

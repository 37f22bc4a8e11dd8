"""Configuration of the HubSpot CRM source (CONNECTORS.md §3.1).

The access token (private-app / service-key token, or an OAuth access token) is a ``SecretStr``
resolved by ``connectors.secrets``: ``COBRANZA_HUBSPOT__ACCESS_TOKEN``, else the Prefect Secret
block ``cobranza-hubspot-access-token``; never written in code or YAML. API version, limits and
property names are configuration because HubSpot changes them.

Property mapping (contract column <- HubSpot property). Contacts use HubSpot's standard
``firstname``/``lastname``/``email``/``phone``/``hs_language`` plus custom properties the
integration creates in the portal (group "Cobranza"): ``cobranza_customer_id`` (the ERP customer
key), ``cobranza_role``, ``cobranza_timezone`` (IANA name; HubSpot's own ``hs_timezone`` uses its
own enumeration), ``cobranza_consent_{email,whatsapp,sms,call}`` (booleans),
``cobranza_preferred_channel`` and ``cobranza_preferred_hour``.

Interactions live in a **custom object** (``interactions_object``; its fully-qualified name such as
``p1234_collection_interactions`` or its objectTypeId such as ``2-3456789``), one record per logged
touch, with ``cobranza_*`` properties. We chose a custom object over engagements (notes, calls,
communications) because a collection touch has typed fields (channel, outcome, promised date and
amount) that engagements only carry as free text, and because custom objects are searchable with
the same ``/search`` contract and ``hs_lastmodifieddate`` cursor as contacts.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from connectors.secrets import EnvConfig

ENV_PREFIX = "COBRANZA_HUBSPOT__"

CONTACT_PROPERTIES: dict[str, str] = {
    "customer_id": "cobranza_customer_id",
    "role": "cobranza_role",
    "email": "email",
    "phone": "phone",
    "language": "hs_language",
    "timezone": "cobranza_timezone",
    "consent_email": "cobranza_consent_email",
    "consent_whatsapp": "cobranza_consent_whatsapp",
    "consent_sms": "cobranza_consent_sms",
    "consent_call": "cobranza_consent_call",
    "preferred_channel": "cobranza_preferred_channel",
    "preferred_hour": "cobranza_preferred_hour",
    "updated_at": "lastmodifieddate",
}

INTERACTION_PROPERTIES: dict[str, str] = {
    "customer_id": "cobranza_customer_id",
    "contact_id": "cobranza_contact_id",
    "channel": "cobranza_channel",
    "direction": "cobranza_direction",
    "occurred_at": "cobranza_occurred_at",
    "outcome": "cobranza_outcome",
    "promised_date": "cobranza_promised_date",
    "promised_amount": "cobranza_promised_amount",
}


class HubSpotConfig(EnvConfig):
    """How to reach one HubSpot portal.

    Attributes:
        base_url: API root (``https://api.hubapi.com``).
        access_token: Bearer token.
        objects_path: ``/crm/v3/objects`` (legacy) or a dated path such as ``/crm/objects/2026-03``.
        page_size: Search ``limit`` (HubSpot allows at most 200).
        search_cap: Results one search may page through (HubSpot: 10,000); longer scans restart
            from the last modification instant seen (a new time window).
        lookback_days: Incremental contact reads start at the watermark minus this window.
        rate_limit_per_s: Client-side pace (search is limited to about 5 requests/s per account).
        max_attempts: Attempts per request on 429/5xx/connection errors.
        retry_after_cap: Longest ``Retry-After`` honoured, seconds.
        backoff_base: Base of the exponential back-off, seconds.
        max_bad_fraction: A page with a larger share of unreadable records is refused whole as
            mis-mapped; fewer bad records are quarantined one by one.
        max_pages: Pages one read may take (over all its windows) before it stops as a runaway.
        timeout: Read timeout, seconds.
        connect_timeout: Connect timeout, seconds.
        firstname_property: Property holding the first name.
        lastname_property: Property holding the last name.
        contact_properties: Contract column -> contact property.
        contacts_modified_property: Cursor property of contacts.
        interactions_object: Custom object holding collection interactions.
        interaction_properties: Contract column -> interaction property (the id is the record id).
        interactions_modified_property: Cursor property of the custom object.
    """

    env_section: ClassVar[str] = "HUBSPOT"
    label: ClassVar[str] = "HubSpot source"

    base_url: str = "https://api.hubapi.com"
    access_token: SecretStr
    objects_path: str = "/crm/v3/objects"
    page_size: int = Field(200, ge=1, le=200)
    search_cap: int = Field(10_000, ge=1)
    lookback_days: int = Field(1, ge=0)
    rate_limit_per_s: float | None = Field(4.0, gt=0)
    max_attempts: int = Field(6, ge=1)
    retry_after_cap: float = Field(15.0, ge=0)
    backoff_base: float = Field(1.0, ge=0)
    max_bad_fraction: float = Field(0.5, ge=0, le=1)
    max_pages: int = Field(100_000, ge=1)
    timeout: float = Field(60.0, gt=0)
    connect_timeout: float = Field(5.0, gt=0)
    firstname_property: str = "firstname"
    lastname_property: str = "lastname"
    contact_properties: dict[str, str] = Field(default_factory=lambda: dict(CONTACT_PROPERTIES))
    contacts_modified_property: str = "lastmodifieddate"
    interactions_object: str = "collection_interactions"
    interaction_properties: dict[str, str] = Field(default_factory=lambda: dict(INTERACTION_PROPERTIES))
    interactions_modified_property: str = "hs_lastmodifieddate"

    @field_validator("base_url", "objects_path")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.rstrip("/")

"""Configuration of the Odoo source (CONNECTORS.md §2.1).

The API key is a ``SecretStr`` resolved by ``connectors.secrets``: ``COBRANZA_ODOO__API_KEY``, else
the Prefect Secret block ``cobranza-odoo-api-key``; never a literal in code or YAML
(``cobranza.settings`` refuses secrets in the file). ``OdooConfig.from_env()`` reads every other
field from ``COBRANZA_ODOO__<FIELD>`` variables.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator

from connectors.secrets import EnvConfig

ENV_PREFIX = "COBRANZA_ODOO__"


class OdooConfig(EnvConfig):
    """How to reach one Odoo database over JSON-RPC.

    Attributes:
        url: Base URL of the Odoo server (``https://acme.odoo.com``); ``/jsonrpc`` is appended.
        db: Database name.
        login: User login (e-mail) of the integration user.
        api_key: API key (Odoo 14+) or password of that user.
        page_size: Records per ``search_read`` page.
        timeout: Read timeout per request, seconds.
        connect_timeout: Connect timeout, seconds.
        lookback_days: Incremental reads start at the watermark minus this window.
        rate_limit_per_s: Max requests per second (self-hosted Odoo documents no limit).
        max_attempts: Attempts per request on 429/5xx/connection errors.
        customer_key: What identifies a customer in the warehouse: the partner's database ``id``
            (default) or its ``ref`` (Internal Reference), when other systems (the CRM) key
            customers by that code. With ``ref``, invoices resolve their partner's ref with one
            extra batched read per page (cached).
        max_pages: Pages one read may take before it stops as a runaway (a server ignoring the
            keyset); far above any real database (pages x ``page_size`` records).
        max_bad_fraction: A page with a larger share of unreadable records is refused whole as
            mis-mapped; fewer bad records are quarantined one by one. Higher than the file default
            because an incremental page can hold only a handful of records.
        customer_domain: Extra ``res.partner`` domain selecting bill-to customers.
    """

    env_section: ClassVar[str] = "ODOO"
    label: ClassVar[str] = "Odoo source"

    url: str
    db: str
    login: str
    api_key: SecretStr
    page_size: int = Field(500, ge=1, le=10_000)
    timeout: float = Field(60.0, gt=0)
    connect_timeout: float = Field(5.0, gt=0)
    lookback_days: int = Field(3, ge=0)
    rate_limit_per_s: float | None = Field(None, gt=0)
    max_attempts: int = Field(5, ge=1)
    customer_key: Literal["id", "ref"] = "id"
    max_bad_fraction: float = Field(0.5, ge=0, le=1)
    max_pages: int = Field(100_000, ge=1)
    customer_domain: list = Field(default_factory=lambda: [["customer_rank", ">", 0], ["is_company", "=", True]])

    @field_validator("url")
    @classmethod
    def _no_trailing_slash(cls, v: str) -> str:
        return v.rstrip("/")

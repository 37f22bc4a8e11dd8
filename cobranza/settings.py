"""Cobranza configuration: one settings model, one optional YAML file, environment overrides.

Precedence (highest first): explicit overrides passed by the CLI, environment variables
``COBRANZA_<COMPONENT>__<FIELD>`` (e.g. ``COBRANZA_WAREHOUSE__DUCKDB_PATH``), the YAML file named by
``COBRANZA_CONFIG`` (default ``cobranza.yaml`` in the working directory, if present), then the
embedded defaults below, which run the whole pipeline locally on simulator data.

Only ``flows/`` and the CLI read settings; ``connectors`` and ``ml`` take explicit arguments.
Secrets are never read from the YAML file (a secret found there is refused). Connector credentials
(Odoo, HubSpot, SQL, SMTP, Twilio, WhatsApp) are not settings: they are ``SecretStr`` fields of the
connectors' own config models, resolved by ``connectors.secrets`` from ``COBRANZA_<SECTION>__<FIELD>``
or the Prefect Secret block ``cobranza-<section>-<field>``. The one secret here,
``webhooks.token_secret``, is read from the environment only (else a generated key file).
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

CONFIG_ENV = "COBRANZA_CONFIG"
DEFAULT_CONFIG_FILE = "cobranza.yaml"


class WarehouseSettings(BaseModel):
    """Where the warehouse lives, and the bounds of every DuckDB connection the pipeline opens (dbt's too)."""

    duckdb_path: Path = Field(Path("data/warehouse.duckdb"), description="DuckDB database file.")
    memory_limit: str = Field(
        "3GB",
        description="DuckDB memory_limit (e.g. 3GB, 80%): past it DuckDB spills to temp_directory. "
        "3GB keeps a profile-L daily run under the 4 GiB of DESIGN.md §9 (bench/RESULTS.md, issue 19).",
    )
    threads: int = Field(2, ge=1, description="DuckDB worker threads per connection (and dbt-duckdb's).")
    temp_directory: Path = Field(
        Path("data/duckdb_tmp"), description="Where DuckDB spills what does not fit in memory_limit."
    )


class SimulatorSettings(BaseModel):
    """The built-in synthetic AR world used when no real source is configured."""

    enabled: bool = Field(True, description="Generate source extracts with the simulator before ingesting.")
    profile: Literal["S", "M", "L"] = Field("S", description="S=1k, M=20k, L=200k customers.")
    seed: int = Field(42, description="Random seed: same seed and as-of date give identical files.")
    start_date: date = Field(date(2024, 11, 1), description="First day of the simulated history.")
    n_customers: int | None = Field(
        None, gt=0, description="Customers in the world instead of the profile's (small worlds for tests and checks)."
    )


class SourcesSettings(BaseModel):
    """Where the raw data comes from.

    Files (the simulator's extracts, or real exports described by a column mapping) are the
    default for every system. The ERP can instead be read from its database (``erp: sql`` with a
    SQL source YAML; URL in ``COBRANZA_SQL__URL``) or from Odoo's JSON-RPC API (``erp: odoo``;
    ``COBRANZA_ODOO__URL/DB/LOGIN/API_KEY``), and the CRM from a HubSpot-style API
    (``crm: hubspot``; ``COBRANZA_HUBSPOT__ACCESS_TOKEN`` and ``..._BASE_URL``). Each credential may
    instead live in a Prefect Secret block (``cobranza-sql-url``, ``cobranza-odoo-api-key``, ...). Bank statement
    files (camt.053/054, MT940) dropped in ``<landing_dir>/bank/statements/`` are always read.
    """

    landing_dir: Path = Field(
        Path("data/sources"), description="Folder with erp/, crm/ and bank/ extracts (the simulator writes here)."
    )
    mapping: Path | None = Field(
        None, description="Column-mapping YAML for the file connector; default maps the simulator's extracts."
    )
    erp: Literal["files", "sql", "odoo"] = Field("files", description="How the ERP streams are read.")
    crm: Literal["files", "hubspot"] = Field("files", description="How the CRM streams are read.")
    sql_config: Path | None = Field(None, description="SQL source YAML (tables, column mappings) when erp=sql.")
    max_future_skew_minutes: int = Field(
        15,
        ge=0,
        description="A record whose updated_at lies further past the run's clock is quarantined and never "
        "moves a watermark (source clocks drift a little; 2099 is a keying error).",
    )
    required_streams: list[str] = Field(
        ["raw_erp.customers", "raw_erp.invoices", "raw_crm.contacts"],
        description="Raw tables without which no run can proceed: empty after ingestion (every file set "
        "aside, nothing landed before) stops the run before any contact.",
    )
    max_source_age_days: dict[str, int] = Field(
        {"raw_erp.invoices": 7},
        description="A stale source stops the run: the newest updated_at of these raw tables may lie at most "
        "this many days before the run date (an ERP whose invoices have not changed for a week has stopped "
        "delivering, and dunning from it would chase what was paid or cancelled since).",
    )


class ModelSettings(BaseModel):
    """Delinquency model (XGBoost, tracked in MLflow)."""

    tracking_uri: str = Field("sqlite:///data/mlflow.db", description="MLflow tracking URI.")
    artifact_location: Path = Field(Path("data/mlartifacts"), description="MLflow artifact root.")
    late_days: int = Field(30, description="An invoice is 'late' if paid more than N days after due.")
    test_days: int = Field(90, description="Length of the time-based test (and validation) window in days.")
    retrain_after_days: int = Field(
        7, description="The daily run retrains when the champion is older than this (weekly retrain also does)."
    )
    dask_scheduler: str | None = Field(
        None, description="Dask scheduler address (e.g. tcp://10.0.0.5:8786): train through xgboost.dask on it."
    )
    drift_psi_threshold: float = Field(
        0.25, gt=0, description="PSI of a feature or of the score above which drift is flagged and a retrain is due."
    )
    drift_window_days: int = Field(
        30, ge=1, description="Drift compares invoices issued in the last N days with the training reference."
    )
    explain_top_k: int = Field(3, ge=1, description="Top contributing features stored per scored invoice.")


class NbaSettings(BaseModel):
    """Next-best-action value, capacity and experiment settings.

    The contact rules (windows, holidays, spacing, caps) are the per-country profiles of
    ``ml.nba.compliance``, changed only through approved ``relaxations``.
    """

    agents: int = Field(2, ge=0, description="Collectors available for call tasks (capacity = agents x calls).")
    calls_per_agent: int = Field(40, ge=0, description="Calls one collector makes a day.")
    control_share: float = Field(0.10, ge=0, le=1, description="Share of customers on the static ladder (control).")
    control_salt: str = Field("cobranza-control", description="Salt of the stable control-group hash.")
    costs_usd: dict[str, float] = Field(
        default_factory=lambda: {"email": 0.02, "whatsapp": 0.06, "sms": 0.05, "call": 3.0, "escalate": 120.0},
        description="Cost per action kind in USD (email, whatsapp, sms, call, escalate).",
    )
    min_gain_usd: float = Field(1.0, ge=0, description="A contact must beat waiting by this expected value (USD).")
    pay_on_response: float = Field(0.6, ge=0, le=1, description="P(payment in the horizon | customer engaged).")
    promise_grace_days: int = Field(3, ge=0, description="A promise to pay suppresses dunning until date + grace.")
    exploration_seed: int = Field(42, description="Seed of the Thompson-sampling draws (combined with the date).")
    relaxations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Approved contact-rule relaxations per segment: relaxation_id, segment, approved_by, "
        "approved_on, reason, overrides, optional country (ml.nba.compliance.Relaxation).",
    )


class ChannelsSettings(BaseModel):
    """Where contact tasks go.

    Each task channel picks a provider; ``dry_run`` (the default for all) renders messages to a file
    and contacts nobody. Provider connection settings and secrets are read from the environment
    (``COBRANZA_SMTP__*``, ``COBRANZA_WHATSAPP__*``, ``COBRANZA_TWILIO__*``/``TWILIO_*``,
    ``COBRANZA_HUBSPOT__*``) or Prefect Secret blocks, never from this file.
    """

    mode: Literal["dry_run"] = Field("dry_run", description="dry_run writes rendered messages to a file.")
    outbox_dir: Path = Field(Path("data/outbox"), description="Folder for the dry-run channel's message files.")
    payment_link_base: str = Field("", description="Base URL of the payment link put in messages (optional).")
    email: Literal["dry_run", "smtp"] = Field("dry_run", description="Provider of email tasks.")
    whatsapp: Literal["dry_run", "whatsapp_cloud"] = Field("dry_run", description="Provider of WhatsApp tasks.")
    sms: Literal["dry_run", "twilio"] = Field("dry_run", description="Provider of SMS tasks.")
    call: Literal["dry_run", "hubspot"] = Field("dry_run", description="Where call tasks for collectors go.")
    internal: Literal["dry_run", "hubspot"] = Field("dry_run", description="Where internal review tasks go.")
    inbound_dir: Path = Field(Path("data/inbound"), description="Spool of webhook events (delivery, read, replies).")
    max_attempts: int = Field(5, ge=1, description="Sends of a task before it is dead-lettered.")
    unknown_ttl_hours: float = Field(48, gt=0, description="Hours an unconfirmable send waits before dead-letter.")
    webhook_public_url: str = Field("", description="Public base URL of the webhook receiver (signature checks).")


class WebhooksSettings(BaseModel):
    """The webhook receiver (``cobranza receiver``) and the one-click unsubscribe links it verifies.

    Providers must reach it over HTTPS: run it behind a reverse proxy and set
    ``channels.webhook_public_url`` to the public URL they call (Twilio signs that URL).

    The token secret signs unsubscribe links (HMAC-SHA256): set ``COBRANZA_WEBHOOKS__TOKEN_SECRET``
    (shared by the senders and the receiver), or leave it unset and one is generated at first run in
    ``key_file`` (mode 0600). Anyone holding it can unsubscribe anyone: never put it in the YAML file.
    """

    token_secret: SecretStr | None = Field(None, description="Secret of the unsubscribe links (env only).")
    key_file: Path = Field(
        Path("data/secrets/unsubscribe.key"), description="Where the generated unsubscribe secret is kept (0600)."
    )
    link_max_age_days: int = Field(400, ge=30, description="Days an unsubscribe link keeps working (30+).")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest webhook body accepted (else 413).")
    clock: str = Field(
        "wall",
        description="Clock stamping events whose provider sends no time: 'wall', or 'file:<path>' (a harness's "
        "accelerated clock, connectors.clock).",
    )
    host: str = Field("127.0.0.1", description="Interface `cobranza receiver` listens on (0.0.0.0: all).")
    port: int = Field(8000, ge=1, le=65535, description="Port `cobranza receiver` listens on.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies whose X-Forwarded-For/-Proto headers are trusted (comma-separated addresses, or *).",
    )
    graceful_timeout_s: float = Field(
        30, gt=0, description="At SIGTERM, longest wait for webhook requests in flight before the receiver exits."
    )
    mail_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port of the inbound e-mail (SMTP) listener run beside the receiver (None: none).",
    )
    mail_host: str = Field("127.0.0.1", description="Interface the inbound e-mail listener listens on.")
    mail_domains: list[str] = Field(
        default_factory=list,
        description="Domains the inbound e-mail listener receives for (default: COBRANZA_SMTP__REPLY_TO's).",
    )
    mail_max_bytes: int = Field(10 * 1024 * 1024, ge=1024, description="Largest inbound e-mail accepted (else 552).")


class CompanySettings(BaseModel):
    """The company's own clock: the business date of a run, its schedules and its holidays.

    A run's business date is the date in ``timezone`` (a run at 23:30 in Mexico City is still that
    day, though UTC has moved on), every deployment's schedule is in that zone, and a run on one of
    ``country``'s public holidays does what ``on_holiday`` says: ``skip`` decides nothing new (data is
    still refreshed; the dispatcher, inbound and bank sync go on, so contacts decided on business
    days still go out inside their lawful windows), ``run`` treats it as a business day,
    ``dispatch_only`` makes the daily run only dispatch (no ingest, build, score or decide). The
    contacts' own countries' holidays are contact rules (``ml.nba.compliance``), not this.
    """

    timezone: str = Field("America/Mexico_City", description="IANA time zone of the business date and schedules.")
    country: str = Field("MX", description="ISO 3166-1 country whose public holidays are company holidays.")
    on_holiday: Literal["skip", "run", "dispatch_only"] = Field(
        "skip",
        description="A daily run on a company holiday: skip (decide nothing new; dispatch, inbound and bank "
        "sync go on), run (a business day), dispatch_only (the daily run only dispatches).",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r}: use an IANA name such as America/Mexico_City") from None
        return v

    @field_validator("country")
    @classmethod
    def _known_country(cls, v: str) -> str:
        import holidays

        code = v.strip().upper()
        if code not in holidays.list_supported_countries():
            raise ValueError(f"no public-holiday calendar for country {v!r}: use an ISO 3166-1 code such as MX")
        return code


class QualitySettings(BaseModel):
    """Great Expectations gates."""

    gx_root: Path = Field(Path("data/gx"), description="Validation results and Data Docs (generated).")


class AlertsSettings(BaseModel):
    """Early warnings (``flows/alerts.py``, ``ml/alerts``): how long a finding is news, the daily cap, the scorer.

    The deterministic signals' thresholds are dbt vars (``alert_*``) with their defaults in the
    models of ``dbt_project/models/intermediate/alerts``.
    """

    lookback_days: int = Field(7, ge=1, description="A finding whose evidence completed within this many days is news.")
    max_share: float = Field(0.01, gt=0, le=1, description="At most this share of customers alerted a day (ranked).")
    behaviour_z: float = Field(3.0, gt=0, description="Robust z-score of lateness vs the customer's own history.")
    behaviour_min_shift_days: float = Field(30.0, ge=0, description="Smallest lateness shift (days) that is a break.")


class ServiceSettings(BaseModel):
    """Cobranza as a service: the operational store, the published read copy, the locks and the schedules.

    The warehouse has one writer at a time (the daily run, the bank sync: they hold the warehouse lock
    for their whole run); the dispatcher and the inbound flow work on the small operational store
    (outbox, webhook events, inbound interactions, the serving tables of the pre-send re-check), opened
    only briefly under its own lock; readers (report, retrain, notebooks, dbt docs) open the published copy.
    """

    ops_path: Path = Field(Path("data/ops.duckdb"), description="Operational store (DuckDB): outbox, events, inbound.")
    published_path: Path = Field(
        Path("data/published/warehouse.duckdb"), description="Read-only copy of the warehouse every writer publishes."
    )
    warehouse_lock_timeout_s: float = Field(
        1800, gt=0, description="Longest wait of a warehouse writer for another one to finish, in seconds."
    )
    ops_lock_timeout_s: float = Field(120, gt=0, description="Longest wait for the operational store, in seconds.")
    dispatch_interval_minutes: int = Field(5, ge=1, description="Minutes between two dispatcher passes.")
    inbound_interval_minutes: int = Field(
        1, ge=1, description="Minutes between two inbound passes (the agent answers a message within one pass)."
    )


class Settings(BaseSettings):
    """All Cobranza settings. See README 'Configuration' for the generated reference."""

    model_config = SettingsConfigDict(env_prefix="COBRANZA_", env_nested_delimiter="__", extra="forbid")

    data_dir: Path = Field(Path("data"), description="Root for generated data; relative paths below resolve here.")
    warehouse: WarehouseSettings = WarehouseSettings()
    simulator: SimulatorSettings = SimulatorSettings()
    sources: SourcesSettings = SourcesSettings()
    model: ModelSettings = ModelSettings()
    nba: NbaSettings = NbaSettings()
    channels: ChannelsSettings = ChannelsSettings()
    webhooks: WebhooksSettings = WebhooksSettings()
    quality: QualitySettings = QualitySettings()
    company: CompanySettings = CompanySettings()
    service: ServiceSettings = ServiceSettings()
    alerts: AlertsSettings = AlertsSettings()

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, v: Path) -> Path:
        return v.expanduser().resolve()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Init args, then env vars, then the YAML file."""
        return (init_settings, env_settings, _YamlSource(settings_cls))

    def resolve(self, path: Path) -> Path:
        """Resolve a configured path: default ``data/...`` paths live under ``data_dir``."""
        path = Path(path).expanduser()
        if path.is_absolute():
            return path
        if path.parts and path.parts[0] == "data":
            return self.data_dir.joinpath(*path.parts[1:])
        return (Path.cwd() / path).resolve()

    @property
    def duckdb_path(self) -> Path:
        """Absolute path of the DuckDB warehouse file."""
        return self.resolve(self.warehouse.duckdb_path)

    @property
    def ops_path(self) -> Path:
        """Absolute path of the operational store (``service.ops_path``)."""
        return self.resolve(self.service.ops_path)

    @property
    def published_path(self) -> Path:
        """Absolute path of the published read copy of the warehouse (``service.published_path``)."""
        return self.resolve(self.service.published_path)

    @property
    def tracking_uri(self) -> str:
        """MLflow tracking URI with a relative SQLite path resolved under ``data_dir``."""
        uri = self.model.tracking_uri
        prefix = "sqlite:///"
        if uri.startswith(prefix) and not uri.startswith(prefix + "/"):
            return prefix + str(self.resolve(Path(uri[len(prefix) :])))
        return uri


class _YamlSource(PydanticBaseSettingsSource):
    """Reads ``cobranza.yaml`` (or ``$COBRANZA_CONFIG``); refuses secrets written in the file."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # pragma: no cover
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        explicit = os.environ.get(CONFIG_ENV)
        path = Path(explicit) if explicit else Path(DEFAULT_CONFIG_FILE)
        if not path.exists():
            if explicit:
                raise FileNotFoundError(f"{CONFIG_ENV}={explicit}: no such config file; fix the path or unset it")
            return {}
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a mapping of settings at the top level")
        _refuse_secrets(data, str(path))
        return data


def _refuse_secrets(data: dict[str, Any], where: str, prefix: str = "") -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            _refuse_secrets(value, where, name + ".")
        elif any(word in key.lower() for word in ("password", "token", "secret", "api_key")) and value:
            env = "COBRANZA_" + name.upper().replace(".", "__")
            raise ValueError(f"{where}: secret '{name}' must not be in the config file; set {env} instead")


def load_settings(**overrides: Any) -> Settings:
    """Load settings with optional explicit overrides (the CLI's flags)."""
    return Settings(**overrides)

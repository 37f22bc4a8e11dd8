"""Configuration of the SQL-database source: a DSN and, per raw stream, a table or query and a mapping.

An ERP's own database (PostgreSQL, MariaDB/MySQL, anything SQLAlchemy speaks) is read stream by
stream. A configuration (YAML or Python) says where each raw stream's rows are and how their
columns map onto the stream's contract (``connectors.contracts``)::

    source: acme_erp_db                  # lineage value written to _source
    url: postgresql+psycopg://reader@erp-db:5432/erp   # or COBRANZA_SQL__URL / block cobranza-sql-url
    schema: accounting                   # default schema of unqualified tables
    streams:
      raw_erp.invoices:
        table: ar_invoice                # a table (optionally schema.table) ...
        columns:                         # contract column: source column (omitted = same name)
          invoice_id: id
          amount_open: residual
        cursor: write_date               # source column for incremental reads (default: the
                                         # contract cursor through 'columns')
        lookback_days: 3                 # re-read this window before the watermark
        chunk_rows: 100000               # rows per landed batch (per fetched batch with connectorx)
      raw_erp.customers:
        query: >-                        # ... or a SELECT, read as a subquery
          select p.id as customer_id, p.name, ... from partner p where p.is_customer

``reader`` picks how rows are fetched: ``auto`` (default) uses connectorx (Rust, binary protocol
straight into Arrow) on PostgreSQL and MariaDB/MySQL, falling back to PostgreSQL ``COPY`` or to
SQLAlchemy when connectorx cannot read a relation; ``connectorx``, ``copy`` (PostgreSQL only) and
``sqlalchemy`` force one path (no fallback). URLs with query options or ``connect_args`` (TLS
settings, say) always go through SQLAlchemy, which is the only path that honours them.

Credentials (``connectors.secrets``, as for every source and channel): the URL is a ``SecretStr``
from the YAML, else ``COBRANZA_SQL__URL``, else the Prefect Secret block ``cobranza-sql-url``; the
password, when the URL carries none, from ``COBRANZA_SQL__PASSWORD`` or the block
``cobranza-sql-password`` (it replaces the URL's). A ``password`` key in the YAML is refused: keep
the file free of secrets and commit it. Neither is ever logged or put in an error; messages name
the DSN with the password replaced by ``***`` (``redacted_url``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from connectors.contracts import ALL_STREAMS, StreamContract, stream
from connectors.secrets import ConnectorConfigError, EnvConfig

DEFAULT_CHUNK_ROWS = 100_000


class SqlStreamConfig(BaseModel):
    """Where one raw stream's rows live in the database and how they map onto the contract."""

    model_config = ConfigDict(extra="forbid")

    table: str | None = Field(None, description="Table name, optionally schema-qualified (schema.table).")
    query: str | None = Field(None, description="A SELECT producing the rows; read as a subquery.")
    columns: dict[str, str] = Field(default_factory=dict, description="Contract column -> source column.")
    cursor: str | None = Field(None, description="Source column for incremental reads.")
    lookback_days: int = 3
    chunk_rows: int = Field(DEFAULT_CHUNK_ROWS, gt=0)
    max_bad_fraction: float = Field(
        0.05, description="More bad rows than this share of a chunk means a broken mapping: stop, not quarantine."
    )

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlStreamConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self

    def source_column(self, contract_column: str) -> str:
        """The source column feeding ``contract_column`` (its own name unless mapped)."""
        return self.columns.get(contract_column, contract_column)

    def cursor_column(self, contract: StreamContract) -> str | None:
        """The source column incremental reads filter on, if any."""
        if self.cursor:
            return self.cursor
        return self.source_column(contract.cursor) if contract.cursor else None


class SqlSourceConfig(EnvConfig):
    """A database and its streams (``url`` and ``password`` are credentials, see the module docstring)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    env_section: ClassVar[str] = "SQL"
    label: ClassVar[str] = "SQL source"

    source: str = "sql"
    url: SecretStr
    password: SecretStr | None = Field(None, description="Database password, when the URL carries none.")
    schema_name: str | None = Field(None, alias="schema")
    streams: dict[str, SqlStreamConfig]
    connect_args: dict[str, str | int | bool] = Field(default_factory=dict)
    reader: Literal["auto", "connectorx", "copy", "sqlalchemy"] = Field(
        "auto", description="How rows are fetched (see the module docstring)."
    )

    @model_validator(mode="after")
    def _known_streams_and_columns(self) -> SqlSourceConfig:
        for table, m in self.streams.items():
            contract = stream(table)
            unknown = set(m.columns) - set(contract.column_names)
            if unknown:
                raise ValueError(
                    f"stream {table}: unknown contract column(s) {sorted(unknown)}; valid: {contract.column_names}"
                )
        return self

    def sa_url(self) -> sa.URL:
        """The SQLAlchemy URL, with the project's drivers for bare ``postgresql://`` / ``mysql://``."""
        u = sa.make_url(self.url.get_secret_value())
        if self.password is not None:
            u = u.set(password=self.password.get_secret_value())
        if u.drivername in ("postgresql", "postgres"):
            u = u.set(drivername="postgresql+psycopg")
        elif u.drivername in ("mysql", "mariadb"):
            u = u.set(drivername=f"{u.drivername}+pymysql")
        return u

    def connectorx_url(self) -> str | None:
        """The URL in connectorx's form (``postgresql://`` / ``mysql://``), or None when it cannot take it.

        It carries the password: pass it to connectorx only, never to a log or a message. None for
        other dialects, and for URLs with query options or ``connect_args`` that only the
        SQLAlchemy drivers understand.
        """
        u = self.sa_url()
        scheme = {"postgresql": "postgresql", "mysql": "mysql", "mariadb": "mysql"}.get(u.get_backend_name())
        if scheme is None or u.query or self.connect_args:
            return None
        return u.set(drivername=scheme).render_as_string(hide_password=False)

    def redacted_url(self) -> str:
        """The DSN for messages: password replaced by ``***``."""
        try:
            return self.sa_url().render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - an unparsable URL must still not leak
            return "<unparsable database URL>"

    def contracts(self) -> list[tuple[StreamContract, SqlStreamConfig]]:
        """The configured streams in contract order (customers before invoices, and so on)."""
        order = {s.table: i for i, s in enumerate(ALL_STREAMS)}
        pairs = [(stream(t), m) for t, m in self.streams.items()]
        return sorted(pairs, key=lambda p: order[p[0].table])


def load_sql_config(path: Path) -> SqlSourceConfig:
    """Read and validate a SQL source YAML; credentials come from the environment or Prefect blocks.

    The YAML's values win; the URL (when the file has none) and the password come through
    ``EnvConfig.from_env``: ``COBRANZA_SQL__URL``/``__PASSWORD``, else the Prefect Secret blocks
    ``cobranza-sql-url``/``cobranza-sql-password``.

    Args:
        path: The YAML file.

    Returns:
        The validated configuration.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Invalid YAML or configuration, a password written in the file, or no URL
            anywhere (the message names the file, the entry, and the variable and block to set).
    """
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"SQL source config {path} not found") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping (source, url, schema, streams) at the top level")
    if raw.get("password"):
        raise ValueError(
            f"{path}: secret 'password' must not be in the SQL source file; set {SqlSourceConfig.env_var('password')} "
            f"or the Prefect Secret block {SqlSourceConfig.block_name('password')!r} instead"
        )
    try:
        return SqlSourceConfig.from_env(**raw)
    except ConnectorConfigError as exc:
        # Messages name fields, variables and blocks, never a value: a URL must never reach a log.
        raise ValueError(f"{path}: {exc}") from None


def erp_tables_config(
    url: str | SecretStr, schema: str, source: str = "erp_db", reader: str = "auto", **stream_options
) -> SqlSourceConfig:
    """The identity configuration for an ERP schema with the contract's table and column names.

    This is what ``simulator.sql_writer.write_erp_to_database`` writes. Payment allocations are
    read incrementally on ``recorded_at``.

    Args:
        url: Database URL.
        schema: Schema (PostgreSQL) or database (MariaDB) holding the tables.
        source: Lineage name (``_source``).
        reader: How rows are fetched (``auto``, ``connectorx``, ``copy``, ``sqlalchemy``).
        **stream_options: Extra ``SqlStreamConfig`` fields for every stream (e.g. ``chunk_rows``).

    Returns:
        The configuration for customers, invoices, credit_notes and payment_allocations.
    """
    streams = {
        "raw_erp.customers": SqlStreamConfig(table="customers", **stream_options),
        "raw_erp.invoices": SqlStreamConfig(table="invoices", **stream_options),
        "raw_erp.credit_notes": SqlStreamConfig(table="credit_notes", **stream_options),
        "raw_erp.payment_allocations": SqlStreamConfig(
            table="payment_allocations", cursor="recorded_at", **stream_options
        ),
    }
    secret = url if isinstance(url, SecretStr) else SecretStr(str(url))
    return SqlSourceConfig(source=source, url=secret, schema=schema, streams=streams, reader=reader)

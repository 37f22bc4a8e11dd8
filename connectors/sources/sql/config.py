"""Configuration of the SQL-database source: a DSN and, per raw stream, a table or query and a mapping.

An ERP's own database (PostgreSQL, MariaDB/MySQL, anything SQLAlchemy speaks) is read stream by
stream. A configuration (YAML or Python) says where each raw stream's rows are and how their
columns map onto the stream's contract (``connectors.contracts``)::

    source: acme_erp_db                  # lineage value written to _source
    url: postgresql+psycopg://reader:secret@erp-db:5432/erp   # or env COBRANZA_SQL__URL
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

The URL is a ``SecretStr``: it is never logged or put in an error; messages name the DSN with the
password replaced by ``***`` (``redacted_url``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from connectors.contracts import ALL_STREAMS, StreamContract, stream

URL_ENV_VAR = "COBRANZA_SQL__URL"
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


class SqlSourceConfig(BaseModel):
    """A database and its streams."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    source: str = "sql"
    url: SecretStr
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
    """Read and validate a SQL source YAML; the URL may come from ``COBRANZA_SQL__URL`` instead.

    Args:
        path: The YAML file.

    Returns:
        The validated configuration.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: Invalid YAML or configuration (the message names the file and the entry).
    """
    try:
        raw = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise FileNotFoundError(f"SQL source config {path} not found") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    if "url" not in raw and os.environ.get(URL_ENV_VAR):
        raw["url"] = os.environ[URL_ENV_VAR]
    try:
        return SqlSourceConfig.model_validate(raw)
    except ValidationError as exc:
        # pydantic would echo the input; a URL must never reach a log, so only locations and messages.
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path}: invalid SQL source config: {problems}") from None


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

"""SQL-database source: an ERP's own tables read incrementally onto the raw contracts.

Each configured stream is one table (or a SELECT) whose columns map onto a raw contract
(``connectors.sources.sql.config``). A read selects the mapped columns under their contract names,
``where <cursor> >= <since>`` (the stream's watermark minus its look-back window)
``order by <cursor>, <key>`` (no order when it lands as one batch), through one of three paths
(``SqlSourceConfig.reader``):

- **connectorx** (default on PostgreSQL and MariaDB/MySQL): the Rust client reads the servers' binary
  protocols straight into Arrow record batches of ``chunk_rows`` rows, spooled to an uncompressed
  Parquet file (flat memory) that the loader lands in one batch, like an export. The session runs in
  UTC, so zone-aware instants arrive in UTC and land naive. Decimals arrive as ``decimal128(38,10)``
  and are cast to the contract's scale only when exact: a value with more decimals makes the typed
  read fail and the raw read lets the loader quarantine that record. A relation connectorx cannot
  map (a ``NaN`` numeric, an exotic type) falls back to the next path with a warning. Limit: a
  source numeric with more than 10 decimals is rounded to 10 by connectorx before it is checked.
- **COPY** (PostgreSQL): ``COPY (SELECT ...) TO STDOUT`` as CSV into a temporary file read by DuckDB.
- **SQLAlchemy** (any dialect, and URLs with options or ``connect_args``): a server-side cursor
  (``stream_results`` + ``yield_per``), each chunk transposed to columns in C (``zip(*rows)``) and
  converted by ``pyarrow.array`` in one call per column to its contract type. ``Decimal`` values stay
  exact; a value that does not fit is passed on as text and typed, or quarantined, by
  ``connectors.load.land`` like any file value.

The database URL carries the password: connectorx gets it, no log line or error does (``redact``).

Streams without a contract cursor (append streams such as payment allocations) are re-read whole
unless the config names a source cursor that feeds a contract column (``recorded_at``): the loader
then keeps that column's maximum as the stream's watermark (``SqlStream.watermark_column``), the
next read starts there minus the look-back window, and only keys not seen before are inserted.

connectorx: https://sfu-db.github.io/connector-x/
SQLAlchemy: https://docs.sqlalchemy.org/en/20/core/connections.html#streaming-with-a-fixed-buffer-via-yield-per
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import sqlalchemy as sa

from connectors.base import Batch, SourceStream
from connectors.contracts import StreamContract
from connectors.load import SourceDataError
from connectors.sources.sql.config import SqlSourceConfig, SqlStreamConfig

log = logging.getLogger(__name__)


class SqlSourceError(SourceDataError):
    """The database cannot be reached or does not hold what the configuration says."""


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    return text.splitlines()[0] if text else type(orig).__name__


def arrow_type(contract_type: str) -> pa.DataType | None:
    """The Arrow type a contract column's driver values are converted to (None: let Arrow infer)."""
    t = contract_type.upper().replace(" ", "")
    if t.startswith("DECIMAL(") and t.endswith(")"):
        precision, scale = (int(x) for x in t[len("DECIMAL(") : -1].split(","))
        return pa.decimal128(precision, scale)
    return {
        "VARCHAR": pa.string(),
        "DATE": pa.date32(),
        "TIMESTAMP": pa.timestamp("us"),
        "INTEGER": pa.int64(),
        "BIGINT": pa.int64(),
        "BOOLEAN": pa.bool_(),
    }.get(t)


_CONVERSION_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError)


def column_to_arrow(values: Sequence[Any], type_: pa.DataType | None = None) -> pa.Array:
    """One column of driver values as an Arrow array in one call, exact for ``Decimal``.

    The contract's type is tried first (fast: Arrow infers ``Decimal`` precision value by value,
    which is two orders of magnitude slower). A value that does not fit it (three decimals in a
    money column, a ``NaN`` numeric, an integer id in a text column) makes the column fall back to
    Arrow's own inference or, failing that, to text, so the loader types it and quarantines the
    record that is wrong instead of the driver crashing the batch.

    Args:
        values: The column's Python values (``Decimal``, ``date``, ``datetime``, ``str``, ``int``, None).
        type_: The target Arrow type, if known. Zone-aware instants become naive UTC.

    Returns:
        The column as an Arrow array.
    """
    if type_ is not None:
        first = next((v for v in values if v is not None), None)
        if isinstance(first, str) and not pa.types.is_string(type_):
            # Drivers told to hand over text (see _driver_args) are parsed by Arrow's vectorised cast.
            text = pa.array(values, type=pa.string())
            try:
                return text.cast(type_)
            except _CONVERSION_ERRORS:
                return text
        try:
            return pa.array(values, type=type_)
        except _CONVERSION_ERRORS:
            pass
    arr = None
    if type_ is None or not pa.types.is_decimal(type_):
        try:
            arr = pa.array(values)
        except _CONVERSION_ERRORS:
            arr = None
    if arr is None:
        arr = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    if pa.types.is_timestamp(arr.type) and arr.type.tz is not None:
        arr = arr.cast(pa.timestamp(arr.type.unit))  # stored as UTC already: drop the zone, keep the instant
    return arr


def rows_to_arrow(
    names: Sequence[str], rows: Sequence[Sequence[Any]], types: Sequence[pa.DataType | None] | None = None
) -> pa.Table:
    """Transpose driver rows to an Arrow table (column-wise conversion, no per-row Python).

    Args:
        names: Column names.
        rows: Rows as returned by the driver (tuples or SQLAlchemy ``Row``s).
        types: Target Arrow type per column (None entries: inferred).

    Returns:
        The rows as an Arrow table.
    """
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    types = list(types) if types is not None else [None] * len(names)
    return pa.table([column_to_arrow(c, t) for c, t in zip(columns, types, strict=True)], names=list(names))


def _split_table(name: str, default_schema: str | None) -> tuple[str | None, str]:
    if "." in name:
        schema, table = name.split(".", 1)
        return schema, table
    return default_schema, name


def _driver_args(url: sa.URL) -> dict[str, Any]:
    """Driver options that keep reads fast.

    pymysql parses every DECIMAL, DATE and DATETIME in pure Python; handing them over as text and
    letting Arrow cast whole columns (``column_to_arrow``) is several times faster and just as exact.
    """
    if url.get_driver_name() == "pymysql":
        from pymysql.constants import FIELD_TYPE
        from pymysql.converters import conversions

        text_types = (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL, FIELD_TYPE.DATE, FIELD_TYPE.DATETIME)
        return {
            "conv": {k: v for k, v in conversions.items() if k not in (*text_types, FIELD_TYPE.TIMESTAMP)},
            # TIMESTAMP columns are shown in the session's zone: UTC, as the contracts store instants.
            "init_command": "SET time_zone = '+00:00'",
        }
    return {}


def _sa_dialect(name: str) -> sa.engine.Dialect:
    """A SQLAlchemy dialect (no driver import) to render a statement for connectorx."""
    from sqlalchemy.dialects import mysql, postgresql

    return mysql.dialect() if name == "mysql" else postgresql.dialect()


def _naive_utc_schema(schema: pa.Schema) -> pa.Schema:
    """The schema with zone-aware timestamps as naive (UTC) ones, as the contracts store instants."""
    return pa.schema(
        [f.with_type(pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) and f.type.tz else f for f in schema]
    )


def _naive_utc(columns: Sequence[pa.Array]) -> list[pa.Array]:
    return [c.cast(pa.timestamp(c.type.unit)) if pa.types.is_timestamp(c.type) and c.type.tz else c for c in columns]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _exact_cast(name: str, type_: pa.DataType, contract_type: str | None) -> str:
    """DuckDB select item: a decimal cast to the contract's DECIMAL(p,s) that fails rather than round."""
    target = arrow_type(contract_type) if contract_type else None
    if target is None or not pa.types.is_decimal(target) or not pa.types.is_decimal(type_) or type_ == target:
        return _q(name)
    col = _q(name)
    message = f"{name}: value with more than {target.scale} decimals".replace("'", "''")
    return (
        f"case when {col} <> round({col}, {target.scale}) then error('{message}') "
        f"else {col}::DECIMAL({target.precision},{target.scale}) end as {col}"
    )


@dataclass
class SqlStream:
    """One raw stream read from a table or query of the source database."""

    contract: StreamContract
    config: SqlStreamConfig
    source: SqlSource

    @property
    def lookback_days(self) -> int:
        """Merge look-back window (from the config)."""
        return self.config.lookback_days

    @property
    def max_bad_fraction(self) -> float:
        """Share of bad rows above which a chunk is refused whole."""
        return self.config.max_bad_fraction

    @property
    def watermark_column(self) -> str | None:
        """For an append stream read on a source cursor, the contract column the loader keeps the watermark of.

        Append streams have no contract cursor, so without this every sync would re-read them whole;
        with it (payment allocations on ``recorded_at``) a sync reads from the last ``recorded_at``
        landed minus the look-back window, and the loader still inserts only keys it has not seen.
        """
        if self.contract.cursor or not self.config.cursor:
            return None
        return next(
            (c.name for c in self.contract.columns if self.config.source_column(c.name) == self.config.cursor), None
        )

    @property
    def relation_name(self) -> str:
        """The table (schema-qualified) or ``query`` for messages."""
        if self.config.table is None:
            return f"query of {self.contract.table}"
        schema, table = _split_table(self.config.table, self.source.config.schema_name)
        return f"{schema}.{table}" if schema else table

    def available_columns(self) -> list[str]:
        """The source relation's column names (cached); raises ``SqlSourceError`` when it does not exist."""
        return self.source.relation_columns(self)

    def resolve(self, name: str) -> str | None:
        """The source column called ``name`` (exact, else case-insensitive), or None."""
        cols = self.available_columns()
        if name in cols:
            return name
        folded = {c.lower(): c for c in cols}
        return folded.get(name.lower())

    def missing_columns(self) -> list[str]:
        """Source columns the contract requires (non-nullable, cursor, key) that the relation lacks."""
        needed = [self.config.source_column(c.name) for c in self.contract.columns if not c.nullable]
        cursor = self.config.cursor_column(self.contract)
        if cursor:
            needed.append(cursor)
        return sorted({n for n in needed if self.resolve(n) is None})

    def statement(self, since: datetime | None) -> sa.Select:
        """The SELECT of one read: mapped columns under contract names, filtered and ordered on the cursor."""
        cols = self.available_columns()
        if self.config.table is not None:
            schema, table = _split_table(self.config.table, self.source.config.schema_name)
            rel = sa.table(table, *(sa.column(c) for c in cols), schema=schema)
        else:
            rel = sa.text(self.config.query).columns(*(sa.column(c) for c in cols)).subquery("src")
        picked = []
        for c in self.contract.columns:
            src = self.resolve(self.config.source_column(c.name))
            if src is not None:
                picked.append(rel.c[src].label(c.name))
        stmt = sa.select(*picked).select_from(rel)
        cursor = self.config.cursor_column(self.contract)
        order = []
        if cursor:
            cur = rel.c[self.resolve(cursor) or cursor]
            if since is not None:
                stmt = stmt.where(cur >= sa.bindparam("since", since))
            order.append(cur)
        for k in self.contract.primary_key:
            src = self.resolve(self.config.source_column(k))
            if src is not None:
                order.append(rel.c[src])
        return stmt.order_by(*order)

    def read(self, watermark: datetime | None) -> Iterator[Batch]:
        """Rows changed since ``watermark`` minus the look-back window.

        One spooled batch with connectorx or COPY; chunks of ``chunk_rows`` rows, oldest first, with
        SQLAlchemy.
        """
        since = watermark - timedelta(days=self.lookback_days) if watermark is not None else None
        if since is not None and not self.config.cursor_column(self.contract):
            since = None
        stmt = self.statement(since)
        where = f" where {self.config.cursor_column(self.contract)} >= {since.isoformat(sep=' ')}" if since else ""
        base = f"{self.source.config.redacted_url()} {self.relation_name}{where}"
        reader = self.source.config.reader
        cx_url = self.source.config.connectorx_url() if reader in ("auto", "connectorx") else None
        if reader == "connectorx" and cx_url is None:
            raise SqlSourceError(
                f"{base}: reader 'connectorx' needs a PostgreSQL or MariaDB/MySQL URL without query options or "
                "connect_args; set reader to 'auto' or 'sqlalchemy' in the SQL source config"
            )
        if cx_url is not None:
            spool = self._fetch_connectorx(cx_url, stmt, base, strict=reader == "connectorx")
            if spool is not None:
                yield from self._land_spool(spool, base)
                return
        engine = self.source.engine()
        is_pg = engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
        if reader == "copy" and not is_pg:
            raise SqlSourceError(
                f"{base}: reader 'copy' needs a postgresql+psycopg URL; set reader to 'auto' in the SQL source config"
            )
        if is_pg and reader in ("auto", "copy"):
            yield from self._read_postgres_copy(engine, stmt, since, base)
            return
        yield from self._read_sqlalchemy(engine, stmt, base)

    def _read_sqlalchemy(self, engine: sa.Engine, stmt: sa.Select, base: str) -> Iterator[Batch]:
        """General path: a server-side cursor, ``chunk_rows`` rows per Arrow batch."""
        chunk = self.config.chunk_rows
        with engine.connect() as conn:
            try:
                result = conn.execution_options(stream_results=True, yield_per=chunk).execute(stmt)
            except sa.exc.SQLAlchemyError as exc:
                raise SqlSourceError(
                    f"{base}: query failed ({_first_line(exc)}); check the table, columns and cursor in the config"
                ) from None
            names = list(result.keys())
            declared = {c.name: arrow_type(c.type) for c in self.contract.columns}
            types = [declared.get(n) for n in names]
            first = 1
            for rows in result.partitions(chunk):
                table = rows_to_arrow(names, rows, types)
                origin = f"{base} rows {first}-{first + table.num_rows - 1}"
                first += table.num_rows
                yield Batch(origin=origin, table=table)
        log.info("%s: read %d row(s) from %s", self.contract.table, first - 1, base)

    def _fetch_connectorx(
        self, cx_url: str, stmt: sa.Select, base: str, *, strict: bool
    ) -> tuple[Path, pa.Schema, int] | None:
        """Fetch the whole read with connectorx into a temporary Parquet file (flat memory).

        connectorx speaks the servers' binary protocols in Rust and hands over Arrow record batches
        of ``chunk_rows`` rows, which are appended to an uncompressed Parquet file; the loader then
        reads it in one batch, as it does an export. The session runs in UTC so zone-aware values
        (MySQL ``TIMESTAMP``, PostgreSQL ``timestamptz``) arrive as UTC instants.

        Returns:
            ``(file, schema, rows)``, or None when connectorx cannot read this relation (a type it
            does not map, such as a ``NaN`` numeric) and ``strict`` is off: the caller falls back.

        Raises:
            SqlSourceError: connectorx failed and ``strict`` is on (message without credentials).
        """
        try:
            import connectorx as cx
            import pyarrow.parquet as pq
        except ImportError:
            if strict:
                raise SqlSourceError(f"{base}: reader 'connectorx' needs the connectorx package installed") from None
            return None
        is_mysql = cx_url.startswith("mysql://")
        dialect = _sa_dialect("mysql" if is_mysql else "postgresql")
        # The read lands as one batch, so row order does not matter: no ORDER BY (a server-side sort of
        # the whole table costs more than the transfer itself on MariaDB).
        sql = str(stmt.order_by(None).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
        pre = "SET time_zone = '+00:00'" if is_mysql else "SET TIME ZONE 'UTC'"
        fd, tmp_name = tempfile.mkstemp(prefix="cobranza-cx-", suffix=".parquet")
        os.close(fd)
        tmp = Path(tmp_name)
        rows = 0
        try:
            reader = cx.read_sql(
                cx_url, sql, return_type="arrow_stream", batch_size=self.config.chunk_rows, pre_execution_query=pre
            )
            schema = _naive_utc_schema(reader.schema)
            with pq.ParquetWriter(tmp, schema, compression="none", use_dictionary=False) as writer:
                for batch in reader:
                    if batch.num_rows:
                        writer.write_batch(pa.RecordBatch.from_arrays(_naive_utc(batch.columns), schema=schema))
                        rows += batch.num_rows
        except (KeyboardInterrupt, SystemExit, GeneratorExit):
            tmp.unlink(missing_ok=True)
            raise
        except BaseException as exc:  # noqa: BLE001 - connectorx raises RuntimeError, or a PanicException (a BaseException) mid-stream
            tmp.unlink(missing_ok=True)
            reason = self.source.redact(_first_line(exc))
            if strict:
                raise SqlSourceError(
                    f"{base}: connectorx read failed ({reason}); check the table, columns and cursor in the config, "
                    "or set reader to 'auto'"
                ) from None
            log.warning("%s: connectorx cannot read it (%s); falling back to the driver path", base, reason)
            return None
        return tmp, schema, rows

    def _land_spool(self, spool: tuple[Path, pa.Schema, int], base: str) -> Iterator[Batch]:
        """One batch over the connectorx Parquet file: typed read first, raw read as fallback."""
        tmp, schema, rows = spool
        try:
            log.info("%s: read %d row(s) from %s (connectorx)", self.contract.table, rows, base)
            if not rows:
                return
            path = str(tmp).replace("'", "''")
            declared = {c.name: c.type for c in self.contract.columns}
            typed = ", ".join(_exact_cast(f.name, f.type, declared.get(f.name)) for f in schema)
            yield Batch(
                origin=f"{base} (connectorx)",
                # Decimals arrive as decimal128(38,10): cast to the contract's scale only when exact.
                # A value with more decimals stops the typed read; the raw read then lets the loader
                # quarantine that record with its reason and land the rest.
                sql=f"select {typed} from read_parquet('{path}')",
                fallback_sql=f"select * from read_parquet('{path}')",
            )
        finally:
            tmp.unlink(missing_ok=True)

    def _read_postgres_copy(
        self, engine: sa.Engine, stmt: sa.Select, since: datetime | None, base: str
    ) -> Iterator[Batch]:
        """PostgreSQL fast path: ``COPY (SELECT ...) TO STDOUT`` as CSV into a temporary file.

        Row-by-row fetching through the DB-API costs ~10 us a row in Python; COPY streams the same
        rows as text at the server's speed, and DuckDB reads and types the file like any export
        (money stays exact: it is parsed from its decimal text).
        """
        compiled = stmt.compile(dialect=engine.dialect)
        params = {k: v for k, v in compiled.params.items()}
        if since is not None:
            params["since"] = since
        copy_sql = f"COPY ({compiled}) TO STDOUT WITH (FORMAT csv, HEADER true)"
        fd, tmp_name = tempfile.mkstemp(prefix="cobranza-pgcopy-", suffix=".csv")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, engine.raw_connection() as raw:
                cur = raw.cursor()
                try:
                    # Instants come out in UTC (+00), so a typed read of the CSV keeps them right.
                    cur.execute("set time zone 'UTC'")
                    with cur.copy(copy_sql, params or None) as copy:
                        for data in copy:
                            out.write(data)
                except Exception as exc:  # psycopg errors carry the server message
                    raise SqlSourceError(
                        f"{base}: COPY failed ({_first_line(exc)}); check the table, columns and cursor in the config"
                    ) from None
            path = str(tmp).replace("'", "''")
            # DECIMAL stays text: DuckDB's CSV reader would round 12.345 to 12.35 silently, while the
            # loader's text path quarantines a value with more decimals than the contract keeps.
            declared = {
                c.name: ("VARCHAR" if c.type.upper().startswith("DECIMAL") else c.type) for c in self.contract.columns
            }
            names = [col.name for col in compiled.statement.selected_columns]
            types = ", ".join(f"'{n}': '{declared.get(n, 'VARCHAR')}'" for n in names)
            yield Batch(
                origin=f"{base} (COPY)",
                # Typed read first (fast: the loader passes typed columns through); if a value does
                # not parse, the text read lands the rest and quarantines it with the reason.
                sql=f"select * from read_csv('{path}', header = true, columns = {{{types}}})",
                fallback_sql=f"select * from read_csv('{path}', header = true, all_varchar = true)",
            )
        finally:
            tmp.unlink(missing_ok=True)


@dataclass
class SqlSource:
    """A database (an ERP's own) and the raw streams configured on it."""

    config: SqlSourceConfig
    _engine: sa.Engine | None = field(default=None, init=False, repr=False)
    _columns: dict[str, list[str]] = field(default_factory=dict, init=False, repr=False)

    @property
    def name(self) -> str:
        """Lineage name (``_source``)."""
        return self.config.source

    def engine(self) -> sa.Engine:
        """The SQLAlchemy engine (created on first use)."""
        if self._engine is None:
            url = self.config.sa_url()
            args = {**_driver_args(url), **self.config.connect_args}
            self._engine = sa.create_engine(url, connect_args=args, pool_pre_ping=True)
        return self._engine

    def close(self) -> None:
        """Release the engine's connections."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def redact(self, text: str) -> str:
        """``text`` with the URL's password (raw and URL-encoded) replaced by ``***``."""
        password = self.config.sa_url().password
        if password:
            from urllib.parse import quote

            for form in {str(password), quote(str(password), safe="")}:
                text = text.replace(form, "***")
        return text

    def relation_columns(self, stream: SqlStream) -> list[str]:
        """Column names of a stream's table or query (cached per source)."""
        key = stream.config.table or stream.config.query or ""
        if key in self._columns:
            return self._columns[key]
        dsn = self.config.redacted_url()
        try:
            if stream.config.table is not None:
                schema, table = _split_table(stream.config.table, self.config.schema_name)
                insp = sa.inspect(self.engine())
                if not insp.has_table(table, schema=schema):
                    raise SqlSourceError(
                        f"{dsn}: table {stream.relation_name} (stream {stream.contract.table}) does not exist; "
                        "check 'table' and 'schema' in the SQL source config"
                    )
                cols = [c["name"] for c in insp.get_columns(table, schema=schema)]
            else:
                probe = (
                    sa.select(sa.text("*")).select_from(sa.text(f"({stream.config.query}) as src")).where(sa.false())
                )
                with self.engine().connect() as conn:
                    cols = list(conn.execute(probe).keys())
        except SqlSourceError:
            raise
        except sa.exc.SQLAlchemyError as exc:
            raise SqlSourceError(
                f"{dsn}: cannot read {stream.relation_name} for {stream.contract.table} ({_first_line(exc)})"
            ) from None
        self._columns[key] = cols
        return cols

    def check(self) -> None:
        """Connect, then verify every stream's table (or query) and required columns exist.

        Raises:
            SqlSourceError: Naming the DSN (password redacted), the table and the missing columns.
        """
        dsn = self.config.redacted_url()
        self._columns.clear()
        try:
            with self.engine().connect() as conn:
                conn.execute(sa.text("select 1")).fetchall()
        except sa.exc.SQLAlchemyError as exc:
            message = self.redact(_first_line(exc))
            raise SqlSourceError(
                f"cannot connect to {dsn} ({message}); check host, port, credentials and that the server is up"
            ) from None
        for s in self.streams():
            missing = s.missing_columns()
            if missing:
                raise SqlSourceError(
                    f"{dsn}: {s.relation_name} lacks column(s) {', '.join(missing)} needed by {s.contract.table} "
                    f"(found: {', '.join(s.available_columns())}); map them under 'columns' (or 'cursor') "
                    "in the SQL source config"
                )

    def streams(self) -> list[SourceStream]:
        """The configured streams in contract order."""
        return [SqlStream(c, m, self) for c, m in self.config.contracts()]

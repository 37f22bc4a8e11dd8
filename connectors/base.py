"""Source-connector protocols and the one sync loop every source goes through.

In the spirit of singer_sdk / dlt: a connector is mostly declarations. A ``Source`` knows how to
``check`` that it can reach its system and which ``streams`` it offers; a ``SourceStream`` names the
raw contract it fills and yields ``Batch``es (an Arrow table, or a DuckDB query for files DuckDB
reads itself) given the stream's last durable watermark. ``sync`` lands every batch through
``connectors.load.land`` (typing, quarantine, idempotent merge/append, watermark in the same
transaction), so no connector writes to the warehouse on its own.

A batch that cannot be read at all (an unparseable file, a page that is not JSON) raises
``SourceDataError`` (or arrives with ``error`` set, when the reader could already tell: an empty
file, gzip or an HTML page named ``.csv``); ``sync`` records it in ``quarantine.raw_files`` with the
reason and its content hash, logs a WARNING naming it, and goes on with the other batches and streams
unless ``fail_fast`` is set, and reports it in the result. A file set aside is not read again while
its content is unchanged (it is reported as still quarantined); a corrected file lands.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

import duckdb
import pyarrow as pa

from connectors import state
from connectors.contracts import StreamContract
from connectors.load import DEFAULT_FUTURE_SKEW, LandResult, SourceDataError, land

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """One unit of landing: a file, an API page range or a SQL chunk.

    Attributes:
        origin: Where it came from (file path, URL + cursor, table + range), used in errors,
            quarantine rows and the ``_file`` lineage column.
        table: The rows as Arrow, with source column names (mapped in ``columns``).
        sql: Alternatively a DuckDB query producing the rows (file readers use this).
        fallback_sql: A slower query over the same rows used when ``sql`` cannot be read, e.g. a
            typed CSV read that meets a malformed value: the text read then lands the good rows and
            quarantines the bad one with its reason.
        sha256: Content hash; a batch with a hash already landed for the stream is skipped.
        read_key: Fingerprint of how the batch is read (e.g. the column mapping); with ``sha256`` it
            keys a file set aside, so the same bytes read the same way are not read again, while a
            corrected mapping reads them anew.
        columns: Contract column -> source column, where names differ.
        constants: Contract column -> literal value.
        date_format: strptime format of DATE values (ISO when None).
        timestamp_format: strptime format of TIMESTAMP values (ISO when None).
        decimal_separator: ``,`` when amounts are written with a decimal comma (``1.234,56``).
        error: Set by a stream that read the file but found it unusable (empty, an HTML page, a
            truncated statement): ``sync`` quarantines the file with this reason, lands nothing of
            it and goes on with the next batch.
        warnings: Problems found in a batch that still lands (a statement whose balances do not
            add up); ``sync`` logs them at WARNING and reports them in the result.
    """

    origin: str
    table: pa.Table | None = None
    sql: str | None = None
    fallback_sql: str | None = None
    sha256: str | None = None
    read_key: str = ""
    columns: dict[str, str] = field(default_factory=dict)
    constants: dict[str, object] = field(default_factory=dict)
    date_format: str | None = None
    timestamp_format: str | None = None
    decimal_separator: str = "."
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@runtime_checkable
class SourceStream(Protocol):
    """A stream of one source: which contract it fills and how to read it incrementally."""

    contract: StreamContract
    lookback_days: int
    max_bad_fraction: float

    def read(self, watermark: datetime | None) -> Iterator[Batch]:
        """Yield batches with records changed since ``watermark`` (minus the look-back window)."""
        ...


@runtime_checkable
class Source(Protocol):
    """A source system (ERP, CRM, bank) and its streams."""

    name: str

    def check(self) -> None:
        """Raise a clear error (what, where, how to fix) when the source cannot be read."""
        ...

    def streams(self) -> list[SourceStream]:
        """The streams this source offers, in landing order."""
        ...


@dataclass
class SyncResult:
    """What one ``sync`` did: per-batch landing results and batches refused whole."""

    source: str
    landed: list[LandResult] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when no batch was refused."""
        return not self.refused

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return {
            "source": self.source,
            "landed": [r.as_dict() for r in self.landed],
            "refused": list(self.refused),
            "warnings": list(self.warnings),
        }


def records_table(rows: list[dict], contract: StreamContract) -> pa.Table:
    """Arrow table of exactly the contract's columns from API records, every value as text.

    Typing is left to ``connectors.load.land``, so a value the source sent malformed is quarantined
    with its record key and reason instead of failing the whole page.
    """
    return pa.Table.from_arrays(
        [pa.array([None if r.get(c) is None else str(r[c]) for r in rows], pa.string()) for c in contract.column_names],
        names=contract.column_names,
    )


def quarantine_batch(
    con: duckdb.DuckDBPyConnection,
    stream: str,
    origin: str,
    reason: str,
    sha256: str | None = None,
    key: str | None = None,
) -> None:
    """Record a batch that could not be read at all (kept for review, nothing of it landed).

    With its content hash (and ``key``, see ``Batch.read_key``), the same file read the same way is
    not read again on the next runs until it or its mapping changes.
    """
    state.ensure_state_tables(con)
    con.execute(
        "insert into quarantine.raw_files (quarantined_at, stream, origin, reason, file_sha256, quarantine_key) "
        "values (now()::timestamp, ?, ?, ?, ?, ?)",
        [stream, origin, reason, sha256, key],
    )


def _quarantine_key(batch: Batch) -> str | None:
    if not batch.sha256:
        return None
    return hashlib.sha256(f"{batch.sha256}|{batch.read_key}".encode()).hexdigest()


def sync(
    con: duckdb.DuckDBPyConnection,
    source: Source,
    *,
    streams: Iterable[str] | None = None,
    fail_fast: bool = False,
    clock: datetime | None = None,
    max_future_skew: timedelta = DEFAULT_FUTURE_SKEW,
) -> SyncResult:
    """Land every stream of ``source`` (or the named ones) into its raw table.

    Args:
        con: Warehouse connection.
        source: The source to read.
        streams: Raw table names to restrict to (default: all of the source's streams).
        fail_fast: Raise on the first unreadable batch instead of quarantining it and going on.
        clock: The run's clock (UTC, default now): cursors later than it plus ``max_future_skew``
            are quarantined and never move a watermark.
        max_future_skew: Tolerated clock drift of the source systems.

    Returns:
        Landing results and refused batches.

    Raises:
        SourceDataError: With ``fail_fast``, the first batch that cannot be read.
    """
    source.check()
    wanted = set(streams) if streams else None
    result = SyncResult(source.name)
    now = clock or datetime.now(UTC)
    limit = (now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now) + max_future_skew

    def refuse(table: str, origin: str, error: str, batch: Batch | None) -> None:
        if fail_fast:
            raise SourceDataError(error)
        quarantine_batch(
            con, table, origin, error, batch.sha256 if batch else None, _quarantine_key(batch) if batch else None
        )
        result.refused.append({"stream": table, "origin": origin, "error": error})
        log.warning("set aside (quarantine.raw_files): %s", error)

    for stream in source.streams():
        contract = stream.contract
        if wanted is not None and contract.table not in wanted:
            continue
        state.ensure_state_tables(con)
        watermark = state.get_watermark(con, source.name, contract.table)
        if watermark is not None and watermark > limit:
            # Left by a record from the future before such records were held back: asking for the
            # changes since 2099 would never see another one, so the stream is read in full once.
            log.warning("%s: watermark %s lies in the future; reading the stream in full", contract.table, watermark)
            watermark = None
        try:
            for batch in stream.read(watermark):
                key = _quarantine_key(batch)
                if key and (earlier := state.file_quarantined(con, contract.table, key)):
                    at, reason = earlier
                    result.refused.append(
                        {"stream": contract.table, "origin": batch.origin, "error": reason, "since": str(at)}
                    )
                    log.warning("%s: unchanged since set aside on %s, not read again: %s", batch.origin, at, reason)
                    continue
                if batch.error is not None:  # the stream read the file and found it unusable
                    refuse(contract.table, batch.origin, batch.error, batch)
                    continue
                for warning in batch.warnings:
                    result.warnings.append({"stream": contract.table, "origin": batch.origin, "warning": warning})
                    log.warning("%s", warning)
                try:
                    landed = _land_batch(con, source.name, stream, batch, clock=now, max_future_skew=max_future_skew)
                except SourceDataError as exc:
                    refuse(contract.table, batch.origin, str(exc), batch)
                    continue
                result.landed.append(landed)
        except SourceDataError as exc:  # raised by read() itself, e.g. a page that is not JSON
            if fail_fast:
                raise
            refuse(contract.table, source.name, str(exc), None)
    return result


def _land_batch(
    con: duckdb.DuckDBPyConnection,
    source: str,
    stream: SourceStream,
    batch: Batch,
    *,
    clock: datetime | None = None,
    max_future_skew: timedelta = DEFAULT_FUTURE_SKEW,
) -> LandResult:
    if batch.table is not None:
        view = "_batch_arrow"
        con.register(view, batch.table)
        sql = f"select * from {view}"
    elif batch.sql is not None:
        view, sql = None, batch.sql
    else:
        raise ValueError(f"{batch.origin}: a batch needs either an Arrow table or a SQL query")
    try:
        try:
            return _land(con, source, stream, batch, sql, clock, max_future_skew)
        except duckdb.Error:
            if batch.fallback_sql is None:
                raise
            log.info("%s: typed read failed, landing through the text read", batch.origin)
            return _land(con, source, stream, batch, batch.fallback_sql, clock, max_future_skew)
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise SourceDataError(
            f"{batch.origin}: cannot be read ({first}); the file is corrupted or truncated - re-export it and re-run"
        ) from None
    finally:
        if view:
            con.unregister(view)


def _land(
    con: duckdb.DuckDBPyConnection,
    source: str,
    stream: SourceStream,
    batch: Batch,
    sql: str,
    clock: datetime | None,
    max_future_skew: timedelta,
) -> LandResult:
    return land(
        con,
        stream.contract,
        sql,
        source=source,
        origin=batch.origin,
        origin_sha256=batch.sha256,
        columns=batch.columns,
        constants=batch.constants,
        date_format=batch.date_format,
        timestamp_format=batch.timestamp_format,
        lookback_days=stream.lookback_days,
        max_bad_fraction=stream.max_bad_fraction,
        watermark_column=getattr(stream, "watermark_column", None),
        clock=clock,
        max_future_skew=max_future_skew,
        decimal_separator=batch.decimal_separator,
    )

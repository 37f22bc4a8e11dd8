"""Landing into raw tables: typing against the contract, quarantine, idempotent merge/append.

Every source connector ends here. Given a DuckDB relation of the source's rows (already mapped to
contract column names), ``land`` casts each column to its contract type, sends records that do not
fit (unreadable value, missing required value, duplicate key in the batch, money with more than two
decimals) to ``quarantine.raw_records`` with the reason, and writes the rest to
``raw_<system>.<stream>``:

- ``merge`` streams (mutable records): a row replaces the stored one only when its cursor is newer;
- ``append`` streams (immutable events): only keys not seen before are inserted.

The batch, its quarantine rows, the file mark and the watermark commit in one transaction, so a
crash leaves either all or none of them, and re-running the same load changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import timedelta

import duckdb

from connectors import state
from connectors.contracts import LINEAGE_COLUMNS, StreamContract
from connectors.warehouse import transaction

log = logging.getLogger(__name__)

#: A time of day followed by a zone designator (Z, +02, -05:00): the value is an instant with an offset.
_OFFSET_AFTER_TIME = "[0-9]:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)? ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"

#: Below this many bad rows a batch is never refused whole, whatever the share (small API pages).
MIN_BAD_ROWS_TO_REFUSE = 20


class SourceDataError(Exception):
    """A source cannot be landed as it is; the message names the file/record and the fix."""


@dataclass
class LandResult:
    """What one landing did."""

    stream: str
    origin: str
    batch_id: str
    status: str  # loaded | skipped
    rows_read: int = 0
    rows_new: int = 0
    rows_quarantined: int = 0

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return asdict(self)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_raw_table(con: duckdb.DuckDBPyConnection, contract: StreamContract) -> None:
    """Create ``raw_<system>.<stream>`` with the contract's columns plus lineage, if missing.

    A table landed under an older contract gets the optional columns added since (null in the
    rows already there), so an existing warehouse keeps loading after the contract grows.
    """
    cols = [f"{_q(c.name)} {c.type}" for c in contract.columns]
    cols += [f"{_q(n)} {t}" for n, t in LINEAGE_COLUMNS.items()]
    con.execute(f"create schema if not exists {contract.schema}")
    con.execute(f"create table if not exists {contract.table} ({', '.join(cols)})")
    for col in contract.columns:
        if col.nullable:
            con.execute(f"alter table {contract.table} add column if not exists {_q(col.name)} {col.type}")


def _typed_expr(col, src: str, date_format: str | None, ts_format: str | None) -> tuple[str, list[str]]:
    """SQL that casts ``src`` (a VARCHAR expression) to the column type, and failure checks."""
    t = col.type.upper()
    if t == "DATE" and date_format:
        typed = f"try_strptime({src}, '{date_format}')::date"
    elif t == "TIMESTAMP" and ts_format:
        typed = f"try_strptime({src}, '{ts_format}')::timestamp"
    elif t == "TIMESTAMP":
        # Zone-qualified instants are converted to UTC (a plain cast would drop the offset);
        # naive ones are taken as UTC already.
        typed = (
            f"case when regexp_matches(trim({src}), '{_OFFSET_AFTER_TIME}') "
            f"then try_cast(trim({src}) as timestamptz) at time zone 'UTC' "
            f"else try_cast(trim({src}) as timestamp) end"
        )
    elif t == "BOOLEAN":
        typed = f"try_cast(lower(trim({src})) as boolean)"
    else:
        typed = f"try_cast(trim({src}) as {col.type})"
    checks = [
        f"case when {src} is not null and trim({src}) <> '' and ({typed}) is null "
        f"then '{col.name}: cannot read ''' || left({src}, 40) || ''' as {col.type}' end"
    ]
    if not col.nullable:
        checks.append(f"case when ({src} is null or trim({src}) = '') then '{col.name}: required value is missing' end")
    if t.startswith("DECIMAL"):
        checks.append(
            f"case when try_cast(trim({src}) as decimal(38,10)) <> try_cast(trim({src}) as {col.type}) "
            f"then '{col.name}: ''' || trim({src}) || ''' has more decimals than {col.type} keeps' end"
        )
    return typed, checks


def land(
    con: duckdb.DuckDBPyConnection,
    contract: StreamContract,
    source_sql: str,
    *,
    source: str,
    origin: str,
    origin_sha256: str | None = None,
    columns: dict[str, str] | None = None,
    constants: dict[str, object] | None = None,
    date_format: str | None = None,
    timestamp_format: str | None = None,
    lookback_days: int = 3,
    max_bad_fraction: float = 0.05,
    watermark_column: str | None = None,
) -> LandResult:
    """Type, quarantine and land one batch into the stream's raw table.

    Args:
        con: Open DuckDB connection to the warehouse.
        contract: The raw stream's contract.
        source_sql: A SQL query (or relation name) returning the source rows.
        source: Lineage name of the source system (``_source``).
        origin: The file or endpoint the batch came from, used in errors and ``_file``.
        origin_sha256: Content hash of the file; a file already landed is skipped.
        columns: Contract column -> source column; unmapped columns use their own name.
        constants: Contract column -> literal value for every row.
        date_format: strptime format of DATE values (ISO when None).
        timestamp_format: strptime format of TIMESTAMP values (ISO when None).
        lookback_days: Merge streams skip rows older than the watermark minus this window.
        max_bad_fraction: Above this share of bad rows the batch is refused as corrupted.
        watermark_column: For an append stream (no contract cursor), a column whose maximum is kept
            as the stream's watermark so its source can read only what is newer (e.g. ``recorded_at``).

    Returns:
        What was read, landed and quarantined.

    Raises:
        SourceDataError: The batch lacks required columns or is mostly unreadable.
    """
    state.ensure_state_tables(con)
    ensure_raw_table(con, contract)
    batch_id = uuid.uuid4().hex
    if origin_sha256 and state.file_already_loaded(con, contract.table, origin_sha256):
        log.info("%s: %s already loaded (same content), skipped", contract.table, origin)
        return LandResult(contract.table, origin, batch_id, "skipped")

    columns = dict(columns or {})
    constants = dict(constants or {})
    try:
        src_rel = con.sql(source_sql)
        available = set(src_rel.columns)
        source_types = {c: str(t).upper() for c, t in zip(src_rel.columns, src_rel.types, strict=True)}
    except duckdb.Error as exc:
        raise SourceDataError(
            f"{origin}: cannot be read ({_first_line(exc)}); "
            "the file is corrupted or truncated - re-export it and re-run"
        ) from None
    needed = {c.name: columns.get(c.name, c.name) for c in contract.columns if c.name not in constants}
    missing = sorted({src for name, src in needed.items() if src not in available and not _is_optional(contract, name)})
    if missing:
        raise SourceDataError(
            f"{origin}: missing column(s) {', '.join(missing)} required by {contract.table} "
            f"(found: {', '.join(sorted(available)) or 'none'}); fix the export or the column mapping"
        )

    select, reasons = [], []
    for col in contract.columns:
        if col.name in constants:
            src = "'" + str(constants[col.name]).replace("'", "''") + "'"
        elif (
            needed[col.name] in available
            and col.type.upper() != "VARCHAR"
            and source_types[needed[col.name]] == col.type.upper()
        ):
            # Already typed as the contract says (Parquet, Arrow from a database or API): no
            # text round trip, only the required-value check.
            select.append(f"{_q(needed[col.name])} as {_q(col.name)}")
            if not col.nullable:
                reasons.append(
                    f"case when {_q(needed[col.name])} is null then '{col.name}: required value is missing' end"
                )
            continue
        elif needed[col.name] in available:
            src = f"{_q(needed[col.name])}::varchar"
        else:
            src = "null::varchar"
        typed, checks = _typed_expr(col, src, date_format, timestamp_format)
        select.append(f"{typed} as {_q(col.name)}")
        reasons.extend(checks)
    raw_cols = ", ".join(f"{_q(c)} := s.{_q(c)}::varchar" for c in sorted(available))
    key_cols = ", ".join(_q(k) for k in contract.primary_key)
    order_cursor = f"{_q(contract.cursor)} desc nulls last, " if contract.cursor else ""
    reason_sql = f"concat_ws('; ', {', '.join(reasons)})"

    con.execute("drop table if exists _land_src")
    con.execute(f"create temp table _land_src as select row_number() over () as _row, * from ({source_sql})")
    con.execute("drop table if exists _land_typed")
    con.execute(
        f"""
        create temp table _land_typed as
        with typed as (
            select _row, {", ".join(select)}, {reason_sql} as _reason
            from _land_src
        ),
        ranked as (
            select *, row_number() over (partition by {key_cols} order by {order_cursor}_row) as _rank,
                      min(_row) over (partition by {key_cols}) as _first_row
            from typed
        )
        select * exclude (_reason, _rank, _first_row),
               case when _reason <> '' then _reason
                    when _rank > 1 and {" and ".join(f"{_q(k)} is not null" for k in contract.primary_key)}
                    then 'duplicate key in this batch (another version kept, first seen at row '
                         || _first_row || ')'
                    else '' end as _reason
        from ranked
        """
    )
    rows_read, rows_bad = con.execute(
        "select count(*), count(*) filter (where _reason <> '') from _land_typed"
    ).fetchall()[0]
    # A few bad rows are quarantined one by one; only many bad rows mean a broken or mis-mapped file.
    if rows_read and rows_bad >= MIN_BAD_ROWS_TO_REFUSE and rows_bad / rows_read > max_bad_fraction:
        sample = con.execute(
            "select _row, _reason from _land_typed where _reason <> '' order by _row limit 3"
        ).fetchall()
        detail = "; ".join(f"row {r}: {why}" for r, why in sample)
        raise SourceDataError(
            f"{origin}: {rows_bad} of {rows_read} rows cannot be landed in {contract.table} "
            f"(e.g. {detail}); the file looks corrupted or mis-mapped - fix it and re-run, nothing was loaded"
        )

    biz_cols = ", ".join(_q(c) for c in contract.column_names)
    with transaction(con):
        key_expr = " || '|' || ".join(f"coalesce(t.{_q(k)}::varchar, '')" for k in contract.primary_key)
        con.execute(
            # The raw record (as text) is rebuilt only for the bad rows: JSON for every row is costly.
            f"""insert into quarantine.raw_records
                select now()::timestamp, ?, ?, t._row, {key_expr}, t._reason,
                       to_json(struct_pack({raw_cols})), ?
                from _land_typed t join _land_src s on s._row = t._row
                where t._reason <> ''""",
            [contract.table, origin, batch_id],
        )
        batch = "(select * from _land_typed where _reason = '')"
        join_on = " and ".join(f"r.{_q(k)} = b.{_q(k)}" for k in contract.primary_key)
        watermark = state.get_watermark(con, source, contract.table)
        if contract.disposition == "merge" and contract.cursor:
            cur = _q(contract.cursor)
            if watermark is not None:
                since = watermark - timedelta(days=lookback_days)
                batch = f"(select * from _land_typed where _reason = '' and {cur} >= '{since.isoformat()}')"
            con.execute(f"delete from {contract.table} r using {batch} b where {join_on} and b.{cur} > r.{cur}")
        inserted = con.execute(
            # By name: a table migrated by ensure_raw_table has its new columns after the lineage ones.
            f"""insert into {contract.table} ({biz_cols}, {", ".join(_q(c) for c in LINEAGE_COLUMNS)})
                select {biz_cols}, ?, ?, now()::timestamp, ?
                from {batch} b
                where not exists (select 1 from {contract.table} r where {join_on})""",
            [source, batch_id, origin],
        ).fetchall()[0][0]
        con.execute(
            "insert into _cobranza.loaded_files values (?, ?, ?, ?, ?, ?, ?, now()::timestamp)",
            [contract.table, origin_sha256 or batch_id, origin, batch_id, rows_read, inserted, rows_bad],
        )
        if contract.cursor:
            new_mark = con.execute(f"select max({_q(contract.cursor)}) from {contract.table}").fetchall()[0][0]
            state.set_watermark(con, source, contract.table, new_mark, batch_id)
        elif watermark_column:  # append stream: only this source's rows say how far it was read
            new_mark = con.execute(
                f"select max({_q(watermark_column)}) from {contract.table} where _source = ?", [source]
            ).fetchall()[0][0]
            state.set_watermark(con, source, contract.table, new_mark, batch_id)
    if rows_bad:
        log.warning("%s: %d record(s) quarantined from %s", contract.table, rows_bad, origin)
    return LandResult(contract.table, origin, batch_id, "loaded", rows_read, inserted, rows_bad)


def _is_optional(contract: StreamContract, name: str) -> bool:
    return next(c for c in contract.columns if c.name == name).nullable


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

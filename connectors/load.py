"""Landing into raw tables: typing against the contract, quarantine, idempotent merge/append.

Every source connector ends here. Given a DuckDB relation of the source's rows (already mapped to
contract column names), ``land`` casts each column to its contract type, sends records that do not
fit (unreadable value, missing required value, duplicate key in the batch, money with more than two
decimals) to ``quarantine.raw_records`` with the reason, and writes the rest to
``raw_<system>.<stream>``:

- ``merge`` streams (mutable records): a row replaces the stored one only when its cursor is newer;
- ``append`` streams (immutable events): only keys not seen before are inserted.

Two rules keep one bad value from doing lasting harm (DESIGN.md §5):

- a cursor (``updated_at``, or an append stream's watermark column) later than the run's clock plus
  ``max_future_skew`` is a record from the future: it is quarantined and never moves the watermark,
  so one invoice stamped 2099 cannot hide every later change (the next day's cancellation lands);
- a contact point (a contract column with ``contact_point``: phone, e-mail) that is not a usable
  address lands as NULL and its record is quarantined with the reason
  (``connectors.contact_points``): no channel is ever chosen for it, the rest of the record lands.

The batch, its quarantine rows, the file mark and the watermark commit in one transaction, so a
crash leaves either all or none of them, and re-running the same load changes nothing.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb

from connectors import contact_points, state
from connectors.contracts import LINEAGE_COLUMNS, StreamContract
from connectors.warehouse import transaction

log = logging.getLogger(__name__)

#: A time of day followed by a zone designator (Z, +02, -05:00): the value is an instant with an offset.
_OFFSET_AFTER_TIME = "[0-9]:[0-9]{2}(:[0-9]{2}([.][0-9]+)?)? ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)$"

#: Below this many bad rows a batch is never refused whole, whatever the share (small API pages).
MIN_BAD_ROWS_TO_REFUSE = 20

#: How far past the run's clock a cursor may lie (clocks of source systems drift a little).
DEFAULT_FUTURE_SKEW = timedelta(minutes=15)

#: A number written with a decimal comma (``1234,56``, ``1.234,56``): the hint when it fails to read.
_DECIMAL_COMMA = "^-?[0-9][0-9. ]*,[0-9]+$"
#: What a decimal-comma export's amounts look like: ``1234,56``, ``1.234,56``, ``-12``, ``1 234,5``.
_DECIMAL_COMMA_NUMBER = "^-?([0-9]{1,3}([. ][0-9]{3})+|[0-9]+)(,[0-9]+)?$"


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
    fields_quarantined: int = 0

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


def _typed_expr(
    col, src: str, date_format: str | None, ts_format: str | None, decimal_separator: str = "."
) -> tuple[str, list[str]]:
    """SQL that casts ``src`` (a VARCHAR expression) to the column type, and failure checks."""
    t = col.type.upper()
    checks: list[str] = []
    raw = src
    if t.startswith("DECIMAL") and decimal_separator == ",":
        # A decimal-comma export: '.' and spaces group thousands. A value not written that way
        # ('1234.56' in a ';' file) is refused, never guessed: 1234.56 must not become 123456.
        checks.append(
            f"case when {raw} is not null and trim({raw}) <> '' "
            f"and not regexp_matches(trim({raw}), '{_DECIMAL_COMMA_NUMBER}') "
            f"then '{col.name}: ''' || left({raw}, 40) || ''' is not a decimal-comma number "
            "(the mapping says decimal: '',''); check the number format of the export' end"
        )
        src = f"replace(replace(replace(trim({raw}), '.', ''), ' ', ''), ',', '.')"
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
    hint = ""
    if t.startswith("DECIMAL") and decimal_separator != ",":
        hint = (
            f" || case when regexp_matches(trim({raw}), '{_DECIMAL_COMMA}') "
            "then ' (a decimal comma? set decimal: '','' in the column mapping)' else '' end"
        )
    checks.insert(
        0,
        f"case when {raw} is not null and trim({raw}) <> '' and ({typed}) is null "
        f"then '{col.name}: cannot read ''' || left({raw}, 40) || ''' as {col.type}'{hint} end",
    )
    if not col.nullable:
        checks.append(f"case when ({raw} is null or trim({raw}) = '') then '{col.name}: required value is missing' end")
    if t.startswith("DECIMAL"):
        checks.append(
            f"case when try_cast(trim({src}) as decimal(38,10)) <> try_cast(trim({src}) as {col.type}) "
            f"then '{col.name}: ''' || trim({raw}) || ''' has more decimals than {col.type} keeps' end"
        )
    return typed, checks


def _future_check(column: str, typed: str, limit: datetime) -> str:
    """Reason SQL for a cursor later than the run's clock plus the skew (a record from the future)."""
    bound = limit.isoformat(sep=" ", timespec="seconds")
    return (
        f"case when ({typed}) > '{bound}'::timestamp "
        f"then '{column}: ' || strftime(({typed}), '%Y-%m-%d %H:%M:%S') || ' is in the future "
        f"(later than the run clock + skew, {bound} UTC); held back so that it cannot move the watermark "
        "past later changes: fix the date in the source and it lands on the next run' end"
    )


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
    clock: datetime | None = None,
    max_future_skew: timedelta = DEFAULT_FUTURE_SKEW,
    decimal_separator: str = ".",
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
        clock: The run's clock (UTC; default now): a cursor later than ``clock + max_future_skew``
            is quarantined and never moves the watermark.
        max_future_skew: How far past ``clock`` a cursor may lie.
        decimal_separator: ``,`` for exports that write amounts with a decimal comma.

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
    now = clock or datetime.now(UTC)
    limit = (now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now) + max_future_skew
    future_checked = contract.cursor or watermark_column
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
            if col.name == future_checked and col.type.upper() == "TIMESTAMP":
                reasons.append(_future_check(col.name, _q(needed[col.name]), limit))
            continue
        elif needed[col.name] in available:
            src = f"{_q(needed[col.name])}::varchar"
        else:
            src = "null::varchar"
        typed, checks = _typed_expr(col, src, date_format, timestamp_format, decimal_separator)
        select.append(f"{typed} as {_q(col.name)}")
        reasons.extend(checks)
        if col.name == future_checked and col.type.upper() == "TIMESTAMP":
            reasons.append(_future_check(col.name, typed, limit))
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
            -- A version that cannot land (a bad value, a date from the future) never outranks one that can.
            select *, row_number() over (partition by {key_cols} order by _reason <> '', {order_cursor}_row) as _rank,
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

    field_rows = _check_contact_points(con, contract)
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
        if field_rows:
            # The record lands (its other fields are good); the unusable contact point is kept here only.
            con.execute(
                f"""insert into quarantine.raw_records
                    select now()::timestamp, ?, ?, t._row, {key_expr}, f.reason,
                           to_json(struct_pack({raw_cols})), ?
                    from _land_field_bad f join _land_typed t on t._row = f._row join _land_src s on s._row = t._row""",
                [contract.table, origin, batch_id],
            )
        batch = "(select * from _land_typed where _reason = '')"
        join_on = " and ".join(f"r.{_q(k)} = b.{_q(k)}" for k in contract.primary_key)
        watermark = state.get_watermark(con, source, contract.table)
        if watermark is not None and watermark > limit:
            # Stored before future dates were held back: a watermark from the future would filter
            # out every real change, so it is ignored here and replaced below.
            log.warning(
                "%s: stored watermark %s of %s lies in the future; ignored and reset", contract.table, watermark, source
            )
            watermark = None
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
        # The watermark never takes a value from the future, even one landed before this rule.
        if contract.cursor:
            new_mark = con.execute(
                f"select max({_q(contract.cursor)}) from {contract.table} where {_q(contract.cursor)} <= ?", [limit]
            ).fetchall()[0][0]
            state.set_watermark(con, source, contract.table, new_mark, batch_id)
        elif watermark_column:  # append stream: only this source's rows say how far it was read
            new_mark = con.execute(
                f"select max({_q(watermark_column)}) from {contract.table} "
                f"where _source = ? and {_q(watermark_column)} <= ?",
                [source, limit],
            ).fetchall()[0][0]
            state.set_watermark(con, source, contract.table, new_mark, batch_id)
    if rows_bad:
        log.warning("%s: %d record(s) quarantined from %s", contract.table, rows_bad, origin)
    if field_rows:
        log.warning(
            "%s: %d unusable contact point(s) from %s landed as NULL and quarantined",
            contract.table,
            field_rows,
            origin,
        )
    return LandResult(contract.table, origin, batch_id, "loaded", rows_read, inserted, rows_bad, field_rows)


def land_arrow(
    con: duckdb.DuckDBPyConnection, contract: StreamContract, rows: Any, *, source: str, origin: str
) -> LandResult:
    """:func:`land` for rows already in memory (an Arrow table with the contract's column names)."""
    name = f"_land_{contract.table.replace('.', '_')}"
    con.register(name, rows)
    try:
        return land(con, contract, f"select * from {name}", source=source, origin=origin)
    finally:
        con.unregister(name)


def _check_contact_points(con: duckdb.DuckDBPyConnection, contract: StreamContract) -> int:
    """Validate the contract's contact-point columns in ``_land_typed``; null the unusable ones.

    Each distinct value is checked once in Python (``connectors.contact_points``). Valid values are
    stored in their normal form (E.164 for phones); invalid ones become NULL and one row per
    (record, column) goes to ``_land_field_bad`` with the reason, for the quarantine.

    Returns:
        The number of (record, column) pairs set aside.
    """
    con.execute("drop table if exists _land_field_bad")
    con.execute("create temp table _land_field_bad (_row bigint, reason varchar)")
    for col in contract.columns:
        if not col.contact_point:
            continue
        name = _q(col.name)
        values = [
            r[0]
            for r in con.execute(
                f"select distinct {name} from _land_typed where _reason = '' and {name} is not null"
            ).fetchall()
        ]
        verdicts = [(v, contact_points.check(col.contact_point, v)) for v in values]
        changed = [(v, verdict.value, verdict.reason) for v, verdict in verdicts if verdict.value != v]
        if not changed:
            continue
        con.execute("drop table if exists _land_contact_fix")
        con.execute("create temp table _land_contact_fix (value varchar, fixed varchar, reason varchar)")
        con.executemany("insert into _land_contact_fix values (?, ?, ?)", changed)
        what = "whatsapp, sms and call" if col.contact_point == "e164" else "e-mail"
        con.execute(
            f"""insert into _land_field_bad
                select t._row, '{col.name}: ' || f.reason || '; set to NULL, so no {what} goes to this contact '
                       || 'until the source record is fixed (its other channels are unaffected)'
                from _land_typed t join _land_contact_fix f on t.{name} = f.value
                where t._reason = '' and f.fixed is null"""
        )
        con.execute(
            f"update _land_typed set {name} = f.fixed from _land_contact_fix f "
            f"where _land_typed.{name} = f.value and _land_typed._reason = ''"
        )
    return con.execute("select count(*) from _land_field_bad").fetchall()[0][0]


def _is_optional(contract: StreamContract, name: str) -> bool:
    return next(c for c in contract.columns if c.name == name).nullable


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__

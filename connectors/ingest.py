"""One ingest pass: sync every configured source into the raw tables, then check none is empty or stale.

Every readable file lands (files already loaded are skipped by content hash). An unreadable one is
set aside whole (``quarantine.raw_files``) and every other file and source proceeds (DESIGN.md §5).
Only a systemic failure stops the run: a required stream with no rows at all, so nobody is contacted
from a warehouse that lacks its customers, invoices or contacts, or a stale one (its newest cursor
value more than its allowed age before the run date; values from the future left out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb

from connectors import warehouse
from connectors.base import sync
from connectors.contracts import stream
from connectors.load import LandResult, SourceDataError


@dataclass
class IngestResult:
    """What one ingest pass landed, set aside and warned about."""

    landed: list[LandResult] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    #: Required raw tables left without rows, and stale raw tables with their newest change.
    empty: list[str] = field(default_factory=list)
    stale: dict[str, datetime] = field(default_factory=dict)
    max_source_age_days: Mapping[str, int] = field(default_factory=dict)
    as_of: date | None = None

    def raise_if_systemic(self) -> None:
        """Raise :class:`SourceDataError` naming the tables (and files set aside) when the run must stop."""
        if self.empty:
            why = (
                "; ".join(x["error"] for x in self.refused if x["stream"] in self.empty) or "no file or record arrived"
            )
            raise SourceDataError(
                f"{', '.join(self.empty)} has no rows, so no customer can be dunned: {why} - fix or replace the "
                "file(s) named and re-run"
            )
        if self.stale:
            why = "; ".join(x["error"] for x in self.refused if x["stream"] in self.stale)
            ages = ", ".join(f"{t} last changed {newest}" for t, newest in self.stale.items())
            raise SourceDataError(
                f"stale source: {ages}, more than {max(self.max_source_age_days[t] for t in self.stale)} day(s) "
                f"before {self.as_of}{f' ({why})' if why else ''} - check that the export still runs and re-run"
            )

    def as_records(self) -> list[dict[str, Any]]:
        """The run summary's form: landed batches, set-aside files (``quarantined``), then warnings."""
        return (
            [r.as_dict() for r in self.landed]
            + [{**x, "status": "quarantined"} for x in self.refused]
            + [{**w, "status": "warning"} for w in self.warnings]
        )


def _has_rows(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    return bool(con.execute(f"select exists (select 1 from {table})").fetchall()[0][0])


def newest_change(con: duckdb.DuckDBPyConnection, table: str, limit: datetime) -> datetime | None:
    """The newest cursor value of a raw table, values after ``limit`` left out (None without a cursor)."""
    cursor = stream(table).cursor
    if cursor is None:
        return None
    bound = limit.astimezone(UTC).replace(tzinfo=None)
    return con.execute(f'select max("{cursor}") from {table} where "{cursor}" <= ?', [bound]).fetchall()[0][0]


def ingest(
    con: duckdb.DuckDBPyConnection,
    sources: Sequence[Any],
    *,
    as_of: date,
    clock: datetime,
    max_future_skew: timedelta,
    required_streams: Sequence[str],
    max_source_age_days: Mapping[str, int],
    streams: Sequence[str] | None = None,
) -> IngestResult:
    """Sync ``sources`` into the raw tables and find an empty required stream or a stale source.

    Args:
        con: Warehouse connection.
        sources: Configured sources (``flows.sources.configured_sources``).
        as_of: The run date.
        clock: The instant after which a value is "from the future".
        max_future_skew: Tolerance on ``clock``.
        required_streams: Raw tables that must have rows for the run to go on.
        max_source_age_days: Raw table -> days its newest change may lie before ``as_of``.
        streams: Only these raw tables (None: all).

    Returns:
        The landed batches, the files set aside, the warnings of batches that still landed, and the
        empty or stale tables (:meth:`IngestResult.raise_if_systemic` stops the run on them).
    """
    out = IngestResult()
    for source in sources:
        result = sync(con, source, streams=streams, clock=clock, max_future_skew=max_future_skew)
        out.landed += result.landed
        out.refused += result.refused
        out.warnings += result.warnings
    fed = {st.contract.table for s in sources for st in s.streams()}
    required = [t for t in required_streams if t in fed and (not streams or t in streams)]
    empty = [t for t in required if not warehouse.table_exists(con, t) or not _has_rows(con, t)]
    stale: dict[str, datetime] = {}
    for t, days in max_source_age_days.items():
        if t not in fed or t in empty or (streams and t not in streams) or not warehouse.table_exists(con, t):
            continue
        newest = newest_change(con, t, clock + max_future_skew)
        if newest is not None and newest.date() < as_of - timedelta(days=days):
            stale[t] = newest
    out.empty, out.stale, out.max_source_age_days, out.as_of = empty, stale, dict(max_source_age_days), as_of
    return out

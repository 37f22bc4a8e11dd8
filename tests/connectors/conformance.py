"""The conformance suite every source connector passes (STYLE.md: one shared suite, like singer_sdk's).

``assert_source_conforms`` takes a factory for a configured source, a fresh DuckDB connection and an
optional way to corrupt one record in the source, and checks, through the real ``connectors.base.sync``:

1. ``check()`` passes and every stream declares a contract with a primary key, and merge streams a cursor;
2. the landed raw tables have the contract's columns plus lineage;
3. state round-trips: each merge stream's watermark equals the max cursor landed;
4. a second sync lands nothing new;
5. a corrupted record is quarantined with its key and reason while the rest of its batch lands.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from connectors import state
from connectors.base import Source, sync
from connectors.contracts import LINEAGE_COLUMNS


def assert_source_conforms(
    make_source: Callable[[], Source],
    con: duckdb.DuckDBPyConnection,
    *,
    corrupt_one_record: Callable[[], str] | None = None,
) -> dict[str, int]:
    """Run the shared checks; return rows landed per raw table on the first sync.

    Args:
        make_source: Builds the configured source (called again after corruption).
        con: An empty DuckDB warehouse.
        corrupt_one_record: Damages one record in the source's system and returns its key.
    """
    source = make_source()
    source.check()
    streams = source.streams()
    assert streams, f"{source.name}: declares no streams"
    for s in streams:
        c = s.contract
        assert c.primary_key, f"{c.table}: no primary key declared"
        assert set(c.primary_key) <= set(c.column_names), f"{c.table}: key not among the columns"
        if c.disposition == "merge":
            assert c.cursor in c.column_names, f"{c.table}: merge stream without a cursor column"

    first = sync(con, source)
    assert first.ok, f"first sync refused batches: {first.refused}"
    landed: dict[str, int] = {}
    for r in first.landed:
        landed[r.stream] = landed.get(r.stream, 0) + r.rows_new
    assert sum(landed.values()) > 0, f"{source.name}: first sync landed nothing"

    for s in streams:
        c = s.contract
        cols = [row[0] for row in con.execute(f"describe {c.table}").fetchall()]
        assert cols == [*c.column_names, *LINEAGE_COLUMNS], f"{c.table}: columns {cols}"
        if c.cursor:
            mark = state.get_watermark(con, source.name, c.table)
            top = con.execute(f"select max({c.cursor}) from {c.table}").fetchall()[0][0]
            assert mark == top, f"{c.table}: watermark {mark} != max {c.cursor} {top}"

    second = sync(con, make_source())
    assert second.ok, f"second sync refused batches: {second.refused}"
    new = {r.stream: r.rows_new for r in second.landed if r.rows_new}
    assert not new, f"second sync landed rows again: {new}"

    if corrupt_one_record is not None:
        before = con.execute("select count(*) from quarantine.raw_records").fetchall()[0][0]
        key = corrupt_one_record()
        third = sync(con, make_source())
        assert third.ok, f"a single bad record made a whole batch fail: {third.refused}"
        rows = con.execute("select record_key, reason from quarantine.raw_records order by quarantined_at").fetchall()[
            before:
        ]
        assert any(k == key for k, _ in rows), f"record {key} not quarantined; got {rows[:5]}"
        assert all(reason for _, reason in rows)
    return landed

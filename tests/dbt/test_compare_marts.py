"""bench/compare_marts.py finds what differs between two warehouses' marts, and only that.

Two small DuckDB files stand in for the builds of two revisions: a changed row, a duplicated row
(EXCEPT ALL counts it) and a renamed table are reported; a double differing in its last bits is not.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from bench.compare_marts import compare


def _warehouse(path: Path, statements: list[str]) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts; create schema intermediate")
        for sql in statements:
            con.execute(sql)
    return path


def test_compare_counts_changed_and_duplicated_rows_and_pairs_renamed_tables(tmp_path) -> None:
    before = _warehouse(
        tmp_path / "b.duckdb",
        [
            "create table marts.t as select * from (values (1, 'a', 0.1 + 0.2), (2, 'b', 1.0)) v(id, s, x)",
            "create table marts.same as select 1 as id",
            "create table intermediate.queue as select 1 as id",
        ],
    )
    after = _warehouse(
        tmp_path / "a.duckdb",
        [
            # 0.30000000000000004 vs 0.3: float noise; row 2 changed; row 1 duplicated
            "create table marts.t as select * from (values (1, 'a', 0.3), (1, 'a', 0.3), (2, 'c', 1.0)) v(id, s, x)",
            "create table marts.same as select 1 as id",
            "create table marts.mart_queue as select 1 as id",
        ],
    )
    diffs = {d.before: d for d in compare(before, after, {"intermediate.queue": "marts.mart_queue"})}
    t = diffs["marts.t"]
    assert (t.rows_before, t.rows_after, t.only_before, t.only_after) == (2, 3, 1, 2)
    assert diffs["marts.same"].identical
    assert diffs["intermediate.queue"].identical and diffs["intermediate.queue"].after == "marts.mart_queue"

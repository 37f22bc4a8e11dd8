"""Same warehouse, two versions of the dbt project: are the marts identical?

Copies one DuckDB warehouse twice (the original is never written), runs ``dbt build --full-refresh``
on each copy, once with the dbt project of an earlier git revision (exported with ``git archive``)
and once with the working tree's, then compares every table of the ``marts`` schema, ``EXCEPT ALL``
both ways (so duplicated rows count too), column by column in the earlier version's order. A table
moved or renamed between the versions is paired with ``--pair before=after`` (schema-qualified).
Floating-point columns are compared at 12 significant digits (``--float-digits``): DuckDB's
parallel aggregation makes the last bits of a double (a standard deviation, a ratio) vary from one
build of the same project to the next, which comparing a revision with itself shows.

Prints one line per table (rows before/after, rows only before, rows only after) and exits 1 when
a table differs, is missing on one side or changed its columns, unless it is named with
``--expect-diff`` (a deliberate change, reported all the same).

Usage::

    python -m bench.compare_marts --warehouse DATA/warehouse.duckdb --before <rev> [--as-of 2026-11-23]
        [--pair intermediate.int_x=marts.mart_x] [--expect-diff marts.fct_invoices]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class TableDiff:
    """How one mart differs between the two builds."""

    before: str
    after: str
    rows_before: int | None
    rows_after: int | None
    only_before: int | None
    only_after: int | None
    note: str = ""

    @property
    def identical(self) -> bool:
        """Same columns, same rows (as multisets)."""
        columns_differ = self.note.startswith(("columns differ", "missing", "new after"))
        return not columns_differ and self.only_before == 0 and self.only_after == 0


def export_project(rev: str, dest: Path) -> Path:
    """The ``dbt_project`` folder of git revision ``rev``, exported under ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "dbt_project"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "dbt_project"


def build(project: Path, warehouse: Path, work: Path, as_of: date, late_days: int) -> None:
    """``dbt build --full-refresh`` of ``project`` on ``warehouse``; raises with dbt's output on failure."""
    dbt = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "COBRANZA_DBT_DUCKDB_PATH": str(warehouse)}
    args = [
        str(dbt),
        "build",
        "--full-refresh",
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(work / "target"),
        "--log-path",
        str(work / "logs"),
        "--vars",
        json.dumps({"as_of_date": as_of.isoformat(), "late_days": late_days}),
    ]
    run = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise RuntimeError(f"dbt build of {project} failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}")


def _tables(con: duckdb.DuckDBPyConnection, catalog: str, schema: str) -> list[str]:
    rows = con.execute(
        "select table_name from information_schema.tables where table_catalog = ? and table_schema = ? order by 1",
        [catalog, schema],
    ).fetchall()
    return [f"{schema}.{r[0]}" for r in rows]


def table_columns(con: duckdb.DuckDBPyConnection, catalog: str, table: str) -> list[tuple[str, str]]:
    """(name, type) of ``table`` (``schema.name``) in the attached database ``catalog``, in order."""
    schema, name = table.split(".", 1)
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_catalog = ? and table_schema = ? and table_name = ? order by ordinal_position",
        [catalog, schema, name],
    ).fetchall()


FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def _expr(name: str, type_: str, digits: int) -> str:
    if type_.upper() in FLOAT_TYPES and digits > 0:
        return f'format(\'{{:.{digits}g}}\', "{name}") as "{name}"'
    return f'"{name}"'


def _except_all(con: duckdb.DuckDBPyConnection, old: str, new: str, names: str) -> tuple[int, int]:
    """Rows of ``b.old`` not in ``a.new`` and the reverse, as multisets, over the ``names`` expressions."""
    only_b = con.execute(f"select count(*) from (select {names} from b.{old} except all select {names} from a.{new})")
    only_b = only_b.fetchone()[0]
    only_a = con.execute(f"select count(*) from (select {names} from a.{new} except all select {names} from b.{old})")
    return only_b, only_a.fetchone()[0]


def compare(before_db: Path, after_db: Path, pairs: dict[str, str], float_digits: int = 12) -> list[TableDiff]:
    """Compare every ``marts`` table (and the ``pairs``) of two warehouses, EXCEPT ALL both ways."""
    con = duckdb.connect()
    con.execute(f"attach '{before_db}' as b (read_only)")
    con.execute(f"attach '{after_db}' as a (read_only)")
    before = set(_tables(con, "b", "marts")) | set(pairs)
    after = set(_tables(con, "a", "marts"))
    mapping = {t: pairs.get(t, t) for t in sorted(before)}
    out: list[TableDiff] = []
    for old, new in mapping.items():
        if new not in after and not table_columns(con, "a", new):
            out.append(TableDiff(old, new, None, None, None, None, "missing after"))
            continue
        cols_b, cols_a = table_columns(con, "b", old), table_columns(con, "a", new)
        note = ""
        if cols_b != cols_a:
            gone = [c for c in cols_b if c not in cols_a]
            new_cols = [c for c in cols_a if c not in cols_b]
            note = f"columns differ: only before {gone}, only after {new_cols}"
        names = ", ".join(_expr(c, t, float_digits) for c, t in cols_b if (c, t) in cols_a)
        rows_b = con.execute(f"select count(*) from b.{old}").fetchone()[0]
        rows_a = con.execute(f"select count(*) from a.{new}").fetchone()[0]
        only_b, only_a = _except_all(con, old, new, names)
        if (only_b or only_a) and float_digits > 3 and any(t.upper() in FLOAT_TYPES for _, t in cols_b):
            # a double whose last digits straddle a rounding boundary (...4999 vs ...5000): look
            # again three digits coarser, and say so
            coarse = ", ".join(_expr(c, t, float_digits - 3) for c, t in cols_b if (c, t) in cols_a)
            if _except_all(con, old, new, coarse) == (0, 0):
                note = (note + "; " if note else "") + (
                    f"equal at {float_digits - 3} significant digits ({only_b}/{only_a} rows differ at {float_digits})"
                )
                only_b = only_a = 0
        out.append(TableDiff(old, new, rows_b, rows_a, only_b, only_a, note))
    for extra in sorted(after - set(mapping.values())):
        rows = con.execute(f"select count(*) from a.{extra}").fetchone()[0]
        out.append(TableDiff("-", extra, None, rows, None, None, "new after"))
    con.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line; returns the exit code (0: identical, or only the expected differences)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True, help="DuckDB warehouse with raw and ops tables")
    parser.add_argument("--before", required=True, help="git revision of the earlier dbt project")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 11, 23))
    parser.add_argument("--late-days", type=int, default=30)
    parser.add_argument("--pair", action="append", default=[], help="before_table=after_table (moved/renamed)")
    parser.add_argument("--expect-diff", action="append", default=[], help="a table that differs on purpose")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the two builds here")
    parser.add_argument("--float-digits", type=int, default=12, help="significant digits of doubles (0: exact)")
    parser.add_argument("--compare-only", action="store_true", help="compare the builds already in --work-dir")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="cobranza-compare-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        dbs = {side: work / f"{side}.duckdb" for side in ("before", "after")}
        if not args.compare_only:
            project_before = export_project(args.before, work / "before_project")
            for side, project in (("before", project_before), ("after", ROOT / "dbt_project")):
                shutil.copy2(args.warehouse, dbs[side])
                build(project, dbs[side], work / f"dbt_{side}", args.as_of, args.late_days)
        pairs = dict(p.split("=", 1) for p in args.pair)
        diffs = compare(dbs["before"], dbs["after"], pairs, args.float_digits)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    failed = False
    lines = [f"{'before':<44}{'after':<44}{'rows b':>9}{'rows a':>9}{'only b':>8}{'only a':>8}  note"]
    for d in diffs:
        expected = d.after in args.expect_diff or d.before in args.expect_diff
        if not d.identical and d.note != "new after" and not expected:
            failed = True
        fmt = lambda v: "-" if v is None else f"{v:,}"  # noqa: E731 - local formatter
        flag = " (expected)" if expected and not d.identical else ""
        lines.append(
            f"{d.before:<44}{d.after:<44}{fmt(d.rows_before):>9}{fmt(d.rows_after):>9}"
            f"{fmt(d.only_before):>8}{fmt(d.only_after):>8}  {d.note}{flag}"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

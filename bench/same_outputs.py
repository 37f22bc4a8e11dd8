"""Same outputs at two commits: the daily run on profile S, before and after a refactoring.

Exports two git revisions (``git archive``, so no worktree or index is touched), runs the daily
collections flow of each on profile S in its own scratch data directory (``COBRANZA_DATA_DIR``, a
private ``PREFECT_HOME``, the shared ``.venv``), then compares the two warehouses ``EXCEPT ALL``
both ways: every ``marts`` table, the decision log ``decisions.nba_decisions`` and the outbox
(``outbox.contact_tasks``, ``outbox.task_events``).

Columns that legitimately differ between two runs are left out of the comparison, and listed:

- ``outbox.task_events.event_seq`` (a sequence: same order, but kept out so a reordering of
  independent senders does not count) and ``event_at`` of the events written by the send step
  (a replayed day stamps the replayed instant plus the real time elapsed since the run started).
- ``outbox.contact_tasks.created_at``: the wall-clock time of the enqueue. Everything else of a task
  (``task_id``, a content hash, the slot, the payload) is compared.

Doubles are compared at 12 significant digits (parallel aggregation varies the last bits, as
``bench.compare_marts`` explains). A table that differs only in doubles is compared again with
its other columns as a key: when those match both ways and no double of a pair differs by more
than 1e-9 relatively, it is reported as ``float noise`` with the largest relative difference (not a
failure), and the rows that differed at 12 digits are still counted.

Each run goes under ``flock /tmp/cobranza-heavy.lock`` when
``--lock`` is given (the default), so it never overlaps another heavy job on the machine.

Usage::

    python -m bench.same_outputs --before <rev> [--after <rev>] [--after-dbt-from <rev>] [--work-dir DIR]
        [--side before|after|both] [--compare-only]

``--after-dbt-from REV`` runs the "after" side with the ``dbt_project`` of ``REV`` (e.g. the
"before" commit), to show a Python-only change keeps the outputs while the dbt project changes
concurrently (or is mid-way through a change at the "after" commit).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import duckdb

from bench.compare_marts import FLOAT_TYPES, table_columns

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 23)
#: Operational tables compared besides every ``marts`` table, with the columns left out and why.
OPERATIONAL = {
    "decisions.nba_decisions": {},
    "outbox.contact_tasks": {"created_at": "wall-clock time the task was enqueued"},
    "outbox.task_events": {
        "event_seq": "a sequence number; the rows are compared as a multiset instead",
        "event_at": "send-time stamp: the replayed instant plus the real time elapsed",
    },
}
RUN = (
    "import json, sys; from datetime import date; from flows.daily import daily_collections; "
    "out = daily_collections(as_of=date.fromisoformat(sys.argv[1])); "
    "json.dump(out, open(sys.argv[2], 'w'), default=str, indent=1)"
)


def export_tree(rev: str, dest: Path) -> Path:
    """The whole tree of git revision ``rev``, exported to ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def replace_dbt_project(tree: Path, rev: str) -> None:
    """Swap the exported tree's ``dbt_project`` for that of git revision ``rev``."""
    shutil.rmtree(tree / "dbt_project")
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "dbt_project"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)


def daily_run(tree: Path, data: Path, as_of: date, lock: bool) -> None:
    """The daily flow of the code in ``tree`` on profile S, its data in ``data``; raises on failure."""
    data.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COBRANZA_", "PREFECT_"))}
    env.update(
        COBRANZA_DATA_DIR=str(data),
        COBRANZA_SIMULATOR__PROFILE="S",
        PREFECT_HOME=str(data / "prefect-home"),
        PYTHONPATH=str(tree),
    )
    cmd = [sys.executable, "-c", RUN, as_of.isoformat(), str(data / "summary.json")]
    if lock:
        cmd = ["flock", "/tmp/cobranza-heavy.lock", *cmd]
    run = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, check=False)
    (data / "run.log").write_text(run.stdout + "\n" + run.stderr)
    if run.returncode != 0:
        raise RuntimeError(f"daily run of {tree} failed (log {data / 'run.log'}):\n{run.stderr[-3000:]}")


def _expr(name: str, type_: str, digits: int) -> str:
    if type_.upper() in FLOAT_TYPES:
        return f'format(\'{{:.{digits}g}}\', "{name}") as "{name}"'
    return f'"{name}"'


#: Largest relative difference of a double that counts as summation-order noise.
FLOAT_TOLERANCE = 1e-9


def _float_noise(con: duckdb.DuckDBPyConnection, table: str, kept: list[tuple[str, str]]) -> float | None:
    """The largest relative difference of the doubles when every other column is identical, else None.

    The other columns must form a key on both sides (each row pairs with exactly one), and they must
    match as multisets both ways; only then are the doubles of paired rows compared.
    """
    keys = [c for c, t in kept if t.upper() not in FLOAT_TYPES]
    floats = [c for c, t in kept if t.upper() in FLOAT_TYPES]
    if not keys or not floats:
        return None
    k = ", ".join(f'"{c}"' for c in keys)
    for cat in ("a", "b"):
        n, distinct = con.execute(f"select count(*), count(distinct ({k})) from {cat}.{table}").fetchone()
        if n != distinct:
            return None
    for x, y in (("b", "a"), ("a", "b")):
        if con.execute(
            f"select count(*) from (select {k} from {x}.{table} except all select {k} from {y}.{table})"
        ).fetchone()[0]:
            return None
    on = " and ".join(f'b."{c}" is not distinct from a."{c}"' for c in keys)
    worst = ", ".join(
        f'max(case when b."{c}" is not distinct from a."{c}" then 0 '
        f'else abs(b."{c}" - a."{c}") / greatest(abs(b."{c}"), abs(a."{c}")) end)'
        for c in floats
    )
    row = con.execute(f"select {worst} from b.{table} b join a.{table} a on {on}").fetchone()
    return max(float(v) if v is not None else float("inf") for v in row)


def compare(before_db: Path, after_db: Path, float_digits: int = 12, pairs: dict[str, str] | None = None) -> list[dict]:
    """One row per table: rows before/after, rows only before/after, columns left out, notes.

    ``pairs`` maps a table moved or renamed between the two commits (``schema.table`` before) to its
    name after; each pair is compared as one table and neither name is reported missing.
    """
    pairs = pairs or {}
    con = duckdb.connect()
    con.execute(f"attach '{before_db}' as b (read_only)")
    con.execute(f"attach '{after_db}' as a (read_only)")
    marts = {
        f"marts.{r[0]}"
        for cat in ("a", "b")
        for r in con.execute(
            "select table_name from information_schema.tables where table_catalog = ? and table_schema = 'marts'",
            [cat],
        ).fetchall()
    }
    out = []
    marts -= set(pairs.values())
    for table in [*sorted(marts), *pairs, *OPERATIONAL]:
        ignored = OPERATIONAL.get(table, {})
        after = pairs.get(table, table)
        cols_b, cols_a = table_columns(con, "b", table), table_columns(con, "a", after)
        label = table if after == table else f"{table} = {after}"
        row = {"table": label, "ignored": sorted(ignored), "note": ""}
        if not cols_b or not cols_a:
            row["note"] = "missing before" if not cols_b else "missing after"
            out.append(row)
            continue
        if cols_b != cols_a:
            row["note"] = (
                f"columns differ: only before {[c for c in cols_b if c not in cols_a]}, "
                f"only after {[c for c in cols_a if c not in cols_b]}"
            )
        names = ", ".join(_expr(c, t, float_digits) for c, t in cols_b if (c, t) in cols_a and c not in ignored)
        kept = [(c, t) for c, t in cols_b if (c, t) in cols_a and c not in ignored]
        name = {"b": table, "a": after}
        row["rows_before"] = con.execute(f"select count(*) from b.{table}").fetchone()[0]
        row["rows_after"] = con.execute(f"select count(*) from a.{after}").fetchone()[0]
        for side, (x, y) in {"only_before": ("b", "a"), "only_after": ("a", "b")}.items():
            row[side] = con.execute(
                f"select count(*) from (select {names} from {x}.{name[x]} except all select {names} from {y}.{name[y]})"
            ).fetchone()[0]
        if (row["only_before"] or row["only_after"]) and not row["note"]:
            worst = _float_noise(con, table, kept) if after == table else None
            if worst is not None and worst <= FLOAT_TOLERANCE:
                row["note"] = f"float noise (max relative difference {worst:.1e})"
        out.append(row)
    con.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line; exit 0 when every table is identical (except the listed columns)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision before")
    parser.add_argument("--after", default="HEAD", help="git revision after (default HEAD)")
    parser.add_argument("--as-of", type=date.fromisoformat, default=AS_OF)
    parser.add_argument("--after-dbt-from", default=None, help="run the after side with this revision's dbt_project")
    parser.add_argument("--work-dir", type=Path, default=None, help="keep trees and data here")
    parser.add_argument("--side", choices=["before", "after", "both"], default="both", help="which runs to do")
    parser.add_argument("--compare-only", action="store_true", help="compare the runs already in --work-dir")
    parser.add_argument("--no-lock", action="store_true", help="do not take /tmp/cobranza-heavy.lock")
    parser.add_argument("--float-digits", type=int, default=12)
    parser.add_argument("--pair", action="append", default=[], help="before_table=after_table (moved/renamed)")
    args = parser.parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="cobranza-same-outputs-"))
    work.mkdir(parents=True, exist_ok=True)
    sides = {"before": args.before, "after": args.after}
    try:
        if not args.compare_only:
            for side, rev in sides.items():
                if args.side not in (side, "both"):
                    continue
                shutil.rmtree(work / side, ignore_errors=True)
                tree = export_tree(rev, work / side / "tree")
                if side == "after" and args.after_dbt_from:
                    replace_dbt_project(tree, args.after_dbt_from)
                daily_run(tree, work / side / "data", args.as_of, lock=not args.no_lock)
        if args.side != "both" and not args.compare_only:
            return 0
        rows = compare(
            *(work / s / "data" / "warehouse.duckdb" for s in sides),
            float_digits=args.float_digits,
            pairs=dict(x.split("=", 1) for x in args.pair),
        )
    finally:
        if args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)
    failed = False
    dbt_note = f" (dbt_project of {args.after_dbt_from})" if args.after_dbt_from else ""
    lines = [f"{args.before} vs {args.after}{dbt_note}, daily run on profile S as of {args.as_of}"]
    lines.append(f"{'table':<46}{'rows b':>9}{'rows a':>9}{'only b':>8}{'only a':>8}  note")
    fmt = lambda v: "-" if v is None else f"{v:,}"  # noqa: E731 - local formatter
    for r in rows:
        same = (not r["note"] and r.get("only_before") == 0 and r.get("only_after") == 0) or r["note"].startswith(
            "float noise"
        )
        failed |= not same
        extra = f"ignoring {', '.join(r['ignored'])}" if r["ignored"] else ""
        lines.append(
            f"{r['table']:<46}{fmt(r.get('rows_before')):>9}{fmt(r.get('rows_after')):>9}"
            f"{fmt(r.get('only_before')):>8}{fmt(r.get('only_after')):>8}  {r['note']} {extra}".rstrip()
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

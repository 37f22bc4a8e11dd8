"""``dbt build`` time at a profile on DuckDB or on PostgreSQL: wall time, rows per mart, peak memory.

Builds the raw layer the way the pipeline does (the simulator's extracts for the profile landed by
the real connectors through ``flows.stages.ingest_sources`` into a DuckDB warehouse), then times one
full ``dbt build`` (every model and test, ``--full-refresh``) in a fresh child process, so the
figures are the build's own (dbt's import and project parsing included, as in a real run):

- ``--target duckdb``: on the warehouse file itself (DuckDB runs inside the process, so the peak
  RSS is the engine's memory too);
- ``--target postgres``: every table the models read as a source is first copied into a fresh
  database (default ``cobranza_bench``, dropped afterwards unless ``--keep``): raw tables created
  from ``connectors/contracts.py``, the operational ones (quarantine, outbox, decision log, scores)
  from the warehouse's own columns, rows exported by DuckDB as CSV and sent with psycopg ``COPY``; the
  build then runs through the ``postgres`` output of ``dbt_project/profiles.yml``. The peak RSS is
  the dbt client's; the server's memory is not in it.

Prints wall time, rows per mart and peak RSS, the slowest nodes (from dbt's ``run_results.json``),
and writes the same as JSON next to the data. ``--reuse`` keeps a prepared warehouse of the same
profile (simulating and landing L takes ~2 minutes), so DuckDB and PostgreSQL can be measured on
the same raw rows. A build that exceeds ``--timeout-min`` is stopped and reported with the nodes
that had finished.

Usage: ``python -m bench.dbt_build --profile S|M|L --target duckdb|postgres [--work-dir DIR]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import os
import re
import shutil
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.harness import PeakRss, machine

log = logging.getLogger(__name__)

AS_OF = date(2026, 11, 23)
DEFAULT_DBNAME = "cobranza_bench"
MART_SCHEMAS = ("marts",)


def _settings(data_dir: Path, profile: str):
    from cobranza.settings import load_settings

    settings = load_settings(data_dir=data_dir)
    settings.simulator.profile = profile
    return settings


def prepare(data_dir: Path, profile: str, *, reuse: bool = False) -> dict[str, Any]:
    """Simulate the profile's sources and land them into ``data_dir``'s warehouse through the connectors.

    Args:
        data_dir: The data directory (warehouse, landing folder, dbt artefacts).
        profile: S, M or L.
        reuse: Keep a warehouse already prepared for the same profile and date.

    Returns:
        ``{"simulate_s", "ingest_s", "raw_rows", "reused"}``.
    """
    from flows import stages

    marker = data_dir / "prepared.json"
    if reuse and marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("profile") == profile and info.get("as_of") == AS_OF.isoformat():
            return {**info, "reused": True}
    if data_dir.exists():
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    ctx = stages.make_context(_settings(data_dir, profile), AS_OF)
    start = time.perf_counter()
    stages.simulate(ctx)
    simulate_s = time.perf_counter() - start
    start = time.perf_counter()
    stages.ingest(ctx)
    ingest_s = time.perf_counter() - start
    info = {
        "profile": profile,
        "as_of": AS_OF.isoformat(),
        "simulate_s": round(simulate_s, 1),
        "ingest_s": round(ingest_s, 1),
        "raw_rows": raw_row_counts(ctx.warehouse),
    }
    marker.write_text(json.dumps(info, indent=2))
    return {**info, "reused": False}


def raw_row_counts(warehouse: Path) -> dict[str, int]:
    """Rows per raw table of every stream contract."""
    import duckdb

    from connectors.contracts import ALL_STREAMS

    with duckdb.connect(str(warehouse)) as con:
        return {s.table: con.execute(f"select count(*) from {s.table}").fetchall()[0][0] for s in ALL_STREAMS}


def pg_params() -> dict[str, Any]:
    """Connection parameters of the dbt ``postgres`` output (same env vars, same defaults)."""
    return {
        "host": os.environ.get("COBRANZA_POSTGRES__HOST", "127.0.0.1"),
        "port": int(os.environ.get("COBRANZA_POSTGRES__PORT", "5432")),
        "user": os.environ.get("COBRANZA_POSTGRES__USER", "postgres"),
        "password": os.environ.get("COBRANZA_POSTGRES__PASSWORD", ""),
    }


def _pg_connect(dbname: str):
    import psycopg

    return psycopg.connect(dbname=dbname, autocommit=True, connect_timeout=5, **pg_params())


def recreate_pg_database(dbname: str) -> None:
    """Drop ``dbname`` if it exists and create it empty."""
    with _pg_connect("postgres") as admin:
        admin.execute(f'drop database if exists "{dbname}" with (force)')
        admin.execute(f'create database "{dbname}"')


def drop_pg_database(dbname: str) -> None:
    """Drop the bench database."""
    with _pg_connect("postgres") as admin:
        admin.execute(f'drop database if exists "{dbname}" with (force)')


def copy_raw_to_postgres(warehouse: Path, dbname: str, spool_dir: Path) -> dict[str, int]:
    """Create every contract's raw table in ``dbname`` and copy the warehouse's raw rows into it.

    Each table is exported by DuckDB as CSV (money as exact decimal text, instants as ISO text) and
    streamed to the server with ``COPY ... FROM STDIN`` in 1 MiB blocks, so memory stays flat.

    Returns:
        Rows per raw table.
    """
    import duckdb

    from connectors.contracts import ALL_STREAMS, LINEAGE_COLUMNS

    counts: dict[str, int] = {}
    spool_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(warehouse)) as src, _pg_connect(dbname) as pg:
        for stream in ALL_STREAMS:
            columns = {c.name: c.type for c in stream.columns} | LINEAGE_COLUMNS
            names = ", ".join(f'"{n}"' for n in columns)
            pg.execute(f"create schema if not exists {stream.schema}")
            ddl = ", ".join(f'"{n}" {t}' for n, t in columns.items())
            pg.execute(f"create table {stream.table} ({ddl})")
            csv = spool_dir / f"{stream.table}.csv"
            # NULL is an unquoted empty field, an empty string a quoted one: PostgreSQL's CSV rules.
            src.execute(
                f"copy (select {names} from {stream.table}) to '{csv}' (format csv, header false, force_quote *)"
            )
            with pg.cursor() as cur:
                with cur.copy(f"copy {stream.table} ({names}) from stdin (format csv)") as copy, csv.open("rb") as f:
                    while block := f.read(1 << 20):
                        copy.write(block)
                counts[stream.table] = cur.execute(f"select count(*) from {stream.table}").fetchall()[0][0]
            csv.unlink()
            pg.execute(f"analyze {stream.table}")
    return counts


PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
#: DuckDB column types (information_schema.columns.data_type) -> PostgreSQL.
_PG_TYPES = {
    "VARCHAR": "varchar",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "INTEGER": "integer",
    "BIGINT": "bigint",
    "DOUBLE": "double precision",
    "BOOLEAN": "boolean",
    "JSON": "json",
    "VARCHAR[]": "varchar[]",
}


def declared_sources(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every table the dbt project reads as a source (``schema.table``), from its ``*sources.yml`` files."""
    import yaml

    tables: list[str] = []
    for path in sorted(project_dir.glob("models/**/_*__sources.yml")):
        for source in yaml.safe_load(path.read_text(encoding="utf-8")).get("sources") or []:
            schema = source.get("schema") or source["name"]
            tables += [f"{schema}.{t['name']}" for t in source.get("tables") or []]
    return tables


def _pg_type(duckdb_type: str) -> str:
    if duckdb_type.startswith("DECIMAL"):
        return duckdb_type.replace("DECIMAL", "numeric")
    try:
        return _PG_TYPES[duckdb_type]
    except KeyError:
        raise ValueError(
            f"no PostgreSQL type for DuckDB type {duckdb_type}: add it to bench/dbt_build._PG_TYPES"
        ) from None


def _pg_csv_expr(name: str, duckdb_type: str) -> str:
    """The column as PostgreSQL's CSV input reads it (a list as an array literal ``{"a","b"}``)."""
    if not duckdb_type.endswith("[]"):
        return f'"{name}"'
    # each element double-quoted, its backslashes and double quotes escaped with a backslash
    element = """'"' || replace(replace(x, '\\', '\\\\'), '"', '\\"') || '"'"""
    items = f"array_to_string(list_transform(\"{name}\", lambda x: {element}), ',')"
    return f"""case when "{name}" is null then null else '{{' || {items} || '}}' end"""


def copy_sources_to_postgres(warehouse: Path, dbname: str, spool_dir: Path) -> dict[str, int]:
    """Copy every table the dbt project reads as a source from the DuckDB warehouse into ``dbname``.

    The raw tables (created from ``connectors/contracts.py``, :func:`copy_raw_to_postgres`) and the
    operational ones Python writes (``models/staging/ops``: outbox, decision log, scores, the raw
    gate's quarantine), created with the DuckDB table's columns; those a fresh warehouse lacks are
    first created empty by their owners (``flows.dbt_runner.ensure_operational_tables``). Without the
    quarantine table the PostgreSQL build would leave nothing out.

    Returns:
        Rows per copied table.
    """
    import duckdb

    from connectors.contracts import ALL_STREAMS
    from flows.dbt_runner import ensure_operational_tables

    ensure_operational_tables(warehouse)
    counts = copy_raw_to_postgres(warehouse, dbname, spool_dir)
    raw = {s.table for s in ALL_STREAMS}
    with duckdb.connect(str(warehouse)) as src, _pg_connect(dbname) as pg:
        for table in declared_sources():
            if table in raw:
                continue
            schema, name = table.split(".", 1)
            columns = src.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name],
            ).fetchall()
            if not columns:
                raise ValueError(f"{table} is a dbt source but not in {warehouse}: its owner did not create it")
            pg.execute(f"create schema if not exists {schema}")
            ddl = ", ".join(f'"{c}" {_pg_type(t)}' for c, t in columns)
            pg.execute(f"create table {table} ({ddl})")
            names = ", ".join(f'"{c}"' for c, _ in columns)
            exprs = ", ".join(_pg_csv_expr(c, t) for c, t in columns)
            csv = spool_dir / f"{table}.csv"
            src.execute(f"copy (select {exprs} from {table}) to '{csv}' (format csv, header false, force_quote *)")
            with pg.cursor() as cur:
                with cur.copy(f"copy {table} ({names}) from stdin (format csv)") as copy, csv.open("rb") as f:
                    while block := f.read(1 << 20):
                        copy.write(block)
                counts[table] = cur.execute(f"select count(*) from {table}").fetchall()[0][0]
            csv.unlink()
            pg.execute(f"analyze {table}")
    return counts


def _build_in_child(data_dir: str, target: str, dbname: str | None, queue: Any) -> None:
    """Run ``dbt build --full-refresh`` and put ``{"seconds", "peak_rss", "counts"}`` or an error on ``queue``."""
    from flows.dbt_runner import run_dbt

    if dbname:
        os.environ["COBRANZA_POSTGRES__DBNAME"] = dbname
    settings = _settings(Path(data_dir), "S")
    work = Path(data_dir) / f"dbt_{target}"
    start = time.perf_counter()
    try:
        with PeakRss() as mem:
            counts = run_dbt(
                ["build", "--full-refresh"],
                duckdb_path=settings.duckdb_path,
                work_dir=work,
                as_of=AS_OF,
                late_days=settings.model.late_days,
                target=None if target == "duckdb" else target,
            )
        queue.put({"seconds": time.perf_counter() - start, "peak_rss": mem.peak, "counts": counts})
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which prints it
        queue.put({"error": str(exc), "seconds": time.perf_counter() - start})


def timed_build(data_dir: Path, target: str, dbname: str | None, timeout_s: float) -> dict[str, Any]:
    """The build in a fresh process, stopped after ``timeout_s``."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_build_in_child, args=(str(data_dir), target, dbname, queue))
    start = time.perf_counter()
    proc.start()
    result: dict[str, Any] | None = None
    while result is None and time.perf_counter() - start < timeout_s:
        try:
            result = queue.get(timeout=5)
        except Exception:  # noqa: BLE001 - queue.Empty: keep waiting while the child lives
            if not proc.is_alive():
                result = {"error": f"dbt build process died (exit code {proc.exitcode})"}
    if result is None:
        proc.terminate()
        result = {"error": f"stopped after {timeout_s / 60:.0f} minutes", "seconds": time.perf_counter() - start}
        result["finished_nodes"] = finished_nodes(data_dir / f"dbt_{target}" / "logs" / "dbt.log")
    proc.join(30)
    return result


def finished_nodes(log_file: Path) -> list[str]:
    """Nodes dbt reported as finished in its log (for a build that was stopped)."""
    if not log_file.is_file():
        return []
    pattern = re.compile(r"\d+ of \d+ (?:OK|PASS|ERROR|FAIL|WARN)\w* .*?(?:model|test|seed|unit_test) ([\w.]+)")
    return pattern.findall(log_file.read_text(errors="replace"))


def _results(run_results: Path) -> list[dict[str, Any]]:
    return json.loads(run_results.read_text()).get("results", []) if run_results.is_file() else []


def slowest_nodes(run_results: Path, n: int = 8) -> list[tuple[str, float]]:
    """The ``n`` slowest nodes of a finished build."""
    results = _results(run_results)
    timed = sorted(((r["unique_id"], float(r.get("execution_time") or 0)) for r in results), key=lambda x: -x[1])
    return [(uid, round(t, 1)) for uid, t in timed[:n]]


def mart_rows(data_dir: Path, target: str, dbname: str | None) -> dict[str, int]:
    """Rows per table in the mart schemas after the build."""
    schemas = ", ".join(f"'{s}'" for s in MART_SCHEMAS)
    sql = (
        "select table_schema || '.' || table_name from information_schema.tables "
        f"where table_schema in ({schemas}) order by 1"
    )
    if target == "duckdb":
        import duckdb

        with duckdb.connect(str(_settings(data_dir, "S").duckdb_path)) as con:
            names = [r[0] for r in con.execute(sql).fetchall()]
            return {n: con.execute(f"select count(*) from {n}").fetchall()[0][0] for n in names}
    with _pg_connect(dbname or DEFAULT_DBNAME) as pg:
        names = [r[0] for r in pg.execute(sql).fetchall()]
        return {n: pg.execute(f"select count(*) from {n}").fetchall()[0][0] for n in names}


def run(
    profile: str, target: str, work_dir: Path, *, reuse: bool, keep: bool, dbname: str, timeout_min: float
) -> dict[str, Any]:
    """Prepare the warehouse, copy it to PostgreSQL if asked, time the build and collect the figures."""
    data_dir = work_dir / profile
    report: dict[str, Any] = {"profile": profile, "target": target, "machine": machine()}
    report["prepare"] = prepare(data_dir, profile, reuse=reuse)
    pg_db = None
    try:
        if target == "postgres":
            pg_db = dbname
            recreate_pg_database(pg_db)
            start = time.perf_counter()
            report["copied_rows"] = copy_sources_to_postgres(_settings(data_dir, profile).duckdb_path, pg_db, data_dir)
            report["copy_s"] = round(time.perf_counter() - start, 1)
        report["build"] = timed_build(data_dir, target, pg_db, timeout_min * 60)
        if "error" not in report["build"]:
            report["marts"] = mart_rows(data_dir, target, pg_db)
            results = data_dir / f"dbt_{target}" / "target" / "run_results.json"
            report["slowest"] = slowest_nodes(results)
            report["node_seconds"] = round(sum(float(r.get("execution_time") or 0) for r in _results(results)), 1)
    finally:
        if pg_db and not keep:
            drop_pg_database(pg_db)
    (work_dir / f"dbt_build_{profile}_{target}.json").write_text(json.dumps(report, indent=2, default=str))
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as plain text."""
    mib = 1 << 20
    prep = report["prepare"]
    raw = sum(prep["raw_rows"].values())
    lines = [
        f"dbt build, profile {report['profile']}, target {report['target']} "
        f"({report['machine'].get('cpu_model', '')}, commit {report['machine'].get('commit', '?')})",
        f"raw rows {raw:,} (simulate {prep['simulate_s']} s, ingest {prep['ingest_s']} s"
        f"{', reused' if prep.get('reused') else ''})",
    ]
    if "copy_s" in report:
        lines.append(f"raw copied to PostgreSQL in {report['copy_s']} s")
    build = report["build"]
    if "error" in build:
        lines.append(f"dbt build FAILED after {build.get('seconds', 0):.0f} s: {build['error']}")
        done = build.get("finished_nodes") or []
        if done:
            lines.append(f"{len(done)} node(s) had finished; last: {', '.join(done[-5:])}")
        return "\n".join(lines)
    peak = build["peak_rss"] / mib
    lines.append(f"dbt build: {build['seconds']:.1f} s wall, peak RSS {peak:,.0f} MiB, nodes {build['counts']}")
    lines.append(f"sum of node execution times: {report.get('node_seconds', 0)} s (the rest: start-up, parsing)")
    lines.append("")
    lines.append(f"{'mart':<44}{'rows':>14}")
    lines += [f"{name:<44}{n:>14,}" for name, n in report["marts"].items()]
    lines.append("")
    lines.append("slowest nodes (s): " + "; ".join(f"{uid.split('.', 2)[-1]} {t}" for uid, t in report["slowest"]))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m bench.dbt_build --profile M --target postgres``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="S", choices=["S", "M", "L"])
    parser.add_argument("--target", default="duckdb", choices=["duckdb", "postgres"])
    parser.add_argument("--work-dir", type=Path, default=None, help="data folder (default: a temporary one)")
    parser.add_argument("--reuse", action="store_true", help="keep a warehouse prepared for the same profile")
    parser.add_argument("--keep", action="store_true", help="keep the work folder and the PostgreSQL database")
    parser.add_argument("--dbname", default=DEFAULT_DBNAME, help="PostgreSQL database to (re)create")
    parser.add_argument("--timeout-min", type=float, default=25.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix=f"cobranza-dbt-{args.profile}-"))
    try:
        report = run(
            args.profile,
            args.target,
            work,
            reuse=args.reuse,
            keep=args.keep,
            dbname=args.dbname,
            timeout_min=args.timeout_min,
        )
    finally:
        if args.work_dir is None and not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(format_report(report))  # noqa: T201 - the bench's output is its report


if __name__ == "__main__":
    main()

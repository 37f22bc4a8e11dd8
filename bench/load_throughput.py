"""Load throughput of the source connectors: ERP streams from files, PostgreSQL and MariaDB into DuckDB.

Simulates a world at a profile (S/M/L), writes its ERP streams (customers, invoices, credit notes,
payment allocations) into a scratch schema on PostgreSQL and on MariaDB (``simulator.sql_writer``),
then times a full first sync of those streams into an empty DuckDB warehouse through the real
``connectors.base.sync`` for each source: the file-drop source on the extracts, and the SQL source
on each database. Every sync runs in a fresh process so its peak memory (resident set size sampled
every 20 ms with psutil) is its own. Prints one table: rows, seconds, rows/s, peak RSS.

Usage: ``python -m bench.load_throughput --profile M`` (``--only files,postgres`` to pick sources,
``--reader sqlalchemy`` to time another SQL read path than the default (connectorx), ``--keep`` to
leave the scratch schemas and folder in place).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing as mp
import shutil
import tempfile
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil

from bench.harness import PeakRss

log = logging.getLogger(__name__)

ERP_TABLES = ("raw_erp.customers", "raw_erp.invoices", "raw_erp.credit_notes", "raw_erp.payment_allocations")
DEFAULT_URLS = {
    "postgres": "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}
AS_OF = date(2026, 10, 31)


def measure_sync(
    kind: str, world_dir: str, db_path: str, url: str | None, schema: str | None, reader: str = "auto"
) -> dict[str, Any]:
    """Sync the ERP streams of one source into an empty DuckDB file and measure it (runs in a child process).

    Args:
        kind: ``files``, ``postgres`` or ``mariadb``.
        world_dir: The simulator's output folder (for ``files``).
        db_path: DuckDB file to create.
        url: Database URL (SQL sources).
        schema: Schema holding the ERP tables (SQL sources).
        reader: SQL read path (``auto``, ``connectorx``, ``copy``, ``sqlalchemy``).

    Returns:
        Rows landed, seconds, rows/s, peak and baseline RSS in bytes.
    """
    import duckdb

    from connectors.base import sync
    from connectors.sources.files.config import simulator_mapping
    from connectors.sources.files.reader import FileSource
    from connectors.sources.sql import SqlSource, erp_tables_config
    from connectors.sources.sql.source import column_to_arrow

    if kind == "files":
        source = FileSource(simulator_mapping(Path(world_dir)))
    else:
        source = SqlSource(erp_tables_config(url, schema, reader=reader))
        with source.engine().connect():  # driver import and first handshake are not load throughput
            pass
        import connectorx  # noqa: F401 - nor is importing the Rust client

        column_to_arrow([Decimal("0.00")], None)  # nor is pyarrow's lazy import of pandas on first use
    base = psutil.Process().memory_info().rss
    con = duckdb.connect(db_path)
    start = time.perf_counter()
    with PeakRss() as mem:
        result = sync(con, source, streams=ERP_TABLES, fail_fast=True)
    seconds = time.perf_counter() - start
    rows = sum(r.rows_new for r in result.landed)
    quarantined = sum(r.rows_quarantined for r in result.landed)
    con.close()
    if isinstance(source, SqlSource):
        source.close()
    return {
        "source": kind if kind == "files" else f"{kind} ({reader})",
        "rows": rows,
        "quarantined": quarantined,
        "seconds": seconds,
        "rows_per_s": rows / seconds if seconds else 0.0,
        "peak_rss": mem.peak,
        "base_rss": base,
    }


def _in_child(*args: object) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(measure_sync, args)


def run(
    profile: str = "S",
    *,
    only: tuple[str, ...] = ("files", "postgres", "mariadb"),
    urls: dict[str, str] | None = None,
    work_dir: Path | None = None,
    keep: bool = False,
    n_customers: int | None = None,
    reader: str = "auto",
) -> dict[str, Any]:
    """Simulate a world at ``profile``, write it to the databases and time each source's full sync.

    Args:
        profile: Simulator profile (S = 1k customers, M = 20k, L = 200k).
        only: Sources to measure among ``files``, ``postgres``, ``mariadb``.
        urls: Database URLs per backend (defaults to the local servers).
        work_dir: Scratch folder (a temporary one when None).
        keep: Keep the scratch folder and database schemas.
        n_customers: Override the profile's customer count.
        reader: SQL read path for the database sources.

    Returns:
        ``{"profile", "rows_expected", "simulate_s", "writes": [...], "syncs": [...]}``.
    """
    import sqlalchemy as sa

    from simulator import simulate
    from simulator.sql_writer import normalise_url, write_erp_to_database

    urls = {**DEFAULT_URLS, **(urls or {})}
    work = Path(work_dir or tempfile.mkdtemp(prefix=f"cobranza-load-{profile}-"))
    schema = f"cobranza_bench_{uuid.uuid4().hex[:8]}"
    report: dict[str, Any] = {"profile": profile, "writes": [], "syncs": []}
    start = time.perf_counter()
    manifest = simulate(work / "world", profile=profile, as_of=AS_OF, n_customers=n_customers)
    report["simulate_s"] = time.perf_counter() - start
    report["rows_expected"] = sum(manifest.row_counts[t] for t in ERP_TABLES)
    written: list[str] = []
    try:
        for kind in only:
            url = None
            if kind != "files":
                url = urls[kind]
                start = time.perf_counter()
                counts = write_erp_to_database(manifest, url, schema)
                secs = time.perf_counter() - start
                written.append(kind)
                n = sum(counts.values())
                report["writes"].append({"target": kind, "rows": n, "seconds": secs, "rows_per_s": n / secs})
            res = _in_child(kind, str(work / "world"), str(work / f"{kind}.duckdb"), url, schema, reader)
            report["syncs"].append(res)
    finally:
        if not keep:
            for kind in written:
                engine = sa.create_engine(normalise_url(urls[kind]), poolclass=sa.pool.NullPool)
                q = engine.dialect.identifier_preparer.quote
                with engine.begin() as conn:
                    what = "schema" if kind == "postgres" else "database"
                    cascade = " cascade" if kind == "postgres" else ""
                    conn.execute(sa.text(f"drop {what} if exists {q(schema)}{cascade}"))
                engine.dispose()
            shutil.rmtree(work, ignore_errors=True)
    return report


def format_report(report: dict[str, Any]) -> str:
    """The report as a plain-text table."""
    mib = 1024 * 1024
    lines = [
        f"profile {report['profile']}: {report['rows_expected']:,} ERP rows "
        f"(simulated in {report['simulate_s']:.1f} s)",
        "",
        f"{'step':<36}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak RSS MiB':>14}{'(+ over base)':>15}",
    ]
    for w in report["writes"]:
        lines.append(
            f"{'write ERP -> ' + w['target']:<36}{w['rows']:>12,}{w['seconds']:>10.2f}{w['rows_per_s']:>12,.0f}"
        )
    for s in report["syncs"]:
        lines.append(
            f"{'sync ' + s['source'] + ' -> duckdb':<36}{s['rows']:>12,}{s['seconds']:>10.2f}{s['rows_per_s']:>12,.0f}"
            f"{s['peak_rss'] / mib:>14,.0f}{(s['peak_rss'] - s['base_rss']) / mib:>15,.0f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m bench.load_throughput --profile M``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="S", choices=["S", "M", "L"])
    parser.add_argument("--only", default="files,postgres,mariadb", help="comma-separated sources to measure")
    parser.add_argument("--postgres-url", default=DEFAULT_URLS["postgres"])
    parser.add_argument("--mariadb-url", default=DEFAULT_URLS["mariadb"])
    parser.add_argument("--n-customers", type=int, default=None)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--reader", default="auto", choices=["auto", "connectorx", "copy", "sqlalchemy"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    report = run(
        args.profile,
        only=tuple(s.strip() for s in args.only.split(",") if s.strip()),
        urls={"postgres": args.postgres_url, "mariadb": args.mariadb_url},
        work_dir=args.work_dir,
        keep=args.keep,
        n_customers=args.n_customers,
        reader=args.reader,
    )
    print(format_report(report))  # noqa: T201 - the bench's output is its table


if __name__ == "__main__":
    main()

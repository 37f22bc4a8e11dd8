"""File-drop source: CSV, Parquet and JSON-lines exports read by DuckDB, one batch per file.

DuckDB does the reading (``read_csv`` / ``read_parquet`` / ``read_json``): it streams large files
without pulling them through Python. When the mapping has ``expressions``, ``where`` or ``distinct``
the reader wraps that read in a projection (``projected_sql``) that DuckDB evaluates in the same
query, so derived columns cost no Python either. Every value is read as text first and typed against the
contract in ``connectors.load.land``, so a malformed value becomes a quarantined record that names
its row instead of a crash or a silent coercion. A file whose content hash was already landed for
the stream is skipped, so re-delivering the same export changes nothing.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from connectors.base import Batch, SourceStream, sync
from connectors.contracts import StreamContract
from connectors.load import LandResult, SourceDataError
from connectors.sources.files.config import FileMapping, FileStreamMapping

log = logging.getLogger(__name__)


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def source_sql(file: Path, mapping: FileStreamMapping) -> str:
    """The DuckDB query reading ``file`` as declared in ``mapping``."""
    fmt = mapping.file_format(file)
    path = _lit(str(file))
    if fmt == "csv":
        opts = "".join(f", {k} = {_lit(v)}" for k, v in mapping.csv.items())
        return f"select * from read_csv({path}, header = true, all_varchar = true{opts})"
    if fmt == "parquet":
        return f"select * from read_parquet({path})"
    return f"select * from read_json({path}, format = 'auto', records = true)"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def projected_sql(
    base_sql: str, source_columns: list[str], contract: StreamContract, mapping: FileStreamMapping
) -> str:
    """Wrap ``base_sql`` in the mapping's projection: expressions, ``where`` and ``distinct``.

    Plain-mapped and same-name source columns keep their source names (the loader maps and types
    them, and names them in its errors); each expression is selected under its contract column's
    name; constants are left to the loader. A required source column the file lacks is simply not
    selected, so the loader reports it as missing.

    Args:
        base_sql: The query reading the file (``source_sql``).
        source_columns: The file's column names.
        contract: The stream's contract.
        mapping: The stream's mapping.

    Returns:
        ``select [distinct] <mapped columns>, <expressions> from (<base_sql>) src [where <predicate>]``.

    Raises:
        ValueError: An expression's name collides with a source column that is also selected.
    """
    available = set(source_columns)
    items: list[str] = []
    picked: set[str] = set()
    for col in contract.columns:
        if col.name in mapping.constants or col.name in mapping.expressions:
            continue
        src = mapping.columns.get(col.name, col.name)
        if src in available and src not in picked:
            picked.add(src)
            items.append(_q(src))
    clash = sorted(picked & set(mapping.expressions))
    if clash:
        raise ValueError(
            f"{contract.table}: expression column(s) {clash} share a name with a mapped source column; "
            "give the other contract column an expression instead (an expression may be just the quoted column)"
        )
    items += [f"({expr}) as {_q(name)}" for name, expr in mapping.expressions.items()]
    distinct = "distinct " if mapping.distinct else ""
    where = f" where ({mapping.where})" if mapping.where else ""
    return f"select {distinct}{', '.join(items) or '*'} from ({base_sql}) as src{where}"


def _columns_of(sql: str) -> list[str] | None:
    """Column names of a reader query (DuckDB sniffs only the header / metadata); None when unreadable."""
    con = duckdb.connect()
    try:
        return list(con.sql(sql).columns)
    except duckdb.Error:
        return None
    finally:
        con.close()


@dataclass
class FileStream:
    """One raw stream read from the files matching a glob."""

    contract: StreamContract
    mapping: FileStreamMapping
    base_dir: Path
    require_files: bool = True

    @property
    def lookback_days(self) -> int:
        """Merge look-back window (from the mapping)."""
        return self.mapping.lookback_days

    @property
    def max_bad_fraction(self) -> float:
        """Share of bad rows above which a file is refused whole."""
        return self.mapping.max_bad_fraction

    def files(self) -> list[Path]:
        """Matching files, in name order (exports are usually date-stamped)."""
        return sorted(p for p in self.base_dir.glob(self.mapping.path) if p.is_file())

    def read(self, watermark: datetime | None) -> Iterator[Batch]:
        """One batch per file; the loader skips files already landed and rows older than the window."""
        files = self.files()
        if not files and self.require_files:
            raise SourceDataError(
                f"no file matches {self.base_dir / self.mapping.path} for {self.contract.table}; "
                "check the landing folder or the mapping's 'path'"
            )
        for file in files:
            sql = source_sql(file, self.mapping)
            if self.mapping.projects:
                names = _columns_of(sql)
                # An unreadable file goes to the loader as is, which refuses it with the reason.
                if names is not None:
                    sql = projected_sql(sql, names, self.contract, self.mapping)
            yield Batch(
                origin=str(file),
                sql=sql,
                sha256=sha256_of(file),
                columns=self.mapping.columns,
                constants=self.mapping.constants,
                date_format=self.mapping.date_format,
                timestamp_format=self.mapping.timestamp_format,
            )


@dataclass
class FileSource:
    """A folder of exports described by a column mapping."""

    mapping: FileMapping
    require_files: bool = True

    @property
    def name(self) -> str:
        """Lineage name (``_source``) from the mapping."""
        return self.mapping.source

    def check(self) -> None:
        """The base folder must exist."""
        base = Path(self.mapping.base_dir or ".")
        if not base.is_dir():
            raise SourceDataError(f"landing folder {base} does not exist; create it or fix sources.landing_dir")

    def streams(self) -> list[SourceStream]:
        """The mapped streams in contract order."""
        base = Path(self.mapping.base_dir or ".")
        return [FileStream(c, m, base, self.require_files) for c, m in self.mapping.contracts()]


def load_mapping_files(
    con: duckdb.DuckDBPyConnection, mapping: FileMapping, *, require_all: bool = True, fail_fast: bool = True
) -> list[LandResult]:
    """Land every file of every stream in ``mapping``.

    Args:
        con: Warehouse connection.
        mapping: The streams, their file globs and column mappings.
        require_all: A configured stream with no file at all is an error.
        fail_fast: Raise at the first unreadable file; otherwise quarantine it whole
            (``quarantine.raw_files``), land the others, then raise naming every refused file.

    Returns:
        One result per file (loaded or skipped as already loaded).

    Raises:
        SourceDataError: A file is missing, unreadable, or lacks required columns.
    """
    result = sync(con, FileSource(mapping, require_all), fail_fast=fail_fast)
    for r in result.landed:
        log.info("%s <- %s: %s", r.stream, Path(r.origin).name, r.status)
    if result.refused:
        errors = "; ".join(x["error"] for x in result.refused)
        raise SourceDataError(f"{len(result.refused)} source batch(es) refused and quarantined: {errors}")
    return result.landed

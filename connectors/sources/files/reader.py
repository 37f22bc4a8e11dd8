"""Reads file drops (CSV, Parquet, JSON lines) and lands them through ``connectors.load``.

DuckDB does the reading (``read_csv`` / ``read_parquet`` / ``read_json``): it streams large files
without pulling them through Python. Every value is read as text first and typed against the
contract in ``land``, so a malformed value becomes a quarantined record that names its row instead of
a crash or a silent coercion.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import duckdb

from connectors.load import LandResult, SourceDataError, land
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


def files_for(mapping: FileMapping, table: str, stream_mapping: FileStreamMapping) -> list[Path]:
    """Files matching the stream's glob, oldest name first (exports are usually date-stamped)."""
    base = Path(mapping.base_dir or ".")
    return sorted(p for p in base.glob(stream_mapping.path) if p.is_file())


def load_mapping_files(
    con: duckdb.DuckDBPyConnection, mapping: FileMapping, *, require_all: bool = True
) -> list[LandResult]:
    """Land every file of every stream in ``mapping``; stop at the first unreadable file.

    Args:
        con: Warehouse connection.
        mapping: The streams, their file globs and column mappings.
        require_all: Raise when a configured stream has no file at all.

    Returns:
        One result per file (loaded or skipped as already loaded).

    Raises:
        SourceDataError: A file is missing, unreadable, or lacks required columns.
    """
    results: list[LandResult] = []
    for contract, sm in mapping.contracts():
        files = files_for(mapping, contract.table, sm)
        if not files and require_all:
            raise SourceDataError(
                f"no file matches {Path(mapping.base_dir or '.') / sm.path} for {contract.table}; "
                "check the landing folder or the mapping's 'path'"
            )
        for file in files:
            sql = source_sql(file, sm)
            try:
                result = land(
                    con,
                    contract,
                    sql,
                    source=mapping.source,
                    origin=str(file),
                    origin_sha256=sha256_of(file),
                    columns=sm.columns,
                    constants=sm.constants,
                    date_format=sm.date_format,
                    timestamp_format=sm.timestamp_format,
                    lookback_days=sm.lookback_days,
                    max_bad_fraction=sm.max_bad_fraction,
                )
            except duckdb.Error as exc:
                first = str(exc).strip().splitlines()[0]
                raise SourceDataError(
                    f"{file}: cannot be read as {sm.file_format(file)} ({first}); "
                    "the file is corrupted or truncated - re-export it and re-run"
                ) from None
            log.info("%s <- %s: %s", contract.table, file.name, result.status)
            results.append(result)
    return results

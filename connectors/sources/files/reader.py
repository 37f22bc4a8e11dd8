"""File-drop source: CSV, Parquet and JSON-lines exports read by DuckDB, one batch per file.

DuckDB does the reading (``read_csv`` / ``read_parquet`` / ``read_json``): it streams large files
without pulling them through Python. When the mapping has ``expressions``, ``where`` or ``distinct``
the reader wraps that read in a projection (``projected_sql``) that DuckDB evaluates in the same
query, so derived columns cost no Python either. Every value is read as text first and typed against the
contract in ``connectors.load.land``, so a malformed value becomes a quarantined record that names
its row instead of a crash or a silent coercion. A file whose content hash was already landed for
the stream is skipped, so re-delivering the same export changes nothing.

Before DuckDB reads a file, its first bytes are looked at (``sniff``): an empty file, gzip/ZIP/Parquet
bytes or an HTML error page under a ``.csv`` name, a Parquet file without its footer (truncated), or a
CSV whose header is separated by another character than the mapping's ``delimiter`` (a European
``;`` export) are set aside whole with a reason that says what to do - never read as something else.
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
        csv = {k: v for k, v in mapping.csv.items() if k not in ("delim", "sep", "delimiter")}
        csv["delim"] = mapping.csv_delimiter
        opts = "".join(f", {k} = {_lit(v)}" for k, v in csv.items())
        return f"select * from read_csv({path}, header = true, all_varchar = true{opts})"
    if fmt == "parquet":
        return f"select * from read_parquet({path})"
    return f"select * from read_json({path}, format = 'auto', records = true)"


_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<!--")
_OTHER_DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'", ",": "','"}


def sniff(file: Path, mapping: FileStreamMapping, contract: StreamContract) -> str | None:
    """Why ``file`` cannot be what the mapping says it is, from its first and last bytes; None if plausible.

    Args:
        file: The file to look at.
        mapping: The stream's mapping (format, delimiter, CSV options).
        contract: The stream's contract (which column names a header should hold).

    Returns:
        A reason naming the file, the problem and what to do, or None.
    """
    fmt = mapping.file_format(file)
    size = file.stat().st_size
    if size == 0:
        return f"{file}: empty file (0 bytes): the export was not written or was cut off; re-export it"
    with open(file, "rb") as fh:
        head = fh.read(4096)
        fh.seek(max(0, size - 4))
        tail = fh.read(4)
    if head[:2] == b"\x1f\x8b":
        return f"{file}: gzip-compressed data, not {fmt.upper()}; decompress it (gunzip) and drop the plain file"
    if head[:4] == b"PK\x03\x04":
        return f"{file}: a ZIP archive (an Excel workbook?), not {fmt.upper()}; export or unzip it as {fmt.upper()}"
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(_HTML_STARTS):
        return (
            f"{file}: an HTML page (an error or login page saved by the download?), not {fmt.upper()}; "
            "download the export again"
        )
    if fmt == "parquet":
        if head[:4] != b"PAR1":
            return f"{file}: not a Parquet file (it does not start with PAR1); check the export's format"
        if tail != b"PAR1":
            return f"{file}: truncated Parquet file (its footer is missing); re-export or re-copy it"
        return None
    if head[:4] == b"PAR1":
        return f"{file}: a Parquet file named .{file.suffix.lstrip('.')}; rename it .parquet or set format: parquet"
    if head[:2] in (b"\xff\xfe", b"\xfe\xff") and "encoding" not in mapping.csv:
        return f"{file}: UTF-16 text; save it as UTF-8 or set csv: {{encoding: utf-16}} in the column mapping"
    if fmt == "csv":
        return _sniff_delimiter(file, head, mapping, contract)
    return None


def _sniff_delimiter(file: Path, head: bytes, mapping: FileStreamMapping, contract: StreamContract) -> str | None:
    """A header that splits into known columns on another separator than the mapping's: say which to set."""
    header = head.decode("utf-8", errors="replace").lstrip("\ufeff").splitlines()[0] if head else ""
    delim = mapping.csv_delimiter
    expected = {mapping.columns.get(c, c).lower() for c in contract.column_names}
    read_as = {f.strip().strip('"').lower() for f in header.split(delim)}
    if read_as & expected:
        return None
    for other, label in _OTHER_DELIMITERS.items():
        fields = {f.strip().strip('"').lower() for f in header.split(other)}
        if other != delim and len(fields) > 1 and fields & expected:
            return (
                f"{file}: fields are separated by {label}, not {_OTHER_DELIMITERS.get(delim, repr(delim))} "
                f"(header: {header[:80]!r}); set delimiter: {other!r} in the column mapping "
                "(and decimal: ',' if amounts are written like 1.234,56)"
            )
    return None


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
        read_key = self.mapping.model_dump_json()  # a corrected mapping reads a set-aside file anew
        for file in files:
            reason = sniff(file, self.mapping, self.contract)
            if reason:
                yield Batch(origin=str(file), sha256=sha256_of(file), read_key=read_key, error=reason)
                continue
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
                read_key=read_key,
                columns=self.mapping.columns,
                constants=self.mapping.constants,
                date_format=self.mapping.date_format,
                timestamp_format=self.mapping.timestamp_format,
                decimal_separator=self.mapping.decimal,
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

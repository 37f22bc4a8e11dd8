"""Write a simulated AR world as the exports real sources deliver (DESIGN.md §8).

Onboarding gets the bulk exports below; each later day, ``simulate(since=...)`` writes only that
day's increment beside them (``erp/invoices_<yyyymmdd>.parquet``, ... with the rows that changed after
``since``), as an ERP's or CRM's daily export does, so a day's ingest reads the day, not the history.

Layout under ``out_dir`` (column names and order are those of ``connectors.contracts``, without the
lineage columns the connectors add):

```
erp/customers.csv            erp/invoices.parquet        erp/credit_notes.csv
erp/payment_allocations.parquet
crm/contacts.jsonl           crm/interactions.csv        crm/disputes.csv
bank/statement_lines.parquet
bank/statements/<account>_<yyyymmdd>.xml|.sta   (daily camt.053 / MT940, see simulator.bank_formats)
_truth/bank_line_invoices.parquet  _truth/bank_lines.parquet  _truth/customer_classes.parquet
manifest.json
```

Formats: Parquet money is ``decimal128(18, 2)``, dates ``date32`` and instants ``timestamp[us]``
(UTC, naive). CSV and JSON lines carry money as plain decimal strings with two decimals, dates as
``YYYY-MM-DD`` and instants as ``YYYY-MM-DD HH:MM:SS`` (UTC). Every file is written to a temporary
name in the same directory and renamed into place, so a crash never leaves a half-written file;
``manifest.json`` is written last. Ground truth lives apart in ``_truth/`` and is for evaluation code
only, never for the pipeline.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from connectors import contracts
from simulator.anomalies import AnomalyConfig
from simulator.anomalies import inject as inject_anomalies
from simulator.bank_formats import write_daily_statements
from simulator.profiles import get_profile
from simulator.world import TRUTH_PREFIX, WorldConfig, iter_world

DEFAULT_START_DATE = date(2024, 11, 1)
DEFAULT_HISTORY_DAYS = 730  # as_of defaults to two years of history after start_date

# Raw table -> file path relative to out_dir. The extension decides the format.
STREAM_FILES: dict[str, str] = {
    contracts.CUSTOMERS.table: "erp/customers.csv",
    contracts.INVOICES.table: "erp/invoices.parquet",
    contracts.CREDIT_NOTES.table: "erp/credit_notes.csv",
    contracts.PAYMENT_ALLOCATIONS.table: "erp/payment_allocations.parquet",
    contracts.CONTACTS.table: "crm/contacts.jsonl",
    contracts.INTERACTIONS.table: "crm/interactions.csv",
    contracts.DISPUTES.table: "crm/disputes.csv",
    contracts.STATEMENT_LINES.table: "bank/statement_lines.parquet",
}
TRUTH_FILES: dict[str, str] = {
    "bank_line_invoices": "_truth/bank_line_invoices.parquet",
    "bank_lines": "_truth/bank_lines.parquet",
    "customer_classes": "_truth/customer_classes.parquet",
    "anomalies": "_truth/anomalies.parquet",  # only with anomalies (simulator.anomalies)
}
MANIFEST_FILE = "manifest.json"
STATEMENTS_DIR = "bank/statements"
#: Raw table -> the column that says when a row last changed: a row of the world seen at ``D + n`` with
#: a value up to the end of ``D`` is the same row the world seen at ``D`` held (``simulator.world``), so
#: the rows after it are the day's increment, exactly.
CHANGE_COLUMNS: dict[str, str] = {
    contracts.CUSTOMERS.table: "updated_at",
    contracts.INVOICES.table: "updated_at",
    contracts.CREDIT_NOTES.table: "updated_at",
    contracts.PAYMENT_ALLOCATIONS.table: "recorded_at",
    contracts.CONTACTS.table: "updated_at",
    contracts.INTERACTIONS.table: "occurred_at",
    contracts.DISPUTES.table: "updated_at",
    contracts.STATEMENT_LINES.table: "booking_date",
}


@dataclass
class SimulationManifest:
    """What ``simulate`` wrote.

    Attributes:
        out_dir: Root directory of the extracts.
        profile: Scale profile (``S``, ``M``, ``L``).
        seed: Random seed.
        as_of: Observation date of the extracts.
        files: Raw table name (``raw_erp.invoices``) -> file path.
        row_counts: Raw table name -> number of rows written.
        start_date: First day of the simulated timeline.
        n_customers: Customers in the world (visible or not yet onboarded).
        truth_files: Ground-truth table name -> file path (evaluation only).
        truth_row_counts: Ground-truth table name -> number of rows written.
        defects: Deliberate data-quality defects injected (empty unless asked for).
        statement_files: Daily bank statement files (camt.053 / MT940) of the last days before
            ``as_of``, written from the bank lines (``simulate(daily_statement_days=...)``).
        since: For a daily increment, the as-of date of the extract it follows: ``files`` then hold
            only the rows that changed after that day (None: ``files`` are the bulk exports).
    """

    out_dir: Path
    profile: str
    seed: int
    as_of: date
    files: dict[str, Path]
    row_counts: dict[str, int]
    start_date: date = DEFAULT_START_DATE
    n_customers: int = 0
    truth_files: dict[str, Path] = field(default_factory=dict)
    truth_row_counts: dict[str, int] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)
    statement_files: list[Path] = field(default_factory=list)
    since: date | None = None

    def to_dict(self, relative: bool = False) -> dict[str, object]:
        """JSON-ready dict; with ``relative`` paths are relative to ``out_dir`` and ``out_dir`` is left out."""

        def path(p: Path) -> str:
            return p.relative_to(self.out_dir).as_posix() if relative else str(p)

        data: dict[str, object] = {} if relative else {"out_dir": str(self.out_dir)}
        data.update(
            {
                "profile": self.profile,
                "seed": self.seed,
                "as_of": self.as_of.isoformat(),
                "start_date": self.start_date.isoformat(),
                "n_customers": self.n_customers,
                "files": {k: path(v) for k, v in self.files.items()},
                "row_counts": dict(self.row_counts),
                "truth_files": {k: path(v) for k, v in self.truth_files.items()},
                "truth_row_counts": dict(self.truth_row_counts),
                "defects": list(self.defects),
                "statement_files": [path(p) for p in self.statement_files],
                "since": self.since.isoformat() if self.since else None,
            }
        )
        return data

    def to_json(self, relative: bool = False) -> str:
        """Serialise the manifest as a JSON object (see ``to_dict``)."""
        return json.dumps(self.to_dict(relative=relative), indent=2, ensure_ascii=False, sort_keys=False)

    @classmethod
    def read(cls, out_dir: Path) -> SimulationManifest:
        """Load ``<out_dir>/manifest.json`` written by ``simulate``."""
        out_dir = Path(out_dir)
        data = json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        return cls(
            out_dir=out_dir,
            profile=data["profile"],
            seed=data["seed"],
            as_of=date.fromisoformat(data["as_of"]),
            files={k: out_dir / v for k, v in data["files"].items()},
            row_counts=data["row_counts"],
            start_date=date.fromisoformat(data["start_date"]),
            n_customers=data["n_customers"],
            truth_files={k: out_dir / v for k, v in data["truth_files"].items()},
            truth_row_counts=data["truth_row_counts"],
            defects=data["defects"],
            statement_files=[out_dir / p for p in data.get("statement_files", [])],
            since=date.fromisoformat(data["since"]) if data.get("since") else None,
        )


def simulate(
    out_dir: Path,
    profile: str = "S",
    seed: int = 42,
    as_of: date | None = None,
    start_date: date = DEFAULT_START_DATE,
    *,
    n_customers: int | None = None,
    defects: bool = False,
    daily_statement_days: int = 5,
    anomalies: AnomalyConfig | None = None,
    since: date | None = None,
) -> SimulationManifest:
    """Generate the AR world and write its source extracts as seen on ``as_of``.

    Args:
        out_dir: Directory to write into (created if missing; existing files are replaced).
        profile: Scale profile ``S`` (1k customers), ``M`` (20k) or ``L`` (200k).
        seed: Seed; the same seed, dates and size give byte-identical files.
        as_of: Observation date; nothing that happens after its end (UTC) is in the files. Must be
            at least 60 days after ``start_date`` and within the 5-year horizon. Defaults to two
            years of history (``start_date + 729 days``, 2026-10-31 for the default start).
        start_date: First day of the simulated timeline.
        n_customers: Override the profile's customer count (small worlds for tests).
        defects: Inject a few deliberate data-quality defects (duplicated invoice rows, a negative
            amount, a malformed phone and e-mail, an invalid currency, a duplicated bank line).
        daily_statement_days: Also write the bank lines booked in the last N days up to ``as_of``
            as daily statement files under ``bank/statements/`` (camt.053 .08 for EUR/MXN accounts,
            .02 for USD/COP, MT940 for the others; one file per account and booking day, balances
            chained from ``simulator.bank_formats.DEFAULT_OPENING_BALANCE``). 0 writes none.
        anomalies: Plant the early-warning anomalies (``simulator.anomalies``) and write their labels
            to ``_truth/anomalies.parquet``; None (default) leaves the world honest.
        since: Write the day's increment instead of the bulk exports: the rows that changed after
            the end of ``since`` (the as-of date of the extract already in ``out_dir``), each stream
            to ``<bulk name>_<as_of yyyymmdd>.<ext>`` beside its bulk export (none when nothing
            changed). The ground truth and the statement files are written whole as always.

    Returns:
        The manifest, also written to ``<out_dir>/manifest.json``.

    Raises:
        ValueError: On an unknown profile, a non-positive ``n_customers``, ``as_of`` outside the
            simulated horizon, or ``since`` not before ``as_of``.
    """
    prof = get_profile(profile)
    if as_of is None:
        as_of = start_date + timedelta(days=DEFAULT_HISTORY_DAYS - 1)
    cfg = WorldConfig(
        seed=seed,
        start_date=start_date,
        as_of=as_of,
        n_customers=prof.n_customers if n_customers is None else n_customers,
        invoice_number_width=prof.invoice_number_width,
        defects=defects,
        credit_control=anomalies is not None and anomalies.credit_control,
    )
    if since is not None and since >= as_of:
        raise ValueError(f"since={since.isoformat()} must be before as_of={as_of.isoformat()} for a daily increment")
    defects_log: list[str] = []
    items = iter_world(cfg, defects_log)
    if anomalies is not None:
        items = inject_anomalies(items, cfg, anomalies)
    kept: dict[str, pa.Table] = {}
    manifest = write_tables(items, Path(out_dir), prof.name, cfg, defects_log, since=since, kept=kept)
    if daily_statement_days > 0:
        manifest.statement_files = _write_statement_files(
            manifest, daily_statement_days, kept.get(contracts.STATEMENT_LINES.table)
        )
        _write_manifest(manifest)
    return manifest


def simulate_day(
    out_dir: Path, profile: str, seed: int, as_of: date, start_date: date, n_customers: int | None = None
) -> SimulationManifest:
    """The extract of one business day: the day's increment after the extract in ``out_dir``, or the bulk exports.

    The increment (:func:`simulate` with ``since``) follows an extract of the same world (seed,
    profile, start date) for an earlier day whose bulk exports are all still there; anything else (a
    first run, another world, a day before the last one, a removed bulk file) writes the bulk exports
    and removes the increments beside them, which belonged to another history.
    """
    out_dir = Path(out_dir)
    since = None
    last = _readable_manifest(out_dir)
    prof = get_profile(profile)
    if (
        last is not None
        and not last.defects
        and (last.seed, last.profile, last.start_date, last.n_customers)
        == (seed, prof.name, start_date, n_customers or prof.n_customers)
        and all((out_dir / rel).is_file() for rel in STREAM_FILES.values())
        and last.as_of <= as_of
    ):
        if last.as_of == as_of:
            return last  # this day's extract is already there
        since = last.as_of
    if since is None:
        for rel in STREAM_FILES.values():
            bulk = out_dir / rel
            for old in bulk.parent.glob(f"{bulk.stem}_{'[0-9]' * 8}{bulk.suffix}"):
                old.unlink()
    return simulate(
        out_dir, profile=profile, seed=seed, as_of=as_of, start_date=start_date, n_customers=n_customers, since=since
    )


def _readable_manifest(out_dir: Path) -> SimulationManifest | None:
    """The manifest in ``out_dir``, or None when there is none or it cannot be read (then the bulk is rewritten)."""
    try:
        return SimulationManifest.read(out_dir)
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):  # truncated, garbled or from another version: start over
        return None


def increment_path(bulk: Path, as_of: date) -> Path:
    """Where a stream's increment for ``as_of`` goes: ``erp/invoices.parquet`` -> ``erp/invoices_20261124.parquet``."""
    return bulk.with_name(f"{bulk.stem}_{as_of:%Y%m%d}{bulk.suffix}")


def changed_after(table: pa.Table, column: str, since: date) -> pa.Table:
    """The rows of ``table`` whose ``column`` (a date or a UTC instant) lies after the end of ``since``."""
    col = table.column(column)
    if pa.types.is_timestamp(col.type):
        cutoff = pa.scalar(datetime.combine(since + timedelta(days=1), time(0)), type=col.type)
        return table.filter(pc.greater_equal(col, cutoff))
    return table.filter(pc.greater(col, pa.scalar(since, type=col.type)))


def _write_statement_files(manifest: SimulationManifest, days: int, lines: pa.Table | None = None) -> list[Path]:
    """Daily statement files of the last ``days`` booking days up to ``as_of`` (balances from the start)."""
    lines_path = manifest.files.get(contracts.STATEMENT_LINES.table)
    if lines is None and lines_path is None:
        return []
    folder = manifest.out_dir / STATEMENTS_DIR
    if folder.is_dir():  # a re-run into the same folder must not leave files of another as_of behind
        for old in folder.iterdir():
            if old.is_file() and old.suffix in (".xml", ".sta"):
                old.unlink()
    return write_daily_statements(
        pq.read_table(lines_path) if lines is None else lines,
        folder,
        since=manifest.as_of - timedelta(days=days - 1),
        until=manifest.as_of,
    )


def _write_manifest(manifest: SimulationManifest) -> None:
    out = manifest.out_dir / MANIFEST_FILE
    _atomic_write(out, lambda f: f.write((manifest.to_json(relative=True) + "\n").encode()))


def write_tables(
    items: Iterator[tuple[str, pa.Table]],
    out_dir: Path,
    profile: str,
    cfg: WorldConfig,
    defects: list[str] | None = None,
    *,
    since: date | None = None,
    kept: dict[str, pa.Table] | None = None,
) -> SimulationManifest:
    """Write each ``(name, table)`` as it arrives, then the manifest.

    Tables are dropped once written, so with ``simulator.world.iter_world`` only one table is in
    memory at a time.

    Args:
        items: Raw table names (``raw_erp.invoices``) or ``_truth.<name>`` with their tables.
        out_dir: Target directory (created if missing).
        profile: Profile name recorded in the manifest.
        cfg: The world's configuration, recorded in the manifest.
        defects: Descriptions of injected defects; read after ``items`` is exhausted.
        since: Write each raw stream's rows changed after this day to its increment file
            (:func:`increment_path`) instead of the whole table to its bulk file.
        kept: When given, receives the whole bank statement lines table (for the statement files).

    Returns:
        The manifest of what was written.

    Raises:
        ValueError: If a table name has no file location.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: dict[str, tuple[Path, int]] = {}
    for name, table in items:
        rel = (
            TRUTH_FILES.get(name.removeprefix(TRUTH_PREFIX))
            if name.startswith(TRUTH_PREFIX)
            else STREAM_FILES.get(name)
        )
        if rel is None:
            raise ValueError(f"no output file is defined for table {name!r}")
        path = out_dir / rel
        if kept is not None and name == contracts.STATEMENT_LINES.table:
            kept[name] = table
        if since is not None and not name.startswith(TRUTH_PREFIX):
            table = changed_after(table, CHANGE_COLUMNS[name], since)
            path = increment_path(path, cfg.as_of)
            if table.num_rows == 0:  # a quiet day: no file, as an export with nothing new sends none
                continue
        write_table(table, path)
        written[name] = (path, table.num_rows)
        del table
    files = {k: written[k][0] for k in STREAM_FILES if k in written}
    truth = {k: written[TRUTH_PREFIX + k][0] for k in TRUTH_FILES if TRUTH_PREFIX + k in written}
    manifest = SimulationManifest(
        out_dir=out_dir,
        profile=profile,
        seed=cfg.seed,
        as_of=cfg.as_of,
        files=files,
        row_counts={k: written[k][1] for k in files},
        start_date=cfg.start_date,
        n_customers=cfg.n_customers,
        truth_files=truth,
        truth_row_counts={k: written[TRUTH_PREFIX + k][1] for k in truth},
        defects=list(defects or []),
        since=since,
    )
    _atomic_write(out_dir / MANIFEST_FILE, lambda f: f.write((manifest.to_json(relative=True) + "\n").encode()))
    return manifest


def write_table(table: pa.Table, path: Path) -> None:
    """Write ``table`` atomically in the format given by the file extension.

    Args:
        table: Arrow table (contract types).
        path: Target path ending in ``.parquet``, ``.csv`` or ``.jsonl``.

    Raises:
        ValueError: On an unsupported extension.
    """
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        _atomic_write(path, lambda f: pq.write_table(table, f, compression="zstd", row_group_size=1_000_000))
    elif suffix == ".csv":
        text = _as_text(table)
        options = pa_csv.WriteOptions(include_header=True, quoting_style="needed")
        _atomic_write(path, lambda f: pa_csv.write_csv(text, f, options))
    elif suffix == ".jsonl":
        _atomic_write(path, lambda f: _write_jsonl(table, f))
    else:
        raise ValueError(f"cannot write {path}: unsupported extension {suffix!r} (use .parquet, .csv or .jsonl)")


def _as_text(table: pa.Table) -> pa.Table:
    """Render dates, instants, money and booleans as the strings CSV files carry."""
    cols = []
    for col in table.columns:
        t = col.type
        if pa.types.is_timestamp(t):
            col = col.cast(pa.timestamp("s")).cast(pa.string())  # "YYYY-MM-DD HH:MM:SS"
        elif pa.types.is_date(t) or pa.types.is_decimal(t):
            col = col.cast(pa.string())  # "YYYY-MM-DD", "1234.50"
        elif pa.types.is_boolean(t):
            col = pc.if_else(col, "true", "false")
        cols.append(col)
    return pa.Table.from_arrays(cols, names=table.column_names)


def _json_string(col: pa.Array) -> pa.Array:
    escaped = col
    for raw, esc in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\n"), ("\r", "\\r"), ("\t", "\\t")):
        escaped = pc.replace_substring(escaped, raw, esc)
    return pc.binary_join_element_wise('"', escaped, '"', "")


def _write_jsonl(table: pa.Table, f) -> None:  # noqa: ANN001 - binary file object
    """One JSON object per line, built column-wise with Arrow (no per-row Python).

    Strings, dates, instants and money are JSON strings (money keeps its exact decimal text),
    integers are numbers, booleans ``true``/``false``, nulls ``null``.
    """
    if table.num_rows == 0:
        return
    fragments = []
    for i, (name, col) in enumerate(zip(table.column_names, table.columns, strict=True)):
        col = col.combine_chunks()
        t = col.type
        if pa.types.is_boolean(t):
            value = pc.if_else(col, "true", "false")
        elif pa.types.is_integer(t):
            value = col.cast(pa.string())
        elif pa.types.is_timestamp(t):
            value = _json_string(col.cast(pa.timestamp("s")).cast(pa.string()))
        else:
            value = _json_string(col.cast(pa.string()))
        key = ("{" if i == 0 else ",") + json.dumps(name) + ":"
        fragments.append(pc.binary_join_element_wise(key, pc.fill_null(value, "null"), ""))
    lines = pa.concat_arrays([pc.binary_join_element_wise(*fragments, "}\n", "").cast(pa.large_string())])
    offsets = np.frombuffer(lines.buffers()[1], dtype=np.int64, count=len(lines) + 1)
    f.write(memoryview(lines.buffers()[2])[offsets[0] : offsets[-1]])


def _atomic_write(path: Path, write: Callable[[object], None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; extracts are ordinary readable files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

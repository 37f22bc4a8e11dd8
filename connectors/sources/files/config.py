"""Column-mapping configuration for the file-drop connector.

A mapping file (YAML) says, per raw stream, which files to read and how their columns map onto the
stream's contract, so a third-party export (another ERP's AR history, a bank's CSV) is ingested by
configuration alone::

    source: acme_erp                 # lineage value written to _source
    streams:
      raw_erp.invoices:
        path: erp/invoices*.csv      # glob, relative to the mapping's base directory
        format: csv                  # csv | parquet | json (default: from the extension)
        columns:                     # contract column: source column (omitted = same name)
          invoice_id: invoiceNumber
          number: invoiceNumber      # one source column may feed several contract columns
          due_date: DueDate
        constants:                   # contract column: literal value for every row
          currency: USD
        expressions:                 # contract column: DuckDB SQL expression over source columns
          amount_open: "'0.00'"
          updated_at: "strptime(SettledDate, '%m/%d/%Y')"
        where: "SettledDate <> ''"   # DuckDB SQL predicate: only matching source rows are read
        distinct: false              # true: one row per distinct mapped record (see below)
        date_format: "%m/%d/%Y"      # strptime format for DATE columns (default ISO)
        timestamp_format: "%Y-%m-%d %H:%M:%S"
        csv: {quote: '"'}            # further DuckDB read_csv options
        delimiter: ";"               # CSV field separator (default ","; also csv: {delim: ...})
        decimal: ","                 # decimal separator of amounts (default "."): 1.234,56 reads as 1234.56
        lookback_days: 3             # merge streams: ignore rows older than watermark - lookback
        max_bad_fraction: 0.05       # more bad rows than this share: refuse the file whole

How a stream is read. CSV is read as text (``all_varchar``); Parquet and JSON keep their types.
Each contract column takes, in order of precedence, its ``constants`` value, its ``expressions``
value, the mapped source column in ``columns``, or the source column of the same name; optional
contract columns with none of these land as NULL, required ones make the file fail with a message
naming the missing column. Every value is then typed against the contract by the loader, so a value
that does not fit is quarantined with its row, never coerced.

- ``expressions`` are evaluated by DuckDB in the reader's query over the file's own columns (quote
  mixed-case names as ``"InvoiceDate"`` if DuckDB would fold them), so a derived value needs no code:
  literals (``'posted'``), date parsing (``strptime(SettledDate, '%m/%d/%Y')``), arithmetic,
  ``case`` expressions and window functions (``max(x) over (partition by customerID)``). An
  expression producing a DATE or TIMESTAMP is rendered in ISO form: leave ``date_format`` /
  ``timestamp_format`` unset for those columns or make the expression return text in that format.
- ``where`` keeps only the source rows it is true for (e.g. a disputes stream fed from invoice lines
  with ``Disputed = 'Yes'``).
- ``distinct: true`` reads one row per distinct combination of the mapped values, for deriving a
  dimension from fact lines (customers from invoice lines). Give every non-key column a value that
  is the same on all of a key's lines (a window expression such as ``max(...) over (partition by
  key)``); otherwise the loader keeps the newest version and quarantines the others as duplicates.
- A European export (``;`` between fields, ``1.234,56`` amounts) needs ``delimiter: ";"`` and
  ``decimal: ","``. Without them such a file is set aside with a reason naming the option to set,
  never read with its amounts misplaced: a header that splits on ``;`` but not on the delimiter is
  refused before any row is read, and with ``decimal: ","`` an amount not written that way is
  quarantined instead of guessed.
- The same file may feed several streams (customers, invoices, payment allocations and disputes
  from one AR history): each stream keeps its own "already loaded" mark of the file's content hash.

A shipped example is ``mappings/ibm_late_payment_histories.yml`` (the IBM Watson Analytics AR
sample: customers, invoices, payment allocations and disputes from one CSV).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from connectors.contracts import ALL_STREAMS, StreamContract, stream


class FileStreamMapping(BaseModel):
    """How one raw stream is read from files."""

    path: str
    format: Literal["csv", "parquet", "json"] | None = None
    columns: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    expressions: dict[str, str] = Field(
        default_factory=dict, description="Contract column -> DuckDB SQL expression over the source columns."
    )
    where: str | None = Field(None, description="DuckDB SQL predicate over the source columns.")
    distinct: bool = Field(False, description="One row per distinct mapped record.")
    date_format: str | None = None
    timestamp_format: str | None = None
    csv: dict[str, str] = Field(default_factory=dict)
    delimiter: str | None = Field(None, description="CSV field separator (default ',').")
    decimal: Literal[".", ","] = Field(".", description="Decimal separator of amounts in text files.")
    lookback_days: int = 3
    max_bad_fraction: float = Field(
        0.05, description="More bad rows than this share means the file itself is broken: stop, not quarantine."
    )

    @model_validator(mode="after")
    def _one_delimiter(self) -> FileStreamMapping:
        delim = self.csv.get("delim") or self.csv.get("sep") or self.csv.get("delimiter")
        if self.delimiter and delim and delim != self.delimiter:
            raise ValueError(f"delimiter {self.delimiter!r} and csv.delim {delim!r} disagree; keep one")
        return self

    @property
    def csv_delimiter(self) -> str:
        """The field separator CSV files are read with."""
        return self.delimiter or self.csv.get("delim") or self.csv.get("sep") or self.csv.get("delimiter") or ","

    @property
    def projects(self) -> bool:
        """True when the reader must select mapped columns itself (expressions, where, distinct)."""
        return bool(self.expressions or self.where or self.distinct)

    def file_format(self, file: Path) -> str:
        """The declared format, or the one implied by the file's extension."""
        if self.format:
            return self.format
        suffix = file.suffix.lower().lstrip(".")
        if suffix in ("csv", "txt", "tsv"):
            return "csv"
        if suffix in ("parquet", "pq"):
            return "parquet"
        if suffix in ("json", "jsonl", "ndjson"):
            return "json"
        raise ValueError(f"{file}: cannot tell the format from the extension; set 'format' in the mapping")


class FileMapping(BaseModel):
    """A whole mapping file: a source name and its streams."""

    source: str = "files"
    base_dir: Path | None = None
    streams: dict[str, FileStreamMapping]

    @model_validator(mode="after")
    def _known_streams_and_columns(self) -> FileMapping:
        for table, m in self.streams.items():
            contract = stream(table)
            unknown = (set(m.columns) | set(m.constants) | set(m.expressions)) - set(contract.column_names)
            if unknown:
                raise ValueError(
                    f"stream {table}: unknown contract column(s) {sorted(unknown)}; valid: {contract.column_names}"
                )
            twice = sorted(set(m.expressions) & (set(m.columns) | set(m.constants)))
            if twice:
                raise ValueError(
                    f"stream {table}: column(s) {twice} have an expression and also a column or constant; keep one"
                )
        return self

    def contracts(self) -> list[tuple[StreamContract, FileStreamMapping]]:
        """The configured streams in contract order (customers before invoices, and so on)."""
        order = {s.table: i for i, s in enumerate(ALL_STREAMS)}
        pairs = [(stream(t), m) for t, m in self.streams.items()]
        return sorted(pairs, key=lambda p: order[p[0].table])


def load_mapping(path: Path, base_dir: Path | None = None) -> FileMapping:
    """Read and validate a mapping YAML; errors name the file and the bad entry."""
    try:
        raw = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"mapping file {path} not found; pass an existing --mapping file") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    try:
        mapping = FileMapping.model_validate(raw or {})
    except ValidationError as exc:
        raise ValueError(f"{path}: invalid mapping: {exc}") from None
    if base_dir is not None:
        mapping.base_dir = Path(base_dir)
    elif mapping.base_dir is None:
        mapping.base_dir = Path(path).parent
    return mapping


def simulator_mapping(landing_dir: Path) -> FileMapping:
    """The identity mapping for the simulator's extracts (the embedded default).

    Each stream reads its bulk export (``erp/invoices.parquet``) and the daily increments beside it
    (``erp/invoices_20261124.parquet``), in name order: the bulk first, then the days in order.
    """
    files = {
        "raw_erp.customers": "erp/customers*.csv",
        "raw_erp.invoices": "erp/invoices*.parquet",
        "raw_erp.credit_notes": "erp/credit_notes*.csv",
        "raw_erp.payment_allocations": "erp/payment_allocations*.parquet",
        "raw_crm.contacts": "crm/contacts*.jsonl",
        "raw_crm.interactions": "crm/interactions*.csv",
        "raw_crm.disputes": "crm/disputes*.csv",
        "raw_bank.statement_lines": "bank/statement_lines*.parquet",
    }
    return FileMapping(
        source="simulator",
        base_dir=Path(landing_dir),
        streams={t: FileStreamMapping(path=p) for t, p in files.items()},
    )

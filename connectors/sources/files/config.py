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
          due_date: DueDate
        constants:                   # contract column: literal value for every row
          currency: USD
        date_format: "%m/%d/%Y"      # strptime format for DATE columns (default ISO)
        timestamp_format: "%Y-%m-%d %H:%M:%S"
        csv: {delim: ",", quote: '"'}
        lookback_days: 3             # merge streams: ignore rows older than watermark - lookback
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
    date_format: str | None = None
    timestamp_format: str | None = None
    csv: dict[str, str] = Field(default_factory=dict)
    lookback_days: int = 3
    max_bad_fraction: float = Field(
        0.05, description="More bad rows than this share means the file itself is broken: stop, not quarantine."
    )

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
            unknown = (set(m.columns) | set(m.constants)) - set(contract.column_names)
            if unknown:
                raise ValueError(
                    f"stream {table}: unknown contract column(s) {sorted(unknown)}; valid: {contract.column_names}"
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
    """The identity mapping for the simulator's extracts (the embedded default)."""
    files = {
        "raw_erp.customers": "erp/customers.csv",
        "raw_erp.invoices": "erp/invoices.parquet",
        "raw_erp.credit_notes": "erp/credit_notes.csv",
        "raw_erp.payment_allocations": "erp/payment_allocations.parquet",
        "raw_crm.contacts": "crm/contacts.jsonl",
        "raw_crm.interactions": "crm/interactions.csv",
        "raw_crm.disputes": "crm/disputes.csv",
        "raw_bank.statement_lines": "bank/statement_lines.parquet",
    }
    return FileMapping(
        source="simulator",
        base_dir=Path(landing_dir),
        streams={t: FileStreamMapping(path=p) for t, p in files.items()},
    )

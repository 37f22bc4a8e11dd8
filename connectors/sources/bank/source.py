"""Bank statement folder source: every camt.053/camt.054/MT940 file in a folder into ``raw_bank.statement_lines``.

Implements the ``connectors.base.Source`` protocol. One batch per statement file (an Arrow table in the
``STATEMENT_LINES`` contract, with the file's SHA-256 so an unchanged file is skipped on the next
sync). The stream appends on ``bank_txn_id``, so a file re-delivered under another name adds nothing.
Files that are not statements (README, LICENSE, checksums) are recognised by their content and
skipped; files that look like statements but cannot be parsed are refused with the parser's message
(``sync`` quarantines them and goes on). Only booked lines are landed: pending, information and
MT942 intraday lines are counted in the log.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from connectors.base import Batch, SourceStream
from connectors.contracts import STATEMENT_LINES, StreamContract
from connectors.load import SourceDataError
from connectors.sources.bank.parse import parse_statement_bytes, sniff_format

log = logging.getLogger(__name__)


@dataclass
class BankStatementStream:
    """The ``raw_bank.statement_lines`` stream read from statement files under a folder.

    Attributes:
        folder: Folder holding the statement files.
        glob: Pattern of candidate files, relative to ``folder``.
        contract: The raw contract (``STATEMENT_LINES``).
        lookback_days: Unused by append streams; kept for the protocol.
        max_bad_fraction: Share of unreadable lines above which a file is refused whole.
    """

    folder: Path
    glob: str = "**/*"
    contract: StreamContract = STATEMENT_LINES
    lookback_days: int = 0
    max_bad_fraction: float = 0.05
    skipped_files: list[Path] = field(default_factory=list)

    def files(self) -> list[Path]:
        """Candidate files in name order (statement files are usually date-stamped)."""
        return sorted(p for p in self.folder.glob(self.glob) if p.is_file() and not p.name.startswith("."))

    def read(self, watermark: datetime | None) -> Iterator[Batch]:
        """Yield one batch per statement file; the watermark is unused (files are deduplicated by hash).

        Raises:
            SourceDataError: After every readable file was yielded, when some file that looks like a
                statement could not be parsed (``sync`` quarantines the message naming each file).
        """
        self.skipped_files = []
        errors: list[str] = []
        for path in self.files():
            data = path.read_bytes()
            if sniff_format(data) is None:
                self.skipped_files.append(path)
                log.info("%s: not a camt/MT940 statement file, skipped", path)
                continue
            try:
                parsed = parse_statement_bytes(path, data)
            except SourceDataError as exc:
                log.error("%s", exc)
                errors.append(str(exc))
                continue
            for problem in parsed.reconcile():
                log.warning("%s", problem)
            lines = list(parsed.entries())
            booked = sum(1 for _, e in lines if e.is_booked)
            if booked < len(lines):
                statuses = sorted({e.status for _, e in lines if not e.is_booked})
                log.info(
                    "%s: %d of %d line(s) not booked (%s), not landed",
                    path,
                    len(lines) - booked,
                    len(lines),
                    ", ".join(statuses),
                )
            yield Batch(
                origin=str(path),
                table=parsed.to_raw_table(booked_only=True),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        if errors:
            raise SourceDataError(f"{len(errors)} statement file(s) could not be parsed: " + " | ".join(errors))


@dataclass
class BankFileSource:
    """A folder of bank statement files (camt.053, camt.054, MT940, MT942) as a ``Source``.

    Attributes:
        folder: The folder (searched recursively with ``glob``).
        glob: Pattern of candidate files; non-statement files are skipped by content.
        name: Lineage name of the source (``_source``) and of its watermark rows.
    """

    folder: Path
    glob: str = "**/*"
    name: str = "bank"

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)

    def check(self) -> None:
        """Fail clearly when the folder is missing.

        Raises:
            SourceDataError: The folder does not exist or is not a directory.
        """
        if not self.folder.is_dir():
            raise SourceDataError(
                f"bank statement folder {self.folder} does not exist; create it or point the bank source at "
                "the folder where the statement files are delivered"
            )

    def streams(self) -> list[SourceStream]:
        """The one stream of this source: ``raw_bank.statement_lines``."""
        return [BankStatementStream(self.folder, self.glob)]

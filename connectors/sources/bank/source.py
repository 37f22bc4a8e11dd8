"""Bank statement folder source: every camt/MT940/BAI2 file in a folder into ``raw_bank.statement_lines``.

Implements the ``connectors.base.Source`` protocol. One batch per statement file (an Arrow table in the
``STATEMENT_LINES`` contract, with the file's SHA-256 so an unchanged file is skipped on the next
sync). The stream appends on ``bank_txn_id``, so a file re-delivered under another name adds nothing,
and the booked lines an intraday camt.052 already landed are not landed again by the day's camt.053.

Every file in the folder is a statement or is set aside loudly: a zero-byte file, an HTML error page
saved by a portal, gzip/zip/PDF bytes, a truncated XML, a CSV or any other content that is not a camt,
MT940/MT942 or BAI2 statement becomes a batch with ``error`` set, which ``sync`` records in
``quarantine.raw_files`` (the file and the reason), logs at WARNING and reports in the run's
``refused`` list, while the other files land. Only documentation that travels with exports (README,
LICENSE, checksum and signature files) is skipped, at INFO.

A file whose lines are booked in the future (after ``today`` + 1 day: banks in other time zones are a
day ahead at most) is refused: a bank never books tomorrow's money, so the file's dates are wrong.
A statement whose balances do not add up, or cannot be checked, still lands (its lines are real) but
the problem is reported as a warning of the run (``SyncResult.warnings``). Only booked lines are
landed: pending, information and MT942 intraday lines are counted in the log.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from connectors.base import Batch, SourceStream
from connectors.contracts import STATEMENT_LINES, StreamContract
from connectors.load import SourceDataError
from connectors.sources.bank.parse import not_a_statement_reason, parse_statement_bytes

log = logging.getLogger(__name__)

#: Files that travel with statement exports and are not statements (skipped at INFO).
DOC_NAMES = ("readme", "license", "licence", "changelog", "notice")
DOC_SUFFIXES = {".md", ".rst", ".sha256", ".sha1", ".md5", ".sig", ".asc"}
#: Formats whose balances a complete statement must state (notifications and reports carry none).
BALANCED_FORMATS = {"camt.053", "mt940", "bai2"}


def is_documentation(path: Path) -> bool:
    """README/LICENSE/checksum files that may sit next to statement exports."""
    name = path.name.lower()
    return name.startswith(DOC_NAMES) or path.suffix.lower() in DOC_SUFFIXES


@dataclass
class BankStatementStream:
    """The ``raw_bank.statement_lines`` stream read from statement files under a folder.

    Attributes:
        folder: Folder holding the statement files.
        glob: Pattern of candidate files, relative to ``folder``.
        contract: The raw contract (``STATEMENT_LINES``).
        lookback_days: Unused by append streams; kept for the protocol.
        max_bad_fraction: Share of unreadable lines above which a file is refused whole.
        today: The run's date for the future-booking check (default: today in UTC when read).
        skipped_files: Documentation files skipped by the last ``read``.
    """

    folder: Path
    glob: str = "**/*"
    contract: StreamContract = STATEMENT_LINES
    lookback_days: int = 0
    max_bad_fraction: float = 0.05
    today: date | None = None
    skipped_files: list[Path] = field(default_factory=list)

    def files(self) -> list[Path]:
        """Candidate files in name order (statement files are usually date-stamped)."""
        return sorted(p for p in self.folder.glob(self.glob) if p.is_file() and not p.name.startswith("."))

    def read(self, watermark: datetime | None) -> Iterator[Batch]:
        """Yield one batch per file; the watermark is unused (files are deduplicated by hash).

        A file that is not a usable statement is yielded with ``error`` set (``sync`` quarantines it).
        """
        self.skipped_files = []
        for path in self.files():
            if is_documentation(path):
                self.skipped_files.append(path)
                log.info("%s: documentation, not a statement file, skipped", path)
                continue
            yield self._batch(path)

    def _batch(self, path: Path) -> Batch:
        try:
            data = path.read_bytes()
        except OSError as exc:
            return Batch(origin=str(path), error=f"{path}: cannot be read ({exc.strerror}); check its permissions")
        sha = hashlib.sha256(data).hexdigest()
        refused = not_a_statement_reason(path, data)
        if refused is not None:
            return Batch(origin=str(path), sha256=sha, error=refused)
        try:
            parsed = parse_statement_bytes(path, data)
        except SourceDataError as exc:
            return Batch(origin=str(path), sha256=sha, error=str(exc))
        latest = (self.today or datetime.now(UTC).date()) + timedelta(days=1)
        future = [(st, e) for st, e in parsed.entries() if e.booking_date and e.booking_date > latest]
        if future:
            st, e = future[0]
            return Batch(
                origin=str(path),
                sha256=sha,
                error=(
                    f"{path}: statement {st.label}: {len(future)} line(s) booked in the future (e.g. "
                    f"{e.amount} {e.currency} on {e.booking_date}, after {latest}); a bank never books "
                    "tomorrow's money - the file's dates are wrong, ask the bank for a corrected file"
                ),
            )
        check = parsed.balance_check()
        warnings = list(check.problems)
        if parsed.format in BALANCED_FORMATS:
            warnings += [f"{u}: balances not checked" for u in check.unchecked]
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
        return Batch(origin=str(path), table=parsed.to_raw_table(booked_only=True), sha256=sha, warnings=warnings)


@dataclass
class BankFileSource:
    """A folder of bank statement files (camt.052/053/054, MT940/MT942, BAI2) as a ``Source``.

    Attributes:
        folder: The folder (searched recursively with ``glob``).
        glob: Pattern of candidate files; every one must be a statement (see the module docstring).
        name: Lineage name of the source (``_source``) and of its watermark rows.
        today: The run's date for the future-booking check (default: today in UTC).
    """

    folder: Path
    glob: str = "**/*"
    name: str = "bank"
    today: date | None = None

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
        return [BankStatementStream(self.folder, self.glob, today=self.today)]

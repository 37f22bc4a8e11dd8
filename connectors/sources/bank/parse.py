"""Format detection and the one entry point that parses any statement file (camt.05x, MT940/MT942, BAI2).

The format is told by content, never by the file name: a camt in UTF-16, an MT940 named ``.txt``, a
BAI2 named ``.csv`` are all read. ``not_a_statement_reason`` says, naming the file, why bytes are not
a statement (empty, an HTML page, gzip/zip/PDF, CSV or other text), so the caller can set them aside.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

from connectors.load import SourceDataError
from connectors.sources.bank.bai2 import looks_like_bai2, parse_bai2
from connectors.sources.bank.camt import parse_camt
from connectors.sources.bank.encoding import text_head
from connectors.sources.bank.mt940 import looks_like_mt94x, parse_mt94x
from connectors.sources.bank.statement import ParsedFile, assign_fallback_ids, disambiguate_ids

log = logging.getLogger(__name__)

HTML_RE = re.compile(r"^\s*(<\?xml[^>]*>\s*)?(<!--.*?-->\s*)*<(!doctype\s+html|html|head|body)\b", re.I | re.S)
TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)
MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed data; decompress it (gunzip) and drop the statement itself"),
    (b"PK\x03\x04", "a zip archive; extract the statement files and drop them instead"),
    (b"%PDF", "a PDF statement (for people, not machines); export camt.053, MT940 or BAI2 from the bank instead"),
    (b"BZh", "bzip2-compressed data; decompress it and drop the statement itself"),
    (b"\xfd7zXZ", "xz-compressed data; decompress it and drop the statement itself"),
)
FORMATS_HINT = "export the statement as camt.053 (or camt.052/054), MT940/MT942 or BAI2"


def sniff_format(data: bytes) -> str | None:
    """Guess the statement format from the first bytes (any of UTF-8, UTF-16, Windows-1252, Latin-1).

    Args:
        data: The file's bytes (the first 64 KiB are enough).

    Returns:
        ``"camt"`` for an ISO 20022 XML document, ``"mt94x"`` for SWIFT tag text, ``"bai2"`` for a
        BAI2 file, ``None`` for anything else (an HTML page is never a statement).
    """
    text = text_head(data)
    head = text.lstrip(" \t\r\n\x00")
    if head.startswith("<"):
        if HTML_RE.match(head):
            return None
        return "camt" if "camt.05" in head or "Document" in head else None
    if looks_like_bai2(head):
        return "bai2"
    return "mt94x" if looks_like_mt94x(head) else None


def not_a_statement_reason(path: Path, data: bytes) -> str | None:
    """Why ``data`` is not a statement file, naming the file; None when it looks like one.

    Args:
        path: The file, for the message.
        data: Its bytes.

    Returns:
        A one-line reason with what to do, or None for a camt/MT94x/BAI2 file.
    """
    if not data:
        return f"{path}: empty file (0 bytes); the download or transfer failed - fetch the statement again"
    for magic, what in MAGIC:
        if data.startswith(magic):
            return f"{path}: {what}"
    if sniff_format(data) is not None:
        return None
    text = text_head(data)
    head = text.lstrip(" \t\r\n\x00")
    if not head.strip():
        return f"{path}: blank file (only whitespace); the download failed - fetch the statement again"
    if HTML_RE.match(head):
        title = TITLE_RE.search(text)
        named = f" titled {' '.join(title.group(1).split())[:60]!r}" if title else ""
        return (
            f"{path}: an HTML page{named}, not a statement (a bank portal's error or login page saved "
            "instead of the file); download the statement again"
        )
    first = head.splitlines()[0][:40] if head.splitlines() else head[:40]
    if head.startswith("<"):
        return f"{path}: XML that is not an ISO 20022 camt document (starts {first!r}); {FORMATS_HINT}"
    kind = "a CSV export" if first.count(";") + first.count(",") + first.count("\t") >= 2 else "unknown content"
    return f"{path}: {kind}, not a bank statement format (starts {first!r}); {FORMATS_HINT}"


def parse_statement_bytes(path: Path, data: bytes) -> ParsedFile:
    """Parse statement bytes read from ``path`` (see ``parse_statement_file``)."""
    fmt = sniff_format(data)
    if fmt == "camt":
        parsed = parse_camt(path, data)
    elif fmt == "mt94x":
        parsed = parse_mt94x(path, data)
    elif fmt == "bai2":
        parsed = parse_bai2(path, data)
    else:
        reason = not_a_statement_reason(path, data) or f"{path}: not a statement; {FORMATS_HINT}"
        raise SourceDataError(reason)
    assign_fallback_ids(parsed.statements)
    disambiguate_ids(parsed.statements)
    return parsed


def parse_statement_file(path: str | Path) -> ParsedFile:
    """Read and parse one camt.052/053/054, MT940/MT942 or BAI2 file, detected by content.

    Args:
        path: The statement file.

    Returns:
        The parsed statements.

    Raises:
        SourceDataError: The file is not a statement or cannot be read; the message names the file,
            the location (XPath, line or record) and what to do.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SourceDataError(f"{path}: cannot be read ({exc.strerror}); check the path and permissions") from None
    return parse_statement_bytes(path, data)


def cli_lines(path: str | Path) -> Iterator[str]:
    """JSON lines for ``cobranza parse-statement FILE``: one object per statement line.

    Args:
        path: The statement file.

    Yields:
        One JSON object per line (amount as a string, dates ISO), booked or not.

    Raises:
        SourceDataError: As ``parse_statement_file``.
    """
    parsed = parse_statement_file(path)
    check = parsed.balance_check()
    if check.status != "reconciled":
        log.warning("%s", check.summary)
    yield from parsed.to_json_lines()

"""Format detection and the one entry point that parses any statement file (camt.05x, MT940/MT942)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from connectors.load import SourceDataError
from connectors.sources.bank.camt import parse_camt
from connectors.sources.bank.mt940 import decode, looks_like_mt94x, parse_mt94x
from connectors.sources.bank.statement import ParsedFile, disambiguate_ids

log = logging.getLogger(__name__)


def sniff_format(data: bytes) -> str | None:
    """Guess the statement format from the first bytes.

    Args:
        data: The file's bytes (the first 64 KiB are enough).

    Returns:
        ``"camt"`` for an XML document, ``"mt94x"`` for SWIFT tag text, ``None`` for anything else.
    """
    head = data[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "camt" if b"camt.05" in head or b"Document" in head else None
    return "mt94x" if looks_like_mt94x(decode(head)) else None


def parse_statement_bytes(path: Path, data: bytes) -> ParsedFile:
    """Parse statement bytes read from ``path`` (see ``parse_statement_file``)."""
    fmt = sniff_format(data)
    if fmt in ("camt", "mt94x"):
        parsed = parse_camt(path, data) if fmt == "camt" else parse_mt94x(path, data)
        disambiguate_ids(parsed.statements)
        return parsed
    raise SourceDataError(
        f"{path}: line 1: neither an ISO 20022 camt XML document nor a SWIFT MT940/MT942 statement "
        "(no '<Document' root, no ':20:' and ':60F:'/':61:' tags); export the statement as camt.053, "
        "camt.054 or MT940"
    )


def parse_statement_file(path: str | Path) -> ParsedFile:
    """Read and parse one camt.053/camt.054/MT940/MT942 file, detected by content.

    Args:
        path: The statement file.

    Returns:
        The parsed statements.

    Raises:
        SourceDataError: The file is not a statement or cannot be read; the message names the file,
            the location (XPath or line) and what to do.
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
    for problem in parsed.reconcile():
        log.warning("%s", problem)
    yield from parsed.to_json_lines()

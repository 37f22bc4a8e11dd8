"""Bank statement files: ISO 20022 camt.052/053/054, SWIFT MT940/MT942 and BAI2 into ``raw_bank.statement_lines``.

Public API:

- ``parse_statement_file(path)`` -> ``ParsedFile`` (format detected from the content, not the name);
- ``sniff_format(data)`` -> ``"camt"`` / ``"mt94x"`` / ``"bai2"`` / ``None`` for files that are not statements;
- ``not_a_statement_reason(path, data)`` -> why a file is not a statement (empty, HTML, gzip...), or None;
- ``BankFileSource(folder)`` -> a ``connectors.base.Source`` landing every statement file of a folder;
- ``cli_lines(path)`` -> JSON lines, one per statement line, for ``cobranza parse-statement``.

Formats and traps: /work/shared/CONNECTORS.md §1.
"""

from __future__ import annotations

from connectors.sources.bank.parse import (
    cli_lines,
    not_a_statement_reason,
    parse_statement_bytes,
    parse_statement_file,
    sniff_format,
)
from connectors.sources.bank.source import BankFileSource, BankStatementStream
from connectors.sources.bank.statement import Balance, Entry, ParsedFile, Statement

__all__ = [
    "Balance",
    "BankFileSource",
    "BankStatementStream",
    "Entry",
    "ParsedFile",
    "Statement",
    "cli_lines",
    "not_a_statement_reason",
    "parse_statement_bytes",
    "parse_statement_file",
    "sniff_format",
]

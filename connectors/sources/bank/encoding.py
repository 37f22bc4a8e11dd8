"""Text encodings of statement files: which one a file is in, decided from its bytes.

Banks ship statements in UTF-8 (with or without a BOM), UTF-16 (camt exported by Windows tools, with
a BOM or only declared in the XML prolog), Windows-1252 (MT940 and CSV from Windows back offices:
``€`` is byte 0x80) or ISO-8859-1. Decoding Windows-1252 bytes as Latin-1 turns ``€``, ``‚``, ``“``...
into C1 control characters (U+0080-U+009F) that then sit in payer names, so the order matters:

1. a byte-order mark says it (UTF-32/UTF-16/UTF-8);
2. an ASCII-compatible prefix missing every other byte (``<\\x00?\\x00``) is BOM-less UTF-16;
3. bytes that are valid UTF-8 are UTF-8 (legacy 8-bit text is practically never valid UTF-8);
4. otherwise Windows-1252 when every byte is defined there (a C1 control never appears in a
   statement, so 0x80-0x9F are read as the characters Windows meant);
5. otherwise ISO-8859-1, which decodes every byte.
"""

from __future__ import annotations

import codecs

BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def detect(data: bytes) -> str:
    """The encoding of ``data`` (a Python codec name), by the rules of the module docstring."""
    for bom, name in BOMS:
        if data.startswith(bom):
            return name
    head = data[:64]
    if len(head) >= 4 and head[1] == 0 and head[3] == 0 and head[0] != 0:
        return "utf-16-le"
    if len(head) >= 4 and head[0] == 0 and head[2] == 0 and head[1] != 0:
        return "utf-16-be"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def decode_text(data: bytes) -> tuple[str, str]:
    """Bytes -> (text without BOM, encoding used).

    Raises:
        UnicodeDecodeError: Only for a file announced as UTF-16/32 (BOM) whose bytes are not.
    """
    encoding = detect(data)
    text = data.decode(encoding)
    return text.lstrip("\ufeff"), encoding


def text_head(data: bytes, size: int = 65536) -> str:
    """The first characters of ``data`` as text, for format sniffing (never raises)."""
    head = data[:size]
    encoding = detect(head)
    if encoding.startswith(("utf-16", "utf-32")):
        # cut at a whole code unit: a truncated last character is ignored
        return head.decode(encoding, errors="ignore").lstrip("\ufeff")
    return head.decode(encoding, errors="replace").lstrip("\ufeff")

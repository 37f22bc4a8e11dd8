"""Dispute attachments: size limit, type by content (not by name or header), safe names, stored off the web root.

A debtor may attach one file to a dispute (a delivery note, a photo of damaged goods, a credit note).
The file is untrusted: its declared type and name mean nothing, so

- the bytes are checked against :data:`MAX_ATTACHMENT_BYTES` while read (never read whole first);
- the type is *sniffed* from the leading bytes (:data:`SIGNATURES`: PDF, PNG, JPEG, WebP); anything
  else (HTML, SVG, scripts, archives, Office files with macros) is refused;
- the name is reduced to a safe basename (no path, no control or invisible characters, letters,
  digits, ``._-`` only, bounded length) and given the extension of the sniffed type, so
  ``../../etc/passwd`` or ``invoice.pdf.html`` can neither escape the folder nor be served as HTML;
- it is stored under the data directory (``<data_dir>/portal/attachments/<customer hash>/``), which
  no route serves, with a random prefix and mode 0600; the dispute event names the stored path.
"""

from __future__ import annotations

import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path

MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
#: Leading bytes of each accepted type, with the extension given to the stored file.
SIGNATURES: tuple[tuple[str, str, bytes], ...] = (
    ("application/pdf", "pdf", b"%PDF-"),
    ("image/png", "png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", "jpg", b"\xff\xd8\xff"),
)
MAX_NAME = 80


class UploadRejected(ValueError):
    """An attachment refused: too large, of a type we do not take, or empty (the message says which)."""


@dataclass(frozen=True)
class StoredAttachment:
    """An attachment kept on disk.

    Attributes:
        path: Where it is (under the attachments folder).
        name: The sanitised name shown to people.
        content_type: The sniffed type.
        size: Bytes.
        sha256: Hex digest of the content.
    """

    path: Path
    name: str
    content_type: str
    size: int
    sha256: str


def sniff(head: bytes) -> tuple[str, str] | None:
    """``(content type, extension)`` of a file from its first bytes, or None when not an accepted type."""
    for content_type, ext, magic in SIGNATURES:
        if head.startswith(magic):
            return content_type, ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


def safe_name(name: str | None, ext: str) -> str:
    """A safe basename for ``name`` with extension ``ext`` (``attachment.<ext>`` when nothing is left)."""
    raw = str(name or "").replace("\\", "/").rsplit("/", 1)[-1]
    raw = unicodedata.normalize("NFKD", raw)
    raw = "".join(c for c in raw if not unicodedata.combining(c) and unicodedata.category(c)[0] not in "CZ" or c == " ")
    stem = raw.rsplit(".", 1)[0] if "." in raw else raw
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", stem).strip("._-")[: MAX_NAME - len(ext) - 1]
    return f"{stem or 'attachment'}.{ext}"


def store(folder: str | os.PathLike[str], customer_id: str, name: str | None, content: bytes) -> StoredAttachment:
    """Check and keep one attachment.

    Args:
        folder: The attachments root (outside anything the web server serves).
        customer_id: Whose dispute it belongs to (the subfolder is a hash of it, not the id).
        name: The name the browser sent.
        content: The bytes (already bounded by the caller's read).

    Raises:
        UploadRejected: Empty, over :data:`MAX_ATTACHMENT_BYTES`, or not an accepted type.
    """
    if not content:
        raise UploadRejected("the attachment is empty")
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise UploadRejected(f"the attachment is over {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
    kind = sniff(content[:16])
    if kind is None:
        raise UploadRejected("the attachment must be a PDF, PNG, JPEG or WebP file")
    content_type, ext = kind
    clean = safe_name(name, ext)
    sub = Path(folder) / sha256(f"portal-attachments|{customer_id}".encode()).hexdigest()[:20]
    sub.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = sub / f"{secrets.token_hex(8)}-{clean}"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(content)
        fh.flush()
        os.fsync(fh.fileno())
    return StoredAttachment(path, clean, content_type, len(content), sha256(content).hexdigest())

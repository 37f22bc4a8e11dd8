"""Mask phone numbers and e-mail addresses in text bound for logs, task events and gate reports.

Collection logs are read by operators, shipped to log stores and pasted into tickets; a debtor's
phone number or e-mail address has no business there. :func:`mask` rewrites any text so a value
can still be told apart from another (country code, last digits, first letter, domain) but not used
to reach anyone:

- ``+5215512345634`` -> ``+52*********34`` (E.164 or any ``+``-prefixed number of 5+ digits, also with
  spaces, dashes, dots or brackets; bare runs of 11-15 digits, such as a WhatsApp ``wa_id``, too);
- ``daniel.clark@ironbridge.example`` -> ``d***@ironbridge.example`` (also a broken address such
  as ``'daniel clark@@ironbridge'`` inside quotes).

This module sits at the bottom of the import graph (it imports nothing of the project), so
``flows``, ``connectors``, ``ml``, the gates and the report can all use it. :func:`install` makes
every log record of the process go through :func:`mask` (a record factory, so records of any
logger and any handler are covered, pytest's capture included); the places that format contact
values into stored text (gate samples, task-event details, webhook rejections) call :func:`mask`
themselves.
"""

from __future__ import annotations

import logging
import re
import threading

#: A ``+``-prefixed number: plus, a digit, then digits and the usual separators, ending in a digit.
_PLUS_PHONE = re.compile(r"\+\d[\d ().\-]{3,22}\d")
#: A bare run of 11-15 digits (international numbers written without ``+``, WhatsApp ``wa_id``s);
#: not part of a longer word, number, decimal or date (unix timestamps have 10 digits).
_BARE_PHONE = re.compile(r"(?<![\w.+*/-])\d{11,15}(?![\w*]|\.\d)")
#: A quoted value with an ``@`` in it (a broken address with spaces or a doubled ``@``).
_QUOTED_ADDRESS = re.compile(r"""(['"])([^'"\n@]{1,64})(@+)([^'"\s]{0,255})\1""")
#: An e-mail address (lenient: whatever a CRM may hold around an ``@``).
_EMAIL = re.compile(r"""([^\s@<>()\[\],;:'"=*]+)(@+)([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*)""")
_MIN_PHONE_DIGITS = 5


def _mask_digits(text: str) -> str:
    digits = [c for c in text if c.isdigit()]
    if len(digits) < _MIN_PHONE_DIGITS:
        return text
    keep_head = 2 if len(digits) >= 8 else 1
    shown = "".join(digits[:keep_head]), "".join(digits[-2:])
    return ("+" if text.startswith("+") else "") + shown[0] + "*" * (len(digits) - keep_head - 2) + shown[1]


def _mask_local(local: str) -> str:
    stripped = local.strip()
    return (stripped[:1] or "?") + "***"


def mask(text: object) -> str:
    """``text`` with phone numbers and e-mail addresses masked (idempotent)."""
    out = str(text)
    if "@" in out:
        out = _QUOTED_ADDRESS.sub(lambda m: f"{m[1]}{_mask_local(m[2])}@{m[4].lstrip('@')}{m[1]}", out)
        out = _EMAIL.sub(lambda m: f"{_mask_local(m[1])}@{m[3]}", out)
    if any(c.isdigit() for c in out):
        out = _PLUS_PHONE.sub(lambda m: _mask_digits(m[0]), out)
        out = _BARE_PHONE.sub(lambda m: _mask_digits(m[0]), out)
    return out


def mask_contact(value: object, column: str) -> str:
    """A value of a contact column masked as a whole, whatever its shape (``55 1234 5678`` too).

    Free text is masked by :func:`mask`, which must not mistake amounts or dates for phone numbers;
    a value known to come from a phone or e-mail column needs no guessing.

    Args:
        value: The value (already formatted as text).
        column: Its column name: names containing ``phone``, ``mobile``, ``whatsapp``, ``sms`` or
            ``wa_id`` are phone numbers, ``email``/``mail`` addresses; anything else goes through
            :func:`mask`.
    """
    text = str(value)
    name = column.lower()
    if any(word in name for word in ("phone", "mobile", "whatsapp", "sms", "wa_id", "msisdn")):
        digits = [c for c in text if c.isdigit()]
        if len(digits) >= _MIN_PHONE_DIGITS:
            return _mask_digits(("+" if text.lstrip().startswith("+") else "") + "".join(digits))
        return text
    if "mail" in name and "@" in text:
        local, _, domain = text.rpartition("@")
        return f"{_mask_local(local.rstrip('@'))}@{domain}"
    return mask(text)


class MaskingFilter(logging.Filter):
    """A logging filter that masks the formatted message (and traceback) of every record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:  # noqa: D102 - logging API
        mask_record(record)
        return True


def mask_record(record: logging.LogRecord) -> logging.LogRecord:
    """Mask one record in place: its message, its arguments and its traceback text."""
    if getattr(record, "_cobranza_masked", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a broken %-format: leave it to logging's own error report
        return record
    record.msg, record.args = mask(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = mask(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = mask(record.exc_text)
    record._cobranza_masked = True  # type: ignore[attr-defined]
    return record


_installed = False
_install_lock = threading.Lock()


def install() -> None:
    """Mask every log record created in this process from now on (idempotent)."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: object, **kwargs: object) -> logging.LogRecord:
            return mask_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        _installed = True

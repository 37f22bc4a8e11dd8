"""Inbound e-mail: the debtors' replies to our e-mails, received over SMTP and spooled like a webhook.

Our collection e-mails carry ``Reply-To: ar+<customer id>@<domain>`` and a ``Message-ID`` the outbox
keeps (``connectors.channels.smtp.sender``); the domain's MX (or a forwarding rule of the mailbox
provider) delivers the replies to this listener, which runs beside the webhook receiver
(``cobranza receiver`` with ``webhooks.mail_port`` set). Like an HTTP webhook it holds no business
rule: each accepted message becomes one spool event (``connectors.webhooks.spool``) before the SMTP
``250``, and the inbound flow lands and reads it (``ml.inbound``), quoted reminder and signature
stripped there.

The event: ``provider`` ``email``, ``kind`` ``message`` (``auto_reply`` for an automatic answer,
RFC 3834 ``Auto-Submitted``, ``Precedence: bulk/auto_reply/junk`` or an out-of-office header: kept,
never answered, so two robots cannot write to each other forever), ``provider_message_id`` = its
``Message-ID``, ``from_addr`` = the sender's address (lower case), ``to_addr`` = the recipient of
ours it was sent to, ``context_message_id`` = ``In-Reply-To`` (the e-mail of ours it answers),
``text`` = the plain-text body (HTML-only mail turned into text), ``occurred_at`` = ``Date`` (now
when missing or unreadable) and ``payload`` = ``subject`` and ``references``. The event id is derived
from the ``Message-ID``, so a relay delivering twice lands once.

SMTP answers: a recipient outside the accepted domains -> ``550 5.1.1`` (we are no open relay); a
message over the size limit -> ``552`` (aiosmtpd); no sender address -> ``550 5.1.7``; the spool
cannot be written -> ``451 4.3.0`` so the sending server retries later; a message the parser cannot
read is kept in the spool's quarantine folder with the reason (answered 250: it is not lost). The
sender's address is not authenticated here (no SPF/DKIM check, no STARTTLS): the agent answers with a
customer's data only to an address that is that customer's contact on file (``flows/agent.py``), the
same address the reply goes to.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from typing import Any, cast

from cobranza.logmask import mask
from connectors.webhooks.spool import Spool

logger = logging.getLogger(__name__)

#: Largest message accepted (bytes): a reply with a scanned remittance attached fits.
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: Longest body text kept (characters).
MAX_TEXT = 20_000
_AUTO_PRECEDENCE = frozenset({"bulk", "auto_reply", "junk", "list"})
_AUTO_HEADERS = ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")
_TAG = re.compile(r"<[^>]+>")


def _header(msg: EmailMessage, name: str) -> str:
    value = msg.get(name)
    return re.sub(r"\s+", " ", str(value)).strip() if value is not None else ""


def _ids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def is_auto_reply(msg: EmailMessage) -> bool:
    """An automatic answer (RFC 3834 ``Auto-Submitted``, ``Precedence``, an out-of-office header)."""
    auto = _header(msg, "Auto-Submitted").lower()
    if auto and auto != "no":
        return True
    if _header(msg, "Precedence").lower() in _AUTO_PRECEDENCE:
        return True
    return any(msg.get(h) is not None and h != "X-Auto-Response-Suppress" for h in _AUTO_HEADERS)


def body_text(msg: EmailMessage) -> str:
    """The message's plain-text body (the HTML part as text when there is no plain one)."""
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        text = part.get_content()
    except (LookupError, UnicodeError, AssertionError):
        raw = part.get_payload(decode=True) or b""
        text = raw.decode("utf-8", "replace")
    if part.get_content_type() == "text/html":
        text = re.sub(r"(?is)<(script|style).*?</\1>", " ", text)
        text = re.sub(r"(?i)<br\s*/?>|</p>|</div>|</li>|</tr>", "\n", text)
        text = html.unescape(_TAG.sub("", text))
    return str(text)[:MAX_TEXT]


def _when(msg: EmailMessage, received: datetime) -> datetime:
    try:
        at = parsedate_to_datetime(_header(msg, "Date"))
    except (TypeError, ValueError, IndexError):
        return received
    if at is None or at.tzinfo is None:
        return received
    at = at.astimezone(UTC)
    # A Date header far from the receipt (a wrong clock, a forged date) does not move the message in time.
    return at if abs((at - received).total_seconds()) <= 86_400 else received


def email_event(raw: bytes, *, rcpt_tos: Iterable[str] = (), received_at: datetime | None = None) -> dict[str, Any]:
    """The spool event of one received e-mail (see the module docstring).

    Args:
        raw: The message as received (RFC 5322 bytes).
        rcpt_tos: The envelope recipients (the first one of ours is ``to_addr``).
        received_at: Receipt instant (default now, UTC).

    Raises:
        ValueError: The message has no sender address.
    """
    received = (received_at or datetime.now(UTC)).astimezone(UTC)
    msg = cast(EmailMessage, message_from_bytes(raw, policy=policy.default))
    sender = parseaddr(_header(msg, "From"))[1].strip().lower()
    if "@" not in sender:
        raise ValueError("the e-mail has no sender address (From)")
    # Recipients as written: the local part of a plus-address carries our customer id, case and all.
    rcpts = [r.strip() for r in rcpt_tos] or [a for _, a in getaddresses([_header(msg, "To"), _header(msg, "Cc")]) if a]
    message_id = (_ids(_header(msg, "Message-ID")) or [""])[0]
    # One event per sender and Message-ID: a relay's second delivery lands once, and a stranger reusing
    # someone's Message-ID cannot make their message disappear.
    key = f"{sender}|{message_id}" if message_id else hashlib.sha256(raw).hexdigest()
    in_reply_to = (_ids(_header(msg, "In-Reply-To")) or [None])[-1]
    references = _ids(_header(msg, "References"))
    return {
        "event_id": "email:" + hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:32],
        "provider": "email",
        "kind": "auto_reply" if is_auto_reply(msg) else "message",
        "provider_message_id": message_id or None,
        "from_addr": sender,
        "to_addr": rcpts[0] if rcpts else None,
        "text": body_text(msg),
        "context_message_id": in_reply_to or (references[-1] if references else None),
        "occurred_at": _when(msg, received).isoformat(),
        "received_at": received.isoformat(),
        "payload": {"subject": _header(msg, "Subject")[:300], "references": references[-10:]},
    }


class InboundMailHandler:
    """aiosmtpd handler: accepts mail for ``domains`` and spools each message as an event.

    Args:
        spool: Where events go.
        domains: Domains whose addresses we receive for (``ar.example.com``); others get ``550``.
    """

    def __init__(self, spool: Spool, domains: Iterable[str]) -> None:
        self.spool = spool
        self.domains = frozenset(d.strip().lower().lstrip("@") for d in domains if d and d.strip())
        if not self.domains:
            raise ValueError(
                "the inbound mail listener needs the domain(s) it receives for: set COBRANZA_WEBHOOKS__MAIL_DOMAINS "
                "or COBRANZA_SMTP__REPLY_TO (its domain is used)"
            )
        self.stats = {"accepted": 0, "auto_replies": 0, "rejected": 0}

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list) -> str:  # noqa: N802, ARG002 - aiosmtpd API
        """Accept a recipient of ours only."""
        domain = address.rpartition("@")[2].strip().lower().rstrip(">")
        if domain not in self.domains:
            self.stats["rejected"] += 1
            return "550 5.1.1 Recipient address rejected: not a mailbox of this receiver"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, ARG002 - aiosmtpd API
        """Spool the message (fsynced) before answering 250."""
        raw = envelope.original_content or envelope.content
        try:
            event = email_event(raw, rcpt_tos=envelope.rcpt_tos)
        except ValueError as exc:
            self.stats["rejected"] += 1
            return f"550 5.1.7 {exc}"
        except Exception as exc:  # noqa: BLE001 - a message the parser chokes on is kept, never lost
            try:
                self.spool.quarantine("email", raw, f"unreadable e-mail: {type(exc).__name__}: {exc}"[:300])
            except OSError:
                return "451 4.3.0 Temporary failure, try again later"
            logger.warning("inbound mail quarantined: %s", type(exc).__name__)
            return "250 OK: kept for review"
        try:
            self.spool.append([event])
        except OSError:
            logger.exception("inbound mail: the spool cannot be written; the sender will retry")
            return "451 4.3.0 Temporary failure, try again later"
        self.stats["accepted" if event["kind"] == "message" else "auto_replies"] += 1
        logger.info("inbound mail %s from %s spooled (%s)", event["event_id"], mask(event["from_addr"]), event["kind"])
        return "250 OK: queued"


def start_mail_listener(
    spool: Spool, *, host: str, port: int, domains: Iterable[str], max_bytes: int = DEFAULT_MAX_BYTES
) -> Any:
    """Start the SMTP listener in a thread (``aiosmtpd.controller.Controller``); ``.stop()`` it at exit.

    Returns:
        The started controller (its ``port`` is the one listened on).
    """
    from aiosmtpd.controller import Controller

    controller = Controller(InboundMailHandler(spool, domains), hostname=host, port=port, data_size_limit=max_bytes)
    controller.start()
    return controller

"""SMTP email sender: HTML + text, per-customer threading, List-Unsubscribe, STARTTLS.

Follows CONNECTORS.md §4.3. Each message gets a stable ``Message-ID`` derived from the task id
(``<cbz.<task id>@<domain>>``), which is the provider message id stored in the outbox; later
reminders to the same customer carry ``In-Reply-To`` (the last one) and ``References`` (the thread),
so the series shows as one conversation and a reply can be tied back to its case; the agent's answer
to a debtor's e-mail (payload ``reply_message_id``/``reply_references``) is threaded under that
e-mail. ``Reply-To`` is plus-addressed with the customer id. ``List-Unsubscribe`` carries a
``mailto:`` and, when configured, an HTTPS one-click URI with ``List-Unsubscribe-Post:
List-Unsubscribe=One-Click`` (RFC 2369/8058; the relay must DKIM-sign both headers).

Outcome rules: a failure before the DATA command completes (connect, STARTTLS, AUTH, MAIL, RCPT) did
not send anything: 4xx and connection failures are retried, 5xx are final. A lost connection or
timeout while the message body is being accepted is ambiguous (the relay may have queued it).

SMTP has no status lookup, so the ambiguity window is kept as small as the protocol allows: the
connection is opened (and checked with NOOP) *before* the outbox's claim, the claim (``sending``) is
written immediately before ``MAIL FROM``, and the result is recorded as soon as the final DATA reply
arrives. The ``Message-ID`` is deterministic per task, so anything downstream can drop a duplicate.
An ambiguous SMTP task is never resent: ``ambiguity_window`` is zero, and the outbox dead-letters it
at once with "ambiguous: may have been delivered" (it still counts as a contact for spacing).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr
from typing import Any

from email_validator import EmailNotValidError, validate_email

from connectors.channels.base import ChannelConfigError, Claim, ClaimFailed, Report, SendResult, _no_claim
from connectors.channels.smtp.config import SmtpConfig
from connectors.channels.templates.render import render_message
from connectors.channels.templates.unsubscribe import token_for_task
from connectors.http import RateLimiter, Redactor

logger = logging.getLogger(__name__)

#: CRLF line ends; headers may run to RFC 5322's 998 octets, so long URIs (List-Unsubscribe, References)
#: are folded at spaces and never turned into RFC 2047 encoded words, which mail clients would not parse.
SMTP_POLICY = SMTP.clone(max_line_length=998)
#: References kept in a reply chain (the newest ones; long chains bloat headers).
MAX_REFERENCES = 10


class _Ambiguous(Exception):
    pass


def message_id(task_id: str, domain: str) -> str:
    """Stable Message-ID of a task's email."""
    return f"<cbz.{task_id[:40]}@{domain}>"


class SmtpSender:
    """Sends collection emails through an SMTP relay (one connection per worker thread).

    Args:
        config: Relay and message settings.
    """

    name = "smtp"
    #: No lookup exists: an ambiguous send is dead-lettered at once, never resent.
    ambiguity_window = timedelta(0)

    def __init__(self, config: SmtpConfig) -> None:
        if (config.unsubscribe_url or config.unsubscribe_mailto) and config.unsubscribe_key is None:
            raise ChannelConfigError(
                "SMTP unsubscribe links are configured without a key: set COBRANZA_SMTP__UNSUBSCRIBE_KEY "
                "(the daily flow passes the webhook receiver's token secret)"
            )
        self.config = config
        password = config.password.get_secret_value() if config.password else None
        self.redact = Redactor([password] if password else [])
        self._limiter = RateLimiter(config.rate_limit_per_s)
        self._local = threading.local()
        self._connections: list[smtplib.SMTP] = []
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="send-smtp")

    # --- message ---------------------------------------------------------------------------------

    def unsubscribe_token(self, task: Mapping[str, Any]) -> str:
        """Keyed, verifiable token naming the task's contact (``templates.unsubscribe.token_for_task``)."""
        key = self.config.unsubscribe_key
        if key is None:
            raise ChannelConfigError(
                "unsubscribe links need a key: set COBRANZA_SMTP__UNSUBSCRIBE_KEY (the daily flow passes the "
                "webhook receiver's token secret, COBRANZA_WEBHOOKS__TOKEN_SECRET)"
            )
        return token_for_task(key.get_secret_value(), task, "email")

    def build(self, task: Mapping[str, Any]) -> EmailMessage:
        """The complete email of one task."""
        cfg = self.config
        payload = task["payload"]
        to = payload.get("email")
        try:
            # Syntax only (no DNS): a relay would queue a mangled address and bounce it later.
            to = validate_email(str(to or ""), check_deliverability=False).normalized
        except EmailNotValidError as exc:
            raise ValueError(
                f"task {task['task_id']}: the contact's address is not a valid email address ({exc})"
            ) from None
        rendered = render_message("email", {**payload, "channel": "email"})
        msg = EmailMessage(policy=SMTP_POLICY)
        msg["From"] = formataddr((cfg.from_name, cfg.from_address))
        msg["To"] = formataddr((payload.get("contact_name") or "", str(to)))
        msg["Subject"] = rendered.subject
        msg["Date"] = format_datetime(datetime.now(UTC))
        msg["Message-ID"] = message_id(task["task_id"], cfg.domain)
        thread = [m for m in task.get("thread_message_ids") or [] if m != msg["Message-ID"]]
        if payload.get("reply_message_id"):
            # The agent's answer to a debtor's e-mail: threaded under that message (RFC 5322 §3.6.4).
            refs = [str(r) for r in payload.get("reply_references") or []]
            thread = [*[r for r in refs if r != payload["reply_message_id"]], str(payload["reply_message_id"])]
        if thread:
            msg["In-Reply-To"] = thread[-1]
            msg["References"] = " ".join(thread[-MAX_REFERENCES:])
        if cfg.reply_to:
            local, _, domain = cfg.reply_to.partition("@")
            msg["Reply-To"] = f"{local}+{task['customer_id']}@{domain}"
        uris = []
        token = self.unsubscribe_token(task) if cfg.unsubscribe_url or cfg.unsubscribe_mailto else ""
        if cfg.unsubscribe_url:
            uris.append(f"<{cfg.unsubscribe_url.rstrip('/')}/{token}>")
        if cfg.unsubscribe_mailto:
            uris.append(f"<mailto:{cfg.unsubscribe_mailto}?subject=unsubscribe-{token}>")
        if uris:
            msg["List-Unsubscribe"] = ", ".join(uris)
        if cfg.unsubscribe_url and cfg.unsubscribe_url.startswith("https://"):
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg["X-Cobranza-Task"] = task["task_id"]
        # Quoted-printable keeps every line under SMTP's 998-octet limit whatever the template renders.
        msg.set_content(rendered.body_text, cte="quoted-printable")
        msg.add_alternative(rendered.body, subtype="html", cte="quoted-printable")
        # After the body: set_content drops every Content-* header set before it.
        msg["Content-Language"] = rendered.language
        return msg

    # --- transport -------------------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        cfg = self.config
        context = ssl.create_default_context(cafile=cfg.ca_file)
        if cfg.implicit_tls:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(cfg.host, cfg.port, timeout=cfg.timeout, context=context)
        else:
            smtp = smtplib.SMTP(cfg.host, cfg.port, timeout=cfg.timeout)
            smtp.ehlo()
            if cfg.starttls:
                if not smtp.has_extn("starttls"):
                    smtp.close()
                    raise smtplib.SMTPNotSupportedError(
                        f"{cfg.host}:{cfg.port} does not offer STARTTLS; refusing to send in clear text "
                        "(set COBRANZA_SMTP__STARTTLS=false only for a local relay)"
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
        if cfg.username:
            smtp.login(cfg.username, cfg.password.get_secret_value() if cfg.password else "")
        with self._lock:
            self._connections.append(smtp)
        return smtp

    def _conn(self) -> smtplib.SMTP:
        smtp = getattr(self._local, "smtp", None)
        if smtp is not None:
            try:
                if smtp.noop()[0] == 250:
                    return smtp
            except (smtplib.SMTPException, OSError):
                pass
        self._local.smtp = self._connect()
        return self._local.smtp

    def _transmit(self, msg: EmailMessage, before_send: Any = None) -> None:
        """MAIL/RCPT/DATA; raise ``_Ambiguous`` only when the body may have been accepted."""
        smtp = self._conn()
        if before_send is not None:
            before_send()  # the outbox's claim: immediately before the transaction, after connecting
        sender, rcpt = self.config.from_address, msg["To"].addresses[0].addr_spec
        code, resp = smtp.mail(sender)
        if code != 250:
            smtp.rset()
            raise smtplib.SMTPSenderRefused(code, resp, sender)
        code, resp = smtp.rcpt(rcpt)
        if code not in (250, 251):
            smtp.rset()
            raise smtplib.SMTPRecipientsRefused({rcpt: (code, resp)})
        try:
            code, resp = smtp.data(msg.as_bytes(policy=SMTP_POLICY))
        except smtplib.SMTPDataError:
            raise
        except (smtplib.SMTPServerDisconnected, TimeoutError, OSError) as exc:
            self._local.smtp = None
            raise _Ambiguous(f"connection lost during DATA ({type(exc).__name__})") from None
        if code != 250:  # smtplib returns the final DATA reply instead of raising
            raise smtplib.SMTPDataError(code, resp)

    def send_one(self, task: Mapping[str, Any], claim: Claim = _no_claim) -> SendResult:
        """Send one email with the retry rules of the module docstring."""
        tid = task["task_id"]
        try:
            msg = self.build(task)
        except Exception as exc:
            return SendResult(tid, False, detail=f"cannot build the email: {exc}", retryable=False)
        last = ""
        claimed: list[bool] = []

        def before_send() -> None:
            if not claimed:
                claim(task)
                claimed.append(True)

        for _attempt in range(self.config.max_attempts):
            self._limiter.acquire()
            try:
                self._transmit(msg, before_send)
                return SendResult(tid, True, msg["Message-ID"])
            except ClaimFailed:
                raise
            except _Ambiguous as exc:
                return SendResult(tid, False, detail=f"SMTP {self.config.host}: {exc}", ambiguous=True)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                last = f"recipient refused {code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"
                if code >= 500:
                    return SendResult(tid, False, detail=f"SMTP {last}", retryable=False)
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc.smtp_error
                last = f"{type(exc).__name__} {exc.smtp_code} {text}"
                if exc.smtp_code >= 500:
                    return SendResult(tid, False, detail=f"SMTP {last}", retryable=False)
            except smtplib.SMTPAuthenticationError as exc:
                hint = "check COBRANZA_SMTP__USERNAME/PASSWORD"
                return SendResult(tid, False, detail=f"SMTP AUTH refused ({exc.smtp_code}); {hint}")
            except smtplib.SMTPNotSupportedError as exc:
                return SendResult(tid, False, detail=str(exc))
            except (smtplib.SMTPException, OSError) as exc:
                self._local.smtp = None
                last = self.redact(f"{type(exc).__name__}: {exc}")
        return SendResult(tid, False, detail=f"SMTP {self.config.host}:{self.config.port}: {last}")

    def send_batch(
        self, tasks: Sequence[Mapping[str, Any]], *, claim: Claim | None = None, report: Report | None = None
    ) -> list[SendResult]:
        """Send the emails on the worker threads; one result per task.

        Args:
            tasks: Tasks to send.
            claim: Called right before each task's SMTP transaction (the outbox writes ``sending``).
            report: Called with each task's result as soon as the relay answered.
        """

        def one(task: Mapping[str, Any]) -> SendResult:
            result = self.send_one(task, claim or _no_claim)
            if report is not None:
                report(task, result)
            return result

        return list(self._pool.map(one, tasks))

    def reconcile(self, tasks: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
        """SMTP offers no lookup: ambiguous sends cannot be confirmed here."""
        return {}

    def close(self) -> None:
        """Quit every open SMTP connection and stop the workers."""
        self._pool.shutdown(wait=True)
        with self._lock:
            conns, self._connections = self._connections, []
        for smtp in conns:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

"""An SMTP relay emulator: an aiosmtpd handler that keeps every accepted message and injects faults.

It answers like a submission relay at the end of DATA (RFC 5321 §4.2 reply codes), with the faults
of a :class:`~simulator.emulators.channel_common.FaultPlan`. ``lab.channels`` runs it beside the
HTTP emulators; run alone it needs ``aiosmtpd.controller.Controller(SmtpSink(), port=free_port())``.
"""

from __future__ import annotations

import socket
import threading
from email import message_from_bytes
from email.message import Message
from typing import Any

from simulator.emulators.channel_common import FaultPlan


def free_port() -> int:
    """A free loopback port (aiosmtpd's controller cannot bind port 0 itself)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """aiosmtpd handler keeping every accepted message (``email.message.Message``) in memory.

    Faults from a :class:`FaultPlan`, as a relay shows them at the end of DATA: ``5xx``/``429`` ->
    ``451 4.3.0`` (transient, not queued); ``504_after`` -> the message is queued (counted as
    delivered) and the connection is dropped before the ``250`` reply; ``timeout_after`` -> queued,
    the reply comes after ``hang_s``; ``html_after``/``timeout_before`` -> ``421`` and the connection
    closed before queuing.
    """

    def __init__(self, faults: FaultPlan | None = None) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.faults = faults or FaultPlan()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd API
        """Keep the message; answer 250 (or the drawn fault)."""
        import asyncio

        fault = self.faults.draw()
        if fault in ("5xx", "429"):
            return "451 4.3.0 Temporary failure, try again later"
        if fault in ("html_after", "timeout_before"):
            # Reply 421, then close the connection (RFC 5321 §3.8): nothing was queued.
            asyncio.get_running_loop().call_later(0.05, server.transport.close)
            return "421 4.3.2 Service shutting down"
        msg = message_from_bytes(envelope.original_content or envelope.content)
        with self._lock:
            self.messages.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        if fault == "504_after":
            server.transport.abort()  # queued, but the client never hears the 250
        elif fault == "timeout_after":
            await asyncio.sleep(self.faults.hang_s)
        return "250 Message accepted for delivery"

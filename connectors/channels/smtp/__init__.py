"""Email channel over SMTP (RFC 5321/5322; CONNECTORS.md §4.3)."""

from connectors.channels.smtp.config import SmtpConfig
from connectors.channels.smtp.sender import SmtpSender

__all__ = ["SmtpConfig", "SmtpSender"]

"""Twilio Programmable Messaging channel for SMS (CONNECTORS.md §4.2)."""

from connectors.channels.twilio_sms.config import TwilioConfig
from connectors.channels.twilio_sms.sender import TwilioSender

__all__ = ["TwilioConfig", "TwilioSender"]

"""WhatsApp Business Cloud API channel (Meta Graph API, CONNECTORS.md §4.1)."""

from connectors.channels.whatsapp_cloud.config import WhatsAppConfig
from connectors.channels.whatsapp_cloud.sender import WhatsAppSender

__all__ = ["WhatsAppConfig", "WhatsAppSender"]

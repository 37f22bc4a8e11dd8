"""HubSpot call tasks channel: collector call tasks created in the CRM (CONNECTORS.md §3.1)."""

from connectors.channels.hubspot_tasks.config import HubSpotTasksConfig
from connectors.channels.hubspot_tasks.sender import HubSpotTaskSender

__all__ = ["HubSpotTaskSender", "HubSpotTasksConfig"]

"""HubSpot CRM source connector: contacts and collection interactions via CRM search (CONNECTORS.md §3.1)."""

from connectors.sources.hubspot.client import HubSpotClient
from connectors.sources.hubspot.config import HubSpotConfig
from connectors.sources.hubspot.streams import HubSpotSource

__all__ = ["HubSpotClient", "HubSpotConfig", "HubSpotSource"]

"""In-project API emulators (CONNECTORS.md §5): Odoo JSON-RPC and a HubSpot-style CRM search API.

They serve a simulator output folder over HTTP on 127.0.0.1, following the real wire contracts,
so connector tests never reach the internet. ``server.serve`` runs any ASGI app in a background
thread and returns its base URL.
"""

from simulator.emulators.hubspot import HubSpotEmulator
from simulator.emulators.odoo import OdooEmulator
from simulator.emulators.server import RunningServer, serve

__all__ = ["HubSpotEmulator", "OdooEmulator", "RunningServer", "serve"]

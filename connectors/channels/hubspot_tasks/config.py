"""Configuration of the HubSpot call-task channel.

Uses the same portal token as the HubSpot source, resolved the same way (``connectors.secrets``):
``COBRANZA_HUBSPOT__ACCESS_TOKEN`` (also ``COBRANZA_HUBSPOT_TOKEN``), else the Prefect Secret block
``cobranza-hubspot-access-token``; and ``COBRANZA_HUBSPOT__BASE_URL``; never from YAML.
The token needs the ``crm.objects.contacts.write`` scope (tasks are written through it).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr

from connectors.channels.base import ChannelConfigError
from connectors.secrets import EnvConfig


class HubSpotTasksConfig(EnvConfig):
    """How to create tasks in one HubSpot portal.

    Attributes:
        base_url: API root (``https://api.hubapi.com``; an emulator in tests).
        access_token: Bearer token.
        owner_id: HubSpot owner (user) the tasks are assigned to; None = unassigned.
        task_to_contact_type_id: HubSpot-defined association type id task -> contact (204).
        rate_limit_per_s: Private apps get about 10 requests/s (100 per 10 s) on the standard tier.
        concurrency: Parallel requests.
        read_timeout: Seconds to wait before the create counts as ambiguous.
        max_attempts: Attempts per task on 429/5xx within one run.
        index_lag_s: Search sees a new object only after this delay; a lookup younger than this is
            not conclusive.
    """

    env_section: ClassVar[str] = "HUBSPOT"
    label: ClassVar[str] = "HubSpot tasks channel"
    env_aliases: ClassVar[dict[str, tuple[str, ...]]] = {"access_token": ("COBRANZA_HUBSPOT_TOKEN",)}
    config_error: ClassVar[type[Exception]] = ChannelConfigError

    base_url: str = "https://api.hubapi.com"
    access_token: SecretStr
    owner_id: str | None = None
    task_to_contact_type_id: int = 204
    rate_limit_per_s: float | None = Field(9.0, gt=0)
    concurrency: int = Field(4, ge=1)
    read_timeout: float = Field(15.0, gt=0)
    max_attempts: int = Field(5, ge=1)
    index_lag_s: float = Field(60.0, ge=0)

"""HubSpot CRM API client: Bearer auth and the object search endpoint (CONNECTORS.md §3.1).

All traffic goes through ``connectors.http.HTTPClient``: 429 (with ``Retry-After``) and 5xx are
retried with back-off there, the token is redacted from every log line and error, and HubSpot's
error body (``message``, ``category``, ``correlationId``) ends up in the ``SourceHTTPError``.
"""

from __future__ import annotations

from typing import Any

from connectors.http import HTTPClient, RetryPolicy
from connectors.load import SourceDataError
from connectors.sources.hubspot.config import HubSpotConfig

# Where the token comes from (connectors.secrets): named in the hint of a refused token.
_TOKEN_BLOCK = HubSpotConfig.block_name("access_token")
TOKEN_ENV = f"{HubSpotConfig.env_var('access_token')} (or the Prefect Secret block {_TOKEN_BLOCK!r})"


class HubSpotClient:
    """Calls HubSpot's CRM API.

    Args:
        config: Portal settings.
        http: A preconfigured shared client (tests); by default one is built from ``config``.
    """

    def __init__(self, config: HubSpotConfig, http: HTTPClient | None = None) -> None:
        self.config = config
        token = config.access_token.get_secret_value()
        self.http = http or HTTPClient(
            config.base_url,
            name="hubspot",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            connect_timeout=config.connect_timeout,
            read_timeout=config.timeout,
            retry=RetryPolicy(
                max_attempts=config.max_attempts,
                backoff_base=config.backoff_base,
                retry_after_cap=config.retry_after_cap,
            ),
            rate_limit_per_s=config.rate_limit_per_s,
            hints={
                401: f"the token was refused; check {TOKEN_ENV} (private-app/service-key token, or refresh OAuth)",
                403: (
                    "the token lacks a scope (crm.objects.contacts.read, crm.objects.custom.read); "
                    f"fix the app's scopes or {TOKEN_ENV}"
                ),
                404: "unknown object type; check interactions_object (fully-qualified name or objectTypeId)",
            },
        )
        self.http.redact.add(token)

    def search(self, object_type: str, body: dict[str, Any]) -> dict[str, Any]:
        """``POST {objects_path}/{object_type}/search``; return the parsed response.

        Raises:
            SourceHTTPError: HubSpot refused the request (after retries for 429/5xx).
            SourceDataError: The answer is not a search response.
        """
        path = f"{self.config.objects_path}/{object_type}/search"
        data = self.http.request_json("POST", path, json_body=body)
        if not isinstance(data, dict) or not isinstance(data.get("results"), list):
            raise SourceDataError(
                f"POST {self.http.url(path)}: not a search response (no 'results' list); "
                "check base_url/objects_path point at the HubSpot CRM API"
            )
        return data

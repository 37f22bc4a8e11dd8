"""HubSpot source: ``raw_crm.contacts`` and ``raw_crm.interactions`` via CRM search (CONNECTORS.md §3.1).

Both streams read with ``POST …/{object}/search``: one filter ``<modified> GTE <since>`` (epoch ms),
sorted ascending on the same property, ``limit`` up to 200 and the ``after`` cursor. Search stops
at 10,000 results per query (HTTP 400 past that), so ``WindowedSearch`` restarts the query before
the cap with ``GTE <last modification instant seen>`` (a new time window), skipping the records of
that instant it already emitted. It refuses to loop when more than ``search_cap`` records share one
instant. Results lag writes by a few seconds and exclude archived records (a CRM-side limit).

- contacts (merge, cursor ``updated_at`` <- ``lastmodifieddate``): incremental from the watermark
  minus ``lookback_days``; ``full_name`` = ``firstname`` + ``lastname``; other columns from the
  configured properties (see ``config.py``).
- interactions (append): a custom object (see ``config.py`` for why). Append streams keep no
  watermark in ``connectors.state``, so each sync scans the object (windowed) and ``land`` inserts
  only interaction ids it has not seen.

Property values are strings in HubSpot; they are passed to ``land`` as text (booleans ``true``/
``false``, numbers, dates) and typed against the contract there, so a bad value is quarantined
with its record id. Datetimes are normalised to naive UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors import contracts
from connectors.base import Batch, SourceStream, records_table
from connectors.contracts import StreamContract
from connectors.load import SourceDataError
from connectors.sources.hubspot.client import HubSpotClient
from connectors.sources.hubspot.config import HubSpotConfig

log = logging.getLogger(__name__)


def utc_text(value: str | None) -> str | None:
    """HubSpot datetime (ISO with ``Z`` or epoch ms) -> ``YYYY-MM-DD HH:MM:SS[.ffffff]`` naive UTC.

    Unreadable values pass through unchanged so ``land`` quarantines them with the record id.
    """
    if value is None or value == "":
        return None
    text = str(value).strip()
    try:
        dt = datetime.fromtimestamp(int(text) / 1000, UTC) if text.isdigit() else datetime.fromisoformat(text)
    except ValueError:
        return text
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return dt.isoformat(sep=" ")


def epoch_ms(dt: datetime) -> int:
    """Naive-UTC or aware datetime -> epoch milliseconds."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


@dataclass
class WindowedSearch:
    """Ascending search on a modification property, restarted before HubSpot's result cap."""

    client: HubSpotClient
    object_type: str
    modified_property: str
    properties: list[str]
    page_size: int
    search_cap: int

    def pages(self, since: datetime | None) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        """Yield ``(position, results)`` for every record modified at or after ``since``."""
        lower: int | None = epoch_ms(since) if since else None
        seen_at_lower: set[str] = set()
        window = 0
        while True:
            window += 1
            fetched, after = 0, None
            cursors_seen: set[str] = set()
            last_ms: int | None = None
            ids_at_last: set[str] = set()
            restart = False
            while True:
                if fetched and fetched + self.page_size > self.search_cap:
                    restart = True
                    break
                body: dict[str, Any] = {
                    "filterGroups": (
                        [
                            {
                                "filters": [
                                    {"propertyName": self.modified_property, "operator": "GTE", "value": str(lower)}
                                ]
                            }
                        ]
                        if lower is not None
                        else []
                    ),
                    "sorts": [{"propertyName": self.modified_property, "direction": "ASCENDING"}],
                    "properties": self.properties,
                    "limit": self.page_size,
                }
                if after is not None:
                    body["after"] = after
                data = self.client.search(self.object_type, body)
                results = data["results"]
                fetched += len(results)
                if window == 1 and after is None:
                    log.info("hubspot:%s: %s record(s) modified since %s", self.object_type, data.get("total"), since)
                fresh = [r for r in results if str(r.get("id")) not in seen_at_lower]
                for r in results:
                    ms = self._modified_ms(r)
                    if ms != last_ms:
                        last_ms, ids_at_last = ms, set()
                    ids_at_last.add(str(r.get("id")))
                if fresh:
                    yield f"window {window} after {after or 0}", fresh
                after = ((data.get("paging") or {}).get("next") or {}).get("after")
                if not after or not results:
                    return
                if str(after) in cursors_seen:
                    # A server that hands back a cursor it already gave would make this loop forever.
                    raise SourceDataError(
                        f"hubspot:{self.object_type}: the search returned paging cursor after={after!r} twice; "
                        "stopping instead of looping - the pages read so far landed, retry later or report it"
                    )
                cursors_seen.add(str(after))
            if restart:
                if last_ms is None or last_ms == lower:
                    raise SourceDataError(
                        f"hubspot:{self.object_type}: more than {self.search_cap} records share "
                        f"{self.modified_property}={last_ms}; the search cannot page past them - "
                        "split the scan with another filter"
                    )
                seen_at_lower = ids_at_last
                lower = last_ms
                log.info("hubspot:%s: search cap reached, new window from %s", self.object_type, lower)

    def _modified_ms(self, record: dict[str, Any]) -> int:
        raw = (record.get("properties") or {}).get(self.modified_property) or record.get("updatedAt")
        text = utc_text(raw)
        try:
            return epoch_ms(datetime.fromisoformat(text)) if text else 0
        except ValueError:
            raise SourceDataError(
                f"hubspot:{self.object_type} record {record.get('id')}: unreadable {self.modified_property} {raw!r}"
            ) from None


@dataclass
class HubSpotStream:
    """One HubSpot object feeding one raw contract (implements ``connectors.base.SourceStream``)."""

    contract: StreamContract
    search: WindowedSearch
    to_row: Callable[[dict[str, Any]], dict[str, Any]]
    lookback_days: int = 1
    max_bad_fraction: float = 0.05

    def read(self, watermark: datetime | None) -> Iterator[Batch]:
        """Yield one batch per search page modified since ``watermark - lookback_days``."""
        since = watermark - timedelta(days=self.lookback_days) if watermark else None
        for position, results in self.search.pages(since):
            origin = f"hubspot:{self.search.object_type} since {since or 'start'} {position}"
            yield Batch(origin=origin, table=records_table([self.to_row(r) for r in results], self.contract))


class HubSpotSource:
    """HubSpot CRM as a ``connectors.base.Source``.

    Args:
        config: Portal settings.
        client: A prebuilt client (tests); by default built from ``config``.
        name: Lineage name written to ``_source`` and used for watermarks.
    """

    def __init__(self, config: HubSpotConfig, client: HubSpotClient | None = None, name: str = "hubspot") -> None:
        self.config = config
        self.client = client or HubSpotClient(config)
        self.name = name

    def check(self) -> None:
        """One search with ``limit=1``: raises ``SourceAuthError`` on a bad token, with what to fix."""
        self.client.search("contacts", {"filterGroups": [], "limit": 1, "properties": ["hs_object_id"]})

    def streams(self) -> list[SourceStream]:
        """Contacts, then interactions."""
        c = self.config
        contact_props = sorted(
            {c.firstname_property, c.lastname_property, c.contacts_modified_property, *c.contact_properties.values()}
        )
        interaction_props = sorted({c.interactions_modified_property, *c.interaction_properties.values()})
        return [
            HubSpotStream(
                contracts.CONTACTS,
                WindowedSearch(
                    self.client, "contacts", c.contacts_modified_property, contact_props, c.page_size, c.search_cap
                ),
                self._contact_row,
                lookback_days=c.lookback_days,
                max_bad_fraction=c.max_bad_fraction,
            ),
            HubSpotStream(
                contracts.INTERACTIONS,
                WindowedSearch(
                    self.client,
                    c.interactions_object,
                    c.interactions_modified_property,
                    interaction_props,
                    c.page_size,
                    c.search_cap,
                ),
                self._interaction_row,
                lookback_days=c.lookback_days,
                max_bad_fraction=c.max_bad_fraction,
            ),
        ]

    def _contact_row(self, record: dict[str, Any]) -> dict[str, Any]:
        p = record.get("properties") or {}
        c = self.config
        row = {col: p.get(prop) for col, prop in c.contact_properties.items()}
        name = " ".join(x.strip() for x in (p.get(c.firstname_property), p.get(c.lastname_property)) if x and x.strip())
        # A record without an id lands as nothing rather than as contact "None": land() quarantines it.
        row["contact_id"] = None if record.get("id") is None else str(record["id"])
        row["full_name"] = name or None
        row["updated_at"] = utc_text(row.get("updated_at") or record.get("updatedAt"))
        return row

    def _interaction_row(self, record: dict[str, Any]) -> dict[str, Any]:
        p = record.get("properties") or {}
        row = {col: p.get(prop) for col, prop in self.config.interaction_properties.items()}
        row["interaction_id"] = None if record.get("id") is None else str(record["id"])
        row["occurred_at"] = utc_text(row.get("occurred_at"))
        return row

"""HubSpot source: ``raw_crm.contacts`` and ``raw_crm.interactions`` via CRM search (CONNECTORS.md §3.1).

Both streams read with ``POST …/{object}/search``: one filter ``<modified> GTE <since>`` (epoch ms),
sorted ascending on the same property, ``limit`` up to 200 and the ``after`` cursor. Search stops
at 10,000 results per query (HTTP 400 past that), so ``WindowedPaginator`` (a paginator of the
shared paged-stream base, ``connectors.paging``) restarts the query before the cap with
``GTE <last modification instant seen>`` (a new time window), skipping the records of that
instant it already emitted. It refuses to loop when more than ``search_cap`` records share one
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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from connectors import contracts
from connectors.base import SourceStream
from connectors.contracts import StreamContract
from connectors.load import SourceDataError
from connectors.paging import PagedStream, Paginator
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


@dataclass(frozen=True)
class SearchPage:
    """Page token of a windowed search: the window's lower bound, HubSpot's ``after`` cursor in it.

    Attributes:
        window: Window number (1 = the first query of the read).
        lower: ``GTE`` bound on the modification property, epoch ms (None: no filter).
        after: HubSpot's paging cursor within the window (None: its first page).
        skip: Ids at ``lower`` the previous window already emitted (a restart re-reads that instant).
    """

    window: int
    lower: int | None
    after: str | None = None
    skip: frozenset[str] = frozenset()


class WindowedPaginator(Paginator[SearchPage]):
    """HubSpot's ``after`` cursor, restarted as a new time window before the search's result cap.

    Within a window the next page is ``paging.next.after``; once another page would pass
    ``search_cap`` results, the next page is the first of a new window starting at the last
    modification instant seen (HubSpot answers HTTP 400 past 10,000 results of one query). It
    refuses to loop when more than ``search_cap`` records share one instant. Repeated cursors and
    the page limit are the base's (``connectors.paging.Paginator``).
    """

    def __init__(
        self,
        start: SearchPage,
        *,
        object_type: str,
        modified_property: str,
        page_size: int,
        search_cap: int,
        max_pages: int,
    ) -> None:
        super().__init__(start, where=f"hubspot:{object_type}", max_pages=max_pages)
        self.object_type = object_type
        self.modified_property = modified_property
        self.page_size = page_size
        self.search_cap = search_cap
        self._fetched = 0
        self._last_ms: int | None = None
        self._ids_at_last: set[str] = set()

    def key(self, token: SearchPage) -> tuple[int | None, str | None]:
        """A cursor repeats when it comes back within the same window."""
        return (token.lower, token.after)

    def describe(self, token: SearchPage | None) -> str:
        """``after='…'`` as HubSpot names it."""
        return "start" if token is None else f"after={token.after!r}"

    def next_page(self, response: dict[str, Any]) -> SearchPage | None:
        """The next page in this window, the first of a new window, or None after the last page."""
        current = self.current or SearchPage(1, None)
        results = response["results"]
        self._fetched += len(results)
        for record in results:
            ms = self._modified_ms(record)
            if ms != self._last_ms:
                self._last_ms, self._ids_at_last = ms, set()
            self._ids_at_last.add(str(record.get("id")))
        after = ((response.get("paging") or {}).get("next") or {}).get("after")
        if not after or not results:
            return None
        if self._fetched + self.page_size <= self.search_cap:
            return SearchPage(current.window, current.lower, str(after), current.skip)
        if self._last_ms is None or self._last_ms == current.lower:
            raise SourceDataError(
                f"hubspot:{self.object_type}: more than {self.search_cap} records share "
                f"{self.modified_property}={self._last_ms}; the search cannot page past them - "
                "split the scan with another filter"
            )
        log.info("hubspot:%s: search cap reached, new window from %s", self.object_type, self._last_ms)
        restart = SearchPage(current.window + 1, self._last_ms, None, frozenset(self._ids_at_last))
        self._fetched, self._last_ms, self._ids_at_last = 0, None, set()
        return restart

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
class HubSpotStream(PagedStream[SearchPage]):
    """One HubSpot object feeding one raw contract: a declaration; the read loop is ``PagedStream.read``.

    Reads ``POST …/{object}/search`` with one filter ``<modified> GTE <window start>``, sorted
    ascending on the same property, ``page_size`` results a page.
    """

    contract: StreamContract
    client: HubSpotClient
    object_type: str
    modified_property: str
    properties: list[str]
    to_row: Callable[[dict[str, Any]], dict[str, Any]]
    page_size: int = 200
    search_cap: int = 10_000
    lookback_days: int = 1
    max_bad_fraction: float = 0.05
    max_pages: int = 100_000

    def new_paginator(self, since: datetime | None) -> WindowedPaginator:
        """The first window starts at ``since`` (every record when None)."""
        return WindowedPaginator(
            SearchPage(1, epoch_ms(since) if since else None),
            object_type=self.object_type,
            modified_property=self.modified_property,
            page_size=self.page_size,
            search_cap=self.search_cap,
            max_pages=self.max_pages,
        )

    def fetch(self, token: SearchPage | None, since: datetime | None) -> dict[str, Any]:
        """One search page for ``token``."""
        token = token or SearchPage(1, None)
        filters = [{"propertyName": self.modified_property, "operator": "GTE", "value": str(token.lower)}]
        body: dict[str, Any] = {
            "filterGroups": [{"filters": filters}] if token.lower is not None else [],
            "sorts": [{"propertyName": self.modified_property, "direction": "ASCENDING"}],
            "properties": self.properties,
            "limit": self.page_size,
        }
        if token.after is not None:
            body["after"] = token.after
        data = self.client.search(self.object_type, body)
        if token.window == 1 and token.after is None:
            log.info("hubspot:%s: %s record(s) modified since %s", self.object_type, data.get("total"), since)
        return data

    def records(self, response: dict[str, Any], token: SearchPage | None) -> list[dict[str, Any]]:
        """The page's results, less those of the window's first instant already emitted."""
        skip = token.skip if token else frozenset()
        return [r for r in response["results"] if str(r.get("id")) not in skip]

    def to_rows(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """HubSpot records -> contract rows."""
        return [self.to_row(r) for r in records]

    def origin(self, token: SearchPage | None, since: datetime | None) -> str:
        """``hubspot:<object> since <since> window <n> after <cursor>``."""
        window, after = (token.window, token.after) if token else (1, None)
        return f"hubspot:{self.object_type} since {since or 'start'} window {window} after {after or 0}"


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
                self.client,
                "contacts",
                c.contacts_modified_property,
                contact_props,
                self._contact_row,
                page_size=c.page_size,
                search_cap=c.search_cap,
                lookback_days=c.lookback_days,
                max_bad_fraction=c.max_bad_fraction,
                max_pages=c.max_pages,
            ),
            HubSpotStream(
                contracts.INTERACTIONS,
                self.client,
                c.interactions_object,
                c.interactions_modified_property,
                interaction_props,
                self._interaction_row,
                page_size=c.page_size,
                search_cap=c.search_cap,
                lookback_days=c.lookback_days,
                max_bad_fraction=c.max_bad_fraction,
                max_pages=c.max_pages,
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

"""One paged-stream base for the API sources: pagination is an object, the read loop is written once.

After the Meltano SDK (``singer_sdk.pagination.BaseAPIPaginator`` and ``RESTStream.request_records``):
a stream declares how to fetch one page for a page token, which records a response holds and how
they map onto the raw contract; a :class:`Paginator` says, from each response, whether there is
more (:meth:`Paginator.has_more`) and where the next page starts (:meth:`Paginator.next_page`).
:meth:`PagedStream.read` is the only loop: fetch the page of the current token, yield its batch,
advance. Odoo's keyset on ``(write_date, id)`` and HubSpot's ``after`` cursor inside restartable
time windows are two paginators (``connectors/sources/odoo/streams.py``,
``connectors/sources/hubspot/streams.py``).

The protections against a hostile or broken server live here, once, in :meth:`Paginator.advance`:

- a token the server already handed out (a cursor loop), or one that does not move forward where
  the order says it must (a keyset going backwards), stops the read with ``SourceDataError``;
- more than ``max_pages`` pages in one read stops it too (a server inventing pages forever).

The batch of a page is yielded before the paginator looks at what comes next, so the pages read
before a refusal have landed (``connectors.base.sync`` records the refusal and goes on with the
other streams).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Hashable, Iterator
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from connectors.base import Batch, records_table
from connectors.contracts import StreamContract
from connectors.load import SourceDataError

log = logging.getLogger(__name__)

T = TypeVar("T")


class Paginator(ABC, Generic[T]):
    """Where the next page of one read starts, and the checks that it really is a next page.

    Args:
        start: Token of the first page (None: the server's first page).
        where: The endpoint, for messages (``hubspot:contacts``, ``odoo:account.move``).
        max_pages: Pages one read may take before it is refused as a runaway.
    """

    #: What to suspect when the cursor does not move (appended to the refusal).
    loop_hint: str = "the pages read so far landed; retry later or report it"

    def __init__(self, start: T | None, *, where: str, max_pages: int) -> None:
        self.current: T | None = start
        self.where = where
        self.max_pages = max_pages
        self.pages = 0
        self.finished = False
        self._seen: set[Hashable] = set()
        if start is not None:
            self._seen.add(self.key(start))

    @abstractmethod
    def next_page(self, response: Any) -> T | None:
        """The token of the page after ``response``, or None when the server says there is none."""

    def has_more(self, response: Any) -> bool:
        """Whether another page may follow ``response`` at all (default: yes, ask ``next_page``)."""
        return True

    def key(self, token: T) -> Hashable:
        """What identifies a token when looking for repeats (the token itself by default)."""
        return token  # type: ignore[return-value]

    def moves_forward(self, previous: T | None, token: T) -> bool:
        """Whether ``token`` lies after ``previous`` (only keysets can tell; default: yes)."""
        return True

    def describe(self, token: T | None) -> str:
        """The token as a message shows it."""
        return "start" if token is None else str(token)

    def advance(self, response: Any) -> None:
        """Move past the page just read: to the next token, or finished.

        Raises:
            SourceDataError: The server handed out a token it already gave, or one that does not
                move forward, or the read exceeded ``max_pages``; names the endpoint and the token.
        """
        self.pages += 1
        if not self.has_more(response):
            self.finished = True
            return
        token = self.next_page(response)
        if token is None:
            self.finished = True
            return
        key = self.key(token)
        if key in self._seen:
            raise SourceDataError(
                f"{self.where}: the server returned paging cursor {self.describe(token)} twice; "
                f"stopping instead of looping - {self.loop_hint}"
            )
        if not self.moves_forward(self.current, token):
            raise SourceDataError(
                f"{self.where}: page after {self.describe(self.current)} did not advance (next cursor "
                f"{self.describe(token)}); stopping instead of looping - {self.loop_hint}"
            )
        if self.pages >= self.max_pages:
            raise SourceDataError(
                f"{self.where}: more than {self.max_pages} pages in one read (next cursor {self.describe(token)}); "
                "stopping as a runaway - the pages read so far landed; if the source really holds that much, "
                "raise max_pages in its configuration"
            )
        self._seen.add(key)
        self.current = token


class PagedStream(ABC, Generic[T]):
    """A source stream read page by page (implements ``connectors.base.SourceStream``).

    Subclasses set ``contract``, ``lookback_days``, ``max_bad_fraction`` and ``max_pages`` and
    declare :meth:`new_paginator`, :meth:`fetch`, :meth:`records`, :meth:`to_rows` and
    :meth:`origin`; :meth:`read` is shared.
    """

    contract: StreamContract
    lookback_days: int
    max_bad_fraction: float
    max_pages: int

    @abstractmethod
    def new_paginator(self, since: datetime | None) -> Paginator[T]:
        """A fresh paginator for one read of records changed at or after ``since``."""

    @abstractmethod
    def fetch(self, token: T | None, since: datetime | None) -> Any:
        """Request the page of ``token``; return the response the paginator reads."""

    @abstractmethod
    def records(self, response: Any, token: T | None) -> list[dict[str, Any]]:
        """The records of a response to land (may leave out ones already emitted)."""

    @abstractmethod
    def to_rows(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Records -> rows with the contract's column names."""

    @abstractmethod
    def origin(self, token: T | None, since: datetime | None) -> str:
        """Where a page came from, for errors, quarantine rows and the ``_file`` lineage column."""

    def read(self, watermark: datetime | None) -> Iterator[Batch]:
        """Yield one batch per page changed since ``watermark - lookback_days``."""
        since = watermark - timedelta(days=self.lookback_days) if watermark else None
        paginator = self.new_paginator(since)
        while not paginator.finished:
            token = paginator.current
            response = self.fetch(token, since)
            records = self.records(response, token)
            if records:
                origin = self.origin(token, since)
                log.debug("%s: %d record(s)", origin, len(records))
                yield Batch(origin=origin, table=records_table(self.to_rows(records), self.contract))
            paginator.advance(response)

"""Odoo source: ``raw_erp.customers``, ``raw_erp.invoices``, ``raw_erp.credit_notes`` (CONNECTORS.md §2.1).

Each stream is a declaration (model, base domain, fields, row mapping) on the shared paged-stream
base (``connectors.paging``); paging is one object (``KeysetPaginator``) shared by all three.
Records are read with ``search_read`` ordered by ``write_date asc, id asc`` and paged on the keyset
``(write_date, id)``::

    ["|", ["write_date", ">", T], "&", ["write_date", "=", T], ["id", ">", ID]]

which, unlike ``offset``, does not skip or repeat records that change during the scan. An
incremental read starts at the stream's watermark minus ``lookback_days`` (re-reading a few days is
cheap; ``connectors.load.land`` only replaces rows whose ``updated_at`` is newer).

Mapping (contract column <- Odoo field):

- customers (``res.partner``, ``customer_rank > 0`` and ``is_company``): customer_id <- ``id`` (or
  ``ref``, see ``OdooConfig.customer_key``), name, tax_id <- ``vat``, country <- ``country_code``,
  city, timezone <- ``tz``, currency <- ``currency_id[1]``, payment_terms_days <- the number in
  ``property_payment_term_id[1]`` ("30 Days"; "Immediate Payment" or none = 0), credit_limit,
  segment <- ``industry_id[1]``, updated_at <- ``write_date``.
- invoices (``account.move``, ``move_type = out_invoice``, state posted/cancel): invoice_id <- ``id``,
  number <- ``name``, customer_id <- ``commercial_partner_id[0]`` (the bill-to company; falls back to
  ``partner_id[0]``), issue_date <- ``invoice_date``, due_date <- ``invoice_date_due``, currency <-
  ``currency_id[1]``, amount_total, amount_open <- ``amount_residual``, status posted/cancel ->
  posted/cancelled, payment_reference, updated_at <- ``write_date``.
- credit_notes (``move_type = out_refund``): as invoices, plus invoice_id <- ``reversed_entry_id[0]``.

Odoo ``false`` becomes null; many2one ``[id, "name"]`` gives the id or the name; amounts arrive as
JSON numbers, parsed straight to ``Decimal`` (never float). Every value is handed to ``land`` as text
so a bad value is quarantined with its record key instead of failing the page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors import contracts
from connectors.base import SourceStream
from connectors.contracts import StreamContract
from connectors.load import SourceDataError
from connectors.paging import PagedStream, Paginator
from connectors.sources.odoo.client import OdooClient
from connectors.sources.odoo.config import OdooConfig

ODOO_DATETIME = "%Y-%m-%d %H:%M:%S"
ORDER = "write_date asc, id asc"
MOVE_STATUS = {"posted": "posted", "cancel": "cancelled"}
_DAYS = re.compile(r"(\d+)")


def value(v: Any) -> Any:
    """Odoo's ``false`` for an empty field -> None (other values unchanged)."""
    return None if v is False else v


def m2o_id(v: Any) -> str | None:
    """Many2one ``[id, "display name"]`` (or a bare id) -> the id as text; ``false`` -> None."""
    if v is False or v is None:
        return None
    if isinstance(v, list | tuple):
        return str(v[0]) if v else None
    return str(v)


def m2o_name(v: Any) -> str | None:
    """Many2one ``[id, "display name"]`` -> the display name; ``false`` -> None."""
    if isinstance(v, list | tuple) and len(v) > 1:
        return str(v[1])
    return None


def money(v: Any) -> str | None:
    """A JSON number (already ``Decimal``) -> its exact decimal text; ``false`` -> None."""
    if v is False or v is None:
        return None
    try:
        return str(Decimal(str(v)))
    except InvalidOperation:
        return str(v)  # land() quarantines it with the record key


def text(v: Any) -> str | None:
    """Any scalar -> text; ``false`` -> None."""
    v = value(v)
    return None if v is None else str(v)


def payment_terms_days(v: Any) -> int | None:
    """Days from a payment term's display name ("30 Days", "45 Days"); immediate or unset -> 0."""
    name = m2o_name(v)
    if name is None or "immediate" in name.lower():
        return 0
    m = _DAYS.search(name)
    return int(m.group(1)) if m else None


class KeysetPaginator(Paginator[tuple[str, int]]):
    """Keyset pagination on ``(write_date, id)``: the next page starts after the last record read.

    A short page is the last. The keyset must grow strictly (the base refuses a repeat or a step
    back: a server ignoring ``order`` or the keyset domain would otherwise loop).
    """

    loop_hint = f"the server ignores order={ORDER!r} or the keyset domain; the pages read so far landed"

    def __init__(self, start: tuple[str, int] | None, *, model: str, page_size: int, max_pages: int) -> None:
        super().__init__(start, where=f"odoo:{model}", max_pages=max_pages)
        self.model = model
        self.page_size = page_size

    def has_more(self, response: list[dict[str, Any]]) -> bool:
        """An empty page is the last."""
        return bool(response)

    def next_page(self, response: list[dict[str, Any]]) -> tuple[str, int] | None:
        """The keyset of the page's last record; None after a short page (the last one).

        The last record is checked even on a short page: a record without ``write_date``/``id``
        means the field list or the Odoo version is wrong, and the read says so.
        """
        last = response[-1]
        if not last.get("write_date") or not isinstance(last.get("id"), int):
            raise SourceDataError(
                f"odoo:{self.model} record {last.get('id')!r} has no write_date/id; "
                "the keyset cursor cannot advance - check the Odoo version and the field list"
            )
        return (str(last["write_date"]), int(last["id"])) if len(response) >= self.page_size else None

    def moves_forward(self, previous: tuple[str, int] | None, token: tuple[str, int]) -> bool:
        """Ordered by ``write_date, id``: the next keyset lies strictly after the previous one."""
        return previous is None or token > previous

    def describe(self, token: tuple[str, int] | None) -> str:
        """``(write_date,id)`` as in the batch origin."""
        return "start" if token is None else f"({token[0]},{token[1]})"


@dataclass
class OdooStream(PagedStream[tuple[str, int]]):
    """One Odoo model feeding one raw contract: a declaration; the read loop is ``PagedStream.read``.

    Records are read with ``search_read`` ordered by ``write_date asc, id asc``, ``page_size`` at a
    time, each page after the keyset of the previous one.
    """

    contract: StreamContract
    client: OdooClient
    model: str
    domain: list
    fields: list[str]
    map_rows: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    page_size: int = 500
    context: dict[str, Any] = field(default_factory=dict)
    lookback_days: int = 3
    max_bad_fraction: float = 0.05
    max_pages: int = 100_000

    @staticmethod
    def keyset(write_date: str, last_id: int) -> list:
        """Domain for records strictly after ``(write_date, last_id)``."""
        return ["|", ["write_date", ">", write_date], "&", ["write_date", "=", write_date], ["id", ">", last_id]]

    def new_paginator(self, since: datetime | None) -> KeysetPaginator:
        """Start at ``(since, 0)``: every record written at or after ``since`` (all when None)."""
        start = (since.strftime(ODOO_DATETIME), 0) if since else None
        return KeysetPaginator(start, model=self.model, page_size=self.page_size, max_pages=self.max_pages)

    def fetch(self, token: tuple[str, int] | None, since: datetime | None) -> list[dict[str, Any]]:
        """One ``search_read`` page after ``token``."""
        domain = list(self.domain) + (self.keyset(*token) if token else [])
        fields = sorted({*self.fields, "id", "write_date"})
        return self.client.search_read(
            self.model, domain, fields, limit=self.page_size, order=ORDER, context=self.context
        )

    def records(self, response: list[dict[str, Any]], token: tuple[str, int] | None) -> list[dict[str, Any]]:
        """The page's records."""
        return response

    def to_rows(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Odoo records -> contract rows."""
        return self.map_rows(records)

    def origin(self, token: tuple[str, int] | None, since: datetime | None) -> str:
        """``odoo:<model> page after (<write_date>,<id>)`` or ``... page after start``."""
        after = f"({token[0]},{token[1]})" if token else "start"
        return f"odoo:{self.model} page after {after}"


class OdooSource:
    """The Odoo ERP as a ``connectors.base.Source``.

    Args:
        config: Connection settings.
        client: A prebuilt client (tests); by default built from ``config``.
        name: Lineage name written to ``_source`` and used for watermarks.
    """

    def __init__(self, config: OdooConfig, client: OdooClient | None = None, name: str = "odoo") -> None:
        self.config = config
        self.client = client or OdooClient(config)
        self.name = name
        self._refs: dict[int, str | None] = {}

    def check(self) -> None:
        """Authenticate; raises ``SourceAuthError``/``SourceHTTPError`` with what to fix."""
        self.client.authenticate()

    def streams(self) -> list[SourceStream]:
        """Customers, invoices and credit notes, in landing order."""
        c = self.config
        no_archive_filter = {"active_test": False}  # archived customers still owe money

        def stream(contract: StreamContract, model: str, domain: list, fields: list[str], mapper) -> OdooStream:
            return OdooStream(
                contract,
                self.client,
                model,
                domain,
                fields,
                mapper,
                page_size=c.page_size,
                context=no_archive_filter,
                lookback_days=c.lookback_days,
                max_bad_fraction=c.max_bad_fraction,
                max_pages=c.max_pages,
            )

        move_fields = [
            "name",
            "partner_id",
            "commercial_partner_id",
            "invoice_date",
            "currency_id",
            "amount_total",
            "state",
            "write_date",
        ]
        return [
            stream(
                contracts.CUSTOMERS,
                "res.partner",
                list(c.customer_domain),
                [
                    "name",
                    "ref",
                    "vat",
                    "country_code",
                    "city",
                    "tz",
                    "currency_id",
                    "property_payment_term_id",
                    "credit_limit",
                    "industry_id",
                    "write_date",
                ],
                self._customer_rows,
            ),
            stream(
                contracts.INVOICES,
                "account.move",
                [["move_type", "=", "out_invoice"], ["state", "in", ["posted", "cancel"]]],
                [*move_fields, "invoice_date_due", "amount_residual", "payment_reference"],
                self._invoice_rows,
            ),
            stream(
                contracts.CREDIT_NOTES,
                "account.move",
                [["move_type", "=", "out_refund"], ["state", "in", ["posted", "cancel"]]],
                [*move_fields, "reversed_entry_id"],
                self._credit_note_rows,
            ),
        ]

    # --- row mapping -------------------------------------------------------------------------

    def _customer_rows(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for r in records:
            ref = text(r.get("ref"))
            self._refs[r["id"]] = ref
            rows.append(
                {
                    "customer_id": self._customer_key(r["id"], ref),
                    "name": text(r.get("name")),
                    "tax_id": text(r.get("vat")),
                    "country": text(r.get("country_code")),
                    "city": text(r.get("city")),
                    "timezone": text(r.get("tz")),
                    "currency": m2o_name(r.get("currency_id")),
                    "payment_terms_days": payment_terms_days(r.get("property_payment_term_id")),
                    "credit_limit": money(r.get("credit_limit")),
                    "segment": m2o_name(r.get("industry_id")),
                    "updated_at": text(r.get("write_date")),
                }
            )
        return rows

    def _move_common(self, r: dict[str, Any], partner: int | None) -> dict[str, Any]:
        state = text(r.get("state"))
        return {
            "number": text(r.get("name")),
            "customer_id": self._customer_key(partner, self._refs.get(partner)) if partner else None,
            "issue_date": text(r.get("invoice_date")),
            "currency": m2o_name(r.get("currency_id")),
            "amount_total": money(r.get("amount_total")),
            "status": MOVE_STATUS.get(state or "", state),
            "updated_at": text(r.get("write_date")),
        }

    def _invoice_rows(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        partners = self._partners(records)
        return [
            {
                "invoice_id": str(r["id"]),
                **self._move_common(r, p),
                "due_date": text(r.get("invoice_date_due")),
                "amount_open": money(r.get("amount_residual")),
                "payment_reference": text(r.get("payment_reference")),
            }
            for r, p in zip(records, partners, strict=True)
        ]

    def _credit_note_rows(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        partners = self._partners(records)
        return [
            {
                "credit_note_id": str(r["id"]),
                **self._move_common(r, p),
                "invoice_id": m2o_id(r.get("reversed_entry_id")),
            }
            for r, p in zip(records, partners, strict=True)
        ]

    def _partners(self, records: list[dict[str, Any]]) -> list[int | None]:
        """Bill-to partner id of each move; with ``customer_key='ref'`` also fetch unknown refs (one call)."""
        ids: list[int | None] = []
        for r in records:
            p = m2o_id(r.get("commercial_partner_id")) or m2o_id(r.get("partner_id"))
            ids.append(int(p) if p else None)
        if self.config.customer_key == "ref":
            missing = sorted({i for i in ids if i is not None and i not in self._refs})
            if missing:
                found = self.client.search_read(
                    "res.partner", [["id", "in", missing]], ["ref"], context={"active_test": False}
                )
                for rec in found:
                    self._refs[rec["id"]] = text(rec.get("ref"))
        return ids

    def _customer_key(self, partner_id: int | None, ref: str | None) -> str | None:
        if partner_id is None:
            return None
        if self.config.customer_key == "ref" and ref:
            return ref
        return str(partner_id)

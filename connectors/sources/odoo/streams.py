"""Odoo source: ``raw_erp.customers``, ``raw_erp.invoices``, ``raw_erp.credit_notes`` (CONNECTORS.md §2.1).

Each stream is a declaration (model, base domain, fields, row mapping); paging is one object
(``KeysetPager``) shared by all three. Records are read with ``search_read`` ordered by
``write_date asc, id asc`` and paged on the keyset ``(write_date, id)``::

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

import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors import contracts
from connectors.base import Batch, SourceStream, records_table
from connectors.contracts import StreamContract
from connectors.load import SourceDataError
from connectors.sources.odoo.client import OdooClient
from connectors.sources.odoo.config import OdooConfig

log = logging.getLogger(__name__)

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


@dataclass
class KeysetPager:
    """Keyset pagination on ``(write_date, id)`` for one model and base domain."""

    client: OdooClient
    model: str
    domain: list
    fields: list[str]
    page_size: int
    context: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def keyset(write_date: str, last_id: int) -> list:
        """Domain for records strictly after ``(write_date, last_id)``."""
        return ["|", ["write_date", ">", write_date], "&", ["write_date", "=", write_date], ["id", ">", last_id]]

    def pages(self, since: datetime | None) -> Iterator[tuple[tuple[str, int] | None, list[dict[str, Any]]]]:
        """Yield ``(cursor before the page, records)`` until a short page.

        Args:
            since: Read records written at or after this instant (UTC); all records when None.
        """
        cursor: tuple[str, int] | None = (since.strftime(ODOO_DATETIME), 0) if since else None
        fields = sorted({*self.fields, "id", "write_date"})
        while True:
            domain = list(self.domain) + (self.keyset(*cursor) if cursor else [])
            records = self.client.search_read(
                self.model, domain, fields, limit=self.page_size, order=ORDER, context=self.context
            )
            if not records:
                return
            yield cursor, records
            last = records[-1]
            if not last.get("write_date") or not isinstance(last.get("id"), int):
                raise SourceDataError(
                    f"odoo:{self.model} record {last.get('id')!r} has no write_date/id; "
                    "the keyset cursor cannot advance - check the Odoo version and the field list"
                )
            new_cursor = (str(last["write_date"]), int(last["id"]))
            if cursor is not None and new_cursor <= cursor:
                raise SourceDataError(
                    f"odoo:{self.model}: page after {cursor} did not advance (last record {new_cursor}); "
                    f"the server ignores order={ORDER!r} or the keyset domain - stopping to avoid a loop"
                )
            cursor = new_cursor
            if len(records) < self.page_size:
                return


@dataclass
class OdooStream:
    """One Odoo model feeding one raw contract (implements ``connectors.base.SourceStream``)."""

    contract: StreamContract
    pager: KeysetPager
    to_rows: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]
    lookback_days: int = 3
    max_bad_fraction: float = 0.05

    def read(self, watermark: datetime | None) -> Iterator[Batch]:
        """Yield one batch per ``search_read`` page changed since ``watermark - lookback_days``."""
        since = watermark - timedelta(days=self.lookback_days) if watermark else None
        for cursor, records in self.pager.pages(since):
            after = f"({cursor[0]},{cursor[1]})" if cursor else "start"
            origin = f"odoo:{self.pager.model} page after {after}"
            log.debug("%s: %d record(s)", origin, len(records))
            yield Batch(origin=origin, table=records_table(self.to_rows(records), self.contract))


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
            pager = KeysetPager(self.client, model, domain, fields, c.page_size, no_archive_filter)
            return OdooStream(
                contract, pager, mapper, lookback_days=c.lookback_days, max_bad_fraction=c.max_bad_fraction
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

"""Read one customer's statement of account from the published, read-only warehouse snapshot.

The portal never opens the warehouse the flows write: it reads the published copy
(``data/published/warehouse.duckdb``, replaced whole by each warehouse-writer flow), opened
``read_only`` for each request so a new snapshot is picked up as soon as it is published and no
handle is kept on a file about to be replaced. Every query is parameterised and filtered on the
customer the link names.

Tables read: ``marts.dim_customers`` (name, country, currency, segment), ``marts.dim_contacts``
(language, the contacts whose consent the preferences page changes), ``marts.fct_invoices`` (posted
invoices with an amount open) and, when present, ``marts.mart_risk_accounts`` (the account's risk for
the plan policy).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb


class SnapshotUnavailable(RuntimeError):
    """The published snapshot is missing or cannot be read (the portal answers 503)."""


@dataclass(frozen=True)
class InvoiceLine:
    """One open invoice."""

    invoice_id: str
    number: str
    currency: str
    issue_date: date
    due_date: date
    amount_total: Decimal
    amount_open: Decimal
    is_disputed: bool


@dataclass(frozen=True)
class Contact:
    """A contact of the customer and the channels it consents to."""

    contact_id: str
    consents: dict[str, bool]


@dataclass(frozen=True)
class Statement:
    """A customer's statement of account."""

    customer_id: str
    customer_name: str
    country: str | None
    currency: str
    segment: str | None
    language: str | None
    risk: float | None
    invoices: tuple[InvoiceLine, ...]
    contacts: tuple[Contact, ...] = field(default_factory=tuple)

    def balance(self, currency: str | None = None) -> Decimal:
        """Open amount of the undisputed invoices in ``currency`` (default: the customer's)."""
        cur = (currency or self.currency).upper()
        return sum(
            (i.amount_open for i in self.invoices if i.currency.upper() == cur and not i.is_disputed), Decimal(0)
        )

    def invoice(self, invoice_id: str) -> InvoiceLine | None:
        """One of the customer's open invoices, by id."""
        return next((i for i in self.invoices if i.invoice_id == invoice_id), None)


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
        ).fetchone()[0]
    )


CONSENT_CHANNELS = ("email", "whatsapp", "sms", "call")


def read_statement(snapshot: str | os.PathLike[str], customer_id: str) -> Statement | None:
    """The customer's statement, or None when the snapshot does not know the customer.

    Raises:
        SnapshotUnavailable: The snapshot file is missing or is not a readable warehouse.
    """
    path = Path(snapshot)
    if not path.is_file():
        raise SnapshotUnavailable(f"published warehouse snapshot {path} does not exist yet (run the daily flow)")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error as exc:
        raise SnapshotUnavailable(f"published warehouse snapshot {path} cannot be opened: {exc}") from exc
    try:
        if not (_exists(con, "marts", "dim_customers") and _exists(con, "marts", "fct_invoices")):
            raise SnapshotUnavailable(f"{path} has no marts.dim_customers / marts.fct_invoices (dbt build not run)")
        row = con.execute(
            "select customer_name, country, currency, segment from marts.dim_customers where customer_id = ?",
            [customer_id],
        ).fetchone()
        if row is None:
            return None
        name, country, currency, segment = row
        language = None
        contacts: list[Contact] = []
        if _exists(con, "marts", "dim_contacts"):
            flags = ", ".join(f"consent_{c}" for c in CONSENT_CHANNELS)
            rows = con.execute(
                f"select contact_id, language, {flags} from marts.dim_contacts where customer_id = ? "
                "order by (role = 'debtor') desc, contact_id",
                [customer_id],
            ).fetchall()
            language = next((r[1] for r in rows if r[1]), None)
            contacts = [
                Contact(str(r[0]), {c: bool(v) for c, v in zip(CONSENT_CHANNELS, r[2:], strict=True)}) for r in rows
            ]
        risk = None
        if _exists(con, "marts", "mart_risk_accounts"):
            got = con.execute(
                "select risk_weighted from marts.mart_risk_accounts where customer_id = ?", [customer_id]
            ).fetchone()
            risk = float(got[0]) if got and got[0] is not None else None
        invoices = con.execute(
            """
            select invoice_id, invoice_number, currency, issue_date, due_date, amount_total, amount_open,
                   coalesce(is_disputed, false)
            from marts.fct_invoices
            where customer_id = ? and status = 'posted' and amount_open > 0
            order by due_date, invoice_number
            """,
            [customer_id],
        ).fetchall()
    finally:
        con.close()
    lines = tuple(
        InvoiceLine(str(i), str(n), str(cur), iss, due, Decimal(str(tot)), Decimal(str(op)), bool(d))
        for i, n, cur, iss, due, tot, op, d in invoices
    )
    return Statement(
        customer_id=customer_id,
        customer_name=str(name or ""),
        country=country,
        currency=str(currency or (lines[0].currency if lines else "USD")),
        segment=segment,
        language=language,
        risk=risk,
        invoices=lines,
        contacts=tuple(contacts),
    )

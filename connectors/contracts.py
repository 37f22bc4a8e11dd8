"""Raw-layer data contracts (DESIGN.md §3): the streams every source connector lands.

Each stream is a declaration, in the spirit of singer_sdk / dlt: a name, the raw table it lands in,
its natural primary key, its cursor, its write disposition and typed columns. Connectors, the
simulator writers, the dbt sources and the Great Expectations raw suites all read these
declarations, so there is one definition of what "raw" means.

Column types are DuckDB SQL types. Money is ``DECIMAL(18,2)``; instants are ``TIMESTAMP`` in UTC;
calendar days are ``DATE``. Every raw table also carries the lineage columns in ``LINEAGE_COLUMNS``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

WriteDisposition = Literal["merge", "append"]

LINEAGE_COLUMNS: dict[str, str] = {
    "_source": "VARCHAR",
    "_batch_id": "VARCHAR",
    "_loaded_at": "TIMESTAMP",
    "_file": "VARCHAR",
}


@dataclass(frozen=True)
class Column:
    """One typed column of a raw stream."""

    name: str
    type: str
    nullable: bool = True
    description: str = ""
    #: A contact point the loader validates value by value (``e164`` phone, ``email`` address): an
    #: invalid one lands as NULL, so no channel can use it, and is quarantined with the reason.
    contact_point: Literal["e164", "email"] | None = None


@dataclass(frozen=True)
class StreamContract:
    """What a raw stream looks like once landed.

    Attributes:
        system: Source system schema suffix (``erp`` lands in ``raw_erp``).
        name: Stream name, also the raw table name.
        primary_key: Natural key columns.
        cursor: ``updated_at``-style column used to pick the latest version on merge, if any.
        disposition: ``merge`` for mutable records (upsert on key, newest cursor wins),
            ``append`` for immutable events (insert rows whose key is new).
        columns: Typed columns, in landing order.
        description: One line on the grain.
    """

    system: str
    name: str
    primary_key: tuple[str, ...]
    cursor: str | None
    disposition: WriteDisposition
    columns: tuple[Column, ...]
    description: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def schema(self) -> str:
        """The DuckDB/Postgres schema holding this stream."""
        return f"raw_{self.system}"

    @property
    def table(self) -> str:
        """Fully qualified raw table name."""
        return f"{self.schema}.{self.name}"

    @property
    def column_names(self) -> list[str]:
        """Names of the business columns (without lineage columns)."""
        return [c.name for c in self.columns]


def _c(name: str, type_: str, nullable: bool = True, description: str = "", contact_point: str | None = None) -> Column:
    return Column(name, type_, nullable, description, contact_point)  # type: ignore[arg-type]


MONEY = "DECIMAL(18,2)"

CUSTOMERS = StreamContract(
    system="erp",
    name="customers",
    primary_key=("customer_id",),
    cursor="updated_at",
    disposition="merge",
    description="One row per business customer (bill-to account) as the ERP knows it.",
    columns=(
        _c("customer_id", "VARCHAR", False),
        _c("name", "VARCHAR", False),
        _c("tax_id", "VARCHAR"),
        _c("country", "VARCHAR", False, "ISO 3166-1 alpha-2 of the billing address"),
        _c("city", "VARCHAR"),
        _c("timezone", "VARCHAR", False, "IANA zone of the billing address"),
        _c("currency", "VARCHAR", False, "ISO 4217 invoicing currency"),
        _c("payment_terms_days", "INTEGER", False),
        _c("credit_limit", MONEY),
        _c("segment", "VARCHAR"),
        # Optional attributes ERP exports carry (issue 22; null when the source does not have them).
        _c("risk_class", "VARCHAR", description="credit risk class (SAP FSCM): low | medium | high"),
        _c("credit_rating", "VARCHAR", description="latest credit rating, letter grade (AAA..D) or score (1 best)"),
        _c("credit_rating_date", "DATE", description="day the rating and risk class were assessed (point in time)"),
        _c("region", "VARCHAR", description="state / province of the billing address"),
        _c("sales_org", "VARCHAR", description="sales organisation (SAP VKORG)"),
        _c("company_code", "VARCHAR", description="company code / legal entity that invoices (SAP BUKRS)"),
        _c("updated_at", "TIMESTAMP", False),
    ),
)

INVOICES = StreamContract(
    system="erp",
    name="invoices",
    primary_key=("invoice_id",),
    cursor="updated_at",
    disposition="merge",
    description="One row per customer invoice (Odoo out_invoice) in its latest ERP state.",
    columns=(
        _c("invoice_id", "VARCHAR", False),
        _c("number", "VARCHAR", False, "human invoice number quoted by payers"),
        _c("customer_id", "VARCHAR", False),
        _c("issue_date", "DATE", False),
        _c("due_date", "DATE", False),
        _c("currency", "VARCHAR", False),
        _c("amount_total", MONEY, False),
        _c("amount_open", MONEY, False, "open amount as the ERP has recorded it (lags the bank)"),
        _c("status", "VARCHAR", False, "posted | cancelled"),
        _c("payment_reference", "VARCHAR", description="structured RF creditor reference, if any"),
        _c(
            "delivery_method",
            "VARCHAR",
            description="how the invoice was sent: paper | email | edi | portal | electronic (null: unknown)",
        ),
        # Optional attributes ERP exports carry (issue 22; null when the source does not have them).
        _c("document_type", "VARCHAR", description="accounting document type (SAP BLART: RV billing, DR invoice...)"),
        _c("payment_terms_code", "VARCHAR", description="payment terms key (SAP ZTERM, e.g. NT30)"),
        _c("dunning_block", "VARCHAR", description="dunning block reason (SAP MANSP); null or empty: none"),
        _c("sales_org", "VARCHAR", description="sales organisation (SAP VKORG)"),
        _c("company_code", "VARCHAR", description="company code / legal entity (SAP BUKRS)"),
        _c("updated_at", "TIMESTAMP", False),
    ),
)

CREDIT_NOTES = StreamContract(
    system="erp",
    name="credit_notes",
    primary_key=("credit_note_id",),
    cursor="updated_at",
    disposition="merge",
    description="One row per customer credit note (Odoo out_refund), linked to the invoice it reverses.",
    columns=(
        _c("credit_note_id", "VARCHAR", False),
        _c("number", "VARCHAR", False),
        _c("customer_id", "VARCHAR", False),
        _c("invoice_id", "VARCHAR", description="invoice it reverses (reversed_entry_id)"),
        _c("issue_date", "DATE", False),
        _c("currency", "VARCHAR", False),
        _c("amount_total", MONEY, False),
        _c("status", "VARCHAR", False, "posted | cancelled"),
        _c("updated_at", "TIMESTAMP", False),
    ),
)

PAYMENT_ALLOCATIONS = StreamContract(
    system="erp",
    name="payment_allocations",
    primary_key=("allocation_id",),
    cursor=None,
    disposition="append",
    description="One row per payment amount the ERP reconciled against an invoice (lags the bank 1-5 days).",
    columns=(
        _c("allocation_id", "VARCHAR", False),
        _c("invoice_id", "VARCHAR", False),
        _c("customer_id", "VARCHAR", False),
        _c("bank_txn_id", "VARCHAR", description="bank line the ERP reconciled, when known"),
        _c("payment_date", "DATE", False, "value date of the money in the bank"),
        _c("recorded_at", "TIMESTAMP", False, "when the ERP recorded the allocation"),
        _c("currency", "VARCHAR", False),
        _c("amount", MONEY, False),
    ),
)

CONTACTS = StreamContract(
    system="crm",
    name="contacts",
    primary_key=("contact_id",),
    cursor="updated_at",
    disposition="merge",
    description="One row per CRM contact person of a customer, with consent per channel.",
    columns=(
        _c("contact_id", "VARCHAR", False),
        _c("customer_id", "VARCHAR", False),
        _c("full_name", "VARCHAR", False),
        _c("role", "VARCHAR", False, "debtor | guarantor | other"),
        _c("email", "VARCHAR", contact_point="email"),
        _c("phone", "VARCHAR", description="E.164", contact_point="e164"),
        _c("language", "VARCHAR", False, "es | en | pt"),
        _c("timezone", "VARCHAR", False, "IANA zone of the contact's address"),
        _c("consent_email", "BOOLEAN", False),
        _c("consent_whatsapp", "BOOLEAN", False),
        _c("consent_sms", "BOOLEAN", False),
        _c("consent_call", "BOOLEAN", False),
        _c("preferred_channel", "VARCHAR", description="email | whatsapp | sms | call"),
        _c("preferred_hour", "INTEGER", description="local hour 0-23 the contact prefers"),
        _c("updated_at", "TIMESTAMP", False),
    ),
)

INTERACTIONS = StreamContract(
    system="crm",
    name="interactions",
    primary_key=("interaction_id",),
    cursor=None,
    disposition="append",
    description="One row per logged touch with a customer (outbound contact or inbound reply).",
    columns=(
        _c("interaction_id", "VARCHAR", False),
        _c("customer_id", "VARCHAR", False),
        _c("contact_id", "VARCHAR"),
        _c("channel", "VARCHAR", False, "email | whatsapp | sms | call | letter"),
        _c("direction", "VARCHAR", False, "outbound | inbound"),
        _c("occurred_at", "TIMESTAMP", False),
        _c("outcome", "VARCHAR", False, "delivered|read|replied|bounced|promise_to_pay|dispute|paid_claim"),
        _c("promised_date", "DATE"),
        _c("promised_amount", MONEY),
    ),
)

DISPUTES = StreamContract(
    system="crm",
    name="disputes",
    primary_key=("dispute_id",),
    cursor="updated_at",
    disposition="merge",
    description="One row per dispute a customer raised about an invoice.",
    columns=(
        _c("dispute_id", "VARCHAR", False),
        _c("invoice_id", "VARCHAR", False),
        _c("customer_id", "VARCHAR", False),
        _c("opened_at", "TIMESTAMP", False),
        _c("resolved_at", "TIMESTAMP"),
        _c("status", "VARCHAR", False, "open | resolved"),
        _c("reason", "VARCHAR"),
        _c("updated_at", "TIMESTAMP", False),
    ),
)

STATEMENT_LINES = StreamContract(
    system="bank",
    name="statement_lines",
    primary_key=("bank_txn_id",),
    cursor=None,
    disposition="append",
    description="One row per booked bank statement line (camt.053 Ntry/TxDtls, MT940 :61:, CSV).",
    columns=(
        _c("bank_txn_id", "VARCHAR", False),
        _c("account_iban", "VARCHAR", False),
        _c("booking_date", "DATE", False),
        _c("value_date", "DATE", False),
        _c("amount", MONEY, False, "unsigned; the sign is credit_debit"),
        _c("currency", "VARCHAR", False),
        _c("credit_debit", "VARCHAR", False, "CRDT | DBIT"),
        _c("counterparty_name", "VARCHAR"),
        _c("counterparty_iban", "VARCHAR"),
        _c("remittance_text", "VARCHAR"),
        _c("creditor_reference", "VARCHAR"),
        # Reversals and returns (nullable: files landed before these columns existed have nulls).
        _c("is_reversal", "BOOLEAN", description="the bank marks the line as a reversal/return of an earlier line"),
        _c("return_reason", "VARCHAR", description="return reason code (camt RtrInf/Rsn, MT940 /RTRN/, BAI2 type)"),
        _c("end_to_end_id", "VARCHAR", description="payer's end-to-end id (camt EndToEndId, MT940 EREF)"),
        _c(
            "reversal_of",
            "VARCHAR",
            description="on a reversal: the original line's reference as the bank quotes it (InstrId, MT940 ref)",
        ),
    ),
)

ALL_STREAMS: tuple[StreamContract, ...] = (
    CUSTOMERS,
    INVOICES,
    CREDIT_NOTES,
    PAYMENT_ALLOCATIONS,
    CONTACTS,
    INTERACTIONS,
    DISPUTES,
    STATEMENT_LINES,
)


def stream(table: str) -> StreamContract:
    """Return the contract for ``raw_<system>.<stream>`` or a bare stream name."""
    for s in ALL_STREAMS:
        if table in (s.table, s.name):
            return s
    known = ", ".join(s.table for s in ALL_STREAMS)
    raise KeyError(f"unknown raw stream {table!r}; known streams: {known}")

-- One row per (bank credit line booked up to the run date, posted invoice) where the line quotes a
-- valid structured creditor reference (ISO 11649 RF or Swiss QRR, check digits verified) equal to the
-- invoice's payment reference, in the same currency: the payer is beyond doubt. The one definition
-- of a structured-reference match: int_bank_credits_linked_to_invoices uses it as evidence, and
-- int_payer_accounts_learned learns the payer's account from it.
-- Incremental (macros/incremental.sql): a daily run recomputes the lines booked in the look-back
-- window and the lines quoting, or matched before to, an invoice that changed in it.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_recomputed('bank_txn_id', changed_reference_lines(this)) }}"
) }}
-- depends_on: {{ ref('int_changed_bank_lines') }}
-- depends_on: {{ ref('int_changed_invoices') }}

with bank_credits as (
    select * from {{ ref('int_bank_credits_booked') }}
    {%- if is_incremental() %}
    where bank_txn_id in ({{ changed_reference_lines(this) }})
    {%- endif %}
),

invoices as (
    select
        invoices.invoice_id,
        invoices.customer_id,
        invoices.currency,
        upper(replace(invoices.payment_reference, ' ', '')) as payment_reference
    from {{ ref('stg_erp__invoices') }} as invoices
    inner join {{ ref('int_invoices_settled') }} as settled using (invoice_id)
),

final as (
    select
        bank_credits.bank_txn_id,
        invoices.invoice_id,
        invoices.customer_id,
        bank_credits.creditor_reference,
        bank_credits.counterparty_iban,
        bank_credits.booking_date
    from bank_credits
    inner join invoices
        on bank_credits.creditor_reference = invoices.payment_reference
        and bank_credits.currency = invoices.currency
    where {{ is_valid_creditor_reference('bank_credits.creditor_reference') }}
)

select * from final

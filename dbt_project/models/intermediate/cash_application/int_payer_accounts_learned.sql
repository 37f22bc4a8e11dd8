-- One row per (payer bank account, customer) seen paying for that customer, with the first day the
-- link was known. Links come from payments whose customer is beyond doubt: the ERP's own
-- reconciliations (known from the day they were recorded) and bank lines carrying a valid creditor
-- reference or the exact number of an invoice of exactly the line's amount (known from booking).
-- Consumers must only use a link learned before the booking date of the line they match.
-- Incremental (macros/incremental.sql): a link aggregates every payment of its account, so a daily
-- run recomputes, from their whole history, the accounts of the lines whose evidence may have
-- changed in the look-back window (new lines, ERP reconciliations, changed invoices).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_recomputed('counterparty_iban', changed_payer_accounts()) }}"
) }}
-- depends_on: {{ ref('int_changed_bank_lines') }}
-- depends_on: {{ ref('int_changed_invoices') }}

with bank_credits as (
    select * from {{ ref('int_bank_credits_booked') }}
    where counterparty_iban is not null
    {%- if is_incremental() %}
        and counterparty_iban in ({{ changed_payer_accounts() }})
    {%- endif %}
),

tokens as (
    select * from {{ ref('int_bank_credits_tokenised') }}
),

invoices as (
    select
        invoices.invoice_id,
        invoices.customer_id,
        invoices.currency,
        {{ number_key('invoices.invoice_number') }} as number_key,
        upper(replace(invoices.payment_reference, ' ', '')) as payment_reference,
        settled.amount_due
    from {{ ref('stg_erp__invoices') }} as invoices
    inner join {{ ref('int_invoices_settled') }} as settled using (invoice_id)
),

erp_reconciliations as (
    select bank_txn_id, customer_id, min(recorded_date) as learned_date
    from {{ ref('stg_erp__payment_allocations') }}
    where bank_txn_id is not null and recorded_date <= {{ as_of_date() }}
    group by bank_txn_id, customer_id
),

from_erp as (
    select bank_credits.counterparty_iban, erp_reconciliations.customer_id, erp_reconciliations.learned_date
    from erp_reconciliations
    inner join bank_credits using (bank_txn_id)
),

from_reference as (
    select counterparty_iban, customer_id, booking_date as learned_date
    from {{ ref('int_bank_credits_matched_by_reference') }}
    where counterparty_iban is not null
    {%- if is_incremental() %}
        and counterparty_iban in (select counterparty_iban from bank_credits)
    {%- endif %}
),

from_exact_number as (
    select bank_credits.counterparty_iban, invoices.customer_id, bank_credits.booking_date as learned_date
    from tokens
    inner join bank_credits using (bank_txn_id)
    inner join invoices
        on tokens.token_key = invoices.number_key
        and bank_credits.currency = invoices.currency
        and bank_credits.amount = invoices.amount_due
),

links as (
    select * from from_erp
    union all
    select * from from_reference
    union all
    select * from from_exact_number
),

final as (
    select
        counterparty_iban,
        customer_id,
        min(learned_date) as first_learned_date,
        count(*) as n_payments
    from links
    group by counterparty_iban, customer_id
)

select * from final

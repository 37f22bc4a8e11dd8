{{ config(materialized='view') }}
-- One row per posted invoice with an amount due after credit notes: what cash application matches
-- bank credits against. The invoice's customer, currency and dates, the digits of its number (the
-- form quoted numbers are matched on), its structured payment reference (upper case, no spaces), the
-- amount due and the day the ERP knew it settled (int_invoices_settled). A view: a plain join, which
-- the Postgres planner plans on the two tables' statistics.
with invoices as (
    select * from {{ ref('stg_erp__invoices') }}
),

settled as (
    select * from {{ ref('int_invoices_settled') }}
),

final as (
    select
        invoices.invoice_id,
        invoices.customer_id,
        invoices.currency,
        invoices.issue_date,
        invoices.due_date,
        {{ number_key('invoices.invoice_number') }} as number_key,
        upper(replace(invoices.payment_reference, ' ', '')) as payment_reference,
        settled.amount_due,
        settled.settled_known_date
    from invoices
    inner join settled using (invoice_id)
    where settled.amount_due > 0
)

select * from final

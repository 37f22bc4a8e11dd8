-- One row per posted invoice: open amount as of the run date = the ERP's open amount minus bank
-- payments matched to it that the ERP has not recorded yet (so a payment seen in the bank
-- suppresses dunning the same day).
with invoices as (
    select * from {{ ref('stg_erp__invoices') }}
    where status = 'posted' and issue_date <= {{ as_of_date() }}
),

settled as (
    select * from {{ ref('int_invoices_settled') }}
),

bank_pending as (
    select invoice_id, sum(amount_allocated) as amount_paid_bank_unrecorded, max(value_date) as last_bank_payment_date
    from {{ ref('int_payments_matched_to_invoices') }}
    where not is_recorded_in_erp
    group by invoice_id
),

final as (
    select
        invoices.invoice_id,
        invoices.customer_id,
        invoices.currency,
        invoices.amount_total,
        settled.amount_credited,
        settled.amount_due,
        invoices.amount_open_erp,
        coalesce(bank_pending.amount_paid_bank_unrecorded, 0) as amount_paid_bank_unrecorded,
        greatest(invoices.amount_open_erp - coalesce(bank_pending.amount_paid_bank_unrecorded, 0), 0) as amount_open,
        settled.settled_date,
        settled.settled_known_date,
        coalesce(bank_pending.last_bank_payment_date, settled.last_payment_date) as last_payment_date
    from invoices
    inner join settled using (invoice_id)
    left join bank_pending using (invoice_id)
)

select * from final

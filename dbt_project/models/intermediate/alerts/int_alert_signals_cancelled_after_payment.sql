-- One row per invoice the ERP cancelled although a payment had been applied to it (by the ERP or by
-- cash application) before the run date: money received against a document that now says nothing is
-- owed, the pattern of a cancellation used to hide a diverted payment. first_seen_date = the day the
-- cancellation was recorded (the invoice's last update).
with cancelled as (
    select * from {{ ref('stg_erp__invoices') }}
    where status = 'cancelled' and cast(updated_at as date) <= {{ as_of_date() }}
),

paid_by_erp as (
    select invoice_id, sum(amount) as amount, min(payment_date) as paid_date
    from {{ ref('stg_erp__payment_allocations') }}
    where recorded_date <= {{ as_of_date() }}
    group by invoice_id
),

paid_in_bank as (
    select invoice_id, sum(amount_allocated) as amount, min(value_date) as paid_date
    from {{ ref('int_payments_matched_to_invoices') }}
    group by invoice_id
),

final as (
    select
        'cancelled_after_payment' as signal,
        cancelled.customer_id,
        cancelled.invoice_id as evidence_key,
        'high' as severity,
        cast(coalesce(paid_by_erp.amount, paid_in_bank.amount) as double precision) as score,
        cast(cancelled.updated_at as date) as first_seen_date,
        cast(coalesce(paid_by_erp.amount, paid_in_bank.amount) as decimal(38, 2)) as amount,
        cancelled.currency,
        cancelled.invoice_id as evidence,
        'invoice ' || cancelled.invoice_number || ' cancelled after a payment of '
            || cast(cast(coalesce(paid_by_erp.amount, paid_in_bank.amount) as decimal(38, 2)) as varchar)
            || ' was applied to it' as description
    from cancelled
    left join paid_by_erp on cancelled.invoice_id = paid_by_erp.invoice_id
    left join paid_in_bank on cancelled.invoice_id = paid_in_bank.invoice_id
    where coalesce(paid_by_erp.amount, paid_in_bank.amount, 0) > 0
)

select * from final

-- One row per payment allocation the ERP recorded against an invoice.
with source as (
    select * from {{ source('raw_erp', 'payment_allocations') }}
    -- records the raw quality gate quarantined are left out (macros/quarantine.sql)
    where {{ not_quarantined('raw_erp.payment_allocations', 'allocation_id') }}
),

deduplicated as (
    {{ first_row_per('source', 'allocation_id', '_loaded_at') }}
),

final as (
    select
        allocation_id,
        invoice_id,
        customer_id,
        bank_txn_id,
        payment_date,
        recorded_at,
        cast(recorded_at as date) as recorded_date,
        upper(currency) as currency,
        amount
    from deduplicated
)

select * from final

-- One row per payment allocation the ERP recorded against an invoice.
with source as (
    select * from {{ source('raw_erp', 'payment_allocations') }}
),

deduplicated as (
    select *
    from source
    qualify row_number() over (partition by allocation_id order by _loaded_at) = 1
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

-- One row per dispute: the latest CRM version.
with source as (
    select * from {{ source('raw_crm', 'disputes') }}
    -- records the raw quality gate quarantined are left out (macros/quarantine.sql)
    where {{ not_quarantined('raw_crm.disputes', 'dispute_id') }}
),

latest as (
    {{ first_row_per('source', 'dispute_id', 'updated_at desc, _loaded_at desc') }}
),

final as (
    select
        dispute_id,
        invoice_id,
        customer_id,
        opened_at,
        cast(opened_at as date) as opened_date,
        resolved_at,
        cast(resolved_at as date) as resolved_date,
        lower(status) as status,
        reason,
        updated_at
    from latest
)

select * from final

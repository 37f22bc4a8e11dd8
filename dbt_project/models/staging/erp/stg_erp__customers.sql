-- One row per customer: the latest version landed from the ERP.
with source as (
    select * from {{ source('raw_erp', 'customers') }}
    -- records the raw quality gate quarantined are left out (macros/quarantine.sql)
    where {{ not_quarantined('raw_erp.customers', 'customer_id') }}
),

latest as (
    {{ first_row_per('source', 'customer_id', 'updated_at desc, _loaded_at desc') }}
),

final as (
    select
        customer_id,
        trim(name) as customer_name,
        tax_id,
        upper(country) as country,
        city,
        timezone,
        upper(currency) as currency,
        payment_terms_days,
        credit_limit,
        lower(segment) as segment,
        updated_at
    from latest
)

select * from final

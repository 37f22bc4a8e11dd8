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
        -- optional attributes ERP exports carry (issue 22; null when the source has none)
        lower(trim(risk_class)) as risk_class,
        upper(trim(credit_rating)) as credit_rating,
        credit_rating_date,
        upper(trim(region)) as region,
        trim(sales_org) as sales_org,
        trim(company_code) as company_code,
        updated_at
    from latest
)

select * from final

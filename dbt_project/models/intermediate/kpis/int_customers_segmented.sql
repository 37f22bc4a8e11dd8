-- One row per ERP customer: the segment, country and currency the KPI roll-ups group it under
-- ('unknown' where the ERP has no segment or country).
with customers as (
    select * from {{ ref('stg_erp__customers') }}
),

final as (
    select
        customer_id,
        coalesce(segment, 'unknown') as dim_segment,
        coalesce(country, 'unknown') as dim_country,
        currency as customer_currency
    from customers
)

select * from final

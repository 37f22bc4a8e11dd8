-- One row per posted invoice (fct_invoices) with the KPI group it rolls up into (the customer's
-- segment and country, the invoice currency) and the rate to var('reporting_currency') valid on the
-- run date (null when the currency has none). The invoice base of every invoice KPI.
with invoices as (
    select * from {{ ref('fct_invoices') }}
    where status = 'posted'
),

customers as (
    select * from {{ ref('int_customers_segmented') }}
),

fx as (
    select * from {{ ref('int_fx_rates_selected') }}
),

final as (
    select
        invoices.*,
        {{ kpi_group_columns('invoices') | indent(4) }}
    from invoices
    left join customers using (customer_id)
    left join fx using (currency)
)

select * from final

-- One row per KPI group with open AR and credit sales: countback DSO on the run date, by the one
-- definition in macros/dso.sql (also used by mart_dso_trend): walk back month by month from the run
-- date, consuming each month's credit sales until the group's open AR is used up. Native amounts
-- where the group has one currency, reporting-currency amounts on rows adding up several.
with invoices as (
    select * from {{ ref('int_invoices_converted_to_reporting') }}
),

ar as (
    select * from {{ ref('int_kpis_ar_aged') }}
),

monthly_sales as (
    select
        {{ kpi_group_keys() }},
        month_start,
        coalesce({{ native_sum('amount_total') }}, sum(amount_total * fx_rate)) as sales
    from (
        select *, cast(date_trunc('month', issue_date) as date) as month_start
        from invoices
    ) as by_month
    group by {{ kpi_grouping_sets('month_start') }}
),

monthly as (
    select
        segment,
        country,
        currency,
        month_start,
        sales,
        {{ countback_month_days('month_start', as_of_date()) | indent(8) }} as days_in_month,
        {{ countback_sales_before('sales', 'segment, country, currency') | indent(8) }} as sales_before
    from monthly_sales
),

final as (
    select
        monthly.segment,
        monthly.country,
        monthly.currency,
        -- a double on every adapter (PostgreSQL would keep a numeric)
        cast(sum(
            {{ countback_days('ar_basis.ar', 'monthly.sales_before', 'monthly.sales', 'monthly.days_in_month') | indent(12) }}
        ) as {{ type_double() }}) as dso_countback
    from monthly
    inner join (
        select segment, country, currency, coalesce(ar_total, ar_total_rpt) as ar from ar
    ) as ar_basis
        on monthly.segment = ar_basis.segment
        and monthly.country = ar_basis.country
        and monthly.currency = ar_basis.currency
    where monthly.sales > 0
    group by monthly.segment, monthly.country, monthly.currency
)

select * from final

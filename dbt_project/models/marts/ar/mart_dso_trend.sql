-- One row per point date x customer segment x customer country, plus roll-ups ('all'): open AR,
-- credit sales of the 90 days before and DSO (standard, best possible, countback) at each point,
-- rebuilt from the invoice history as known on the run date. The points are the run date, the run
-- date minus var('kpi_window_days') (the previous period) and the var('dso_trend_months') month
-- ends before the run date's month: the KPI report's DSO trend.
-- Open AR at a point = invoice total - posted credit notes issued by then - ERP-recorded payments
-- dated by then (bank payments the ERP has not recorded yet only count on the run date itself, in
-- mart_collections_kpis). Amounts are doubles in the reporting currency at the run date's rates, so
-- exchange-rate moves do not show up as DSO moves. dso_contribution: days of its scope's total DSO
-- a segment accounts for (ar / the scope's total sales x 90; segments add up to the total).
{%- set as_of = modules.datetime.date.fromisoformat(var('as_of_date')) %}
{%- set one_day = modules.datetime.timedelta(days=1) %}
{%- set ns = namespace(day=as_of.replace(day=1) - one_day, points=[as_of, as_of - modules.datetime.timedelta(days=var('kpi_window_days', 30))]) %}
{%- for _ in range(var('dso_trend_months', 12)) %}
    {%- do ns.points.append(ns.day) %}
    {%- set ns.day = ns.day.replace(day=1) - one_day %}
{%- endfor %}
{%- set points = ns.points | unique | sort %}
{%- set dso_days = 90 %}

with points as (
    {%- for point in points %}
    select cast('{{ point.isoformat() }}' as date) as point_date{{ ' union all' if not loop.last }}
    {%- endfor %}
),

{{ fx_valid_rates(as_of_date()) }},

fx as (
    {{ fx_rates_to_reporting(as_of_date()) | indent(4) }}
),

invoices as (
    select
        inv.invoice_id,
        inv.issue_date,
        inv.due_date,
        cast(inv.amount_total as {{ type_double() }}) * cast(fx.fx_rate_to_reporting as {{ type_double() }})
            as amount_total,
        cast(fx.fx_rate_to_reporting as {{ type_double() }}) as fx_rate,
        coalesce(customers.segment, 'unknown') as dim_segment,
        coalesce(customers.country, 'unknown') as dim_country
    from {{ ref('fct_invoices') }} as inv
    inner join {{ ref('dim_customers') }} as customers on customers.customer_id = inv.customer_id
    inner join fx on fx.currency = inv.currency
    where inv.status = 'posted'
),

credited as (
    select points.point_date, notes.invoice_id, sum(cast(notes.amount_total as {{ type_double() }})) as amount
    from {{ ref('stg_erp__credit_notes') }} as notes
    inner join points on notes.issue_date <= points.point_date
    where notes.status = 'posted' and notes.invoice_id is not null
    group by points.point_date, notes.invoice_id
),

paid as (
    select points.point_date, alloc.invoice_id, sum(cast(alloc.amount as {{ type_double() }})) as amount
    from {{ ref('stg_erp__payment_allocations') }} as alloc
    inner join points on alloc.payment_date <= points.point_date
    where alloc.recorded_date <= {{ as_of_date() }}
    group by points.point_date, alloc.invoice_id
),

open_at_point as (
    select
        points.point_date,
        invoices.dim_segment,
        invoices.dim_country,
        invoices.due_date,
        greatest(
            invoices.amount_total - (coalesce(credited.amount, 0) + coalesce(paid.amount, 0)) * invoices.fx_rate, 0
        ) as amount_open
    from invoices
    inner join points on invoices.issue_date <= points.point_date
    left join credited on credited.invoice_id = invoices.invoice_id and credited.point_date = points.point_date
    left join paid on paid.invoice_id = invoices.invoice_id and paid.point_date = points.point_date
),

ar as (
    select
        point_date,
        {{ trend_group_keys() }},
        sum(amount_open) as ar_total,
        sum(case when due_date >= point_date then amount_open else 0 end) as ar_current,
        sum(case when due_date < point_date then amount_open else 0 end) as ar_overdue
    from open_at_point
    group by {{ trend_grouping_sets('point_date') }}
),

sales as (
    select
        point_date,
        {{ trend_group_keys() }},
        sum(amount_total) as credit_sales_90d
    from (
        select invoices.*, points.point_date
        from invoices
        inner join points
            on invoices.issue_date > {{ add_days('points.point_date', -dso_days) }}
            and invoices.issue_date <= points.point_date
    ) as in_period
    group by {{ trend_grouping_sets('point_date') }}
),

-- countback DSO (macros/dso.sql): monthly sales of the two years before each point
monthly as (
    select
        point_date,
        {{ trend_group_keys() }},
        month_start,
        sum(amount_total) as sales
    from (
        select invoices.*, points.point_date, cast(date_trunc('month', invoices.issue_date) as date) as month_start
        from invoices
        inner join points
            on invoices.issue_date <= points.point_date
            and invoices.issue_date > {{ add_days('points.point_date', -730) }}
    ) as by_month
    group by {{ trend_grouping_sets('point_date, month_start') }}
),

monthly_walk as (
    select
        point_date,
        segment,
        country,
        month_start,
        sales,
        {{ countback_month_days('month_start', 'point_date') | indent(8) }} as days_in_month,
        {{ countback_sales_before('sales', 'point_date, segment, country') | indent(8) }} as sales_before
    from monthly
),

countback as (
    select
        monthly_walk.point_date,
        monthly_walk.segment,
        monthly_walk.country,
        sum(
            {{ countback_days('ar.ar_total', 'monthly_walk.sales_before', 'monthly_walk.sales', 'monthly_walk.days_in_month') | indent(12) }}
        ) as dso_countback
    from monthly_walk
    inner join ar
        on ar.point_date = monthly_walk.point_date
        and ar.segment = monthly_walk.segment
        and ar.country = monthly_walk.country
    where monthly_walk.sales > 0
    group by monthly_walk.point_date, monthly_walk.segment, monthly_walk.country
),

scope_sales as (
    -- the total credit sales of each country scope (all segments), for dso_contribution
    select point_date, country, credit_sales_90d as scope_sales_90d
    from sales
    where segment = 'all'
),

final as (
    select
        ar.point_date,
        ar.segment,
        ar.country,
        {{ reporting_currency() }} as reporting_currency,
        cast(ar.ar_total as {{ type_double() }}) as ar_total,
        cast(ar.ar_current as {{ type_double() }}) as ar_current,
        cast(ar.ar_overdue as {{ type_double() }}) as ar_overdue,
        cast(coalesce(sales.credit_sales_90d, 0) as {{ type_double() }}) as credit_sales_90d,
        ar.ar_total / nullif(sales.credit_sales_90d, 0) * {{ dso_days }} as dso_standard,
        ar.ar_current / nullif(sales.credit_sales_90d, 0) * {{ dso_days }} as dso_best_possible,
        ar.ar_total / nullif(scope_sales.scope_sales_90d, 0) * {{ dso_days }} as dso_contribution,
        ar.ar_overdue / nullif(ar.ar_total, 0) as pct_overdue,
        cast(countback.dso_countback as {{ type_double() }}) as dso_countback
    from ar
    left join sales
        on sales.point_date = ar.point_date and sales.segment = ar.segment and sales.country = ar.country
    left join scope_sales on scope_sales.point_date = ar.point_date and scope_sales.country = ar.country
    left join countback
        on countback.point_date = ar.point_date and countback.segment = ar.segment and countback.country = ar.country
)

select * from final

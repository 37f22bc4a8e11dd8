-- DSO (standard, countback, best possible) at each point date, rebuilt from the invoice history as
-- known on the run date, per segment and in total (segment = 'all').
-- Open AR at a point = invoice total - posted credit notes issued by then - ERP-recorded payments
-- dated by then (the bank payments the ERP has not recorded yet only count on the run date itself,
-- in the KPI mart). Amounts are in the reporting currency at the run date's rates, so exchange
-- rate moves do not show up as DSO moves. Standard DSO = open AR / credit sales of the 90 days
-- before x 90; best possible = current (not yet due) AR / the same sales x 90; countback walks back
-- month by month consuming each month's sales until the open AR is used up.
with fx as (
    select currency, cast(fx_rate_to_reporting as double) as fx_rate
    from marts.mart_collections_kpis
    where segment = 'all' and country = 'all' and currency <> 'all'
),

points as (
    select cast(unnest($points) as date) as point_date
),

invoices as (
    select
        inv.invoice_id,
        inv.issue_date,
        inv.due_date,
        cast(inv.amount_total as double) * fx.fx_rate as amount_total,
        fx.fx_rate,
        coalesce(customers.segment, 'unknown') as segment
    from marts.fct_invoices as inv
    inner join marts.dim_customers as customers using (customer_id)
    inner join fx on fx.currency = inv.currency
    where inv.status = 'posted'
      and ($segment is null or customers.segment = $segment)
      and ($country is null or customers.country = $country)
),

credited as (
    select points.point_date, notes.invoice_id, sum(cast(notes.amount_total as double)) as amount
    from staging.stg_erp__credit_notes as notes
    inner join points on notes.issue_date <= points.point_date
    where notes.status = 'posted' and notes.invoice_id is not null
    group by all
),

paid as (
    select points.point_date, alloc.invoice_id, sum(cast(alloc.amount as double)) as amount
    from staging.stg_erp__payment_allocations as alloc
    inner join points on alloc.payment_date <= points.point_date
    where alloc.recorded_date <= $as_of
    group by all
),

open_at_point as (
    select
        points.point_date,
        invoices.segment,
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
        case when grouping(segment) = 1 then 'all' else segment end as segment,
        sum(amount_open) as ar_total,
        sum(case when due_date >= point_date then amount_open else 0 end) as ar_current,
        sum(case when due_date < point_date then amount_open else 0 end) as ar_overdue
    from open_at_point
    group by grouping sets ((point_date, segment), (point_date))
),

sales as (
    select
        points.point_date,
        case when grouping(invoices.segment) = 1 then 'all' else invoices.segment end as segment,
        sum(invoices.amount_total) as credit_sales_90d
    from invoices
    inner join points
        on invoices.issue_date > points.point_date - interval 90 day and invoices.issue_date <= points.point_date
    group by grouping sets ((points.point_date, invoices.segment), (points.point_date))
),

monthly as (
    select
        points.point_date,
        cast(date_trunc('month', invoices.issue_date) as date) as month_start,
        sum(invoices.amount_total) as sales
    from invoices
    inner join points
        on invoices.issue_date <= points.point_date and invoices.issue_date > points.point_date - interval 730 day
    group by all
),

monthly_walk as (
    select
        point_date,
        month_start,
        sales,
        case
            when month_start = cast(date_trunc('month', point_date) as date) then day(point_date)
            else day(last_day(month_start))
        end as days_in_month,
        coalesce(sum(sales) over (
            partition by point_date order by month_start desc
            rows between unbounded preceding and 1 preceding
        ), 0) as sales_before
    from monthly
),

countback as (
    select
        monthly_walk.point_date,
        sum(
            case
                when ar.ar_total >= monthly_walk.sales_before + monthly_walk.sales then monthly_walk.days_in_month
                when ar.ar_total > monthly_walk.sales_before
                then monthly_walk.days_in_month * (ar.ar_total - monthly_walk.sales_before) / monthly_walk.sales
                else 0
            end
        ) as dso_countback
    from monthly_walk
    inner join ar on ar.point_date = monthly_walk.point_date and ar.segment = 'all'
    where monthly_walk.sales > 0
    group by monthly_walk.point_date
),

total_sales as (
    select point_date, credit_sales_90d as total_sales_90d from sales where segment = 'all'
),

final as (
    select
        ar.point_date,
        ar.segment,
        ar.ar_total,
        ar.ar_current,
        ar.ar_overdue,
        coalesce(sales.credit_sales_90d, 0) as credit_sales_90d,
        ar.ar_total / nullif(sales.credit_sales_90d, 0) * 90 as dso_standard,
        ar.ar_current / nullif(sales.credit_sales_90d, 0) * 90 as dso_best_possible,
        -- days of the total DSO this segment accounts for (segments add up to the total)
        ar.ar_total / nullif(total_sales.total_sales_90d, 0) * 90 as dso_contribution,
        ar.ar_overdue / nullif(ar.ar_total, 0) as pct_overdue,
        case when ar.segment = 'all' then countback.dso_countback end as dso_countback
    from ar
    left join sales on sales.point_date = ar.point_date and sales.segment = ar.segment
    left join total_sales on total_sales.point_date = ar.point_date
    left join countback on countback.point_date = ar.point_date
)

select * from final
order by point_date, segment

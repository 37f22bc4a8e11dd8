-- One row per run date and currency: open AR, aging buckets, % overdue, DSO (standard, countback)
-- and best possible DSO over a 90-day period.
{% set period_days = 90 %}
with invoices as (
    select * from {{ ref('fct_invoices') }}
    where status = 'posted'
),

ar as (
    select
        currency,
        sum(amount_open) as ar_total,
        sum(case when aging_bucket = 'current' then amount_open else 0 end) as ar_current,
        sum(case when aging_bucket = '1-30' then amount_open else 0 end) as ar_1_30,
        sum(case when aging_bucket = '31-60' then amount_open else 0 end) as ar_31_60,
        sum(case when aging_bucket = '61-90' then amount_open else 0 end) as ar_61_90,
        sum(case when aging_bucket = '90+' then amount_open else 0 end) as ar_90_plus,
        count(*) filter (where amount_open > 0) as n_open_invoices,
        count(*) filter (where is_overdue) as n_overdue_invoices,
        count(distinct customer_id) filter (where is_overdue) as n_overdue_customers
    from invoices
    group by currency
),

sales as (
    select currency, sum(amount_total) as credit_sales_period
    from invoices
    where issue_date > {{ as_of_date() }} - interval {{ period_days }} day
    group by currency
),

-- Countback: walk back month by month from the run date, consuming each month's sales until the
-- open AR is used up; DSO = whole months' days + the fraction of the last month.
monthly as (
    select
        currency,
        month_index,
        sales,
        days_in_month,
        coalesce(sum(sales) over (partition by currency order by month_index
                                  rows between unbounded preceding and 1 preceding), 0) as sales_before
    from (
        select
            currency,
            date_diff('month', date_trunc('month', issue_date), date_trunc('month', {{ as_of_date() }})) as month_index,
            sum(amount_total) as sales,
            case
                when date_trunc('month', issue_date) = date_trunc('month', {{ as_of_date() }})
                then day({{ as_of_date() }})
                else day(last_day(issue_date))
            end as days_in_month
        from invoices
        where issue_date <= {{ as_of_date() }}
        group by all
    )
),

countback as (
    select
        monthly.currency,
        sum(
            case
                when ar.ar_total >= monthly.sales_before + monthly.sales then monthly.days_in_month
                when ar.ar_total > monthly.sales_before
                then monthly.days_in_month * (ar.ar_total - monthly.sales_before) / monthly.sales
                else 0
            end
        ) as dso_countback
    from monthly
    inner join ar using (currency)
    where monthly.sales > 0
    group by monthly.currency
),

final as (
    select
        {{ as_of_date() }} as as_of_date,
        ar.currency,
        ar.ar_total,
        ar.ar_current,
        ar.ar_1_30,
        ar.ar_31_60,
        ar.ar_61_90,
        ar.ar_90_plus,
        ar.ar_total - ar.ar_current as ar_overdue,
        case when ar.ar_total > 0 then cast((ar.ar_total - ar.ar_current) / ar.ar_total as double) else 0 end
            as pct_overdue,
        ar.n_open_invoices,
        ar.n_overdue_invoices,
        ar.n_overdue_customers,
        coalesce(sales.credit_sales_period, 0) as credit_sales_period,
        case when sales.credit_sales_period > 0
             then cast(ar.ar_total / sales.credit_sales_period * {{ period_days }} as double) end as dso_standard,
        cast(countback.dso_countback as double) as dso_countback,
        case when sales.credit_sales_period > 0
             then cast(ar.ar_current / sales.credit_sales_period * {{ period_days }} as double) end as dso_best_possible
    from ar
    left join sales using (currency)
    left join countback using (currency)
)

select * from final

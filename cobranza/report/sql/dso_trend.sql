-- DSO (standard, countback, best possible) at each point date of the trend, per segment and in
-- total (segment = 'all'), for the report's scope: marts.mart_dso_trend (dbt) holds every scope,
-- so this only picks one. Its 'all' row of a country is that country's total; a report on one
-- segment shows the segment as its own total (its contribution is then its whole DSO), and only the
-- scope's total carries the countback DSO.
with scope as (
    select *
    from marts.mart_dso_trend
    where country = coalesce($country, 'all')
      and ($segment is null or segment = $segment)
),

rows_in_scope as (
    select * from scope
    union all
    select * replace ('all' as segment)
    from scope
    where $segment is not null
)

select
    point_date,
    segment,
    ar_total,
    ar_current,
    ar_overdue,
    credit_sales_90d,
    dso_standard,
    dso_best_possible,
    case when $segment is null then dso_contribution else dso_standard end as dso_contribution,
    pct_overdue,
    case when segment = 'all' then dso_countback end as dso_countback
from rows_in_scope
order by point_date, segment

-- Open invoices in scope by risk band (the champion's probability of paying late, in tenths) on
-- the latest scoring date up to the run date: invoices and open amount in the reporting currency.
with score_date as (
    select max(as_of_date) as scored_on
    from ml_scores.invoice_scores
    where as_of_date <= $as_of
),

fx as (
    select currency, cast(fx_rate_to_reporting as double) as fx_rate
    from marts.mart_collections_kpis
    where segment = 'all' and country = 'all' and currency <> 'all'
),

scored as (
    select
        least(floor(scores.risk_score * 10), 9) as band,
        cast(inv.amount_open as double) * fx.fx_rate as amount_open_rpt
    from ml_scores.invoice_scores as scores
    inner join score_date on scores.as_of_date = score_date.scored_on
    inner join marts.fct_invoices as inv using (invoice_id)
    inner join marts.dim_customers as customers on customers.customer_id = inv.customer_id
    inner join fx on fx.currency = inv.currency
    where inv.amount_open > 0
      and ($segment is null or customers.segment = $segment)
      and ($country is null or customers.country = $country)
),

bands as (
    select cast(range as integer) as band from range(10)
)

select
    bands.band / 10.0 as risk_from,
    (bands.band + 1) / 10.0 as risk_to,
    count(scored.band) as n_invoices,
    coalesce(sum(scored.amount_open_rpt), 0) as amount_open_rpt
from bands
left join scored on scored.band = bands.band
group by bands.band
order by bands.band

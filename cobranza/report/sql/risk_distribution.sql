-- Open invoices in scope by risk band (the champion's probability of paying late, in tenths) on the
-- latest scoring date up to the run date: invoices and open amount in the reporting currency, from
-- marts.mart_open_invoice_risk (dbt).
with scored as (
    select
        least(floor(risk_score * 10), 9) as band,
        amount_open_reporting as amount_open_rpt
    from marts.mart_open_invoice_risk
    where ($segment is null or segment = $segment)
      and ($country is null or country = $country)
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
